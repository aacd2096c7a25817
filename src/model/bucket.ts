import { z } from 'zod';
import { encodeVersioned, decodeRow, zBytes } from '../util/codec.ts';
import { mergeLww, mergeLwwMap, zLww, zLwwMap, type Lww, type LwwMap } from '../util/crdt.ts';
import type { TableSchema } from '../table/schema.ts';
import { hasTags, zTags, type Tag } from './tags.ts';
import { zBucketLock, type BucketLock } from './lock.ts';

/** What a key may do on a bucket. */
export interface Perms {
  read: boolean;
  write: boolean;
  owner: boolean;
}

/** One CORS rule, as S3's CORSConfiguration holds it. */
export interface CorsRule {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number | null;
}

/** One lifecycle rule: which objects (prefix, size bounds), and when to expire them or abort their uploads. */
export interface LifecycleRule {
  /** Given by the client, or generated when it gave none (null: stored before IDs were generated). */
  id: string | null;
  enabled: boolean;
  prefix: string;
  /**
   * How the scope was written, to read it back the same way: a top-level Prefix (legacy), a
   * Filter with one condition, a Filter with And, or nothing. Absent in rules stored before.
   */
  form?: 'legacy' | 'filter' | 'and' | 'none';
  /** Only objects larger / smaller than this many bytes. */
  sizeGreaterThan?: number | null;
  sizeLessThan?: number | null;
  /** Delete objects this many days after their last modification… */
  expirationDays: number | null;
  /** …or from this date (ms since epoch, a midnight UTC). */
  expirationDate: number | null;
  /** Remove delete markers left without versions. */
  expiredObjectDeleteMarker?: boolean;
  /** Delete noncurrent versions this many days after they became noncurrent… */
  noncurrentDays?: number | null;
  /** …except the newest this many of them. */
  newerNoncurrentVersions?: number | null;
  /** Abort multipart uploads this many days after they were started. */
  abortMpuDays: number | null;
  /** Only objects with all these tags. */
  tags?: Tag[];
}

/** Whether a lifecycle rule applies to an object of this key, size and tags. */
export function ruleMatches(r: LifecycleRule, key: string, size: number, tags?: readonly Tag[]): boolean {
  return (
    key.startsWith(r.prefix) &&
    hasTags(tags, r.tags) &&
    (r.sizeGreaterThan === undefined || r.sizeGreaterThan === null || size > r.sizeGreaterThan) &&
    (r.sizeLessThan === undefined || r.sizeLessThan === null || size < r.sizeLessThan)
  );
}

/** Where a website redirect sends a request: each part left out keeps the request's own. */
export interface WebsiteRedirect {
  hostName?: string;
  protocol?: 'http' | 'https';
  /** Replaces the matched KeyPrefixEquals (or prepends, without one)… */
  replaceKeyPrefixWith?: string;
  /** …or replaces the whole key. */
  replaceKeyWith?: string;
  /** 3xx, 301 by default. */
  httpRedirectCode?: string;
}

/** One routing rule of a website: a condition on the key and/or the error served, and a redirect. */
export interface RoutingRule {
  keyPrefixEquals?: string;
  httpErrorCodeReturnedEquals?: string;
  redirect: WebsiteRedirect;
}

export interface WebsiteConfig {
  index: string;
  errorDocument: string | null;
  /** Every request goes to this host (no index, no error document). */
  redirectAll?: { hostName: string; protocol?: 'http' | 'https' } | null;
  routingRules?: RoutingRule[];
}

/** A bucket; its name lives in the alias tables. */
export interface BucketEntry {
  id: Buffer;
  deleted: boolean;
  created: number;
  /** Global alias name → present. */
  aliases: LwwMap<boolean>;
  /** `<keyId>:<name>` → present. */
  localAliases: LwwMap<boolean>;
  /** key id → permissions. */
  keys: LwwMap<Perms>;
  website: Lww<WebsiteConfig | null>;
  cors: Lww<CorsRule[] | null>;
  lifecycle: Lww<LifecycleRule[] | null>;
  quotas: Lww<{ maxSize: number | null; maxObjects: number | null }>;
  /** PutBucketTagging's tag set (empty: none). */
  tags: Lww<Tag[]>;
  /** PutBucketVersioning's state; null until versioning is first enabled (never back to null). */
  versioning: Lww<BucketVersioning | null>;
  /** Object lock, once enabled (never disabled), with the default retention of new versions. */
  objectLock: Lww<BucketLock | null>;
}

