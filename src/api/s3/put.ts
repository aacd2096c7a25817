import { expirationHeader } from './lifecycle.ts';
import { randomBytes, createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { hashPool } from '../../util/hash_pool.ts';
import type { Model } from '../../model/garage.ts';
import { blockRefKey, groupKey, GROUP_SIZE, type VersionEntry } from '../../model/version.ts';
import { mkVersion, type ObjectMeta, type VersionKind } from '../../model/object.ts';
import { writeKind } from '../../model/bucket.ts';
import { versionHeaders } from './versioning.ts';
import { headerField, newVersionLock } from './object_lock.ts';
import type { VersionLock } from '../../model/lock.ts';
import { S3Error } from '../common/s3_error.ts';
import { xmlForbiddenChar } from '../common/xml.ts';
import type { BodyChecks } from '../common/signature/index.ts';
import type { Checksummer } from '../common/checksum.ts';
import { checkQuotas, declaredSize, limitToQuota } from './quotas.ts';
import { requestKey, sealWith, sseHeaders, type BlockCipher, type CustomerKey } from './sse_c.ts';
import { newTags, taggingHeader } from './tagging.ts';
import type { Tag } from '../../model/tags.ts';
import type { WriteCondition } from '../../model/object_claim.ts';
import { checkWriteCondition, completeUnder, writeCondition } from './write_conditions.ts';
import { requestBody, sendEmpty, storedHeaders, type ObjectCtx, type S3Services } from './context.ts';

/** Objects smaller than this are stored inline in the object table (one quorum write). */
export const INLINE_THRESHOLD = 3072;
/** Block writes kept in flight per upload. */
const PARALLEL_BLOCKS = 8;
const EMPTY = Buffer.alloc(0);

/**
 * Cuts a stream into blocks of exactly `size` bytes (the last one shorter). `fresh`: the block
 * is memory of its own (joined from several chunks), not a view of a chunk the stream gave.
 */
export async function* chunker(stream: Readable, size: number): AsyncGenerator<{ block: Buffer; fresh: boolean }> {
  let parts: Buffer[] = [];
  let len = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    let chunk = c;
    while (len + chunk.length >= size) {
      const take = size - len;
      parts.push(chunk.subarray(0, take));
      yield parts.length === 1
        ? { block: parts[0]!, fresh: false }
        : { block: Buffer.concat(parts, size), fresh: true };
      chunk = chunk.subarray(take);
      parts = [];
      len = 0;
    }
    if (chunk.length) {
      parts.push(chunk);
      len += chunk.length;
    }
  }
  if (len > 0)
    yield parts.length === 1 ? { block: parts[0]!, fresh: false } : { block: Buffer.concat(parts, len), fresh: true };
}

/** The result of writing a stream's blocks under a version. */
export interface SavedBlocks {
  size: number;
  md5: Buffer;
  firstBlock?: Buffer;
  /** Set instead of blocks when the whole stream fit under the inline threshold. */
  inline?: Buffer;
}

/** Where and how saveBlocks writes a stream. */
export interface SaveTarget {
  uuid: Buffer;
  part: number;
  partTs: number;
  /** Keep a body under INLINE_THRESHOLD in memory (returned as `inline`) instead of writing blocks. */
  allowInline: boolean;
  /** Called once before the first block is written. */
  onFirstBlock?: () => Promise<void>;
  /** Version rows written with the first block's row (one message, one transaction). */
  firstRows?: VersionEntry[];
  /** Fed the plaintext. */
  checksum?: Checksummer;
  /** SSE-C: blocks (and inline bytes) are sealed with it; md5 is then that of the sealed bytes. */
  cipher?: BlockCipher;
}

/**
 * Writes a stream's blocks to the cluster under version `uuid` (rows in the version table, refs
 * in block_ref), several blocks in flight. Offsets and sizes are those of the plaintext.
 */
