import { randomBytes } from 'node:crypto';
import type { Model } from './garage.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';
import { Periodic } from '../util/background.ts';
import {
  deletedVersion,
  isDataVersion,
  listedVersions,
  mkVersion,
  visibleVersion,
  type ObjectEntry,
  type ObjectVersion,
} from './object.ts';
import { ruleMatches, writeKind, type BucketEntry, type LifecycleRule } from './bucket.ts';
import { activeLock } from './lock.ts';

export interface LifecycleOptions {
  model: Model;
  layout: LayoutView;
  self: string;
  isUp: (node: string) => boolean;
  logger: Logger;
  /** Length of a lifecycle "day" (tests shorten it). */
  dayMs?: number;
}

/**
 * Applies bucket lifecycle rules: expires objects and aborts old multipart uploads. All
 * objects of a bucket share one partition; its first reachable replica does the work.
 */
export class LifecycleWorker {
  readonly o: LifecycleOptions;
  readonly dayMs: number;
  #periodic: Periodic | undefined;

  constructor(o: LifecycleOptions) {
    this.o = o;
    this.dayMs = o.dayMs ?? 86_400_000;
  }

  #leads(bucketId: Buffer): boolean {
    const hash = this.o.model.object.partitionHash(bucketId);
    const first = [...this.o.layout.readNodes(hash)].sort().find((n) => n === this.o.self || this.o.isUp(n));
    return first === this.o.self;
  }

  /** One pass over every bucket with rules; returns counts of what it did. */
  async pass(): Promise<{ expired: number; aborted: number }> {
    const { model } = this.o;
    const now = Date.now();
    let expired = 0;
    let aborted = 0;
    const buckets: BucketEntry[] = [...model.bucket.scanLocal()].filter(
      (b) => !b.deleted && b.lifecycle.v?.some((r) => r.enabled),
    );
    for (const b of buckets) {
      if (!this.#leads(b.id)) continue;
      const rules = b.lifecycle.v!.filter((r) => r.enabled);
      for (const local of model.object.rangeLocal(b.id, {})) {
        const matching = rules.filter((r) => local.key.startsWith(r.prefix));
        if (matching.length === 0) continue;
        // Decide on the quorum view, not on this replica's alone.
        const o = await model.object.get(b.id, Buffer.from(local.key));
        if (!o) continue;
        const v = visibleVersion(o);
        const size = v?.state.data.meta.size ?? 0;
        const tags = v?.state.data.meta.tags?.v;
        if (v && matching.some((r) => ruleMatches(r, o.key, size, tags) && this.#expired(r, v.ts, now))) {
          // A delete marker: with versioning, the expired version stays as a noncurrent one.
          const ts = await model.nextObjectTs(b.id, o.key);
          await model.object.insert({
            bucketId: b.id,
            key: o.key,
            versions: [mkVersion(randomBytes(16), ts, { t: 'complete', data: { t: 'deleteMarker' } }, writeKind(b))],
          });
          expired++;
        }
        const gone = this.#goneVersions(matching, o, now);
        if (gone.length) {
          await model.object.insert({
            bucketId: b.id,
            key: o.key,
            versions: gone.map(deletedVersion),
          });
          expired += gone.length;
        }
        const old = o.versions.filter(
          (x) =>
            x.state.t === 'uploading' &&
            x.state.multipart &&
            matching.some((r) => r.abortMpuDays !== null && now - x.ts >= r.abortMpuDays * this.dayMs),
        );
        if (old.length) {
          await model.object.insert({
            bucketId: b.id,
            key: o.key,
            versions: old.map((x) => ({ ...x, state: { t: 'aborted' as const } })),
          });
          aborted += old.length;
        }
      }
    }
    model.workers.report('lifecycle', { lastPass: new Date(now).toISOString(), expired, aborted });
    return { expired, aborted };
  }

  /**
   * The versions rules delete for good: noncurrent ones past NoncurrentDays (counted from when a
   * newer version replaced them) beyond the NewerNoncurrentVersions kept, and a delete marker
   * that is all a key has left (ExpiredObjectDeleteMarker).
   */
  #goneVersions(rules: LifecycleRule[], o: ObjectEntry, now: number): ObjectVersion[] {
    const listed = listedVersions(o);
    const gone: ObjectVersion[] = [];
    for (let i = 1; i < listed.length; i++) {
      const x = listed[i]!;
      const since = listed[i - 1]!.ts;
      const meta = isDataVersion(x) ? x.state.data.meta : undefined;
      const expires = (r: LifecycleRule) =>
        r.noncurrentDays &&
        ruleMatches(r, o.key, meta?.size ?? 0, meta?.tags?.v) &&
        now - since >= r.noncurrentDays * this.dayMs &&
        i - 1 >= (r.newerNoncurrentVersions ?? 0);
      if (rules.some(expires)) gone.push(x);
    }
    const only = listed.length === 1 ? listed[0] : undefined;
    if (only && !isDataVersion(only) && rules.some((r) => r.expiredObjectDeleteMarker)) gone.push(only);
    // Object lock: no rule deletes a version its retention or legal hold protects.
    return gone.filter((x) => !(isDataVersion(x) && x.state.data.meta.lock && activeLock(x.state.data.meta.lock, now)));
  }

  #expired(r: LifecycleRule, ts: number, now: number): boolean {
    return (
      (r.expirationDays !== null && now - ts >= r.expirationDays * this.dayMs) ||
      (r.expirationDate !== null && now >= r.expirationDate)
    );
  }

  /** Runs a pass every `intervalMs` (default: hourly). */
  start(intervalMs = 3600_000): void {
    this.o.model.workers.register('lifecycle', 'expires objects and aborts old multipart uploads per bucket rules');
    this.#periodic = new Periodic(
      intervalMs,
      () => this.pass(),
      (e) => this.o.logger.warn({ err: errorMessage(e) }, 'lifecycle pass failed'),
    );
  }

  stop(): void {
    this.#periodic?.stop();
  }
}
