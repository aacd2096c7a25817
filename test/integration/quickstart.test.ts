import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GarageProcess, run } from './harness.ts';

// The Debian clients (CI installs them); the pyenv shim of `aws` on PATH is not the Debian one.
const AWS = '/usr/bin/aws';
const RCLONE = '/usr/bin/rclone';
const S3CMD = '/usr/bin/s3cmd';
const RESTIC = '/usr/bin/restic';

function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

describe('quick start from the reference documentation, then real S3 clients', () => {
  let g: GarageProcess;
  let work: string;
  let keyId = '';
  let secret = '';
  let env: NodeJS.ProcessEnv;

  before(async () => {
    g = await GarageProcess.create();
    work = mkdtempSync(join(tmpdir(), 'garage-qs-'));
  });
  after(async () => {
    await g.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('follows the quick start with the real CLI', async () => {
    await g.start();
    const status = await g.cliOk('status');
    assert.match(status, /HEALTHY NODES/);
    assert.match(status, /NO ROLE ASSIGNED/);
    const id = /^([0-9a-f]{16})\s/m.exec(status)![1]!;
    const nodeId = await g.cliOk('node', 'id');
    assert.ok(nodeId.startsWith(id), 'node id starts with the status prefix');
    // An unapplied layout: buckets cannot be created yet, and the error says why.
    const early = await g.cli('bucket', 'create', 'nextcloud-bucket');
    assert.notEqual(early.code, 0);
    assert.match(early.stderr, /layout/);
    await g.cliOk('layout', 'assign', '-z', 'dc1', '-c', '1', id.slice(0, 4));
    assert.match(await g.cliOk('layout', 'show'), /STAGED ROLE CHANGES/);
    assert.match(await g.cliOk('layout', 'apply'), /version 1/);
    assert.match(await g.cliOk('status'), /dc1/);
    await g.cliOk('bucket', 'create', 'nextcloud-bucket');
    assert.match(await g.cliOk('bucket', 'list'), /nextcloud-bucket/);
    assert.match(await g.cliOk('bucket', 'info', 'nextcloud-bucket'), /Global aliases:\n {2}nextcloud-bucket/);
    const key = await g.cliOk('key', 'new', '--name', 'nextcloud-app-key');
    assert.match(key, /^Key name: nextcloud-app-key$/m);
    keyId = /^Key ID: (GK[0-9a-f]{24})$/m.exec(key)![1]!;
    secret = /^Secret key: ([0-9a-f]{64})$/m.exec(key)![1]!;
    assert.match(await g.cliOk('key', 'list'), new RegExp(keyId));
    assert.match(await g.cliOk('key', 'info', 'nextcloud-app-key'), new RegExp(`Key ID: ${keyId}`));
    await g.cliOk('bucket', 'allow', '--read', '--write', 'nextcloud-bucket', '--key', 'nextcloud-app-key');
    assert.match(await g.cliOk('bucket', 'info', 'nextcloud-bucket'), new RegExp(`RW +${keyId} +nextcloud-app-key`));
    assert.match(await g.cliOk('help'), /layout/);
    assert.match(await g.cliOk('bucket', 'allow', '--help'), /--read/);
    // Errors name the thing.
    const missing = await g.cli('bucket', 'info', 'no-such-bucket');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /bucket 'no-such-bucket' not found/);
    env = {
      AWS_ACCESS_KEY_ID: keyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: 'garage',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
      AWS_CA_BUNDLE: '',
    };
  });

  it('aws s3: cp of a 40 MiB file (multipart), ls, cp back, rm', async () => {
    const src = join(work, 'big.bin');
    writeFileSync(src, randomBytes(40 * 1024 * 1024));
    const aws = (...args: string[]) => run(AWS, ['--endpoint-url', g.endpoint, ...args], { env });
    let r = await aws('s3', 'cp', src, 's3://nextcloud-bucket/dir/big.bin');
    assert.equal(r.code, 0, r.stderr);
    r = await aws('s3', 'ls', 's3://nextcloud-bucket/dir/');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /41943040 big\.bin/);
    const back = join(work, 'big.back');
    r = await aws('s3', 'cp', 's3://nextcloud-bucket/dir/big.bin', back);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(back).equals(readFileSync(src)), 'download matches byte for byte');
    r = await aws('s3api', 'head-object', '--bucket', 'nextcloud-bucket', '--key', 'dir/big.bin');
    assert.match(r.stdout, /"ETag": "\\"[0-9a-f]{32}-\d+\\""/, `multipart ETag in ${r.stdout} ${r.stderr}`);
    r = await aws('s3', 'rm', 's3://nextcloud-bucket/dir/big.bin');
    assert.equal(r.code, 0, r.stderr);
    r = await aws('s3', 'ls', 's3://nextcloud-bucket/dir/');
    assert.doesNotMatch(r.stdout, /big\.bin/);
  });

  it('rclone: copy, lsd, check', async () => {
    const dir = join(work, 'rc');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    for (let i = 0; i < 5; i++) writeFileSync(join(dir, `f${i}.txt`), randomBytes(1000 * (i + 1)));
    writeFileSync(join(dir, 'sub', 'big.bin'), randomBytes(3 * 1024 * 1024 + 17));
    writeFileSync(join(dir, 'sub', 'empty'), '');
    const renv = {
      RCLONE_CONFIG_G_TYPE: 's3',
      RCLONE_CONFIG_G_PROVIDER: 'Other',
      RCLONE_CONFIG_G_ACCESS_KEY_ID: keyId,
      RCLONE_CONFIG_G_SECRET_ACCESS_KEY: secret,
      RCLONE_CONFIG_G_ENDPOINT: g.endpoint,
      RCLONE_CONFIG_G_REGION: 'garage',
      RCLONE_CONFIG_G_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG: '/dev/null',
      AWS_CA_BUNDLE: '',
    };
    let r = await run(RCLONE, ['copy', dir, 'g:nextcloud-bucket/rc'], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    r = await run(RCLONE, ['lsd', 'g:nextcloud-bucket/rc'], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sub/);
    r = await run(RCLONE, ['lsd', 'g:'], { env: renv });
    assert.match(r.stdout, /nextcloud-bucket/);
    r = await run(RCLONE, ['check', dir, 'g:nextcloud-bucket/rc'], { env: renv });
    assert.equal(r.code, 0, `rclone check: ${r.stderr}`);
    const out = join(work, 'rc-back');
    r = await run(RCLONE, ['copy', 'g:nextcloud-bucket/rc', out], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tree(out), tree(dir));
  });

  it('s3cmd: put, get, ls', async () => {
    const cfg = join(work, 's3cmd.cfg');
    const host = `127.0.0.1:${g.s3Port}`;
    writeFileSync(
      cfg,
      `[default]\naccess_key = ${keyId}\nsecret_key = ${secret}\nhost_base = ${host}\nhost_bucket = ${host}\nuse_https = False\nbucket_location = garage\nsignature_v2 = False\n`,
    );
    const src = join(work, 's3cmd.bin');
    writeFileSync(src, randomBytes(2 * 1024 * 1024 + 5));
    const s3cmd = (...args: string[]) => run(S3CMD, ['-c', cfg, '--no-progress', ...args]);
    let r = await s3cmd('put', src, 's3://nextcloud-bucket/s3cmd/file.bin');
    assert.equal(r.code, 0, r.stderr);
    r = await s3cmd('ls', 's3://nextcloud-bucket/s3cmd/');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /s3cmd\/file\.bin/);
    const back = join(work, 's3cmd.back');
    r = await s3cmd('get', '--force', 's3://nextcloud-bucket/s3cmd/file.bin', back);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(readFileSync(back).equals(readFileSync(src)));
  });

  it('restic: init, backup, check, restore', async () => {
    const dir = join(work, 'restic-src');
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'one.txt'), 'hello restic\n');
    writeFileSync(join(dir, 'a', 'b', 'rand.bin'), randomBytes(5 * 1024 * 1024));
    writeFileSync(join(dir, 'same1.bin'), Buffer.alloc(2 * 1024 * 1024, 7));
    const renv = {
      ...env,
      RESTIC_REPOSITORY: `s3:${g.endpoint}/nextcloud-bucket/restic`,
      RESTIC_PASSWORD: 'correct horse battery staple',
      RESTIC_CACHE_DIR: join(work, 'restic-cache'),
    };
    let r = await run(RESTIC, ['init'], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    r = await run(RESTIC, ['backup', dir], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    r = await run(RESTIC, ['check', '--read-data'], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    const out = join(work, 'restic-out');
    r = await run(RESTIC, ['restore', 'latest', '--target', out], { env: renv });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tree(join(out, dir)), tree(dir));
  });
});
