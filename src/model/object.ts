import type { Tx } from '../db/db.ts';
import { z } from 'zod';
import { encodeVersioned, decodeRow, zBytes } from '../util/codec.ts';
import type { TableSchema } from '../table/schema.ts';
import { mergeLww, zLww, type Lww } from '../util/crdt.ts';
import { zTags, type Tag } from './tags.ts';
import { mergeVersionLock, zVersionLock, type VersionLock } from './lock.ts';

/**
 * The timestamp for a client's new version of an object: after every version a read quorum
 * holds, whatever the clock says. Chosen once by the writer, it is the same on every replica,
 * so replicas agree on which version supersedes which (and so on which to free).
 */
export function nextVersionTs(e: ObjectEntry | undefined, now = Date.now()): number {
  return Math.max(now, ...(e?.versions ?? []).map((v) => v.ts + 1));
}

/**
 * How an SSE-C version is encrypted: the salt its keys are derived with from the customer's
 * key (never stored), and a check value that tells whether a key sent later is that key.
 */
export interface ObjectEncryption {
  algorithm: 'AES256';
  salt: Buffer;
  check: Buffer;
}

/** Metadata of a complete object version. */
export interface ObjectMeta {
  size: number;
  etag: string;
  /** Stored response headers (content-type, x-amz-meta-*, cache-control …), sorted by name. */
  headers: [string, string][];
  /** x-amz-checksum-* of the whole object, when the client sent one. */
  checksum?: { algorithm: string; value: string; type?: 'FULL_OBJECT' | 'COMPOSITE' };
  /** Number of parts when uploaded by multipart. */
  parts?: number;
  /** SSE-C: data and inline bytes are sealed under the customer's key; size and checksum are of the plaintext. */
  encryption?: ObjectEncryption;
  /** The version's tags: a register, as PutObjectTagging changes them after the version is complete. */
  tags?: Lww<Tag[]>;
  /** Object lock: the version's retention and legal hold. */
  lock?: VersionLock;
}

export type VersionData =
  | { t: 'deleteMarker' }
  | { t: 'inline'; meta: ObjectMeta; bytes: Buffer }
  | { t: 'blocks'; meta: ObjectMeta; firstBlock: Buffer };

export type VersionState =
  | {
      t: 'uploading';
      multipart: boolean;
      headers: [string, string][];
      /** Multipart: the upload's x-amz-checksum-algorithm and x-amz-checksum-type. */
      checksumAlgorithm?: string;
      checksumType?: 'COMPOSITE' | 'FULL_OBJECT';
      /** Multipart: the SSE-C encryption every part is sealed with. */
      encryption?: ObjectEncryption;
      /** Multipart: the tags (x-amz-tagging) the object gets on completion. */
      tags?: Tag[];
      /** Multipart: the object lock the object gets on completion. */
      lock?: VersionLock;
    }
  | { t: 'complete'; data: VersionData }
  /**
   * `deleted`: the version was complete when it was deleted (by id, lifecycle, purge), so a null
   * one still supersedes older null versions; an upload that failed has no such mark and leaves
   * the previous version current.
   */
  | { t: 'aborted'; deleted?: true };

/**
 * The bucket's versioning when a version was written, fixed at its creation. `enabled`: the
 * version has its own id (its uuid) and nothing supersedes it: only a delete by id removes it.
 * Otherwise it is the key's `null` version, superseded by the next null version; a delete marker
 * written in a bucket never versioned (`undefined`) is no S3 version at all, only a tombstone.
 */
export type VersionKind = 'enabled' | 'suspended';

/** One version of an object, ordered by (timestamp, uuid). */
export interface ObjectVersion {
  uuid: Buffer;
  ts: number;
  state: VersionState;
  versioning?: VersionKind;
}

/** A version, with its versioning kind when it has one (the field is absent rather than undefined). */
export function mkVersion(uuid: Buffer, ts: number, state: VersionState, versioning?: VersionKind): ObjectVersion {
  return versioning ? { uuid, ts, state, versioning } : { uuid, ts, state };
}

/** Whether a version is its key's `null` version (written while versioning was not enabled). */
export function isNullVersion(v: ObjectVersion): boolean {
  return v.versioning !== 'enabled';
}

/** The S3 version id of a version: its uuid in hex, or `null`. */
export function versionIdOf(v: Pick<ObjectVersion, 'uuid' | 'versioning'>): string {
  return v.versioning === 'enabled' ? v.uuid.toString('hex') : 'null';
}

/** A complete version as S3 shows it in ListObjectVersions: an object or a delete marker. */
export type CompleteVersion = ObjectVersion & { state: { t: 'complete' } };

