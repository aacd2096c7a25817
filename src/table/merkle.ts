import { createHash } from 'node:crypto';
import type { Db, Tree, Tx } from '../db/db.ts';
import { prefixEnd } from '../db/db.ts';

/** Sub-buckets per partition in the digest index. */
export const SUBS = 256;
const ZERO = Buffer.alloc(32);

/**
 * A two-level hash summary of a table's content, kept up to date in the same transaction
 * as every write (so it is never behind, and needs no background updater):
 * - `leaves`: (partition, sub, storage key) → sha256 of the stored value;
 * - `sums`: (partition, sub) → XOR of sha256(storage key ++ value hash) over that sub-bucket.
 * Two replicas hold the same entries of a partition iff their 256 sums agree (up to
 * sha256 collisions); differing sums point to the few sub-buckets whose leaves to compare.
 */
export class TableDigest {
  readonly leaves: Tree;
  readonly sums: Tree;
  constructor(db: Db, table: string) {
    this.leaves = db.tree(`table:${table}:digest_leaves`);
    this.sums = db.tree(`table:${table}:digest_sums`);
  }

  /** The sub-bucket of a storage key (spreads one partition key's many sort keys). */
  static sub(storageKey: Buffer): number {
    return createHash('sha256').update(storageKey).digest()[0]!;
  }

  static #leafKey(partition: number, sub: number, storageKey: Buffer): Buffer {
    return Buffer.concat([Buffer.from([partition, sub]), storageKey]);
  }

  static #contribution(storageKey: Buffer, valueHash: Buffer): Buffer {
    return createHash('sha256').update(storageKey).update(valueHash).digest();
  }

  #xorInto(tx: Tx, partition: number, sub: number, c: Buffer): void {
    const k = Buffer.from([partition, sub]);
    const cur = tx.get(this.sums, k) ?? ZERO;
    const out = Buffer.allocUnsafe(32);
    for (let i = 0; i < 32; i++) out[i] = cur[i]! ^ c[i]!;
    if (out.equals(ZERO)) tx.remove(this.sums, k);
    else tx.put(this.sums, k, out);
  }

  /** Records that storageKey now holds value (or nothing, when value is undefined). */
  update(tx: Tx, partition: number, storageKey: Buffer, value: Buffer | undefined): void {
    const sub = TableDigest.sub(storageKey);
    const lk = TableDigest.#leafKey(partition, sub, storageKey);
    const old = tx.get(this.leaves, lk);
    if (old) this.#xorInto(tx, partition, sub, TableDigest.#contribution(storageKey, old));
    if (value === undefined) {
      if (old) tx.remove(this.leaves, lk);
      return;
    }
    const vh = createHash('sha256').update(value).digest();
    tx.put(this.leaves, lk, vh);
    this.#xorInto(tx, partition, sub, TableDigest.#contribution(storageKey, vh));
  }

  /** The 256 sub-bucket sums of a partition, concatenated (zeros for empty ones). */
  partitionSums(partition: number): Buffer {
    const out = Buffer.alloc(32 * SUBS);
    const start = Buffer.from([partition]);
    for (const [k, v] of this.sums.range({ start, end: prefixEnd(start) })) v.copy(out, 32 * k[1]!);
    return out;
  }

  /** One hash per partition summarising it (zeros when empty). */
  partitionRoots(): Buffer {
    const out = Buffer.alloc(32 * 256);
    let cur = -1;
    let h = createHash('sha256');
    let any = false;
    const flush = () => {
      if (cur >= 0 && any) h.digest().copy(out, 32 * cur);
    };
    for (const [k, v] of this.sums.range({})) {
      if (k[0] !== cur) {
        flush();
        cur = k[0]!;
        h = createHash('sha256');
        any = false;
      }
      h.update(k.subarray(1, 2)).update(v);
      any = true;
    }
    flush();
    return out;
  }

  /** Storage keys and value hashes of one sub-bucket. */
  leavesOf(partition: number, sub: number): [Buffer, Buffer][] {
    const start = Buffer.from([partition, sub]);
    return [...this.leaves.range({ start, end: prefixEnd(start) })].map(([k, v]) => [k.subarray(2), v]);
  }
}
