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
  GetObjectCommand,
  type LifecycleRule,
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

  const put = (rules: LifecycleRule[]) =>
    s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'life', LifecycleConfiguration: { Rules: rules } }));

  it('reads rules back as written: generated IDs, legacy Prefix, size filters, And, ExpiredObjectDeleteMarker', async () => {
    await put([
      { Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
      { ID: 'legacy', Status: 'Enabled', Prefix: 'old/', Expiration: { Days: 7 } },
      { ID: 'big', Status: 'Enabled', Filter: { ObjectSizeGreaterThan: 1_000_000 }, Expiration: { Days: 3 } },
      {
        ID: 'and',
        Status: 'Disabled',
        Filter: { And: { Prefix: 'media/', ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 5000 } },
        Expiration: { Date: new Date('2031-03-01T00:00:00Z') },
      },
      { ID: 'markers', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { ExpiredObjectDeleteMarker: true } },
    ]);
    const got = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'life' }))).Rules!;
    assert.equal(got.length, 5);
    assert.match(got[0]!.ID!, /^[A-Za-z0-9_-]{48}$/, 'a rule without ID gets one');
    assert.equal(got[0]!.Filter?.Prefix, 'logs/');
    assert.equal(got[1]!.Prefix, 'old/');
    assert.equal(got[1]!.Filter, undefined);
    assert.equal(got[2]!.Filter?.ObjectSizeGreaterThan, 1_000_000);
    assert.deepEqual(got[3]!.Filter?.And, { Prefix: 'media/', ObjectSizeGreaterThan: 10, ObjectSizeLessThan: 5000 });
    assert.equal(got[3]!.Status, 'Disabled');
    assert.equal(got[3]!.Expiration?.Date?.toISOString(), '2031-03-01T00:00:00.000Z');
    assert.equal(got[4]!.Expiration?.ExpiredObjectDeleteMarker, true);
    // The generated ID is kept: reading again gives the same one.
    const again = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'life' }))).Rules!;
    assert.equal(again[0]!.ID, got[0]!.ID);
  });

  it('refuses what S3 refuses, with its codes', async () => {
    const refused: [LifecycleRule[], string][] = [
      [
        [{ ID: 'x'.repeat(256), Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 1 } }],
        'InvalidArgument',
      ],
      [
        [
          { ID: 'same', Status: 'Enabled', Filter: { Prefix: 'a' }, Expiration: { Days: 1 } },
          { ID: 'same', Status: 'Enabled', Filter: { Prefix: 'b' }, Expiration: { Days: 2 } },
        ],
        'InvalidArgument',
      ],
      [
        [
          {
            ID: 'noon',
            Status: 'Enabled',
            Filter: { Prefix: '' },
            Expiration: { Date: new Date('2031-03-01T12:00:00Z') },
          },
        ],
        'InvalidArgument',
      ],
      [[{ ID: 'zero', Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: 0 } }], 'InvalidArgument'],
      [
        [
          {
            ID: 'sizes',
            Status: 'Enabled',
            Filter: { And: { ObjectSizeGreaterThan: 100, ObjectSizeLessThan: 50 } },
            Expiration: { Days: 1 },
          },
        ],
        'InvalidArgument',
      ],
      [
        [
          {
            ID: 'both',
            Status: 'Enabled',
            Filter: { Prefix: '' },
            Expiration: { Days: 1, ExpiredObjectDeleteMarker: true },
          },
        ],
        'MalformedXML',
      ],
      [
        [
          {
            ID: 'dup-tags',
            Status: 'Enabled',
            Filter: {
              And: {
                Tags: [
                  { Key: 'a', Value: 'b' },
                  { Key: 'a', Value: 'c' },
                ],
              },
            },
            Expiration: { Days: 1 },
          },
        ],
        'InvalidRequest',
      ],
      [
        [
          {
            ID: 'abort-sized',
            Status: 'Enabled',
            Filter: { ObjectSizeGreaterThan: 5 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
        'InvalidArgument',
      ],
    ];
    await put([{ ID: 'before', Status: 'Enabled', Filter: { Prefix: 'p/' }, Expiration: { Days: 9 } }]);
    for (const [rules, code] of refused)
      await assert.rejects(put(rules), (e: Error) => e.name === code, `${rules[0]!.ID}: ${code}`);
    const kept = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'life' }))).Rules!;
    assert.deepEqual(
      kept.map((r) => r.ID),
      ['before'],
      'a refused configuration changes nothing',
    );
  });

  it('announces expiry in x-amz-expiration on PUT, HEAD and GET', async () => {
    await put([
      {
        ID: 'dated',
        Status: 'Enabled',
        Filter: { Prefix: 'dated/' },
        Expiration: { Date: new Date('2031-03-01T00:00:00Z') },
      },
      { ID: 'aged', Status: 'Enabled', Filter: { Prefix: 'aged/' }, Expiration: { Days: 3 } },
    ]);
    const dated = await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'dated/x', Body: 'x' }));
    assert.equal(dated.Expiration, 'expiry-date="Sat, 01 Mar 2031 00:00:00 GMT", rule-id="dated"');
    await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'aged/y', Body: 'y' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'life', Key: 'aged/y' }));
    const day = 86_400_000;
    const expected = new Date(Math.ceil((head.LastModified!.getTime() + 3 * day) / day) * day).toUTCString();
    // LastModified is to the second: the expiry is the midnight after, whatever the milliseconds.
    assert.equal(head.Expiration, `expiry-date="${expected}", rule-id="aged"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'life', Key: 'dated/x' }));
    assert.equal(got.Expiration, dated.Expiration);
    await got.Body!.transformToString();
    const none = await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'other/z', Body: 'z' }));
    assert.equal(none.Expiration, undefined);
  });

  it("expires only the objects within a rule's size bounds", async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'sized/small', Body: Buffer.alloc(10) }));
    await s3.send(new PutObjectCommand({ Bucket: 'life', Key: 'sized/large', Body: Buffer.alloc(5000) }));
    await put([
      {
        ID: 'large',
        Status: 'Enabled',
        Filter: { And: { Prefix: 'sized/', ObjectSizeGreaterThan: 1000 } },
        Expiration: { Days: 1 },
      },
    ]);
    await waitFor(
      'the large object to expire',
      () =>
        s3.send(new HeadObjectCommand({ Bucket: 'life', Key: 'sized/large' })).then(
          () => false,
          () => true,
        ),
      20_000,
    );
    await s3.send(new HeadObjectCommand({ Bucket: 'life', Key: 'sized/small' }));
  });
});
