import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { once } from 'node:events';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Error, type S3ErrorCode } from '../../../src/api/common/s3_error.ts';
import { checksumBase64 } from '../../../src/api/common/checksum.ts';
import {
  authenticate,
  verifiedBody,
  type AuthResult,
  type BodyChecks,
  type RequestHead,
} from '../../../src/api/common/signature/index.ts';
import {
  SK,
  auth,
  collect,
  encodeChunked,
  keyPath,
  pieces,
  presignHead,
  request,
  sha256hex,
  signHead,
  signer,
  toHead,
  type ChunkedOpts,
} from './sigv4_helpers.ts';

const md5b64 = (d: Buffer) => createHash('md5').update(d).digest('base64');

interface Upload {
  head: RequestHead;
  auth: AuthResult;
  raw: Buffer;
}

/** A signed PUT whose body is `data`, sent in one of the payload modes. */
async function upload(
  data: Buffer,
  mode: 'unsigned' | 'sha256' | 'signed' | 'signed-trailer' | 'unsigned-trailer',
  o: {
    headers?: Record<string, string>;
    chunk?: Partial<ChunkedOpts>;
    trailer?: [string, string];
    decodedLength?: number;
  } = {},
): Promise<Upload> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const contentSha = {
    unsigned: 'UNSIGNED-PAYLOAD',
    sha256: sha256hex(data),
    signed: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'signed-trailer': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    'unsigned-trailer': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  }[mode];
  headers['x-amz-content-sha256'] = contentSha;
  const streaming = mode !== 'unsigned' && mode !== 'sha256';
  if (streaming) {
    headers['content-encoding'] = 'aws-chunked';
    headers['x-amz-decoded-content-length'] = String(o.decodedLength ?? data.length);
  }
  if (o.trailer) headers['x-amz-trailer'] = o.trailer[0];
  const head = await signHead(request('PUT', keyPath('bucket', 'key'), { headers }));
  const a = await auth(head);
  let raw = data;
  if (streaming) {
    const signed = mode === 'signed' || mode === 'signed-trailer';
    raw = encodeChunked(data, {
      chunkSize: 64 * 1024,
      signed: signed ? { seed: a.signing.seedSignature, amzDate: a.signing.amzDate } : undefined,
      trailers: o.trailer ? [o.trailer] : mode === 'signed-trailer' ? [] : undefined,
      ...(o.chunk ?? {}),
    });
  }
  head.headers['content-length'] = String(raw.length);
  return { head, auth: a, raw };
}

/** Runs a body through verifiedBody; returns the decoded bytes and checks, or the error. */
async function run(u: Upload, source?: Readable): Promise<{ data: Buffer; checks: BodyChecks }> {
  const vb = verifiedBody(source ?? pieces(u.raw, 16 * 1024), u.head, u.auth);
  const [data, checks] = await Promise.all([collect(vb.stream), vb.done]);
  return { data, checks };
}

/** Asserts that both the stream and `done` fail with `code`, and that the consumer never saw all the bytes. */
async function fails(u: Upload, code: S3ErrorCode, total: number, source?: Readable): Promise<S3Error> {
  const vb = verifiedBody(source ?? pieces(u.raw, 16 * 1024), u.head, u.auth);
  let seen = 0;
  let streamErr: unknown;
  let ended = false;
  try {
    for await (const c of vb.stream) seen += (c as Buffer).length;
    ended = true;
  } catch (e) {
    streamErr = e;
  }
  assert.equal(ended, false, 'stream ended cleanly despite a failed check');
  assert.ok(streamErr instanceof S3Error && streamErr.code === code, `stream error: ${String(streamErr)}`);
  await assert.rejects(vb.done, (e: unknown) => e instanceof S3Error && e.code === code);
  if (total > 0) assert.ok(seen < total, `consumer saw ${seen} of ${total} bytes before the failure`);
  return streamErr;
}

const DATA = randomBytes(300_001);

