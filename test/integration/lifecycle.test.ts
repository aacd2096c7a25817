import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  PutObjectCommand,
  HeadObjectCommand,
  CreateMultipartUploadCommand,
  ListMultipartUploadsCommand,
  PutBucketLifecycleConfigurationCommand,
  GetBucketLifecycleConfigurationCommand,
  DeleteBucketLifecycleCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { waitFor, useNode } from './harness.ts';

describe('bucket lifecycle: expiration and aborting unfinished uploads', () => {
  let s3: S3Client;

  // A lifecycle "day" of one second, checked every 300 ms.
  const node = useNode('life', { env: { GARAGE_LIFECYCLE_DAY_MS: '1000', GARAGE_LIFECYCLE_INTERVAL_MS: '300' } });
  before(() => ({ s3 } = node));

  it('stores, returns and deletes the configuration', async () => {
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'life',
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'tmp',
              Status: 'Enabled',
              Filter: { Prefix: 'tmp/' },
              Expiration: { Days: 2 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
            },
          ],
        },
      }),
    );
    const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'life' }));
    assert.equal(got.Rules?.[0]?.ID, 'tmp');
    assert.equal(got.Rules?.[0]?.Expiration?.Days, 2);
    await s3.send(new DeleteBucketLifecycleCommand({ Bucket: 'life' }));
    await assert.rejects(
      s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'life' })),
      (e: Error) => e.name === 'NoSuchLifecycleConfiguration',
    );
  });

  it('expires matching objects and aborts old uploads, and leaves the rest', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'tmp/a', Body: 'a' }));
    await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'keep/b', Body: 'b' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'life', Key: 'tmp/upload' }));
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'life',
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'tmp',
              Status: 'Enabled',
              Filter: { Prefix: 'tmp/' },
              Expiration: { Days: 1 },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
          ],
        },
      }),
    );
    await waitFor(
      'tmp/a to expire and the upload to be aborted',
      async () => {
        const gone = await s3.send(new HeadObjectCommand({ Bucket: 'life', Key: 'tmp/a' })).then(
          () => false,
          () => true,
        );
        const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'life' }));
        return gone && !uploads.Uploads?.some((u) => u.UploadId === UploadId);
      },
      20_000,
    );
    await s3.send(new HeadObjectCommand({ Bucket: 'life', Key: 'keep/b' }));
  });
});
