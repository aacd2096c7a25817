import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeVersions, objectSchema, visibleVersion, type ObjectVersion } from '../../src/model/object.ts';

const u = (n: number) => Buffer.alloc(16, n);
const meta = { size: 1, etag: 'e', headers: [] as [string, string][] };
const uploading = (n: number, ts: number, multipart = false): ObjectVersion => ({ uuid: u(n), ts, state: { t: 'uploading', multipart, headers: [] } });
const complete = (n: number, ts: number): ObjectVersion => ({ uuid: u(n), ts, state: { t: 'complete', data: { t: 'inline', meta, bytes: Buffer.from([n]) } } });
const aborted = (n: number, ts: number): ObjectVersion => ({ uuid: u(n), ts, state: { t: 'aborted' } });

test('object version merge is commutative, associative and idempotent', () => {
  const sets = [[uploading(1, 10)], [complete(1, 10)], [complete(2, 20)], [uploading(3, 30, true)], [aborted(4, 25)], [uploading(5, 5, true)], [complete(6, 40)]];
  const enc = (v: ObjectVersion[]) => JSON.stringify(v);
  for (const a of sets) for (const b of sets) {
    assert.equal(enc(mergeVersions(a, b)), enc(mergeVersions(b, a)));
    assert.equal(enc(mergeVersions(a, a)), enc(a.length ? mergeVersions(a, []) : a));
    for (const c of sets) assert.equal(enc(mergeVersions(mergeVersions(a, b), c)), enc(mergeVersions(a, mergeVersions(b, c))));
  }
});

test('a newer complete version supersedes older ones but keeps unfinished multipart uploads', () => {
  const m = mergeVersions([complete(1, 10), uploading(2, 15), uploading(3, 12, true)], [complete(4, 20)]);
  assert.deepEqual(m.map((v) => v.uuid[0]), [3, 4]);
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: m })?.uuid[0], 4);
});

test('an uploading version never hides the previous complete one', () => {
  const m = mergeVersions([complete(1, 10)], [uploading(2, 20)]);
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: m })?.uuid[0], 1);
  const a = mergeVersions(m, [aborted(2, 20)]);
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: a })?.uuid[0], 1);
});

test('a fresh write is ordered after everything the replica holds, replication traffic is not', () => {
  const schema = objectSchema({ versionGone: () => undefined, countsChanged: () => undefined });
  const old = { bucketId: u(0), key: 'k', versions: [complete(1, 1000)] };
  // A writer with a slow clock: its version still supersedes the one this replica has.
  const fresh = schema.freshen!({ bucketId: u(0), key: 'k', versions: [complete(2, 500)] }, old);
  const merged = schema.merge(old, fresh);
  assert.equal(visibleVersion(merged)?.uuid[0], 2);
  assert.ok(merged.versions[0]!.ts > 1000);
  // The same write arriving by anti-entropy is merged as is: the older timestamp loses.
  const replicated = schema.merge(old, { bucketId: u(0), key: 'k', versions: [complete(2, 500)] });
  assert.equal(visibleVersion(replicated)?.uuid[0], 1);
  // Replicas that bumped differently converge on the highest timestamp.
  const a = { bucketId: u(0), key: 'k', versions: [{ ...complete(3, 2000) }] };
  const b = { bucketId: u(0), key: 'k', versions: [{ ...complete(3, 2100) }] };
  assert.equal(schema.merge(a, b).versions[0]!.ts, 2100);
  assert.equal(schema.merge(b, a).versions[0]!.ts, 2100);
});