test('unsigned payload: size, Content-MD5 (md5 computed only when sent)', async () => {
  const { data, checks } = await run(await upload(DATA, 'unsigned'));
  assert.ok(data.equals(DATA));
  assert.equal(checks.size, DATA.length);
  assert.equal(checks.md5, undefined);
  assert.equal(checks.sha256, undefined);
  assert.equal(checks.checksum, undefined);
  const withMd5 = await run(await upload(DATA, 'unsigned', { headers: { 'content-md5': md5b64(DATA) } }));
  assert.equal(withMd5.checks.md5?.toString('base64'), md5b64(DATA));
  await fails(
    await upload(DATA, 'unsigned', { headers: { 'content-md5': md5b64(Buffer.from('x')) } }),
    'BadDigest',
    DATA.length,
  );
  const bad = await upload(DATA, 'unsigned', { headers: { 'content-md5': 'not-base64' } });
  assert.throws(
    () => verifiedBody(pieces(bad.raw, 1000), bad.head, bad.auth),
    (e: unknown) => e instanceof S3Error && e.code === 'InvalidDigest',
  );
});

test('sha256 payload: match and mismatch', async () => {
  const { data, checks } = await run(await upload(DATA, 'sha256'));
  assert.ok(data.equals(DATA));
  assert.equal(checks.sha256?.toString('hex'), sha256hex(DATA));
  const u = await upload(DATA, 'sha256');
  const tampered = Buffer.from(u.raw);
  tampered[12345] ^= 1;
  await fails({ ...u, raw: tampered }, 'XAmzContentSHA256Mismatch', DATA.length);
  // Empty body.
  const e = await run(await upload(Buffer.alloc(0), 'sha256'));
  assert.equal(e.checks.size, 0);
});

test('truncated or overlong plain bodies', async () => {
  const u = await upload(DATA, 'unsigned');
  await fails({ ...u, raw: u.raw.subarray(0, 1000) }, 'IncompleteBody', 0);
  await fails({ ...u, raw: Buffer.concat([u.raw, Buffer.from('x')]) }, 'InvalidRequest', 0);
});

test('streaming signed payload: chunk sizes and arbitrary input splits', async () => {
  for (const [chunkSize, piece] of [
    [64 * 1024, 16 * 1024],
    [8192, 1],
    [1000, 7],
    [300_001, 1 << 20],
    [1, 4096],
  ] as const) {
    const data = piece === 1 || chunkSize === 1 ? DATA.subarray(0, 3000) : DATA;
    const u = await upload(data, 'signed', { chunk: { chunkSize } });
    const { data: out, checks } = await run(u, pieces(u.raw, piece));
    assert.ok(out.equals(data), `chunk ${chunkSize}, piece ${piece}`);
    assert.equal(checks.size, data.length);
  }
  // Empty object, and a body without the final CRLF.
  await run(await upload(Buffer.alloc(0), 'signed'));
  await run(await upload(DATA, 'signed', { chunk: { omitFinalCrlf: true } }));
});

test('streaming signed payload: bad chunk signatures, truncation, framing, lengths', async () => {
  await fails(await upload(DATA, 'signed', { chunk: { badChunkSig: 1 } }), 'SignatureDoesNotMatch', DATA.length);
  // The final (empty) chunk's signature is checked too.
  await fails(await upload(DATA, 'signed', { chunk: { badChunkSig: 5 } }), 'SignatureDoesNotMatch', DATA.length);
  // Chunks re-ordered: each signature chains on the previous one.
  const u = await upload(DATA, 'signed');
  const a = await upload(DATA, 'signed', { headers: { 'x-amz-meta-other': 'request' } });
  const swapped = Buffer.from(u.raw);
  const firstLen = u.raw.indexOf('\r\n', 0) + 2 + 65536 + 2;
  u.raw.copy(swapped, 0, firstLen, firstLen * 2);
  u.raw.copy(swapped, firstLen, 0, firstLen);
  await fails({ ...u, raw: swapped }, 'SignatureDoesNotMatch', DATA.length);
  // Signatures from another request do not verify.
  await fails({ ...u, auth: a.auth, head: a.head }, 'SignatureDoesNotMatch', DATA.length);
  // Tampered data.
  const t = Buffer.from(u.raw);
  t[200_000] ^= 0xff;
  await fails({ ...u, raw: t }, 'SignatureDoesNotMatch', DATA.length);
  // Truncated anywhere.
  // (Cutting only the final CRLF is tolerated: nothing is missing.)
  for (const cut of [10, 100, 70_000, u.raw.length - 90, u.raw.length - 3]) {
    const hd = { ...u.head, headers: { ...u.head.headers } };
    delete hd.headers['content-length'];
    await fails({ ...u, head: hd, raw: u.raw.subarray(0, cut) }, 'IncompleteBody', 0);
  }
  // Malformed framing.
  const bad = Buffer.from(u.raw);
  bad.write('zz', 0, 'latin1');
  await fails({ ...u, raw: bad }, 'InvalidRequest', 0);
  const noCrlf = Buffer.from(u.raw);
  noCrlf.write('xx', firstLen - 2, 'latin1');
  await fails({ ...u, raw: noCrlf }, 'InvalidRequest', DATA.length);
  const trailing = Buffer.concat([u.raw, Buffer.from('junk')]);
  await fails(
    {
      ...u,
      raw: trailing,
      head: { ...u.head, headers: { ...u.head.headers, 'content-length': String(trailing.length) } },
    },
    'InvalidRequest',
    DATA.length,
  );
  // x-amz-decoded-content-length disagreeing with the data.
  await fails(await upload(DATA, 'signed', { decodedLength: DATA.length + 1 }), 'IncompleteBody', DATA.length);
  await fails(await upload(DATA, 'signed', { decodedLength: DATA.length - 1 }), 'InvalidRequest', DATA.length);
});

