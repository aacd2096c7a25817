import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type S3Client,
  PutObjectCommand,
  DeleteObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { type GarageProcess, waitFor, countFiles, getBytes, useNode } from './harness.ts';

describe('garbage collection: deleting objects frees their metadata and blocks', () => {
  let g: GarageProcess;
  let s3: S3Client;

  const node = useNode('gc-bucket', {
    env: { GARAGE_TOMBSTONE_GC_DELAY_MS: '0', GARAGE_GC_INTERVAL_MS: '300', GARAGE_BLOCK_GC_DELAY_MS: '300' },
  });
  before(() => ({ g, s3 } = node));

  it('cascades object → version → block_ref → block and removes tombstones', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 1);
    await s3.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'big', Body: big }));
    await s3.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'big', Body: randomBytes(2 * 1024 * 1024) })); // supersedes the first
    await s3.send(new PutObjectCommand({ Bucket: 'gc-bucket', Key: 'small', Body: 'tiny' }));
    await s3.send(new CopyObjectCommand({ Bucket: 'gc-bucket', Key: 'copy', CopySource: 'gc-bucket/big' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'mpu' }));
    await s3.send(
      new UploadPartCommand({
        Bucket: 'gc-bucket',
        Key: 'mpu',
        UploadId,
        PartNumber: 1,
        Body: randomBytes(5 * 1024 * 1024),
      }),
    );
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'mpu', UploadId }));
    assert.ok(countFiles(join(g.dir, 'data')) > 0);
    for (const Key of ['big', 'small', 'copy']) await s3.send(new DeleteObjectCommand({ Bucket: 'gc-bucket', Key }));
    await waitFor(
      'every object row, version, ref and block to be collected',
      async () => {
        const s = await g.cliOk('stats');
        const items = (t: string) => Number(new RegExp(`^${t}\\s+(\\d+)`, 'm').exec(s)![1]);
        return (
          items('object') === 0 &&
          items('version') === 0 &&
          items('block_ref') === 0 &&
          items('mpu') === 0 &&
          /Blocks stored here: 0/.test(s) &&
          countFiles(join(g.dir, 'data')) === 0
        );
      },
      30_000,
    );
  });

  it('keeps the blocks of a part that was uploaded twice with the same bytes (a client retry)', async () => {
    const part1 = randomBytes(5 * 1024 * 1024);
    const part2 = randomBytes(1000);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'gc-bucket', Key: 'retried' }));
    await s3.send(new UploadPartCommand({ Bucket: 'gc-bucket', Key: 'retried', UploadId, PartNumber: 1, Body: part1 }));
    const again = await s3.send(
      new UploadPartCommand({ Bucket: 'gc-bucket', Key: 'retried', UploadId, PartNumber: 1, Body: part1 }),
    );
    const p2 = await s3.send(
      new UploadPartCommand({ Bucket: 'gc-bucket', Key: 'retried', UploadId, PartNumber: 2, Body: part2 }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'gc-bucket',
        Key: 'retried',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: again.ETag },
            { PartNumber: 2, ETag: p2.ETag },
          ],
        },
      }),
    );
    // The replaced upload of part 1 is collected; the blocks it shares with the kept one stay.
    await waitFor(
      'the replaced part upload to be collected',
      async () => {
        const st = await g.cliOk('stats');
        return /^block_ref\s+6\s/m.test(st) && /Resync queue length: 0/.test(st);
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000)); // longer than the block GC delay of this node
    assert.ok((await getBytes(s3, 'gc-bucket', 'retried')).equals(Buffer.concat([part1, part2])));
  });
});
