import type { IncomingMessage } from 'node:http';
import type { Model } from '../../model/garage.ts';
import { visibleVersion } from '../../model/object.ts';
import { conditionHolds, type ClaimVote, type WriteCondition } from '../../model/object_claim.ts';
import { S3Error } from '../common/s3_error.ts';

/** The condition of a conditional write (PutObject, CompleteMultipartUpload): If-None-Match: * or If-Match. */
export function writeCondition(h: IncomingMessage['headers']): WriteCondition | undefined {
  const none = h['if-none-match'];
  const match = h['if-match'];
  if (none !== undefined && match !== undefined)
    throw new S3Error('NotImplemented', 'If-Match and If-None-Match together are not implemented for writes');
  if (none !== undefined) {
    if (none.trim() !== '*')
      throw new S3Error('NotImplemented', "If-None-Match on a write takes only '*' (the object must not exist)", {
        Header: 'If-None-Match',
      });
    return { t: 'absent' };
  }
  if (match === undefined) return undefined;
  const etags = match
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .map((t) => (/^"[^"]*"$/.test(t) ? t.slice(1, -1) : t))
    .filter((t) => t !== '');
  if (etags.length === 0 || etags.length > 100)
    throw new S3Error('InvalidArgument', 'If-Match must hold one to 100 ETags', { ArgumentName: 'If-Match' });
  return { t: 'etag', etags };
}

/** The error for a condition that did not hold (`vote` other than 'granted'). */
export function conditionError(vote: Exclude<ClaimVote, 'granted'>, cond: WriteCondition): S3Error {
  switch (vote) {
    case 'failed':
      return new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
        Condition: cond.t === 'absent' ? 'If-None-Match' : 'If-Match',
      });
    case 'missing':
      return new S3Error('NoSuchKey', 'The specified key does not exist.');
    case 'conflict':
      return new S3Error(
        'ConditionalRequestConflict',
        'A conflicting conditional operation is currently in progress against this resource. Retry the request (a multipart upload: start another upload).',
      );
  }
}

/** Checks a write condition against a read quorum before any data is taken, so that a failing one is refused at once. */
export async function checkWriteCondition(model: Model, bucketId: Buffer, key: string, cond: WriteCondition) {
  const vote = conditionHolds(cond, visibleVersion(await model.object.get(bucketId, Buffer.from(key))));
  if (vote !== 'granted') throw conditionError(vote, cond);
}

/**
 * Completes version `uuid` under `cond`: claims it on a write quorum of its replicas (throwing the
 * S3 error when refused), runs `complete`, then releases the claims (see object_claim.ts).
 */
export async function completeUnder(
  model: Model,
  target: { bucketId: Buffer; key: string; uuid: Buffer },
  cond: WriteCondition,
  complete: () => Promise<void>,
): Promise<void> {
  const { bucketId, key, uuid } = target;
  try {
    const vote = await model.claims.claim(bucketId, key, uuid, cond);
    if (vote !== 'granted') throw conditionError(vote, cond);
    await complete();
  } finally {
    model.claims.releaseAll(bucketId, key, uuid);
  }
}
