import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type GarageProcess, RawS3, xmlErrorCode, useNode } from './harness.ts';

describe('bucket counters and quotas', () => {
  let g: GarageProcess;
  let s3: S3Client;
  let raw: RawS3;

  const node = useNode('quota-bucket');
  before(() => {
    ({ g, s3 } = node);
    raw = new RawS3(g, node.keyId, node.secret);
  });

  const put = (Key: string, size: number) =>
    s3.send(new PutObjectCommand({ Bucket: 'quota-bucket', Key, Body: randomBytes(size) }));

  it('bucket info counts objects and bytes without scanning', async () => {
    await put('a', 1000);
    await put('b', 2_000_000);
    await put('a', 500); // an overwrite changes the size, not the count
    const info = await g.cliOk('bucket', 'info', 'quota-bucket');
    assert.match(info, /Objects: 2$/m);
    assert.match(info, /\(2000500 bytes\)/);
  });

  it('refuses writes over the object and size quotas, and counts deletions', async () => {
    await g.cliOk('bucket', 'set-quotas', 'quota-bucket', '--max-objects', '3', '--max-size', '3MB');
    assert.match(await g.cliOk('bucket', 'info', 'quota-bucket'), /max 3 objects/);
    await put('c', 100);
    await assert.rejects(
      put('d', 100),
      (e: Error & { $metadata?: { httpStatusCode?: number } }) =>
        e.name === 'QuotaExceeded' && e.$metadata?.httpStatusCode === 403,
    );
    await put('c', 900_000); // replacing an object is not one more object, and fits in 3 MB
    await assert.rejects(put('a', 1_500_000), (e: Error) => e.name === 'QuotaExceeded', 'over the size quota');
    await s3.send(new DeleteObjectCommand({ Bucket: 'quota-bucket', Key: 'c' }));
    await put('d', 100);
    await g.cliOk('bucket', 'set-quotas', 'quota-bucket', '--max-objects', 'none', '--max-size', 'none');
    await put('e', 100);
    assert.match(await g.cliOk('bucket', 'info', 'quota-bucket'), /Objects: 4$/m);
  });

  /** Sends `size` random bytes as a Transfer-Encoding: chunked body (no declared length), stopping once answered. */
  function chunkedPut(key: string, size: number, headers: Record<string, string> = {}) {
    // Keep-alive, as SDK clients do: the server then reads on after answering early, so the answer is not lost.
    return raw.send(
      'PUT',
      `/quota-bucket/${key}`,
      {},
      { 'transfer-encoding': 'chunked', connection: 'keep-alive', ...headers },
      (req) => {
        let sent = 0;
        let answered = false;
        req.once('response', () => (answered = true));
        req.on('error', () => undefined);
        const next = (): void => {
          while (sent < size && !answered && !req.destroyed) {
            const n = Math.min(64 * 1024, size - sent);
            sent += n;
            if (!req.write(randomBytes(n))) {
              req.once('drain', next);
              return;
            }
          }
          if (!req.destroyed) req.end();
        };
        next();
      },
    );
  }

  it('counts the bytes of a body without a declared size (chunked) and stops at the size quota', async () => {
    await g.cliOk('bucket', 'set-quotas', 'quota-bucket', '--max-size', '3MB');
    const info = await g.cliOk('bucket', 'info', 'quota-bucket');
    const used = Number(/\((\d+) bytes\)/.exec(info)![1]);
    assert.ok(used < 3_000_000);
    for (const size of [3_000_000 - used + 1, 8 * 1024 * 1024]) {
      const r = await chunkedPut('chunked-big', size);
      assert.equal(r.status, 403, `${size} bytes: ${r.body.toString()}`);
      assert.equal(xmlErrorCode(r.body), 'QuotaExceeded');
      const got = await raw.send('GET', '/quota-bucket/chunked-big');
      assert.equal(got.status, 404, 'nothing of the over-quota object is visible');
    }
    assert.match(await g.cliOk('bucket', 'info', 'quota-bucket'), new RegExp(`\\(${used} bytes\\)`));
    // Up to the quota a chunked body is stored.
    const ok = await chunkedPut('chunked-ok', 3_000_000 - used);
    assert.equal(ok.status, 200, ok.body.toString());
    assert.match(await g.cliOk('bucket', 'info', 'quota-bucket'), /\(3000000 bytes\)/);
    await s3.send(new DeleteObjectCommand({ Bucket: 'quota-bucket', Key: 'chunked-ok' }));
    await g.cliOk('bucket', 'set-quotas', 'quota-bucket', '--max-size', 'none');
  });
});