/** Whether ListObjectVersions shows a version (a tombstone of a never-versioned bucket it does not). */
function isListed(v: ObjectVersion): v is CompleteVersion {
  return v.state.t === 'complete' && (v.state.data.t !== 'deleteMarker' || v.versioning !== undefined);
}

/** The versions ListObjectVersions shows of a key, newest first. */
export function listedVersions(e: ObjectEntry): CompleteVersion[] {
  return e.versions.filter(isListed).reverse();
}

/** The complete version a version id names (`null`: the null version), undefined if none. */
export function findVersion(e: ObjectEntry | undefined, id: string): CompleteVersion | undefined {
  for (let i = (e?.versions.length ?? 0) - 1; i >= 0; i--) {
    const v = e!.versions[i]!;
    if (v.state.t === 'complete' && versionIdOf(v) === id) return v as CompleteVersion;
  }
  return undefined;
}

/** All versions of one object key in one bucket. */
export interface ObjectEntry {
  bucketId: Buffer;
  key: string;
  versions: ObjectVersion[];
}

function stateRank(s: VersionState): number {
  return s.t === 'uploading' ? 0 : s.t === 'complete' ? 1 : 2;
}

function cmpVersion(a: ObjectVersion, b: ObjectVersion): number {
  return a.ts - b.ts || Buffer.compare(a.uuid, b.uuid);
}

/** The newest complete version, if any (delete markers included). */
export function lastComplete(e: ObjectEntry): ObjectVersion | undefined {
  for (let i = e.versions.length - 1; i >= 0; i--) if (e.versions[i]!.state.t === 'complete') return e.versions[i];
  return undefined;
}

/** A complete version holding an object (not a delete marker). */
export type DataVersion = ObjectVersion & {
  state: { t: 'complete'; data: Exclude<VersionData, { t: 'deleteMarker' }> };
};

/** Whether a version is a complete object (not a delete marker, not in progress or aborted). */
export function isDataVersion(v: ObjectVersion | undefined): v is DataVersion {
  return v?.state.t === 'complete' && v.state.data.t !== 'deleteMarker';
}

/** The version a GET sees: the newest complete one unless it is a delete marker. */
export function visibleVersion(e: ObjectEntry | undefined): DataVersion | undefined {
  const v = e && lastComplete(e);
  return isDataVersion(v) ? v : undefined;
}

/** Whether a version may own rows in the version table (and so blocks). */
function hasVersionRows(s: VersionState): boolean {
  return s.t === 'uploading' || (s.t === 'complete' && s.data.t === 'blocks');
}

/**
 * Of two states of one rank: the first, with their registers merged when both are complete
 * objects (tags and object lock change after completion, on any replica).
 */
function mergeSame(a: VersionState, b: VersionState): VersionState {
  if (a.t === 'aborted' && b.t === 'aborted') return a.deleted || !b.deleted ? a : b;
  if (a.t !== 'complete' || b.t !== 'complete' || a.data.t === 'deleteMarker' || b.data.t === 'deleteMarker') return a;
  const ma = a.data.meta;
  const mb = b.data.meta;
  const tags = ma.tags && mb.tags ? mergeLww(ma.tags, mb.tags) : (ma.tags ?? mb.tags);
  const lock = ma.lock && mb.lock ? mergeVersionLock(ma.lock, mb.lock) : (ma.lock ?? mb.lock);
  if (tags === ma.tags && JSON.stringify(lock) === JSON.stringify(ma.lock)) return a;
  const meta: ObjectMeta = { ...ma };
  if (tags) meta.tags = tags;
  if (lock) meta.lock = lock;
  return { t: 'complete', data: { ...a.data, meta } };
}

