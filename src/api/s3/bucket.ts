import type { BucketEntry } from '../../model/bucket.ts';
import { AdminError, BucketNotEmptyError } from '../../util/errors.ts';
import { lwwNext } from '../../util/crdt.ts';
import { keyPerms } from '../../model/key.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChildText } from '../common/xml.ts';
import {
  decimalParam,
  isoDate,
  readOptionalXmlBody,
  sendEmpty,
  sendXml,
  type ReqCtx,
  type BucketCtx,
} from './context.ts';

/**
 * ListBuckets: the buckets the key has any permission on, under the names it sees, by name;
 * `prefix`, `bucket-region`, and pages of `max-buckets` (the continuation token is the last
 * name of the previous page, base64url: opaque to clients, stable across calls).
 */
export async function handleListBuckets(ctx: ReqCtx): Promise<void> {
  const { helpers, region } = ctx.svc;
  const q = ctx.query;
  const max = decimalParam(q, 'max-buckets', 1, 10000);
  const prefix = q.get('prefix') ?? '';
  const token = q.get('continuation-token');
  const after = token === null ? undefined : Buffer.from(token, 'base64url').toString('utf8');
  if (token !== null && (token === '' || Buffer.from(after ?? '').toString('base64url') !== token))
    throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', {
      ArgumentName: 'continuation-token',
    });
  const regionWanted = q.get('bucket-region');
  const out: { Name: string; CreationDate: string; BucketRegion: string }[] = [];
  for (const [bid, p] of ctx.key.buckets) {
    if (!(p.v.read || p.v.write || p.v.owner)) continue;
    const b = await helpers.getBucket(Buffer.from(bid, 'hex'));
    if (!b) continue;
    const names = new Set(helpers.globalAliases(b));
    for (const [name, l] of ctx.key.localAliases) if (l.v === bid) names.add(name);
    for (const name of names)
      if (name.startsWith(prefix) && (after === undefined || name > after))
        out.push({ Name: name, CreationDate: isoDate(b.created), BucketRegion: region });
  }
  if (regionWanted !== null && regionWanted !== region) out.length = 0;
  out.sort((a, b) => (a.Name < b.Name ? -1 : 1));
  const page = max === undefined ? out : out.slice(0, max);
  const truncated = page.length < out.length;
  sendXml(
    ctx.res,
    200,
    toXml('ListAllMyBucketsResult', {
      Owner: { ID: ctx.key.id, DisplayName: ctx.key.name.v },
      Buckets: { Bucket: page },
      ContinuationToken: truncated ? Buffer.from(page[page.length - 1]!.Name).toString('base64url') : undefined,
      Prefix: q.has('prefix') ? prefix : undefined,
    }),
  );
}

/** CreateBucket: needs a key allowed to create buckets; re-creating one's own bucket is fine. */
export async function handleCreateBucket(ctx: ReqCtx, name: string, existing: BucketEntry | undefined): Promise<void> {
  if (existing) {
    if (keyPerms(ctx.key, existing.id.toString('hex')).owner) {
      sendEmpty(ctx.res, 200, { location: `/${name}` });
      return;
    }
    throw new S3Error('BucketAlreadyExists', 'The requested bucket name is not available.');
  }
  // An optional CreateBucketConfiguration body names a location; it must be our region.
  const conf = await readOptionalXmlBody(ctx, 'CreateBucketConfiguration', { maxBytes: 64 * 1024 });
  const location = conf && xmlChildText(conf, 'LocationConstraint');
  if (location && location !== ctx.svc.region) {
    throw new S3Error(
      'InvalidArgument',
      `location constraint '${location}' does not match this server's region '${ctx.svc.region}'`,
    );
  }
  if (!ctx.key.allowCreateBucket.v)
    throw new S3Error(
      'AccessDenied',
      `key ${ctx.key.id} is not allowed to create buckets (garage key allow --create-bucket)`,
    );
  // x-amz-bucket-object-lock-enabled: the bucket is created versioned, with object lock for good.
  const locked = String(ctx.req.headers['x-amz-bucket-object-lock-enabled'] ?? '').toLowerCase() === 'true';
  try {
    const b = await ctx.svc.helpers.createBucket(name, ctx.key);
    if (locked)
      await ctx.svc.model.bucket.insert({
        ...b,
        versioning: lwwNext(b.versioning, 'Enabled'),
        objectLock: lwwNext(b.objectLock, { defaultRetention: null }),
      });
  } catch (e) {
    if (e instanceof AdminError)
      throw new S3Error(/invalid bucket name/.test(e.message) ? 'InvalidBucketName' : 'BucketAlreadyExists', e.message);
    throw e;
  }
  sendEmpty(ctx.res, 200, { location: `/${name}` });
}

/** HeadBucket. */
export async function handleHeadBucket(ctx: BucketCtx): Promise<void> {
  sendEmpty(ctx.res, 200, { 'x-amz-bucket-region': ctx.svc.region });
}

/** DeleteBucket: only without visible objects; in-progress multipart uploads are aborted with it. */
export async function handleDeleteBucket(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  try {
    await ctx.svc.helpers.deleteBucket(bucket);
  } catch (e) {
    if (e instanceof BucketNotEmptyError)
      throw new S3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty');
    throw e;
  }
  sendEmpty(ctx.res, 204);
}

/** GetBucketLocation. */
export function handleGetLocation(ctx: BucketCtx): void {
  sendXml(
    ctx.res,
    200,
    `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${ctx.svc.region}</LocationConstraint>`,
  );
}
