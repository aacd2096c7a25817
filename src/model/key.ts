import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { encodeVersioned, decodeRow } from '../util/codec.ts';
import { mergeLww, mergeLwwMap, lwwGet, zLww, zLwwMap, type Lww, type LwwMap } from '../util/crdt.ts';
import type { TableSchema } from '../table/schema.ts';
import { zPerms, type Perms } from './bucket.ts';

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
  /** When the key was created (ms since epoch; 0 for keys stored before it was recorded). */
  created: number;
  /** After this instant (ms since epoch) the key no longer authenticates; null: never. */
  expiration: Lww<number | null>;
}

/** Whether a key has expired. */
export function keyExpired(k: KeyEntry, now = Date.now()): boolean {
  return k.expiration.v !== null && k.expiration.v <= now;
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
    created: Date.now(),
    expiration: { ts: 0, v: null },
  };
}

/** Permissions of a key on a bucket. */
export function keyPerms(k: KeyEntry, bucketIdHex: string): Perms {
  return lwwGet(k.buckets, bucketIdHex)?.v ?? { read: false, write: false, owner: false };
}

type RowV1 = [string, string, boolean, Lww<string>, Lww<boolean>, LwwMap<Perms>, LwwMap<string | null>];
type Row = [...RowV1, number, Lww<number | null>];

const v1 = [
  z.string(),
  z.string(),
  z.boolean(),
  zLww(z.string()),
  zLww(z.boolean()),
  zLwwMap(zPerms),
  zLwwMap(z.string().nullable()),
] as const;
const zRowV1: z.ZodType<RowV1> = z.tuple(v1);
const zRow: z.ZodType<Row> = z.tuple([...v1, z.number(), zLww(z.number().nullable())]);

export const keySchema: TableSchema<KeyEntry> = {
  name: 'key',
  replication: 'full',
  partitionKey: (e) => Buffer.from(e.id),
  sortKey: () => Buffer.alloc(0),
  encode: (e) =>
    encodeVersioned(2, [
      e.id,
      e.secret,
      e.deleted,
      e.name,
      e.allowCreateBucket,
      e.buckets,
      e.localAliases,
      e.created,
      e.expiration,
    ] satisfies Row),
  decode: (b) => {
    // Version 1 rows predate creation dates and expiry.
    const [id, secret, deleted, name, allowCreateBucket, buckets, localAliases, created = 0, expiration] =
      b[0] === 1 ? decodeRow(1, b, 'key', zRowV1) : decodeRow(2, b, 'key', zRow);
    const exp = expiration ?? { ts: 0, v: null };
    return { id, secret, deleted, name, allowCreateBucket, buckets, localAliases, created, expiration: exp };
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
        created: Math.max(a.created, b.created),
        expiration: mergeLww(a.expiration, b.expiration),
      };
    return {
      id: a.id,
      secret: a.secret || b.secret,
      deleted: false,
      name: mergeLww(a.name, b.name),
      allowCreateBucket: mergeLww(a.allowCreateBucket, b.allowCreateBucket),
      buckets: mergeLwwMap(a.buckets, b.buckets),
      localAliases: mergeLwwMap(a.localAliases, b.localAliases),
      created: Math.max(a.created, b.created),
      expiration: mergeLww(a.expiration, b.expiration),
    };
  },
  isTombstone: (e) => e.deleted,
};
