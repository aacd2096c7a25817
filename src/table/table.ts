import type { Db, Tree, Tx } from '../db/db.ts';
import { tableMetrics, timed } from '../util/metrics.ts';
import { z } from 'zod';
import { callQuorum, callQuorumSets, type RpcTransport } from '../rpc/rpc_helper.ts';
import { call, endpoint, serve, zBuf } from '../net/endpoint.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import { GarageError, QuorumError, errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { ReplicationKind, TableSchema } from './schema.ts';
import type { Workers } from '../util/background.ts';
import type { TableDigest } from './merkle.ts';
import { LocalTable, type Filterable, type RangeQuery } from './local_table.ts';

import { InsertQueue } from './insert_queue.ts';
import { tableReplication, type TableReplication } from './replication.ts';

/** A range read as replicas are asked for it: filters apply after merging, on the reader. */
type WireRange = Omit<RangeQuery, 'filter'>;

const zRange: z.ZodType<WireRange> = z.object({
  start: zBuf.optional(),
  end: zBuf.optional(),
  limit: z.number().int().nonnegative().optional(),
  reverse: z.boolean().optional(),
});

// Handlers only decode what they are given and answer fresh buffers: calls to self run in place.
const DIRECT = { direct: true };

/** The RPC endpoints of one table. */
function tableEndpoints(name: string) {
  return {
    update: endpoint(
      `table/${name}/update`,
      z.object({ entries: z.array(zBuf), completion: z.boolean().optional() }),
      z.null(),
      DIRECT,
    ),
    get: endpoint(`table/${name}/get`, z.object({ key: zBuf }), zBuf.nullable(), DIRECT),
    range: endpoint(`table/${name}/range`, z.object({ pk: zBuf, q: zRange }), z.array(zBuf), DIRECT),
    all: endpoint(`table/${name}/all`, z.object({}), z.array(zBuf), DIRECT),
  };
}

export interface TableOptions {
  consistency: 'consistent' | 'degraded' | 'dangerous';
  logger: Logger;
  workers?: Workers;
}

/**
 * What the workers of every table (anti-entropy, tombstone GC, stats) need, whatever its
 * entry type: tables of different types are held through this, with no cast.
 */
export interface TableCore {
  readonly schema: { readonly name: string; readonly replication: ReplicationKind };
  readonly db: Db;
  readonly store: Tree;
  readonly queue: Tree;
  readonly gcTodo: Tree;
  readonly digest: TableDigest;
  readonly endpoints: ReturnType<typeof tableEndpoints>;
  readonly replication: TableReplication;
  /** Merges encoded entries into local storage (replication traffic). */
  applyLocal(encoded: Buffer[]): Promise<void>;
  /** Deletes entries whose stored value still has the given hash. */
  deleteIfEqual(items: [Buffer, Buffer][]): Promise<void>;
  /** The write quorum in a replica set of this size. */
  writeQuorum(setSize: number): number;
  /** Starts the worker that drains the insert queue. */
  startQueueWorker(): void;
  /** Stops background work. */
  stop(): void;
}

/** A replicated CRDT table: its local storage (local_table.ts), quorum reads and writes, deferred inserts. */
export class Table<E, F = never> extends LocalTable<E, F> implements TableCore {
  readonly rpc: RpcTransport;
  readonly layout: LayoutView;
  readonly queue: Tree;
  readonly opts: TableOptions;
  readonly endpoints: ReturnType<typeof tableEndpoints>;
  readonly replication: TableReplication;
  readonly insertQueue: InsertQueue<E>;

  constructor(
    schema: TableSchema<E> & Filterable<E, F>,
    db: Db,
    rpc: RpcTransport,
    layout: LayoutView,
    opts: TableOptions,
  ) {
    super(schema, db);
    this.rpc = rpc;
    this.layout = layout;
    this.opts = opts;
    this.insertQueue = new InsertQueue({
      db,
      schema,
      send: (entries) => this.insertMany(entries),
      logger: opts.logger,
      workers: opts.workers,
    });
    this.queue = this.insertQueue.tree;
    this.endpoints = tableEndpoints(schema.name);
    this.replication = tableReplication(schema.replication, layout, opts.consistency, rpc.id);
    serve(rpc, this.endpoints.update, async (_from, r) => {
      await this.applyLocal(r.entries, r.completion === true);
      return null;
    });
    serve(rpc, this.endpoints.get, async (_from, r) => this.store.get(r.key) ?? null);
    serve(rpc, this.endpoints.range, async (_from, r) => this.rangeLocalEncoded(r.pk, r.q));
    serve(rpc, this.endpoints.all, async () => [...this.store.range({})].map(([, v]) => v));
  }

