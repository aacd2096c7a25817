/**
 * Limits on what a request may carry, against a real `garage server`: numeric query parameters
 * (plain decimal digits only), SSE headers (refused, never ignored), and connection bounds.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { GarageProcess, RawS3, freePort, quickStart, waitFor, xmlErrorCode, type RawResponse } from './harness.ts';

const BUCKET = 'limits';

function assertError(r: RawResponse, status: number, code: string, what: string): void {
  assert.equal(r.status, status, `${what}: status (body: ${r.body.toString('utf8').slice(0, 300)})`);
  assert.equal(xmlErrorCode(r.body), code, what);
}

/** A raw connection: what the server sent, and whether (and when) it closed the connection. */
class RawConn {
  readonly sock;
  data = Buffer.alloc(0);
  closed = false;
  readonly opened = Date.now();
  closedAfterMs = -1;

  constructor(port: number) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.on('data', (d: Buffer) => (this.data = Buffer.concat([this.data, d])));
    this.sock.on('error', () => undefined);
    this.sock.on('close', () => {
      this.closed = true;
      this.closedAfterMs = Date.now() - this.opened;
    });
  }

  /** Resolves once the socket is connected. */
  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.sock.readyState === 'open') resolve();
      this.sock.once('connect', () => resolve());
      this.sock.once('error', reject);
    });
  }

  write(b: string | Buffer): Promise<void> {
    return new Promise((resolve) => this.sock.write(b, () => resolve()));
  }

  /** Waits until the server closed the connection. */
  async waitClosed(what: string, timeoutMs = 15_000): Promise<void> {
    await waitFor(`the server to close the connection (${what})`, () => this.closed, timeoutMs);
  }

  get text(): string {
    return this.data.toString('latin1');
  }
}

/** A multipart/form-data body: fields, then the start of a file part (the rest is up to the caller). */
function formStart(boundary: string, fields: [string, string][]): string {
  let s = '';
  for (const [k, v] of fields) s += `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`;
  return s;
}

