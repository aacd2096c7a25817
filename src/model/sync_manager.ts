import type { RpcTransport } from '../rpc/rpc_helper.ts';
import type { LayoutManager } from '../rpc/layout/manager.ts';
import type { System } from '../rpc/system.ts';
import { current } from '../rpc/layout/history.ts';
import { TableSyncer } from '../table/sync.ts';
import { TableGc } from '../table/gc.ts';
import type { Workers } from '../util/background.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';
import type { Model } from './garage.ts';

/**
 * Runs anti-entropy and tombstone GC over every table on a timer, on layout changes and when peers connect,
 * and marks this node synced to a layout version once a pass for it completed without error.
 */
export class SyncManager {
  readonly syncers: TableSyncer[];
  readonly gcs: TableGc[];
  readonly gcIntervalMs: number;
  readonly layout: LayoutManager;
  readonly system: System;
  readonly model: Model;
  readonly workers: Workers;
  readonly log: Logger;
  readonly intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #soon: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(o: {
    model: Model;
    rpc: RpcTransport;
    layout: LayoutManager;
    system: System;
    workers: Workers;
    logger: Logger;
    intervalMs: number;
    tombstoneDelayMs: number;
    gcIntervalMs: number;
  }) {
    this.model = o.model;
    this.layout = o.layout;
    this.system = o.system;
    this.workers = o.workers;
    this.log = o.logger;
    this.intervalMs = o.intervalMs;
    this.syncers = o.model.tables().map((t) => new TableSyncer(t, o.rpc, o.layout, o.logger));
    this.gcs = o.model.tables().map((t) => new TableGc(t, o.rpc, o.layout, o.workers, o.logger, o.tombstoneDelayMs));
    this.gcIntervalMs = o.gcIntervalMs;
    let live = this.layout.history.versions.length;
    this.layout.on('changed', (_h: unknown, newVersion: boolean) => {
      // A new version moves partitions; a retired one lets old holders offload their blocks.
      const nowLive = this.layout.history.versions.length;
      const retired = nowLive < live;
      live = nowLive;
      if (newVersion || retired) {
        this.model.blocks.recheckAll();
        this.trigger();
      }
    });
  }

  /** Starts the periodic passes. */
  start(): void {
    this.workers.register('sync', 'anti-entropy between the replicas of each partition');
    const loop = () => {
      this.#timer = setTimeout(() => {
        this.trigger(0);
        loop();
      }, this.intervalMs);
    };
    loop();
    this.trigger(1000);
    for (const g of this.gcs) g.start(this.gcIntervalMs);
  }

  /** Schedules a pass soon (passes never overlap; a request during one runs another after it). */
  trigger(delayMs = 2000): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#soon);
    this.#soon = setTimeout(() => {
      this.#running = this.#pass().finally(() => {
        this.#running = undefined;
        if (this.#again) {
          this.#again = false;
          this.trigger(500);
        }
      });
    }, delayMs);
  }

  async #pass(): Promise<void> {
    const version = current(this.layout.history).version;
    if (!this.layout.ready()) return;
    const ackedBeforePass = this.layout.minAck();
    let errors = 0;
    let incomplete = 0;
    let pushed = 0;
    let pulled = 0;
    for (const s of this.syncers) {
      try {
        const r = await s.syncAll();
        errors += r.errors.length;
        incomplete += r.incomplete;
        pushed += r.pushed;
        pulled += r.pulled;
        for (const e of r.errors) this.log.debug({ table: s.table.schema.name, err: e }, 'sync error');
      } catch (e) {
        errors++;
        incomplete++;
        this.log.warn({ table: s.table.schema.name, err: errorMessage(e) }, 'sync pass failed');
      }
    }
    this.workers.report('sync', { lastPass: new Date().toISOString(), pushed, pulled, errors, incomplete });
    if (pushed || pulled) this.log.info({ pushed, pulled, errors }, 'anti-entropy exchanged entries');
    if (incomplete === 0 && !this.#stopped) {
      const synced = new Map(this.layout.history.sync).get(this.layout.self) ?? 0;
      // A pass only counts for `version` if it started after every node acked it (no write
      // under an older version could still land after it); otherwise try again shortly.
      if (synced < version && ackedBeforePass < version) {
        this.trigger(2000);
      } else if (synced < version) {
        await this.layout.setSynced(version);
        await this.system.updateLayout(this.layout.history);
      }
    }
  }

  /** Stops the timers (a running pass finishes). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
    for (const g of this.gcs) g.stop();
  }
}
