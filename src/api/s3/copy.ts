import { writeKind, type BucketEntry } from '../../model/bucket.ts';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { keyPerms } from '../../model/key.ts';
import {
  findVersion,
  mkVersion,
  visibleVersion,
  type DataVersion,
  type ObjectEntry,
  type ObjectMeta,
  type ObjectVersion,
} from '../../model/object.ts';
import { blockRefKey, groupKey, GROUP_SIZE } from '../../model/version.ts';
import { S3Error } from '../common/s3_error.ts';
import { decodeUtf8Component } from '../common/uri.ts';
import { toXml } from '../common/xml.ts';
import { isoDate, sendXml, storedHeaders, type ReqCtx, type BucketCtx, type ObjectCtx } from './context.ts';
import { checkConditions, checkCoverage, streamBlocks, versionBlocks } from './get.ts';
import { BlockError } from '../../util/errors.ts';
import { checkObjectKey, putObjectStream } from './put.ts';
import { openWith, requestKey, sseHeaders } from './sse_c.ts';
import { copyTags, newTags } from './tagging.ts';
import { checkedVersionId, readVersion, versionHeaders } from './versioning.ts';
import { headerField, newVersionLock } from './object_lock.ts';
import { checkQuotas } from './quotas.ts';
import { savePart } from './multipart.ts';
import type { WriteCondition } from '../../model/object_claim.ts';
import { checkWriteCondition, completeUnder, writeCondition } from './write_conditions.ts';

const EMPTY = Buffer.alloc(0);

/** Resolves x-amz-copy-source to a readable source version. */
async function copySource(ctx: BucketCtx) {
  const raw = ctx.req.headers['x-amz-copy-source'];
  if (typeof raw !== 'string') throw new S3Error('InvalidArgument', 'missing x-amz-copy-source');
  const [rawPath, rawQuery] = raw.split('?', 2);
  const versionId = checkedVersionId(new URLSearchParams(rawQuery ?? '').get('versionId'));
  const decoded = decodeUtf8Component(rawPath!, 'x-amz-copy-source');
  const path = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  const slash = path.indexOf('/');
  if (slash <= 0 || slash === path.length - 1)
    throw new S3Error('InvalidArgument', 'x-amz-copy-source must be bucket/key');
  const bucketName = path.slice(0, slash);
  const key = path.slice(slash + 1);
  const { helpers, model } = ctx.svc;
  const bid = await helpers.resolveBucket(bucketName, ctx.key);
  const bucket = bid ? await helpers.getBucket(bid) : undefined;
  if (!bucket) throw new S3Error('NoSuchBucket', `source bucket '${bucketName}' does not exist`);
  if (!keyPerms(ctx.key, bucket.id.toString('hex')).read)
    throw new S3Error('AccessDenied', `no read permission on source bucket '${bucketName}'`);
  const entry = await model.object.get(bucket.id, Buffer.from(key));
  let v: DataVersion;
  try {
    v = readVersion(bucket, entry, versionId);
  } catch (e) {
    if (e instanceof S3Error && e.code === 'MethodNotAllowed')
      throw new S3Error(
        'InvalidRequest',
        'The source of a copy request may not specifically refer to a delete marker by version id.',
      );
    throw e;
  }
  const h = ctx.req.headers;
  // An SSE-C source is read with its key, before anything of it (even its ETag) is compared.
  const cipher = openWith(v.state.data.meta.encryption, requestKey(h, 'copy-source'), 'copy-source');
  try {
    checkConditions(
      {
        'if-match': h['x-amz-copy-source-if-match'],
        'if-none-match': h['x-amz-copy-source-if-none-match'],
        'if-modified-since': h['x-amz-copy-source-if-modified-since'],
        'if-unmodified-since': h['x-amz-copy-source-if-unmodified-since'],
      } as ReqCtx['req']['headers'],
      v.state.data.meta.etag,
      v.ts,
    );
  } catch (e) {
    // What is 304 for a GET is 412 for a copy.
    if (!(e instanceof S3Error) || e.code !== 'NotModified') throw e;
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition:
        h['x-amz-copy-source-if-none-match'] !== undefined
          ? 'x-amz-copy-source-If-None-Match'
          : 'x-amz-copy-source-If-Modified-Since',
    });
  }
  return { bucket, key, versionId, version: v, cipher };
}

/** Whether the copy source version is still there (false: superseded or deleted since it was read). */
async function sourceStillThere(ctx: BucketCtx, src: CopySource): Promise<boolean> {
  const e = await ctx.svc.model.object.get(src.bucket.id, Buffer.from(src.key));
  const now = src.versionId === undefined ? visibleVersion(e) : findVersion(e, src.versionId);
  return now?.uuid.equals(src.version.uuid) ?? false;
}

