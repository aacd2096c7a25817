import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GarageProcess, quickStart, s3Client } from './harness.ts';

describe('bucket counters and quotas', () => {
  let g: GarageProcess;
  let s3: S3Client;

  before(async () => {
    g = await GarageProcess.create();
    const { keyId, secret } = await quickStart(g, 'quota-bucket');
    s3 = s3Client(g, keyId, secret);
  });
  after(async () => {
    s3.destroy();
    await g.destroy();
  });

  const put = (Key: string, size: number) => s3.send(new PutObjectCommand({ Bucket: 'quota-bucket', Key, Body: randomBytes(size) }));

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
    await assert.rejects(put('d', 100), (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.name === 'QuotaExceeded' && e.$metadata?.httpStatusCode === 403);
    await put('c', 900_000); // replacing an object is not one more object, and fits in 3 MB
    await assert.rejects(put('a', 1_500_000), (e: Error) => e.name === 'QuotaExceeded', 'over the size quota');
    await s3.send(new DeleteObjectCommand({ Bucket: 'quota-bucket', Key: 'c' }));
    await put('d', 100);
    await g.cliOk('bucket', 'set-quotas', 'quota-bucket', '--max-objects', 'none', '--max-size', 'none');
    await put('e', 100);
    assert.match(await g.cliOk('bucket', 'info', 'quota-bucket'), /Objects: 4$/m);
  });
});
