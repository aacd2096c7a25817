import type { IncomingHttpHeaders } from 'node:http';
import type { BucketEntry } from '../../model/bucket.ts';
import { keyPerms } from '../../model/key.ts';
import { activeLock, type Retention, type RetentionMode, type VersionLock } from '../../model/lock.ts';
import type { DataVersion, ObjectMeta } from '../../model/object.ts';
import { lwwNext } from '../../util/crdt.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildToken, type XmlElement } from '../common/xml.ts';
import { isoDate, readXmlBody, sendEmpty, sendXml, type BucketCtx, type ObjectCtx, type ReqCtx } from './context.ts';
import { amendVersion, checkedVersionId, readVersion } from './versioning.ts';

const DAY_MS = 86_400_000;
const LOCK_LIMITS = { maxBytes: 64 * 1024, maxDepth: 5, maxElements: 100 };

/** S3's answer to a delete or a change that a lock forbids. */
const LOCKED = 'Access Denied because object protected by object lock.';

function mode(v: string | undefined, what: string): RetentionMode {
  if (v === 'GOVERNANCE' || v === 'COMPLIANCE') return v;
  throw new S3Error('MalformedXML', `${what} is GOVERNANCE or COMPLIANCE`);
}

/** A date an object lock names (ISO 8601), in ms; it must lie in the future. */
function futureDate(raw: string, what: string, now: number): number {
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new S3Error('InvalidArgument', `${what} must be an ISO 8601 date`, { ArgumentName: what });
  if (t <= now)
    throw new S3Error('InvalidArgument', 'The retain until date must be in the future!', { ArgumentName: what });
  return t;
}

/** Refuses object lock calls on a bucket without object lock. */
function requireLock(bucket: BucketEntry): void {
  if (!bucket.objectLock.v) throw new S3Error('InvalidRequest', 'Bucket is missing Object Lock Configuration');
}

/**
 * The lock a new version gets: from the `x-amz-object-lock-*` headers (or PostObject fields,
 * through `field`), else the bucket's default retention; undefined when none applies.
 */
export function newVersionLock(
  field: (name: string) => string | undefined,
  bucket: BucketEntry,
  now = Date.now(),
): VersionLock | undefined {
  const m = field('x-amz-object-lock-mode');
  const date = field('x-amz-object-lock-retain-until-date');
  const hold = field('x-amz-object-lock-legal-hold');
  if ((m === undefined) !== (date === undefined))
    throw new S3Error(
      'InvalidArgument',
      'x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied',
    );
  if (m !== undefined || date !== undefined || hold !== undefined) requireLock(bucket);
  if (hold !== undefined && hold !== 'ON' && hold !== 'OFF')
    throw new S3Error('InvalidArgument', 'Legal Hold must be either of ON or OFF', {
      ArgumentName: 'x-amz-object-lock-legal-hold',
    });
  let retention: Retention | undefined;
  if (m !== undefined && date !== undefined) {
    if (m !== 'GOVERNANCE' && m !== 'COMPLIANCE')
      throw new S3Error('InvalidArgument', 'Unknown wormMode directive.', { ArgumentName: 'x-amz-object-lock-mode' });
    retention = { mode: m, until: futureDate(date, 'x-amz-object-lock-retain-until-date', now) };
  } else {
    const d = bucket.objectLock.v?.defaultRetention;
    if (d) retention = { mode: d.mode, until: now + (d.days ?? (d.years ?? 0) * 365) * DAY_MS };
  }
  const lock: VersionLock = {
    ...(retention ? { retention: { ts: now, v: retention } } : {}),
    ...(hold !== undefined ? { legalHold: { ts: now, v: hold === 'ON' } } : {}),
  };
  return lock.retention || lock.legalHold ? lock : undefined;
}

