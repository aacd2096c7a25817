import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tx } from '../../src/db/db.ts';
import {
  findVersion,
  listedVersions,
  mergeVersions,
  nextVersionTs,
  objectSchema,
  visibleVersion,
  type ObjectEntry,
  type ObjectVersion,
} from '../../src/model/object.ts';

const u = (n: number) => Buffer.alloc(16, n);
const meta = { size: 1, etag: 'e', headers: [] as [string, string][] };
const uploading = (n: number, ts: number, multipart = false): ObjectVersion => ({
  uuid: u(n),
  ts,
  state: { t: 'uploading', multipart, headers: [] },
});
const complete = (n: number, ts: number): ObjectVersion => ({
  uuid: u(n),
  ts,
  state: { t: 'complete', data: { t: 'inline', meta, bytes: Buffer.from([n]) } },
});
const aborted = (n: number, ts: number): ObjectVersion => ({ uuid: u(n), ts, state: { t: 'aborted' } });
const deleted = (n: number, ts: number): ObjectVersion => ({ uuid: u(n), ts, state: { t: 'aborted', deleted: true } });
// Version 1 complete, its tags changed at `at` (PutObjectTagging on some replica).
const tagged = (at: number, ...tags: [string, string][]): ObjectVersion => ({
  uuid: u(1),
  ts: 10,
  state: {
    t: 'complete',
    data: { t: 'inline', meta: { ...meta, tags: { ts: at, v: tags } }, bytes: Buffer.from([1]) },
  },
});

// The same, written while the bucket's versioning was enabled (own version id) or suspended.
const kept = (v: ObjectVersion): ObjectVersion => ({ ...v, versioning: 'enabled' });
const suspended = (v: ObjectVersion): ObjectVersion => ({ ...v, versioning: 'suspended' });
const marker = (n: number, ts: number): ObjectVersion => ({
  uuid: u(n),
  ts,
  state: { t: 'complete', data: { t: 'deleteMarker' } },
});

test('object version merge is commutative, associative and idempotent', () => {
  const sets = [
    [kept(complete(7, 50))],
    [kept(aborted(7, 50))],
    [kept(marker(8, 60))],
    [suspended(complete(9, 45))],
    [suspended(marker(10, 70))],
    [uploading(1, 10)],
    [complete(1, 10)],
    [complete(2, 20)],
    [uploading(3, 30, true)],
    [aborted(4, 25)],
    [deleted(4, 25)],
    [deleted(2, 20)],
    [uploading(5, 5, true)],
    [complete(6, 40)],
    [tagged(100, ['a', '1'])],
    [tagged(200, ['a', '2'], ['b', ''])],
    [tagged(200, ['a', '3'])],
  ];
  const enc = (v: ObjectVersion[]) => JSON.stringify(v);
  for (const a of sets)
    for (const b of sets) {
      assert.equal(enc(mergeVersions(a, b)), enc(mergeVersions(b, a)));
      assert.equal(enc(mergeVersions(a, a)), enc(a.length ? mergeVersions(a, []) : a));
      for (const c of sets)
        assert.equal(enc(mergeVersions(mergeVersions(a, b), c)), enc(mergeVersions(a, mergeVersions(b, c))));
    }
});

test('the tags of a version merge as a register: the latest change wins on every replica', () => {
  const tagsOf = (m: ObjectVersion[]) =>
    visibleVersion({ bucketId: u(0), key: 'k', versions: m })?.state.data.meta.tags;
  const cases: [ObjectVersion, ObjectVersion, [string, string][]][] = [
    [complete(1, 10), tagged(100, ['a', '1']), [['a', '1']]],
    [tagged(100, ['a', '1']), tagged(200, ['b', '2']), [['b', '2']]],
    [tagged(200), tagged(100, ['a', '1']), []],
  ];
  for (const [a, b, want] of cases) {
    assert.deepEqual(tagsOf(mergeVersions([a], [b]))?.v, want);
    assert.deepEqual(tagsOf(mergeVersions([b], [a]))?.v, want);
  }
});

test('a newer complete version supersedes older ones but keeps unfinished multipart uploads', () => {
  const m = mergeVersions([complete(1, 10), uploading(2, 15), uploading(3, 12, true)], [complete(4, 20)]);
  assert.deepEqual(
    m.map((v) => v.uuid[0]),
    [3, 4],
  );
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: m })?.uuid[0], 4);
});