/** Merges two version lists: union by uuid, the most advanced state wins, superseded versions pruned. */
export function mergeVersions(a: ObjectVersion[], b: ObjectVersion[]): ObjectVersion[] {
  const m = new Map<string, ObjectVersion>();
  for (const v of [...a, ...b]) {
    const k = v.uuid.toString('hex');
    const cur = m.get(k);
    // Per version: the most advanced state, and the highest timestamp any replica gave it.
    if (!cur) m.set(k, v);
    else {
      const merged: ObjectVersion = {
        uuid: v.uuid,
        ts: Math.max(cur.ts, v.ts),
        state: stateRank(v.state) > stateRank(cur.state) ? v.state : mergeSame(cur.state, v.state),
      };
      // Fixed by the writer, so the same everywhere; the strongest wins should two ever differ.
      const kind =
        cur.versioning === 'enabled' || v.versioning === 'enabled' ? 'enabled' : (cur.versioning ?? v.versioning);
      if (kind) merged.versioning = kind;
      m.set(k, merged);
    }
  }
  const all = [...m.values()].sort(cmpVersion);
  let lastNull = -1;
  for (let i = all.length - 1; i >= 0; i--) {
    const st = all[i]!.state;
    if ((st.t === 'complete' || (st.t === 'aborted' && st.deleted)) && isNullVersion(all[i]!)) {
      lastNull = i;
      break;
    }
  }
  // A newer complete (or deleted) null version supersedes older null versions, single PUTs still uploading
  // included (their completion will find nothing to complete: see `completion`); unfinished
  // multipart uploads survive it, as in S3. Versions with their own id are never superseded:
  // deleted by id they stay as `aborted`, so a replica that missed the delete cannot bring them back.
  return all.filter((v, i) => i >= lastNull || !isNullVersion(v) || (v.state.t === 'uploading' && v.state.multipart));
}

/** A version as its deletion leaves it: aborted, marked deleted when it was complete (see VersionState). */
export function deletedVersion(v: ObjectVersion): ObjectVersion {
  return { ...v, state: v.state.t === 'complete' ? { t: 'aborted', deleted: true } : { t: 'aborted' } };
}

export interface ObjectHooks {
  /** Called (in the transaction) for a version that is gone or aborted and may own version rows. */
  versionGone(tx: Tx, uuid: Buffer, multipart: boolean, bucketId: Buffer, key: string): void;
  /** Called (in the transaction) with how the bucket's counts changed: objects, bytes, unfinished uploads. */
  countsChanged(tx: Tx, bucketId: Buffer, objects: number, bytes: number, uploads: number): void;
}

/** The size of a version's data: 0 for a delete marker or a version not complete. */
export function versionSize(v: ObjectVersion): number {
  return v.state.t === 'complete' && v.state.data.t !== 'deleteMarker' ? v.state.data.meta.size : 0;
}

/**
 * What an object row contributes to its bucket's counts: the current object, the bytes of every
 * version it keeps (noncurrent ones fill the disk too), and its unfinished uploads.
 */
export function objectCounts(e: ObjectEntry | undefined): [objects: number, bytes: number, uploads: number] {
  if (!e) return [0, 0, 0];
  let bytes = 0;
  let uploads = 0;
  for (const v of e.versions) {
    bytes += versionSize(v);
    if (v.state.t === 'uploading' && v.state.multipart) uploads++;
  }
  return [visibleVersion(e) ? 1 : 0, bytes, uploads];
}

/** Range filters of the object table. */
export interface ObjectFilter {
  visible?: boolean;
  uploads?: boolean;
  /** Rows with a version ListObjectVersions shows. */
  versions?: boolean;
}

// A version: [uuid, ts, state], and its versioning kind when it has one.
type VersionRow = [Buffer, number, VersionState] | [Buffer, number, VersionState, VersionKind];
type Row = [Buffer, string, VersionRow[]];

const zHeaders = z.array(z.tuple([z.string(), z.string()]));
const zEncryption: z.ZodType<ObjectEncryption> = z.object({
  algorithm: z.literal('AES256'),
  salt: zBytes,
  check: zBytes,
});
const zMeta: z.ZodType<ObjectMeta> = z.object({
  size: z.number(),
  etag: z.string(),
  headers: zHeaders,
  checksum: z
    .object({ algorithm: z.string(), value: z.string(), type: z.enum(['FULL_OBJECT', 'COMPOSITE']).optional() })
    .optional(),
  parts: z.number().optional(),
  encryption: zEncryption.optional(),
  tags: zLww(zTags).optional(),
  lock: zVersionLock.optional(),
});
const zData: z.ZodType<VersionData> = z.discriminatedUnion('t', [
  z.object({ t: z.literal('deleteMarker') }),
  z.object({ t: z.literal('inline'), meta: zMeta, bytes: zBytes }),
  z.object({ t: z.literal('blocks'), meta: zMeta, firstBlock: zBytes }),
]);
const zState: z.ZodType<VersionState> = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('uploading'),
    multipart: z.boolean(),
    headers: zHeaders,
    checksumAlgorithm: z.string().optional(),
    checksumType: z.enum(['COMPOSITE', 'FULL_OBJECT']).optional(),
    encryption: zEncryption.optional(),
    tags: zTags.optional(),
    lock: zVersionLock.optional(),
  }),
  z.object({ t: z.literal('complete'), data: zData }),
  z.object({ t: z.literal('aborted'), deleted: z.literal(true).optional() }),
]);
const zVersionRow: z.ZodType<VersionRow> = z.union([
  z.tuple([zBytes, z.number(), zState]),
  z.tuple([zBytes, z.number(), zState, z.enum(['enabled', 'suspended'])]),
]);
const zRow: z.ZodType<Row> = z.tuple([zBytes, z.string(), z.array(zVersionRow)]);

