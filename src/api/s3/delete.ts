import { randomBytes } from 'node:crypto';
import type { Model } from '../../model/garage.ts';
import { checkedVersionId } from './versioning.ts';
import { writeKind, type BucketEntry } from '../../model/bucket.ts';
import { deletedVersion, findVersion, isDataVersion, mkVersion, versionIdOf } from '../../model/object.ts';
import { checkDeletable } from './object_lock.ts';
import { S3Error, asS3Error } from '../common/s3_error.ts';
import type { WriteCondition } from '../../model/object_claim.ts';
import { checkWriteCondition, completeUnder, writeCondition } from './write_conditions.ts';
import { toXml, xmlChildren, xmlChildText, xmlChildToken, type XmlLimits } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx, type ReqCtx } from './context.ts';

/** What a delete did: the version it removed or the marker it wrote, as S3 reports it. */
export interface Deleted {
  /** The version removed (a delete by id), or the marker written, when the bucket is versioned. */
  versionId?: string;
  /** A delete marker was written, or removed by id. */
  deleteMarker: boolean;
}

/**
 * Deletes an object with one quorum write: a delete marker that every replica orders after what
 * it holds (in a bucket never versioned, a tombstone that GC removes; otherwise an S3 delete
 * marker, with its own id where versioning is enabled). With a condition (If-Match), the marker
 * is registered, claimed on a quorum, then completed (see object_claim.ts).
 */
export async function deleteObject(
  model: Model,
  bucket: BucketEntry,
  key: string,
  cond?: WriteCondition,
): Promise<Deleted> {
  const bucketId = bucket.id;
  const uuid = randomBytes(16);
  const versioning = writeKind(bucket);
  if (cond) await checkWriteCondition(model, bucketId, key, cond);
  const ts = await model.nextObjectTs(bucketId, key);
  const marker = { bucketId, key, versions: [mkVersion(uuid, ts, MARKER, versioning)] };
  const done: Deleted =
    bucket.versioning.v === null
      ? { deleteMarker: false }
      : { deleteMarker: true, versionId: versionIdOf(marker.versions[0]!) };
  if (!cond) {
    await model.object.insert(marker);
    return done;
  }
  await model.object.insert({
    bucketId,
    key,
    versions: [mkVersion(uuid, ts, { t: 'uploading', multipart: false, headers: [] }, versioning)],
  });
  try {
    await completeUnder(model, { bucketId, key, uuid }, cond, () => model.object.insert(marker, { completion: true }));
  } catch (e) {
    await model.object
      .insert({ bucketId, key, versions: [mkVersion(uuid, ts, { t: 'aborted' }, versioning)] })
      .catch(() => undefined);
    throw e;
  }
  return done;
}

const MARKER = { t: 'complete', data: { t: 'deleteMarker' } } as const;

/**
 * Deletes one version for good (DeleteObject with versionId): it becomes `aborted`, which every
 * replica keeps, and the cascade frees its blocks. Deleting a version that is not there succeeds;
 * one its object lock protects is refused (`ctx`: the request, which may bypass GOVERNANCE).
 */
export async function deleteVersion(
  ctx: ReqCtx,
  bucket: BucketEntry,
  key: string,
  versionId: string,
): Promise<Deleted> {
  const model = ctx.svc.model;
  const v = findVersion(await model.object.get(bucket.id, Buffer.from(key)), versionId);
  if (!v) return { versionId, deleteMarker: false };
  if (isDataVersion(v)) checkDeletable(ctx, bucket, v.state.data.meta);
  await model.object.insert({ bucketId: bucket.id, key, versions: [deletedVersion(v)] });
  return { versionId, deleteMarker: v.state.data.t === 'deleteMarker' };
}

/** A delete by key or by version id. */
function deleteOne(ctx: ReqCtx, bucket: BucketEntry, key: string, versionId?: string, cond?: WriteCondition) {
  if (versionId === undefined) return deleteObject(ctx.svc.model, bucket, key, cond);
  if (cond) throw new S3Error('NotImplemented', 'A conditional delete of a version by id is not implemented');
  return deleteVersion(ctx, bucket, key, versionId);
}

/** DeleteObject: 204 whether or not the key existed, as S3 does (If-Match: only if its ETag matches). */
export async function handleDeleteObject(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  if (ctx.req.headers['if-none-match'] !== undefined)
    throw new S3Error('NotImplemented', 'DeleteObject takes If-Match, not If-None-Match');
  const versionId = checkedVersionId(ctx.query.get('versionId'));
  const d = await deleteOne(ctx, bucket, ctx.objectKey, versionId, writeCondition(ctx.req.headers));
  sendEmpty(ctx.res, 204, {
    ...(d.deleteMarker ? { 'x-amz-delete-marker': 'true' } : {}),
    ...(d.versionId !== undefined ? { 'x-amz-version-id': d.versionId } : {}),
  });
}

/** DeleteObjects takes at most this many keys (as S3). */
const MAX_KEYS = 1000;
/**
 * DeleteObjects bodies: 1000 keys of up to 1024 bytes each, escaped, with version ids and ETags,
 * fit well within this; the parser refuses the 1001st <Object> as soon as it opens.
 */
const DELETE_LIMITS: XmlLimits = {
  maxBytes: 8 * 1024 * 1024,
  maxDepth: 4,
  maxElements: 1 + MAX_KEYS * 8,
  maxCount: { Object: { max: MAX_KEYS, message: `DeleteObjects accepts at most ${MAX_KEYS} keys per request` } },
};

/** DeleteObjects (POST ?delete). */
export async function handleDeleteObjects(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const del = await readXmlBody(ctx, 'Delete', DELETE_LIMITS);
  const objects = xmlChildren(del, 'Object');
  if (objects.length === 0) throw new S3Error('MalformedXML', 'a <Delete> document names at least one <Object>');
  // Keys are exactly the text of <Key>, spaces and all: " a" and "a" are different objects.
  const items = objects.map((o) => {
    const key = xmlChildText(o, 'Key');
    if (key === undefined || key === '') throw new S3Error('MalformedXML', 'each <Object> needs a non-empty <Key>');
    // <ETag>: delete only if the object's ETag is this one (a conditional delete).
    const etag = xmlChildText(o, 'ETag');
    const cond: WriteCondition | undefined =
      etag === undefined ? undefined : { t: 'etag', etags: [/^"[^"]*"$/.test(etag) ? etag.slice(1, -1) : etag] };
    return { key, cond, versionId: xmlChildText(o, 'VersionId') };
  });
  const quiet = (xmlChildToken(del, 'Quiet') ?? 'false').toLowerCase() === 'true';
  const deleted: Record<string, string | boolean>[] = [];
  const errors: Record<string, string>[] = [];
  for (const { key, cond, versionId } of items) {
    try {
      const d = await deleteOne(ctx, bucket, key, checkedVersionId(versionId), cond);
      // By id: the id deleted; by key in a versioned bucket: the marker written.
      const byId = versionId !== undefined;
      deleted.push({
        Key: key,
        ...(byId ? { VersionId: versionId } : {}),
        ...(d.deleteMarker ? { DeleteMarker: true } : {}),
        ...(d.deleteMarker && d.versionId !== undefined ? { DeleteMarkerVersionId: d.versionId } : {}),
      });
    } catch (e) {
      const err = asS3Error(e);
      errors.push({
        Key: key,
        ...(versionId !== undefined ? { VersionId: versionId } : {}),
        Code: err.code,
        Message: err.message,
      });
    }
  }
  sendXml(ctx.res, 200, toXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}