test('versioned: nothing supersedes a version with its own id; a null version supersedes only null ones', () => {
  const e = (versions: ObjectVersion[]) => ({ bucketId: u(0), key: 'k', versions });
  // Versions 1 (null, before versioning), 2 and 3 (enabled), then 4 (suspended, null) and 5 (enabled).
  let m = mergeVersions([complete(1, 10), kept(complete(2, 20))], [kept(complete(3, 30))]);
  assert.deepEqual(
    m.map((v) => v.uuid[0]),
    [1, 2, 3],
  );
  m = mergeVersions(m, [suspended(complete(4, 40)), kept(complete(5, 50))]);
  // The null version 4 replaces the null version 1, and nothing else.
  assert.deepEqual(
    m.map((v) => v.uuid[0]),
    [2, 3, 4, 5],
  );
  assert.equal(visibleVersion(e(m))?.uuid[0], 5);
  assert.equal(findVersion(e(m), 'null')?.uuid[0], 4);
  assert.equal(findVersion(e(m), u(2).toString('hex'))?.uuid[0], 2);
  // A version deleted by id stays as a tombstone: a replica that missed the delete cannot revive it.
  const deleted = mergeVersions(m, [kept(aborted(5, 50))]);
  assert.equal(visibleVersion(e(deleted))?.uuid[0], 4);
  assert.equal(visibleVersion(e(mergeVersions(deleted, [kept(complete(5, 50))])))?.uuid[0], 4);
  assert.equal(findVersion(e(deleted), u(5).toString('hex')), undefined);
  // A marker with its own id is listed, newest first; a tombstone of a bucket never versioned is not.
  const withMarker = mergeVersions(deleted, [kept(marker(6, 60))]);
  assert.equal(visibleVersion(e(withMarker)), undefined);
  assert.deepEqual(
    listedVersions(e(withMarker)).map((v) => v.uuid[0]),
    [6, 4, 3, 2],
  );
  assert.deepEqual(listedVersions(e([marker(1, 10)])), []);
});

test('versioned: which rows are tombstones the GC may remove', () => {
  const schema = objectSchema({ versionGone: () => undefined, countsChanged: () => undefined });
  const tomb = (...versions: ObjectVersion[]) => schema.isTombstone!({ bucketId: u(0), key: 'k', versions });
  assert.equal(tomb(marker(1, 10)), true);
  assert.equal(tomb(kept(aborted(1, 10)), kept(aborted(2, 20))), true);
  assert.equal(tomb(kept(marker(1, 10))), false);
  assert.equal(tomb(suspended(marker(1, 10))), false);
  assert.equal(tomb(kept(complete(1, 10)), marker(2, 20)), false);
  assert.equal(tomb(marker(1, 10), uploading(2, 20, true)), false);
});

test('an uploading version never hides the previous complete one', () => {
  const m = mergeVersions([complete(1, 10)], [uploading(2, 20)]);
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: m })?.uuid[0], 1);
  const a = mergeVersions(m, [aborted(2, 20)]);
  assert.equal(visibleVersion({ bucketId: u(0), key: 'k', versions: a })?.uuid[0], 1);
});

test('a new version is placed after every version read, whatever the clock says', () => {
  const e = { bucketId: u(0), key: 'k', versions: [complete(1, 1000), uploading(2, 1500, true)] };
  // A writer with a slow clock still supersedes what it read.
  assert.equal(nextVersionTs(e, 500), 1501);
  assert.equal(nextVersionTs(e, 2000), 2000);
  assert.equal(nextVersionTs(undefined, 7), 7);
  // Replicas that hold the same version with different timestamps converge on the highest.
  const schema = objectSchema({ versionGone: () => undefined, countsChanged: () => undefined });
  const a = { bucketId: u(0), key: 'k', versions: [{ ...complete(3, 2000) }] };
  const b = { bucketId: u(0), key: 'k', versions: [{ ...complete(3, 2100) }] };
  assert.equal(schema.merge(a, b).versions[0]!.ts, 2100);
  assert.equal(schema.merge(b, a).versions[0]!.ts, 2100);
});

