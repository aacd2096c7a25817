import { z } from 'zod';
import { mergeLww, zLww, type Lww } from '../util/crdt.ts';

/** S3's retention modes: GOVERNANCE may be lifted by a key allowed to; COMPLIANCE by nobody. */
export type RetentionMode = 'GOVERNANCE' | 'COMPLIANCE';

/** An object version's retention: it may not be deleted before `until` (ms since epoch). */
export interface Retention {
  mode: RetentionMode;
  until: number;
}

/** The lock of one version: its retention and legal hold, each a register changed after the version is complete. */
export interface VersionLock {
  retention?: Lww<Retention | null>;
  legalHold?: Lww<boolean>;
}

/** A bucket's object lock configuration (its presence means object lock is enabled, for good). */
export interface BucketLock {
  /** The retention new versions get when their write names none. */
  defaultRetention: { mode: RetentionMode; days: number | null; years: number | null } | null;
}

export const zRetentionMode = z.enum(['GOVERNANCE', 'COMPLIANCE']);
export const zRetention: z.ZodType<Retention> = z.object({ mode: zRetentionMode, until: z.number() });
export const zVersionLock: z.ZodType<VersionLock> = z.object({
  retention: zLww(zRetention.nullable()).optional(),
  legalHold: zLww(z.boolean()).optional(),
});
export const zBucketLock: z.ZodType<BucketLock> = z.object({
  defaultRetention: z
    .object({ mode: zRetentionMode, days: z.number().nullable(), years: z.number().nullable() })
    .nullable(),
});

/**
 * Merges two retention registers so that a COMPLIANCE retention only ever grows, whatever
 * concurrent writes say: any COMPLIANCE value wins over others, the latest date among them;
 * GOVERNANCE and none are last-writer-wins. Each value is ranked, the highest kept, so the merge
 * is associative and commutative.
 */
export function mergeRetention(a: Lww<Retention | null>, b: Lww<Retention | null>): Lww<Retention | null> {
  const ca = a.v?.mode === 'COMPLIANCE' ? a.v.until : undefined;
  const cb = b.v?.mode === 'COMPLIANCE' ? b.v.until : undefined;
  if (ca !== undefined && cb !== undefined && ca !== cb) return ca > cb ? a : b;
  if (ca !== undefined && cb === undefined) return a;
  if (cb !== undefined && ca === undefined) return b;
  return mergeLww(a, b);
}

/** Merges two version locks field by field. */
export function mergeVersionLock(a: VersionLock, b: VersionLock): VersionLock {
  const retention =
    a.retention && b.retention ? mergeRetention(a.retention, b.retention) : (a.retention ?? b.retention);
  const legalHold = a.legalHold && b.legalHold ? mergeLww(a.legalHold, b.legalHold) : (a.legalHold ?? b.legalHold);
  return { ...(retention ? { retention } : {}), ...(legalHold ? { legalHold } : {}) };
}

/** What keeps a version from being deleted now, if anything: its legal hold, or its unexpired retention. */
export function activeLock(lock: VersionLock, now = Date.now()): 'legal hold' | RetentionMode | undefined {
  if (lock.legalHold?.v) return 'legal hold';
  const r = lock.retention?.v;
  return r && r.until > now ? r.mode : undefined;
}
