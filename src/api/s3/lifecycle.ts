import { lwwNext } from '../../table/crdt.ts';
import type { LifecycleRule } from '../../model/bucket.ts';
import { S3Error } from '../common/s3_error.ts';
import { parseXml, toXml } from '../common/xml.ts';
import { readSmallBody, requireBucket, sendEmpty, sendXml, type ReqCtx } from './context.ts';

function posInt(v: unknown, what: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new S3Error('InvalidArgument', `${what} must be a positive integer`);
  return n;
}

/** Parses one <Rule>; throws NotImplemented for actions this server does not perform. */
function parseRule(r: Record<string, unknown>): LifecycleRule {
  for (const k of ['Transition', 'NoncurrentVersionTransition', 'NoncurrentVersionExpiration']) {
    if (r[k] !== undefined) throw new S3Error('NotImplemented', `lifecycle ${k} is not supported`);
  }
  const filter = r.Filter as Record<string, unknown> | undefined;
  if (filter && (filter.And !== undefined || filter.Tag !== undefined || filter.ObjectSizeGreaterThan !== undefined || filter.ObjectSizeLessThan !== undefined)) {
    throw new S3Error('NotImplemented', 'lifecycle filters other than Prefix are not supported');
  }
  const prefix = String(filter?.Prefix ?? r.Prefix ?? '');
  const status = String(r.Status ?? '');
  if (status !== 'Enabled' && status !== 'Disabled') throw new S3Error('MalformedXML', 'Status must be Enabled or Disabled');
  const exp = r.Expiration as Record<string, unknown> | undefined;
  const abort = r.AbortIncompleteMultipartUpload as Record<string, unknown> | undefined;
  const rule: LifecycleRule = {
    id: r.ID === undefined ? null : String(r.ID),
    enabled: status === 'Enabled',
    prefix,
    expirationDays: exp?.Days !== undefined ? posInt(exp.Days, 'Expiration.Days') : null,
    expirationDate: null,
    abortMpuDays: abort?.DaysAfterInitiation !== undefined ? posInt(abort.DaysAfterInitiation, 'DaysAfterInitiation') : null,
  };
  if (exp?.Date !== undefined) {
    const t = Date.parse(String(exp.Date));
    if (Number.isNaN(t)) throw new S3Error('InvalidArgument', 'Expiration.Date must be an ISO 8601 date');
    rule.expirationDate = t;
  }
  if (exp?.ExpiredObjectDeleteMarker !== undefined && rule.expirationDays === null && rule.expirationDate === null) throw new S3Error('NotImplemented', 'ExpiredObjectDeleteMarker is not supported');
  if (rule.expirationDays === null && rule.expirationDate === null && rule.abortMpuDays === null) throw new S3Error('MalformedXML', 'a rule needs Expiration or AbortIncompleteMultipartUpload');
  return rule;
}

/** GetBucketLifecycleConfiguration. */
export function handleGetLifecycle(ctx: ReqCtx): void {
  const rules = requireBucket(ctx).lifecycle.v;
  if (!rules) throw new S3Error('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist');
  sendXml(ctx.res, 200, toXml('LifecycleConfiguration', {
    Rule: rules.map((r) => ({
      ...(r.id !== null ? { ID: r.id } : {}),
      Filter: { Prefix: r.prefix },
      Status: r.enabled ? 'Enabled' : 'Disabled',
      ...(r.expirationDays !== null ? { Expiration: { Days: r.expirationDays } } : r.expirationDate !== null ? { Expiration: { Date: new Date(r.expirationDate).toISOString() } } : {}),
      ...(r.abortMpuDays !== null ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortMpuDays } } : {}),
    })),
  }));
}

/** PutBucketLifecycleConfiguration. */
export async function handlePutLifecycle(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString('utf8'));
  const conf = doc.LifecycleConfiguration as { Rule?: unknown } | undefined;
  if (!conf || typeof conf !== 'object') throw new S3Error('MalformedXML', 'expected a <LifecycleConfiguration> document');
  const raw = (Array.isArray(conf.Rule) ? conf.Rule : []) as Record<string, unknown>[];
  if (raw.length === 0 || raw.length > 1000) throw new S3Error('MalformedXML', 'a LifecycleConfiguration holds 1 to 1000 rules');
  const rules = raw.map(parseRule);
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, rules) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketLifecycle. */
export async function handleDeleteLifecycle(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, null) });
  sendEmpty(ctx.res, 204);
}