// What Table.applyInTx does with one entry on one replica, with the hooks recorded.
const noTx: Tx = {
  get: () => undefined,
  put: () => undefined,
  remove: () => undefined,
  range: () => [],
};
function replica() {
  const gone: number[] = [];
  const schema = objectSchema({ versionGone: (_tx, uuid) => gone.push(uuid[0]!), countsChanged: () => undefined });
  let row: ObjectEntry | undefined;
  const apply = (versions: ObjectVersion[], completion = false) => {
    const e = { bucketId: u(0), key: 'k', versions };
    const incoming = completion && schema.completion ? schema.completion(e, row) : e;
    const cur = row ? schema.merge(row, incoming) : incoming;
    schema.updated!(noTx, row, cur);
    row = cur;
  };
  return { gone, apply, row: () => row, visible: () => (row ? visibleVersion(row)?.uuid[0] : undefined) };
}

test('a null version deleted by id still supersedes the older null version a replica missed (torture seed 1203)', () => {
  // A PUT (1) is superseded by a multipart completion (2); one replica missed that and still
  // holds 1. Deleting version null (2) must not let 1 come back as current: its rows are freed.
  const stale = [complete(1, 10)];
  const after = mergeVersions([complete(1, 10)], [complete(2, 20)]);
  assert.deepEqual(
    after.map((v) => v.uuid[0]),
    [2],
  );
  const merged = mergeVersions(stale, mergeVersions(after, [deleted(2, 20)]));
  assert.deepEqual(
    merged.map((v) => [v.uuid[0], v.state.t]),
    [[2, 'aborted']],
  );
  assert.equal(visibleVersion({ bucketId: Buffer.alloc(0), key: 'k', versions: merged }), undefined);
  // A failed upload (aborted without the mark) leaves the previous version current.
  assert.equal(mergeVersions(stale, [aborted(2, 20)]).length, 2);
});

test('issue 7 defect 1: a PUT that completes after a concurrent one never comes back without its blocks', () => {
  // B starts, A starts after it and completes while B is still uploading, then B completes.
  const r = replica();
  r.apply([uploading(2, 100)]);
  r.apply([uploading(1, 101)]);
  r.apply([complete(1, 101)]);
  // A is ordered after B (it started later) and supersedes it: B's rows are freed now.
  assert.equal(r.visible(), 1);
  assert.deepEqual(r.gone, [2]);
  // B's completion finds nothing to complete: it was linearized before A. On main it was
  // re-ordered after A and became visible with its blocks already collected.
  r.apply([complete(2, 100)], true);
  assert.equal(r.visible(), 1);
  assert.deepEqual(r.gone, [2]);
});

test('a completion never re-creates a version this replica no longer holds', () => {
  const r = replica();
  r.apply([complete(3, 200)]);
  // The completion of a version this replica never saw (or pruned) is not re-created, even
  // once the row is gone (tombstone GC).
  r.apply([complete(2, 100)], true);
  assert.equal(r.visible(), 3);
  const empty = replica();
  empty.apply([complete(2, 100)], true);
  assert.equal(empty.visible(), undefined);
});

test('a multipart completion takes its new place (the upload completed last wins)', () => {
  const r = replica();
  r.apply([uploading(7, 100, true)]);
  r.apply([complete(8, 150)]);
  r.apply([complete(7, 151)], true);
  assert.equal(r.visible(), 7);
  // A completion of an upload the replica does not hold as uploading changes nothing.
  r.apply([complete(9, 190)], true);
  assert.equal(r.visible(), 7);
});

test('a tag change applies where the version is complete, and never brings back a deleted one', () => {
  const r = replica();
  r.apply([complete(1, 10)]);
  r.apply([tagged(100, ['a', '1'])], true);
  const row = () => r.row();
  assert.deepEqual(visibleVersion(row())?.state.data.meta.tags?.v, [['a', '1']]);
  // Superseded by a delete (a marker), the version is gone; a late tag change must not revive it.
  r.apply([{ uuid: u(2), ts: 20, state: { t: 'complete', data: { t: 'deleteMarker' } } }]);
  r.apply([tagged(300, ['b', '2'])], true);
  assert.equal(visibleVersion(row()), undefined);
  assert.ok(!row()?.versions.some((v) => v.uuid.equals(u(1))), 'the deleted version stays gone');
  const empty = replica();
  empty.apply([tagged(300, ['b', '2'])], true);
  assert.deepEqual(empty.row()?.versions ?? [], []);
});
