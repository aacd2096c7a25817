import { randomBytes } from 'node:crypto';
import type { Model } from '../../model/garage.ts';
import { S3Error } from '../common/s3_error.ts';
import { parseXml, toXml } from '../common/xml.ts';
import { readSmallBody, requireBucket, requireKey, sendEmpty, sendXml, type ReqCtx } from './context.ts';

/**
 * Deletes an object with one quorum write: a delete marker that every replica orders after
 * what it holds. Deleting a missing key leaves a tombstone that GC removes.
 */
export async function deleteObject(model: Model, bucketId: Buffer, key: string): Promise<void> {
  await model.object.insert({ bucketId, key, versions: [{ uuid: randomBytes(16), ts: Date.now(), state: { t: 'complete', data: { t: 'deleteMarker' } } }] }, { fresh: 'new' });
}

/** DeleteObject: 204 whether or not the key existed, as S3 does. */
export async function handleDeleteObject(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  await deleteObject(ctx.svc.model, bucket.id, requireKey(ctx));
  sendEmpty(ctx.res, 204);
}

function asArray<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** DeleteObjects (POST ?delete). */
export async function handleDeleteObjects(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString('utf8'));
  const del = doc.Delete as { Object?: unknown; Quiet?: string } | undefined;
  if (!del || typeof del !== 'object') throw new S3Error('MalformedXML', 'expected a <Delete> document');
  const objects = asArray(del.Object as { Key?: unknown }[] | { Key?: unknown } | undefined);
  if (objects.length > 1000) throw new S3Error('MalformedXML', 'at most 1000 keys can be deleted at once');
  const quiet = String(del.Quiet ?? '').toLowerCase() === 'true';
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  for (const o of objects) {
    if (typeof o?.Key !== 'string' && typeof o?.Key !== 'number') throw new S3Error('MalformedXML', 'each <Object> needs a <Key>');
    const key = String(o.Key);
    try {
      await deleteObject(ctx.svc.model, bucket.id, key);
      deleted.push({ Key: key });
    } catch (e) {
      errors.push({ Key: key, Code: 'InternalError', Message: (e as Error).message });
    }
  }
  sendXml(ctx.res, 200, toXml('DeleteResult', { Deleted: quiet ? [] : deleted, Error: errors }));
}