  // ---- replicated side ----

  /** The write quorum in a replica set of this size. */
  writeQuorum(setSize: number): number {
    return this.replication.writeQuorum(setSize);
  }

  /**
   * Writes entries to a write quorum of their replicas (in every live layout version).
   * `completion`: a client completes something it wrote earlier (see TableSchema.completion);
   * replication traffic never sets it.
   */
  async insertMany(entries: E[], opts: { completion?: boolean } = {}): Promise<void> {
    const done = this.layout.beginWrite();
    try {
      await this.#counted('put', () => this.#insertMany(entries, opts));
    } finally {
      done();
    }
  }

  async #insertMany(entries: E[], opts: { completion?: boolean }): Promise<void> {
    // Entries with the same replica sets travel in one message.
    const byReplicas = new Map<string, { sets: string[][]; entries: Buffer[] }>();
    for (const e of entries) {
      const sets = this.replication.writeSets(this.partitionHash(this.schema.partitionKey(e)));
      const k = sets.map((set) => set.join(',')).join(';');
      let g = byReplicas.get(k);
      if (!g) {
        g = { sets, entries: [] };
        byReplicas.set(k, g);
      }
      g.entries.push(this.schema.encode(e));
    }
    await Promise.all(
      [...byReplicas.values()].map((g) =>
        this.#onlySelf(g.sets)
          ? this.applyLocal(g.entries, opts.completion === true).catch((e: unknown) => {
              // As the quorum call would report it.
              throw new QuorumError(1, 0, [`${this.rpc.id.slice(0, 16)}: ${errorMessage(e)}`]);
            })
          : callQuorumSets(
              this.rpc,
              g.sets,
              this.endpoints.update,
              { entries: g.entries, completion: opts.completion },
              (n) => this.writeQuorum(n),
            ),
      ),
    );
  }

  // Whether this node is the only replica asked (one node, or a full table read here): the
  // request is then served from local storage directly, as the handler would.
  #onlySelf(sets: string[][]): boolean {
    return sets.length === 1 && sets[0]!.length === 1 && sets[0]![0] === this.rpc.id;
  }

  /** Writes one entry with quorum. */
  insert(e: E, opts: { completion?: boolean } = {}): Promise<void> {
    return this.insertMany([e], opts);
  }

  /** Reads one entry from a read quorum, merging answers and repairing stale replicas. */
  get(pk: Buffer, sk: Buffer): Promise<E | undefined> {
    return this.#counted('get', () => this.#get(pk, sk));
  }

  // Counts and times a request made on this table (Garage's table_get/put_request_* metrics).
  #counted<T>(kind: 'get' | 'put', fn: () => Promise<T>): Promise<T> {
    const labels = { table_name: this.schema.name };
    (kind === 'get' ? tableMetrics.getCounter : tableMetrics.putCounter).inc(labels);
    return timed(kind === 'get' ? tableMetrics.getDuration : tableMetrics.putDuration, labels, fn);
  }

  async #get(pk: Buffer, sk: Buffer): Promise<E | undefined> {
    const hash = this.partitionHash(pk);
    const key = Buffer.concat([hash, sk]);
    const { nodes, quorum } = this.replication.readNodes(hash);
    const answers = this.#onlySelf([nodes])
      ? [{ node: this.rpc.id, body: this.store.get(key) ?? null }]
      : await callQuorum(this.rpc, nodes, this.endpoints.get, { key }, { quorum });
    let merged: E | undefined;
    for (const a of answers)
      if (a.body) merged = merged ? this.schema.merge(merged, this.schema.decode(a.body)) : this.schema.decode(a.body);
    if (merged !== undefined && answers.length > 1)
      this.#repair(
        answers.map((a) => ({ node: a.node, entries: a.body ? [a.body] : [] })),
        [merged],
      );
    if (merged === undefined && this.replication.kind === 'full' && nodes.length === 1 && nodes[0] === this.rpc.id)
      return this.#getFromPeers(key);
    return merged;
  }

  // A fully replicated entry missing here may have been written a moment ago without us
  // (the write quorum need not include every node): ask a few other holders before saying no.
  async #getFromPeers(key: Buffer): Promise<E | undefined> {
    const others = this.layout
      .readStorageNodes()
      .filter((n) => n !== this.rpc.id)
      .slice(0, 3);
    const answers = await Promise.allSettled(
      others.map((n) => call(this.rpc, n, this.endpoints.get, { key }, { timeoutMs: 2000, priority: 'high' })),
    );
    let merged: E | undefined;
    for (const a of answers) {
      const b = a.status === 'fulfilled' ? a.value.body : null;
      if (b) merged = merged ? this.schema.merge(merged, this.schema.decode(b)) : this.schema.decode(b);
    }
    if (merged !== undefined) await this.applyLocal([this.schema.encode(merged)]);
    return merged;
  }

  /** Reads a range of one partition key from a read quorum, merged. */
  getRange(pk: Buffer, q: RangeQuery<F>): Promise<E[]> {
    return this.#counted('get', () => this.#getRange(pk, q));
  }

  async #getRange(pk: Buffer, q: RangeQuery<F>): Promise<E[]> {
    const { filter, ...wire } = q;
    if (filter === undefined || !this.schema.matches) return this.#rangeOnce(pk, wire);
    if (q.reverse) throw new GarageError('filtered reverse range reads are not supported');
    // Filter after merging: a replica must not hide an entry (say, a deletion) that another
    // replica would show in an older state. Read in batches until enough entries match.
    const want = q.limit ?? Number.POSITIVE_INFINITY;
    // A few rows beyond what is wanted cover the ones the filter drops, without overreading.
    const batch = Math.min(want + 16, 1000);
    const out: E[] = [];
    let start = q.start;
    for (;;) {
      const rows = await this.#rangeOnce(pk, { ...wire, start, limit: batch });
      for (const e of rows) {
        if (!this.schema.matches(e, filter)) continue;
        out.push(e);
        if (out.length >= want) return out;
      }
      if (rows.length < batch) return out;
      start = Buffer.concat([this.schema.sortKey(rows[rows.length - 1]!), Buffer.from([0])]);
    }
  }

  async #rangeOnce(pk: Buffer, q: WireRange): Promise<E[]> {
    const hash = this.partitionHash(pk);
    const { nodes, quorum } = this.replication.readNodes(hash);
    const answers = this.#onlySelf([nodes])
      ? [{ node: this.rpc.id, body: this.rangeLocalEncoded(pk, q) }]
      : await callQuorum(this.rpc, nodes, this.endpoints.range, { pk, q }, { quorum });
    if (answers.length === 1) return answers[0]!.body.map((b) => this.schema.decode(b));
    const merged = new Map<string, E>();
    for (const a of answers) {
      for (const b of a.body) {
        const e = this.schema.decode(b);
        const k = this.schema.sortKey(e).toString('hex');
        const cur = merged.get(k);
        merged.set(k, cur ? this.schema.merge(cur, e) : e);
      }
    }
    let keys = [...merged.keys()].sort();
    if (q.reverse) keys.reverse();
    if (q.limit !== undefined) keys = keys.slice(0, q.limit);
    const out = keys.map((k) => merged.get(k)!);
    this.#repair(
      answers.map((a) => ({ node: a.node, entries: a.body })),
      out,
    );
    return out;
  }

  /** Every entry of a fully replicated table (read locally when this node holds it). */
  async getRangeAll(): Promise<E[]> {
    if (this.replication.kind !== 'full')
      throw new GarageError(`table ${this.schema.name} is sharded: cannot list it whole`);
    const { nodes } = this.replication.readNodes(Buffer.alloc(32));
    if (nodes.includes(this.rpc.id)) return [...this.store.range({})].map(([, v]) => this.schema.decode(v));
    const [a] = await callQuorum(this.rpc, nodes, this.endpoints.all, {}, { quorum: 1 });
    return a!.body.map((b) => this.schema.decode(b));
  }

  // Sends the merged value to replicas whose answer differed (fire and forget).
  #repair(answers: { node: string; entries: Buffer[] }[], merged: E[]): void {
    const mergedBytes = merged.map((e) => this.schema.encode(e));
    for (const a of answers) {
      const have = new Set(a.entries.map((b) => b.toString('base64')));
      const stale = mergedBytes.filter((b) => !have.has(b.toString('base64')));
      if (stale.length === 0) continue;
      call(this.rpc, a.node, this.endpoints.update, { entries: stale }, { priority: 'background' }).catch(
        (e: unknown) => {
          this.opts.logger.debug({ table: this.schema.name, err: errorMessage(e) }, 'read repair failed');
        },
      );
    }
  }

  // ---- deferred inserts ----

  /** Queues an insert in an open transaction; a background worker sends it with quorum. */
  queueInsert(tx: Tx, e: E): void {
    this.insertQueue.add(tx, this.storageKey(this.schema.partitionKey(e), this.schema.sortKey(e)), e);
  }

  /** Starts the worker that drains the insert queue. */
  startQueueWorker(): void {
    this.insertQueue.start();
  }

  /** Stops background work. */
  stop(): void {
    this.insertQueue.stop();
  }
}