/** A bucket's versioning state, as S3 names it. */
export type BucketVersioning = 'Enabled' | 'Suspended';

/** How versions written now in the bucket are kept (see VersionKind). */
export function writeKind(b: BucketEntry): 'enabled' | 'suspended' | undefined {
  return b.versioning.v === 'Enabled' ? 'enabled' : b.versioning.v === 'Suspended' ? 'suspended' : undefined;
}

/** A new, empty bucket. */
export function newBucket(id: Buffer): BucketEntry {
  return {
    id,
    deleted: false,
    created: Date.now(),
    aliases: [],
    localAliases: [],
    keys: [],
    website: { ts: 0, v: null },
    cors: { ts: 0, v: null },
    lifecycle: { ts: 0, v: null },
    quotas: { ts: 0, v: { maxSize: null, maxObjects: null } },
    tags: { ts: 0, v: [] },
    versioning: { ts: 0, v: null },
    objectLock: { ts: 0, v: null },
  };
}

type Row = [
  Buffer,
  boolean,
  number,
  LwwMap<boolean>,
  LwwMap<boolean>,
  LwwMap<Perms>,
  Lww<WebsiteConfig | null>,
  Lww<{ maxSize: number | null; maxObjects: number | null }>,
  Lww<CorsRule[] | null>,
  Lww<LifecycleRule[] | null>,
  // Absent in rows written before bucket tagging, versioning and object lock.
  Lww<Tag[]>?,
  Lww<BucketVersioning | null>?,
  Lww<BucketLock | null>?,
];

/** The schema of stored permissions. */
export const zPerms: z.ZodType<Perms> = z.object({ read: z.boolean(), write: z.boolean(), owner: z.boolean() });
const zCors: z.ZodType<CorsRule> = z.object({
  allowedOrigins: z.array(z.string()),
  allowedMethods: z.array(z.string()),
  allowedHeaders: z.array(z.string()),
  exposeHeaders: z.array(z.string()),
  maxAgeSeconds: z.number().nullable(),
});
const zLifecycle: z.ZodType<LifecycleRule> = z.object({
  id: z.string().nullable(),
  enabled: z.boolean(),
  prefix: z.string(),
  form: z.enum(['legacy', 'filter', 'and', 'none']).optional(),
  sizeGreaterThan: z.number().nullable().optional(),
  sizeLessThan: z.number().nullable().optional(),
  expirationDays: z.number().nullable(),
  expirationDate: z.number().nullable(),
  expiredObjectDeleteMarker: z.boolean().optional(),
  noncurrentDays: z.number().nullable().optional(),
  newerNoncurrentVersions: z.number().nullable().optional(),
  abortMpuDays: z.number().nullable(),
  tags: zTags.optional(),
});
const zProtocol = z.enum(['http', 'https']);
const zWebsite: z.ZodType<WebsiteConfig> = z.object({
  index: z.string(),
  errorDocument: z.string().nullable(),
  redirectAll: z.object({ hostName: z.string(), protocol: zProtocol.optional() }).nullable().optional(),
  routingRules: z
    .array(
      z.object({
        keyPrefixEquals: z.string().optional(),
        httpErrorCodeReturnedEquals: z.string().optional(),
        redirect: z.object({
          hostName: z.string().optional(),
          protocol: zProtocol.optional(),
          replaceKeyPrefixWith: z.string().optional(),
          replaceKeyWith: z.string().optional(),
          httpRedirectCode: z.string().optional(),
        }),
      }),
    )
    .optional(),
});
const zRow: z.ZodType<Row> = z.tuple([
  zBytes,
  z.boolean(),
  z.number(),
  zLwwMap(z.boolean()),
  zLwwMap(z.boolean()),
  zLwwMap(zPerms),
  zLww(zWebsite.nullable()),
  zLww(z.object({ maxSize: z.number().nullable(), maxObjects: z.number().nullable() })),
  zLww(z.array(zCors).nullable()),
  zLww(z.array(zLifecycle).nullable()),
  zLww(zTags).optional(),
  zLww(z.enum(['Enabled', 'Suspended']).nullable()).optional(),
  zLww(zBucketLock.nullable()).optional(),
]);
const zAliasRow: z.ZodType<[string, Lww<Buffer | null>]> = z.tuple([z.string(), zLww(zBytes.nullable())]);