/** `x-amz-copy-source-version-id`, where the source bucket is versioned. */
function sourceVersionHeader(src: CopySource): Record<string, string> {
  const id = versionHeaders(src.bucket, src.version)['x-amz-version-id'];
  return id ? { 'x-amz-copy-source-version-id': id } : {};
}

/** The version headers of a copy's answer: the source's, and the new version's. */
function copyVersionHeaders(src: CopySource, bucket: BucketEntry, v: Pick<ObjectVersion, 'uuid' | 'versioning'>) {
  return { ...sourceVersionHeader(src), ...versionHeaders(bucket, v) };
}

/** The plaintext bytes [start, end) of a copy source. */
async function sourceStream(ctx: BucketCtx, src: CopySource, start: number, end: number): Promise<Readable> {
  const data = src.version.state.data;
  if (data.t === 'inline') {
    const bytes = src.cipher ? src.cipher.open(data.bytes) : data.bytes;
    return Readable.from([bytes.subarray(start, end)]);
  }
  const blocks = await versionBlocks(ctx.svc.model, src.version.uuid);
  // A source superseded a moment ago may be losing its rows: never copy a partial list.
  try {
    checkCoverage(blocks, data.meta.size);
  } catch {
    throw new SourceChanged();
  }
  return streamBlocks(ctx.svc.model, blocks, start, end, undefined, src.cipher);
}

type CopySource = Awaited<ReturnType<typeof copySource>>;

/** The source version was superseded while we copied it: its rows may be going. */
class SourceChanged extends BlockError {
  constructor() {
    super('the source object was replaced during the copy; retry');
  }
}

/** Tries a copy this many times when its source is overwritten meanwhile (then 503). */
const COPY_ATTEMPTS = 5;

/** CopyObject: the new version shares the source's blocks (no data is copied). */
export async function handleCopyObject(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  checkObjectKey(key);
  const cond = writeCondition(ctx.req.headers);
  if (cond) await checkWriteCondition(ctx.svc.model, bucket.id, key, cond);
  // An overwrite of the source in the middle is not the client's problem: copy what is
  // visible now (one of the values the source had during the request).
  for (let attempt = 1; ; attempt++) {
    try {
      await copyOnce(ctx, bucket, key, await copySource(ctx), cond);
      return;
    } catch (e) {
      if (!(e instanceof SourceChanged) || attempt >= COPY_ATTEMPTS) throw e;
    }
  }
}

