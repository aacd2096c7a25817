import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  PutObjectCommand,
  ListObjectVersionsCommand,
  GetBucketVersioningCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { useNode } from './harness.ts';

describe('a bucket never versioned: GetBucketVersioning, ListObjectVersions', () => {
  let s3: S3Client;

  const node = useNode('versions');
  before(async () => {
    ({ s3 } = node);
    for (const k of ['a', 'b', 'dir/c']) await s3.send(new PutObjectCommand({ Bucket: 'versions', Key: k, Body: k }));
  });

  it('reports versioning as never enabled', async () => {
    const v = await s3.send(new GetBucketVersioningCommand({ Bucket: 'versions' }));
    assert.equal(v.Status, undefined);
  });

  it('lists each object as its single "null" version, with pagination and delimiter', async () => {
    const all = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions' }));
    assert.deepEqual(
      all.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest]),
      [
        ['a', 'null', true],
        ['b', 'null', true],
        ['dir/c', 'null', true],
      ],
    );
    const page = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions', MaxKeys: 2 }));
    assert.equal(page.IsTruncated, true);
    const rest = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions', KeyMarker: page.NextKeyMarker }));
    assert.deepEqual(
      rest.Versions?.map((v) => v.Key),
      ['dir/c'],
    );
    const grouped = await s3.send(new ListObjectVersionsCommand({ Bucket: 'versions', Delimiter: '/' }));
    assert.deepEqual(
      grouped.CommonPrefixes?.map((p) => p.Prefix),
      ['dir/'],
    );
  });
});
