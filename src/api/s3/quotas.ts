import { pipeline, Transform, type Readable } from 'node:stream';
import { writeKind, type BucketEntry } from '../../model/bucket.ts';
import { findVersion, versionSize, visibleVersion } from '../../model/object.ts';
import { S3Error } from '../common/s3_error.ts';
import type { S3Services } from './context.ts';

/**
 * Refuses a write that would take the bucket over its quotas (only buckets with quotas pay a read).
 * Returns how many bytes the new object may have (Infinity without a size quota), for bodies whose
 * announced size cannot be trusted or is unknown (see `limitToQuota`).
 */
export async function checkQuotas(
  svc: Pick<S3Services, 'model'>,
  bucket: BucketEntry,
  key: string,
  newSize: number,
): Promise<number> {
  const q = bucket.quotas.v;
  if (q.maxSize === null && q.maxObjects === null) return Number.POSITIVE_INFINITY;
  const [counts, existing] = await Promise.all([
    svc.model.bucketCounts(bucket.id),
    svc.model.object.get(bucket.id, Buffer.from(key)),
  ]);
  // Counts hold every version's bytes: a new version replaces only the null one, and only where
  // versioning is not enabled.
  const replaced = writeKind(bucket) === 'enabled' ? undefined : findVersion(existing, 'null');
  const objects = counts.objects + (visibleVersion(existing) ? 0 : 1);
  const others = counts.bytes - (replaced ? versionSize(replaced) : 0);
  if (q.maxObjects !== null && objects > q.maxObjects)
    throw new S3Error('QuotaExceeded', `Bucket quota exceeded: at most ${q.maxObjects} objects`);
  if (q.maxSize !== null && others + newSize > q.maxSize)
    throw new S3Error('QuotaExceeded', `Bucket quota exceeded: at most ${q.maxSize} bytes`);
  return q.maxSize === null ? Number.POSITIVE_INFINITY : Math.max(0, q.maxSize - others);
}

/**
 * Counts a body's bytes as they stream and fails it with QuotaExceeded past `allowed` bytes, so a
 * body without a declared size (chunked, PostObject) cannot exceed the quota.
 */
export function limitToQuota(body: Readable, allowed: number): Readable {
  if (allowed === Number.POSITIVE_INFINITY) return body;
  let n = 0;
  const guard = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      if (n > allowed)
        cb(
          new S3Error(
            'QuotaExceeded',
            `Bucket quota exceeded: the object is larger than the ${allowed} bytes left in the bucket's size quota`,
          ),
        );
      else cb(null, chunk);
    },
  });
  // Either side's failure reaches the consumer through `guard` (with its own error).
  return pipeline(body, guard, () => undefined);
}

/** The size a request announces for its body, if it does (plain decimal digits only). */
export function declaredSize(headers: Record<string, string | string[] | undefined>): number {
  const raw = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  return v !== undefined && /^[0-9]{1,16}$/.test(v) ? Number(v) : 0;
}
