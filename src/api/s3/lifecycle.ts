import { lwwNext } from '../../util/crdt.ts';
import { randomBytes } from 'node:crypto';
import { ruleMatches, type LifecycleRule } from '../../model/bucket.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildren, xmlChildText, xmlChildToken, type XmlElement } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx } from './context.ts';
import { tagsOf, tagsXml } from './tagging.ts';
import type { Tag } from '../../model/tags.ts';

/** The positive integer in the child `name` of `el` (XML whitespace around it allowed), if it is there. */
function posInt(el: XmlElement | undefined, name: string, what: string): number | null {
  const v = el && xmlChildToken(el, name);
  if (v === undefined) return null;
  const n = /^[0-9]{1,9}$/.test(v) ? Number(v) : 0;
  if (n <= 0) throw new S3Error('InvalidArgument', `'${what}' for Expiration action must be a positive integer`);
  return n;
}

/** A byte count (0 allowed) in the child `name`, if it is there. */
function size(el: XmlElement, name: string): number | null {
  const v = xmlChildToken(el, name);
  if (v === undefined) return null;
  if (!/^[0-9]{1,16}$/.test(v)) throw new S3Error('InvalidArgument', `${name} must be a non-negative integer`);
  return Number(v);
}

// The scope of a rule: a legacy top-level <Prefix>, or a <Filter> holding one condition or an <And>.
function parseScope(
  r: XmlElement,
): Pick<LifecycleRule, 'prefix' | 'form' | 'sizeGreaterThan' | 'sizeLessThan' | 'tags'> {
  const filter = xmlChild(r, 'Filter');
  const legacy = xmlChildText(r, 'Prefix');
  if (filter && legacy !== undefined) throw new S3Error('MalformedXML', 'a rule has a Filter or a Prefix, not both');
  if (!filter)
    return legacy === undefined
      ? { prefix: '', form: 'none', sizeGreaterThan: null, sizeLessThan: null }
      : { prefix: legacy, form: 'legacy', sizeGreaterThan: null, sizeLessThan: null };
  const conditions = ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan', 'And'].filter(
    (k) => xmlChildren(filter, k).length > 0,
  );
  if (conditions.length > 1) throw new S3Error('MalformedXML', 'a Filter holds one condition; combine them with And');
  const and = xmlChild(filter, 'And');
  const scope = and ?? filter;
  const tags = tagsOf(scope);
  if (!and && tags.length > 1) throw new S3Error('MalformedXML', 'a Filter holds one Tag; combine several with And');
  if (new Set(tags.map(([k]) => k)).size !== tags.length)
    throw new S3Error('InvalidRequest', 'Duplicate Tag Keys are not allowed.');
  const gt = size(scope, 'ObjectSizeGreaterThan');
  const lt = size(scope, 'ObjectSizeLessThan');
  if (gt !== null && lt !== null && lt <= gt)
    throw new S3Error('InvalidArgument', 'ObjectSizeLessThan must be greater than ObjectSizeGreaterThan');
  // The prefix is a string, used exactly as written.
  return {
    prefix: xmlChildText(scope, 'Prefix') ?? '',
    form: and ? 'and' : 'filter',
    sizeGreaterThan: gt,
    sizeLessThan: lt,
    ...(tags.length ? { tags } : {}),
  };
}

/** A rule ID for a rule given without one (as S3 makes: random, 48 characters). */
function generatedId(): string {
  return randomBytes(36).toString('base64url');
}

