import { lwwNext } from '../../util/crdt.ts';
import type { BucketEntry } from '../../model/bucket.ts';
import {
  findVersion,
  isDataVersion,
  lastComplete,
  versionIdOf,
  visibleVersion,
  type DataVersion,
  type ObjectEntry,
  type ObjectMeta,
  type ObjectVersion,
} from '../../model/object.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChildToken } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx } from './context.ts';

/** GetBucketVersioning: no Status until versioning was first enabled. */
export function handleGetVersioning(ctx: BucketCtx): void {
  const status = ctx.bucket.versioning.v;
  sendXml(ctx.res, 200, toXml('VersioningConfiguration', status ? { Status: status } : {}));
}

/** PutBucketVersioning: Enabled or Suspended (a bucket once versioned is never unversioned again). */
export async function handlePutVersioning(ctx: BucketCtx): Promise<void> {
  const doc = await readXmlBody(ctx, 'VersioningConfiguration', { maxBytes: 64 * 1024, maxDepth: 2 });
  const status = xmlChildToken(doc, 'Status');
  const mfa = xmlChildToken(doc, 'MfaDelete');
  if (mfa !== undefined && mfa !== 'Disabled') {
    if (mfa === 'Enabled') throw new S3Error('NotImplemented', 'MFA delete is not implemented');
    throw new S3Error('MalformedXML', 'MfaDelete is Enabled or Disabled');
  }
  if (status === undefined) {
    sendEmpty(ctx.res, 200);
    return;
  }
  if (status !== 'Enabled' && status !== 'Suspended')
    throw new S3Error('MalformedXML', 'The versioning Status is Enabled or Suspended');
  const b = ctx.bucket;
  if (b.objectLock.v && status !== 'Enabled')
    throw new S3Error(
      'InvalidBucketState',
      'An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.',
    );
  if (b.versioning.v !== status) await ctx.svc.model.bucket.insert({ ...b, versioning: lwwNext(b.versioning, status) });
  sendEmpty(ctx.res, 200);
}

/** The `versionId` of a request (query parameter or copy source), checked; undefined without one. */
export function checkedVersionId(id: string | null | undefined): string | undefined {
  if (id === null || id === undefined) return undefined;
  if (id !== 'null' && !/^[0-9a-f]{32}$/.test(id)) throw new S3Error('InvalidArgument', 'Invalid version id specified');
  return id;
}

/**
 * Re-inserts a complete version with new metadata (tags, object lock) as a completion: it
 * applies only where the version is held complete, never reviving one superseded or deleted.
 */
export async function amendVersion(ctx: ObjectCtx, v: DataVersion, meta: ObjectMeta): Promise<void> {
  await ctx.svc.model.object.insert(
    {
      bucketId: ctx.bucket.id,
      key: ctx.objectKey,
      versions: [{ ...v, state: { t: 'complete', data: { ...v.state.data, meta } } }],
    },
    { completion: true },
  );
}

/** `x-amz-version-id` of a version, for buckets that are or were versioned (S3 sends none otherwise). */
export function versionHeaders(
  bucket: BucketEntry,
  v: Pick<ObjectVersion, 'uuid' | 'versioning'>,
): Record<string, string> {
  return bucket.versioning.v !== null || v.versioning === 'enabled' ? { 'x-amz-version-id': versionIdOf(v) } : {};
}

/**
 * The object version a read names: the current one, or the one `versionId` names. A key whose
 * current version is a delete marker is NoSuchKey, a marker named by id MethodNotAllowed (both
 * with `x-amz-delete-marker`), an id naming nothing NoSuchVersion.
 */
export function readVersion(bucket: BucketEntry, e: ObjectEntry | undefined, versionId?: string): DataVersion {
  if (versionId === undefined) {
    const v = visibleVersion(e);
    if (v) return v;
    const marker = e && lastComplete(e);
    const headers = marker ? { 'x-amz-delete-marker': 'true', ...versionHeaders(bucket, marker) } : {};
    throw new S3Error('NoSuchKey', 'The specified key does not exist.', {}, headers);
  }
  const v = findVersion(e, versionId);
  if (!v) throw new S3Error('NoSuchVersion', 'The specified version does not exist.', { VersionId: versionId });
  if (!isDataVersion(v))
    throw new S3Error(
      'MethodNotAllowed',
      'The specified method is not allowed against this resource.',
      { Method: 'GET', ResourceType: 'DeleteMarker' },
      { 'x-amz-delete-marker': 'true', ...versionHeaders(bucket, v), allow: 'DELETE' },
    );
  return v;
}
