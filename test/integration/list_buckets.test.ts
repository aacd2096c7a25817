// ListBuckets with max-buckets / continuation-token / prefix / bucket-region (AWS SDK v3).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, ListBucketsCommand, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { type GarageProcess, useNode } from './harness.ts';

describe('ListBuckets pagination', () => {
  let g: GarageProcess;
  let s3: S3Client;
  const names = ['lb-a', 'lb-b', 'lb-c', 'lb-d', 'lb-e', 'other'];

  const node = useNode('lb-0');
  before(async () => {
    ({ g, s3 } = node);
    await g.cliOk('key', 'allow', '--create-bucket', node.keyId);
    for (const Bucket of names) await s3.send(new CreateBucketCommand({ Bucket }));
  });

  it('pages through every bucket in name order, with a prefix', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await s3.send(new ListBucketsCommand({ MaxBuckets: 2, Prefix: 'lb-', ContinuationToken: token }));
      assert.ok((r.Buckets ?? []).length <= 2);
      assert.equal(r.Prefix, 'lb-');
      for (const b of r.Buckets ?? []) {
        seen.push(b.Name!);
        assert.equal(b.BucketRegion, 'garage');
      }
      token = r.ContinuationToken;
      pages++;
    } while (token);
    assert.deepEqual(seen, ['lb-0', 'lb-a', 'lb-b', 'lb-c', 'lb-d', 'lb-e']);
    assert.equal(pages, 3);
    const all = await s3.send(new ListBucketsCommand({}));
    assert.equal(all.Buckets?.length, 7);
    assert.equal(all.ContinuationToken, undefined);
  });

  it('bucket-region other than ours lists nothing; bad max-buckets and tokens are 400 InvalidArgument', async () => {
    assert.equal((await s3.send(new ListBucketsCommand({ BucketRegion: 'eu-west-3' }))).Buckets?.length ?? 0, 0);
    for (const cmd of [
      new ListBucketsCommand({ MaxBuckets: 0 }),
      new ListBucketsCommand({ MaxBuckets: 10001 }),
      new ListBucketsCommand({ ContinuationToken: '!!not a token' }),
    ]) {
      await assert.rejects(s3.send(cmd), (e: unknown) => {
        assert.ok(e instanceof S3ServiceException);
        assert.equal(e.name, 'InvalidArgument');
        assert.equal(e.$metadata.httpStatusCode, 400);
        return true;
      });
    }
  });
});
