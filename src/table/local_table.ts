import { createHash } from 'node:crypto';
import type { Db, Tree, Tx } from '../db/db.ts';
import { prefixEnd } from '../db/db.ts';
import { tableMetrics } from '../util/metrics.ts';
import type { TableSchema } from './schema.ts';
import { TableDigest } from './merkle.ts';

/** Options for a range read within one partition key; `F` is the table's filter type. */
export interface RangeQuery<F = never> {
  /** First sort key (inclusive); for reverse reads, the last one (inclusive). */
  start?: Buffer;
  /** Sort key bound, exclusive. */
  end?: Buffer;
  limit?: number;
  reverse?: boolean;
  /** A schema-specific filter (see Filterable.matches), applied to the merged answers, never sent. */
  filter?: F;
}

/** A schema may filter range reads with filters of its own type `F`. */
export interface Filterable<E, F> {
  matches?(e: E, filter: F): boolean;
  /** The 32 bytes that decide an entry's partition; sha256 of the partition key by default. */
  partitionHash?(pk: Buffer): Buffer;
}

/**
 * The entries of a table that this node stores: merging (with the schema's hooks, in the
 * write transaction), the anti-entropy digest and tombstone bookkeeping kept with them, and
 * local reads. table.ts adds the replicated side on top.
 */
export class LocalTable<E, F = never> {
  readonly schema: TableSchema<E> & Filterable<E, F>;
  readonly db: Db;
  readonly store: Tree;
  /** storage key → [time it became a tombstone u64][sha256 of the tombstone]: candidates for GC. */
  readonly gcTodo: Tree;
  /** Incremental content summary used by anti-entropy (see merkle.ts). */
  readonly digest: TableDigest;

  constructor(schema: TableSchema<E> & Filterable<E, F>, db: Db) {
    this.schema = schema;
    this.db = db;
    this.store = db.tree(`table:${schema.name}`);
    this.gcTodo = db.tree(`table:${schema.name}:gc_todo`);
    this.digest = new TableDigest(db, schema.name);
  }

  /** The partition hash of a partition key. */
  partitionHash(pk: Buffer): Buffer {
    return this.schema.partitionHash ? this.schema.partitionHash(pk) : createHash('sha256').update(pk).digest();
  }

  /** The local storage key: partition hash ++ sort key. */
  storageKey(pk: Buffer, sk: Buffer): Buffer {
    return Buffer.concat([this.partitionHash(pk), sk]);
  }

  /** Merges entries into local storage in one transaction, running hooks; returns once committed. */
  async applyLocal(encoded: Buffer[], completion = false): Promise<void> {
    const entries = encoded.map((b) => this.schema.decode(b));
    await this.db.transaction((tx) => {
      for (const e of entries) this.applyInTx(tx, e, completion);
    });
  }

  /** Merges one entry in an open transaction (used by hooks of other tables on this node). */
  applyInTx(tx: Tx, e: E, completion = false): void {
    const s = this.schema;
    const key = this.storageKey(s.partitionKey(e), s.sortKey(e));
    const oldBytes = tx.get(this.store, key);
    const old = oldBytes ? s.decode(oldBytes) : undefined;
    const incoming = completion && s.completion ? s.completion(e, old) : e;
    let cur = old ? s.merge(old, incoming) : incoming;
    if (s.fixup) cur = s.fixup(tx, cur, incoming, old);
    const curBytes = s.encode(cur);
    if (oldBytes?.equals(curBytes)) return;
    tx.put(this.store, key, curBytes);
    tableMetrics.internalUpdate.inc({ table_name: s.name });
    this.digest.update(tx, key[0]!, key, curBytes);
    if (s.isTombstone(cur)) {
      const todo = Buffer.alloc(8);
      todo.writeBigUInt64BE(BigInt(Date.now()));
      tx.put(this.gcTodo, key, Buffer.concat([todo, createHash('sha256').update(curBytes).digest()]));
    }
    s.updated?.(tx, old, cur);
  }

  /** Deletes entries whose stored value still has the given hash (tombstone GC). */
  async deleteIfEqual(items: [Buffer, Buffer][]): Promise<void> {
    await this.db.transaction((tx) => {
      for (const [k, h] of items) {
        const v = tx.get(this.store, k);
        if (v && createHash('sha256').update(v).digest().equals(h)) {
          tx.remove(this.store, k);
          this.digest.update(tx, k[0]!, k, undefined);
          tableMetrics.internalDelete.inc({ table_name: this.schema.name });
        }
        tx.remove(this.gcTodo, k);
      }
    });
  }

  /** Reads one entry from local storage. */
  getLocal(pk: Buffer, sk: Buffer): E | undefined {
    const b = this.store.get(this.storageKey(pk, sk));
    return b ? this.schema.decode(b) : undefined;
  }

  /**
   * Every entry stored on this node, decoded, or those of one partition key; read in `tx`
   * when given (a hook or a repair that must see its own writes).
   */
  *scanLocal(o: { tx?: Tx; pk?: Buffer } = {}): Generator<E> {
    const prefix = o.pk ? this.partitionHash(o.pk) : undefined;
    const range = prefix ? { start: prefix, end: prefixEnd(prefix) } : {};
    for (const [, v] of o.tx ? o.tx.range(this.store, range) : this.store.range(range)) yield this.schema.decode(v);
  }

  /** Reads a range of one partition key from local storage. */
  rangeLocal(pk: Buffer, q: RangeQuery<F>): E[] {
    const out: E[] = [];
    for (const v of this.#rangeValues(pk, q)) {
      const e = this.schema.decode(v);
      if (q.filter !== undefined && this.schema.matches && !this.schema.matches(e, q.filter)) continue;
      out.push(e);
      if (q.limit !== undefined && out.length >= q.limit) break;
    }
    return out;
  }

  /** The stored bytes of a range of one partition key, unfiltered (what a replica answers). */
  rangeLocalEncoded(pk: Buffer, q: Omit<RangeQuery<F>, 'filter'>): Buffer[] {
    const out: Buffer[] = [];
    for (const v of this.#rangeValues(pk, q)) {
      out.push(v);
      if (q.limit !== undefined && out.length >= q.limit) break;
    }
    return out;
  }

  *#rangeValues(pk: Buffer, q: RangeQuery<F>): Generator<Buffer> {
    const prefix = this.partitionHash(pk);
    const full = (sk: Buffer) => Buffer.concat([prefix, sk]);
    // Forward: start <= sk < end. Reverse: from start (inclusive) down to end (exclusive).
    const iter = q.reverse
      ? this.store.range({
          start: q.end ? full(q.end) : prefix,
          end: q.start ? full(Buffer.concat([q.start, Buffer.from([0])])) : prefixEnd(prefix),
          reverse: true,
        })
      : this.store.range({ start: q.start ? full(q.start) : prefix, end: q.end ? full(q.end) : prefixEnd(prefix) });
    const endKey = q.reverse && q.end ? full(q.end) : undefined;
    for (const [k, v] of iter) {
      if (endKey?.equals(k)) continue;
      yield v;
    }
  }
}
