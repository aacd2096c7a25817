import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { MAIN, ROOT, freePort, waitFor, run } from './harness.ts';

interface Started {
  proc: ChildProcess;
  out: () => string;
}

function startDefault(dataDir: string, s3Port: number, rpcPort: number, adminPort: number): Started {
  const proc = spawn(
    process.execPath,
    [
      MAIN,
      'server',
      '--single-node',
      '--default-bucket',
      '--data-dir',
      dataDir,
      '--s3-bind',
      `127.0.0.1:${s3Port}`,
      '--rpc-bind',
      `127.0.0.1:${rpcPort}`,
      '--admin-bind',
      `127.0.0.1:${adminPort}`,
    ],
    { env: { ...process.env, RUST_LOG: 'garage=warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, out: () => out };
}

async function stop(s: Started): Promise<number | null> {
  if (s.proc.exitCode !== null) return s.proc.exitCode;
  const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => r(code)));
  s.proc.kill('SIGTERM');
  return exited;
}

describe('the embedded default: garage server --single-node --default-bucket (npm start)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'garage-single-'));
  const started: Started[] = [];
  after(async () => {
    for (const s of started) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with no configuration file, prints working credentials, and keeps them across restarts', async () => {
    const s3Port = await freePort();
    const rpcPort = await freePort();
    const adminPort = await freePort();
    const dataDir = join(dir, 'garage-data');
    const first = startDefault(dataDir, s3Port, rpcPort, adminPort);
    started.push(first);
    await waitFor('the endpoint and credentials to be printed', () => /Bucket:\s+default-bucket/.test(first.out()));
    const keyId = /Access key ID: (GK[0-9a-f]{24})/.exec(first.out())![1]!;
    const secret = /Secret key:\s+([0-9a-f]{64})/.exec(first.out())![1]!;
    assert.match(first.out(), new RegExp(`S3 endpoint:\\s+http://127.0.0.1:${s3Port}`));
    assert.match(first.out(), /Region:\s+garage/);
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'garage',
      forcePathStyle: true,
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
    });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'default-bucket', Key: 'hello.txt', Body: 'hello' }));
      // The CLI reaches the node through the configuration written beside the data.
      const status = await run(process.execPath, [MAIN, '-c', join(dataDir, 'garage.toml'), 'bucket', 'list']);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /default-bucket/);
      // The admin API and console listen too, with a token generated beside the data.
      assert.match(first.out(), new RegExp(`Web console:\\s+http://127.0.0.1:${adminPort}/`));
      const token = readFileSync(join(dataDir, 'admin_token'), 'utf8').trim();
      const health = await fetch(`http://127.0.0.1:${adminPort}/v2/GetClusterHealth`, {
        headers: { authorization: `Bearer ${token}`, connection: 'close' },
      });
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'healthy');
      assert.doesNotMatch(first.out(), new RegExp(token), 'the admin token is not printed');
      assert.equal(await stop(first), 0, 'SIGTERM is a clean shutdown');

      const second = startDefault(dataDir, s3Port, rpcPort, adminPort);
      started.push(second);
      await waitFor('the second start', () => /Bucket:\s+default-bucket/.test(second.out()));
      assert.equal(/Access key ID: (GK[0-9a-f]{24})/.exec(second.out())![1], keyId, 'the same key is printed again');
      const r = await s3.send(new GetObjectCommand({ Bucket: 'default-bucket', Key: 'hello.txt' }));
      assert.equal(await r.Body!.transformToString(), 'hello');
      assert.equal(await stop(second), 0);
      assert.ok(existsSync(join(dataDir, 'meta', 'node_key')));
    } finally {
      s3.destroy();
    }
  });

  it('bin/garage (what npx garage runs) starts the program with the pinned Node', async () => {
    const r = await run(join(ROOT, 'bin', 'garage'), ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage: garage/);
    const v = await run(join(ROOT, 'bin', 'garage'), ['server', '--help']);
    assert.match(v.stdout, /--single-node/);
  });
});
