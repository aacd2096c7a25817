/**
 * Bad input against a real `garage server` process: malformed XML, wrong digests, truncated
 * bodies, hostile and oversized object keys (raw SigV4-signed requests), and invalid config files.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SignatureV4 } from '@smithy/signature-v4';
import { GarageProcess, MAIN, Sha256, freePort, quickStart, run } from './harness.ts';

const BUCKET = 'bad-input';

/** Encodes an object key for a request path as SigV4 canonicalizes it (each segment; '/' and '.' kept). */
function encodeKey(key: string): string {
  return key
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

interface Resp {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const xmlCode = (b: Buffer) => /<Error>\s*<Code>([^<]+)<\/Code>/.exec(b.toString('utf8'))?.[1];

describe('bad input against a garage server', () => {
  let sandbox: string;
  let g: GarageProcess;
  let signer: SignatureV4;

  /** Signs a request for `path` (already encoded) with the quick-start key. */
  async function sign(
    method: string,
    path: string,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<{ path: string; headers: Record<string, string> }> {
    const req = await signer.sign({
      method,
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: g.s3Port,
      path,
      query,
      headers: {
        host: `127.0.0.1:${g.s3Port}`,
        ...(body ? { 'content-length': String(body.length) } : {}),
        ...headers,
      },
      body,
    });
    const qs = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
    return { path: qs ? `${path}?${qs}` : path, headers: req.headers };
  }

  /** Sends a signed request with node:http (no path normalization) and reads the whole answer. */
  async function send(
    method: string,
    path: string,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
    body?: Buffer,
  ): Promise<Resp> {
    const s = await sign(method, path, query, headers, body);
    return new Promise<Resp>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: g.s3Port, method, path: s.path, headers: s.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  const objPath = (key: string) => `/${BUCKET}/${encodeKey(key)}`;
  const putObject = (key: string, body: Buffer, headers: Record<string, string> = {}) =>
    send('PUT', objPath(key), {}, headers, body);
  const getObject = (key: string) => send('GET', objPath(key));

  function assertError(r: Resp, status: number, code: string): void {
    assert.equal(r.status, status, `status (body: ${r.body.toString('utf8').slice(0, 500)})`);
    assert.match(String(r.headers['content-type']), /xml/);
    assert.match(r.body.toString('utf8'), /^<\?xml[^>]*>\s*<Error>/);
    assert.equal(xmlCode(r.body), code);
  }

  async function assertMissing(key: string): Promise<void> {
    const r = await getObject(key);
    assertError(r, 404, 'NoSuchKey');
  }

  /** A normal PutObject/GetObject round trip still works (and the process is alive). */
  async function assertHealthy(): Promise<void> {
    assert.equal(g.proc?.exitCode, null, 'the server process is still running');
    const key = `health/${randomBytes(6).toString('hex')}`;
    const data = randomBytes(5000);
    const p = await putObject(key, data);
    assert.equal(p.status, 200, p.body.toString());
    assert.equal(p.headers.etag, `"${createHash('md5').update(data).digest('hex')}"`);
    const r = await getObject(key);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(data));
  }

  before(async () => {
    // The node's directory goes inside a sandbox of our own, so we can search all around it.
    sandbox = mkdtempSync(join(tmpdir(), 'garage-bad-input-'));
    const prev = process.env.TMPDIR;
    process.env.TMPDIR = sandbox;
    try {
      g = await GarageProcess.create();
    } finally {
      if (prev === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = prev;
    }
    assert.equal(dirname(g.dir), sandbox);
    const { keyId, secret } = await quickStart(g, BUCKET);
    signer = new SignatureV4({
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
      region: 'garage',
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
    });
    await assertHealthy();
  });

  after(async () => {
    await g?.destroy();
    if (sandbox) rmSync(sandbox, { recursive: true, force: true });
  });

  describe('malformed XML', () => {
    it('DeleteObjects with a malformed body is 400 MalformedXML and deletes nothing', async () => {
      assert.equal((await putObject('xml/keep', Buffer.from('keep'))).status, 200);
      const bodies = [
        '<Delete><Object><Key>xml/keep</Key></Object>',
        '<Delete><Object><Key>xml/keep</Key></Objec></Delete>',
        'this is not XML at all',
        '',
        '<?xml version="1.0"?><Delete><Object><Key>xml/keep</Key></Object></Delete><Extra/>',
        '<Other><Object><Key>xml/keep</Key></Object></Other>',
        '<Delete><Object><NotAKey>xml/keep</NotAKey></Object></Delete>',
      ];
      for (const b of bodies) {
        const r = await send(
          'POST',
          `/${BUCKET}`,
          { delete: '' },
          { 'content-type': 'application/xml' },
          Buffer.from(b),
        );
        assertError(r, 400, 'MalformedXML');
        const still = await getObject('xml/keep');
        assert.equal(still.status, 200, `after ${JSON.stringify(b)}`);
        await assertHealthy();
      }
      // A well-formed one works.
      const ok = await send(
        'POST',
        `/${BUCKET}`,
        { delete: '' },
        {},
        Buffer.from('<Delete><Object><Key>xml/keep</Key></Object></Delete>'),
      );
      assert.equal(ok.status, 200, ok.body.toString());
      assert.match(ok.body.toString(), /<Deleted>\s*<Key>xml\/keep<\/Key>/);
      await assertMissing('xml/keep');
    });

    it('CompleteMultipartUpload with a malformed body is 400 MalformedXML and the upload stays usable', async () => {
      const key = 'xml/mpu';
      const c = await send('POST', objPath(key), { uploads: '' });
      assert.equal(c.status, 200, c.body.toString());
      const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(c.body.toString())![1]!;
      const part = Buffer.from('the only part');
      const u = await send('PUT', objPath(key), { partNumber: '1', uploadId }, {}, part);
      assert.equal(u.status, 200, u.body.toString());
      const etag = String(u.headers.etag);

      for (const b of [
        '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>',
        'garbage',
        '',
        `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload></CompleteMultipartUpload>`,
      ]) {
        const r = await send('POST', objPath(key), { uploadId }, {}, Buffer.from(b));
        assertError(r, 400, 'MalformedXML');
        await assertMissing(key);
        await assertHealthy();
      }
      // The upload is still there and completes normally.
      const list = await send('GET', objPath(key), { uploadId });
      assert.equal(list.status, 200);
      assert.match(list.body.toString(), /<PartNumber>1<\/PartNumber>/);
      const done = await send(
        'POST',
        objPath(key),
        { uploadId },
        {},
        Buffer.from(
          `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`,
        ),
      );
      assert.equal(done.status, 200, done.body.toString());
      const got = await getObject(key);
      assert.ok(got.body.equals(part));
    });
  });

  describe('digests', () => {
    it('a wrong Content-MD5 is 400 BadDigest and creates nothing (inline and block-stored sizes)', async () => {
      for (const size of [100, 3 * 1024 * 1024 + 5]) {
        const key = `md5/wrong-${size}`;
        const data = randomBytes(size);
        const wrong = createHash('md5').update('something else').digest('base64');
        const r = await putObject(key, data, { 'content-md5': wrong });
        assertError(r, 400, 'BadDigest');
        await assertMissing(key);
        await assertHealthy();
        // The right one works.
        const right = createHash('md5').update(data).digest('base64');
        const ok = await putObject(key, data, { 'content-md5': right });
        assert.equal(ok.status, 200, ok.body.toString());
        assert.ok((await getObject(key)).body.equals(data));
      }
      const list = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: 'md5/' });
      assert.deepEqual(
        [...list.body.toString().matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]),
        ['md5/wrong-100', 'md5/wrong-3145733'],
      );
    });

    it('a wrong Content-MD5 on an overwrite leaves the previous version in place', async () => {
      const key = 'md5/overwrite';
      const v1 = randomBytes(2 * 1024 * 1024);
      assert.equal((await putObject(key, v1)).status, 200);
      const v2 = randomBytes(2 * 1024 * 1024);
      const r = await putObject(key, v2, { 'content-md5': createHash('md5').update(v1).digest('base64') });
      assertError(r, 400, 'BadDigest');
      const got = await getObject(key);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(v1));
      await assertHealthy();
    });

    it('a Content-MD5 that is not an MD5 is 400 InvalidDigest', async () => {
      const r = await putObject('md5/invalid', Buffer.from('x'), { 'content-md5': 'not-a-digest' });
      assertError(r, 400, 'InvalidDigest');
      await assertMissing('md5/invalid');
      await assertHealthy();
    });
  });

  describe('truncated bodies', () => {
    /** Sends the head and part of the body over a raw socket, then closes it. */
    async function truncatedPut(
      key: string,
      declared: number,
      sent: Buffer,
      extraHeaders: Record<string, string> = {},
    ): Promise<void> {
      const s = await sign(
        'PUT',
        objPath(key),
        {},
        { 'content-length': String(declared), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...extraHeaders },
      );
      const head = `PUT ${s.path} HTTP/1.1\r\n${Object.entries(s.headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n')}\r\n\r\n`;
      await new Promise<void>((resolve, reject) => {
        const sock = connect(g.s3Port, '127.0.0.1', () => {
          sock.write(head);
          sock.write(sent, () => {
            // Give the server a moment to start storing what it got, then hang up.
            setTimeout(() => {
              sock.destroy();
              resolve();
            }, 200);
          });
        });
        sock.on('error', reject);
        sock.on('data', () => undefined);
      });
    }

    /** The key never becomes visible (checked a few times while the server handles the hang-up). */
    async function staysMissing(key: string): Promise<void> {
      for (let i = 0; i < 5; i++) {
        await assertMissing(key);
        await new Promise((r) => setTimeout(r, 100));
      }
      const list = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: key });
      assert.equal(list.status, 200);
      assert.doesNotMatch(list.body.toString(), /<Key>/);
    }

    it('a small body shorter than Content-Length: nothing is created, the server keeps serving', async () => {
      await truncatedPut('trunc/small', 1000, Buffer.from('only a few bytes'));
      await staysMissing('trunc/small');
      await assertHealthy();
    });

    it('a large body cut off after several blocks: nothing is created, the server keeps serving', async () => {
      await truncatedPut('trunc/large', 8 * 1024 * 1024, randomBytes(3 * 1024 * 1024 + 17));
      await staysMissing('trunc/large');
      await assertHealthy();
    });

    it('a truncated overwrite leaves the previous version readable', async () => {
      const v1 = randomBytes(1_200_000);
      assert.equal((await putObject('trunc/overwrite', v1)).status, 200);
      await truncatedPut('trunc/overwrite', 4 * 1024 * 1024, randomBytes(2 * 1024 * 1024));
      for (let i = 0; i < 3; i++) {
        const got = await getObject('trunc/overwrite');
        assert.equal(got.status, 200);
        assert.ok(got.body.equals(v1));
        await new Promise((r) => setTimeout(r, 100));
      }
      await assertHealthy();
    });

    it('an aws-chunked body cut off mid-chunk: nothing is created', async () => {
      const data = randomBytes(100_000);
      const framed = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data.subarray(0, 40_000)]);
      await truncatedPut('trunc/chunked', 200_000, framed, {
        'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(data.length),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      });
      await staysMissing('trunc/chunked');
      await assertHealthy();
    });
  });

  describe('object keys', () => {
    /** Every file under the sandbox that has one of these names. */
    function filesNamed(names: string[]): string[] {
      return (readdirSync(sandbox, { recursive: true }) as string[]).filter((p) => names.includes(p.split('/').pop()!));
    }

    it('path-traversal keys are ordinary keys, and nothing is written outside the data directory', async () => {
      const before = filesNamed(['passwd', 'b']);
      const keys = ['../../etc/passwd', 'a/../../b', '../../../../../../etc/passwd', './x/./y', '..', 'dots/..'];
      const bodies = new Map<string, Buffer>();
      for (const key of keys) {
        // Large enough to be stored in data blocks, not inline in the metadata.
        const data = randomBytes(200_000);
        bodies.set(key, data);
        const p = await putObject(key, data);
        assert.equal(p.status, 200, `PUT ${key}: ${p.body.toString()}`);
      }
      for (const key of keys) {
        const r = await getObject(key);
        assert.equal(r.status, 200, `GET ${key}`);
        assert.ok(r.body.equals(bodies.get(key)!), `GET ${key} returns its bytes`);
      }
      // The keys list as written, not normalized.
      const list = await send('GET', `/${BUCKET}`, { 'list-type': '2' });
      const listed = [...list.body.toString().matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) =>
        m[1]!.replace(/&amp;/g, '&'),
      );
      for (const key of keys) assert.ok(listed.includes(key), `${key} is listed (${listed.join(', ')})`);
      // Nothing is resolved as a path: 'a/../../b' did not overwrite or create 'b'.
      await assertMissing('b');
      await assertMissing('etc/passwd');

      assert.deepEqual(filesNamed(['passwd', 'b']), before);
      assert.equal(existsSync(join(sandbox, 'etc')), false);
      assert.equal(existsSync(join(dirname(sandbox), 'etc', 'passwd')), false);

      for (const key of keys) {
        const d = await send('DELETE', objPath(key));
        assert.equal(d.status, 204);
        await assertMissing(key);
      }
      await assertHealthy();
    });

    it('a 1024-byte multi-byte UTF-8 key round-trips; 1025 bytes is KeyTooLongError', async () => {
      const base = 'long/';
      let key = base;
      const alphabet = ['€', 'é', '🚀', '日', 'ß', 'x'];
      for (let i = 0; Buffer.byteLength(key) < 1024 - 4; i++) key += alphabet[i % alphabet.length];
      while (Buffer.byteLength(key) < 1024) key += 'z';
      assert.equal(Buffer.byteLength(key), 1024);
      assert.ok(key.length < 1024, 'the key has multi-byte characters');

      const data = Buffer.from('a long key');
      const p = await putObject(key, data);
      assert.equal(p.status, 200, p.body.toString());
      const r = await getObject(key);
      assert.equal(r.status, 200);
      assert.ok(r.body.equals(data));
      const list = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: base });
      assert.ok(list.body.toString('utf8').includes(`<Key>${key}</Key>`));
      const enc = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: base, 'encoding-type': 'url' });
      const encKey = /<Key>([^<]+)<\/Key>/.exec(enc.body.toString())![1]!;
      assert.equal(decodeURIComponent(encKey), key);

      const tooLong = `${key}z`;
      assert.equal(Buffer.byteLength(tooLong), 1025);
      assertError(await putObject(tooLong, data), 400, 'KeyTooLongError');
      assertError(await send('POST', objPath(tooLong), { uploads: '' }), 400, 'KeyTooLongError');
      // 1025 bytes where the last character is multi-byte.
      const tooLong2 = `${key.slice(0, -1)}é`;
      assert.equal(Buffer.byteLength(tooLong2), 1025);
      assertError(await putObject(tooLong2, data), 400, 'KeyTooLongError');
      await assertMissing(key.slice(0, -1));
      const after = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: base });
      assert.equal([...after.body.toString().matchAll(/<Key>/g)].length, 1);
      await assertHealthy();
    });
  });

  describe('invalid configuration files', () => {
    async function goodConfig(): Promise<string> {
      const dir = mkdtempSync(join(sandbox, 'cfg-'));
      return `metadata_dir = "${dir}/meta"
data_dir = "${dir}/data"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:${await freePort()}"
rpc_secret = "${randomBytes(32).toString('hex')}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:${await freePort()}"
`;
    }

    async function serverWith(name: string, text: string): Promise<{ code: number; out: string }> {
      const file = join(sandbox, name);
      writeFileSync(file, text);
      const r = await run(process.execPath, [MAIN, '-c', file, 'server'], {
        env: { GARAGE_RPC_SECRET: undefined, GARAGE_RPC_SECRET_FILE: undefined, RUST_LOG: 'garage=warn' },
        timeoutMs: 20_000,
      });
      return { code: r.code, out: r.stderr + r.stdout };
    }

    it('an unknown key is refused, naming the key', async () => {
      const r = await serverWith(
        'unknown.toml',
        `${await goodConfig()}\n`.replace('replication_factor = 1', 'replication_factor = 1\nbogus_setting = 42'),
      );
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /bogus_setting/);
      const r2 = await serverWith(
        'unknown-section.toml',
        (await goodConfig()).replace('s3_region = "garage"', 's3_region = "garage"\nnot_a_real_option = true'),
      );
      assert.notEqual(r2.code, 0, r2.out);
      assert.match(r2.out, /not_a_real_option/);
    });

    it('a bad rpc_secret is refused, naming rpc_secret', async () => {
      const r = await serverWith(
        'secret.toml',
        (await goodConfig()).replace(/rpc_secret = "[0-9a-f]+"/, 'rpc_secret = "not-hex-and-too-short"'),
      );
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /rpc_secret/);
      const r2 = await serverWith(
        'secret-short.toml',
        (await goodConfig()).replace(/rpc_secret = "[0-9a-f]+"/, `rpc_secret = "${randomBytes(16).toString('hex')}"`),
      );
      assert.notEqual(r2.code, 0, r2.out);
      assert.match(r2.out, /rpc_secret/);
    });

    it('a TOML syntax error is refused, naming the file and the line', async () => {
      const r = await serverWith(
        'syntax.toml',
        (await goodConfig()).replace('replication_factor = 1', 'replication_factor = 1\nblock_size = "unterminated'),
      );
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /TOML/i);
      assert.match(r.out, /syntax\.toml/);
      assert.match(r.out, /line 4/);
    });

    it('a value of the wrong type is refused, naming the key', async () => {
      const r = await serverWith(
        'type.toml',
        (await goodConfig()).replace(
          'replication_factor = 1',
          'replication_factor = 1\nbootstrap_peers = "not-a-list"',
        ),
      );
      assert.notEqual(r.code, 0, r.out);
      assert.match(r.out, /bootstrap_peers/);
    });

    it('vhost-style requests (root_domain) reach the bucket named by the Host header', async () => {
      const host = `${BUCKET}.s3.garage`;
      const body = Buffer.from('vhost body');
      const signed = await signer.sign({
        method: 'PUT',
        protocol: 'http:',
        hostname: host,
        path: '/vhost/key.txt',
        query: {},
        headers: { host, 'content-length': String(body.length) },
        body,
      });
      const put = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: g.s3Port,
            method: 'PUT',
            path: '/vhost/key.txt',
            headers: signed.headers,
            agent: false,
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(put, 200);
      const r = await getObject('vhost/key.txt');
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'vhost body');
    });

    it('answers Expect: 100-continue only after authentication', async () => {
      const size = 8 * 1024 * 1024;
      const attempt = async (tamper: boolean) => {
        const s = await sign(
          'PUT',
          objPath('continue/obj'),
          {},
          { expect: '100-continue', 'content-length': String(size), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
        );
        if (tamper) s.headers.authorization = s.headers.authorization!.replace(/Signature=\w{4}/, 'Signature=0000');
        return new Promise<{ status: number; sentBody: boolean; body: Buffer }>((resolve, reject) => {
          let sentBody = false;
          const req = httpRequest(
            { host: '127.0.0.1', port: g.s3Port, method: 'PUT', path: s.path, headers: s.headers, agent: false },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode ?? 0, sentBody, body: Buffer.concat(chunks) }));
            },
          );
          req.on('continue', () => {
            sentBody = true;
            req.end(randomBytes(size));
          });
          req.on('error', reject);
          req.flushHeaders();
        });
      };
      const bad = await attempt(true);
      assert.equal(bad.status, 403);
      assert.equal(bad.sentBody, false, 'the body was never asked for');
      assert.equal(xmlCode(bad.body), 'SignatureDoesNotMatch');
      const good = await attempt(false);
      assert.equal(good.status, 200, good.body.toString());
      assert.equal(good.sentBody, true);
    });

    it('ignores an Expect value other than 100-continue, as S3 does (no 417)', async () => {
      const body = Buffer.from('expect body');
      const s = await sign(
        'PUT',
        objPath('expect/obj'),
        {},
        { expect: 'something-else', 'content-length': String(body.length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      );
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          { host: '127.0.0.1', port: g.s3Port, method: 'PUT', path: s.path, headers: s.headers, agent: false },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 200);
      assert.equal((await getObject('expect/obj')).body.toString(), 'expect body');
    });

    it('the running server was not disturbed, and logged no internal error', async () => {
      await assertHealthy();
      assert.doesNotMatch(g.log, /internal error|uncaught|unhandled/i, g.log.slice(-3000));
    });
  });
});