/** Parses one <Rule>; throws NotImplemented for actions this server does not perform. */
function parseRule(r: XmlElement): LifecycleRule {
  for (const k of ['Transition', 'NoncurrentVersionTransition']) {
    if (xmlChildren(r, k).length) throw new S3Error('NotImplemented', `lifecycle ${k} is not supported`);
  }
  const id = xmlChildText(r, 'ID');
  if (id !== undefined && id.length > 255)
    throw new S3Error('InvalidArgument', 'ID length should not exceed allowed limit of 255');
  const status = xmlChildText(r, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled')
    throw new S3Error('MalformedXML', 'Status must be Enabled or Disabled');
  const exp = xmlChild(r, 'Expiration');
  const abort = xmlChild(r, 'AbortIncompleteMultipartUpload');
  const rule: LifecycleRule = {
    id: id === undefined || id === '' ? generatedId() : id,
    enabled: status === 'Enabled',
    ...parseScope(r),
    expirationDays: posInt(exp, 'Days', 'Days'),
    expirationDate: null,
    abortMpuDays: null,
  };
  const abortDays = abort && xmlChildToken(abort, 'DaysAfterInitiation');
  if (abortDays !== undefined) {
    if (!/^[0-9]{1,9}$/.test(abortDays) || Number(abortDays) <= 0)
      throw new S3Error(
        'InvalidArgument',
        "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
      );
    rule.abortMpuDays = Number(abortDays);
  }
  const date = exp && xmlChildToken(exp, 'Date');
  if (date !== undefined) {
    const t = Date.parse(date);
    if (Number.isNaN(t)) throw new S3Error('InvalidArgument', 'Expiration.Date must be an ISO 8601 date');
    if (t % 86_400_000 !== 0) throw new S3Error('InvalidArgument', "'Date' must be at midnight GMT");
    rule.expirationDate = t;
  }
  const marker = exp && xmlChildToken(exp, 'ExpiredObjectDeleteMarker');
  if (marker !== undefined) {
    if (marker !== 'true' && marker !== 'false')
      throw new S3Error('MalformedXML', 'ExpiredObjectDeleteMarker must be true or false');
    if (rule.expirationDays !== null || rule.expirationDate !== null)
      throw new S3Error(
        'MalformedXML',
        'ExpiredObjectDeleteMarker cannot be specified with Days or Date in an Expiration',
      );
    if (rule.sizeGreaterThan !== null || rule.sizeLessThan !== null)
      throw new S3Error('InvalidArgument', 'ExpiredObjectDeleteMarker cannot be specified with object size filters');
    if (rule.tags) throw new S3Error('InvalidRequest', 'ExpiredObjectDeleteMarker cannot be specified with tags.');
    rule.expiredObjectDeleteMarker = marker === 'true';
  }
  if (exp && rule.expirationDays !== null && rule.expirationDate !== null)
    throw new S3Error('MalformedXML', 'an Expiration has Days or Date, not both');
  if (
    exp &&
    rule.expirationDays === null &&
    rule.expirationDate === null &&
    rule.expiredObjectDeleteMarker === undefined
  )
    throw new S3Error('MalformedXML', 'an Expiration needs Days, Date or ExpiredObjectDeleteMarker');
  const noncurrent = xmlChildren(r, 'NoncurrentVersionExpiration');
  if (noncurrent.length > 1) throw new S3Error('MalformedXML', 'a rule has at most one NoncurrentVersionExpiration');
  if (noncurrent[0]) {
    const days = xmlChildToken(noncurrent[0], 'NoncurrentDays');
    if (days === undefined || !/^[0-9]{1,9}$/.test(days) || Number(days) <= 0)
      throw new S3Error(
        'InvalidArgument',
        "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
      );
    rule.noncurrentDays = Number(days);
    const newer = xmlChildToken(noncurrent[0], 'NewerNoncurrentVersions');
    if (newer !== undefined) {
      if (!/^[0-9]{1,3}$/.test(newer) || Number(newer) < 1 || Number(newer) > 100)
        throw new S3Error('InvalidArgument', "'NewerNoncurrentVersions' must be an integer from 1 to 100");
      rule.newerNoncurrentVersions = Number(newer);
    }
  }
  if (rule.abortMpuDays !== null && (rule.sizeGreaterThan !== null || rule.sizeLessThan !== null))
    throw new S3Error('InvalidArgument', 'AbortIncompleteMultipartUpload cannot be specified with object size filters');
  if (rule.abortMpuDays !== null && rule.tags)
    throw new S3Error('InvalidRequest', 'AbortIncompleteMultipartUpload cannot be specified with Tags.');
  if (!exp && rule.abortMpuDays === null && !noncurrent[0])
    throw new S3Error(
      'MalformedXML',
      'a rule needs Expiration, NoncurrentVersionExpiration or AbortIncompleteMultipartUpload',
    );
  return rule;
}

/** The scope of a rule, as it was written. */
function scopeXml(r: LifecycleRule): Record<string, unknown> {
  const sizes = {
    ...(r.sizeGreaterThan !== undefined && r.sizeGreaterThan !== null
      ? { ObjectSizeGreaterThan: r.sizeGreaterThan }
      : {}),
    ...(r.sizeLessThan !== undefined && r.sizeLessThan !== null ? { ObjectSizeLessThan: r.sizeLessThan } : {}),
  };
  const tags = r.tags?.length ? { Tag: tagsXml(r.tags) } : undefined;
  switch (r.form ?? 'filter') {
    case 'legacy':
      return { Prefix: r.prefix };
    case 'none':
      return {};
    case 'and':
      return { Filter: { And: { ...(r.prefix ? { Prefix: r.prefix } : {}), ...tags, ...sizes } } };
    case 'filter':
      return { Filter: tags ?? (Object.keys(sizes).length ? sizes : { Prefix: r.prefix }) };
  }
}

/** GetBucketLifecycleConfiguration: the rules as they were written (with generated IDs). */
export function handleGetLifecycle(ctx: BucketCtx): void {
  const rules = ctx.bucket.lifecycle.v;
  if (!rules) throw new S3Error('NoSuchLifecycleConfiguration', 'The lifecycle configuration does not exist');
  const expiration = (r: LifecycleRule) =>
    r.expirationDays !== null
      ? { Expiration: { Days: r.expirationDays } }
      : r.expirationDate !== null
        ? { Expiration: { Date: new Date(r.expirationDate).toISOString() } }
        : r.expiredObjectDeleteMarker !== undefined
          ? { Expiration: { ExpiredObjectDeleteMarker: String(r.expiredObjectDeleteMarker) } }
          : {};
  sendXml(
    ctx.res,
    200,
    toXml('LifecycleConfiguration', {
      Rule: rules.map((r) => ({
        ...(r.id !== null ? { ID: r.id } : {}),
        ...scopeXml(r),
        Status: r.enabled ? 'Enabled' : 'Disabled',
        ...expiration(r),
        ...(r.noncurrentDays
          ? {
              NoncurrentVersionExpiration: {
                NoncurrentDays: r.noncurrentDays,
                ...(r.newerNoncurrentVersions ? { NewerNoncurrentVersions: r.newerNoncurrentVersions } : {}),
              },
            }
          : {}),
        ...(r.abortMpuDays !== null ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: r.abortMpuDays } } : {}),
      })),
    }),
  );
}

