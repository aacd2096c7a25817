// The CLI commands added on the admin operations: admin tokens, key expiry, worker variables,
// metadata snapshots, layout history, object inspection, upload cleanup, block purge, scrub
// control, --json listings, and reaching a daemon with -h and -s and no configuration file.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { type GarageProcess, MAIN, run, s3Error, useNode } from './harness.ts';

describe('CLI commands on the admin operations', () => {
  let g: GarageProcess;
  let s3: S3Client;
  const secret = randomBytes(32).toString('hex');

  const node = useNode('cli-bucket', { rpcSecret: secret });
  before(() => ({ g, s3 } = node));

  it('manages admin tokens: create (secret once), list, info, set, rename, delete', async () => {
    const made = await g.cliOk('admin-token', 'create', '--scope', 'ListBuckets', 'ci-token');
    assert.match(made, /^Secret token: [0-9a-f]{24}\.\S+$/m);
    assert.match(await g.cliOk('admin-token', 'list'), /ci-token\s.*ListBuckets/);
    const quiet = (await g.cliOk('admin-token', 'create', '-q', '--expires-in', '1d', 'other')).trim();
    assert.match(quiet, /^[0-9a-f]{24}\.\S+$/);
    assert.match(await g.cliOk('admin-token', 'info', 'other'), /Expiration: \d{4}-/);
    assert.match(
      await g.cliOk('admin-token', 'set', 'ci-token', '--scope', 'ListBuckets,ListKeys'),
      /Scope: ListBuckets, ListKeys/,
    );
    assert.match(await g.cliOk('admin-token', 'rename', 'ci-token', 'ci-renamed'), /Token name: ci-renamed/);
    const list = z
      .array(z.object({ name: z.string() }))
      .parse(JSON.parse(await g.cliOk('admin-token', 'list', '--json')));
    assert.deepEqual(list.map((t) => t.name).sort(), ['ci-renamed', 'other']);
    await g.cliOk('admin-token', 'delete', '--yes', 'ci-renamed');
    assert.doesNotMatch(await g.cliOk('admin-token', 'list'), /ci-renamed/);
    assert.match(await g.cliOk('admin-token', 'delete-expired', '--yes'), /0 expired/);
  });

  it('gives keys an expiry and takes it away', async () => {
    const out = await g.cliOk('key', 'create', '--name', 'temp-key', '--expires-in', '30d');
    assert.match(out, /^Expiration: \d{4}-\d\d-\d\dT/m);
    assert.match(await g.cliOk('key', 'set', 'temp-key', '--never-expires'), /^Expiration: never$/m);
    const bad = await g.cli('key', 'set', 'temp-key', '--expires-in', 'soon');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid --expires-in 'soon'/);
    assert.match(await g.cliOk('key', 'delete-expired', '--yes'), /0 expired key/);
    const keys = z.array(z.object({ name: z.string() })).parse(JSON.parse(await g.cliOk('key', 'list', '--json')));
    assert.ok(keys.some((k) => k.name === 'temp-key'));
  });

  it('reads and sets worker variables, refusing invalid values', async () => {
    const vars = await g.cliOk('worker', 'get');
    for (const v of ['resync-tranquility', 'resync-worker-count', 'scrub-tranquility'])
      assert.match(vars, new RegExp(v));
    assert.match(await g.cliOk('worker', 'set', 'resync-worker-count', '3'), /resync-worker-count set to 3/);
    assert.match(await g.cliOk('worker', 'get', 'resync-worker-count'), /resync-worker-count\s+3/);
    const bad = await g.cli('worker', 'set', 'resync-worker-count', '99');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /1-8/);
    assert.notEqual((await g.cli('worker', 'set', 'no-such-variable', '1')).code, 0);
    assert.match(await g.cliOk('worker', 'list'), /block resync/);
    assert.match(await g.cliOk('worker', 'info', '0'), /^Worker 0: /m);
  });

  it('writes a metadata snapshot that opens as an LMDB database', async () => {
    assert.match(await g.cliOk('meta', 'snapshot'), /Snapshot written/);
    const dir = join(g.dir, 'meta', 'snapshots');
    const [snap] = readdirSync(dir);
    assert.ok(snap, 'a snapshot directory');
    const file = join(dir, snap, 'db.lmdb', 'data.mdb');
    assert.ok(statSync(file).size > 0);
    const db = open({ path: file, readOnly: true });
    try {
      const names = [...db.getKeys()].map(String);
      assert.ok(
        names.some((n) => n.startsWith('table:object')),
        `tables in the snapshot: ${names.slice(0, 5).join(', ')}`,
      );
    } finally {
      await db.close();
    }
  });

  it('shows the layout history and inspects an object', async () => {
    assert.match(await g.cliOk('layout', 'history'), /^1\s+Current\s+1\s+0$/m);
    await s3.send(new PutObjectCommand({ Bucket: 'cli-bucket', Key: 'inspect me', Body: randomBytes(200_000) }));
    const inspected = z
      .object({
        versions: z.array(z.object({ size: z.number().nullable(), blocks: z.array(z.object({ hash: z.string() })) })),
      })
      .parse(JSON.parse(await g.cliOk('bucket', 'inspect-object', 'cli-bucket', 'inspect me')));
    assert.equal(inspected.versions.at(-1)!.size, 200_000);
    assert.ok(inspected.versions.at(-1)!.blocks.length >= 1);
  });

  it('aborts old incomplete uploads, purges a lost block with the object using it', async () => {
    await s3.send(new CreateMultipartUploadCommand({ Bucket: 'cli-bucket', Key: 'abandoned' }));
    assert.match(
      await g.cliOk('bucket', 'cleanup-incomplete-uploads', '--older-than', '0s', 'cli-bucket'),
      /1 incomplete upload/,
    );
    await s3.send(new PutObjectCommand({ Bucket: 'cli-bucket', Key: 'doomed', Body: randomBytes(100_000) }));
    const info = JSON.parse(await g.cliOk('bucket', 'inspect-object', 'cli-bucket', 'doomed'));
    const hash = z
      .object({ versions: z.array(z.object({ blocks: z.array(z.object({ hash: z.string() })) })) })
      .parse(info)
      .versions.at(-1)!.blocks[0]!.hash;
    assert.notEqual((await g.cli('block', 'purge', hash)).code, 0, 'needs --yes');
    assert.match(await g.cliOk('block', 'purge', '--yes', hash), /1 block\(s\) purged: 1 object\(s\)/);
    await s3Error(s3.send(new GetObjectCommand({ Bucket: 'cli-bucket', Key: 'doomed' })), 'NoSuchKey', 404);
  });

  it('controls a scrub, and reaches the daemon with -h and -s without a configuration file', async () => {
    assert.match(await g.cliOk('repair', '--yes', 'scrub', 'pause'), /no scrub is running|scrub paused/);
    assert.notEqual((await g.cli('repair', '--yes', 'scrub', 'faster')).code, 0);
    const id = (await g.cliOk('node', 'id', '-q')).trim();
    assert.equal(process.env.GARAGE_CONFIG_FILE, undefined);
    const r = await run(process.execPath, [MAIN, '-h', id, '-s', secret, 'bucket', 'list', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const buckets = z.array(z.object({ globalAliases: z.array(z.string()) })).parse(JSON.parse(r.stdout));
    assert.ok(buckets.some((b) => b.globalAliases.includes('cli-bucket')));
    const wrong = await run(process.execPath, [MAIN, '-h', id, '-s', 'ab'.repeat(32), 'status']);
    assert.notEqual(wrong.code, 0, 'a wrong secret is refused');
    assert.ok(existsSync(g.configPath));
  });
});
