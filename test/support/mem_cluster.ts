// Several nodes in one process, for unit tests of the core in milliseconds: each has its own
// LMDB environment, block directory and model tables; an in-memory transport carries their
// calls (through msgpack, as the wire does), and a node can be taken down and brought back.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockManager } from '../../src/block/manager.ts';
import { LmdbDb } from '../../src/db/lmdb.ts';
import type { RpcTransport } from '../../src/net/endpoint.ts';
import type { CallOptions, RpcHandler, RpcResponse } from '../../src/net/rpc_types.ts';
import { decode, encode } from '../../src/net/wire.ts';
import type { LayoutView } from '../../src/rpc/layout/manager.ts';
import { Model } from '../../src/model/garage.ts';
import { TableGc } from '../../src/table/gc.ts';
import { TableSyncer } from '../../src/table/sync.ts';
import { Workers } from '../../src/util/background.ts';
import { NetError } from '../../src/util/errors.ts';
import { logger } from '../../src/util/log.ts';

/** Routes calls between the nodes of one process; a node that is down neither calls nor answers. */
export class MemNet {
  readonly handlers = new Map<string, Map<string, RpcHandler>>();
  readonly down = new Set<string>();
  /** Handlers running now: a stop waits for them before closing the databases they use. */
  readonly running = new Set<Promise<unknown>>();

  /** The transport of node `id`. */
  transport(id: string): RpcTransport {
    const mine = new Map<string, RpcHandler>();
    this.handlers.set(id, mine);
    return {
      id,
      register: (name, h) => void mine.set(name, h),
      call: (to, name, body, _opts?: CallOptions) => this.#call(id, to, name, body),
    };
  }

  async #call(from: string, to: string, name: string, body: unknown): Promise<RpcResponse> {
    if (this.down.has(from) || this.down.has(to)) throw new NetError(`node ${to.slice(0, 8)} is unreachable`);
    const h = this.handlers.get(to)?.get(name);
    if (!h) throw new NetError(`no endpoint ${name} on ${to.slice(0, 8)}`);
    const p = h(from, decode(encode(body)), undefined, new AbortController().signal);
    this.running.add(p);
    const r = await p.finally(() => this.running.delete(p));
    if (this.down.has(from) || this.down.has(to)) throw new NetError(`node ${to.slice(0, 8)} went away`);
    return { body: decode(encode(r.body)) };
  }
}

/** Every node holds every partition (replication factor = number of nodes). */
export function fullLayout(ids: string[]): LayoutView {
  return {
    writeSets: () => [ids],
    readNodes: () => ids,
    storageNodeSets: () => [ids],
    readStorageNodes: () => ids,
    replicationFactor: () => ids.length,
    ready: () => true,
    beginWrite: () => () => undefined,
  };
}

/** One node of a MemCluster. */
export interface MemNode {
  id: string;
  db: LmdbDb;
  blocks: BlockManager;
  model: Model;
  /** Anti-entropy and tombstone GC of each table, by table name. */
  sync: Map<string, TableSyncer>;
  gc: Map<string, TableGc>;
  dir: string;
}

/** N nodes with real LMDB and block files, talking through a MemNet. */
export class MemCluster {
  readonly net = new MemNet();
  readonly nodes: MemNode[] = [];

  constructor(n: number, opts: { gcDelayMs?: number; tombstoneDelayMs?: number } = {}) {
    const ids = Array.from({ length: n }, (_, i) =>
      String(i + 1)
        .repeat(64)
        .slice(0, 64),
    );
    const layout = fullLayout(ids);
    for (const id of ids) {
      const dir = mkdtempSync(join(tmpdir(), 'garage-mem-'));
      const db = new LmdbDb(join(dir, 'meta'), { fsync: false });
      const rpc = this.net.transport(id);
      const workers = new Workers();
      const log = logger('test');
      const blocks = new BlockManager({
        db,
        rpc,
        layout,
        dataDirs: [{ path: join(dir, 'data'), readOnly: false }],
        compressionLevel: null,
        fsync: false,
        consistency: 'consistent',
        logger: log,
        workers,
        gcDelayMs: opts.gcDelayMs ?? 50,
      });
      const model = new Model({ db, rpc, layout, blocks, consistency: 'consistent', logger: log, workers });
      const tables = model.tables();
      const sync = new Map(tables.map((t) => [t.schema.name, new TableSyncer(t, rpc, layout, log)]));
      const gc = new Map(
        tables.map((t) => [t.schema.name, new TableGc(t, rpc, layout, workers, log, opts.tombstoneDelayMs ?? 0)]),
      );
      this.nodes.push({ id, db, blocks, model, sync, gc, dir });
    }
  }

  /** Starts the queue and block workers of every node. */
  async start(): Promise<void> {
    for (const n of this.nodes) {
      n.model.start();
      await n.blocks.start();
    }
  }

  /** Stops every node and removes its directory. */
  async stop(): Promise<void> {
    // Background calls (releases, deferred inserts) may still be on their way: take every node
    // down first, stop its work, and let running handlers finish before any database closes.
    for (const n of this.nodes) this.net.down.add(n.id);
    for (const n of this.nodes) {
      n.model.stop();
      await n.blocks.stop();
    }
    await Promise.allSettled([...this.net.running]);
    for (const n of this.nodes) {
      await n.db.close();
      rmSync(n.dir, { recursive: true, force: true });
    }
  }
}
