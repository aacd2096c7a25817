// GetObject / HeadObject with ?partNumber=N (AWS SDK v3): the part's bytes as a 206 with its
// Content-Range and the parts count; a single-part object has one part.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Error, useNode } from './harness.ts';

const MiB = 1 << 20;
const BUCKET = 'parts';

describe('part reads (?partNumber=N)', () => {
  let s3: S3Client;
  const parts = [randomBytes(5 * MiB), randomBytes(MiB + 7)];
  const single = randomBytes(10_000);

  const node = useNode(BUCKET);
  before(async () => {
    ({ s3 } = node);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp' }));
    // Parts 1 and 3: part numbers need not be contiguous.
    const done = [];
    for (const [i, n] of [1, 3].entries()) {
      const r = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: 'mp', UploadId, PartNumber: n, Body: parts[i] }),
      );
      done.push({ PartNumber: n, ETag: r.ETag });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'mp', UploadId, MultipartUpload: { Parts: done } }),
    );
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'single', Body: single }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'empty', Body: Buffer.alloc(0) }));
  });

  it('GetObject of each part of a multipart object: its bytes, 206, Content-Range, parts count', async () => {
    const total = parts[0]!.length + parts[1]!.length;
    let offset = 0;
    for (const [i, n] of [1, 3].entries()) {
      const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp', PartNumber: n }));
      assert.equal(r.$metadata.httpStatusCode, 206);
      assert.equal(r.PartsCount, 2);
      const len = parts[i]!.length;
      assert.equal(r.ContentRange, `bytes ${offset}-${offset + len - 1}/${total}`);
      assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(parts[i]!));
      offset += len;
    }
  });

  it('HeadObject with partNumber gives the part size', async () => {
    const r = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'mp', PartNumber: 3 }));
    assert.equal(r.ContentLength, parts[1]!.length);
    assert.equal(r.PartsCount, 2);
  });

  it('a part the object does not have is 416 InvalidPartNumber', async () => {
    await s3Error(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp', PartNumber: 2 })),
      'InvalidPartNumber',
      416,
    );
    await s3Error(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'single', PartNumber: 2 })),
      'InvalidPartNumber',
      416,
    );
  });

  it('a single-part object has one part, the whole of it', async () => {
    const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'single', PartNumber: 1 }));
    assert.equal(r.$metadata.httpStatusCode, 206);
    assert.equal(r.ContentRange, `bytes 0-${single.length - 1}/${single.length}`);
    assert.ok(Buffer.from(await r.Body!.transformToByteArray()).equals(single));
    const e = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'empty', PartNumber: 1 }));
    assert.equal(e.ContentLength, 0);
  });

  it('partNumber with a Range header is 400 InvalidRequest', async () => {
    await s3Error(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mp', PartNumber: 1, Range: 'bytes=0-9' })),
      'InvalidRequest',
      400,
    );
  });
});
