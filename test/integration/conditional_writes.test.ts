/**
 * Conditional writes (issue 9 item 3): PutObject, CopyObject, CompleteMultipartUpload and
 * DeleteObject(s) with If-None-Match: * and If-Match, on one node and on a 3-node cluster where
 * concurrent conditional writers race from different nodes: exactly one of two wins.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type GarageProcess, getBytes, RawS3, s3Client, s3Error, startCluster, useNode } from './harness.ts';

const BUCKET = 'cond';
const MiB = 1024 * 1024;

/** The status of a request that may fail: 200 or the S3 error's HTTP status. */
async function statusOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof S3ServiceException) return e.$metadata.httpStatusCode ?? 0;
    throw e;
  }
}

describe('conditional writes on one node', () => {
  const node = useNode(BUCKET);
  let s3: S3Client;
  before(() => {
    s3 = node.s3;
  });

  it('PutObject If-None-Match: * writes a new key once, then 412; If-Match needs the current ETag', async () => {
    const put = (Key: string, Body: Buffer | string, extra: { IfNoneMatch?: string; IfMatch?: string }) =>
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...extra }));
    for (const [key, size] of [
      ['small', 100],
      ['big', 3 * MiB],
    ] as const) {
      const first = randomBytes(size);
      const r = await put(key, first, { IfNoneMatch: '*' });
      const e = await s3Error(put(key, randomBytes(size), { IfNoneMatch: '*' }), 'PreconditionFailed', 412);
      assert.match(e.message, /pre-conditions/);
      assert.ok((await getBytes(s3, BUCKET, key)).equals(first), 'the refused write changed nothing');
      await s3Error(put(key, 'x', { IfMatch: '"0123456789abcdef0123456789abcdef"' }), 'PreconditionFailed', 412);
      const second = randomBytes(size);
      await put(key, second, { IfMatch: r.ETag! });
      assert.ok((await getBytes(s3, BUCKET, key)).equals(second));
      // The old ETag no longer matches; `*` matches any existing object.
      await s3Error(put(key, 'x', { IfMatch: r.ETag! }), 'PreconditionFailed', 412);
      await put(key, 'third', { IfMatch: '*' });
      assert.equal((await getBytes(s3, BUCKET, key)).toString(), 'third');
    }
    await s3Error(put('absent', 'x', { IfMatch: '*' }), 'NoSuchKey', 404);
    await s3Error(put('absent', 'x', { IfMatch: '"abc"' }), 'NoSuchKey', 404);
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'absent' })), 'NotFound', 404);
    // A deleted key is absent again.
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'small' }));
    await put('small', 'again', { IfNoneMatch: '*' });
  });

  it('refuses what it cannot honour: If-None-Match with an ETag, both headers at once (501)', async () => {
    const raw = new RawS3(node.g, node.keyId, node.secret);
    const refused: Record<string, string>[] = [{ 'if-none-match': '"abc"' }, { 'if-none-match': '*', 'if-match': '*' }];
    for (const h of refused) {
      const r = await raw.send('PUT', `/${BUCKET}/refused`, {}, h, Buffer.from('x'));
      assert.equal(r.status, 501, r.body.toString());
      assert.match(r.body.toString(), /<Code>NotImplemented<\/Code>/);
    }
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'refused' })), 'NotFound', 404);
  });

  it('concurrent If-None-Match: * PUTs of one key: exactly one succeeds, the others get 412 or 409', async () => {
    for (let round = 0; round < 6; round++) {
      const key = `race/${round}`;
      const size = round % 2 ? 2 * MiB : 500;
      const bodies = Array.from({ length: 4 }, () => randomBytes(size));
      const results = await Promise.all(
        bodies.map((Body) =>
          statusOf(s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body, IfNoneMatch: '*' }))),
        ),
      );
      const winners = results.flatMap((s, i) => (s === 200 ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${results.join(', ')}`);
      for (const s of results) assert.ok([200, 409, 412].includes(s), `round ${round}: ${results.join(', ')}`);
      assert.ok((await getBytes(s3, BUCKET, key)).equals(bodies[winners[0]!]!), 'the winner is what is stored');
    }
  });

  it('CompleteMultipartUpload If-None-Match / If-Match: a refused completion leaves the upload to complete again', async () => {
    const key = 'mpu';
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'existing' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const parts = [randomBytes(5 * MiB), randomBytes(1000)];
    const done: { PartNumber: number; ETag: string | undefined }[] = [];
    for (const [i, Body] of parts.entries())
      done.push({
        PartNumber: i + 1,
        ETag: (await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body })))
          .ETag,
      });
    const complete = (extra: { IfNoneMatch?: string; IfMatch?: string }) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: done },
          ...extra,
        }),
      );
    await s3Error(complete({ IfNoneMatch: '*' }), 'PreconditionFailed', 412);
    await s3Error(complete({ IfMatch: '"ffffffffffffffffffffffffffffffff"' }), 'PreconditionFailed', 412);
    const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }));
    assert.equal(listed.Parts?.length, 2, 'the upload and its parts are intact');
    assert.equal((await getBytes(s3, BUCKET, key)).toString(), 'existing');
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    await complete({ IfMatch: head.ETag! });
    assert.ok((await getBytes(s3, BUCKET, key)).equals(Buffer.concat(parts)));
  });

  it('CopyObject honours If-None-Match / If-Match on the destination and every x-amz-copy-source-if-* on the source', async () => {
    const src = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/src', Body: randomBytes(4 * MiB) }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/small', Body: 'small source' }));
    const copy = (Key: string, from: string, extra: Record<string, string | Date> = {}) =>
      s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key, CopySource: `${BUCKET}/${from}`, ...extra }));
    for (const from of ['copy/src', 'copy/small']) {
      const dst = `${from}-dst`;
      await copy(dst, from, { IfNoneMatch: '*' });
      await s3Error(copy(dst, from, { IfNoneMatch: '*' }), 'PreconditionFailed', 412);
      await s3Error(copy(dst, from, { IfMatch: '"0000"' }), 'PreconditionFailed', 412);
      const cur = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: dst }));
      await copy(dst, from, { IfMatch: cur.ETag! });
    }
    await s3Error(copy('copy/none', 'copy/src', { IfMatch: '*' }), 'NoSuchKey', 404);
    // Source conditions, as AWS evaluates them (a copy answers 412 where a GET answers 304).
    const past = new Date(Date.now() - 86_400_000);
    const future = new Date(Date.now() + 86_400_000);
    const etag = src.ETag!;
    const cases: [Record<string, string | Date>, number][] = [
      [{ CopySourceIfMatch: etag }, 200],
      [{ CopySourceIfMatch: '"nope"' }, 412],
      [{ CopySourceIfNoneMatch: etag }, 412],
      [{ CopySourceIfNoneMatch: '"nope"' }, 200],
      [{ CopySourceIfModifiedSince: past }, 200],
      [{ CopySourceIfModifiedSince: future }, 412],
      [{ CopySourceIfUnmodifiedSince: future }, 200],
      [{ CopySourceIfUnmodifiedSince: past }, 412],
      // If-Match true and If-Unmodified-Since false: copied.
      [{ CopySourceIfMatch: etag, CopySourceIfUnmodifiedSince: past }, 200],
      // If-None-Match false and If-Modified-Since true: refused.
      [{ CopySourceIfNoneMatch: etag, CopySourceIfModifiedSince: past }, 412],
    ];
    for (const [extra, want] of cases)
      assert.equal(await statusOf(copy('copy/cond', 'copy/src', extra)), want, JSON.stringify(extra));
  });

  it('DeleteObject If-Match and DeleteObjects <ETag> delete only the version named', async () => {
    const a = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'del/a', Body: 'a' }));
    await s3Error(
      s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'del/a', IfMatch: '"00000000000000000000000000000000"' })),
      'PreconditionFailed',
      412,
    );
    assert.equal((await getBytes(s3, BUCKET, 'del/a')).toString(), 'a');
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'del/a', IfMatch: a.ETag! }));
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'del/a' })), 'NotFound', 404);

    const b = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'del/b', Body: 'b' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'del/c', Body: 'c' }));
    const r = await s3.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        Delete: {
          Objects: [
            { Key: 'del/b', ETag: b.ETag! },
            { Key: 'del/c', ETag: '"00000000000000000000000000000000"' },
          ],
        },
      }),
    );
    assert.deepEqual(
      r.Deleted?.map((d) => d.Key),
      ['del/b'],
    );
    assert.deepEqual(
      r.Errors?.map((e) => [e.Key, e.Code]),
      [['del/c', 'PreconditionFailed']],
    );
    assert.equal((await getBytes(s3, BUCKET, 'del/c')).toString(), 'c');
  });
});

describe('conditional writes on a 3-node cluster (rf 3)', () => {
  let nodes: GarageProcess[] = [];
  let clients: S3Client[] = [];
  before(async () => {
    const c = await startCluster(
      [
        { zone: 'a', capacity: 1 },
        { zone: 'b', capacity: 1 },
        { zone: 'c', capacity: 1 },
      ],
      { bucket: BUCKET },
    );
    nodes = c.nodes;
    clients = nodes.map((n) => s3Client(n, c.keyId, c.secret));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('two writers on different nodes race with If-None-Match: *: exactly one wins, every node serves it', async () => {
    for (let round = 0; round < 12; round++) {
      const key = `race2/${round}`;
      const bodies = [randomBytes(round % 3 ? 1000 : MiB + 17), randomBytes(round % 3 ? 1000 : MiB + 17)];
      const results = await Promise.all(
        bodies.map((Body, i) =>
          statusOf(
            clients[(round + i) % 3]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body, IfNoneMatch: '*' })),
          ),
        ),
      );
      const winners = results.flatMap((s, i) => (s === 200 ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${results.join(', ')}`);
      assert.ok([409, 412].includes(results[1 - winners[0]!]!), `round ${round}: ${results.join(', ')}`);
      for (const c of clients) assert.ok((await getBytes(c, BUCKET, key)).equals(bodies[winners[0]!]!));
    }
  });

  it('four writers with If-Match on one ETag: at most one wins, and what is stored is the winner or the original', async () => {
    for (let round = 0; round < 6; round++) {
      const key = `race4/${round}`;
      const original = await clients[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'original' }));
      const bodies = Array.from({ length: 4 }, (_, i) => Buffer.from(`writer ${i} of round ${round}`));
      const results = await Promise.all(
        bodies.map((Body, i) =>
          statusOf(
            clients[i % 3]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body, IfMatch: original.ETag! })),
          ),
        ),
      );
      const winners = results.flatMap((s, i) => (s === 200 ? [i] : []));
      assert.ok(winners.length <= 1, `round ${round}: ${results.join(', ')}`);
      const want = winners.length ? bodies[winners[0]!]! : Buffer.from('original');
      for (const c of clients) assert.ok((await getBytes(c, BUCKET, key)).equals(want), `round ${round}`);
    }
  });
});
