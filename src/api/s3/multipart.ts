import { NO_SUCH_UPLOAD } from './router.ts';
import { randomBytes, createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { partKey, parsePartKey } from '../../model/mpu.ts';
import { groupKey, parseGroupKey, type ChosenPart } from '../../model/version.ts';
import {
  mkVersion,
  visibleVersion,
  type ObjectEncryption,
  type ObjectEntry,
  type ObjectMeta,
  type ObjectVersion,
  type VersionKind,
} from '../../model/object.ts';
import { writeKind } from '../../model/bucket.ts';
import { versionHeaders } from './versioning.ts';
import { headerField, newVersionLock } from './object_lock.ts';
import type { VersionLock } from '../../model/lock.ts';
import { conditionHolds } from '../../model/object_claim.ts';
import { S3Error } from '../common/s3_error.ts';
import {
  combineCrc,
  createChecksum,
  decodeChecksum,
  encodeChecksum,
  isCrc,
  parseChecksumAlgorithm,
  CHECKSUM_ALGORITHMS,
  type ChecksumAlgorithm,
} from '../common/checksum.ts';
import { errorMessage } from '../../util/errors.ts';
import { toXml, xmlChildren, xmlChildText, xmlChildToken, type XmlLimits } from '../common/xml.ts';
import {
  decimalParam,
  isoDate,
  readXmlBody,
  requestBody,
  sendEmpty,
  sendXml,
  storedHeaders,
  type BucketCtx,
  type ObjectCtx,
} from './context.ts';
import { checkObjectKey, md5Etag, saveBlocks } from './put.ts';
import { newTags, taggingHeader } from './tagging.ts';
import type { Tag } from '../../model/tags.ts';
import { openWith, requestKey, sealWith, sseHeaders, UPLOAD_REFUSALS, type CustomerKey } from './sse_c.ts';
import { checkQuotas } from './quotas.ts';
import { completeUnder, conditionError, writeCondition } from './write_conditions.ts';

const EMPTY = Buffer.alloc(0);
const MIN_PART_SIZE = 5 * 1024 * 1024;

/** The object entry and its in-progress multipart version for an upload id. */
async function findUpload(
  ctx: ObjectCtx,
  bucketId: Buffer,
  key: string,
  uploadId: Buffer,
): Promise<{
  entry: ObjectEntry;
  ts: number;
  headers: [string, string][];
  checksum?: UploadChecksum;
  encryption?: ObjectEncryption;
  tags?: Tag[];
  versioning?: VersionKind;
  lock?: VersionLock;
}> {
  const entry = await ctx.svc.model.object.get(bucketId, Buffer.from(key));
  const v = entry?.versions.find((x) => x.uuid.equals(uploadId));
  if (!entry || !v || v.state.t !== 'uploading' || !v.state.multipart) {
    throw new S3Error('NoSuchUpload', NO_SUCH_UPLOAD);
  }
  const alg = v.state.checksumAlgorithm ? parseChecksumAlgorithm(v.state.checksumAlgorithm) : undefined;
  return {
    entry,
    ts: v.ts,
    headers: v.state.headers,
    checksum: alg ? { algorithm: alg, type: v.state.checksumType ?? defaultChecksumType(alg) } : undefined,
    encryption: v.state.encryption,
    tags: v.state.tags,
    versioning: v.versioning,
    lock: v.state.lock,
  };
}

/** The checksum an upload was created with: each part gets one, the object a combined one. */
interface UploadChecksum {
  algorithm: ChecksumAlgorithm;
  type: 'COMPOSITE' | 'FULL_OBJECT';
}

/** S3's default type for an algorithm: CRC64NVME is always FULL_OBJECT, the others COMPOSITE. */
function defaultChecksumType(alg: ChecksumAlgorithm): 'COMPOSITE' | 'FULL_OBJECT' {
  return alg === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE';
}

/** Reads and checks CreateMultipartUpload's x-amz-checksum-algorithm and x-amz-checksum-type. */
function uploadChecksumOf(h: ObjectCtx['req']['headers']): UploadChecksum | undefined {
  const rawAlg = h['x-amz-checksum-algorithm'];
  const rawType = h['x-amz-checksum-type'];
  if (rawAlg === undefined) {
    if (rawType !== undefined)
      throw new S3Error('InvalidRequest', 'x-amz-checksum-type requires x-amz-checksum-algorithm');
    return undefined;
  }
  const algorithm = parseChecksumAlgorithm(String(rawAlg));
  if (!algorithm) throw new S3Error('InvalidRequest', `Checksum algorithm '${String(rawAlg)}' is not supported`);
  const type = rawType === undefined ? defaultChecksumType(algorithm) : String(rawType).toUpperCase();
  if (type !== 'COMPOSITE' && type !== 'FULL_OBJECT')
    throw new S3Error(
      'InvalidRequest',
      `x-amz-checksum-type must be COMPOSITE or FULL_OBJECT, not '${String(rawType)}'`,
    );
  if (type === 'FULL_OBJECT' && !isCrc(algorithm))
    throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type cannot be used with the ${algorithm} algorithm`);
  if (type === 'COMPOSITE' && algorithm === 'CRC64NVME')
    throw new S3Error('InvalidRequest', 'The COMPOSITE checksum type cannot be used with the CRC64NVME algorithm');
  return { algorithm, type };
}

/** The response element of a checksum: ChecksumCRC32, ChecksumSHA256… */
function checksumElement(alg: string): string {
  return `Checksum${alg.toUpperCase()}`;
}

/** CreateMultipartUpload. */
export async function handleCreateUpload(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  checkObjectKey(key);
  const { model } = ctx.svc;
  const uuid = randomBytes(16);
  const ts = Date.now();
  const headers = storedHeaders(ctx.req.headers);
  const checksum = uploadChecksumOf(ctx.req.headers);
  const sse = requestKey(ctx.req.headers);
  const tags = taggingHeader(ctx.req.headers);
  const lock = newVersionLock(headerField(ctx.req.headers), bucket);
  await model.object.insert({
    bucketId: bucket.id,
    key,
    versions: [
      // The versioning of the bucket when the upload starts decides the object's.
      mkVersion(
        uuid,
        ts,
        {
          t: 'uploading',
          multipart: true,
          headers,
          ...(checksum ? { checksumAlgorithm: checksum.algorithm, checksumType: checksum.type } : {}),
          ...(sse ? { encryption: sealWith(sse).stored } : {}),
          ...(tags?.length ? { tags } : {}),
          ...(lock ? { lock } : {}),
        },
        writeKind(bucket),
      ),
    ],
  });
  await Promise.all([
    model.mpu.insert({ uploadId: uuid, sk: EMPTY, deleted: false, header: { bucketId: bucket.id, key, created: ts } }),
    model.version.insert({
      uuid,
      sk: EMPTY,
      deleted: false,
      header: { bucketId: bucket.id, key, parts: null },
      blocks: [],
    }),
  ]);
  sendXml(
    ctx.res,
    200,
    toXml('InitiateMultipartUploadResult', { Bucket: ctx.bucketName, Key: key, UploadId: uuid.toString('hex') }),
    {
      ...(checksum ? { 'x-amz-checksum-algorithm': checksum.algorithm, 'x-amz-checksum-type': checksum.type } : {}),
      ...sseHeaders(sse),
    },
  );
}

/**
 * The customer key of a request on an upload's parts, checked against the upload's encryption.
 * `optional`: the request writes no data (CompleteMultipartUpload), so it need not carry the key.
 */
function uploadKey(ctx: ObjectCtx, encryption: ObjectEncryption | undefined, optional = false) {
  const sse = requestKey(ctx.req.headers);
  if (optional && !sse) return { sse, cipher: undefined };
  return { sse, cipher: openWith(encryption, sse, UPLOAD_REFUSALS) };
}

/**
 * Stores one part upload from a stream (sealed, in an SSE-C upload, under the key the request
 * carries); returns its ETag, its checksum and that key.
 */
export async function savePart(
  ctx: ObjectCtx,
  uploadId: Buffer,
  part: number,
  stream: Readable,
  done: Promise<{ checksum?: { algorithm: string; value: string } }> | undefined,
): Promise<{ etag: string; checksum?: { algorithm: string; value: string }; sse?: CustomerKey }> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  const upload = await findUpload(ctx, bucket.id, key, uploadId);
  const { sse, cipher } = uploadKey(ctx, upload.encryption);
  const { model, blockSize } = ctx.svc;
  const partTs = Date.now() * 1000 + Math.floor(Math.random() * 1000);
  let saved: Awaited<ReturnType<typeof saveBlocks>>;
  let checks: Awaited<typeof done>;
  // In an upload with a checksum, every part gets one: computed here (UploadPartCopy, or a
  // client that sent none), and equal to the client's when it sent one (the body checks it).
  const alg = upload.checksum?.algorithm;
  const hasher = alg ? createChecksum(alg) : undefined;
  try {
    saved = await saveBlocks(model, blockSize, stream, {
      uuid: uploadId,
      part,
      partTs,
      allowInline: false,
      checksum: hasher,
      cipher,
    });
    checks = done ? await done : undefined;
    if (alg && checks?.checksum && checks.checksum.algorithm !== alg)
      throw new S3Error(
        'InvalidRequest',
        `Checksum Type mismatch occurred, expected checksum Type: ${alg.toLowerCase()}, actual checksum Type: ${checks.checksum.algorithm.toLowerCase()}`,
      );
  } catch (e) {
    // The rows this part upload wrote are dropped, so the cascade releases its blocks now,
    // not when the whole upload ends.
    try {
      const rows = await model.version.getRange(uploadId, {
        start: groupKey(part, partTs, 0),
        end: groupKey(part, partTs + 1, 0),
      });
      const live = rows.filter((r) => !r.deleted);
      if (live.length) await model.version.insertMany(live.map((r) => ({ ...r, deleted: true, blocks: [] })));
    } catch (cleanup) {
      // Not fatal: completing or aborting the upload drops these rows too.
      ctx.svc.logger.warn(
        { uploadId: uploadId.toString('hex'), part, err: errorMessage(cleanup) },
        'failed part upload not released',
      );
    }
    throw e;
  }
  const etag = md5Etag(saved.md5);
  const checksum =
    alg && hasher ? { algorithm: alg, value: encodeChecksum(hasher.digest()) } : (checks?.checksum ?? undefined);
  await model.mpu.insert({
    uploadId,
    sk: partKey(part, partTs),
    deleted: false,
    part: { etag, size: saved.size, checksum: checksum ? `${checksum.algorithm}:${checksum.value}` : undefined },
  });
  return { etag, checksum, sse };
}

/** UploadPart. */
export async function handleUploadPart(ctx: ObjectCtx, uploadId: Buffer, part: number): Promise<void> {
  const body = requestBody(ctx);
  const { etag, checksum, sse } = await savePart(ctx, uploadId, part, body.stream, body.done);
  sendEmpty(ctx.res, 200, {
    etag: `"${etag}"`,
    ...(checksum ? { [`x-amz-checksum-${checksum.algorithm.toLowerCase()}`]: checksum.value } : {}),
    ...sseHeaders(sse),
  });
}

/** The latest finished upload of each part number. */
async function latestParts(
  ctx: BucketCtx,
  uploadId: Buffer,
): Promise<Map<number, { ts: number; etag: string; size: number; checksum?: string }>> {
  const rows = await ctx.svc.model.mpu.getRange(uploadId, { start: Buffer.from([0]) });
  const parts = new Map<number, { ts: number; etag: string; size: number; checksum?: string }>();
  for (const r of rows) {
    if (r.deleted || !r.part) continue;
    const { part, ts } = parsePartKey(r.sk);
    const cur = parts.get(part);
    if (!cur || cur.ts < ts) parts.set(part, { ts, ...r.part });
  }
  return parts;
}

/** An upload has at most this many parts (as S3). */
const MAX_PARTS = 10_000;
/** Each <Part> holds a number, an ETag and up to five checksums: room for 10,000 of them, pretty-printed. */
const COMPLETE_LIMITS: XmlLimits = {
  maxBytes: 10 * 1024 * 1024,
  maxDepth: 4,
  maxElements: 1 + MAX_PARTS * 8,
  maxCount: { Part: { max: MAX_PARTS, message: `CompleteMultipartUpload takes at most ${MAX_PARTS} parts` } },
};

/** CompleteMultipartUpload. */
export async function handleCompleteUpload(ctx: ObjectCtx, uploadId: Buffer): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  const { model } = ctx.svc;
  const cmu = await readXmlBody(ctx, 'CompleteMultipartUpload', COMPLETE_LIMITS, { objectChecksumHeaders: true });
  const requested = xmlChildren(cmu, 'Part').map((p) => {
    const number = xmlChildToken(p, 'PartNumber');
    // The ETag is compared exactly; only the quotes S3 puts around it are optional.
    const etag = xmlChildText(p, 'ETag') ?? '';
    const checksums = CHECKSUM_ALGORITHMS.flatMap((alg) => {
      const v = xmlChildToken(p, checksumElement(alg));
      return v === undefined ? [] : [`${alg}:${v}`];
    });
    return {
      part: number !== undefined && /^[0-9]+$/.test(number) ? Number(number) : Number.NaN,
      etag: /^"[^"]*"$/.test(etag) ? etag.slice(1, -1) : etag,
      checksums,
    };
  });
  if (requested.length === 0) throw new S3Error('MalformedXML', 'You must specify at least one part');
  for (let i = 0; i < requested.length; i++) {
    if (!Number.isInteger(requested[i]!.part)) throw new S3Error('MalformedXML', 'invalid PartNumber');
    if (i > 0 && requested[i]!.part <= requested[i - 1]!.part)
      throw new S3Error(
        'InvalidPartOrder',
        'The list of parts was not in ascending order. The parts list must be specified in order by part number.',
      );
  }
  // A repeated completion of an upload that completed with these very parts gets the same
  // answer (a client retrying after a lost response must not see NoSuchUpload).
  const cond = writeCondition(ctx.req.headers);
  const entry = await model.object.get(bucket.id, Buffer.from(key));
  const done = entry?.versions.find((v) => v.uuid.equals(uploadId));
  if (done?.state.t === 'complete' && done.state.data.t !== 'deleteMarker' && done.state.data.meta.parts) {
    const md5s = Buffer.concat(requested.map((r) => Buffer.from(r.etag, 'hex')));
    const etag = `${createHash('md5').update(md5s).digest('hex')}-${requested.length}`;
    if (etag === done.state.data.meta.etag) {
      const { sse } = uploadKey(ctx, done.state.data.meta.encryption, true);
      sendCompleted(ctx, etag, done.state.data.meta, sse, done);
      return;
    }
  }
  const found = await findUpload(ctx, bucket.id, key, uploadId);
  const { ts, headers, entry: current, checksum: upload, encryption, tags, versioning, lock } = found;
  // The key is optional here (no data is written), but if sent it must be the upload's.
  const { sse } = uploadKey(ctx, encryption, true);
  const have = await latestParts(ctx, uploadId);
  const chosen: ChosenPart[] = [];
  const md5s: Buffer[] = [];
  let size = 0;
  for (const [i, r] of requested.entries()) {
    const p = have.get(r.part);
    if (!p || p.etag !== r.etag)
      throw new S3Error('InvalidPart', `One or more of the specified parts could not be found (part ${r.part}).`);
    if (i < requested.length - 1 && p.size < MIN_PART_SIZE)
      throw new S3Error(
        'EntityTooSmall',
        `Your proposed upload is smaller than the minimum allowed object size (part ${r.part} is ${p.size} bytes; each part but the last must be at least 5 MiB).`,
      );
    for (const c of r.checksums)
      if (c !== p.checksum)
        throw new S3Error('InvalidPart', `The checksum given for part ${r.part} is not that of the part uploaded.`);
    const partChecksum =
      upload && p.checksum?.startsWith(`${upload.algorithm}:`) ? p.checksum.split(':')[1] : undefined;
    if (upload && partChecksum === undefined)
      throw new S3Error('InvalidPart', `Part ${r.part} has no ${upload.algorithm} checksum.`);
    chosen.push(partChecksum === undefined ? [r.part, p.ts, p.size] : [r.part, p.ts, p.size, partChecksum]);
    md5s.push(Buffer.from(p.etag, 'hex'));
    size += p.size;
  }
  const checksum = upload ? objectChecksum(upload, chosen) : undefined;
  if (upload) checkCompletionChecksum(ctx.req.headers, upload, checksum!);
  await checkQuotas(ctx.svc, bucket, key, size);
  const etag = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${chosen.length}`;
  // A conditional completion is checked before anything of the upload changes: refused, the
  // upload stays as it was and may be completed again.
  const meta: ObjectMeta = {
    size,
    etag,
    headers,
    parts: chosen.length,
    checksum,
    encryption,
    tags: newTags(tags),
    ...(lock ? { lock } : {}),
  };
  const complete = () => completeUpload(ctx, { uploadId, created: ts, versioning }, chosen, meta);
  if (cond) {
    const vote = conditionHolds(cond, visibleVersion(current));
    if (vote !== 'granted') throw conditionError(vote, cond);
    await completeUnder(model, { bucketId: bucket.id, key, uuid: uploadId }, cond, complete);
  } else await complete();
  sendCompleted(ctx, etag, meta, sse, { uuid: uploadId, versioning });
}

/** The object's checksum from its parts': of their digests with a `-N` suffix (COMPOSITE), or their CRCs combined. */
function objectChecksum(upload: UploadChecksum, chosen: ChosenPart[]): NonNullable<ObjectMeta['checksum']> {
  const { algorithm, type } = upload;
  const digests = chosen.map(([, , , c]) => decodeChecksum(algorithm, c ?? '') ?? Buffer.alloc(0));
  if (type === 'COMPOSITE') {
    const h = createChecksum(algorithm);
    for (const d of digests) h.update(d);
    return { algorithm, type, value: `${encodeChecksum(h.digest())}-${chosen.length}` };
  }
  let crc = digests[0]!;
  for (let i = 1; i < digests.length; i++) crc = combineCrc(algorithm, crc, digests[i]!, chosen[i]![2]);
  return { algorithm, type, value: encodeChecksum(crc) };
}

/** CompleteMultipartUpload's x-amz-checksum-type and x-amz-checksum-<alg>, if sent, must agree with the upload. */
function checkCompletionChecksum(
  h: ObjectCtx['req']['headers'],
  upload: UploadChecksum,
  computed: NonNullable<ObjectMeta['checksum']>,
): void {
  const type = h['x-amz-checksum-type'];
  if (type !== undefined && String(type).toUpperCase() !== upload.type)
    throw new S3Error(
      'InvalidRequest',
      `The upload was created with the ${upload.type} checksum type, not ${String(type).slice(0, 20)}`,
    );
  for (const alg of CHECKSUM_ALGORITHMS) {
    const given = h[`x-amz-checksum-${alg.toLowerCase()}`];
    if (given === undefined) continue;
    if (alg !== upload.algorithm)
      throw new S3Error('InvalidRequest', `The upload was created using a ${upload.algorithm.toLowerCase()} checksum.`);
    if (String(given).trim().split('-')[0] !== computed.value.split('-')[0])
      throw new S3Error('BadDigest', `The ${alg} you specified did not match the calculated checksum.`);
  }
}

/** Makes an upload's chosen parts its object version, completed now (the last completed wins, as in S3). */
async function completeUpload(
  ctx: ObjectCtx,
  upload: { uploadId: Buffer; created: number; versioning?: VersionKind },
  chosen: ChosenPart[],
  meta: ObjectMeta,
): Promise<void> {
  const { uploadId, created, versioning } = upload;
  const { bucket } = ctx;
  const key = ctx.objectKey;
  const { model } = ctx.svc;
  await model.version.insert({
    uuid: uploadId,
    sk: EMPTY,
    deleted: false,
    header: { bucketId: bucket.id, key, parts: chosen },
    blocks: [],
  });
  // Part uploads that were replaced or left out lose their blocks.
  const rows = await model.version.getRange(uploadId, { start: Buffer.from([0]) });
  const keep = new Set(chosen.map(([p, t]) => `${p}:${t}`));
  const stale = rows.filter(
    (r) => !r.deleted && !keep.has(`${parseGroupKey(r.sk).part}:${parseGroupKey(r.sk).partTs}`),
  );
  if (stale.length) await model.version.insertMany(stale.map((r) => ({ ...r, deleted: true, blocks: [] })));
  const first = rows
    .filter((r) => !r.deleted && keep.has(`${parseGroupKey(r.sk).part}:${parseGroupKey(r.sk).partTs}`))
    .sort((a, b) => Buffer.compare(a.sk, b.sk))[0];
  // The upload completed last wins, as in S3: it takes its place now.
  const completedAt = await model.nextObjectTs(bucket.id, key);
  if (meta.size === 0 || !first) {
    await model.object.insert(
      {
        bucketId: bucket.id,
        key,
        versions: [
          mkVersion(uploadId, completedAt, { t: 'complete', data: { t: 'inline', meta, bytes: EMPTY } }, versioning),
        ],
      },
      { completion: true },
    );
  } else {
    await model.object.insert(
      {
        bucketId: bucket.id,
        key,
        versions: [
          mkVersion(
            uploadId,
            completedAt,
            { t: 'complete', data: { t: 'blocks', meta, firstBlock: first.blocks[0]![1] } },
            versioning,
          ),
        ],
      },
      { completion: true },
    );
  }
  await model.mpu.insert({ uploadId, sk: EMPTY, deleted: true, header: { bucketId: bucket.id, key, created } });
}

function sendCompleted(
  ctx: ObjectCtx,
  etag: string,
  meta: ObjectMeta,
  sse: CustomerKey | undefined,
  v: Pick<ObjectVersion, 'uuid' | 'versioning'>,
): void {
  const host = ctx.req.headers.host ?? 'localhost';
  const { checksum } = meta;
  sendXml(
    ctx.res,
    200,
    toXml('CompleteMultipartUploadResult', {
      Location: `http://${host}/${ctx.bucketName}/${encodeURIComponent(ctx.objectKey)}`,
      Bucket: ctx.bucketName,
      Key: ctx.objectKey,
      ETag: `"${etag}"`,
      ...(checksum
        ? { [checksumElement(checksum.algorithm)]: checksum.value, ChecksumType: checksum.type ?? 'FULL_OBJECT' }
        : {}),
    }),
    {
      // The key's MD5 can only be echoed when the request carried the key.
      ...(meta.encryption ? { 'x-amz-server-side-encryption-customer-algorithm': 'AES256', ...sseHeaders(sse) } : {}),
      ...versionHeaders(ctx.bucket, v),
    },
  );
}

/** AbortMultipartUpload. */
export async function handleAbortUpload(ctx: ObjectCtx, uploadId: Buffer): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  const { ts, versioning } = await findUpload(ctx, bucket.id, key, uploadId);
  await ctx.svc.model.object.insert({
    bucketId: bucket.id,
    key,
    versions: [mkVersion(uploadId, ts, { t: 'aborted' }, versioning)],
  });
  sendEmpty(ctx.res, 204);
}

