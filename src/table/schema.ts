import type { Tx } from '../db/db.ts';

/** How a table's entries are spread over nodes. */
export type ReplicationKind = 'sharded' | 'full';

/** Describes one CRDT table: keys, encoding, merge, and the hooks run on change. */
export interface TableSchema<E> {
  readonly name: string;
  readonly replication: ReplicationKind;
  partitionKey(e: E): Buffer;
  sortKey(e: E): Buffer;
  /** Canonical bytes: equal values encode to equal bytes on every node. */
  encode(e: E): Buffer;
  decode(b: Buffer): E;
  /** Commutative, associative, idempotent. */
  merge(a: E, b: E): E;
  isTombstone(e: E): boolean;
  /**
   * Adjusts the merged entry before it is stored, from state already known locally (same
   * transaction). It also sees the incoming and the stored entry, so that what the merge drops
   * on arrival (never stored, so never seen by `updated`) can be released.
   */
  fixup?(tx: Tx, merged: E, incoming: E, old: E | undefined): E;
  /**
   * Adjusts a client's completion of something it wrote earlier (never replication traffic)
   * against what this replica holds, before merging: it may complete only what is still there.
   */
  completion?(incoming: E, old: E | undefined): E;
  /** Runs in the write transaction after an entry changed; used to cascade to other tables. */
  updated?(tx: Tx, old: E | undefined, cur: E): void;
}
