import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type S3Client,
  S3ServiceException,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  DeleteBucketCommand,
  HeadBucketCommand,
  PutObjectCommand,
  DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { type GarageProcess, waitFor, countFiles, useNode } from './harness.ts';

/** The HTTP status of a failed SDK call (fails the test if the call succeeds). */
async function statusOf(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return e.$metadata.httpStatusCode;
    throw e;
  }
  assert.fail('expected the request to fail');
}

describe('DeleteBucket with in-progress multipart uploads', () => {
  let g: GarageProcess;
  let s3: S3Client;

  const node = useNode('mpu-only', { env: { GARAGE_GC_INTERVAL_MS: '300', GARAGE_BLOCK_GC_DELAY_MS: '300' } });
  before(() => ({ g, s3 } = node));

  /** Starts an upload in a bucket and stores one part of a few MiB; returns nothing (the blocks are on disk). */
  async function leaveUpload(bucket: string, key: string): Promise<void> {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
    await s3.send(
      new UploadPartCommand({
        Bucket: bucket,
        Key: key,
        UploadId,
        PartNumber: 1,
        Body: randomBytes(3 * 1024 * 1024 + 17),
      }),
    );
  }

  it('S3 DeleteBucket succeeds (204), the bucket is gone and the part blocks are freed', async () => {
    await leaveUpload('mpu-only', 'a/big');
    await leaveUpload('mpu-only', 'b/other');
    assert.ok(countFiles(join(g.dir, 'data')) > 0, 'the parts wrote block files');
    const r = await s3.send(new DeleteBucketCommand({ Bucket: 'mpu-only' }));
    assert.equal(r.$metadata.httpStatusCode, 204);
    assert.equal(await statusOf(s3.send(new HeadBucketCommand({ Bucket: 'mpu-only' }))), 404);
    await waitFor("the aborted uploads' blocks to be collected", () => countFiles(join(g.dir, 'data')) === 0, 30_000);
  });

  it('a bucket with a visible object is still refused (409 BucketNotEmpty), and deletable once emptied', async () => {
    await g.cliOk('bucket', 'create', 'with-object');
    await g.cliOk('bucket', 'allow', '--read', '--write', '--owner', 'with-object', '--key', 'mpu-only-key');
    await s3.send(new PutObjectCommand({ Bucket: 'with-object', Key: 'x', Body: 'hello' }));
    assert.equal(await statusOf(s3.send(new DeleteBucketCommand({ Bucket: 'with-object' }))), 409);
    await s3.send(new DeleteObjectCommand({ Bucket: 'with-object', Key: 'x' }));
    const r = await s3.send(new DeleteBucketCommand({ Bucket: 'with-object' }));
    assert.equal(r.$metadata.httpStatusCode, 204);
  });

  it('`garage bucket delete` behaves the same: uploads do not block it and their blocks are freed', async () => {
    await g.cliOk('bucket', 'create', 'cli-mpu');
    await g.cliOk('bucket', 'allow', '--read', '--write', '--owner', 'cli-mpu', '--key', 'mpu-only-key');
    await leaveUpload('cli-mpu', 'k');
    assert.ok(countFiles(join(g.dir, 'data')) > 0, 'the part wrote block files');
    const del = await g.cli('bucket', 'delete', '--yes', 'cli-mpu');
    assert.equal(del.code, 0, `garage bucket delete failed: ${del.stderr}${del.stdout}`);
    assert.equal(await statusOf(s3.send(new HeadBucketCommand({ Bucket: 'cli-mpu' }))), 404);
    await waitFor("the aborted upload's blocks to be collected", () => countFiles(join(g.dir, 'data')) === 0, 30_000);
  });
});
