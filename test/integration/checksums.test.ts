/**
 * Checksums end to end (issue 9 item 2) with the AWS SDK: every algorithm stored with a PUT and
 * returned under x-amz-checksum-mode (the SDK validates full-object ones against the body),
 * multipart COMPOSITE and FULL_OBJECT checksums checked, combined and returned, and
 * GetObjectAttributes.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  type ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  type CompletedPart,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createChecksum, encodeChecksum, parseChecksumAlgorithm } from '../../src/api/common/checksum.ts';
import { s3Error, useNode } from './harness.ts';

const BUCKET = 'sums';
const MiB = 1024 * 1024;
const ALGS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;

function digest(alg: (typeof ALGS)[number], ...bufs: Buffer[]): Buffer {
  const h = createChecksum(parseChecksumAlgorithm(alg)!);
  for (const b of bufs) h.update(b);
  return h.digest();
}
const b64 = (alg: (typeof ALGS)[number], ...bufs: Buffer[]) => encodeChecksum(digest(alg, ...bufs));
const field = (alg: string) => `Checksum${alg}` as 'ChecksumCRC32';

describe('checksums end to end', () => {
  const node = useNode(BUCKET);
  let s3: S3Client;
  before(() => {
    s3 = node.s3;
  });

  it('PutObject with each algorithm: GET and HEAD return it with x-amz-checksum-mode: ENABLED, only then', async () => {
    for (const alg of ALGS) {
      for (const size of [10, 2 * MiB + 3]) {
        const Key = `single/${alg}/${size}`;
        const body = randomBytes(size);
        const put = await s3.send(
          new PutObjectCommand({ Bucket: BUCKET, Key, Body: body, ChecksumAlgorithm: alg as ChecksumAlgorithm }),
        );
        assert.equal(put[field(alg)], b64(alg, body), `${alg} echoed on PUT`);
        const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key, ChecksumMode: 'ENABLED' }));
        assert.equal(head[field(alg)], b64(alg, body), `${alg} on HEAD`);
        assert.equal(head.ChecksumType, 'FULL_OBJECT');
        // The SDK validates the body against the checksum it is given.
        const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ChecksumMode: 'ENABLED' }));
        assert.equal(get[field(alg)], b64(alg, body));
        assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body));
        const plain = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key }));
        assert.equal(plain[field(alg)], undefined, 'not without checksum mode');
      }
    }
  });

  /** Uploads parts (the SDK sends each part's checksum), returns what CompleteMultipartUpload needs. */
  async function upload(
    Key: string,
    alg: (typeof ALGS)[number],
    type: 'COMPOSITE' | 'FULL_OBJECT' | undefined,
    parts: Buffer[],
  ): Promise<{ UploadId: string; done: CompletedPart[] }> {
    const c = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: BUCKET,
        Key,
        ChecksumAlgorithm: alg as ChecksumAlgorithm,
        ...(type ? { ChecksumType: type } : {}),
      }),
    );
    assert.equal(c.ChecksumAlgorithm, alg);
    assert.equal(c.ChecksumType, type ?? (alg === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE'));
    const UploadId = c.UploadId!;
    const done: CompletedPart[] = [];
    for (const [i, Body] of parts.entries()) {
      const r = await s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key,
          UploadId,
          PartNumber: i + 1,
          Body,
          ChecksumAlgorithm: alg as ChecksumAlgorithm,
        }),
      );
      assert.equal(r[field(alg)], b64(alg, Body), `part ${i + 1} checksum echoed`);
      done.push({ PartNumber: i + 1, ETag: r.ETag, [field(alg)]: r[field(alg)] });
    }
    return { UploadId, done };
  }

  it('multipart COMPOSITE: the checksum of the parts’ checksums with -N, ListParts and HEAD show them', async () => {
    for (const alg of ['SHA256', 'CRC32'] as const) {
      const Key = `composite/${alg}`;
      const parts = [randomBytes(5 * MiB), randomBytes(1234)];
      const { UploadId, done } = await upload(Key, alg, undefined, parts);
      const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key, UploadId }));
      assert.equal(listed.ChecksumAlgorithm, alg);
      assert.deepEqual(
        listed.Parts?.map((p) => p[field(alg)]),
        parts.map((p) => b64(alg, p)),
      );
      const want = `${b64(alg, ...parts.map((p) => digest(alg, p)))}-2`;
      const r = await s3.send(
        new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts: done } }),
      );
      assert.equal(r[field(alg)], want);
      assert.equal(r.ChecksumType, 'COMPOSITE');
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key, ChecksumMode: 'ENABLED' }));
      assert.equal(head[field(alg)], want);
      assert.equal(head.ChecksumType, 'COMPOSITE');
      // A part read carries that part's own checksum (the SDK checks the body against it).
      for (const [i, p] of parts.entries()) {
        const got = await s3.send(
          new GetObjectCommand({ Bucket: BUCKET, Key, PartNumber: i + 1, ChecksumMode: 'ENABLED' }),
        );
        assert.equal(got[field(alg)], b64(alg, p), `part ${i + 1}'s checksum`);
        assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(p));
      }
      const ranged = await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key, Range: 'bytes=0-9', ChecksumMode: 'ENABLED' }),
      );
      assert.equal(ranged[field(alg)], undefined, 'a range has no checksum');
      assert.equal((await ranged.Body!.transformToByteArray()).length, 10);
    }
  });

  it('multipart FULL_OBJECT: CRCs combined into the whole object’s, checked against the one the client sends', async () => {
    for (const [alg, type] of [
      ['CRC64NVME', undefined],
      ['CRC32', 'FULL_OBJECT'],
      ['CRC32C', 'FULL_OBJECT'],
    ] as const) {
      const Key = `full/${alg}`;
      const parts = [randomBytes(5 * MiB + 1), randomBytes(5 * MiB), randomBytes(77)];
      const whole = Buffer.concat(parts);
      const { UploadId, done } = await upload(Key, alg, type, parts);
      const complete = (extra: Record<string, string>) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key,
            UploadId,
            MultipartUpload: { Parts: done },
            ChecksumType: 'FULL_OBJECT',
            ...extra,
          }),
        );
      await s3Error(complete({ [field(alg)]: b64(alg, parts[0]!) }), 'BadDigest', 400);
      const r = await complete({ [field(alg)]: b64(alg, whole) });
      assert.equal(r[field(alg)], b64(alg, whole));
      assert.equal(r.ChecksumType, 'FULL_OBJECT');
      // The SDK validates the whole body against it.
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ChecksumMode: 'ENABLED' }));
      assert.equal(get[field(alg)], b64(alg, whole));
      assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(whole));
    }
  });

  it('a re-uploaded part replaces its checksum; a wrong one in CompleteMultipartUpload is InvalidPart', async () => {
    const Key = 'reupload';
    const parts = [randomBytes(5 * MiB), randomBytes(100)];
    const { UploadId, done } = await upload(Key, 'SHA256', undefined, parts);
    const again = randomBytes(200);
    const r = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 2, Body: again, ChecksumAlgorithm: 'SHA256' }),
    );
    const stale = [done[0]!, { ...done[1]!, ETag: r.ETag }];
    await s3Error(
      s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts: stale } })),
      'InvalidPart',
      400,
    );
    const fresh = [done[0]!, { PartNumber: 2, ETag: r.ETag, ChecksumSHA256: r.ChecksumSHA256 }];
    const ok = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts: fresh } }),
    );
    assert.equal(ok.ChecksumSHA256, `${b64('SHA256', digest('SHA256', parts[0]!), digest('SHA256', again))}-2`);
  });

  it('refuses a part of another algorithm and impossible algorithm/type pairs (400 InvalidRequest)', async () => {
    const c = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mismatch', ChecksumAlgorithm: 'SHA256' }),
    );
    await s3Error(
      s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: 'mismatch',
          UploadId: c.UploadId,
          PartNumber: 1,
          Body: 'x',
          ChecksumAlgorithm: 'CRC32',
        }),
      ),
      'InvalidRequest',
      400,
    );
    for (const [alg, type] of [
      ['SHA256', 'FULL_OBJECT'],
      ['SHA1', 'FULL_OBJECT'],
      ['CRC64NVME', 'COMPOSITE'],
    ] as const)
      await s3Error(
        s3.send(
          new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'bad', ChecksumAlgorithm: alg, ChecksumType: type }),
        ),
        'InvalidRequest',
        400,
      );
  });

  it('UploadPartCopy in an upload with a checksum gets the part’s checksum computed', async () => {
    const src = randomBytes(5 * MiB + 10);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/src', Body: src }));
    const c = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'copy/dst', ChecksumAlgorithm: 'CRC32C' }),
    );
    const r = await s3.send(
      new UploadPartCopyCommand({
        Bucket: BUCKET,
        Key: 'copy/dst',
        UploadId: c.UploadId,
        PartNumber: 1,
        CopySource: `${BUCKET}/copy/src`,
      }),
    );
    const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: 'copy/dst', UploadId: c.UploadId }));
    assert.equal(listed.Parts?.[0]?.ChecksumCRC32C, b64('CRC32C', src));
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'copy/dst',
        UploadId: c.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r.CopyPartResult?.ETag }] },
      }),
    );
    assert.equal(done.ChecksumCRC32C, `${b64('CRC32C', digest('CRC32C', src))}-1`);
  });

  it('GetObjectAttributes: ETag, Checksum, ObjectParts paged, StorageClass, ObjectSize', async () => {
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(10)];
    const { UploadId, done } = await upload('attrs/mpu', 'SHA1', undefined, parts);
    const fin = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'attrs/mpu',
        UploadId,
        MultipartUpload: { Parts: done },
      }),
    );
    const all = ['ETag', 'Checksum', 'ObjectParts', 'StorageClass', 'ObjectSize'] as const;
    const a = await s3.send(
      new GetObjectAttributesCommand({ Bucket: BUCKET, Key: 'attrs/mpu', ObjectAttributes: [...all], MaxParts: 2 }),
    );
    assert.equal(`"${a.ETag}"`, fin.ETag);
    assert.equal(a.Checksum?.ChecksumSHA1, fin.ChecksumSHA1);
    assert.equal(a.Checksum?.ChecksumType, 'COMPOSITE');
    assert.equal(a.StorageClass, 'STANDARD');
    assert.equal(a.ObjectSize, 10 * MiB + 10);
    assert.equal(a.ObjectParts?.TotalPartsCount, 3);
    assert.equal(a.ObjectParts?.IsTruncated, true);
    assert.deepEqual(
      a.ObjectParts?.Parts?.map((p) => [p.PartNumber, p.Size, p.ChecksumSHA1]),
      parts.slice(0, 2).map((p, i) => [i + 1, p.length, b64('SHA1', p)]),
    );
    const next = await s3.send(
      new GetObjectAttributesCommand({
        Bucket: BUCKET,
        Key: 'attrs/mpu',
        ObjectAttributes: ['ObjectParts'],
        MaxParts: 2,
        PartNumberMarker: a.ObjectParts?.NextPartNumberMarker,
      }),
    );
    assert.equal(next.ObjectParts?.IsTruncated, false);
    assert.deepEqual(
      next.ObjectParts?.Parts?.map((p) => p.PartNumber),
      [3],
    );
    assert.equal(next.ETag, undefined, 'only what was asked');

    const body = randomBytes(100);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'attrs/one', Body: body, ChecksumAlgorithm: 'CRC32' }));
    const one = await s3.send(
      new GetObjectAttributesCommand({ Bucket: BUCKET, Key: 'attrs/one', ObjectAttributes: [...all] }),
    );
    assert.equal(one.ObjectSize, 100);
    assert.equal(one.Checksum?.ChecksumCRC32, b64('CRC32', body));
    assert.equal(one.ObjectParts, undefined, 'a single-part object lists no parts');
    await s3Error(
      s3.send(new GetObjectAttributesCommand({ Bucket: BUCKET, Key: 'attrs/none', ObjectAttributes: ['ETag'] })),
      'NoSuchKey',
      404,
    );
  });
});