export async function saveBlocks(
  model: Model,
  blockSize: number,
  stream: Readable,
  t: SaveTarget,
): Promise<SavedBlocks> {
  const { uuid, part, partTs, cipher } = t;
  // MD5 and block ids are computed off the main thread for large blocks (hash_pool.ts).
  const hasher = hashPool.stream();
  let size = 0;
  let index = 0;
  let firstBlock: Promise<Buffer> | undefined;
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  try {
    for await (const { block, fresh } of chunker(stream, Math.max(blockSize, INLINE_THRESHOLD))) {
      if (failure) throw failure;
      t.checksum?.update(block);
      const stored = cipher ? cipher.seal(block) : block;
      // Only memory nobody else holds may be handed to the hasher (a sealed block is new memory).
      const own = fresh || stored !== block;
      // Blocks are full except the last, so a short first block is the whole body.
      if (index === 0 && t.allowInline && block.length < INLINE_THRESHOLD) {
        return { size: block.length, md5: createHash('md5').update(stored).digest(), inline: stored };
      }
      if (index === 0) await t.onFirstBlock?.();
      await startBlock(block.length, stored, own);
    }
    // An empty body is the empty inline object (not a block object without blocks or version).
    if (index === 0 && t.allowInline) {
      const inline = cipher ? cipher.seal(EMPTY) : EMPTY;
      return { size: 0, md5: createHash('md5').update(inline).digest(), inline };
    }
    await Promise.all(inflight);
    if (failure) throw failure;
    return { size, md5: await hasher.digest(), firstBlock: await firstBlock };
  } catch (e) {
    hasher.drop();
    throw e;
  }

  async function startBlock(length: number, block: Buffer, own: boolean): Promise<void> {
    const hashed = hasher.block(block, own);
    const offset = size;
    const seq = Math.floor(index / GROUP_SIZE);
    size += length;
    index++;
    if (!firstBlock) {
      firstBlock = hashed.then((h) => h.hash);
      firstBlock.catch(() => undefined); // the failure is reported through `failure`
    }
    const sk = groupKey(part, partTs, seq);
    const p = (async () => {
      // The block was handed to the hasher: from here on it is `data`.
      const { hash, data } = await hashed;
      // The version row and the ref go first so a crash never leaves a stored block nobody can find.
      const row: VersionEntry = { uuid, sk, deleted: false, blocks: [[offset, hash, length]] };
      await Promise.all([
        model.version.insertMany(offset === 0 && t.firstRows ? [...t.firstRows, row] : [row]),
        model.blockRef.insert({ block: hash, ref: blockRefKey(uuid, sk), deleted: false }),
      ]);
      await model.blocks.put(hash, data, !cipher);
    })().catch((e: unknown) => {
      failure ??= e;
    });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
    while (inflight.size >= PARALLEL_BLOCKS) await Promise.race(inflight);
    if (failure) throw failure;
  }
}

/** The S3 ETag of a single-part object. */
export function md5Etag(md5: Buffer): string {
  return md5.toString('hex');
}

/** Fields of BodyChecks worth storing as the object's checksum. */
export function checksumOf(checks: BodyChecks): ObjectMeta['checksum'] {
  return checks.checksum
    ? { algorithm: checks.checksum.algorithm, value: checks.checksum.value, type: 'FULL_OBJECT' }
    : undefined;
}

/** Response headers announcing a verified checksum. */
export function checksumHeaders(c: ObjectMeta['checksum']): Record<string, string> {
  return c
    ? { [`x-amz-checksum-${c.algorithm.toLowerCase()}`]: c.value, 'x-amz-checksum-type': c.type ?? 'FULL_OBJECT' }
    : {};
}

/** How putObjectStream checks and stores a body beyond its bytes. */
export interface PutOptions {
  /** The request body's verification (signature, x-amz-checksum-*), awaited before completing. */
  done?: Promise<BodyChecks>;
  cond?: WriteCondition;
  /** SSE-C: the version is sealed under this key. */
  sse?: CustomerKey;
  /** The object's checksum when it is known beforehand (a copy keeps its source's). */
  checksum?: ObjectMeta['checksum'];
  tags?: Tag[];
  /** How the bucket keeps the new version (see VersionKind). */
  versioning?: VersionKind;
  lock?: VersionLock;
}

