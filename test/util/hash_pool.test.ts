import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { HashPool, OFFLOAD_MIN } from '../../src/util/hash_pool.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest();
const md5 = (bs: Buffer[]) => bs.reduce((h, b) => h.update(b), createHash('md5')).digest();

test('large blocks hashed by workers: the same SHA-256 and MD5 as inline, blocks handed back intact', async () => {
  const pool = new HashPool(2);
  const blocks = [randomBytes(1 << 20), randomBytes(OFFLOAD_MIN), randomBytes(300_000)];
  const copies = blocks.map((b) => Buffer.from(b));
  const h = pool.stream();
  const out = await Promise.all(blocks.map((b) => h.block(b, true)));
  for (let i = 0; i < blocks.length; i++) {
    assert.ok(out[i]!.hash.equals(sha(copies[i]!)), `sha256 of block ${i}`);
    assert.ok(out[i]!.data.equals(copies[i]!), `block ${i} comes back whole`);
  }
  assert.ok((await h.digest()).equals(md5(copies)));
});

test('concurrent uploads on shared workers each get the MD5 of their own blocks, in order', async () => {
  const pool = new HashPool(2);
  const uploads = Array.from({ length: 6 }, () => Array.from({ length: 5 }, () => randomBytes(OFFLOAD_MIN + 17)));
  const expected = uploads.map((bs) => md5(bs));
  const got = await Promise.all(
    uploads.map(async (bs) => {
      const h = pool.stream();
      // Not awaited one by one: the worker must keep the order it was given.
      await Promise.all(bs.map((b) => h.block(Buffer.from(b), true)));
      return h.digest();
    }),
  );
  for (let i = 0; i < uploads.length; i++) assert.ok(got[i]!.equals(expected[i]!), `upload ${i}`);
});

test('small blocks are hashed inline; an empty stream has the MD5 of nothing; views are not taken', async () => {
  const pool = new HashPool(1);
  const small = randomBytes(100);
  const h = pool.stream();
  const r = await h.block(small, true);
  assert.equal(r.data, small);
  assert.ok(r.hash.equals(sha(small)));
  assert.ok((await h.digest()).equals(md5([small])));
  assert.ok((await pool.stream().digest()).equals(md5([])));
  // A view into a larger buffer is copied, never handed over: the larger buffer stays usable.
  const big = randomBytes(4 * OFFLOAD_MIN);
  const view = big.subarray(OFFLOAD_MIN, 3 * OFFLOAD_MIN);
  const v = await pool.sha256Taking(view);
  assert.ok(v.hash.equals(sha(big.subarray(OFFLOAD_MIN, 3 * OFFLOAD_MIN))));
  assert.equal(big.length, 4 * OFFLOAD_MIN);
  assert.ok((await pool.sha256(big)).equals(sha(big)));
  assert.equal(big.length, 4 * OFFLOAD_MIN, 'sha256 copies: the caller keeps its buffer');
  // A block not handed over (another holder keeps it) is copied: it stays whole here.
  const kept = randomBytes(1 << 20);
  const k = pool.stream();
  assert.ok((await k.block(kept, false)).hash.equals(sha(kept)));
  assert.equal(kept.length, 1 << 20);
  k.drop();
});