/** LWW, except that a setting once made never goes back to none (versioning, object lock). */
function mergeOnce<T>(a: Lww<T | null>, b: Lww<T | null>): Lww<T | null> {
  if (a.v === null && b.v !== null) return b;
  if (b.v === null && a.v !== null) return a;
  return mergeLww(a, b);
}

export const bucketSchema: TableSchema<BucketEntry> = {
  name: 'bucket',
  replication: 'full',
  partitionKey: (e) => e.id,
  sortKey: () => Buffer.alloc(0),
  encode: (e) =>
    encodeVersioned(1, [
      e.id,
      e.deleted,
      e.created,
      e.aliases,
      e.localAliases,
      e.keys,
      e.website,
      e.quotas,
      e.cors,
      e.lifecycle,
      e.tags,
      e.versioning,
      e.objectLock,
    ] satisfies Row),
  decode: (b) => {
    const [id, deleted, created, aliases, localAliases, keys, website, quotas, cors, lifecycle, tags, ...rest] =
      decodeRow(1, b, 'bucket', zRow);
    const [versioning, objectLock] = rest;
    return {
      id,
      deleted,
      created,
      aliases,
      localAliases,
      keys,
      website,
      quotas,
      cors,
      lifecycle,
      tags: tags ?? { ts: 0, v: [] },
      versioning: versioning ?? { ts: 0, v: null },
      objectLock: objectLock ?? { ts: 0, v: null },
    };
  },
  merge: (a, b) => {
    const deleted = a.deleted || b.deleted;
    if (deleted) return { ...newBucket(a.id), created: Math.min(a.created, b.created), deleted: true };
    return {
      id: a.id,
      deleted,
      created: Math.min(a.created, b.created),
      aliases: mergeLwwMap(a.aliases, b.aliases),
      localAliases: mergeLwwMap(a.localAliases, b.localAliases),
      keys: mergeLwwMap(a.keys, b.keys),
      website: mergeLww(a.website, b.website),
      cors: mergeLww(a.cors, b.cors),
      lifecycle: mergeLww(a.lifecycle, b.lifecycle),
      quotas: mergeLww(a.quotas, b.quotas),
      tags: mergeLww(a.tags, b.tags),
      versioning: mergeOnce(a.versioning, b.versioning),
      objectLock: mergeOnce(a.objectLock, b.objectLock),
    };
  },
  isTombstone: (e) => e.deleted,
};

/** A global bucket name → bucket id. */
export interface BucketAliasEntry {
  name: string;
  bucket: Lww<Buffer | null>;
}

export const bucketAliasSchema: TableSchema<BucketAliasEntry> = {
  name: 'bucket_alias',
  replication: 'full',
  partitionKey: (e) => Buffer.from(e.name),
  sortKey: () => Buffer.alloc(0),
  encode: (e) => encodeVersioned(1, [e.name, e.bucket]),
  decode: (b) => {
    const [name, bucket] = decodeRow(1, b, 'bucket_alias', zAliasRow);
    return { name, bucket };
  },
  merge: (a, b) => ({ name: a.name, bucket: mergeLww(a.bucket, b.bucket) }),
  isTombstone: (e) => e.bucket.v === null,
};

/** S3 bucket naming rules (the subset Garage enforces). */
export function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}