/** Stores a whole stream as a new version of an object; the previous version stays visible until it completes. */
export async function putObjectStream(
  svc: Pick<S3Services, 'model' | 'blockSize'>,
  bucketId: Buffer,
  key: string,
  headers: [string, string][],
  stream: Readable,
  opts: PutOptions = {},
): Promise<{ etag: string; meta: ObjectMeta; ts: number; uuid: Buffer }> {
  const { model, blockSize } = svc;
  const { done, cond, versioning } = opts;
  const uuid = randomBytes(16);
  const sealed = opts.sse ? sealWith(opts.sse) : undefined;
  // The version's place among the key's versions is read while the first block arrives.
  const place = model.nextObjectTs(bucketId, key);
  place.catch(() => undefined);
  let ts = 0;
  let registered = false;
  const header: VersionEntry = { uuid, sk: EMPTY, deleted: false, header: { bucketId, key, parts: null }, blocks: [] };
  const register = async () => {
    ts = await place;
    registered = true;
    await model.object.insert({
      bucketId,
      key,
      versions: [mkVersion(uuid, ts, { t: 'uploading', multipart: false, headers }, versioning)],
    });
  };
  try {
    const saved = await saveBlocks(model, blockSize, stream, {
      uuid,
      part: 0,
      partTs: 0,
      allowInline: true,
      onFirstBlock: register,
      firstRows: [header],
      cipher: sealed?.cipher,
    });
    const checks = done ? await done : undefined;
    const etag = md5Etag(saved.md5);
    const meta: ObjectMeta = {
      size: saved.size,
      etag,
      headers,
      checksum: checks ? checksumOf(checks) : opts.checksum,
      ...(sealed ? { encryption: sealed.stored } : {}),
      tags: newTags(opts.tags),
      ...(opts.lock ? { lock: opts.lock } : {}),
    };
    const data = saved.inline
      ? { t: 'inline' as const, meta, bytes: saved.inline }
      : { t: 'blocks' as const, meta, firstBlock: saved.firstBlock! };
    // A conditional write completes only what its replicas hold as uploading and granted it.
    if (cond && !registered) await register();
    // A registered version is completed where it stands, if a newer one has not superseded it.
    if (!registered) ts = await place;
    const complete = () =>
      model.object.insert(
        { bucketId, key, versions: [mkVersion(uuid, ts, { t: 'complete', data }, versioning)] },
        { completion: registered },
      );
    await (cond ? completeUnder(model, { bucketId, key, uuid }, cond, complete) : complete());
    return { etag, meta, ts, uuid };
  } catch (e) {
    if (registered) {
      // Leave the previous version visible; the cascade frees what this one wrote.
      await model.object
        .insert({ bucketId, key, versions: [mkVersion(uuid, ts, { t: 'aborted' }, versioning)] })
        .catch(() => undefined);
    }
    throw e;
  }
}

/** Validates the request's object key (S3 allows at most 1024 bytes). */
export function checkObjectKey(key: string): void {
  if (Buffer.byteLength(key) > 1024) throw new S3Error('KeyTooLongError', 'Your key is too long (maximum 1024 bytes)');
  // Listings are XML 1.0 documents, which cannot hold these characters at all (not even as
  // character references): accepting such a key would break every client's listing of the bucket.
  const bad = xmlForbiddenChar(key);
  if (bad !== undefined) {
    const name = `U+${bad.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    throw new S3Error(
      'InvalidArgument',
      `Object key contains ${name}, a character XML 1.0 cannot represent (NUL, C0 controls other than tab, LF and CR, U+FFFE, U+FFFF); such keys are refused`,
      { ArgumentName: 'key' },
    );
  }
}

/** PutObject. */
export async function handlePutObject(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  const key = ctx.objectKey;
  checkObjectKey(key);
  if (ctx.req.headers['content-length'] === undefined && ctx.req.headers['transfer-encoding'] === undefined)
    throw new S3Error('MissingContentLength', 'You must provide the Content-Length HTTP header.');
  const cond = writeCondition(ctx.req.headers);
  const sse = requestKey(ctx.req.headers);
  const tags = taggingHeader(ctx.req.headers);
  const lock = newVersionLock(headerField(ctx.req.headers), bucket);
  if (cond) await checkWriteCondition(ctx.svc.model, bucket.id, key, cond);
  const allowed = await checkQuotas(ctx.svc, bucket, key, declaredSize(ctx.req.headers));
  const body = requestBody(ctx);
  const stream = limitToQuota(body.stream, allowed);
  const versioning = writeKind(bucket);
  const { etag, meta, ts, uuid } = await putObjectStream(
    ctx.svc,
    bucket.id,
    key,
    storedHeaders(ctx.req.headers),
    stream,
    { done: body.done, cond, sse, tags, versioning, lock },
  );
  const expiration = expirationHeader(bucket.lifecycle.v, key, meta.size, ts, meta.tags?.v);
  sendEmpty(ctx.res, 200, {
    etag: `"${etag}"`,
    ...checksumHeaders(meta.checksum),
    ...sseHeaders(sse),
    ...(expiration ? { 'x-amz-expiration': expiration } : {}),
    ...versionHeaders(bucket, { uuid, versioning }),
  });
}
