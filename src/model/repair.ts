import type { Model } from './garage.ts';
import type { SyncManager } from './sync_manager.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';

export type RepairKind = 'tables' | 'blocks' | 'versions' | 'block-refs' | 'block-rc' | 'scrub';

const EMPTY = Buffer.alloc(0);

/** The repair procedures behind `garage repair`; each runs in the background on this node. */
export class Repair {
  readonly model: Model;
  readonly sync: SyncManager;
  readonly log: Logger;
  constructor(model: Model, sync: SyncManager, log: Logger) {
    this.model = model;
    this.sync = sync;
    this.log = log;
  }

  /** Starts a repair; returns a one-line description of what was launched (block-rc: its result). */
  async launch(kind: RepairKind): Promise<string> {
    const run = (name: string, fn: () => Promise<string>) => {
      this.model.workers.register(`repair ${name}`, `garage repair ${name}`);
      this.model.workers.report(`repair ${name}`, { state: 'running' });
      fn().then(
        (r) => {
          this.model.workers.report(`repair ${name}`, { state: 'done', result: r });
          this.log.info({ repair: name, result: r }, 'repair finished');
        },
        (e: unknown) => {
          this.model.workers.report(`repair ${name}`, { state: 'failed', error: errorMessage(e) });
          this.log.warn({ repair: name, err: errorMessage(e) }, 'repair failed');
        },
      );
    };
    switch (kind) {
      case 'tables':
        this.sync.trigger(0);
        return 'full anti-entropy pass of every table launched';
      case 'blocks':
        this.model.blocks.recheckAll();
        return 'every referenced block queued for a check (missing ones are fetched from other nodes)';
      case 'versions':
        run('versions', () => this.#versions());
        return 'check of versions against their objects launched';
      case 'block-refs':
        run('block-refs', () => this.#blockRefs());
        return 'check of block references against their versions launched';
      case 'block-rc': {
        const r = await this.blockRc();
        return `${r.referenced} referenced block(s), ${r.fixed} refcount(s) corrected, ${r.missing} referenced block(s) missing here (queued for resync), ${r.orphans} unreferenced block file(s) (queued for deletion)`;
      }
      case 'scrub':
        run('scrub', () => this.scrub());
        return 'scrub of every local block launched';
    }
  }

  // Version headers whose object no longer has that version are deleted (cascading to blocks).
  async #versions(): Promise<string> {
    let deleted = 0;
    for (const e of this.model.version.scanLocal()) {
      if (e.sk.length !== 0 || e.deleted || !e.header) continue;
      const obj = await this.model.object.get(e.header.bucketId, Buffer.from(e.header.key));
      const ov = obj?.versions.find((x) => x.uuid.equals(e.uuid));
      if (!ov || ov.state.t === 'aborted') {
        await this.model.version.insert({ ...e, deleted: true, blocks: [] });
        deleted++;
      }
    }
    return `${deleted} orphan version(s) deleted`;
  }

  /**
   * Recounts every local block's references from the local block_ref rows (they live with
   * their block) and corrects the refcounts that differ, in one transaction. Referenced blocks
   * this node should hold but lacks are queued for resync; block files nobody references
   * are queued for deletion after the GC delay. Garage's `repair block-rc`.
   */
  async blockRc(): Promise<{ referenced: number; fixed: number; missing: number; orphans: number }> {
    const blocks = this.model.blocks;
    const onDisk = new Set<string>();
    for await (const h of blocks.store.list()) onDisk.add(h.toString('hex'));
    const res = await blocks.opts.db.transaction((tx) => {
      const counts = new Map<string, number>();
      for (const r of this.model.blockRef.scanLocal({ tx })) {
        if (r.deleted) continue;
        const h = r.block.toString('hex');
        counts.set(h, (counts.get(h) ?? 0) + 1);
      }
      let fixed = 0;
      for (const [hash] of tx.range(blocks.rc, {})) {
        const h = hash.toString('hex');
        if (!counts.has(h) && blocks.refcountIn(tx, hash) !== 0) {
          blocks.setRefcount(tx, hash, 0);
          fixed++;
        }
      }
      for (const [h, n] of counts) {
        const hash = Buffer.from(h, 'hex');
        if (blocks.refcountIn(tx, hash) !== n) {
          blocks.setRefcount(tx, hash, n);
          fixed++;
        }
      }
      let missing = 0;
      let orphans = 0;
      for (const [h] of counts) {
        const hash = Buffer.from(h, 'hex');
        if (!onDisk.has(h) && blocks.shouldHold(hash)) {
          blocks.queueCheck(tx, hash);
          missing++;
        }
      }
      for (const h of onDisk) {
        const hash = Buffer.from(h, 'hex');
        if (!counts.has(h) && !blocks.gcPending(tx, hash)) {
          blocks.setRefcount(tx, hash, 0);
          orphans++;
        }
      }
      return { referenced: counts.size, fixed, missing, orphans };
    });
    if (res.fixed || res.missing || res.orphans) this.log.warn(res, 'repair block-rc corrected refcounts');
    return res;
  }

  // References from deleted versions, or from deleted rows of a version, are deleted.
  async #blockRefs(): Promise<string> {
    let deleted = 0;
    for (const r of this.model.blockRef.scanLocal()) {
      if (r.deleted) continue;
      const uuid = r.ref.subarray(0, 16);
      const header = await this.model.version.get(uuid, EMPTY);
      const row = header?.deleted ? undefined : await this.model.version.get(uuid, r.ref.subarray(16));
      if (header?.deleted || row?.deleted) {
        await this.model.blockRef.insert({ ...r, deleted: true });
        deleted++;
      }
    }
    return `${deleted} stale block reference(s) deleted`;
  }

  /** Reads every local block and checks its hash; `pauseMs` between blocks keeps the disk available. */
  async scrub(pauseMs = 0): Promise<string> {
    let checked = 0;
    let corrupt = 0;
    for (const [hash] of this.model.blocks.rc.range({})) {
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      const stored = await this.model.blocks.store.read(hash);
      if (!stored) continue;
      checked++;
      try {
        await this.model.blocks.decode(hash, stored);
      } catch {
        corrupt++;
        this.log.warn({ block: hash.toString('hex') }, 'scrub: corrupt block, fetching it again');
        await this.model.blocks.store.delete(hash);
        await this.model.blocks.requeue(hash);
      }
    }
    return `${checked} block(s) checked, ${corrupt} corrupt`;
  }
}