async function copyOnce(
  ctx: BucketCtx,
  bucket: BucketEntry,
  key: string,
  src: CopySource,
  cond: WriteCondition | undefined,
): Promise<void> {
  const { model } = ctx.svc;
  const srcData = src.version.state.data;
  const sse = requestKey(ctx.req.headers);
  const directive = (ctx.req.headers['x-amz-metadata-directive'] ?? 'COPY').toString().toUpperCase();
  const encrypted = src.cipher !== undefined || sse !== undefined;
  // A copy of an older version onto its own key restores it: that is a change.
  const toItself = src.bucket.id.equals(bucket.id) && src.key === key && src.versionId === undefined;
  if (toItself && directive !== 'REPLACE' && !encrypted) {
    throw new S3Error(
      'InvalidRequest',
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  await checkQuotas(ctx.svc, bucket, key, srcData.meta.size);
  const headers = directive === 'REPLACE' ? storedHeaders(ctx.req.headers) : srcData.meta.headers;
  const tags = copyTags(ctx.req.headers, srcData.meta.tags?.v ?? []);
  const versioning = writeKind(bucket);
  // The copy's lock is the request's (or the bucket's default), never the source's.
  const lock = newVersionLock(headerField(ctx.req.headers), bucket);
  if (encrypted) {
    // Encrypted on either side: the bytes are opened and sealed again, under the new key if any.
    const stream = await sourceStream(ctx, src, 0, srcData.meta.size);
    const keep = srcData.meta.checksum?.type === 'COMPOSITE' ? undefined : srcData.meta.checksum;
    let put: Awaited<ReturnType<typeof putObjectStream>>;
    try {
      const opts = { cond, sse, checksum: keep, tags, versioning, lock };
      put = await putObjectStream(ctx.svc, bucket.id, key, headers, stream, opts);
    } catch (e) {
      if (e instanceof BlockError && !(await sourceStillThere(ctx, src))) throw new SourceChanged();
      throw e;
    }
    const result = toXml('CopyObjectResult', { ETag: `"${put.etag}"`, LastModified: isoDate(put.ts) });
    sendXml(ctx.res, 200, result, {
      ...sseHeaders(sse),
      ...copyVersionHeaders(src, bucket, { uuid: put.uuid, versioning }),
    });
    return;
  }
  // The copy is one part, whatever the source was: its blocks are listed under part 0 below.
  const { parts: _parts, lock: _lock, ...rest } = srcData.meta;
  const meta: ObjectMeta = { ...rest, headers, tags: newTags(tags), ...(lock ? { lock } : {}) };
  const uuid = randomBytes(16);
  const ts = await model.nextObjectTs(bucket.id, key);
  // A conditional copy completes only what its replicas granted (see object_claim.ts).
  const complete = (e: ObjectEntry) => {
    const insert = () => model.object.insert(e, { completion: true });
    return cond ? completeUnder(model, { bucketId: bucket.id, key, uuid }, cond, insert) : insert();
  };
  const uploading = () =>
    model.object.insert({
      bucketId: bucket.id,
      key,
      versions: [mkVersion(uuid, ts, { t: 'uploading', multipart: false, headers }, versioning)],
    });
  const abort = () =>
    model.object
      .insert({ bucketId: bucket.id, key, versions: [mkVersion(uuid, ts, { t: 'aborted' }, versioning)] })
      .catch(() => undefined);
  if (srcData.t === 'inline') {
    const entry: ObjectEntry = {
      bucketId: bucket.id,
      key,
      versions: [mkVersion(uuid, ts, { t: 'complete', data: { t: 'inline', meta, bytes: srcData.bytes } }, versioning)],
    };
    if (!cond) await model.object.insert(entry);
    else {
      await uploading();
      try {
        await complete(entry);
      } catch (e) {
        await abort();
        throw e;
      }
    }
  } else {
    await uploading();
    try {
      await model.version.insert({
        uuid,
        sk: EMPTY,
        deleted: false,
        header: { bucketId: bucket.id, key, parts: null },
        blocks: [],
      });
      const blocks = await versionBlocks(model, src.version.uuid);
      // A source superseded a moment ago may be losing its rows: never share a partial list.
      try {
        checkCoverage(blocks, srcData.meta.size);
      } catch {
        throw new SourceChanged();
      }
      const rows = [];
      for (let i = 0; i < blocks.length; i += GROUP_SIZE) {
        rows.push({
          uuid,
          sk: groupKey(0, 0, i / GROUP_SIZE),
          deleted: false,
          blocks: blocks.slice(i, i + GROUP_SIZE).map((b) => [b.offset, b.hash, b.size] as [number, Buffer, number]),
        });
      }
      await model.version.insertMany(rows);
      const refs = new Map<string, { block: Buffer; ref: Buffer; deleted: boolean }>();
      for (const r of rows)
        for (const [, hash] of r.blocks)
          refs.set(`${hash.toString('hex')}:${r.sk.toString('hex')}`, {
            block: hash,
            ref: blockRefKey(uuid, r.sk),
            deleted: false,
          });
      await model.blockRef.insertMany([...refs.values()]);
      // Our references now hold the blocks, unless the source's were dropped (and its blocks
      // collected) before ours arrived: that shows as a deleted source version. Its blocks
      // cannot have been collected earlier than the GC delay after that, so checking now is enough.
      const header = await model.version.get(src.version.uuid, EMPTY);
      if (!header || header.deleted) throw new SourceChanged();
      await complete({
        bucketId: bucket.id,
        key,
        versions: [
          mkVersion(
            uuid,
            ts,
            { t: 'complete', data: { t: 'blocks', meta, firstBlock: srcData.firstBlock } },
            versioning,
          ),
        ],
      });
    } catch (e) {
      await abort();
      throw e;
    }
  }
  const result = toXml('CopyObjectResult', { ETag: `"${meta.etag}"`, LastModified: isoDate(ts) });
  sendXml(ctx.res, 200, result, copyVersionHeaders(src, bucket, { uuid, versioning }));
}

/** UploadPartCopy: streams the source range into a new part. */
export async function handleUploadPartCopy(ctx: ObjectCtx, uploadId: Buffer, part: number): Promise<void> {
  const src = await copySource(ctx);
  const data = src.version.state.data;
  const size = data.meta.size;
  let start = 0;
  let end = size;
  const rangeHeader = ctx.req.headers['x-amz-copy-source-range'];
  if (typeof rangeHeader === 'string') {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeHeader);
    if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= size)
      throw new S3Error(
        'InvalidArgument',
        `invalid x-amz-copy-source-range '${rangeHeader}' for an object of ${size} bytes`,
      );
    start = Number(m[1]);
    end = Number(m[2]) + 1;
  }
  const stream = await sourceStream(ctx, src, start, end);
  // The request itself has no body to verify beyond its signature.
  const { etag, sse } = await savePart(ctx, uploadId, part, stream, undefined);
  sendXml(ctx.res, 200, toXml('CopyPartResult', { ETag: `"${etag}"`, LastModified: isoDate(Date.now()) }), {
    ...sseHeaders(sse),
    ...sourceVersionHeader(src),
  });
}