test('streaming signed payload with a checksum trailer', async () => {
  for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
    const name = `x-amz-checksum-${alg.toLowerCase()}`;
    const value = checksumBase64(alg, DATA);
    const { data, checks } = await run(await upload(DATA, 'signed-trailer', { trailer: [name, value] }));
    assert.ok(data.equals(DATA));
    assert.deepEqual(checks.checksum, { algorithm: alg, value });
  }
  const good: [string, string] = ['x-amz-checksum-crc32c', checksumBase64('CRC32C', DATA)];
  const wrong: [string, string] = ['x-amz-checksum-crc32c', checksumBase64('CRC32C', Buffer.from('other'))];
  const e = await fails(await upload(DATA, 'signed-trailer', { trailer: wrong }), 'BadDigest', DATA.length);
  assert.match(e.message, /CRC32C.*did not match/);
  await fails(
    await upload(DATA, 'signed-trailer', { trailer: good, chunk: { badTrailerSig: true } }),
    'SignatureDoesNotMatch',
    DATA.length,
  );
  // The trailer value is covered by the trailer signature.
  const u = await upload(DATA, 'signed-trailer', { trailer: good });
  const swapped = Buffer.from(u.raw.toString('latin1').replace(good[1], wrong[1]), 'latin1');
  await fails({ ...u, raw: swapped }, 'SignatureDoesNotMatch', DATA.length);
  // Announced trailer missing from the body.
  const missing = await upload(DATA, 'signed-trailer', { trailer: good, chunk: { trailers: [] } });
  await fails(missing, 'InvalidRequest', DATA.length);
  // Trailer signature missing altogether.
  const noSig = Buffer.from(u.raw.toString('latin1').replace(/x-amz-trailer-signature:[0-9a-f]+\r\n/, ''), 'latin1');
  await fails({ ...u, raw: noSig }, 'SignatureDoesNotMatch', DATA.length);
});

test('unsigned payload with a checksum trailer', async () => {
  const value = checksumBase64('CRC64NVME', DATA);
  const { data, checks } = await run(
    await upload(DATA, 'unsigned-trailer', { trailer: ['x-amz-checksum-crc64nvme', value] }),
  );
  assert.ok(data.equals(DATA));
  assert.deepEqual(checks.checksum, { algorithm: 'CRC64NVME', value });
  await fails(
    await upload(DATA, 'unsigned-trailer', {
      trailer: ['x-amz-checksum-crc64nvme', checksumBase64('CRC64NVME', Buffer.from('x'))],
    }),
    'BadDigest',
    DATA.length,
  );
  await fails(
    await upload(DATA, 'unsigned-trailer', { trailer: ['x-amz-checksum-crc64nvme', 'garbage'] }),
    'InvalidRequest',
    DATA.length,
  );
  const u = await upload(DATA, 'unsigned-trailer', { trailer: ['x-amz-checksum-crc64nvme', value] });
  await fails({ ...u, raw: u.raw.subarray(0, u.raw.length - 40) }, 'IncompleteBody', 0);
});