/**
 * The `x-amz-expiration` header of an object a rule expires: the earliest expiry among the
 * enabled rules that match it (a Days rule expires at the midnight UTC after the days have
 * passed, as S3 computes it), or undefined.
 */
export function expirationHeader(
  rules: LifecycleRule[] | null,
  key: string,
  size: number,
  lastModified: number,
  tags?: readonly Tag[],
): string | undefined {
  let best: { at: number; id: string } | undefined;
  for (const r of rules ?? []) {
    if (!r.enabled || !ruleMatches(r, key, size, tags)) continue;
    let at: number | undefined;
    if (r.expirationDate !== null) at = r.expirationDate;
    else if (r.expirationDays !== null) {
      const due = lastModified + r.expirationDays * 86_400_000;
      at = Math.ceil(due / 86_400_000) * 86_400_000;
    }
    if (at !== undefined && (!best || at < best.at)) best = { at, id: r.id ?? '' };
  }
  return best && `expiry-date="${new Date(best.at).toUTCString()}", rule-id="${best.id}"`;
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
  const ids = new Set<string>();
  for (const r of rules) {
    if (r.id !== null && ids.has(r.id))
      throw new S3Error('InvalidArgument', 'Rule ID must be unique. Found same ID for more than one rule');
    if (r.id !== null) ids.add(r.id);
  }
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, rules) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketLifecycle. */
export async function handleDeleteLifecycle(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  await ctx.svc.model.bucket.insert({ ...bucket, lifecycle: lwwNext(bucket.lifecycle, null) });
  sendEmpty(ctx.res, 204);
}