describe('bounds on unauthenticated and idle connections', () => {
  let g: GarageProcess;
  let raw: RawS3;
  let adminPort = 0;
  const boundary = 'xxBOUNDARYxx';
  const head = (port: number, length: number) =>
    `POST /${BUCKET} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: multipart/form-data; boundary=${boundary}\r\ncontent-length: ${length}\r\n\r\n`;

  before(async () => {
    adminPort = await freePort();
    g = await GarageProcess.create(`[admin]\napi_bind_addr = "127.0.0.1:${adminPort}"\n`);
    await g.start({
      GARAGE_POST_FORM_TIMEOUT_MS: '1000',
      GARAGE_HEADERS_TIMEOUT_MS: '1500',
      GARAGE_BODY_IDLE_TIMEOUT_MS: '2500',
    });
    const { keyId, secret } = await quickStart(g, BUCKET);
    raw = new RawS3(g, keyId, secret);
  });

  for (const [listener, port] of [
    ['S3 API', () => g.s3Port],
    ['website', () => g.webPort],
    ['admin API', () => adminPort],
  ] as const) {
    it(`${listener}: headers must arrive within the headers timeout (a trickle or silence gets the connection closed)`, async () => {
      const silent = new RawConn(port());
      const partial = new RawConn(port());
      await Promise.all([silent.ready(), partial.ready()]);
      await partial.write(`GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: `);
      const ticker = setInterval(() => void partial.write('a'), 300);
      try {
        await Promise.all([silent.waitClosed('no bytes at all'), partial.waitClosed('header bytes trickling in')]);
      } finally {
        clearInterval(ticker);
      }
      assert.ok(partial.closedAfterMs < 10_000, `closed after ${partial.closedAfterMs} ms`);
    });
  }

  it('a body that sends nothing for the idle timeout gets its connection closed and nothing is stored', async () => {
    const s = await raw.sign('PUT', `/${BUCKET}/idle`, {}, { 'content-length': '10000000' });
    const c = new RawConn(g.s3Port);
    await c.ready();
    await c.write(
      `PUT ${s.path} HTTP/1.1\r\n${Object.entries(s.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n`,
    );
    await c.write(randomBytes(2 * 1024 * 1024 + 100));
    await c.waitClosed('idle body');
    assert.ok(c.closedAfterMs < 15_000, `closed after ${c.closedAfterMs} ms`);
    await waitFor(
      'the aborted upload to stay invisible',
      async () => (await raw.send('GET', `/${BUCKET}/idle`)).status === 404,
    );
    const list = await raw.send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: 'idle' });
    assert.doesNotMatch(list.body.toString(), /<Key>/);
  });

  it('a slow but steady body is not cut off (no overall request timeout)', async () => {
    const total = 6 * 256 * 1024;
    const r = await raw.send('PUT', `/${BUCKET}/steady`, {}, { 'content-length': String(total) }, (req) => {
      let sent = 0;
      const tick = setInterval(() => {
        req.write(randomBytes(256 * 1024));
        sent += 256 * 1024;
        if (sent >= total) {
          clearInterval(tick);
          req.end();
        }
      }, 1000);
    });
    assert.equal(r.status, 200, r.body.toString());
  });

  after(async () => {
    await g?.destroy();
  });

  it('form fields that trickle in past the deadline get 400 RequestTimeout and the connection closed', async () => {
    const c = new RawConn(g.s3Port);
    await c.ready();
    await c.write(head(g.s3Port, 1_000_000));
    await c.write(formStart(boundary, [['key', 'slow']]).slice(0, 60));
    await c.waitClosed('form deadline');
    assert.match(c.text, /^HTTP\/1\.1 400 /);
    assert.match(c.text, /<Code>RequestTimeout<\/Code>/);
    assert.ok(c.closedAfterMs < 10_000, `closed after ${c.closedAfterMs} ms`);
  });

  it('more than 1 MiB of form before the file part is 400 MaxPostPreDataLengthExceeded', async () => {
    const fields: [string, string][] = [];
    for (let i = 0; i < 20; i++) fields.push([`x-ignore-${i}`, 'v'.repeat(60_000)]);
    const body = formStart(boundary, fields);
    const c = new RawConn(g.s3Port);
    await c.ready();
    await c.write(head(g.s3Port, body.length + 100));
    await c.write(body);
    await waitFor('an answer', () => /\r\n\r\n/.test(c.text));
    assert.match(c.text, /^HTTP\/1\.1 400 /);
    assert.match(c.text, /<Code>MaxPostPreDataLengthExceeded<\/Code>/);
    c.sock.destroy();
  });

  it('a form field longer than 64 KiB is refused, not truncated', async () => {
    const body = formStart(boundary, [
      ['x-ignore-long', 'v'.repeat(70_000)],
      ['key', 'k'],
    ]);
    const c = new RawConn(g.s3Port);
    await c.ready();
    await c.write(head(g.s3Port, body.length + 100));
    await c.write(body);
    await waitFor('an answer', () => /\r\n\r\n/.test(c.text));
    assert.match(c.text, /<Code>MaxPostPreDataLengthExceeded<\/Code>/);
    c.sock.destroy();
  });

  it('the server logged no internal error', () => {
    assert.equal(g.proc?.exitCode, null);
    assert.doesNotMatch(g.log, /internal error|uncaught|unhandled/i, g.log.slice(-3000));
  });
});