test('checksum headers and x-amz-sdk-checksum-algorithm', async () => {
  for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const) {
    const h = `x-amz-checksum-${alg.toLowerCase()}`;
    const value = checksumBase64(alg, DATA);
    const { checks } = await run(
      await upload(DATA, 'sha256', { headers: { [h]: value, 'x-amz-sdk-checksum-algorithm': alg } }),
    );
    assert.deepEqual(checks.checksum, { algorithm: alg, value });
    const e = await fails(
      await upload(DATA, 'unsigned', { headers: { [h]: checksumBase64(alg, Buffer.from('x')) } }),
      'BadDigest',
      DATA.length,
    );
    assert.match(e.message, new RegExp(`${alg} you specified did not match`));
  }
  // Only the algorithm: computed and returned.
  const { checks } = await run(
    await upload(DATA, 'unsigned', { headers: { 'x-amz-sdk-checksum-algorithm': 'crc32c' } }),
  );
  assert.deepEqual(checks.checksum, { algorithm: 'CRC32C', value: checksumBase64('CRC32C', DATA) });
  // Header validation happens before any byte is read.
  const bad = async (headers: Record<string, string>, mode: 'unsigned' | 'signed' = 'unsigned') => {
    const u = await upload(DATA, mode, { headers });
    assert.throws(
      () => verifiedBody(pieces(u.raw, 1000), u.head, u.auth),
      (e: unknown) => e instanceof S3Error && e.code === 'InvalidRequest',
    );
  };
  await bad({
    'x-amz-checksum-crc32': checksumBase64('CRC32', DATA),
    'x-amz-checksum-sha1': checksumBase64('SHA1', DATA),
  });
  await bad({ 'x-amz-checksum-crc32': 'AAAA' });
  await bad({ 'x-amz-checksum-crc32': checksumBase64('CRC32', DATA), 'x-amz-sdk-checksum-algorithm': 'SHA256' });
  await bad({ 'x-amz-sdk-checksum-algorithm': 'MD5' });
  await bad({ 'x-amz-trailer': 'x-amz-checksum-crc32' });
  await bad({ 'x-amz-trailer': 'x-amz-meta-foo' }, 'signed');
});

test('the decoded stream applies back-pressure', async () => {
  let produced = 0;
  const total = 64 << 20;
  const block = randomBytes(64 * 1024);
  const source = new Readable({
    read() {
      if (produced >= total) return void this.push(null);
      produced += block.length;
      this.push(block);
    },
  });
  const u = await upload(Buffer.alloc(0), 'unsigned');
  delete u.head.headers['content-length'];
  const vb = verifiedBody(source, u.head, u.auth);
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(produced <= 1 << 20, `read ${produced} bytes ahead of a consumer that reads nothing`);
  // A slow consumer keeps the amount in flight bounded.
  let maxAhead = 0;
  let consumed = 0;
  await pipeline(
    vb.stream,
    new Writable({
      highWaterMark: 64 * 1024,
      write(chunk: Buffer, _e, cb) {
        consumed += chunk.length;
        maxAhead = Math.max(maxAhead, produced - consumed);
        setImmediate(cb);
      },
    }),
  );
  assert.equal((await vb.done).size, total);
  assert.ok(maxAhead <= 2 << 20, `source ran ${maxAhead} bytes ahead of the consumer`);
});

test('a failing source or premature close gives IncompleteBody and leaves the source undestroyed', async () => {
  const u = await upload(DATA, 'unsigned');
  const src = new PassThrough();
  const vb = verifiedBody(src, u.head, u.auth);
  const got = collect(vb.stream).catch((e: unknown) => e);
  src.write(DATA.subarray(0, 1000));
  src.destroy(new Error('ECONNRESET'));
  const e = await got;
  assert.ok(e instanceof S3Error && e.code === 'IncompleteBody');
  await assert.rejects(vb.done, (x: unknown) => x instanceof S3Error && x.code === 'IncompleteBody');

  const src2 = new PassThrough();
  const vb2 = verifiedBody(src2, u.head, u.auth);
  const got2 = collect(vb2.stream).catch((x: unknown) => x);
  src2.write(DATA.subarray(0, 1000));
  src2.destroy();
  assert.ok((await got2) instanceof S3Error);
  await assert.rejects(vb2.done, (x: unknown) => x instanceof S3Error && x.code === 'IncompleteBody');

  // A check failure does not destroy the request (an error response must still be sent).
  const bad = await upload(DATA, 'unsigned', { headers: { 'content-md5': md5b64(Buffer.from('x')) } });
  const src3 = pieces(bad.raw, 4096);
  await fails(bad, 'BadDigest', DATA.length, src3);
  assert.equal(src3.destroyed, src3.readableEnded, 'source destroyed by the verifier');
});

