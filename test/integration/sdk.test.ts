/**
 * End-to-end tests with the AWS SDK for JavaScript v3 against a real `garage server` process
 * (default SDK checksum settings: CRC32 headers, aws-chunked uploads with a CRC trailer).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { randomBytes, createHash } from 'node:crypto';
import {
  S3Client,
  type S3ServiceException,
  ListBucketsCommand,
  CreateBucketCommand,
  HeadBucketCommand,
  GetBucketLocationCommand,
  DeleteBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  ListPartsCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type GarageProcess, RawS3, s3Error, useNode } from './harness.ts';

const BUCKET = 'sdk-bucket';
const MiB = 1024 * 1024;

function md5(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex');
}

/** Reads a GetObject body into a Buffer. */
async function bodyBytes(body: unknown): Promise<Buffer> {
  const b = body as { transformToByteArray(): Promise<Uint8Array> } | undefined;
  assert.ok(b, 'response has a body');
  return Buffer.from(await b.transformToByteArray());
}

describe('AWS SDK v3 against a garage server', () => {
  let g: GarageProcess;
  let keyId: string;
  let secret: string;
  let s3: S3Client;
  const clients: S3Client[] = [];

  const makeClient = (
    extra: Partial<S3ClientConfig> = {},
    creds?: { accessKeyId: string; secretAccessKey: string },
  ): S3Client => {
    const c = new S3Client({
      endpoint: g.endpoint,
      region: 'garage',
      forcePathStyle: true,
      credentials: creds ?? { accessKeyId: keyId, secretAccessKey: secret },
      ...extra,
    });
    clients.push(c);
    return c;
  };

  const node = useNode(BUCKET);
  before(() => {
    ({ g, keyId, secret } = node);
    s3 = makeClient();
  });

  after(async () => {
    for (const c of clients) c.destroy();
  });

  describe('buckets', () => {
    it('ListBuckets lists the bucket of the key', async () => {
      const r = await s3.send(new ListBucketsCommand({}));
      assert.equal(r.$metadata.httpStatusCode, 200);
      assert.ok(
        r.Buckets?.some((b) => b.Name === BUCKET),
        JSON.stringify(r.Buckets),
      );
      assert.ok(r.Buckets!.every((b) => b.CreationDate instanceof Date));
    });

    it('HeadBucket and GetBucketLocation', async () => {
      const h = await s3.send(new HeadBucketCommand({ Bucket: BUCKET }));
      assert.equal(h.$metadata.httpStatusCode, 200);
      assert.equal(h.BucketRegion, 'garage');
      const loc = await s3.send(new GetBucketLocationCommand({ Bucket: BUCKET }));
      assert.equal(loc.LocationConstraint, 'garage');
    });

    it('CreateBucket needs the create-bucket permission, then works; DeleteBucket refuses a non-empty bucket', async () => {
      await s3Error(s3.send(new CreateBucketCommand({ Bucket: 'sdk-created' })), 'AccessDenied', 403);
      await g.cliOk('key', 'allow', '--create-bucket', keyId);
      const c = await s3.send(new CreateBucketCommand({ Bucket: 'sdk-created' }));
      assert.equal(c.$metadata.httpStatusCode, 200);
      await s3.send(new HeadBucketCommand({ Bucket: 'sdk-created' }));
      const list = await s3.send(new ListBucketsCommand({}));
      assert.deepEqual(
        list.Buckets?.map((b) => b.Name)
          .filter((n) => n === BUCKET || n === 'sdk-created')
          .sort(),
        [BUCKET, 'sdk-created'],
      );

      await s3.send(new PutObjectCommand({ Bucket: 'sdk-created', Key: 'x', Body: 'x' }));
      await s3Error(s3.send(new DeleteBucketCommand({ Bucket: 'sdk-created' })), 'BucketNotEmpty', 409);
      // Still there, object intact.
      const got = await s3.send(new GetObjectCommand({ Bucket: 'sdk-created', Key: 'x' }));
      assert.equal(await got.Body!.transformToString(), 'x');

      await s3.send(new DeleteObjectCommand({ Bucket: 'sdk-created', Key: 'x' }));
      const d = await s3.send(new DeleteBucketCommand({ Bucket: 'sdk-created' }));
      assert.equal(d.$metadata.httpStatusCode, 204);
      // HEAD errors have no body: the SDK names them after the status.
      await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'sdk-created' })), 'NotFound', 404);
      await s3Error(s3.send(new ListObjectsV2Command({ Bucket: 'sdk-created' })), 'NoSuchBucket', 404);
      const remaining = await s3.send(new ListBucketsCommand({}));
      assert.ok(!remaining.Buckets?.some((b) => b.Name === 'sdk-created'));
    });
  });

  describe('objects', () => {
    it('PutObject from a string, GetObject and HeadObject with metadata', async () => {
      const text = 'hello, garage — ünïcødé ✓';
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'obj/string.txt',
          Body: text,
          ContentType: 'text/plain; charset=utf-8',
          Metadata: { color: 'blue', 'the-answer': '42' },
        }),
      );
      const bytes = Buffer.from(text);
      assert.equal(put.ETag, `"${md5(bytes)}"`);

      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' }));
      assert.equal(get.ContentType, 'text/plain; charset=utf-8');
      assert.equal(get.ContentLength, bytes.length);
      assert.deepEqual(get.Metadata, { color: 'blue', 'the-answer': '42' });
      assert.deepEqual(await bodyBytes(get.Body), bytes);

      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' }));
      assert.equal(head.ContentLength, bytes.length);
      assert.equal(head.ETag, `"${md5(bytes)}"`);
      assert.deepEqual(head.Metadata, { color: 'blue', 'the-answer': '42' });
      assert.ok(head.LastModified instanceof Date);
    });

    it('PutObject from a Buffer (several blocks), GetObject full and by Range', async () => {
      const data = randomBytes(2 * MiB + 12345);
      const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'obj/buffer.bin', Body: data }));
      assert.equal(put.ETag, `"${md5(data)}"`);

      const full = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/buffer.bin' }));
      assert.equal(full.ContentLength, data.length);
      assert.ok((await bodyBytes(full.Body)).equals(data));

      // A range crossing the 1 MiB block boundary.
      const from = MiB - 100;
      const to = MiB + 99;
      const part = await s3.send(
        new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/buffer.bin', Range: `bytes=${from}-${to}` }),
      );
      assert.equal(part.$metadata.httpStatusCode, 206);
      assert.equal(part.ContentRange, `bytes ${from}-${to}/${data.length}`);
      assert.equal(part.ContentLength, 200);
      assert.ok((await bodyBytes(part.Body)).equals(data.subarray(from, to + 1)));

      const suffix = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/buffer.bin', Range: 'bytes=-10' }));
      assert.ok((await bodyBytes(suffix.Body)).equals(data.subarray(data.length - 10)));

      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'obj/buffer.bin' }));
      assert.equal(head.ContentLength, data.length);
      assert.equal(head.ETag, `"${md5(data)}"`);
    });

    it('non-ASCII metadata is stored as text and returned as one RFC 2047 encoded word; encoded words pass through', async () => {
      const word = (t: string) => `=?UTF-8?B?${Buffer.from(t).toString('base64')}?=`;
      // The SDK sends é as the byte 0xE9 (ISO-8859-1) and signs its UTF-8 form.
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'meta/latin1', Body: 'x', Metadata: { note: 'café' } }),
      );
      const h1 = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/latin1' }));
      assert.equal(h1.Metadata?.note, word('café'));
      // UTF-8 bytes, signed as sent (as curl or the Go SDK do).
      const raw = new RawS3(g, keyId, secret);
      const text = '日本語 ünïcode €';
      const signed = await raw.sign(
        'PUT',
        `/${BUCKET}/meta/utf8`,
        {},
        { 'x-amz-meta-note': text, 'content-length': '1' },
      );
      signed.headers['x-amz-meta-note'] = Buffer.from(text).toString('latin1');
      const put = await raw.sendSigned('PUT', signed, Buffer.from('y'));
      assert.equal(put.status, 200, put.body.toString());
      const h2 = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/utf8' }));
      assert.equal(h2.Metadata?.note, word(text));
      const g2 = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'meta/utf8' }));
      assert.equal(g2.Metadata?.note, word(text));
      await g2.Body?.transformToString();
      // An encoded word (what SDKs that refuse non-ASCII metadata ask for) is kept exactly as sent, copies included.
      const q = '=?UTF-8?Q?caf=C3=A9?= and =?ISO-8859-1?B?6Q==?=';
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'meta/word', Body: 'z', Metadata: { note: q } }));
      await s3.send(
        new CopyObjectCommand({ Bucket: BUCKET, Key: 'meta/word-copy', CopySource: `${BUCKET}/meta/word` }),
      );
      for (const k of ['meta/word', 'meta/word-copy']) {
        const h = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: k }));
        assert.equal(h.Metadata?.note, q);
      }
    });

    it('PutObject from a Node Readable with ContentLength (aws-chunked with a checksum trailer)', async () => {
      const pieces = Array.from({ length: 7 }, (_, i) => randomBytes(200_000 + i * 1000));
      const data = Buffer.concat(pieces);
      // Record the headers the SDK actually sends, to be sure this is the aws-chunked path.
      const c = makeClient();
      const sent: Record<string, string>[] = [];
      c.middlewareStack.add(
        (next) => async (args) => {
          const req = args.request as { headers?: Record<string, string> };
          if (req.headers) sent.push({ ...req.headers });
          return next(args);
        },
        { step: 'deserialize', name: 'recordHeaders' },
      );
      const put = await c.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'obj/stream.bin',
          Body: Readable.from(pieces),
          ContentLength: data.length,
        }),
      );
      const h = sent[sent.length - 1]!;
      assert.match(h['content-encoding'] ?? '', /aws-chunked/);
      assert.match(h['x-amz-content-sha256'] ?? '', /^STREAMING-.*TRAILER$/);
      assert.match(h['x-amz-trailer'] ?? '', /^x-amz-checksum-crc/);
      assert.equal(h['x-amz-decoded-content-length'], String(data.length));
      assert.equal(
        put.ChecksumCRC32 !== undefined || put.ChecksumCRC32C !== undefined || put.ChecksumCRC64NVME !== undefined,
        true,
        'the server echoes the verified checksum',
      );
      assert.equal(put.$metadata.httpStatusCode, 200);
      assert.equal(put.ETag, `"${md5(data)}"`);
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/stream.bin' }));
      assert.equal(get.ContentLength, data.length);
      assert.ok((await bodyBytes(get.Body)).equals(data));

      // A small stream (stored inline) too.
      const small = Buffer.from('tiny streamed body');
      await s3.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'obj/stream-small.txt',
          Body: Readable.from([small]),
          ContentLength: small.length,
        }),
      );
      const g2 = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/stream-small.txt' }));
      assert.ok((await bodyBytes(g2.Body)).equals(small));
    });

    it('CopyObject, then read the copy', async () => {
      const data = randomBytes(1_500_000);
      await s3.send(
        new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/src.bin', Body: data, Metadata: { origin: 'src' } }),
      );
      const cp = await s3.send(
        new CopyObjectCommand({ Bucket: BUCKET, Key: 'copy/dst.bin', CopySource: `${BUCKET}/copy/src.bin` }),
      );
      assert.equal(cp.CopyObjectResult?.ETag, `"${md5(data)}"`);
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'copy/dst.bin' }));
      assert.deepEqual(get.Metadata, { origin: 'src' });
      assert.ok((await bodyBytes(get.Body)).equals(data));

      // Inline source, key needing encoding, metadata replaced.
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'copy/small src+é.txt', Body: 'small' }));
      await s3.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: 'copy/small dst.txt',
          CopySource: `${BUCKET}/${encodeURIComponent('copy/small src+é.txt')}`,
          MetadataDirective: 'REPLACE',
          Metadata: { k: 'v' },
          ContentType: 'text/x-copied',
        }),
      );
      const g2 = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'copy/small dst.txt' }));
      assert.equal(await g2.Body!.transformToString(), 'small');
      assert.equal(g2.ContentType, 'text/x-copied');
      assert.deepEqual(g2.Metadata, { k: 'v' });

      // Deleting the source leaves the copy readable.
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'copy/src.bin' }));
      const g3 = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'copy/dst.bin' }));
      assert.ok((await bodyBytes(g3.Body)).equals(data));
    });

    it('DeleteObject and DeleteObjects', async () => {
      for (const k of ['del/a', 'del/b', 'del/c', 'del/d'])
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: k }));
      const d = await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'del/a' }));
      assert.equal(d.$metadata.httpStatusCode, 204);
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'del/a' })), 'NoSuchKey', 404);
      await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'del/a' })), 'NotFound', 404);
      // Deleting a missing key is not an error.
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'del/never-existed' }));

      const many = await s3.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          Delete: { Objects: [{ Key: 'del/b' }, { Key: 'del/c' }, { Key: 'del/missing' }] },
        }),
      );
      assert.deepEqual(many.Deleted?.map((o) => o.Key).sort(), ['del/b', 'del/c', 'del/missing']);
      assert.equal(many.Errors?.length ?? 0, 0);
      const quiet = await s3.send(
        new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: [{ Key: 'del/d' }], Quiet: true } }),
      );
      assert.equal(quiet.Deleted?.length ?? 0, 0);
      const left = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'del/' }));
      assert.equal(left.KeyCount, 0);
      assert.equal(left.Contents?.length ?? 0, 0);
    });
  });

  describe('listing', () => {
    const pageKeys = Array.from({ length: 12 }, (_, i) => `page/${String(i).padStart(3, '0')}`);
    const treeKeys = ['tree/a/1', 'tree/a/2', 'tree/b/1', 'tree/b/c/1', 'tree/c', 'tree/d', 'tree/e/1'];
    const oddKeys = [
      'enc/a b.txt',
      'enc/plus+sign',
      'enc/per%cent',
      'enc/ünïcødé/файл.txt',
      'enc/dir with space/x',
      'enc/emoji 🚀',
      'enc/amp&lt;<tag>',
    ];

    before(async () => {
      await Promise.all(
        [...pageKeys, ...treeKeys, ...oddKeys].map((k) =>
          s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: k })),
        ),
      );
    });

    it('ListObjectsV2 with prefix', async () => {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'page/' }));
      assert.deepEqual(
        r.Contents?.map((o) => o.Key),
        pageKeys,
      );
      assert.equal(r.KeyCount, 12);
      assert.equal(r.IsTruncated, false);
      assert.equal(r.Contents![0]!.Size, Buffer.byteLength(pageKeys[0]!));
      assert.equal(r.Contents![0]!.ETag, `"${md5(Buffer.from(pageKeys[0]!))}"`);
    });

    it('ListObjectsV2 pagination with MaxKeys and ContinuationToken', async () => {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const r = await s3.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'page/', MaxKeys: 5, ContinuationToken: token }),
        );
        pages++;
        assert.ok((r.Contents?.length ?? 0) <= 5);
        seen.push(...(r.Contents ?? []).map((o) => o.Key!));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
        if (r.IsTruncated) assert.ok(token, 'a truncated page has a NextContinuationToken');
      } while (token && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, pageKeys);

      const startAfter = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'page/', StartAfter: 'page/009' }),
      );
      assert.deepEqual(
        startAfter.Contents?.map((o) => o.Key),
        ['page/010', 'page/011'],
      );
    });

    it('ListObjects (V1) pagination with MaxKeys and Marker', async () => {
      const seen: string[] = [];
      let marker: string | undefined;
      let pages = 0;
      for (;;) {
        const r = await s3.send(
          new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'page/', MaxKeys: 5, Marker: marker }),
        );
        pages++;
        const keys = (r.Contents ?? []).map((o) => o.Key!);
        seen.push(...keys);
        if (!r.IsTruncated || pages > 10) break;
        marker = r.NextMarker ?? keys[keys.length - 1];
      }
      assert.equal(pages, 3);
      assert.deepEqual(seen, pageKeys);
    });

    it('delimiter groups common prefixes (V1 and V2), also across pages', async () => {
      const v2 = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'tree/', Delimiter: '/' }));
      assert.deepEqual(
        v2.CommonPrefixes?.map((p) => p.Prefix),
        ['tree/a/', 'tree/b/', 'tree/e/'],
      );
      assert.deepEqual(
        v2.Contents?.map((o) => o.Key),
        ['tree/c', 'tree/d'],
      );
      assert.equal(v2.Delimiter, '/');
      assert.equal(v2.KeyCount, 5);

      const v1 = await s3.send(new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'tree/', Delimiter: '/' }));
      assert.deepEqual(
        v1.CommonPrefixes?.map((p) => p.Prefix),
        ['tree/a/', 'tree/b/', 'tree/e/'],
      );
      assert.deepEqual(
        v1.Contents?.map((o) => o.Key),
        ['tree/c', 'tree/d'],
      );

      const nested = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'tree/b/', Delimiter: '/' }));
      assert.deepEqual(
        nested.CommonPrefixes?.map((p) => p.Prefix),
        ['tree/b/c/'],
      );
      assert.deepEqual(
        nested.Contents?.map((o) => o.Key),
        ['tree/b/1'],
      );

      // Two entries per page: prefixes and keys interleaved in order, none repeated.
      const entries: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const r = await s3.send(
          new ListObjectsV2Command({
            Bucket: BUCKET,
            Prefix: 'tree/',
            Delimiter: '/',
            MaxKeys: 2,
            ContinuationToken: token,
          }),
        );
        pages++;
        entries.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(r.Contents ?? []).map((o) => o.Key!));
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token && pages < 10);
      assert.deepEqual(entries.sort(), ['tree/a/', 'tree/b/', 'tree/c', 'tree/d', 'tree/e/']);
      assert.equal(pages, 3);

      const v1entries: string[] = [];
      let marker: string | undefined;
      pages = 0;
      for (;;) {
        const r = await s3.send(
          new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'tree/', Delimiter: '/', MaxKeys: 2, Marker: marker }),
        );
        pages++;
        v1entries.push(...(r.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(r.Contents ?? []).map((o) => o.Key!));
        if (!r.IsTruncated || pages > 10) break;
        assert.ok(r.NextMarker, 'a truncated V1 listing with a delimiter has a NextMarker');
        marker = r.NextMarker;
      }
      assert.deepEqual(v1entries.sort(), ['tree/a/', 'tree/b/', 'tree/c', 'tree/d', 'tree/e/']);
    });

    it('keys with spaces, unicode, +, %, / list and read back (plain and EncodingType url)', async () => {
      const plain = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'enc/' }));
      assert.deepEqual(
        plain.Contents?.map((o) => o.Key),
        [...oddKeys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
      );

      // The SDK hands back url-encoded keys as the server sent them.
      const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
      const url = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'enc/', EncodingType: 'url' }));
      assert.equal(url.EncodingType, 'url');
      const rawKeys = url.Contents?.map((o) => o.Key!) ?? [];
      for (const k of rawKeys)
        assert.ok(
          !/[ %+&<]/.test(k.replace(/%[0-9A-F]{2}/g, '')),
          `url-encoded key has no raw special characters: ${k}`,
        );
      assert.ok(!rawKeys.some((k) => /[^\x21-\x7e]/.test(k)), 'url-encoded keys are ASCII');
      assert.deepEqual(rawKeys.map(decode).sort(), [...oddKeys].sort());

      const urlDelim = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'enc/', Delimiter: '/', EncodingType: 'url' }),
      );
      assert.deepEqual(urlDelim.CommonPrefixes?.map((p) => decode(p.Prefix!)).sort(), [
        'enc/dir with space/',
        'enc/ünïcødé/',
      ]);
      assert.deepEqual(urlDelim.Contents?.map((o) => decode(o.Key!)).sort(), [
        'enc/a b.txt',
        'enc/amp&lt;<tag>',
        'enc/emoji 🚀',
        'enc/per%cent',
        'enc/plus+sign',
      ]);

      const v1 = await s3.send(
        new ListObjectsCommand({ Bucket: BUCKET, Prefix: 'enc/', EncodingType: 'url', MaxKeys: 3 }),
      );
      assert.equal(v1.IsTruncated, true);
      assert.equal(v1.Contents?.length, 3);
      const v1rest = await s3.send(
        new ListObjectsCommand({
          Bucket: BUCKET,
          Prefix: 'enc/',
          EncodingType: 'url',
          Marker: decode(v1.NextMarker ?? v1.Contents![2]!.Key!),
        }),
      );
      assert.deepEqual(
        [...v1.Contents!, ...(v1rest.Contents ?? [])].map((o) => decode(o.Key!)).sort(),
        [...oddKeys].sort(),
      );

      // Prefixes that need encoding in the query work too.
      const sp = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'enc/dir with space/' }));
      assert.deepEqual(
        sp.Contents?.map((o) => o.Key),
        ['enc/dir with space/x'],
      );
      const pl = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'enc/plus+' }));
      assert.deepEqual(
        pl.Contents?.map((o) => o.Key),
        ['enc/plus+sign'],
      );

      for (const k of oddKeys) {
        const r = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: k }));
        assert.equal(await r.Body!.transformToString(), k, `GET ${k}`);
      }
    });
  });

  describe('multipart', () => {
    it('lib-storage Upload of ~12 MiB in 5 MiB parts', async () => {
      const data = randomBytes(12 * MiB + 777);
      const up = new Upload({
        client: s3,
        params: { Bucket: BUCKET, Key: 'mpu/lib-storage.bin', Body: data, ContentType: 'application/x-test' },
        partSize: 5 * MiB,
        queueSize: 2,
      });
      const res = await up.done();
      assert.ok(res.ETag?.replace(/"/g, '').endsWith('-3'), `ETag ${res.ETag}`);
      // The multipart ETag: md5 of the concatenated part md5s.
      const partMd5s = [data.subarray(0, 5 * MiB), data.subarray(5 * MiB, 10 * MiB), data.subarray(10 * MiB)].map((p) =>
        createHash('md5').update(p).digest(),
      );
      assert.equal(res.ETag, `"${md5(Buffer.concat(partMd5s))}-3"`);

      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'mpu/lib-storage.bin' }));
      assert.equal(head.ContentLength, data.length);
      assert.equal(head.ETag, res.ETag);
      assert.equal(head.ContentType, 'application/x-test');
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'mpu/lib-storage.bin' }));
      assert.ok((await bodyBytes(get.Body)).equals(data));
      // A range spanning the first part boundary.
      const r = await s3.send(
        new GetObjectCommand({
          Bucket: BUCKET,
          Key: 'mpu/lib-storage.bin',
          Range: `bytes=${5 * MiB - 10}-${5 * MiB + 9}`,
        }),
      );
      assert.ok((await bodyBytes(r.Body)).equals(data.subarray(5 * MiB - 10, 5 * MiB + 10)));
    });

    it('CreateMultipartUpload, UploadPart, ListParts, ListMultipartUploads, CompleteMultipartUpload', async () => {
      const key = 'mpu/manual.bin';
      const p1 = randomBytes(5 * MiB);
      const p2 = randomBytes(123_456);
      const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, Metadata: { mp: 'yes' } }));
      assert.ok(c.UploadId);
      assert.equal(c.Key, key);
      const u1 = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: p1 }),
      );
      const u2 = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, PartNumber: 2, Body: p2 }),
      );
      assert.equal(u1.ETag, `"${md5(p1)}"`);
      assert.equal(u2.ETag, `"${md5(p2)}"`);

      const parts = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId }));
      assert.deepEqual(
        parts.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size]),
        [
          [1, u1.ETag, p1.length],
          [2, u2.ETag, p2.length],
        ],
      );
      assert.equal(parts.Initiator?.ID, keyId);
      assert.equal(parts.Owner?.ID, keyId);
      const page = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, MaxParts: 1 }));
      assert.equal(page.IsTruncated, true);
      assert.equal(page.Parts?.length, 1);
      const page2 = await s3.send(
        new ListPartsCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: c.UploadId,
          PartNumberMarker: page.NextPartNumberMarker,
        }),
      );
      assert.deepEqual(
        page2.Parts?.map((p) => p.PartNumber),
        [2],
      );

      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'mpu/' }));
      assert.ok(
        uploads.Uploads?.some((u) => u.Key === key && u.UploadId === c.UploadId),
        JSON.stringify(uploads.Uploads),
      );
      // Not visible as an object while in progress.
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })), 'NoSuchKey', 404);

      const done = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId: c.UploadId,
          MultipartUpload: {
            Parts: [
              { PartNumber: 1, ETag: u1.ETag },
              { PartNumber: 2, ETag: u2.ETag },
            ],
          },
        }),
      );
      assert.ok(done.ETag?.endsWith('-2"'), `ETag ${done.ETag}`);
      assert.equal(done.Key, key);
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      assert.deepEqual(get.Metadata, { mp: 'yes' });
      assert.equal(get.ETag, done.ETag);
      assert.ok((await bodyBytes(get.Body)).equals(Buffer.concat([p1, p2])));
      // A client retrying its completion (say, after a lost response) gets the same answer;
      // a different part list for the completed upload is NoSuchUpload.
      const complete = (Parts: { PartNumber: number; ETag?: string }[]) =>
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId: c.UploadId,
            MultipartUpload: { Parts },
          }),
        );
      const again = await complete([
        { PartNumber: 1, ETag: u1.ETag },
        { PartNumber: 2, ETag: u2.ETag },
      ]);
      assert.equal(again.ETag, done.ETag);
      await s3Error(complete([{ PartNumber: 1, ETag: u1.ETag }]), 'NoSuchUpload', 404);

      const remaining = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: 'mpu/' }));
      assert.ok(!remaining.Uploads?.some((u) => u.UploadId === c.UploadId));
      await s3Error(
        s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId })),
        'NoSuchUpload',
        404,
      );
    });

    it('AbortMultipartUpload; a too-small part and a wrong ETag are refused on completion', async () => {
      const key = 'mpu/aborted.bin';
      const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      const small = Buffer.from('small part');
      const u1 = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: small }),
      );
      const u2 = await s3.send(
        new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, PartNumber: 2, Body: small }),
      );
      await s3Error(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId: c.UploadId,
            MultipartUpload: {
              Parts: [
                { PartNumber: 1, ETag: u1.ETag },
                { PartNumber: 2, ETag: u2.ETag },
              ],
            },
          }),
        ),
        'EntityTooSmall',
        400,
      );
      await s3Error(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId: c.UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }] },
          }),
        ),
        'InvalidPart',
        400,
      );

      const a = await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId }));
      assert.equal(a.$metadata.httpStatusCode, 204);
      const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
      assert.ok(!uploads.Uploads?.some((u) => u.UploadId === c.UploadId));
      await s3Error(
        s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: c.UploadId, PartNumber: 3, Body: small })),
        'NoSuchUpload',
        404,
      );
      await s3Error(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId: c.UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: u1.ETag }] },
          }),
        ),
        'NoSuchUpload',
        404,
      );
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })), 'NoSuchKey', 404);
    });
  });

  describe('presigned URLs with plain fetch', () => {
    it('presigned PUT then presigned GET', async () => {
      const body = Buffer.from(`presigned body ${randomBytes(8).toString('hex')}`);
      const putUrl = await getSignedUrl(
        s3,
        new PutObjectCommand({ Bucket: BUCKET, Key: 'presigned/file name+1.txt' }),
        { expiresIn: 300 },
      );
      assert.match(putUrl, /X-Amz-Signature=/);
      const put = await fetch(putUrl, { method: 'PUT', body });
      assert.equal(put.status, 200, await put.clone().text());
      assert.equal(put.headers.get('etag'), `"${md5(body)}"`);

      const getUrl = await getSignedUrl(
        s3,
        new GetObjectCommand({ Bucket: BUCKET, Key: 'presigned/file name+1.txt' }),
        { expiresIn: 300 },
      );
      const get = await fetch(getUrl);
      assert.equal(get.status, 200);
      assert.ok(Buffer.from(await get.arrayBuffer()).equals(body));

      // The same object through the SDK.
      const viaSdk = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'presigned/file name+1.txt' }));
      assert.ok((await bodyBytes(viaSdk.Body)).equals(body));

      // A tampered signature is refused.
      const bad = getUrl.replace(
        /X-Amz-Signature=([0-9a-f])/,
        (_m, c: string) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`,
      );
      const r = await fetch(bad);
      assert.equal(r.status, 403);
      assert.match(await r.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
      // Unsigned access is refused.
      const anon = await fetch(`${g.endpoint}/${BUCKET}/presigned/file%20name%2B1.txt`);
      assert.equal(anon.status, 403);
      await anon.text();
    });
  });

  describe('errors', () => {
    it('NoSuchBucket and NoSuchKey', async () => {
      await s3Error(s3.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'x' })), 'NoSuchBucket', 404);
      await s3Error(s3.send(new ListObjectsV2Command({ Bucket: 'no-such-bucket' })), 'NoSuchBucket', 404);
      await s3Error(
        s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket', Key: 'x', Body: 'x' })),
        'NoSuchBucket',
        404,
      );
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'no/such/key' })), 'NoSuchKey', 404);
      await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'no/such/key' })), 'NotFound', 404);
      await s3Error(
        s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'copy/none', CopySource: `${BUCKET}/no/such/key` })),
        'NoSuchKey',
        404,
      );
    });

    it('a wrong secret is SignatureDoesNotMatch (403)', async () => {
      const c = makeClient(
        { maxAttempts: 1 },
        { accessKeyId: keyId, secretAccessKey: secret.replace(/^./, (ch) => (ch === '0' ? '1' : '0')) },
      );
      await s3Error(c.send(new ListObjectsV2Command({ Bucket: BUCKET })), 'SignatureDoesNotMatch', 403);
      await s3Error(
        c.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'sig/x', Body: 'nope' })),
        'SignatureDoesNotMatch',
        403,
      );
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'sig/x' })), 'NoSuchKey', 404);
    });

    it('an unknown access key is InvalidAccessKeyId (403)', async () => {
      const c = makeClient({ maxAttempts: 1 }, { accessKeyId: `GK${'0'.repeat(24)}`, secretAccessKey: secret });
      await s3Error(c.send(new ListBucketsCommand({})), 'InvalidAccessKeyId', 403);
      await s3Error(c.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' })), 'InvalidAccessKeyId', 403);
    });

    it('a key without permission on the bucket gets AccessDenied', async () => {
      const out = await g.cliOk('key', 'new', '--name', 'other-key');
      const otherId = /Key ID: (GK[0-9a-f]+)/.exec(out)![1]!;
      const otherSecret = /Secret key: ([0-9a-f]+)/.exec(out)![1]!;
      const c = makeClient({ maxAttempts: 1 }, { accessKeyId: otherId, secretAccessKey: otherSecret });
      await s3Error(c.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' })), 'AccessDenied', 403);
      await s3Error(c.send(new ListObjectsV2Command({ Bucket: BUCKET })), 'AccessDenied', 403);
      await s3Error(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other/x', Body: 'x' })), 'AccessDenied', 403);
      await s3Error(c.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' })), 'AccessDenied', 403);
      await s3Error(c.send(new CreateBucketCommand({ Bucket: 'other-bucket' })), 'AccessDenied', 403);
      const list = await c.send(new ListBucketsCommand({}));
      assert.equal(list.Buckets?.length ?? 0, 0);

      // Read-only permission: reads work, writes are denied.
      await g.cliOk('bucket', 'allow', '--read', BUCKET, '--key', 'other-key');
      const r = await c.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'obj/string.txt' }));
      assert.equal(r.$metadata.httpStatusCode, 200);
      await r.Body!.transformToString();
      await s3Error(c.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'other/x', Body: 'x' })), 'AccessDenied', 403);
      await s3Error(c.send(new DeleteBucketCommand({ Bucket: BUCKET })), 'AccessDenied', 403);
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'other/x' })), 'NoSuchKey', 404);
    });

    it('a client with the wrong region gets AuthorizationHeaderMalformed naming garage', async () => {
      const c = makeClient({ region: 'us-east-1', maxAttempts: 1 });
      const err = await s3Error(
        c.send(new ListObjectsV2Command({ Bucket: BUCKET })),
        'AuthorizationHeaderMalformed',
        400,
      );
      const region = (err as S3ServiceException & { Region?: unknown }).Region;
      assert.ok(
        err.message.includes("'garage'") || region === 'garage',
        `names the expected region: ${err.message} / ${String(region)}`,
      );
      if (region !== undefined) assert.equal(region, 'garage');
    });

    it('the server logged no internal error', () => {
      assert.doesNotMatch(g.log, /internal error|uncaught|unhandled/i, g.log.slice(-3000));
    });
  });
});
