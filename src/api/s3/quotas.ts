import type { BucketEntry } from '../../model/bucket.ts';
import { visibleVersion } from '../../model/object.ts';
import { S3Error } from '../common/s3_error.ts';
import type { S3Services } from './context.ts';

/** Refuses a write that would take the bucket over its quotas (only buckets with quotas pay a read). */
export async function checkQuotas(svc: Pick<S3Services, 'model'>, bucket: BucketEntry, key: string, newSize: number): Promise<void> {
  const q = bucket.quotas.v;
  if (q.maxSize === null && q.maxObjects === null) return;
  const [counts, existing] = await Promise.all([svc.model.bucketCounts(bucket.id), svc.model.object.get(bucket.id, Buffer.from(key))]);
  const prev = visibleVersion(existing);
  const objects = counts.objects + (prev ? 0 : 1);
  const bytes = counts.bytes + newSize - (prev ? prev.state.data.meta.size : 0);
  if (q.maxObjects !== null && objects > q.maxObjects) throw new S3Error('QuotaExceeded', `Bucket quota exceeded: at most ${q.maxObjects} objects`);
  if (q.maxSize !== null && bytes > q.maxSize) throw new S3Error('QuotaExceeded', `Bucket quota exceeded: at most ${q.maxSize} bytes`);
}

/** The size a request announces for its body, if it does. */
export function declaredSize(headers: Record<string, string | string[] | undefined>): number {
  const v = headers['x-amz-decoded-content-length'] ?? headers['content-length'];
  const n = Number(Array.isArray(v) ? v[0] : v);
  return Number.isFinite(n) && n >= 0 ? n : 0;
}