function versionRow(v: ObjectVersion): VersionRow {
  return v.versioning ? [v.uuid, v.ts, v.state, v.versioning] : [v.uuid, v.ts, v.state];
}
function fromVersionRow([uuid, ts, state, versioning]: VersionRow): ObjectVersion {
  return mkVersion(uuid, ts, state, versioning);
}

/** The object table: partition = bucket, sort = object key. */
export function objectSchema(
  hooks: ObjectHooks,
): TableSchema<ObjectEntry> & { matches(e: ObjectEntry, f: ObjectFilter): boolean } {
  return {
    // Listing filters, applied to merged answers (see Table.getRange).
    matches: (e, filter) => {
      if (filter.visible && visibleVersion(e)) return true;
      if (filter.uploads && e.versions.some((v) => v.state.t === 'uploading' && v.state.multipart)) return true;
      if (filter.versions && e.versions.some(isListed)) return true;
      return false;
    },
    name: 'object',
    replication: 'sharded',
    partitionKey: (e) => e.bucketId,
    sortKey: (e) => Buffer.from(e.key),
    encode: (e) => encodeVersioned(1, [e.bucketId, e.key, e.versions.map(versionRow)] satisfies Row),
    decode: (b) => {
      const [bucketId, key, versions] = decodeRow(1, b, 'object', zRow);
      return { bucketId, key, versions: versions.map(fromVersionRow) };
    },
    merge: (a, b) => ({ bucketId: a.bucketId, key: a.key, versions: mergeVersions(a.versions, b.versions) }),
    // Nothing left but aborted versions and a tombstone marker: the row can go once every replica has it.
    isTombstone: (e) =>
      e.versions.every(
        (v) =>
          v.state.t === 'aborted' ||
          (v.state.t === 'complete' && v.state.data.t === 'deleteMarker' && v.versioning === undefined),
      ),
    // A completion only completes a version this replica holds as uploading. One it does not
    // hold was superseded (its rows and block references are being freed) or never reached it
    // (anti-entropy brings it), and must not be re-created above what superseded it. The
    // writer chose the timestamp (see nextObjectTs), the same on every replica: a multipart
    // upload takes a new one at completion (the upload completed last wins, as in S3), which
    // is safe because an upload in progress neither supersedes nor is superseded.
    // An amendment of a complete version (new tags) is a completion too: it applies only where
    // the version is held complete, never re-creating one that was superseded and freed.
    completion: (incoming, old) => {
      const held = new Map((old?.versions ?? []).map((v) => [v.uuid.toString('hex'), v]));
      return {
        ...incoming,
        versions: incoming.versions.filter((v) => {
          const h = held.get(v.uuid.toString('hex'))?.state.t;
          return h === 'uploading' || (h === 'complete' && v.state.t === 'complete');
        }),
      };
    },
    // A version superseded before it reached this replica is pruned on arrival: it was never
    // stored here, so `updated` never sees it go, yet its writer may be writing its rows.
    fixup: (tx, merged, incoming, old) => {
      const kept = new Set(merged.versions.map((v) => v.uuid.toString('hex')));
      const held = new Set((old?.versions ?? []).map((v) => v.uuid.toString('hex')));
      for (const v of incoming.versions) {
        const k = v.uuid.toString('hex');
        if (hasVersionRows(v.state) && !kept.has(k) && !held.has(k))
          hooks.versionGone(tx, v.uuid, v.state.t === 'uploading' && v.state.multipart, merged.bucketId, merged.key);
      }
      return merged;
    },
    updated: (tx, old, cur) => {
      const [o0, b0, u0] = objectCounts(old);
      const [o1, b1, u1] = objectCounts(cur);
      if (o0 !== o1 || b0 !== b1 || u0 !== u1) hooks.countsChanged(tx, cur.bucketId, o1 - o0, b1 - b0, u1 - u0);
      if (!old) return;
      const now = new Map(cur.versions.map((v) => [v.uuid.toString('hex'), v]));
      for (const v of old.versions) {
        if (!hasVersionRows(v.state)) continue;
        const n = now.get(v.uuid.toString('hex'));
        if (!n || n.state.t === 'aborted')
          hooks.versionGone(tx, v.uuid, v.state.t === 'uploading' && v.state.multipart, cur.bucketId, cur.key);
      }
    },
  };
}