describe('request parameters and headers', () => {
  let g: GarageProcess;
  let raw: RawS3;

  before(async () => {
    g = await GarageProcess.create();
    const { keyId, secret } = await quickStart(g, BUCKET);
    raw = new RawS3(g, keyId, secret);
  });
  after(async () => {
    await g?.destroy();
  });

  describe('numeric query parameters are plain decimal digits', () => {
    const NOT_DECIMAL = ['1e3', '0x10', ' 1', '1 ', '+1', '1.0', '0b1', '', '١'];

    it('UploadPart and UploadPartCopy take partNumber 1..10000 only', async () => {
      assert.equal((await raw.send('PUT', `/${BUCKET}/src`, {}, {}, Buffer.from('source'))).status, 200);
      const c = await raw.send('POST', `/${BUCKET}/mpu`, { uploads: '' });
      assert.equal(c.status, 200, c.body.toString());
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(c.body.toString())![1]!;
      for (const partNumber of [...NOT_DECIMAL, '0', '10001', '99999999999999999999']) {
        const up = await raw.send('PUT', `/${BUCKET}/mpu`, { partNumber, uploadId }, {}, Buffer.from('part'));
        assertError(up, 400, 'InvalidArgument', `UploadPart partNumber=${JSON.stringify(partNumber)}`);
        const copy = await raw.send(
          'PUT',
          `/${BUCKET}/mpu`,
          { partNumber, uploadId },
          { 'x-amz-copy-source': `/${BUCKET}/src` },
        );
        assertError(copy, 400, 'InvalidArgument', `UploadPartCopy partNumber=${JSON.stringify(partNumber)}`);
      }
      const parts = await raw.send('GET', `/${BUCKET}/mpu`, { uploadId });
      assert.equal(parts.status, 200);
      assert.doesNotMatch(parts.body.toString(), /<Part>/, 'no part was stored');
      for (const partNumber of ['1', '10000', '0010']) {
        const up = await raw.send('PUT', `/${BUCKET}/mpu`, { partNumber, uploadId }, {}, Buffer.from('part'));
        assert.equal(up.status, 200, `partNumber=${partNumber}: ${up.body.toString()}`);
      }
      const copy = await raw.send(
        'PUT',
        `/${BUCKET}/mpu`,
        { partNumber: '2', uploadId },
        { 'x-amz-copy-source': `/${BUCKET}/src` },
      );
      assert.equal(copy.status, 200, copy.body.toString());
    });

    it('GetObject and HeadObject refuse a partNumber that is not 1..10000', async () => {
      assert.equal((await raw.send('PUT', `/${BUCKET}/obj`, {}, {}, Buffer.from('object'))).status, 200);
      for (const partNumber of [...NOT_DECIMAL, '0', '10001']) {
        assertError(
          await raw.send('GET', `/${BUCKET}/obj`, { partNumber }),
          400,
          'InvalidArgument',
          `GET partNumber=${JSON.stringify(partNumber)}`,
        );
        const head = await raw.send('HEAD', `/${BUCKET}/obj`, { partNumber });
        assert.equal(head.status, 400, `HEAD partNumber=${JSON.stringify(partNumber)}`);
      }
    });

    it('max-keys, max-parts, part-number-marker and max-uploads refuse what is not decimal', async () => {
      const c = await raw.send('POST', `/${BUCKET}/listed`, { uploads: '' });
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(c.body.toString())![1]!;
      for (const v of NOT_DECIMAL) {
        const what = (p: string) => `${p}=${JSON.stringify(v)}`;
        assertError(
          await raw.send('GET', `/${BUCKET}`, { 'list-type': '2', 'max-keys': v }),
          400,
          'InvalidArgument',
          what('V2 max-keys'),
        );
        assertError(
          await raw.send('GET', `/${BUCKET}`, { 'max-keys': v }),
          400,
          'InvalidArgument',
          what('V1 max-keys'),
        );
        assertError(
          await raw.send('GET', `/${BUCKET}`, { versions: '', 'max-keys': v }),
          400,
          'InvalidArgument',
          what('versions max-keys'),
        );
        assertError(
          await raw.send('GET', `/${BUCKET}`, { uploads: '', 'max-uploads': v }),
          400,
          'InvalidArgument',
          what('max-uploads'),
        );
        assertError(
          await raw.send('GET', `/${BUCKET}/listed`, { uploadId, 'max-parts': v }),
          400,
          'InvalidArgument',
          what('max-parts'),
        );
        assertError(
          await raw.send('GET', `/${BUCKET}/listed`, { uploadId, 'part-number-marker': v }),
          400,
          'InvalidArgument',
          what('part-number-marker'),
        );
      }
      const ok = await raw.send('GET', `/${BUCKET}`, { 'list-type': '2', 'max-keys': '2' });
      assert.equal(ok.status, 200);
      assert.match(ok.body.toString(), /<MaxKeys>2<\/MaxKeys>/);
      const parts = await raw.send('GET', `/${BUCKET}/listed`, {
        uploadId,
        'max-parts': '5',
        'part-number-marker': '3',
      });
      assert.equal(parts.status, 200, parts.body.toString());
      assert.match(parts.body.toString(), /<MaxParts>5<\/MaxParts>/);
      assert.match(parts.body.toString(), /<PartNumberMarker>3<\/PartNumberMarker>/);
      const uploads = await raw.send('GET', `/${BUCKET}`, { uploads: '', 'max-uploads': '7' });
      assert.equal(uploads.status, 200);
      assert.match(uploads.body.toString(), /<MaxUploads>7<\/MaxUploads>/);
    });
  });

  it('response-* overrides that a header cannot carry are 400 InvalidArgument, not 500', async () => {
    assert.equal((await raw.send('PUT', `/${BUCKET}/plain`, {}, {}, Buffer.from('plain'))).status, 200);
    for (const [param, v] of [
      ['response-content-type', 'text/plain\r\nset-cookie: a=b'],
      ['response-cache-control', 'x\ny'],
      ['response-expires', 'euro \u20ac'],
    ]) {
      const r = await raw.send('GET', `/${BUCKET}/plain`, { [param]: v });
      assertError(r, 400, 'InvalidArgument', `${param}=${JSON.stringify(v)}`);
      assert.match(r.body.toString(), new RegExp(param));
    }
    const ok = await raw.send('GET', `/${BUCKET}/plain`, { 'response-content-type': 'text/x-ok' });
    assert.equal(ok.headers['content-type'], 'text/x-ok');
  });

  describe('SSE-S3 and SSE-KMS are refused, never ignored', () => {
    const VARIANTS: [string, Record<string, string>][] = [
      ['SSE-S3', { 'x-amz-server-side-encryption': 'AES256' }],
      [
        'SSE-KMS',
        { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'some-key' },
      ],
      ['bucket key', { 'x-amz-server-side-encryption-bucket-key-enabled': 'true' }],
    ];

    it('PutObject, CreateMultipartUpload and CopyObject with SSE headers are 501 NotImplemented and store nothing', async () => {
      assert.equal((await raw.send('PUT', `/${BUCKET}/sse-src`, {}, {}, Buffer.from('plain source'))).status, 200);
      for (const [name, h] of VARIANTS) {
        for (const size of [10, 200_000]) {
          const put = await raw.send('PUT', `/${BUCKET}/sse-put`, {}, h, randomBytes(size));
          assertError(put, 501, 'NotImplemented', `${name} PutObject (${size} bytes)`);
          assert.match(put.body.toString(), /encryption/i);
        }
        assertError(
          await raw.send('POST', `/${BUCKET}/sse-mpu`, { uploads: '' }, h),
          501,
          'NotImplemented',
          `${name} CreateMultipartUpload`,
        );
        assertError(
          await raw.send('PUT', `/${BUCKET}/sse-copy`, {}, { 'x-amz-copy-source': `/${BUCKET}/sse-src`, ...h }),
          501,
          'NotImplemented',
          `${name} CopyObject`,
        );
      }
      for (const k of ['sse-put', 'sse-copy'])
        assertError(await raw.send('GET', `/${BUCKET}/${k}`), 404, 'NoSuchKey', `${k} was not stored`);
      const uploads = await raw.send('GET', `/${BUCKET}`, { uploads: '' });
      assert.doesNotMatch(uploads.body.toString(), /sse-mpu/, 'no multipart upload was created');
    });

    it('GetObject, HeadObject, UploadPart, UploadPartCopy and CompleteMultipartUpload with SSE headers are 501', async () => {
      const c = await raw.send('POST', `/${BUCKET}/sse-parts`, { uploads: '' });
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(c.body.toString())![1]!;
      for (const [name, h] of VARIANTS) {
        assertError(await raw.send('GET', `/${BUCKET}/sse-src`, {}, h), 501, 'NotImplemented', `${name} GetObject`);
        assert.equal((await raw.send('HEAD', `/${BUCKET}/sse-src`, {}, h)).status, 501, `${name} HeadObject`);
        assertError(
          await raw.send('PUT', `/${BUCKET}/sse-parts`, { partNumber: '1', uploadId }, h, Buffer.from('part')),
          501,
          'NotImplemented',
          `${name} UploadPart`,
        );
        const copy = await raw.send(
          'PUT',
          `/${BUCKET}/sse-parts`,
          { partNumber: '1', uploadId },
          { 'x-amz-copy-source': `/${BUCKET}/sse-src`, ...h },
        );
        assertError(copy, 501, 'NotImplemented', `${name} UploadPartCopy`);
      }
      const parts = await raw.send('GET', `/${BUCKET}/sse-parts`, { uploadId });
      assert.doesNotMatch(parts.body.toString(), /<Part>/, 'no part was stored');
      const done = await raw.send(
        'POST',
        `/${BUCKET}/sse-parts`,
        { uploadId },
        VARIANTS[0]![1],
        Buffer.from(
          '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
        ),
      );
      assertError(done, 501, 'NotImplemented', 'SSE-S3 CompleteMultipartUpload');
      // Without SSE headers the same requests work, and nothing claims to be encrypted.
      const got = await raw.send('GET', `/${BUCKET}/sse-src`);
      assert.equal(got.status, 200);
      assert.equal(got.body.toString(), 'plain source');
      assert.equal(got.headers['x-amz-server-side-encryption'], undefined);
    });
  });

  it('the server logged no internal error', () => {
    assert.equal(g.proc?.exitCode, null);
    assert.doesNotMatch(g.log, /internal error|uncaught|unhandled/i, g.log.slice(-3000));
  });
});

