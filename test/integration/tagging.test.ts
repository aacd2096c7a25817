/**
 * Object and bucket tagging (issue 10, tagging part) with the AWS SDK: tags with PutObject,
 * CopyObject (COPY / REPLACE), multipart and PostObject-free paths, Put/Get/DeleteObjectTagging,
 * x-amz-tagging-count, S3's limits and codes, versionId `null`, bucket tagging, and lifecycle
 * rules filtered on tags (read back, x-amz-expiration, and expiry by the worker).
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteBucketTaggingCommand,
  DeleteObjectTaggingCommand,
  GetBucketLifecycleConfigurationCommand,
  GetBucketTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type S3Client,
  type Tag,
} from '@aws-sdk/client-s3';
import { s3Error, useNode, waitFor } from './harness.ts';

const BUCKET = 'tags';
const tagSet = (...pairs: [string, string][]): Tag[] => pairs.map(([Key, Value]) => ({ Key, Value }));

describe('tagging', () => {
  // A lifecycle "day" of one second, checked every 300 ms.
  const node = useNode(BUCKET, { env: { GARAGE_LIFECYCLE_DAY_MS: '1000', GARAGE_LIFECYCLE_INTERVAL_MS: '300' } });
  let s3: S3Client;
  before(() => {
    s3 = node.s3;
  });
  // The body is read, so no response is left open when the node stops.
  const getWhole = async (input: ConstructorParameters<typeof GetObjectCommand>[0]) => {
    const r = await s3.send(new GetObjectCommand(input));
    return { ...r, text: await r.Body!.transformToString() };
  };
  const tagsOf = async (Key: string, VersionId?: string) =>
    (await s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key, VersionId }))).TagSet;

  it('x-amz-tagging on PutObject, read back exactly; TagCount on GET and HEAD; an overwrite has its own tags', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'a', Body: 'x', Tagging: 'project=blue%20sky&empty=&k%C3%A9y=v+1' }),
    );
    assert.deepEqual(await tagsOf('a'), tagSet(['project', 'blue sky'], ['empty', ''], ['kéy', 'v 1']));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'a' }))).TagCount, 3);
    assert.equal((await getWhole({ Bucket: BUCKET, Key: 'a' })).TagCount, 3);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'a', Body: 'y' }));
    assert.deepEqual(await tagsOf('a'), []);
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'a' }))).TagCount, undefined);
  });

  it('PutObjectTagging replaces the set, DeleteObjectTagging empties it; the data is untouched', async () => {
    for (const [Key, Body] of [
      ['small', 'tiny'],
      ['large', 'L'.repeat(2_000_000)],
    ] as const) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, Tagging: 'a=1' }));
      const put = await s3.send(
        new PutObjectTaggingCommand({ Bucket: BUCKET, Key, Tagging: { TagSet: tagSet(['b', '2'], [' c ', ' 3 ']) } }),
      );
      assert.equal(put.VersionId, 'null');
      // Values are kept exactly, spaces and all.
      assert.deepEqual(await tagsOf(Key), tagSet(['b', '2'], [' c ', ' 3 ']));
      const got = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key }));
      assert.equal(await got.Body!.transformToString(), Body);
      assert.equal(got.TagCount, 2);
      await s3.send(new DeleteObjectTaggingCommand({ Bucket: BUCKET, Key }));
      assert.deepEqual(await tagsOf(Key), []);
      assert.equal((await getWhole({ Bucket: BUCKET, Key })).ContentLength, Body.length);
    }
    await s3Error(
      s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: 'missing', Tagging: { TagSet: [] } })),
      'NoSuchKey',
      404,
    );
    await s3Error(s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'missing' })), 'NoSuchKey', 404);
  });

  it("refuses what S3 refuses: 11 tags, long or malformed keys and values, duplicates, 'aws:' keys", async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'lim', Body: 'x', Tagging: 'keep=1' }));
    const put = (TagSet: Tag[]) =>
      s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: 'lim', Tagging: { TagSet } }));
    const ten = Array.from({ length: 10 }, (_, i): [string, string] => [`k${i}`, `v${i}`]);
    await put(tagSet(...ten));
    await s3Error(put(tagSet(...ten, ['k10', 'v'])), 'BadRequest', 400);
    // Lengths are in characters: 128 and 256 of them, in any script, are allowed.
    await put(tagSet(['é'.repeat(128), 'ü'.repeat(256)]));
    for (const bad of [
      tagSet(['k'.repeat(129), 'v']),
      tagSet(['k', 'v'.repeat(257)]),
      tagSet(['', 'v']),
      tagSet(['k', 'a\tb']),
      tagSet(['k*', 'v']),
      tagSet(['k', '1'], ['k', '2']),
      tagSet(['aws:cloudformation', 'v']),
    ])
      await s3Error(put(bad), 'InvalidTag', 400);
    assert.deepEqual(await tagsOf('lim'), tagSet(['é'.repeat(128), 'ü'.repeat(256)]), 'refusals changed nothing');
    await s3Error(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'lim2', Body: 'x', Tagging: 'a=1&a=2' })),
      'InvalidArgument',
      400,
    );
    const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&');
    await s3Error(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'lim2', Body: 'x', Tagging: eleven })),
      'BadRequest',
      400,
    );
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'lim2' })), 'NotFound', 404);
  });

  it('CopyObject copies the tags (COPY, the default) or takes new ones (REPLACE); multipart takes them at creation', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'src', Body: 'source', Tagging: 'from=src' }));
    await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'c1', CopySource: `${BUCKET}/src` }));
    assert.deepEqual(await tagsOf('c1'), tagSet(['from', 'src']));
    await s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: 'c2',
        CopySource: `${BUCKET}/src`,
        TaggingDirective: 'REPLACE',
        Tagging: 'new=1',
      }),
    );
    assert.deepEqual(await tagsOf('c2'), tagSet(['new', '1']));
    await s3.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: 'c3', CopySource: `${BUCKET}/src`, TaggingDirective: 'REPLACE' }),
    );
    assert.deepEqual(await tagsOf('c3'), []);
    const bad = s3.send(
      new CopyObjectCommand({
        Bucket: BUCKET,
        Key: 'c4',
        CopySource: `${BUCKET}/src`,
        TaggingDirective: 'MERGE' as 'COPY',
      }),
    );
    await s3Error(bad, 'InvalidArgument', 400);
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mpu', Tagging: 'stage=upload' }));
    const p = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: 'mpu', UploadId: c.UploadId, PartNumber: 1, Body: 'part' }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key: 'mpu',
        UploadId: c.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] },
      }),
    );
    assert.deepEqual(await tagsOf('mpu'), tagSet(['stage', 'upload']));
  });

  it('versionId: `null` names the one version; any other id is 400 InvalidArgument, never the current version', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'v', Body: 'x', Tagging: 't=1' }));
    assert.deepEqual(await tagsOf('v', 'null'), tagSet(['t', '1']));
    await s3Error(
      s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: 'v', VersionId: 'abc' })),
      'InvalidArgument',
      400,
    );
    await s3Error(
      s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'v', VersionId: 'abc' })),
      'InvalidArgument',
      400,
    );
    await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'v2', CopySource: `${BUCKET}/v?versionId=abc` })),
      'InvalidArgument',
      400,
    );
    assert.equal((await getWhole({ Bucket: BUCKET, Key: 'v', VersionId: 'null' })).ContentLength, 1);
  });

  it('bucket tagging: 404 NoSuchTagSet before, the set read back, 50 at most, deleted', async () => {
    await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: BUCKET })), 'NoSuchTagSet', 404);
    await s3.send(
      new PutBucketTaggingCommand({ Bucket: BUCKET, Tagging: { TagSet: tagSet(['team', 'storage'], ['cost', '42']) } }),
    );
    assert.deepEqual(
      (await s3.send(new GetBucketTaggingCommand({ Bucket: BUCKET }))).TagSet,
      tagSet(['team', 'storage'], ['cost', '42']),
    );
    const many = Array.from({ length: 51 }, (_, i): [string, string] => [`k${i}`, 'v']);
    await s3Error(
      s3.send(new PutBucketTaggingCommand({ Bucket: BUCKET, Tagging: { TagSet: tagSet(...many) } })),
      'BadRequest',
      400,
    );
    await s3.send(new PutBucketTaggingCommand({ Bucket: BUCKET, Tagging: { TagSet: tagSet(...many.slice(0, 50)) } }));
    assert.equal((await s3.send(new GetBucketTaggingCommand({ Bucket: BUCKET }))).TagSet?.length, 50);
    await s3.send(new DeleteBucketTaggingCommand({ Bucket: BUCKET }));
    await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: BUCKET })), 'NoSuchTagSet', 404);
  });

  it('lifecycle rules filtered on tags: read back, x-amz-expiration on matching objects only, expired by the worker', async () => {
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: BUCKET,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'tagged',
              Status: 'Enabled',
              Filter: { Tag: { Key: 'ttl', Value: 'short' } },
              Expiration: { Days: 1 },
            },
            {
              ID: 'both',
              Status: 'Enabled',
              Filter: { And: { Prefix: 'logs/', Tags: tagSet(['ttl', 'logs'], ['env', 'dev']) } },
              Expiration: { Days: 1 },
            },
          ],
        },
      }),
    );
    const rules = (await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: BUCKET }))).Rules;
    assert.deepEqual(rules?.[0]?.Filter, { Tag: { Key: 'ttl', Value: 'short' } });
    assert.deepEqual(rules?.[1]?.Filter?.And, { Prefix: 'logs/', Tags: tagSet(['ttl', 'logs'], ['env', 'dev']) });
    const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'exp/a', Body: 'x', Tagging: 'ttl=short' }));
    assert.match(put.Expiration ?? '', /rule-id="tagged"/);
    const other = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'exp/b', Body: 'x', Tagging: 'ttl=long' }));
    assert.equal(other.Expiration, undefined);
    // Both tags and the prefix are needed for the And rule.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'logs/one', Body: 'x', Tagging: 'ttl=logs' }));
    const all = await s3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'logs/two', Body: 'x', Tagging: 'ttl=logs&env=dev&more=1' }),
    );
    assert.match(all.Expiration ?? '', /rule-id="both"/);
    // A tag set later makes a rule apply: the worker reads the tags the object has now.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'exp/later', Body: 'x' }));
    await s3.send(
      new PutObjectTaggingCommand({ Bucket: BUCKET, Key: 'exp/later', Tagging: { TagSet: tagSet(['ttl', 'short']) } }),
    );
    const gone = (Key: string) =>
      s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key })).then(
        () => false,
        () => true,
      );
    await waitFor('the tagged objects to expire', async () =>
      (await gone('exp/a')) && (await gone('logs/two')) && (await gone('exp/later')) ? true : undefined,
    );
    assert.equal(await gone('exp/b'), false, 'another tag value keeps the object');
    assert.equal(await gone('logs/one'), false, 'one of two tags is not enough');
    // Tags cannot be combined with AbortIncompleteMultipartUpload, as in S3.
    await s3Error(
      s3.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: BUCKET,
          LifecycleConfiguration: {
            Rules: [
              {
                ID: 'x',
                Status: 'Enabled',
                Filter: { Tag: { Key: 'a', Value: 'b' } },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
              },
            ],
          },
        }),
      ),
      'InvalidRequest',
      400,
    );
  });
});
