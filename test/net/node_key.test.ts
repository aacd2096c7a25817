import './quiet_logs.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, sign, verify } from 'node:crypto';
import { ed25519PublicKeyFromRaw, generateEphemeralKey, loadOrCreateNodeKey } from '../../src/net/node_key.ts';
import { NetError } from '../../src/util/errors.ts';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'nodekey-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('creates node_key (0600, PKCS#8) and node_key.pub (raw 32 bytes), then reloads the same id', () =>
  withDir(async (dir) => {
    const meta = join(dir, 'meta');
    const k1 = await loadOrCreateNodeKey(meta);
    assert.match(k1.id, /^[0-9a-f]{64}$/);
    assert.equal(k1.publicKey.toString('hex'), k1.id);
    const st = await stat(join(meta, 'node_key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await readFile(join(meta, 'node_key'))).length, 48);
    assert.deepEqual(await readFile(join(meta, 'node_key.pub')), k1.publicKey);
    const k2 = await loadOrCreateNodeKey(meta);
    assert.equal(k2.id, k1.id);
    // The private key really belongs to the id.
    const msg = Buffer.from('hello');
    assert.ok(verify(null, msg, ed25519PublicKeyFromRaw(k2.publicKey), sign(null, msg, k2.privateKey)));
  }));

test('rewrites a missing or stale node_key.pub', () =>
  withDir(async (dir) => {
    const k1 = await loadOrCreateNodeKey(dir);
    await writeFile(join(dir, 'node_key.pub'), randomBytes(32));
    const k2 = await loadOrCreateNodeKey(dir);
    assert.equal(k2.id, k1.id);
    assert.deepEqual(await readFile(join(dir, 'node_key.pub')), k1.publicKey);
  }));

test('accepts a raw 32-byte seed and the 64-byte libsodium form', () =>
  withDir(async (dir) => {
    const seed = randomBytes(32);
    await writeFile(join(dir, 'node_key'), seed, { mode: 0o600 });
    const k1 = await loadOrCreateNodeKey(dir);
    await writeFile(join(dir, 'node_key'), Buffer.concat([seed, k1.publicKey]), { mode: 0o600 });
    const k2 = await loadOrCreateNodeKey(dir);
    assert.equal(k2.id, k1.id);
    await writeFile(join(dir, 'node_key'), Buffer.concat([seed, randomBytes(32)]), { mode: 0o600 });
    await assert.rejects(loadOrCreateNodeKey(dir), NetError);
  }));

test('a garbled node_key is an error, not a silent new identity', () =>
  withDir(async (dir) => {
    await writeFile(join(dir, 'node_key'), randomBytes(50));
    await assert.rejects(loadOrCreateNodeKey(dir), /cannot parse node key/);
  }));

test('ephemeral keys are fresh and well-formed', () => {
  const a = generateEphemeralKey();
  const b = generateEphemeralKey();
  assert.notEqual(a.id, b.id);
  assert.equal(a.publicKey.length, 32);
});
