/**
 * The merge of object lock state (src/model/lock.ts): a CRDT whatever order replicas see the
 * writes in, and a COMPLIANCE retention that no concurrent write can shorten or downgrade.
 * Property-based (fast-check): a failure prints its seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { activeLock, mergeVersionLock, type Retention, type VersionLock } from '../../src/model/lock.ts';
import type { Lww } from '../../src/util/crdt.ts';

const ts = fc.integer({ min: 0, max: 20 });
// Rows are plain objects; fast-check's default null-prototype records would not deep-equal them.
const PLAIN = { noNullPrototype: true };
const retention: fc.Arbitrary<Lww<Retention | null>> = fc.record(
  {
    ts,
    v: fc.option(
      fc.record(
        {
          mode: fc.constantFrom('GOVERNANCE' as const, 'COMPLIANCE' as const),
          until: fc.integer({ min: 0, max: 9 }),
        },
        PLAIN,
      ),
    ),
  },
  PLAIN,
);
const lock: fc.Arbitrary<VersionLock> = fc
  .record({ retention: fc.option(retention), legalHold: fc.option(fc.record({ ts, v: fc.boolean() }, PLAIN)) })
  .map(({ retention: r, legalHold: h }) => ({ ...(r ? { retention: r } : {}), ...(h ? { legalHold: h } : {}) }));

test('the lock merge is commutative, associative and idempotent', () => {
  fc.assert(
    fc.property(lock, lock, lock, (a, b, c) => {
      assert.deepEqual(mergeVersionLock(a, b), mergeVersionLock(b, a));
      assert.deepEqual(mergeVersionLock(mergeVersionLock(a, b), c), mergeVersionLock(a, mergeVersionLock(b, c)));
      assert.deepEqual(mergeVersionLock(a, a), a);
    }),
  );
});

test('merged in any order, the strongest COMPLIANCE retention written is the one kept', () => {
  fc.assert(
    fc.property(fc.array(lock, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 10 }), (writes, now) => {
      const merged = writes.reduce(mergeVersionLock);
      const compliance = writes.flatMap((w) => (w.retention?.v?.mode === 'COMPLIANCE' ? [w.retention.v.until] : []));
      if (compliance.length === 0) return;
      assert.deepEqual(merged.retention?.v, { mode: 'COMPLIANCE', until: Math.max(...compliance) });
      // Locked now if any COMPLIANCE write said so.
      if (compliance.some((u) => u > now)) assert.ok(activeLock(merged, now));
    }),
  );
});

test('a legal hold holds whatever the retention says', () => {
  const held: VersionLock = {
    legalHold: { ts: 1, v: true },
    retention: { ts: 1, v: { mode: 'GOVERNANCE', until: 0 } },
  };
  assert.equal(activeLock(held, 5), 'legal hold');
  assert.equal(activeLock({ legalHold: { ts: 1, v: false } }, 5), undefined);
});
