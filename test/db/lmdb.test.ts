import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbDb } from '../../src/db/lmdb.ts';
import { prefixEnd } from '../../src/db/db.ts';

test('lmdb: transactions, ranges forward and reverse, prefixes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'garage-db-'));
  try {
    const db = new LmdbDb(dir, { fsync: false });
    const t = db.tree('t');
    const k = (s: string) => Buffer.from(s);
    await db.transaction((tx) => {
      for (const s of ['a', 'b', 'ba', 'bb', 'c']) tx.put(t, k(s), k(s.toUpperCase()));
      assert.equal(tx.get(t, k('ba'))?.toString(), 'BA');
    });
    const keys = (it: Iterable<[Buffer, Buffer]>) => [...it].map(([x]) => x.toString());
    assert.deepEqual(keys(t.range({})), ['a', 'b', 'ba', 'bb', 'c']);
    assert.deepEqual(keys(t.range({ start: k('b'), end: prefixEnd(k('b')) })), ['b', 'ba', 'bb']);
    assert.deepEqual(keys(t.range({ start: k('b'), end: k('c'), reverse: true })), ['bb', 'ba', 'b']);
    assert.deepEqual(keys(t.range({ end: k('bb'), reverse: true, limit: 2 })), ['ba', 'b']);
    assert.deepEqual(keys(t.range({ start: k('a'), limit: 2 })), ['a', 'b']);
    await db.transaction((tx) => tx.remove(t, k('a')));
    assert.equal(t.get(k('a')), undefined);
    assert.equal(t.count(), 4);
    assert.equal(prefixEnd(Buffer.from([1, 0xff]))?.toString('hex'), '02');
    assert.equal(prefixEnd(Buffer.from([0xff])), undefined);
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An option as lmdb-js holds it on the opened root store (it copies the env options in force there). */
function inForce(db: LmdbDb, option: 'overlappingSync' | 'noSync' | 'noMetaSync'): unknown {
  const root = db.root;
  return option in root ? Reflect.get(root, option) : undefined;
}

test('lmdb: with fsync, a commit resolves only once durable (no overlapping sync, no noSync); without, no sync', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'garage-db-'));
  try {
    const durable = new LmdbDb(join(dir, 'on'), { fsync: true });
    // overlappingSync (lmdb-js's default on Linux) resolves the commit before fdatasync.
    assert.equal(inForce(durable, 'overlappingSync'), false);
    assert.equal(inForce(durable, 'noSync'), false);
    assert.equal(inForce(durable, 'noMetaSync') ?? false, false);
    const t = durable.tree('t');
    await durable.transaction((tx) => tx.put(t, Buffer.from('k'), Buffer.from('v')));
    assert.equal(t.get(Buffer.from('k'))?.toString(), 'v');
    await durable.close();

    const fast = new LmdbDb(join(dir, 'off'), { fsync: false });
    assert.equal(inForce(fast, 'noSync'), true);
    assert.equal(inForce(fast, 'overlappingSync'), false);
    await fast.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