/** The lock headers of a request (header names are lower case). */
export function headerField(h: IncomingHttpHeaders): (name: string) => string | undefined {
  return (name) => {
    const v = h[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
}

/** The `x-amz-object-lock-*` headers GET and HEAD answer for a version. */
export function lockHeaders(meta: ObjectMeta): Record<string, string> {
  const r = meta.lock?.retention?.v;
  const hold = meta.lock?.legalHold;
  return {
    ...(r ? { 'x-amz-object-lock-mode': r.mode, 'x-amz-object-lock-retain-until-date': isoDate(r.until) } : {}),
    ...(hold ? { 'x-amz-object-lock-legal-hold': hold.v ? 'ON' : 'OFF' } : {}),
  };
}

/** Whether the request asks to bypass GOVERNANCE retention and its key may (it owns the bucket). */
function bypassesGovernance(ctx: ReqCtx, bucket: BucketEntry): boolean {
  const asked = String(ctx.req.headers['x-amz-bypass-governance-retention'] ?? '').toLowerCase() === 'true';
  return asked && keyPerms(ctx.key, bucket.id.toString('hex')).owner;
}

/** Refuses the deletion of a version its lock protects (GOVERNANCE: unless bypassed by a key allowed to). */
export function checkDeletable(ctx: ReqCtx, bucket: BucketEntry, meta: ObjectMeta | undefined): void {
  const lock = meta?.lock && activeLock(meta.lock);
  if (!lock || (lock === 'GOVERNANCE' && bypassesGovernance(ctx, bucket))) return;
  throw new S3Error('AccessDenied', LOCKED);
}

/** GetObjectLockConfiguration. */
export function handleGetObjectLockConfig(ctx: BucketCtx): void {
  const lock = ctx.bucket.objectLock.v;
  if (!lock)
    throw new S3Error(
      'ObjectLockConfigurationNotFoundError',
      'Object Lock configuration does not exist for this bucket',
    );
  const d = lock.defaultRetention;
  sendXml(
    ctx.res,
    200,
    toXml('ObjectLockConfiguration', {
      ObjectLockEnabled: 'Enabled',
      ...(d
        ? { Rule: { DefaultRetention: { Mode: d.mode, ...(d.days ? { Days: d.days } : { Years: d.years }) } } }
        : {}),
    }),
  );
}

function positive(el: XmlElement, name: string): number | null {
  const v = xmlChildToken(el, name);
  if (v === undefined) return null;
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) <= 0)
    throw new S3Error('InvalidArgument', 'Default retention period must be a positive integer value');
  return Number(v);
}

/** PutObjectLockConfiguration: enables object lock (versioning must be enabled) and sets the default retention. */
export async function handlePutObjectLockConfig(ctx: BucketCtx): Promise<void> {
  const doc = await readXmlBody(ctx, 'ObjectLockConfiguration', LOCK_LIMITS);
  if (xmlChildToken(doc, 'ObjectLockEnabled') !== 'Enabled')
    throw new S3Error('MalformedXML', 'ObjectLockEnabled must be Enabled');
  const b = ctx.bucket;
  if (!b.objectLock.v && b.versioning.v !== 'Enabled')
    throw new S3Error(
      'InvalidBucketState',
      "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
    );
  const rule = xmlChild(doc, 'Rule');
  const dr = rule && xmlChild(rule, 'DefaultRetention');
  if (rule && !dr) throw new S3Error('MalformedXML', 'a Rule holds a DefaultRetention');
  let defaultRetention = null;
  if (dr) {
    const days = positive(dr, 'Days');
    const years = positive(dr, 'Years');
    if ((days === null) === (years === null))
      throw new S3Error('MalformedXML', 'a DefaultRetention has Days or Years, not both');
    defaultRetention = { mode: mode(xmlChildToken(dr, 'Mode'), 'Mode'), days, years };
  }
  await ctx.svc.model.bucket.insert({ ...b, objectLock: lwwNext(b.objectLock, { defaultRetention }) });
  sendEmpty(ctx.res, 200);
}

