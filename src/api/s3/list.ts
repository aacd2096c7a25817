import { prefixEnd } from '../../db/db.ts';
import {
  isDataVersion,
  lastComplete,
  listedVersions,
  versionIdOf,
  visibleVersion,
  type ObjectEntry,
  type ObjectFilter,
} from '../../model/object.ts';
import { checkedVersionId } from './versioning.ts';
import type { Model } from '../../model/garage.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml } from '../common/xml.ts';
import { decimalParam, isoDate, sendXml, type BucketCtx } from './context.ts';

/** One page of a listing: object entries and common prefixes, in key order. */
export interface ListPage {
  contents: ObjectEntry[];
  prefixes: string[];
  truncated: boolean;
  /** Key (bytes) to resume from, inclusive, when truncated. */
  next?: Buffer;
  /** The last key or prefix returned (for V1 NextMarker). */
  last?: string;
}

/** What a walk over a bucket's keys meets: a key's row, or a common prefix (at its first key). */
type Walked = { t: 'entry'; o: ObjectEntry; at: Buffer } | { t: 'prefix'; p: string; at: Buffer };

/**
 * Walks the object table of a bucket from `start` (inclusive), in key order, grouping keys under
 * the delimiter and jumping over each common prefix instead of reading its keys.
 */
async function* walkKeys(
  model: Model,
  bucketId: Buffer,
  o: { prefix: string; delimiter: string; start: Buffer; filter: ObjectFilter; batch: number },
): AsyncGenerator<Walked> {
  const prefixBuf = Buffer.from(o.prefix);
  let cursor = Buffer.compare(o.start, prefixBuf) > 0 ? o.start : prefixBuf;
  // After a jump the next key may well start another common prefix: read a few rows, and
  // more each time no jump happens, so walking n prefixes reads O(n) rows, whatever lies under them.
  let batch = o.batch;
  for (;;) {
    const rows = await model.object.getRange(bucketId, { start: cursor, limit: batch, filter: o.filter });
    let jumped = false;
    for (const e of rows) {
      if (!e.key.startsWith(o.prefix)) return;
      const at = Buffer.from(e.key);
      const idx = o.delimiter ? e.key.indexOf(o.delimiter, o.prefix.length) : -1;
      if (idx >= 0) {
        const p = e.key.slice(0, idx + o.delimiter.length);
        yield { t: 'prefix', p, at };
        const end = prefixEnd(Buffer.from(p));
        if (!end) return;
        cursor = end;
        jumped = true;
        break;
      }
      yield { t: 'entry', o: e, at };
      cursor = Buffer.concat([at, Buffer.from([0])]);
    }
    if (!jumped && rows.length < batch) return;
    batch = jumped ? 2 : Math.min(o.batch, batch * 4);
  }
}

/** One page of keys (and common prefixes) from `start` (inclusive). */
export async function listPage(
  model: Model,
  bucketId: Buffer,
  opts: { prefix: string; delimiter: string; start: Buffer; maxKeys: number; filter: 'visible' | 'uploads' },
): Promise<ListPage> {
  const contents: ObjectEntry[] = [];
  const prefixes: string[] = [];
  let last: string | undefined;
  const filter = opts.filter === 'visible' ? { visible: true } : { uploads: true };
  for await (const w of walkKeys(model, bucketId, { ...opts, filter, batch: Math.min(1000, opts.maxKeys + 1) })) {
    if (contents.length + prefixes.length >= opts.maxKeys)
      return { contents, prefixes, truncated: true, next: w.at, last };
    if (w.t === 'prefix') prefixes.push(w.p);
    else contents.push(w.o);
    last = w.t === 'prefix' ? w.p : w.o.key;
  }
  return { contents, prefixes, truncated: false, last };
}

function enc(s: string, url: boolean): string {
  return url ? encodeURIComponent(s).replace(/%2F/g, '/') : s;
}

/** Whether the listing asks for encoding-type=url (the only encoding S3 defines). */
function urlEncoding(q: URLSearchParams): boolean {
  const encodingType = q.get('encoding-type');
  if (encodingType !== null && encodingType !== 'url')
    throw new S3Error('InvalidArgument', `invalid encoding-type '${encodingType}'`);
  return encodingType === 'url';
}

function maxKeys(q: URLSearchParams): number {
  return Math.min(
    decimalParam(q, 'max-keys', 0, 2 ** 31 - 1, 'Provided max-keys not an integer or within integer range') ?? 1000,
    1000,
  );
}

