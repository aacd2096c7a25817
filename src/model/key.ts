import { randomBytes } from 'node:crypto';
import { encodeVersioned, decodeVersioned } from '../util/codec.ts';
import { mergeLww, mergeLwwMap, lwwGet, type Lww, type LwwMap } from '../util/crdt.ts';
import type { TableSchema } from '../table/schema.ts';
import type { Perms } from './bucket.ts';

/** An S3 access key. */
export interface KeyEntry {
  id: string;
  secret: string;
  deleted: boolean;
  name: Lww<string>;
  allowCreateBucket: Lww<boolean>;
  /** bucket id (hex) → permissions. */
  buckets: LwwMap<Perms>;
  /** local alias name → bucket id (hex), null when removed. */
  localAliases: LwwMap<string | null>;
}

/** A new key with a random id (`GK` + 24 hex) and secret (64 hex). */
export function newKey(name: string, id?: string, secret?: string): KeyEntry {
  return {
    id: id ?? `GK${randomBytes(12).toString('hex')}`,
    secret: secret ?? randomBytes(32).toString('hex'),
    deleted: false,
    name: { ts: Date.now(), v: name },
    allowCreateBucket: { ts: 0, v: false },
    buckets: [],
    localAliases: [],
  };
}

/** Permissions of a key on a bucket. */
export function keyPerms(k: KeyEntry, bucketIdHex: string): Perms {
  return lwwGet(k.buckets, bucketIdHex)?.v ?? { read: false, write: false, owner: false };
}

type Row = [string, string, boolean, Lww<string>, Lww<boolean>, LwwMap<Perms>, LwwMap<string | null>];

export const keySchema: TableSchema<KeyEntry> = {
  name: 'key',
  replication: 'full',
  partitionKey: (e) => Buffer.from(e.id),
  sortKey: () => Buffer.alloc(0),
  encode: (e) =>
    encodeVersioned(1, [
      e.id,
      e.secret,
      e.deleted,
      e.name,
      e.allowCreateBucket,
      e.buckets,
      e.localAliases,
    ] satisfies Row),
  decode: (b) => {
    const [id, secret, deleted, name, allowCreateBucket, buckets, localAliases] = decodeVersioned(1, b, 'key') as Row;
    return { id, secret, deleted, name, allowCreateBucket, buckets, localAliases };
  },
  merge: (a, b) => {
    if (a.deleted || b.deleted)
      return {
        ...a,
        secret: '',
        deleted: true,
        buckets: [],
        localAliases: [],
        name: mergeLww(a.name, b.name),
        allowCreateBucket: { ts: 0, v: false },
      };
    return {
      id: a.id,
      secret: a.secret || b.secret,
      deleted: false,
      name: mergeLww(a.name, b.name),
      allowCreateBucket: mergeLww(a.allowCreateBucket, b.allowCreateBucket),
      buckets: mergeLwwMap(a.buckets, b.buckets),
      localAliases: mergeLwwMap(a.localAliases, b.localAliases),
    };
  },
  isTombstone: (e) => e.deleted,
};