/** The version an object lock call acts on, in a bucket with object lock. */
async function lockedVersion(ctx: ObjectCtx): Promise<DataVersion> {
  requireLock(ctx.bucket);
  const entry = await ctx.svc.model.object.get(ctx.bucket.id, Buffer.from(ctx.objectKey));
  return readVersion(ctx.bucket, entry, checkedVersionId(ctx.query.get('versionId')));
}

/** GetObjectRetention. */
export async function handleGetObjectRetention(ctx: ObjectCtx): Promise<void> {
  const v = await lockedVersion(ctx);
  const r = v.state.data.meta.lock?.retention?.v;
  if (!r)
    throw new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
  sendXml(ctx.res, 200, toXml('Retention', { Mode: r.mode, RetainUntilDate: isoDate(r.until) }));
}

/**
 * PutObjectRetention: COMPLIANCE may only be extended; GOVERNANCE shortened or removed only with
 * x-amz-bypass-governance-retention by a key that owns the bucket.
 */
export async function handlePutObjectRetention(ctx: ObjectCtx): Promise<void> {
  const doc = await readXmlBody(ctx, 'Retention', LOCK_LIMITS);
  const now = Date.now();
  const m = xmlChildToken(doc, 'Mode');
  const date = xmlChildToken(doc, 'RetainUntilDate');
  if ((m === undefined) !== (date === undefined))
    throw new S3Error('MalformedXML', 'a Retention has both Mode and RetainUntilDate, or neither');
  const next: Retention | null =
    m === undefined || date === undefined
      ? null
      : { mode: mode(m, 'Mode'), until: futureDate(date, 'RetainUntilDate', now) };
  const v = await lockedVersion(ctx);
  const meta = v.state.data.meta;
  const cur = meta.lock?.retention?.v;
  const weaker = !next || next.until < (cur?.until ?? 0) || (cur?.mode === 'COMPLIANCE' && next.mode !== 'COMPLIANCE');
  if (cur?.mode === 'COMPLIANCE' && weaker) {
    // Replicas keep the strongest COMPLIANCE retention they see: an expired one is extended, never replaced.
    if (cur.until > now) throw new S3Error('AccessDenied', LOCKED);
    throw new S3Error(
      'InvalidRequest',
      'A version once under COMPLIANCE retention can only be given a later COMPLIANCE date',
    );
  }
  if (cur?.mode === 'GOVERNANCE' && cur.until > now && weaker && !bypassesGovernance(ctx, ctx.bucket))
    throw new S3Error('AccessDenied', LOCKED);
  const retention = lwwNext(meta.lock?.retention ?? { ts: 0, v: null }, next);
  await amendVersion(ctx, v, { ...meta, lock: { ...meta.lock, retention } });
  sendEmpty(ctx.res, 200);
}

/** GetObjectLegalHold. */
export async function handleGetObjectLegalHold(ctx: ObjectCtx): Promise<void> {
  const v = await lockedVersion(ctx);
  const hold = v.state.data.meta.lock?.legalHold;
  if (!hold)
    throw new S3Error('NoSuchObjectLockConfiguration', 'The specified object does not have a ObjectLock configuration');
  sendXml(ctx.res, 200, toXml('LegalHold', { Status: hold.v ? 'ON' : 'OFF' }));
}

/** PutObjectLegalHold. */
export async function handlePutObjectLegalHold(ctx: ObjectCtx): Promise<void> {
  const doc = await readXmlBody(ctx, 'LegalHold', LOCK_LIMITS);
  const status = xmlChildToken(doc, 'Status');
  if (status !== 'ON' && status !== 'OFF') throw new S3Error('MalformedXML', 'Legal hold Status is ON or OFF');
  const v = await lockedVersion(ctx);
  const meta = v.state.data.meta;
  const legalHold = lwwNext(meta.lock?.legalHold ?? { ts: 0, v: false }, status === 'ON');
  await amendVersion(ctx, v, { ...meta, lock: { ...meta.lock, legalHold } });
  sendEmpty(ctx.res, 200);
}