test('over HTTP: a client that disconnects mid-body gives IncompleteBody; a good one passes', async () => {
  const good = await upload(DATA, 'signed');
  const results: unknown[] = [];
  const server = createServer((req, res) => {
    const vb = verifiedBody(req, { method: req.method!, url: req.url!, headers: req.headers }, good.auth);
    pipeline(vb.stream, new Writable({ write: (_c, _e, cb) => cb() }))
      .then(() => vb.done)
      .then(
        (c) => {
          results.push(c);
          res.end('ok');
        },
        (e: unknown) => {
          results.push(e);
          res.statusCode = 400;
          res.end();
        },
      );
  });
  server.listen(0);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  try {
    // Truncated: the socket closes after part of the body.
    const sock = connect(port, '127.0.0.1');
    await once(sock, 'connect');
    const headerLines = Object.entries(good.head.headers)
      .map(([k, v]) => `${k}: ${String(v)}`)
      .join('\r\n');
    sock.write(`PUT ${good.head.url} HTTP/1.1\r\n${headerLines}\r\n\r\n`);
    sock.write(good.raw.subarray(0, 100_000));
    await new Promise((r) => setTimeout(r, 30));
    sock.destroy();
    while (results.length < 1) await new Promise((r) => setTimeout(r, 5));
    assert.ok(results[0] instanceof S3Error && results[0].code === 'IncompleteBody', String(results[0]));

    // Complete.
    const res = await new Promise<number>((resolve, reject) => {
      const r = httpRequest(
        { port, method: 'PUT', path: good.head.url, headers: good.head.headers as Record<string, string> },
        (resp) => {
          resp.resume();
          resolve(resp.statusCode!);
        },
      );
      r.on('error', reject);
      r.end(good.raw);
    });
    assert.equal(res, 200);
    assert.equal((results[1] as BodyChecks).size, DATA.length);
  } finally {
    server.close();
  }
});

test('presigned PUT: checksums in the query are ignored, as AWS does', async () => {
  const date = new Date();
  // What AWS SDK v3 puts in a presigned PUT URL by default: the CRC32 of an empty body.
  const head = await presignHead(
    request('PUT', '/b/k', {
      headers: { 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-sdk-checksum-algorithm': 'CRC32' },
    }),
    { date },
  );
  const a = await authenticate(head, { region: 'garage', lookup: async () => ({ secretKey: SK }), now: date });
  assert.equal(a.queryHeaders['x-amz-checksum-crc32'], 'AAAAAA==');
  const { data, checks } = await run({ head, auth: a, raw: DATA });
  assert.ok(data.equals(DATA));
  assert.equal(checks.checksum, undefined);
  // A checksum sent as a (signed) header is still verified.
  const req = request('PUT', '/b/k2', {
    headers: {
      'x-amz-checksum-crc32': checksumBase64('CRC32', Buffer.from('x')),
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    },
  });
  const head2 = toHead(
    await signer().presign(req, { signingDate: date, unhoistableHeaders: new Set(['x-amz-checksum-crc32']) }),
  );
  const a2 = await authenticate(head2, { region: 'garage', lookup: async () => ({ secretKey: SK }), now: date });
  assert.ok(a2.signedHeaders.includes('x-amz-checksum-crc32'));
  await fails({ head: head2, auth: a2, raw: DATA }, 'BadDigest', DATA.length);
});

test('a source that already ended gives an empty body', async () => {
  const u = await upload(Buffer.alloc(0), 'unsigned');
  const src = Readable.from([]);
  await collect(src);
  const { data, checks } = await run(u, src);
  assert.equal(data.length, 0);
  assert.equal(checks.size, 0);
});
