/**
 * SSE-C (issue 9 item 1): objects sealed under a customer key with the AWS SDK, the aws CLI
 * and rclone; every way of reading or copying them with a missing, wrong or unneeded key gets
 * AWS's answer; and no byte of the plaintext reaches a block file or the metadata.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { RawS3, run, s3Error, useNode, xmlErrorCode } from './harness.ts';
import { tlsFront } from './tls_front.ts';

const BUCKET = 'vault';
const MiB = 1024 * 1024;
// The SDK takes a key as text (sent base64-encoded) and computes its MD5 itself.
const KEY_A = 'k'.repeat(16) + randomBytes(8).toString('hex');
const KEY_B = 'b'.repeat(16) + randomBytes(8).toString('hex');
const md5of = (k: string) => createHash('md5').update(k).digest('base64');
const sseA = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: KEY_A } as const;
const sseB = { SSECustomerAlgorithm: 'AES256', SSECustomerKey: KEY_B } as const;
const copyA = { CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: KEY_A } as const;

/** A body that says what it is all along, so a leak of any block of it is found by a search. */
function marked(marker: string, size: number): Buffer {
  const unit = Buffer.concat([Buffer.from(marker), randomBytes(64)]);
  return Buffer.concat(Array.from({ length: Math.ceil(size / unit.length) }, () => unit)).subarray(0, size);
}

/** Every file below a directory, as stored (and decompressed when a block file is .zst). */
function* filesBelow(dir: string): Generator<[string, Buffer]> {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) yield* filesBelow(p);
    else {
      const raw = readFileSync(p);
      yield [p, p.endsWith('.zst') ? zstdDecompressSync(raw) : raw];
    }
  }
}

