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
  /** Adjusts an entry before it is stored, from state already known locally (same transaction). */
  fixup?(tx: Tx, e: E): E;
  /**
   * Adjusts a client's new write (not replication traffic) against what this replica
   * already holds, before merging.
   */
  freshen?(incoming: E, old: E): E;
  /** Runs in the write transaction after an entry changed; used to cascade to other tables. */
  updated?(tx: Tx, old: E | undefined, cur: E): void;
}
