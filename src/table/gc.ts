import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { RpcTransport } from '../rpc/rpc_helper.ts';
import { call, endpoint, serve, zBuf } from '../net/endpoint.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import { Periodic, type Workers } from '../util/background.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';
import type { TableCore } from './table.ts';

const zItems = z.array(z.tuple([zBuf, zBuf]));
/** The tombstone GC endpoints of one table: which of these (key, value hash) a replica holds; delete them. */
function gcEndpoints(name: string) {
  return {
    check: endpoint(`table-gc/${name}/check`, z.object({ items: zItems }), z.array(z.boolean())),
    delete: endpoint(`table-gc/${name}/delete`, z.object({ items: zItems }), z.null()),
  };
}

/** Hash of a stored value, as recorded in the GC queue. */
export function valueHash(v: Buffer): Buffer {
  return createHash('sha256').update(v).digest();
}

/**
 * Deletes tombstones for good, once they are older than `delayMs` and every replica of
 * their partition (in every live layout version) confirmed holding exactly that tombstone.
 * Deletion is compare-and-delete on each replica, so a newer write is never lost.
 */
export class TableGc {
  readonly table: TableCore;
  readonly rpc: RpcTransport;
  readonly layout: LayoutView;
  readonly log: Logger;
  readonly workers: Workers;
  readonly delayMs: number;
  readonly endpoints: ReturnType<typeof gcEndpoints>;
  #periodic: Periodic | undefined;

  constructor(table: TableCore, rpc: RpcTransport, layout: LayoutView, workers: Workers, log: Logger, delayMs: number) {
    this.table = table;
    this.rpc = rpc;
    this.layout = layout;
    this.workers = workers;
    this.log = log;
    this.delayMs = delayMs;
    this.endpoints = gcEndpoints(table.schema.name);
    serve(rpc, this.endpoints.check, async (_from, m) =>
      m.items.map(([k, h]) => {
        const v = this.table.store.get(k);
        return v !== undefined && valueHash(v).equals(h);
      }),
    );
    serve(rpc, this.endpoints.delete, async (_from, m) => {
      await this.table.deleteIfEqual(m.items);
      return null;
    });
  }

  /** Runs a GC pass every `intervalMs`. */
  start(intervalMs: number): void {
    this.workers.register(`${this.table.schema.name} gc`, 'deletes tombstones every replica holds');
    this.#periodic = new Periodic(
      intervalMs,
      () => this.pass(),
      (e) => this.log.warn({ table: this.table.schema.name, err: errorMessage(e) }, 'tombstone gc failed'),
    );
  }

  stop(): void {
    this.#periodic?.stop();
  }

  /** One pass over the GC queue; returns how many tombstones were deleted. */
  async pass(): Promise<number> {
    const now = Date.now();
    const due: [Buffer, Buffer][] = [];
    const stale: Buffer[] = [];
    for (const [k, v] of this.table.gcTodo.range({})) {
      if (Number(v.readBigUInt64BE(0)) + this.delayMs > now) continue;
      const cur = this.table.store.get(k);
      const h = v.subarray(8);
      if (!cur || !valueHash(cur).equals(h)) stale.push(k);
      else due.push([k, h]);
      if (due.length >= 1000) break;
    }
    if (stale.length) {
      await this.table.db.transaction((tx) => {
        for (const k of stale) tx.remove(this.table.gcTodo, k);
      });
    }
    // Group by the replicas that must confirm.
    const groups = new Map<string, { nodes: string[]; items: [Buffer, Buffer][] }>();
    for (const item of due) {
      const hash = Buffer.alloc(32);
      hash[0] = item[0][0]!;
      const nodes = [...new Set(this.table.replication.syncSets(hash).flat())].sort();
      const key = nodes.join(',');
      let g = groups.get(key);
      if (!g) {
        g = { nodes, items: [] };
        groups.set(key, g);
      }
      g.items.push(item);
    }
    let deleted = 0;
    for (const { nodes, items } of groups.values()) {
      try {
        const answers = await Promise.all(
          nodes.map(
            async (n) =>
              (await call(this.rpc, n, this.endpoints.check, { items }, { priority: 'background', timeoutMs: 30_000 }))
                .body,
          ),
        );
        const everywhere = items.filter((_, i) => answers.every((a) => a[i]));
        if (everywhere.length === 0) continue;
        await Promise.all(
          nodes.map((n) =>
            call(
              this.rpc,
              n,
              this.endpoints.delete,
              { items: everywhere },
              { priority: 'background', timeoutMs: 30_000 },
            ),
          ),
        );
        deleted += everywhere.length;
      } catch (e) {
        // A replica is unreachable: try again on a later pass.
        this.log.debug({ table: this.table.schema.name, err: errorMessage(e) }, 'tombstone gc postponed');
      }
    }
    this.workers.report(`${this.table.schema.name} gc`, { queue: this.table.gcTodo.count(), lastDeleted: deleted });
    return deleted;
  }
}
