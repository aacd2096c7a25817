import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeVersions, visibleVersion, type ObjectVersion } from '../../src/model/object.ts';

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