describe('connections per listener are capped', () => {
  let g: GarageProcess;
  before(async () => {
    g = await GarageProcess.create();
    await g.start({ GARAGE_MAX_CONNECTIONS: '4' });
  });
  after(async () => {
    await g?.destroy();
  });

  it('a connection past GARAGE_MAX_CONNECTIONS is closed at once; one frees up when another closes', async () => {
    const holders = [0, 1, 2, 3].map(() => new RawConn(g.s3Port));
    await Promise.all(holders.map((h) => h.ready()));
    // Each holder is in the middle of a request, so the server counts it as busy.
    await Promise.all(holders.map((h) => h.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n')));
    const extra = new RawConn(g.s3Port);
    await extra.waitClosed('connection over the cap', 5_000);
    assert.equal(extra.data.length, 0);
    assert.ok(
      holders.every((h) => !h.closed),
      'the connections under the cap stay open',
    );
    holders[0]!.sock.destroy();
    await waitFor(
      'a new connection to be served',
      async () => {
        const c = new RawConn(g.s3Port);
        await c.ready();
        await c.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
        await waitFor('the answer', () => c.closed, 5_000);
        return /^HTTP\/1\.1 403 /.test(c.text);
      },
      10_000,
    );
    for (const h of holders) h.sock.destroy();
  });
});