/** ListParts. */
export async function handleListParts(ctx: ObjectCtx, uploadId: Buffer): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  const { checksum } = await findUpload(ctx, bucket.id, key, uploadId);
  const maxParts = Math.min(decimalParam(ctx.query, 'max-parts', 0, 2 ** 31 - 1) || 1000, 1000);
  const marker = decimalParam(ctx.query, 'part-number-marker', 0, 2 ** 31 - 1) ?? 0;
  const all = [...(await latestParts(ctx, uploadId)).entries()].filter(([n]) => n > marker).sort((a, b) => a[0] - b[0]);
  const page = all.slice(0, maxParts);
  const truncated = all.length > maxParts;
  sendXml(
    ctx.res,
    200,
    toXml('ListPartsResult', {
      Bucket: ctx.bucketName,
      Key: key,
      UploadId: uploadId.toString('hex'),
      Initiator: { ID: ctx.key.id, DisplayName: ctx.key.name.v },
      Owner: { ID: ctx.key.id, DisplayName: ctx.key.name.v },
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: page[page.length - 1]![0] } : {}),
      MaxParts: maxParts,
      IsTruncated: truncated,
      StorageClass: 'STANDARD',
      ...(checksum ? { ChecksumAlgorithm: checksum.algorithm, ChecksumType: checksum.type } : {}),
      Part: page.map(([n, p]) => {
        const [alg, value] = p.checksum?.split(':') ?? [];
        return {
          PartNumber: n,
          LastModified: isoDate(Math.floor(p.ts / 1000)),
          ETag: `"${p.etag}"`,
          Size: p.size,
          ...(alg && value ? { [checksumElement(alg)]: value } : {}),
        };
      }),
    }),
  );
}
