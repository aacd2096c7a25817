import { randomBytes } from 'node:crypto';
import type { Model } from '../../model/garage.ts';
import { checkVersionId } from './tagging.ts';
import { S3Error, asS3Error } from '../common/s3_error.ts';
import type { WriteCondition } from '../../model/object_claim.ts';
import { checkWriteCondition, completeUnder, writeCondition } from './write_conditions.ts';
import { toXml, xmlChildren, xmlChildText, xmlChildToken, type XmlLimits } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx } from './context.ts';

/**
 * Deletes an object with one quorum write: a delete marker that every replica orders after
 * what it holds. Deleting a missing key leaves a tombstone that GC removes. With a condition
 * (If-Match), the marker is registered, claimed on a quorum, then completed (see object_claim.ts).
 */
export async function deleteObject(model: Model, bucketId: Buffer, key: string, cond?: WriteCondition): Promise<void> {
  const uuid = randomBytes(16);
  if (cond) await checkWriteCondition(model, bucketId, key, cond);
  const ts = await model.nextObjectTs(bucketId, key);
  const marker = {
    bucketId,
    key,
    versions: [{ uuid, ts, state: { t: 'complete' as const, data: { t: 'deleteMarker' as const } } }],
  };
  if (!cond) {
    await model.object.insert(marker);
    return;
  }
  await model.object.insert({
    bucketId,
    key,
    versions: [{ uuid, ts, state: { t: 'uploading', multipart: false, headers: [] } }],
  });
  try {
    await completeUnder(model, { bucketId, key, uuid }, cond, () => model.object.insert(marker, { completion: true }));
  } catch (e) {
    await model.object
      .insert({ bucketId, key, versions: [{ uuid, ts, state: { t: 'aborted' } }] })
      .catch(() => undefined);
    throw e;
  }
}

/** DeleteObject: 204 whether or not the key existed, as S3 does (If-Match: only if its ETag matches). */
export async function handleDeleteObject(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  if (ctx.req.headers['if-none-match'] !== undefined)
    throw new S3Error('NotImplemented', 'DeleteObject takes If-Match, not If-None-Match');
  checkVersionId(ctx.query);
  await deleteObject(ctx.svc.model, bucket.id, ctx.objectKey, writeCondition(ctx.req.headers));
  sendEmpty(ctx.res, 204);
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
    // Each object has one version, `null`, until versioning is built: another id names none.
    const versionId = xmlChildText(o, 'VersionId');
    return { key, cond, versionId };
  });
  const quiet = (xmlChildToken(del, 'Quiet') ?? 'false').toLowerCase() === 'true';
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const { key, cond, versionId } of items) {
    try {
      if (versionId !== undefined && versionId !== 'null')
        throw new S3Error('InvalidArgument', 'Invalid version id specified');
      await deleteObject(ctx.svc.model, bucket.id, key, cond);
      deleted.push({ Key: key });
    } catch (e) {
      const err = asS3Error(e);
      errors.push({ Key: key, Code: err.code, Message: err.message });
    }
  }
  sendXml(ctx.res, 200, toXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}
