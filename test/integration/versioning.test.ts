/**
 * Bucket versioning (issue 10) with the AWS SDK: Put/GetBucketVersioning, version ids on every
 * write, reads, copies, tagging and deletes by id, delete markers (404 and 405 with
 * x-amz-delete-marker), the null version of suspended and pre-versioning objects, DeleteObjects
 * with version ids, ListObjectVersions with its markers, prefixes and every page boundary,
 * blocks freed exactly when their version goes, and the noncurrent lifecycle actions.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketLifecycleConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  UploadPartCommand,
  type ListObjectVersionsCommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Error, useNode, waitFor } from './harness.ts';

const BUCKET = 'versioned';

/** Hashes of the block files below a data directory. */
function blockFiles(dir: string): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    if (e === 'tmp') return [];
    const p = join(dir, e);
    return statSync(p).isDirectory() ? blockFiles(p) : [e.replace(/\.zst$/, '')];
  });
}

describe('versioning', () => {
  // A lifecycle "day" of one second, checked every 300 ms; GC fast so freed blocks go quickly.
  const node = useNode(BUCKET, {
    env: {
      GARAGE_LIFECYCLE_DAY_MS: '1000',
      GARAGE_LIFECYCLE_INTERVAL_MS: '300',
      GARAGE_BLOCK_GC_DELAY_MS: '500',
      GARAGE_GC_INTERVAL_MS: '300',
    },
  });
  let s3: S3Client;
  const bucketSeq = { n: 0 };
  /** A new bucket, versioned (Enabled) unless told otherwise. */
  const newBucket = async (status: 'Enabled' | 'Suspended' | null = 'Enabled') => {
    const Bucket = `ver-${bucketSeq.n++}`;
    await s3.send(new CreateBucketCommand({ Bucket }));
    if (status === 'Suspended')
      await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    if (status) await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: status } }));
    return Bucket;
  };
  const put = async (Bucket: string, Key: string, Body: string | Buffer) =>
    (await s3.send(new PutObjectCommand({ Bucket, Key, Body }))).VersionId;
  const get = async (Bucket: string, Key: string, VersionId?: string) => {
    const r = await s3.send(new GetObjectCommand({ Bucket, Key, VersionId }));
    return { id: r.VersionId, text: await r.Body!.transformToString() };
  };
  /** Every page of ListObjectVersions, with `max` entries a page. */
  const listAll = async (Bucket: string, opts: { max?: number; prefix?: string; delimiter?: string } = {}) => {
    const pages: ListObjectVersionsCommandOutput[] = [];
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (;;) {
      const r = await s3.send(
        new ListObjectVersionsCommand({
          Bucket,
          MaxKeys: opts.max,
          Prefix: opts.prefix,
          Delimiter: opts.delimiter,
          KeyMarker,
          VersionIdMarker,
        }),
      );
      pages.push(r);
      if (!r.IsTruncated) break;
      KeyMarker = r.NextKeyMarker;
      VersionIdMarker = r.NextVersionIdMarker;
      assert.ok(pages.length < 100, 'the listing ends');
    }
    const entries = pages.flatMap((p) => [
      ...(p.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}${v.IsLatest ? '*' : ''}`),
      ...(p.DeleteMarkers ?? []).map((v) => `${v.Key}@${v.VersionId}${v.IsLatest ? '*' : ''} (marker)`),
    ]);
    const prefixes = pages.flatMap((p) => (p.CommonPrefixes ?? []).map((c) => c.Prefix));
    return { entries: entries.sort(), prefixes, pages };
  };
  before(async () => {
    s3 = node.s3;
    await node.g.cliOk('key', 'allow', '--create-bucket', node.keyId);
  });

  it('Put/GetBucketVersioning: none until enabled, then Enabled or Suspended; bad documents refused', async () => {
    const Bucket = await newBucket(null);
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, undefined);
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Enabled');
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Suspended');
    await s3Error(
      s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Off' as 'Enabled' } })),
      'MalformedXML',
      400,
    );
    await s3Error(
      s3.send(
        new PutBucketVersioningCommand({
          Bucket,
          VersioningConfiguration: { Status: 'Enabled', MFADelete: 'Enabled' },
        }),
      ),
      'NotImplemented',
      501,
    );
    assert.equal((await s3.send(new GetBucketVersioningCommand({ Bucket }))).Status, 'Suspended');
  });

  it('every PUT is a version of its own, each readable by id; the newest is the object', async () => {
    const Bucket = await newBucket();
    const v1 = await put(Bucket, 'k', 'one');
    const v2 = await put(Bucket, 'k', 'two');
    assert.match(v1 ?? '', /^[0-9a-f]{32}$/);
    assert.notEqual(v1, v2);
    assert.deepEqual(await get(Bucket, 'k'), { id: v2, text: 'two' });
    assert.deepEqual(await get(Bucket, 'k', v1), { id: v1, text: 'one' });
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'k', VersionId: v1 }));
    assert.equal(head.VersionId, v1);
    assert.equal(head.ContentLength, 3);
    const { entries } = await listAll(Bucket);
    assert.deepEqual(entries, [`k@${v1}`, `k@${v2}*`].sort());
    // Only the current version is an object of ListObjects.
    const objs = await s3.send(new ListObjectsV2Command({ Bucket }));
    assert.deepEqual(
      objs.Contents?.map((c) => [c.Key, c.Size]),
      [['k', 3]],
    );
  });

  it('a DELETE writes a marker: GET is 404 and a GET of the marker 405, both with x-amz-delete-marker; deleting the marker brings the object back', async () => {
    const Bucket = await newBucket();
    const v1 = await put(Bucket, 'k', 'one');
    const del = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    assert.equal(del.DeleteMarker, true);
    assert.match(del.VersionId ?? '', /^[0-9a-f]{32}$/);
    const e404 = await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k' })), 'NoSuchKey', 404);
    assert.equal(e404.$response?.headers['x-amz-delete-marker'], 'true');
    assert.equal(e404.$response?.headers['x-amz-version-id'], del.VersionId);
    const e405 = await s3Error(
      s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: del.VersionId })),
      'MethodNotAllowed',
      405,
    );
    assert.equal(e405.$response?.headers['x-amz-delete-marker'], 'true');
    const head405 = await s3
      .send(new HeadObjectCommand({ Bucket, Key: 'k', VersionId: del.VersionId }))
      .catch((e) => e);
    assert.equal(head405.$metadata?.httpStatusCode, 405);
    assert.deepEqual(await get(Bucket, 'k', v1), { id: v1, text: 'one' });
    const { entries } = await listAll(Bucket);
    assert.deepEqual(entries, [`k@${del.VersionId}* (marker)`, `k@${v1}`].sort());
    assert.equal((await s3.send(new ListObjectsV2Command({ Bucket }))).KeyCount, 0);
    const undo = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: del.VersionId }));
    assert.equal(undo.DeleteMarker, true);
    assert.equal(undo.VersionId, del.VersionId);
    assert.deepEqual(await get(Bucket, 'k'), { id: v1, text: 'one' });
  });

  it('a delete by id removes that version only; ids that name nothing are NoSuchVersion, malformed ones InvalidArgument', async () => {
    const Bucket = await newBucket();
    const v1 = await put(Bucket, 'k', 'one');
    const v2 = await put(Bucket, 'k', 'two');
    const v3 = await put(Bucket, 'k', 'three');
    const d = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v2 }));
    assert.equal(d.VersionId, v2);
    assert.equal(d.DeleteMarker, undefined);
    await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: v2 })), 'NoSuchVersion', 404);
    await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: 'f'.repeat(32) })), 'NoSuchVersion', 404);
    await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k', VersionId: 'bogus' })), 'InvalidArgument', 400);
    await s3Error(s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: 'bogus' })), 'InvalidArgument', 400);
    // Deleting what is not there succeeds, as in S3.
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v2 }));
    // Deleting the current version makes the previous one current.
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v3 }));
    assert.deepEqual(await get(Bucket, 'k'), { id: v1, text: 'one' });
    assert.deepEqual((await listAll(Bucket)).entries, [`k@${v1}*`]);
  });

  it('suspended: writes replace the null version and keep the versions with ids; a DELETE writes a null marker', async () => {
    const Bucket = await newBucket();
    const v1 = await put(Bucket, 'k', 'one');
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Suspended' } }));
    assert.equal(await put(Bucket, 'k', 'two'), 'null');
    assert.equal(await put(Bucket, 'k', 'three'), 'null');
    assert.deepEqual(await get(Bucket, 'k'), { id: 'null', text: 'three' });
    assert.deepEqual((await listAll(Bucket)).entries, [`k@${v1}`, 'k@null*'].sort());
    const del = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    assert.equal(del.DeleteMarker, true);
    assert.equal(del.VersionId, 'null');
    assert.deepEqual((await listAll(Bucket)).entries, [`k@${v1}`, 'k@null* (marker)'].sort());
    // Enabled again: new versions get ids, the null marker stays until a null version replaces it.
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const v4 = await put(Bucket, 'k', 'four');
    assert.deepEqual((await listAll(Bucket)).entries, [`k@${v1}`, 'k@null (marker)', `k@${v4}*`].sort());
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: 'null' }));
    assert.deepEqual((await listAll(Bucket)).entries, [`k@${v1}`, `k@${v4}*`].sort());
  });

  it('an object written before versioning is the null version, kept when versioning is enabled', async () => {
    const Bucket = await newBucket(null);
    const before = await s3.send(new PutObjectCommand({ Bucket, Key: 'old', Body: 'first' }));
    assert.equal(before.VersionId, undefined);
    // A bucket never versioned lists its objects as null versions, and its deletes leave no marker.
    await put(Bucket, 'gone', 'x');
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'gone' }));
    assert.deepEqual((await listAll(Bucket)).entries, ['old@null*']);
    await s3.send(new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const v2 = await put(Bucket, 'old', 'second');
    assert.deepEqual(await get(Bucket, 'old', 'null'), { id: 'null', text: 'first' });
    assert.deepEqual(await get(Bucket, 'old'), { id: v2, text: 'second' });
    assert.deepEqual((await listAll(Bucket)).entries, ['old@null', `old@${v2}*`].sort());
  });

  it('CopyObject from a version (restoring it onto its own key), multipart completion and tagging by id', async () => {
    const Bucket = await newBucket();
    const v1 = await put(Bucket, 'k', 'one');
    const v2 = await put(Bucket, 'k', 'two');
    const c = await s3.send(new CopyObjectCommand({ Bucket, Key: 'k', CopySource: `${Bucket}/k?versionId=${v1}` }));
    assert.equal(c.CopySourceVersionId, v1);
    assert.match(c.VersionId ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(await get(Bucket, 'k'), { id: c.VersionId, text: 'one' });
    // A copy of a delete marker by id is refused; of a key whose current version is one, NoSuchKey.
    const m = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    await s3Error(
      s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/k?versionId=${m.VersionId}` })),
      'InvalidRequest',
      400,
    );
    await s3Error(s3.send(new CopyObjectCommand({ Bucket, Key: 'x', CopySource: `${Bucket}/k` })), 'NoSuchKey', 404);
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'mp' }));
    const part = await s3.send(
      new UploadPartCommand({ Bucket, Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'parts' }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket,
        Key: 'mp',
        UploadId: up.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    assert.match(done.VersionId ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(await get(Bucket, 'mp', done.VersionId), { id: done.VersionId, text: 'parts' });
    // Tags belong to a version.
    await s3.send(
      new PutObjectTaggingCommand({ Bucket, Key: 'k', VersionId: v2, Tagging: { TagSet: [{ Key: 'a', Value: '2' }] } }),
    );
    const t2 = await s3.send(new GetObjectTaggingCommand({ Bucket, Key: 'k', VersionId: v2 }));
    assert.equal(t2.VersionId, v2);
    assert.deepEqual(t2.TagSet, [{ Key: 'a', Value: '2' }]);
    assert.deepEqual((await s3.send(new GetObjectTaggingCommand({ Bucket, Key: 'k', VersionId: v1 }))).TagSet, []);
  });

  it('DeleteObjects with version ids: versions removed, markers written and removed, as S3 reports them', async () => {
    const Bucket = await newBucket();
    const a1 = await put(Bucket, 'a', '1');
    const a2 = await put(Bucket, 'a', '2');
    await put(Bucket, 'b', '1');
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket,
        Delete: { Objects: [{ Key: 'a', VersionId: a1 }, { Key: 'b' }, { Key: 'c', VersionId: 'bad' }] },
      }),
    );
    const byKey = new Map((r.Deleted ?? []).map((d) => [d.Key, d]));
    assert.equal(byKey.get('a')?.VersionId, a1);
    assert.equal(byKey.get('a')?.DeleteMarker, undefined);
    assert.equal(byKey.get('b')?.DeleteMarker, true);
    const marker = byKey.get('b')?.DeleteMarkerVersionId;
    assert.match(marker ?? '', /^[0-9a-f]{32}$/);
    assert.deepEqual(
      r.Errors?.map((e) => [e.Key, e.VersionId, e.Code]),
      [['c', 'bad', 'InvalidArgument']],
    );
    const r2 = await s3.send(
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'b', VersionId: marker }] } }),
    );
    assert.equal(r2.Deleted?.[0]?.DeleteMarker, true);
    assert.equal(r2.Deleted?.[0]?.DeleteMarkerVersionId, marker);
    assert.deepEqual(await get(Bucket, 'a'), { id: a2, text: '2' });
    assert.equal((await get(Bucket, 'b')).text, '1');
  });

  it('ListObjectVersions: prefix, delimiter, and every page size give the same versions, newest first per key', async () => {
    const Bucket = await newBucket();
    const want: string[] = [];
    for (const key of ['a', 'd/1', 'd/2', 'e', 'é']) {
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push(await put(Bucket, key, `${key}${i}`));
      ids.forEach((id, i) => {
        want.push(`${key}@${id}${i === 2 ? '*' : ''}`);
      });
    }
    const m = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'e' }));
    want.push(`e@${m.VersionId}* (marker)`);
    for (let i = 0; i < want.length; i++) want[i] = want[i]!.replace(/^(e@[0-9a-f]+)\*$/, '$1');
    want.sort();
    const full = await listAll(Bucket);
    assert.deepEqual(full.entries, want);
    // Newest first within a key: the listing order is by key, then by time descending.
    const order = [...(full.pages[0]!.Versions ?? [])].filter((v) => v.Key === 'a').map((v) => v.LastModified);
    assert.ok(order.every((t, i) => i === 0 || t! <= order[i - 1]!));
    for (const max of [1, 2, 3, 4, 7]) assert.deepEqual((await listAll(Bucket, { max })).entries, want, `max ${max}`);
    const rolled = await listAll(Bucket, { delimiter: '/' });
    assert.deepEqual(rolled.prefixes, ['d/']);
    assert.deepEqual(
      rolled.entries,
      want.filter((e) => !e.startsWith('d/')),
    );
    for (const max of [1, 2]) {
      const r = await listAll(Bucket, { delimiter: '/', max });
      assert.deepEqual(r.prefixes, ['d/'], `max ${max}`);
      assert.deepEqual(r.entries, rolled.entries, `max ${max}`);
    }
    assert.deepEqual(
      (await listAll(Bucket, { prefix: 'd/', max: 2 })).entries,
      want.filter((e) => e.startsWith('d/')),
    );
    await s3Error(
      s3.send(new ListObjectVersionsCommand({ Bucket, VersionIdMarker: 'f'.repeat(32) })),
      'InvalidArgument',
      400,
    );
  });

  it('a version deleted by id frees exactly its blocks; blocks shared with a kept version stay', async () => {
    const Bucket = await newBucket();
    const data = join(node.g.dir, 'data');
    const baseline = new Set(blockFiles(data));
    const shared = randomBytes(1 << 20);
    const own = Buffer.concat([shared, randomBytes(300_000)]);
    const keep = await put(Bucket, 'big', Buffer.concat([shared, randomBytes(300_000)]));
    const drop = await put(Bucket, 'big', own);
    const added = () => blockFiles(data).filter((h) => !baseline.has(h)).length;
    // Three distinct blocks: the shared first MiB and each version's tail.
    assert.equal(added(), 3);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'big', VersionId: drop }));
    await waitFor('the deleted version tail block to be collected', () => added() === 2, 20_000);
    const r = await s3.send(new GetObjectCommand({ Bucket, Key: 'big', VersionId: keep }));
    assert.equal(
      Buffer.from(await r.Body!.transformToByteArray())
        .subarray(0, 1 << 20)
        .equals(shared),
      true,
    );
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'big', VersionId: keep }));
    await waitFor('every block to be collected', () => added() === 0, 20_000);
  });

  it('DeleteBucket refuses a bucket with noncurrent versions or delete markers', async () => {
    const Bucket = await newBucket();
    const v = await put(Bucket, 'k', 'x');
    const m = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k' }));
    await s3Error(s3.send(new DeleteBucketCommand({ Bucket })), 'BucketNotEmpty', 409);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: v }));
    await s3Error(s3.send(new DeleteBucketCommand({ Bucket })), 'BucketNotEmpty', 409);
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'k', VersionId: m.VersionId }));
    await s3.send(new DeleteBucketCommand({ Bucket }));
  });

  it('lock headers on a bucket without object lock are refused, not ignored', async () => {
    const Bucket = await newBucket();
    const until = new Date(Date.now() + 86_400_000);
    await s3Error(
      s3.send(
        new PutObjectCommand({
          Bucket,
          Key: 'k',
          Body: 'x',
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: until,
        }),
      ),
      'InvalidRequest',
      400,
    );
    await s3Error(
      s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'k', ObjectLockLegalHoldStatus: 'ON' })),
      'InvalidRequest',
      400,
    );
    await s3Error(s3.send(new GetObjectCommand({ Bucket, Key: 'k' })), 'NoSuchKey', 404);
  });

  it('lifecycle: expiration writes a marker, NoncurrentVersionExpiration keeps the newest noncurrent ones, lone markers go', async () => {
    const Bucket = await newBucket();
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push(await put(Bucket, 'nc/k', `v${i}`));
    await put(Bucket, 'exp/k', 'x');
    await put(Bucket, 'dm/k', 'x');
    const dm = await s3.send(new DeleteObjectCommand({ Bucket, Key: 'dm/k' }));
    // Only the marker left on dm/k.
    const dmVersions = (await listAll(Bucket, { prefix: 'dm/' })).pages[0]!.Versions ?? [];
    await s3.send(new DeleteObjectCommand({ Bucket, Key: 'dm/k', VersionId: dmVersions[0]!.VersionId }));
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'nc',
              Status: 'Enabled',
              Filter: { Prefix: 'nc/' },
              NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 1 },
            },
            { ID: 'exp', Status: 'Enabled', Filter: { Prefix: 'exp/' }, Expiration: { Days: 1 } },
            { ID: 'dm', Status: 'Enabled', Filter: { Prefix: 'dm/' }, Expiration: { ExpiredObjectDeleteMarker: true } },
          ],
        },
      }),
    );
    await waitFor(
      'the lifecycle rules to apply',
      async () => {
        const { entries } = await listAll(Bucket);
        const nc = entries.filter((e) => e.startsWith('nc/'));
        const exp = entries.filter((e) => e.startsWith('exp/'));
        const dmLeft = entries.filter((e) => e.startsWith('dm/'));
        return nc.length === 2 && exp.length === 2 && dmLeft.length === 0;
      },
      20_000,
    );
    const { entries } = await listAll(Bucket);
    assert.deepEqual(
      entries.filter((e) => e.startsWith('nc/')),
      [`nc/k@${ids[2]}`, `nc/k@${ids[3]}*`].sort(),
    );
    assert.ok(entries.some((e) => /^exp\/k@[0-9a-f]{32}\* \(marker\)$/.test(e)));
    assert.ok(!entries.some((e) => e.includes(dm.VersionId!)));
    assert.equal((await get(Bucket, 'exp/k', entries.find((e) => /^exp\/k@[0-9a-f]+$/.test(e))!.slice(6))).text, 'x');
  });
});
