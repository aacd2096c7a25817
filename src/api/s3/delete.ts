import { randomBytes } from 'node:crypto';
import type { Model } from '../../model/garage.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChildren, xmlChildText, xmlChildToken, type XmlLimits } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx } from './context.ts';

/**
 * Deletes an object with one quorum write: a delete marker that every replica orders after
 * what it holds. Deleting a missing key leaves a tombstone that GC removes.
 */
export async function deleteObject(model: Model, bucketId: Buffer, key: string): Promise<void> {
  await model.object.insert({
    bucketId,
    key,
    versions: [
      {
        uuid: randomBytes(16),
        ts: await model.nextObjectTs(bucketId, key),
        state: { t: 'complete', data: { t: 'deleteMarker' } },
      },
    ],
  });
}

/** DeleteObject: 204 whether or not the key existed, as S3 does. */
export async function handleDeleteObject(ctx: ObjectCtx): Promise<void> {
  const { bucket } = ctx;
  await deleteObject(ctx.svc.model, bucket.id, ctx.objectKey);
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
  const keys = objects.map((o) => {
    const key = xmlChildText(o, 'Key');
    if (key === undefined || key === '') throw new S3Error('MalformedXML', 'each <Object> needs a non-empty <Key>');
    return key;
  });
  const quiet = (xmlChildToken(del, 'Quiet') ?? 'false').toLowerCase() === 'true';
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const key of keys) {
    try {
      await deleteObject(ctx.svc.model, bucket.id, key);
      deleted.push({ Key: key });
    } catch (e) {
      errors.push({ Key: key, Code: 'InternalError', Message: (e as Error).message });
    }
  }
  sendXml(ctx.res, 200, toXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}
