import { lwwNext } from '../../util/crdt.ts';
import type { LifecycleRule } from '../../model/bucket.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildren, xmlChildText, xmlChildToken, type XmlElement } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx } from './context.ts';

/** The positive integer in the child `name` of `el` (XML whitespace around it allowed), if it is there. */
function posInt(el: XmlElement | undefined, name: string, what: string): number | null {
  const v = el && xmlChildToken(el, name);
  if (v === undefined) return null;
  const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : 0;
  if (n <= 0) throw new S3Error('InvalidArgument', `${what} must be a positive integer`);
  return n;
}

/** Parses one <Rule>; throws NotImplemented for actions this server does not perform. */
function parseRule(r: XmlElement): LifecycleRule {
  for (const k of ['Transition', 'NoncurrentVersionTransition', 'NoncurrentVersionExpiration']) {
    if (xmlChildren(r, k).length) throw new S3Error('NotImplemented', `lifecycle ${k} is not supported`);
  }
  const filter = xmlChild(r, 'Filter');
  if (
    filter &&
    ['And', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].some((k) => xmlChildren(filter, k).length)
  ) {
    throw new S3Error('NotImplemented', 'lifecycle filters other than Prefix are not supported');
  }
  // The prefix and the ID are strings, used exactly as written.
  const prefix = (filter && xmlChildText(filter, 'Prefix')) ?? xmlChildText(r, 'Prefix') ?? '';
  const status = xmlChildText(r, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled')
    throw new S3Error('MalformedXML', 'Status must be Enabled or Disabled');
  const exp = xmlChild(r, 'Expiration');
  const abort = xmlChild(r, 'AbortIncompleteMultipartUpload');
  const rule: LifecycleRule = {
    id: xmlChildText(r, 'ID') ?? null,
    enabled: status === 'Enabled',
    prefix,
    expirationDays: posInt(exp, 'Days', 'Expiration.Days'),
    expirationDate: null,
    abortMpuDays: posInt(abort, 'DaysAfterInitiation', 'DaysAfterInitiation'),
  };
  const date = exp && xmlChildToken(exp, 'Date');
  if (date !== undefined) {
    const t = Date.parse(date);
    if (Number.isNaN(t)) throw new S3Error('InvalidArgument', 'Expiration.Date must be an ISO 8601 date');
    rule.expirationDate = t;
  }
  if (exp && xmlChild(exp, 'ExpiredObjectDeleteMarker') && rule.expirationDays === null && rule.expirationDate === null)
    throw new S3Error('NotImplemented', 'ExpiredObjectDeleteMarker is not supported');
  if (rule.expirationDays === null && rule.expirationDate === null && rule.abortMpuDays === null)
    throw new S3Error('MalformedXML', 'a rule needs Expiration or AbortIncompleteMultipartUpload');
  return rule;
}

/** GetBucketLifecycleConfiguration. */
export function handleGetLifecycle(ctx: BucketCtx): void {
  const rules = ctx.bucket.lifecycle.v;
  if (!rules) throw new S3Error('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist');
  sendXml(
    ctx.res,
    200,
    toXml('LifecycleConfiguration', {
      Rule: rules.map((r) => ({
        ...(r.id !== null ? { ID: r.id } : {}),
        Filter: { Prefix: r.prefix },
        Status: r.enabled ? 'Enabled' : 'Disabled',
        ...(r.expirationDays !== null
          ? { Expiration: { Days: r.expirationDays } }
          : r.expirationDate !== null
            ? { Expiration: { Date: new Date(r.expirationDate).toISOString() } }
            : {}),
        ...(r.abortMpuDays !== null ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortMpuDays } } : {}),
      })),
    }),
  );
}

/** A configuration holds at most 1000 rules (as S3); the 1001st is refused as it opens. */
const LIFECYCLE_LIMITS = {
  maxBytes: 1024 * 1024,
  maxElements: 20_000,
  maxCount: { Rule: { max: 1000, message: 'a LifecycleConfiguration holds 1 to 1000 rules' } },
};

/** PutBucketLifecycleConfiguration. */
export async function handlePutLifecycle(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const conf = await readXmlBody(ctx, 'LifecycleConfiguration', LIFECYCLE_LIMITS);
  const raw = xmlChildren(conf, 'Rule');
  if (raw.length === 0) throw new S3Error('MalformedXML', 'a LifecycleConfiguration holds 1 to 1000 rules');
  const rules = raw.map(parseRule);
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, rules) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketLifecycle. */
export async function handleDeleteLifecycle(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, null) });
  sendEmpty(ctx.res, 204);
}