function contentsXml(page: ListPage, url: boolean, owner: boolean) {
  return page.contents.map((o) => {
    const v = visibleVersion(o)!;
    const meta = v.state.data.meta;
    return {
      Key: enc(o.key, url),
      LastModified: isoDate(v.ts),
      ETag: `"${meta.etag}"`,
      Size: meta.size,
      StorageClass: 'STANDARD',
      ...(meta.checksum ? { ChecksumAlgorithm: meta.checksum.algorithm } : {}),
      ...(owner ? { Owner: { ID: 'garage', DisplayName: 'garage' } } : {}),
    };
  });
}

/**
 * Where a V1 listing resumes after `marker`. A marker inside a common prefix (NextMarker is the
 * common prefix itself when the page ended on one) resumes past the whole prefix, as S3 does.
 */
function afterMarker(marker: string, prefix: string, delimiter: string): Buffer {
  if (delimiter && marker.startsWith(prefix)) {
    const idx = marker.indexOf(delimiter, prefix.length);
    const end = idx >= 0 ? prefixEnd(Buffer.from(marker.slice(0, idx + delimiter.length))) : undefined;
    if (end) return end;
  }
  return Buffer.concat([Buffer.from(marker), Buffer.from([0])]);
}

/** ListObjects (V1) and ListObjectsV2. */
export async function handleListObjects(ctx: BucketCtx, v2: boolean): Promise<void> {
  const { bucket } = ctx;
  const q = ctx.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const url = urlEncoding(q);
  const mk = maxKeys(q);
  let start: Buffer = Buffer.alloc(0);
  if (v2) {
    const token = q.get('continuation-token');
    const after = q.get('start-after');
    if (token !== null) {
      const b = Buffer.from(token, 'base64url');
      if (b.length === 0 || b[0] !== 0x6b) throw new S3Error('InvalidArgument', 'invalid continuation token');
      start = b.subarray(1);
    } else if (after) start = Buffer.concat([Buffer.from(after), Buffer.from([0])]);
  } else {
    const marker = q.get('marker');
    if (marker) start = afterMarker(marker, prefix, delimiter);
  }
  const page =
    mk === 0
      ? ({ contents: [], prefixes: [], truncated: false } as ListPage)
      : await listPage(ctx.svc.model, bucket.id, { prefix, delimiter, start, maxKeys: mk, filter: 'visible' });
  const common = {
    Name: ctx.bucketName,
    Prefix: enc(prefix, url),
    ...(delimiter ? { Delimiter: enc(delimiter, url) } : {}),
    MaxKeys: mk,
    ...(url ? { EncodingType: 'url' } : {}),
    IsTruncated: page.truncated,
  };
  const cps = page.prefixes.map((p) => ({ Prefix: enc(p, url) }));
  if (v2) {
    const token = q.get('continuation-token');
    sendXml(
      ctx.res,
      200,
      toXml('ListBucketResult', {
        ...common,
        ...(token !== null ? { ContinuationToken: token } : {}),
        ...(q.get('start-after') ? { StartAfter: enc(q.get('start-after')!, url) } : {}),
        KeyCount: page.contents.length + page.prefixes.length,
        ...(page.truncated && page.next
          ? { NextContinuationToken: Buffer.concat([Buffer.from([0x6b]), page.next]).toString('base64url') }
          : {}),
        Contents: contentsXml(page, url, q.get('fetch-owner') === 'true'),
        CommonPrefixes: cps,
      }),
    );
  } else {
    sendXml(
      ctx.res,
      200,
      toXml('ListBucketResult', {
        ...common,
        Marker: enc(q.get('marker') ?? '', url),
        ...(page.truncated && page.last ? { NextMarker: enc(page.last, url) } : {}),
        Contents: contentsXml(page, url, true),
        CommonPrefixes: cps,
      }),
    );
  }
}

