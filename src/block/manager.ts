import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { hashPool } from '../util/hash_pool.ts';
import { zstdCompress, zstdCompressSync, zstdDecompress, zstdDecompressSync, constants as zc } from 'node:zlib';
import type { Db, Tree, Tx } from '../db/db.ts';
import { z } from 'zod';
import { callQuorumSets, quorums, type RpcTransport } from '../rpc/rpc_helper.ts';
import { call, endpoint, serve, zBuf } from '../net/endpoint.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import { BlockError, GarageError, LayoutError, errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { Workers } from '../util/background.ts';
import { blockMetrics, timed } from '../util/metrics.ts';
import { BlockStore, type DataDir, type StoredBlock } from './store.ts';

const compress = promisify(zstdCompress);
const SAMPLE = 64 * 1024;
const decompress = promisify(zstdDecompress);
/** Below this size zstd runs inline: a few microseconds, less than a round trip to the thread pool. */
const SYNC_ZSTD = 32 * 1024;

const zHash = zBuf.refine((b) => b.length === 32, 'a block hash is 32 bytes');
const zStored = z.object({ data: zBuf, compressed: z.boolean() });
/** Node-to-node block operations: store a block, read it, ask whether a node has it. */
const BLOCK = {
  put: endpoint('block/put', z.object({ hash: zHash, data: zBuf, compressed: z.boolean() }), z.null(), {
    direct: true,
  }),
  get: endpoint('block/get', z.object({ hash: zHash }), zStored.nullable(), { direct: true }),
  has: endpoint('block/has', z.object({ hash: zHash }), z.boolean(), { direct: true }),
};

export interface BlockManagerOptions {
  db: Db;
  rpc: RpcTransport;
  layout: LayoutView;
  dataDirs: DataDir[];
  compressionLevel: number | null;
  fsync: boolean;
  consistency: 'consistent' | 'degraded' | 'dangerous';
  logger: Logger;
  workers: Workers;
  /** How long an unreferenced block is kept before deletion (default 10 min). */
  gcDelayMs?: number;
  /** Measured round trip to a node, to read from the nearest replica first. */
  rttOf?: (node: string) => number | undefined;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Stores blocks locally, replicates them to their partition's nodes, counts references, deletes unreferenced ones. */
export class BlockManager {
  readonly store: BlockStore;
  readonly opts: BlockManagerOptions;
  /** hash → [refcount u64][time it dropped to zero u64]. */
  readonly rc: Tree;
  /** time u64 ++ hash → empty: blocks to look at again (GC, missing copies). */
  readonly resync: Tree;
  /** hash → error text + retry count, for `garage block list-errors`. */
  readonly errors: Tree;
  readonly gcDelayMs: number;
  /** Sleep after each resync item, as a multiple of the time it took (Garage's resync-tranquility). */
  resyncTranquility = 2;
  /** How many resync workers run at once (resync-worker-count, 1-8). */
  resyncWorkerCount = 1;
  // Idle workers wait here; a queued block or a stop wakes them all.
  readonly #waiters = new Set<() => void>();
  // Workers pausing for tranquility wait here; only a stop cuts the pause short.
  readonly #pausing = new Set<() => void>();
  // Hashes being resynced now: a block is never handled by two workers at once.
  readonly #inFlight = new Set<string>();
  #running = 0;
  readonly #loops = new Set<Promise<void>>();
  #stopped = false;

  constructor(opts: BlockManagerOptions) {
    this.opts = opts;
    this.store = new BlockStore(opts.dataDirs, opts.fsync);
    this.rc = opts.db.tree('block:rc');
    this.resync = opts.db.tree('block:resync');
    this.errors = opts.db.tree('block:errors');
    this.gcDelayMs = opts.gcDelayMs ?? 10 * 60_000;
    serve(opts.rpc, BLOCK.put, async (_from, m) => {
      await this.store.write(m.hash, { data: m.data, compressed: m.compressed });
      await this.#collectIfUnreferenced(m.hash);
      return null;
    });
    serve(opts.rpc, BLOCK.has, async (_from, m) => (await this.store.locate(m.hash)) !== undefined);
    serve(opts.rpc, BLOCK.get, async (_from, m) => {
      const b = await this.store.read(m.hash);
      return b ? { data: b.data, compressed: b.compressed } : null;
    });
  }