async function bytesOf(s3: S3Client, input: ConstructorParameters<typeof GetObjectCommand>[0]): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand(input));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('SSE-C', () => {
  const node = useNode(BUCKET);
  let s3: S3Client;
  let raw: RawS3;
  const small = marked('SMALL-SECRET-PLAINTEXT', 1000);
  const big = marked('BIG-SECRET-PLAINTEXT', 2 * MiB + 12345);
  before(async () => {
    s3 = node.s3;
    raw = new RawS3(node.g, node.keyId, node.secret);
    for (const [Key, Body] of [
      ['small', small],
      ['big', big],
    ] as const) {
      const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body, ...sseA }));
      assert.equal(put.SSECustomerAlgorithm, 'AES256');
      assert.equal(put.SSECustomerKeyMD5, md5of(KEY_A));
      assert.notEqual(put.ETag, `"${createHash('md5').update(Body).digest('hex')}"`, 'the ETag is not the MD5');
    }
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'plain', Body: Buffer.from('plain text') }));
  });

  it('GET and HEAD with the key: the plaintext, its size, ranges within and across blocks, the key echoed', async () => {
    for (const [Key, body] of [
      ['small', small],
      ['big', big],
    ] as const) {
      const get = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ...sseA }));
      assert.ok(Buffer.from(await get.Body!.transformToByteArray()).equals(body), `${Key} reads back`);
      assert.equal(get.SSECustomerAlgorithm, 'AES256');
      assert.equal(get.SSECustomerKeyMD5, md5of(KEY_A));
      const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key, ...sseA }));
      assert.equal(head.ContentLength, body.length);
      assert.equal(head.SSECustomerKeyMD5, md5of(KEY_A));
      for (const [a, b] of [
        [0, 0],
        [10, 500],
        [MiB - 7, MiB + 7],
        [100, 2 * MiB + 100],
        [body.length - 3, body.length - 1],
      ] as const) {
        if (b >= body.length) continue;
        const part = await bytesOf(s3, { Bucket: BUCKET, Key, Range: `bytes=${a}-${b}`, ...sseA });
        assert.ok(part.equals(body.subarray(a, b + 1)), `${Key} bytes ${a}-${b}`);
      }
      const tail = await bytesOf(s3, { Bucket: BUCKET, Key, Range: 'bytes=-100', ...sseA });
      assert.ok(tail.equals(body.subarray(body.length - 100)));
    }
  });

  it('a missing key is 400 InvalidRequest, a wrong key 403 AccessDenied, a key for a plain object 400', async () => {
    for (const Key of ['small', 'big']) {
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key })), 'InvalidRequest', 400);
      await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ...sseB })), 'AccessDenied', 403);
      assert.equal((await raw.send('HEAD', `/${BUCKET}/${Key}`)).status, 400, 'HEAD without the key');
      const wrong = await raw.send('HEAD', `/${BUCKET}/${Key}`, {}, rawKey(KEY_B));
      assert.equal(wrong.status, 403, 'HEAD with the wrong key');
      await s3Error(
        s3.send(new GetObjectAttributesCommand({ Bucket: BUCKET, Key, ObjectAttributes: ['ObjectSize'] })),
        'InvalidRequest',
        400,
      );
      await s3Error(
        s3.send(new GetObjectAttributesCommand({ Bucket: BUCKET, Key, ObjectAttributes: ['ObjectSize'], ...sseB })),
        'AccessDenied',
        403,
      );
      const attrs = await s3.send(
        new GetObjectAttributesCommand({ Bucket: BUCKET, Key, ObjectAttributes: ['ObjectSize'], ...sseA }),
      );
      assert.equal(attrs.ObjectSize, Key === 'small' ? small.length : big.length);
    }
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'plain', ...sseA })), 'InvalidRequest', 400);
    assert.equal((await bytesOf(s3, { Bucket: BUCKET, Key: 'plain' })).toString(), 'plain text');
  });

  it('malformed SSE-C headers get the codes AWS gives, and store nothing', async () => {
    const key = Buffer.from(KEY_A);
    const good = rawKey(KEY_A);
    const cases: [string, Record<string, string>, string][] = [
      [
        'unknown algorithm',
        { ...good, 'x-amz-server-side-encryption-customer-algorithm': 'AES128' },
        'InvalidEncryptionAlgorithmError',
      ],
      [
        'an empty algorithm',
        { ...good, 'x-amz-server-side-encryption-customer-algorithm': '' },
        'InvalidEncryptionAlgorithmError',
      ],
      ['no algorithm', omit(good, 'x-amz-server-side-encryption-customer-algorithm'), 'InvalidArgument'],
      ['no key', omit(good, 'x-amz-server-side-encryption-customer-key'), 'InvalidArgument'],
      ['no key MD5', omit(good, 'x-amz-server-side-encryption-customer-key-md5'), 'InvalidArgument'],
      [
        'a 128-bit key',
        {
          ...good,
          'x-amz-server-side-encryption-customer-key': key.subarray(0, 16).toString('base64'),
          'x-amz-server-side-encryption-customer-key-md5': createHash('md5')
            .update(key.subarray(0, 16))
            .digest('base64'),
        },
        'InvalidArgument',
      ],
      [
        'the MD5 of another key',
        { ...good, 'x-amz-server-side-encryption-customer-key-md5': md5of(KEY_B) },
        'InvalidArgument',
      ],
    ];
    for (const [name, h, code] of cases) {
      const r = await raw.send('PUT', `/${BUCKET}/malformed`, {}, h, Buffer.from('x'));
      assert.equal(r.status, 400, name);
      assert.equal(xmlErrorCode(r.body), code, `${name}: ${r.body.toString()}`);
    }
    assert.equal((await raw.send('GET', `/${BUCKET}/malformed`)).status, 404);
  });

  it('block files and metadata hold no plaintext of an encrypted object (and do hold that of a plain one)', async () => {
    const control = marked('CONTROL-PLAINTEXT', 300_000);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'control', Body: control }));
    let controlSeen = false;
    for (const [path, bytes] of filesBelow(node.g.dir)) {
      if (path.endsWith('.log') || path.endsWith('.toml')) continue;
      for (const m of ['SMALL-SECRET-PLAINTEXT', 'BIG-SECRET-PLAINTEXT'])
        assert.equal(bytes.indexOf(m), -1, `${m} found in ${path}`);
      assert.equal(bytes.indexOf(KEY_A), -1, `the key itself found in ${path}`);
      assert.equal(bytes.indexOf(Buffer.from(KEY_A).toString('base64')), -1, `the base64 key found in ${path}`);
      if (bytes.indexOf('CONTROL-PLAINTEXT') >= 0) controlSeen = true;
    }
    assert.ok(controlSeen, 'the search does find plaintext where it is stored');
    assert.doesNotMatch(node.g.log, new RegExp(Buffer.from(KEY_A).toString('base64').replace(/[+/=]/g, '.')));
  });

  it('multipart: every part needs the upload key; ranges and part reads work; the object needs the key', async () => {
    const Key = 'mpu';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key, ...sseA }));
    assert.equal(c.SSECustomerKeyMD5, md5of(KEY_A));
    const UploadId = c.UploadId!;
    const p1 = marked('PART-ONE', 5 * MiB);
    const p2 = marked('PART-TWO', MiB + 1);
    await s3Error(
      s3.send(new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 1, Body: p1 })),
      'InvalidRequest',
      400,
    );
    await s3Error(
      s3.send(new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 1, Body: p1, ...sseB })),
      'InvalidRequest',
      400,
    );
    const u1 = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 1, Body: p1, ...sseA }),
    );
    assert.equal(u1.SSECustomerKeyMD5, md5of(KEY_A));
    const u2 = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 2, Body: p2, ...sseA }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: BUCKET,
        Key,
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: u1.ETag },
            { PartNumber: 2, ETag: u2.ETag },
          ],
        },
      }),
    );
    assert.match(done.ETag ?? '', /-2"$/);
    const whole = Buffer.concat([p1, p2]);
    assert.ok((await bytesOf(s3, { Bucket: BUCKET, Key, ...sseA })).equals(whole));
    const across = await bytesOf(s3, { Bucket: BUCKET, Key, Range: `bytes=${5 * MiB - 10}-${5 * MiB + 10}`, ...sseA });
    assert.ok(across.equals(whole.subarray(5 * MiB - 10, 5 * MiB + 11)));
    const second = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, PartNumber: 2, ...sseA }));
    assert.ok(Buffer.from(await second.Body!.transformToByteArray()).equals(p2));
    assert.equal(second.PartsCount, 2);
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key })), 'InvalidRequest', 400);
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key, ...sseB })), 'AccessDenied', 403);
  });

  it('a part with a key in an upload without encryption is refused; UploadPartCopy opens and seals as asked', async () => {
    const plainUp = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'mpu-plain' }));
    await s3Error(
      s3.send(
        new UploadPartCommand({
          Bucket: BUCKET,
          Key: 'mpu-plain',
          UploadId: plainUp.UploadId!,
          PartNumber: 1,
          Body: Buffer.from('x'),
          ...sseA,
        }),
      ),
      'InvalidRequest',
      400,
    );
    // Sealed under B, parts copied from sources under A and in plaintext.
    const Key = 'mpu-copy';
    const UploadId = (await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key, ...sseB }))).UploadId!;
    const base = { Bucket: BUCKET, Key, UploadId };
    await s3Error(
      s3.send(new UploadPartCopyCommand({ ...base, PartNumber: 1, CopySource: `${BUCKET}/big`, ...sseB })),
      'InvalidRequest',
      400,
    );
    await s3Error(
      s3.send(
        new UploadPartCopyCommand({
          ...base,
          PartNumber: 1,
          CopySource: `${BUCKET}/big`,
          ...sseB,
          CopySourceSSECustomerAlgorithm: 'AES256',
          CopySourceSSECustomerKey: KEY_B,
        }),
      ),
      'AccessDenied',
      403,
    );
    const c1 = await s3.send(
      new UploadPartCopyCommand({
        ...base,
        PartNumber: 1,
        CopySource: `${BUCKET}/big`,
        CopySourceRange: `bytes=0-${MiB * 2}`,
        ...sseB,
        ...copyA,
      }),
    );
    assert.equal(c1.SSECustomerKeyMD5, md5of(KEY_B));
    const c2 = await s3.send(
      new UploadPartCopyCommand({ ...base, PartNumber: 2, CopySource: `${BUCKET}/plain`, ...sseB }),
    );
    assert.ok(c2.CopyPartResult?.ETag, 'a plaintext source copies into an encrypted upload');
    // Both parts are under 5 MiB: the upload completes with part 1 alone.
    await s3.send(
      new CompleteMultipartUploadCommand({
        ...base,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: c1.CopyPartResult!.ETag }] },
      }),
    );
    assert.ok((await bytesOf(s3, { Bucket: BUCKET, Key, ...sseB })).equals(big.subarray(0, MiB * 2 + 1)));
  });

  it('CopyObject: encrypted to plain, plain to encrypted, a new key onto itself; wrong or missing source keys', async () => {
    await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'x', CopySource: `${BUCKET}/big` })),
      'InvalidRequest',
      400,
    );
    await s3Error(
      s3.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: 'x',
          CopySource: `${BUCKET}/big`,
          CopySourceSSECustomerAlgorithm: 'AES256',
          CopySourceSSECustomerKey: KEY_B,
        }),
      ),
      'AccessDenied',
      403,
    );
    await s3Error(
      s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'x', CopySource: `${BUCKET}/plain`, ...copyA })),
      'InvalidRequest',
      400,
    );
    await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: 'big-plain', CopySource: `${BUCKET}/big`, ...copyA }));
    assert.ok((await bytesOf(s3, { Bucket: BUCKET, Key: 'big-plain' })).equals(big));
    const enc = await s3.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: 'plain-enc', CopySource: `${BUCKET}/plain`, ...sseB }),
    );
    assert.equal(enc.SSECustomerKeyMD5, md5of(KEY_B));
    assert.equal((await bytesOf(s3, { Bucket: BUCKET, Key: 'plain-enc', ...sseB })).toString(), 'plain text');
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'plain-enc' })), 'InvalidRequest', 400);
    // Key rotation: the object copied onto itself under another key.
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'rotate', Body: big, ...sseA }));
    await s3.send(
      new CopyObjectCommand({ Bucket: BUCKET, Key: 'rotate', CopySource: `${BUCKET}/rotate`, ...copyA, ...sseB }),
    );
    assert.ok((await bytesOf(s3, { Bucket: BUCKET, Key: 'rotate', ...sseB })).equals(big));
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'rotate', ...sseA })), 'AccessDenied', 403);
  });

  it('an empty encrypted object reads back empty, and only with its key', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'empty', Body: Buffer.alloc(0), ...sseA }));
    assert.equal((await bytesOf(s3, { Bucket: BUCKET, Key: 'empty', ...sseA })).length, 0);
    await s3Error(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'empty', ...sseB })), 'AccessDenied', 403);
  });

  describe('with the aws CLI and rclone', () => {
    let work: string;
    before(() => {
      work = mkdtempSync(join(tmpdir(), 'garage-ssec-'));
    });
    after(() => rmSync(work, { recursive: true, force: true }));

    it('aws s3 cp --sse-c (single and multipart) round-trips, and without the key the download fails', async () => {
      const env = {
        AWS_ACCESS_KEY_ID: node.keyId,
        AWS_SECRET_ACCESS_KEY: node.secret,
        AWS_DEFAULT_REGION: 'garage',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: '/dev/null',
        AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
        AWS_CA_BUNDLE: '',
      };
      const aws = (...args: string[]) => run('/usr/bin/aws', ['--endpoint-url', node.g.endpoint, ...args], { env });
      for (const [name, size] of [
        ['cli-small.bin', 5000],
        ['cli-big.bin', 20 * MiB + 5],
      ] as const) {
        const src = join(work, name);
        writeFileSync(src, marked('CLI-SECRET', size));
        const sse = ['--sse-c', 'AES256', '--sse-c-key', KEY_A];
        let r = await aws('s3', 'cp', src, `s3://${BUCKET}/${name}`, ...sse);
        assert.equal(r.code, 0, r.stderr);
        const back = join(work, `${name}.back`);
        r = await aws('s3', 'cp', `s3://${BUCKET}/${name}`, back, ...sse);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(readFileSync(back).equals(readFileSync(src)), `${name} downloads byte for byte`);
        r = await aws('s3', 'cp', `s3://${BUCKET}/${name}`, join(work, 'nokey'));
        assert.notEqual(r.code, 0, 'no key: the download fails');
        r = await aws(
          's3api',
          'head-object',
          '--bucket',
          BUCKET,
          '--key',
          name,
          '--sse-customer-algorithm',
          'AES256',
          '--sse-customer-key',
          KEY_A,
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`"ContentLength": ${size}`));
      }
      for (const [path, bytes] of filesBelow(join(node.g.dir, 'data')))
        assert.equal(bytes.indexOf('CLI-SECRET'), -1, `plaintext in ${path}`);
    });

    // rclone (the Go SDK) will not send a key over plain HTTP: it goes through TLS, as behind a proxy.
    it('rclone with sse_customer_key, through TLS: copy, check --download, copy back', async () => {
      const front = await tlsFront(node.g.s3Port);
      after(() => front.close());
      const dir = join(work, 'rc');
      const files = new Map([
        ['a.txt', marked('RCLONE-SECRET', 1500)],
        ['b.bin', marked('RCLONE-SECRET', 3 * MiB + 1)],
      ]);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      for (const [n, b] of files) writeFileSync(join(dir, n), b);
      const renv = {
        RCLONE_CONFIG_G_TYPE: 's3',
        RCLONE_CONFIG_G_PROVIDER: 'Other',
        RCLONE_CONFIG_G_ACCESS_KEY_ID: node.keyId,
        RCLONE_CONFIG_G_SECRET_ACCESS_KEY: node.secret,
        RCLONE_CONFIG_G_ENDPOINT: front.url,
        RCLONE_CONFIG_G_REGION: 'garage',
        RCLONE_CONFIG_G_FORCE_PATH_STYLE: 'true',
        RCLONE_NO_CHECK_CERTIFICATE: 'true',
        RCLONE_CONFIG_G_SSE_CUSTOMER_ALGORITHM: 'AES256',
        RCLONE_CONFIG_G_SSE_CUSTOMER_KEY: KEY_A,
        RCLONE_CONFIG: '/dev/null',
        AWS_CA_BUNDLE: '',
      };
      let r = await run('/usr/bin/rclone', ['copy', dir, `g:${BUCKET}/rc`], { env: renv });
      assert.equal(r.code, 0, r.stderr);
      r = await run('/usr/bin/rclone', ['check', '--download', dir, `g:${BUCKET}/rc`], { env: renv });
      assert.equal(r.code, 0, `rclone check: ${r.stderr}`);
      const out = join(work, 'rc-back');
      r = await run('/usr/bin/rclone', ['copy', `g:${BUCKET}/rc`, out], { env: renv });
      assert.equal(r.code, 0, r.stderr);
      for (const [n, b] of files) assert.ok(readFileSync(join(out, n)).equals(b), `${n} back byte for byte`);
      const head = await raw.send('GET', `/${BUCKET}/rc/a.txt`);
      assert.equal(head.status, 400, 'stored encrypted: no key, no read');
      for (const [path, bytes] of filesBelow(join(node.g.dir, 'data')))
        assert.equal(bytes.indexOf('RCLONE-SECRET'), -1, `plaintext in ${path}`);
    });
  });

  it('the server logged no internal error and no key', () => {
    assert.doesNotMatch(node.g.log, /internal error|uncaught|unhandled/i, node.g.log.slice(-3000));
    assert.equal(node.g.log.indexOf(Buffer.from(KEY_A).toString('base64')), -1);
  });
});

function rawKey(k: string): Record<string, string> {
  return {
    'x-amz-server-side-encryption-customer-algorithm': 'AES256',
    'x-amz-server-side-encryption-customer-key': Buffer.from(k).toString('base64'),
    'x-amz-server-side-encryption-customer-key-md5': md5of(k),
  };
}

function omit(h: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => k !== name));
}
