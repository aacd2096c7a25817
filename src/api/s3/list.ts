import { prefixEnd } from '../../db/db.ts';
import { visibleVersion, type ObjectEntry } from '../../model/object.ts';
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

/**
 * Walks the object table of a bucket from `start` (inclusive), grouping keys under the
 * delimiter and jumping over each common prefix instead of reading its keys.
 */
export async function listPage(
  model: Model,
  bucketId: Buffer,
  opts: { prefix: string; delimiter: string; start: Buffer; maxKeys: number; filter: 'visible' | 'uploads' },
): Promise<ListPage> {
  const prefixBuf = Buffer.from(opts.prefix);
  let cursor: Buffer | undefined = Buffer.compare(opts.start, prefixBuf) > 0 ? opts.start : prefixBuf;
  const contents: ObjectEntry[] = [];
  const prefixes: string[] = [];
  let last: string | undefined;
  const count = () => contents.length + prefixes.length;
  const batch = Math.min(1000, opts.maxKeys + 1);
  while (cursor) {
    const rows = await model.object.getRange(bucketId, {
      start: cursor,
      limit: batch,
      filter: opts.filter === 'visible' ? { visible: true } : { uploads: true },
    });
    if (rows.length === 0) return { contents, prefixes, truncated: false, last };
    let jumped = false;
    for (const o of rows) {
      if (!o.key.startsWith(opts.prefix)) return { contents, prefixes, truncated: false, last };
      const kb = Buffer.from(o.key);
      if (count() >= opts.maxKeys) return { contents, prefixes, truncated: true, next: kb, last };
      const idx = opts.delimiter ? o.key.indexOf(opts.delimiter, opts.prefix.length) : -1;
      if (idx >= 0) {
        const cp = o.key.slice(0, idx + opts.delimiter.length);
        prefixes.push(cp);
        last = cp;
        cursor = prefixEnd(Buffer.from(cp));
        jumped = true;
        break;
      }
      contents.push(o);
      last = o.key;
      cursor = Buffer.concat([kb, Buffer.from([0])]);
    }
    if (!jumped && rows.length < batch) return { contents, prefixes, truncated: false, last };
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

/** ListObjectVersions: versioning is never enabled, so each object has one version, "null". */
export async function handleListVersions(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const q = ctx.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const url = urlEncoding(q);
  const mk = maxKeys(q);
  const keyMarker = q.get('key-marker');
  const start = keyMarker ? afterMarker(keyMarker, prefix, delimiter) : Buffer.alloc(0);
  const page =
    mk === 0
      ? ({ contents: [], prefixes: [], truncated: false } as ListPage)
      : await listPage(ctx.svc.model, bucket.id, { prefix, delimiter, start, maxKeys: mk, filter: 'visible' });
  sendXml(
    ctx.res,
    200,
    toXml('ListVersionsResult', {
      Name: ctx.bucketName,
      Prefix: enc(prefix, url),
      KeyMarker: enc(keyMarker ?? '', url),
      VersionIdMarker: q.get('version-id-marker') ?? '',
      ...(page.truncated && page.last ? { NextKeyMarker: enc(page.last, url), NextVersionIdMarker: 'null' } : {}),
      MaxKeys: mk,
      ...(delimiter ? { Delimiter: enc(delimiter, url) } : {}),
      ...(url ? { EncodingType: 'url' } : {}),
      IsTruncated: page.truncated,
      Version: contentsXml(page, url, true).map((c) => ({
        Key: c.Key,
        VersionId: 'null',
        IsLatest: true,
        LastModified: c.LastModified,
        ETag: c.ETag,
        Size: c.Size,
        StorageClass: c.StorageClass,
        Owner: c.Owner,
      })),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: enc(p, url) })),
    }),
  );
}