  // A block that lands with no reference here (the upload that wrote it was superseded and
  // its references dropped before the block landed, or they have not arrived yet) gets a new
  // GC entry, so it is collected after the delay unless referenced by then: never an orphan
  // file. Always a new one: a GC pass already past its entry may not have seen this file.
  async #collectIfUnreferenced(hash: Buffer): Promise<void> {
    if (this.refcount(hash) > 0) return;
    await this.opts.db.transaction((tx) => {
      if (this.refcountIn(tx, hash) === 0) this.setRefcount(tx, hash, 0);
    });
  }

  /** Hashes plain block content (the block id). */
  static hash(data: Buffer): Buffer {
    return createHash('sha256').update(data).digest();
  }

  async #encode(data: Buffer): Promise<StoredBlock> {
    const level = this.opts.compressionLevel;
    if (level === null) return { data, compressed: false };
    const params = { params: { [zc.ZSTD_c_compressionLevel]: level } };
    // Photos, videos and archives do not compress: a 64 KiB sample tells, for 1/16 of the cost.
    if (data.length >= 4 * SAMPLE) {
      const sample = await compress(data.subarray(0, SAMPLE), params);
      if (sample.length > SAMPLE * 0.97) return { data, compressed: false };
    }
    const z = data.length <= SYNC_ZSTD ? zstdCompressSync(data, params) : await compress(data, params);
    return z.length < data.length ? { data: z, compressed: true } : { data, compressed: false };
  }

  /**
   * Decompresses a stored block and checks its hash. `fresh`: `b.data` is memory nobody else
   * holds (read from a file), which may be handed over for hashing: use only the result then.
   */
  async decode(hash: Buffer, b: StoredBlock, fresh = false): Promise<Buffer> {
    const plain = !b.compressed
      ? b.data
      : b.data.length <= SYNC_ZSTD
        ? zstdDecompressSync(b.data)
        : await decompress(b.data);
    // Decompressed bytes are always new memory.
    const checked =
      fresh || plain !== b.data
        ? await hashPool.sha256Taking(plain)
        : { hash: await hashPool.sha256(plain), data: plain };
    if (!checked.hash.equals(hash)) throw new BlockError(`block ${hash.toString('hex')} is corrupt (hash mismatch)`);
    return checked.data;
  }

  /**
   * Writes a block to a write quorum of the nodes of its partition (compressing it once here,
   * unless `compress` is false: encrypted blocks would not shrink).
   */
  async put(hash: Buffer, data: Buffer, compress = true): Promise<void> {
    if (!this.opts.layout.ready()) throw new LayoutError('the cluster layout is not ready');
    const stored = compress ? await this.#encode(data) : { data, compressed: false };
    const { write } = quorums(this.opts.layout.replicationFactor(), this.opts.consistency);
    const done = this.opts.layout.beginWrite();
    try {
      await callQuorumSets(
        this.opts.rpc,
        this.opts.layout.writeSets(hash),
        BLOCK.put,
        { hash, data: stored.data, compressed: stored.compressed },
        (n) => Math.min(n, write),
        { priority: 'background', timeoutMs: 60_000 },
      );
    } finally {
      done();
    }
  }

  /**
   * Reads a block's plain content: locally if we have it, else from the nearest replica. A copy
   * this node should hold but lacks (or holds corrupt) is queued for resync, which refetches it.
   */
  async get(hash: Buffer): Promise<Buffer> {
    const local = await this.store.read(hash);
    if (local) {
      try {
        return await this.decode(hash, local, true);
      } catch (e) {
        this.opts.logger.warn(
          { block: hash.toString('hex'), err: errorMessage(e) },
          'local block unreadable; trying replicas',
        );
        await this.store.delete(hash);
      }
    }
    const self = this.opts.rpc.id;
    if (this.refcount(hash) > 0 && this.shouldHold(hash)) await this.requeue(hash);
    const rtt = (n: string) => this.opts.rttOf?.(n) ?? Number.MAX_SAFE_INTEGER;
    const nodes = [...new Set([...this.opts.layout.readNodes(hash), ...this.opts.layout.writeSets(hash).flat()])]
      .filter((n) => n !== self)
      .sort((a, b) => rtt(a) - rtt(b));
    const errors: string[] = [];
    for (const node of nodes) {
      try {
        const b = (await call(this.opts.rpc, node, BLOCK.get, { hash }, { priority: 'background', timeoutMs: 30_000 }))
          .body;
        if (b) return await this.decode(hash, b);
        errors.push(`${node.slice(0, 16)}: not found`);
      } catch (e) {
        errors.push(`${node.slice(0, 16)}: ${errorMessage(e)}`);
      }
    }
    const err = new BlockError(
      `block ${hash.toString('hex')} could not be read${errors.length ? ` (${errors.join('; ')})` : ''}`,
    );
    this.opts.logger.error({ block: hash.toString('hex'), err: err.message }, 'block missing on every replica asked');
    throw err;
  }

  // ---- reference counting (called from block_ref hooks, inside their transaction) ----

  #rcGet(tx: Tx, hash: Buffer): { count: number; zeroSince: number } {
    const b = tx.get(this.rc, hash);
    return b
      ? { count: Number(b.readBigUInt64BE(0)), zeroSince: Number(b.readBigUInt64BE(8)) }
      : { count: 0, zeroSince: 0 };
  }

  /** One more reference to a block. */
  incref(tx: Tx, hash: Buffer): void {
    const { count } = this.#rcGet(tx, hash);
    tx.put(this.rc, hash, Buffer.concat([u64(count + 1), u64(0)]));
    // A new reference may mean this node must now fetch the block.
    if (count === 0) this.#queue(tx, hash, Date.now() + 1000);
  }

  /** One reference fewer; at zero the block is deleted after the GC delay unless referenced again. */
  decref(tx: Tx, hash: Buffer): void {
    const { count } = this.#rcGet(tx, hash);
    if (count <= 1) {
      const now = Date.now();
      tx.put(this.rc, hash, Buffer.concat([u64(0), u64(now)]));
      this.#queue(tx, hash, now + this.gcDelayMs);
    } else {
      tx.put(this.rc, hash, Buffer.concat([u64(count - 1), u64(0)]));
    }
  }

  /** The reference count of a block as a transaction sees it. */
  refcountIn(tx: Tx, hash: Buffer): number {
    return this.#rcGet(tx, hash).count;
  }

  /** Whether an unreferenced block is waiting for its GC delay (it has a zero refcount entry). */
  gcPending(tx: Tx, hash: Buffer): boolean {
    return tx.get(this.rc, hash) !== undefined && this.#rcGet(tx, hash).count === 0;
  }

  /** Sets a refcount outright (repair); at zero the block is deleted after the GC delay. */
  setRefcount(tx: Tx, hash: Buffer, count: number): void {
    if (count > 0) {
      tx.put(this.rc, hash, Buffer.concat([u64(count), u64(0)]));
      return;
    }
    const now = Date.now();
    tx.put(this.rc, hash, Buffer.concat([u64(0), u64(now)]));
    this.#queue(tx, hash, now + this.gcDelayMs);
  }

  /** Whether this node is one of the block's replicas in some live layout version. */
  shouldHold(hash: Buffer): boolean {
    return this.opts.layout.writeSets(hash).some((s) => s.includes(this.opts.rpc.id));
  }

  /** Queues a block for a check now, in a transaction (fetches it if missing here). */
  queueCheck(tx: Tx, hash: Buffer): void {
    this.#queue(tx, hash, Date.now());
  }

  /** The current reference count of a block on this node. */
  refcount(hash: Buffer): number {
    const b = this.rc.get(hash);
    return b ? Number(b.readBigUInt64BE(0)) : 0;
  }

  #queue(tx: Tx, hash: Buffer, when: number): void {
    tx.put(this.resync, Buffer.concat([u64(when), hash]), Buffer.alloc(0));
    // The transaction commits a little later: wake the workers after that.
    if (this.#waiters.size) setTimeout(() => this.#wakeAll(), 20);
  }

  #wakeAll(): void {
    for (const w of [...this.#waiters]) w();
  }

  // ---- resync / GC worker ----

  /** Starts the workers that delete unreferenced blocks and fetch missing ones. */
  async start(): Promise<void> {
    await this.store.cleanTemp();
    this.opts.workers.register('block resync', 'deletes unreferenced blocks after a delay, fetches missing ones');
    const w = this.opts.workers;
    w.defineVariable('resync-tranquility', {
      get: () => String(this.resyncTranquility),
      set: (v) => {
        if (!/^\d{1,4}$/.test(v)) throw new GarageError(`resync-tranquility must be an integer 0-9999, got '${v}'`);
        this.resyncTranquility = Number(v);
      },
    });
    w.defineVariable('resync-worker-count', {
      get: () => String(this.resyncWorkerCount),
      set: (v) => {
        if (!/^[1-8]$/.test(v)) throw new GarageError(`resync-worker-count must be an integer 1-8, got '${v}'`);
        this.resyncWorkerCount = Number(v);
        this.#spawn();
        this.#wakeAll();
      },
    });
    this.#spawn();
  }

  #spawn(): void {
    while (!this.#stopped && this.#running < this.resyncWorkerCount) {
      this.#running++;
      const loop: Promise<void> = this.#loop()
        .catch((e: unknown) => {
          if (!this.#stopped) this.opts.logger.error({ err: errorMessage(e) }, 'block resync worker failed');
        })
        .finally(() => {
          this.#running--;
          this.#loops.delete(loop);
        });
      this.#loops.add(loop);
    }
  }

  // Waits `ms`, or less when the workers stop (and, idle, when a block is queued).
  #sleep(ms: number, idle: boolean): Promise<void> {
    const set = idle ? this.#waiters : this.#pausing;
    return new Promise<void>((r) => {
      let t: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(t);
        set.delete(done);
        r();
      };
      t = setTimeout(done, ms);
      set.add(done);
    });
  }

  // The first queued entry that is due and that no other worker holds, or when to look again.
  #next(): { key: Buffer; hash: Buffer } | { waitMs: number } {
    const now = Date.now();
    for (const [key] of this.resync.range({ limit: this.#inFlight.size + 1 })) {
      const due = Number(key.readBigUInt64BE(0));
      if (due > now) return { waitMs: due - now };
      const hash = key.subarray(8);
      if (!this.#inFlight.has(hash.toString('hex'))) return { key, hash };
    }
    return { waitMs: 60_000 };
  }

  async #loop(): Promise<void> {
    // A worker beyond the configured count ends after its item.
    while (!this.#stopped && this.#running <= this.resyncWorkerCount) {
      const next = this.#next();
      if ('waitMs' in next) {
        await this.#sleep(Math.min(next.waitMs, 60_000), true);
        continue;
      }
      const { key, hash } = next;
      const hex = hash.toString('hex');
      this.#inFlight.add(hex);
      const started = performance.now();
      let pause = 0;
      try {
        blockMetrics.resyncCounter.inc();
        await timed(blockMetrics.resyncDuration, {}, () => this.#resyncOne(hash));
        await this.opts.db.transaction((tx) => {
          tx.remove(this.resync, key);
          tx.remove(this.errors, hash);
        });
        // Tranquility spares the disk after work done; a failure (often a peer timing out) used
        // none, and is retried later with its own backoff.
        pause = Math.min((performance.now() - started) * this.resyncTranquility, 2000);
      } catch (e) {
        const prev = this.errors.get(hash);
        const tries = prev ? prev.readUInt32BE(0) + 1 : 1;
        const delay = retryDelay(tries);
        await this.opts.db.transaction((tx) => {
          tx.remove(this.resync, key);
          const info = Buffer.concat([Buffer.alloc(4), u64(Date.now() + delay), Buffer.from(errorMessage(e))]);
          info.writeUInt32BE(tries, 0);
          tx.put(this.errors, hash, info);
          this.#queue(tx, hash, Date.now() + delay);
        });
        this.opts.logger.warn({ block: hex, err: errorMessage(e) }, 'block resync failed');
      } finally {
        this.#inFlight.delete(hex);
      }
      this.opts.workers.report('block resync', {
        queueLength: this.resync.count(),
        errors: this.errors.count(),
        tranquility: this.resyncTranquility,
      });
      if (pause >= 1 && !this.#stopped) await this.#sleep(pause, false);
    }
  }

  async #resyncOne(hash: Buffer): Promise<void> {
    const b = this.rc.get(hash);
    const count = b ? Number(b.readBigUInt64BE(0)) : 0;
    const zeroSince = b ? Number(b.readBigUInt64BE(8)) : 0;
    const mine = this.shouldHold(hash);
    if (count === 0) {
      if (Date.now() - zeroSince < this.gcDelayMs) return; // referenced again in between, then dropped: a later entry exists
      await this.store.deleteIfUnused(hash, () => this.refcount(hash) === 0);
      await this.opts.db.transaction((tx) => {
        const cur = tx.get(this.rc, hash);
        if (cur && cur.readBigUInt64BE(0) === 0n) tx.remove(this.rc, hash);
      });
      return;
    }
    const here = await this.store.locate(hash);
    if (mine && !here) {
      const data = await this.get(hash);
      await this.store.write(hash, await this.#encode(data));
      await this.#collectIfUnreferenced(hash);
    } else if (!mine && here) {
      await this.#offload(hash);
    }
  }

  // A block this node no longer has to hold: make sure every node of the newest layout
  // that should hold it has it, then delete our copy.
  async #offload(hash: Buffer): Promise<void> {
    const sets = this.opts.layout.writeSets(hash);
    const targets = sets[sets.length - 1] ?? [];
    if (targets.length === 0) return;
    let stored: StoredBlock | undefined;
    for (const node of targets) {
      if ((await call(this.opts.rpc, node, BLOCK.has, { hash }, { priority: 'background', timeoutMs: 30_000 })).body)
        continue;
      stored ??= await this.store.read(hash);
      if (!stored) return;
      await call(
        this.opts.rpc,
        node,
        BLOCK.put,
        { hash, data: stored.data, compressed: stored.compressed },
        { priority: 'background', timeoutMs: 60_000 },
      );
    }
    await this.store.delete(hash);
    this.opts.logger.debug({ block: hash.toString('hex') }, 'block offloaded');
  }

  /** Queues every referenced block for a check (after a layout change: fetch what is now ours, offload the rest). */
  recheckAll(): void {
    const now = Date.now();
    void this.opts.db.transaction((tx) => {
      for (const [hash, v] of this.rc.range({})) if (v.readBigUInt64BE(0) > 0n) this.#queue(tx, hash, now);
    });
  }

  /** Queues one block for a check now (used by scrub and `block retry-now`). */
  async requeue(hash: Buffer): Promise<void> {
    await this.opts.db.transaction((tx) => this.#queue(tx, hash, Date.now()));
  }

  /** What this node knows of a block: refcount, local copy, references. */
  async info(
    hash: Buffer,
  ): Promise<{ refcount: number; stored?: { path: string; compressed: boolean; size: number }; error?: string }> {
    const e = this.errors.get(hash);
    return {
      refcount: this.refcount(hash),
      stored: await this.store.locate(hash),
      error: e ? e.subarray(12).toString() : undefined,
    };
  }

  /** Lists blocks whose resync failed: hash, tries, last and next try, error. */
  listErrors(): { hash: string; tries: number; lastTry: number; nextTry: number; error: string }[] {
    return [...this.errors.range({})].map(([k, v]) => {
      const tries = v.readUInt32BE(0);
      const nextTry = Number(v.readBigUInt64BE(4));
      return {
        hash: k.toString('hex'),
        tries,
        lastTry: nextTry - retryDelay(tries),
        nextTry,
        error: v.subarray(12).toString(),
      };
    });
  }

  /** Stops the workers; resolves once none is in the middle of a block (the database may then close). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeAll();
    for (const w of [...this.#pausing]) w();
    await Promise.all(this.#loops);
  }
}

/** How long a block waits before its next resync after `tries` failures. */
function retryDelay(tries: number): number {
  return Math.min(1000 * 2 ** tries, 3_600_000);
}
