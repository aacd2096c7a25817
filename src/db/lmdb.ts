import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type RootDatabase, type Database } from 'lmdb';
import type { Db, RangeOptions, Tree, Tx } from './db.ts';

/** Transactions per turn of the event loop that still commit at once (the writes of one request). */
const LONE = 4;

class LmdbTree implements Tree {
  readonly name: string;
  readonly inner: Database<Buffer, Buffer>;
  constructor(name: string, inner: Database<Buffer, Buffer>) {
    this.name = name;
    this.inner = inner;
  }
  get(key: Buffer): Buffer | undefined {
    return this.inner.get(key);
  }
  *range(opts: RangeOptions): Iterable<[Buffer, Buffer]> {
    // lmdb's reverse ranges go from start (high) down to end (low), exclusive of end.
    if (!opts.reverse) {
      for (const { key, value } of this.inner.getRange({ start: opts.start, end: opts.end, limit: opts.limit }))
        yield [key, value];
      return;
    }
    let n = 0;
    for (const { key, value } of this.inner.getRange({ start: opts.end, reverse: true })) {
      if (opts.end !== undefined && Buffer.compare(key, opts.end) >= 0) continue;
      if (opts.start !== undefined && Buffer.compare(key, opts.start) < 0) break;
      if (opts.limit !== undefined && n++ >= opts.limit) break;
      yield [key, value];
    }
  }
  count(): number {
    return (this.inner.getStats() as { entryCount: number }).entryCount;
  }
}

const TX: Tx = {
  get: (tree, key) => (tree as LmdbTree).inner.get(key),
  put: (tree, key, value) => {
    (tree as LmdbTree).inner.putSync(key, value);
  },
  remove: (tree, key) => {
    (tree as LmdbTree).inner.removeSync(key);
  },
  range: (tree, opts) => tree.range(opts),
};

/** LMDB engine: one environment in `<metadata_dir>/db.lmdb`, one named database per tree. */
export class LmdbDb implements Db {
  readonly root: RootDatabase<Buffer, Buffer>;
  readonly trees = new Map<string, LmdbTree>();
  readonly #fsync: boolean;
  /** Transactions handed to lmdb's writer thread and not committed yet. */
  #batched = 0;
  /** Transactions issued in this turn of the event loop. */
  #thisTurn = 0;
  constructor(metadataDir: string, opts: { fsync: boolean }) {
    this.#fsync = opts.fsync;
    const path = join(metadataDir, 'db.lmdb');
    mkdirSync(path, { recursive: true });
    this.root = open<Buffer, Buffer>({
      path: join(path, 'data.mdb'),
      encoding: 'binary',
      keyEncoding: 'binary',
      compression: false,
      // Without fsync a SIGKILL still loses nothing (the kernel holds the pages); only a power loss could.
      noSync: !opts.fsync,
      // With fsync the commit promise must mean durable: lmdb-js's overlappingSync (its default on
      // Linux) resolves it at commit and syncs afterwards, so an acknowledged write could be lost.
      overlappingSync: false,
      noMetaSync: false,
      maxDbs: 64,
      mapSize: 2 ** 40,
    });
  }
  tree(name: string): Tree {
    let t = this.trees.get(name);
    if (!t) {
      t = new LmdbTree(
        name,
        this.root.openDB<Buffer, Buffer>({ name, encoding: 'binary', keyEncoding: 'binary', compression: false }),
      );
      this.trees.set(name, t);
    }
    return t;
  }
  // Without fsync a commit only copies dirty pages to the kernel. A few transactions in a turn of
  // the event loop commit at once on this thread (cheaper than the round trip to lmdb's writer
  // thread); beyond that, under load, they go to the writer thread, which commits them as one
  // batch, off this thread. None commits at once while batched ones are pending: order holds.
  transaction<T>(fn: (tx: Tx) => T): Promise<T> {
    if (!this.#fsync) {
      if (this.#thisTurn++ === 0) setImmediate(() => (this.#thisTurn = 0));
      if (this.#batched === 0 && this.#thisTurn <= LONE) {
        try {
          return Promise.resolve(this.root.transactionSync(() => fn(TX)));
        } catch (e) {
          return Promise.reject(e);
        }
      }
    }
    this.#batched++;
    const p = this.root.transaction(() => fn(TX));
    const settled = () => {
      this.#batched--;
    };
    p.then(settled, settled);
    return p;
  }
  async snapshot(dir: string): Promise<void> {
    mkdirSync(join(dir, 'db.lmdb'), { recursive: true });
    // One read transaction copies every database as of one instant; compaction drops free pages.
    await this.root.backup(join(dir, 'db.lmdb', 'data.mdb'), true);
  }
  async close(): Promise<void> {
    await this.root.close();
  }
}