/** ListMultipartUploads. */
export async function handleListUploads(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const q = ctx.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const url = urlEncoding(q);
  const maxUploads = Math.min(decimalParam(q, 'max-uploads', 0, 2 ** 31 - 1) || 1000, 1000);
  const keyMarker = q.get('key-marker');
  const start = keyMarker ? afterMarker(keyMarker, prefix, delimiter) : Buffer.alloc(0);
  const page = await listPage(ctx.svc.model, bucket.id, {
    prefix,
    delimiter,
    start,
    maxKeys: maxUploads,
    filter: 'uploads',
  });
  const uploads = page.contents.flatMap((o) =>
    o.versions
      .filter((v) => v.state.t === 'uploading' && v.state.multipart)
      .map((v) => ({
        Key: enc(o.key, url),
        UploadId: v.uuid.toString('hex'),
        Initiator: { ID: ctx.key.id, DisplayName: ctx.key.name.v },
        Owner: { ID: ctx.key.id, DisplayName: ctx.key.name.v },
        StorageClass: 'STANDARD',
        Initiated: isoDate(v.ts),
      })),
  );
  sendXml(
    ctx.res,
    200,
    toXml('ListMultipartUploadsResult', {
      Bucket: ctx.bucketName,
      KeyMarker: enc(keyMarker ?? '', url),
      UploadIdMarker: q.get('upload-id-marker') ?? '',
      ...(page.truncated && page.last ? { NextKeyMarker: enc(page.last, url), NextUploadIdMarker: '' } : {}),
      Prefix: enc(prefix, url),
      ...(delimiter ? { Delimiter: enc(delimiter, url) } : {}),
      ...(url ? { EncodingType: 'url' } : {}),
      MaxUploads: maxUploads,
      IsTruncated: page.truncated,
      Upload: uploads,
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: enc(p, url) })),
    }),
  );
}

/**
 * ListObjectVersions: every version ListObjectVersions shows (objects and delete markers), newest
 * first within a key; pages end anywhere, even inside a key's versions (key-marker and
 * version-id-marker resume after the last version returned).
 */
export async function handleListVersions(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const q = ctx.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const url = urlEncoding(q);
  const mk = maxKeys(q);
  const keyMarker = q.get('key-marker') ?? '';
  const vidMarker = q.get('version-id-marker') ?? '';
  if (vidMarker && !keyMarker)
    throw new S3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', {
      ArgumentName: 'version-id-marker',
    });
  if (vidMarker) checkedVersionId(vidMarker);
  // With a version-id marker, the marker's key is read again for the versions after it.
  const start = vidMarker
    ? Buffer.from(keyMarker)
    : keyMarker
      ? afterMarker(keyMarker, prefix, delimiter)
      : Buffer.alloc(0);
  const versions: Record<string, unknown>[] = [];
  const markers: Record<string, unknown>[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let lastKey: string | undefined;
  let lastVid: string | undefined;
  const count = () => versions.length + markers.length + prefixes.length;
  const walk = walkKeys(ctx.svc.model, bucket.id, {
    prefix,
    delimiter,
    start,
    filter: { versions: true },
    batch: Math.min(1000, mk + 1),
  });
  page: for await (const w of mk === 0 ? [] : walk) {
    if (w.t === 'prefix') {
      if (count() >= mk) {
        truncated = true;
        break;
      }
      prefixes.push(w.p);
      lastKey = w.p;
      lastVid = undefined;
      continue;
    }
    const o = w.o;
    let vs = listedVersions(o);
    if (vidMarker && o.key === keyMarker) {
      const i = vs.findIndex((v) => versionIdOf(v) === vidMarker);
      if (i >= 0) vs = vs.slice(i + 1);
    }
    const latest = lastComplete(o);
    for (const v of vs) {
      if (count() >= mk) {
        truncated = true;
        break page;
      }
      const common = {
        Key: enc(o.key, url),
        VersionId: versionIdOf(v),
        IsLatest: v === latest,
        LastModified: isoDate(v.ts),
        Owner: { ID: 'garage', DisplayName: 'garage' },
      };
      if (isDataVersion(v)) {
        const meta = v.state.data.meta;
        versions.push({
          ...common,
          ETag: `"${meta.etag}"`,
          Size: meta.size,
          StorageClass: 'STANDARD',
          ...(meta.checksum ? { ChecksumAlgorithm: meta.checksum.algorithm } : {}),
        });
      } else markers.push(common);
      lastKey = o.key;
      lastVid = versionIdOf(v);
    }
  }
  sendXml(
    ctx.res,
    200,
    toXml('ListVersionsResult', {
      Name: ctx.bucketName,
      Prefix: enc(prefix, url),
      KeyMarker: enc(keyMarker, url),
      VersionIdMarker: vidMarker,
      ...(truncated && lastKey !== undefined
        ? { NextKeyMarker: enc(lastKey, url), ...(lastVid ? { NextVersionIdMarker: lastVid } : {}) }
        : {}),
      MaxKeys: mk,
      ...(delimiter ? { Delimiter: enc(delimiter, url) } : {}),
      ...(url ? { EncodingType: 'url' } : {}),
      IsTruncated: truncated,
      Version: versions,
      DeleteMarker: markers,
      CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p, url) })),
    }),
  );
}
