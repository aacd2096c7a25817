/**
 * XML request bodies against a real `garage server` (issue 7, items 2 and 10): values reach the
 * handlers byte for byte, and malformed or oversized bodies get a fast 400.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import type { SignatureV4 } from '@smithy/signature-v4';
import { XMLValidator } from 'fast-xml-parser';
import { DeleteObjectsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GarageProcess, quickStart, s3Client } from './harness.ts';
import { sdkEncode, signer as makeSigner } from '../api/common/sigv4_helpers.ts';

const BUCKET = 'xml-input';

interface Resp {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** Escapes text for an XML request body, as the AWS SDKs do (CR, LF and tab as character references). */
function esc(s: string): string {
  return s.replace(/[&<>"'\r\n\t]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const errorCode = (body: string) => /<Error>\s*<Code>([^<]+)<\/Code>/.exec(body)?.[1];

/** Every character XML 1.0 allows in a document (the Char production). */
const XML_CHARS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;
/** A numeric character reference to a character XML 1.0 forbids (which strict parsers refuse). */
const BAD_CHAR_REF = /&#(?:x0*(?:[0-8bcef]|1[0-9a-f]|d[89a-f][0-9a-f]{2}|fff[ef])|0*(?:[0-8]|1[1-2]|1[4-9]|2[0-9]|3[01]|5[5-6][0-9]{3}|6553[45]));/i;

/** Fails unless `xml` is a well-formed XML 1.0 document (characters, references, structure). */
function assertValidXml(xml: string, what: string): void {
  assert.match(xml, XML_CHARS, `${what}: only XML 1.0 characters`);
  assert.doesNotMatch(xml, BAD_CHAR_REF, `${what}: no reference to a character XML 1.0 forbids`);
  // A literal CR would reach the client's parser as LF (end-of-line normalization).
  assert.doesNotMatch(xml, /\r/, `${what}: CR is sent as a character reference`);
  assert.equal(XMLValidator.validate(xml), true, `${what}: well-formed`);
}

/** Decodes the XML text of an element the server sent (the five entities and character references). */
function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|lt|gt|amp|quot|apos);/gi, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[e.toLowerCase()]!;
  });
}

/** The text of every `<tag>` element in a document, decoded. */
function texts(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([^<]*)</${tag}>`, 'g'))].map((m) => unescapeXml(m[1]!));
}

describe('XML request bodies and object keys', () => {
  let g: GarageProcess;
  let s3: S3Client;
  let keyId = '';
  let secret = '';
  let signer: SignatureV4;

  /** Signs a request for `path` (already encoded). */
  async function sign(method: string, path: string, query: Record<string, string>, headers: Record<string, string>, body?: Buffer): Promise<{ path: string; headers: Record<string, string> }> {
    const req = await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: g.s3Port, path, query, headers: { host: `127.0.0.1:${g.s3Port}`, ...(body ? { 'content-length': String(body.length) } : {}), ...headers }, body });
    const qs = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    return { path: qs ? `${path}?${qs}` : path, headers: req.headers };
  }

  /** Sends a signed request with node:http (no path normalization) and reads the whole answer. */
  async function send(method: string, path: string, query: Record<string, string> = {}, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Resp> {
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const s = await sign(method, path, query, headers, buf);
    return new Promise<Resp>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: g.s3Port, method, path: s.path, headers: s.headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      // The server may answer before it has read the whole body, and close.
      req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
      req.end(buf);
    });
  }

  const objPath = (key: string) => `/${BUCKET}/${key.split('/').map(sdkEncode).join('/')}`;
  const put = (key: string, body = 'x') => send('PUT', objPath(key), {}, body);
  const exists = async (key: string) => (await send('HEAD', objPath(key))).status === 200;
  const deleteObjects = (keys: string[], raw?: string) => send('POST', `/${BUCKET}`, { delete: '' }, raw ?? `<Delete>${keys.map((k) => `<Object><Key>${esc(k)}</Key></Object>`).join('')}</Delete>`);

  function assertError(r: Resp, status: number, code: string, what = ''): void {
    assert.equal(r.status, status, `${what} status (body: ${r.body.slice(0, 500)})`);
    assert.match(r.body, /^<\?xml[^>]*>\s*<Error>/, `${what} is an S3 error document`);
    assertValidXml(r.body, `${what} error body`);
    assert.equal(errorCode(r.body), code, what);
  }

  /** Every key of the bucket under `prefix`, listed with encoding-type=url. */
  async function listed(prefix: string): Promise<string[]> {
    const r = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix, 'encoding-type': 'url' });
    assert.equal(r.status, 200, r.body);
    return texts(r.body, 'Key').map((k) => decodeURIComponent(k));
  }

  before(async () => {
    g = await GarageProcess.create();
    ({ keyId, secret } = await quickStart(g, BUCKET));
    s3 = s3Client(g, keyId, secret);
    signer = makeSigner({ accessKey: keyId, secret });
  });
  after(async () => {
    s3?.destroy();
    await g?.destroy();
  });

  describe('values reach the handlers byte for byte', () => {
    it('DeleteObjects deletes exactly the key it names, not a trimmed one', async () => {
      for (const k of ['photo.jpg', 'photo.jpg ', ' photo.jpg']) assert.equal((await put(k)).status, 200);
      const r = await deleteObjects([], '<Delete><Object><Key>photo.jpg </Key></Object></Delete>');
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(texts(r.body, 'Key'), ['photo.jpg ']);
      assert.equal(await exists('photo.jpg'), true, 'photo.jpg is still there');
      assert.equal(await exists(' photo.jpg'), true, '" photo.jpg" is still there');
      assert.equal(await exists('photo.jpg '), false, '"photo.jpg " is deleted');
    });

    it('DeleteObjects keys: spaces, tabs, encoded newlines, numeric-looking, unicode, < and &, each decoded once', async () => {
      const keys = ['k/ lead', 'k/trail ', 'k/\ttab', 'k/nl\nx', 'k/cr\rx', 'k/crlf\r\n', 'k/0012', 'k/1e3', 'k/true', 'k/0x10', 'k/ünï 日本 🚀',
        'k/a<b', 'k/a&b', 'k/a&amp;b', 'k/&#x20;', 'k/"q\'', 'k/]]>'];
      // Keys that differ from these only by what a lenient parser would change.
      const decoys = ['k/lead', 'k/trail', 'k/tab', 'k/nl x', 'k/nl', 'k/cr\nx', 'k/crlf\n', 'k/crlf', 'k/12', 'k/1000', 'k/16', 'k/a&amp;amp;b', 'k/ '];
      for (const k of [...keys, ...decoys]) assert.equal((await put(k)).status, 200, `PUT ${JSON.stringify(k)}`);
      assert.deepEqual((await listed('k/')).sort(), [...keys, ...decoys].sort(), 'every key is listed as written');

      const r = await deleteObjects(keys);
      assert.equal(r.status, 200, r.body);
      assertValidXml(r.body, 'DeleteResult');
      assert.deepEqual(texts(r.body, 'Key').sort(), [...keys].sort(), 'the result names each key as written');
      assert.deepEqual((await listed('k/')).sort(), [...decoys].sort(), 'exactly the named keys are gone');

      // The same through the AWS SDK (its own XML escaping).
      const more = ['s/ sdk ', 's/0012', 's/\r\n', 's/&<>'];
      for (const k of more) await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: k, Body: 'x' }));
      const out = await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: more.map((Key) => ({ Key })) } }));
      assert.deepEqual((out.Deleted ?? []).map((d) => d.Key).sort(), [...more].sort());
      assert.deepEqual(await listed('s/'), []);
    });

    it('DeleteObjects Quiet accepts surrounding whitespace (a boolean), keys stay exact', async () => {
      assert.equal((await put('q/ a')).status, 200);
      const r = await deleteObjects([], '<Delete>\n  <Quiet> true </Quiet>\n  <Object><Key>q/ a</Key></Object>\n</Delete>');
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(texts(r.body, 'Key'), []);
      assert.equal(await exists('q/ a'), false);
    });

    it('CompleteMultipartUpload compares ETags exactly, with entities decoded once', async () => {
      const key = 'mpu/ key ';
      const c = await send('POST', objPath(key), { uploads: '' });
      assert.equal(c.status, 200, c.body);
      assert.deepEqual(texts(c.body, 'Key'), [key]);
      const uploadId = texts(c.body, 'UploadId')[0]!;
      const u = await send('PUT', objPath(key), { partNumber: '1', uploadId }, 'part one');
      assert.equal(u.status, 200, u.body);
      const etag = String(u.headers.etag).replace(/"/g, '');
      const doc = (e: string, n = '1') => `<CompleteMultipartUpload><Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part></CompleteMultipartUpload>`;
      // A trailing space or newline is part of the ETag: no such part.
      assertError(await send('POST', objPath(key), { uploadId }, doc(`${etag} `)), 400, 'InvalidPart', 'ETag with a trailing space');
      assertError(await send('POST', objPath(key), { uploadId }, doc(`&quot;${etag}&quot;&#10;`)), 400, 'InvalidPart', 'ETag with an encoded newline');
      assertError(await send('POST', objPath(key), { uploadId }, doc(`&amp;quot;${etag}&amp;quot;`)), 400, 'InvalidPart', 'ETag with doubly-escaped quotes');
      // Quotes as entities or character references; the part number as an integer with whitespace around it.
      const done = await send('POST', objPath(key), { uploadId }, doc(`&#34;${etag}&quot;`, ' 1 '));
      assert.equal(done.status, 200, done.body);
      assertValidXml(done.body, 'CompleteMultipartUploadResult');
      assert.deepEqual(texts(done.body, 'Key'), [key]);
      assert.equal((await send('GET', objPath(key))).body, 'part one');
    });

    it('PutBucketCors keeps origins, headers and methods exactly as written', async () => {
      const body = '<CORSConfiguration><CORSRule>'
        + '<AllowedOrigin>https://a.example/?x=1&amp;y=2</AllowedOrigin><AllowedOrigin> https://b.example </AllowedOrigin>'
        + '<AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-meta-0012</AllowedHeader><AllowedHeader>1e3</AllowedHeader>'
        + '<ExposeHeader> ETag</ExposeHeader><MaxAgeSeconds> 0012 </MaxAgeSeconds></CORSRule></CORSConfiguration>';
      const r = await send('PUT', `/${BUCKET}`, { cors: '' }, body);
      assert.equal(r.status, 200, r.body);
      const got = await send('GET', `/${BUCKET}`, { cors: '' });
      assert.equal(got.status, 200, got.body);
      assertValidXml(got.body, 'CORSConfiguration');
      assert.deepEqual(texts(got.body, 'AllowedOrigin'), ['https://a.example/?x=1&y=2', ' https://b.example ']);
      assert.deepEqual(texts(got.body, 'AllowedHeader'), ['x-amz-meta-0012', '1e3']);
      assert.deepEqual(texts(got.body, 'ExposeHeader'), [' ETag']);
      assert.deepEqual(texts(got.body, 'MaxAgeSeconds'), ['12']);
      // A method with spaces around it is not GET.
      const bad = body.replace('<AllowedMethod>GET</AllowedMethod>', '<AllowedMethod> GET </AllowedMethod>');
      assertError(await send('PUT', `/${BUCKET}`, { cors: '' }, bad), 400, 'InvalidRequest', 'method " GET "');
      assert.equal((await send('DELETE', `/${BUCKET}`, { cors: '' })).status, 204);
    });

    it('PutBucketWebsite keeps the index suffix and error document exactly as written', async () => {
      const body = '<WebsiteConfiguration><IndexDocument><Suffix> index 0012.html </Suffix></IndexDocument>'
        + '<ErrorDocument><Key>errors/&lt;404&gt; &amp; 1e3 </Key></ErrorDocument></WebsiteConfiguration>';
      const r = await send('PUT', `/${BUCKET}`, { website: '' }, body);
      assert.equal(r.status, 200, r.body);
      const got = await send('GET', `/${BUCKET}`, { website: '' });
      assert.equal(got.status, 200, got.body);
      assertValidXml(got.body, 'WebsiteConfiguration');
      assert.deepEqual(texts(got.body, 'Suffix'), [' index 0012.html ']);
      assert.deepEqual(texts(got.body, 'Key'), ['errors/<404> & 1e3 ']);
      assert.equal((await send('DELETE', `/${BUCKET}`, { website: '' })).status, 204);
    });

    it('PutBucketLifecycleConfiguration keeps prefixes and IDs exactly as written', async () => {
      const body = '<LifecycleConfiguration><Rule><ID>0012</ID><Filter><Prefix> logs/&#9;</Prefix></Filter><Status>Enabled</Status>'
        + '<Expiration><Days> 30 </Days></Expiration></Rule></LifecycleConfiguration>';
      const r = await send('PUT', `/${BUCKET}`, { lifecycle: '' }, body);
      assert.equal(r.status, 200, r.body);
      const got = await send('GET', `/${BUCKET}`, { lifecycle: '' });
      assert.equal(got.status, 200, got.body);
      assertValidXml(got.body, 'LifecycleConfiguration');
      assert.deepEqual(texts(got.body, 'ID'), ['0012']);
      assert.deepEqual(texts(got.body, 'Prefix'), [' logs/\t']);
      assert.deepEqual(texts(got.body, 'Days'), ['30']);
      assert.equal((await send('DELETE', `/${BUCKET}`, { lifecycle: '' })).status, 204);
    });

    it('CreateBucket compares the LocationConstraint exactly', async () => {
      const doc = (loc: string) => `<CreateBucketConfiguration><LocationConstraint>${loc}</LocationConstraint></CreateBucketConfiguration>`;
      await g.cliOk('key', 'allow', '--create-bucket', keyId);
      assertError(await send('PUT', '/xml-loc-a', {}, doc(' garage ')), 400, 'InvalidArgument', 'location " garage "');
      assert.equal((await send('HEAD', '/xml-loc-a')).status, 404);
      const ok = await send('PUT', '/xml-loc-b', {}, doc('garage'));
      assert.equal(ok.status, 200, ok.body);
    });
  });

  describe('malformed and oversized bodies', () => {
    it('malformed documents are 400 MalformedXML (deep nesting, DOCTYPE, entities, bad characters)', async () => {
      assert.equal((await put('m/keep')).status, 200);
      const keep = '<Object><Key>m/keep</Key></Object>';
      const bodies: [string, string | Buffer][] = [
        ['deep nesting', `<Delete>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}${keep}</Delete>`],
        ['deep nesting, unclosed', `<Delete>${'<a>'.repeat(200_000)}`],
        ['DOCTYPE with an external entity', `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&e;</Key></Object></Delete>`],
        ['DOCTYPE with an internal entity', `<!DOCTYPE d [<!ENTITY e "m/keep">]><Delete><Object><Key>&e;</Key></Object></Delete>`],
        ['billion laughs', `<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Delete><Object><Key>&c;</Key></Object></Delete>`],
        ['plain DOCTYPE', `<!DOCTYPE Delete><Delete>${keep}</Delete>`],
        ['unknown entity', '<Delete><Object><Key>m/&nbsp;keep</Key></Object></Delete>'],
        ['unterminated entity', '<Delete><Object><Key>m/&amp keep</Key></Object></Delete>'],
        ['reference to NUL', '<Delete><Object><Key>m/&#0;</Key></Object></Delete>'],
        ['reference to a surrogate', '<Delete><Object><Key>m/&#xD800;</Key></Object></Delete>'],
        ['reference past U+10FFFF', '<Delete><Object><Key>m/&#x110000;</Key></Object></Delete>'],
        ['literal NUL', '<Delete><Object><Key>m/\u0000</Key></Object></Delete>'],
        ['literal < in text', '<Delete><Object><Key>m/<keep</Key></Object></Delete>'],
        ['element inside a key', '<Delete><Object><Key>m/<b>keep</b></Key></Object></Delete>'],
        ['two keys in an object', '<Delete><Object><Key>m/keep</Key><Key>m/keep</Key></Object></Delete>'],
        ['mismatched tags', '<Delete><Object><Key>m/keep</Object></Key></Delete>'],
        ['text after the root', `<Delete>${keep}</Delete>trailing`],
        ['misplaced declaration', `<Delete>${keep}<?xml version="1.0"?></Delete>`],
        ['not UTF-8', Buffer.concat([Buffer.from('<Delete><Object><Key>m/'), Buffer.from([0xc3]), Buffer.from('</Key></Object></Delete>')])],
        ['UTF-16 declared', `<?xml version="1.0" encoding="UTF-16"?><Delete>${keep}</Delete>`],
        ['duplicate attribute', `<Delete a="1" a="2">${keep}</Delete>`],
        ['only a comment', '<!-- nothing -->'],
        ['unterminated comment', `<Delete>${keep}<!-- </Delete>`],
        ['huge tag name', `<${'D'.repeat(2_000_000)}>`],
      ];
      for (const [what, b] of bodies) {
        const t0 = performance.now();
        const r = await send('POST', `/${BUCKET}`, { delete: '' }, b);
        assertError(r, 400, 'MalformedXML', what);
        assert.ok(performance.now() - t0 < 5000, `${what}: answered in ${Math.round(performance.now() - t0)} ms`);
        assert.equal(await exists('m/keep'), true, `m/keep survives ${what}`);
      }
      // Every XML-reading call answers MalformedXML to a malformed body.
      const deep = `${'<a>'.repeat(2000)}${'</a>'.repeat(2000)}`;
      const doctype = '<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:1/">]>';
      const mpu = await send('POST', objPath('m/mpu'), { uploads: '' });
      const uploadId = texts(mpu.body, 'UploadId')[0]!;
      const calls: [string, string, string, Record<string, string>, string][] = [
        ['PutBucketCors', 'PUT', `/${BUCKET}`, { cors: '' }, '<CORSConfiguration><CORSRule>'],
        ['PutBucketCors', 'PUT', `/${BUCKET}`, { cors: '' }, `${doctype}<CORSConfiguration>&e;</CORSConfiguration>`],
        ['PutBucketWebsite', 'PUT', `/${BUCKET}`, { website: '' }, `<WebsiteConfiguration>${deep}</WebsiteConfiguration>`],
        ['PutBucketLifecycle', 'PUT', `/${BUCKET}`, { lifecycle: '' }, `${doctype}<LifecycleConfiguration/>`],
        ['CreateBucket', 'PUT', '/xml-new-bucket', {}, `<CreateBucketConfiguration>${deep}</CreateBucketConfiguration>`],
        ['CompleteMultipartUpload', 'POST', objPath('m/mpu'), { uploadId }, `<CompleteMultipartUpload>${deep}</CompleteMultipartUpload>`],
      ];
      for (const [what, method, path, query, body] of calls) assertError(await send(method, path, query, body), 400, 'MalformedXML', what);
    });

    it('a 5 MB garbage body gets its 400 fast', async () => {
      for (const garbage of [Buffer.alloc(5 * 1024 * 1024, 'x'), Buffer.alloc(5 * 1024 * 1024, '<'), Buffer.concat([Buffer.from('<Delete>'), Buffer.alloc(5 * 1024 * 1024, 0xff)])]) {
        const t0 = performance.now();
        const r = await send('POST', `/${BUCKET}`, { delete: '' }, garbage);
        const ms = performance.now() - t0;
        assertError(r, 400, 'MalformedXML', 'garbage');
        // It used to come after a 10 s stall; the bound leaves room for a loaded machine.
        assert.ok(ms < 2000, `answered in ${Math.round(ms)} ms`);
      }
    });

    /** Sends only the head of a signed request declaring `length` bytes; resolves with the status line and body it gets back. */
    function headOnly(path: string, query: Record<string, string>, length: number, timeoutMs: number): Promise<string> {
      return sign('POST', path, query, { 'content-length': String(length), 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }).then((s) => new Promise<string>((resolve, reject) => {
        const head = `POST ${s.path} HTTP/1.1\r\n${Object.entries(s.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`;
        let got = '';
        const sock = connect(g.s3Port, '127.0.0.1', () => sock.write(head));
        const timer = setTimeout(() => {
          sock.destroy();
          reject(new Error(`no answer within ${timeoutMs} ms (got ${JSON.stringify(got.slice(0, 200))})`));
        }, timeoutMs);
        sock.on('data', (d: Buffer) => {
          got += d.toString('utf8');
          if (/<\/Error>/.test(got)) {
            clearTimeout(timer);
            sock.destroy();
            resolve(got);
          }
        });
        sock.on('error', reject);
      }));
    }

    it('an over-limit body is refused from its Content-Length, without waiting for it', async () => {
      const c = await send('POST', objPath('m/big'), { uploads: '' });
      const uploadId = texts(c.body, 'UploadId')[0]!;
      for (const [what, path, query] of [['DeleteObjects', `/${BUCKET}`, { delete: '' }], ['CompleteMultipartUpload', objPath('m/big'), { uploadId }]] as const) {
        const answer = await headOnly(path, query, 200 * 1024 * 1024, 5000);
        assert.match(answer, /^HTTP\/1\.1 400 /, what);
        assert.match(answer, /<Code>MaxMessageLengthExceeded<\/Code>/, what);
      }
    });

    /** The server's peak resident memory (kB), from /proc. */
    function peakRss(): number {
      const status = readFileSync(`/proc/${g.proc!.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+)/.exec(status)![1]);
    }

    it('a DeleteObjects of 100,000 entries is refused at entry 1,001: fast and without parsing it all', async () => {
      assert.equal((await put('m/first')).status, 200);
      const parts = ['<Delete>'];
      for (let i = 0; i < 100_000; i++) parts.push(`<Object><Key>m/first</Key></Object>`);
      parts.push('</Delete>');
      const body = parts.join('');
      const before = peakRss();
      const t0 = performance.now();
      const r = await send('POST', `/${BUCKET}`, { delete: '' }, body);
      const ms = performance.now() - t0;
      assertError(r, 400, 'MalformedXML', '100,000 entries');
      assert.match(r.body, /1000/);
      assert.ok(ms < 3000, `answered in ${Math.round(ms)} ms`);
      const grown = peakRss() - before;
      assert.ok(grown < 60 * 1024, `peak RSS grew by ${grown} kB`);
      assert.equal(await exists('m/first'), true, 'nothing was deleted');
      // 1,000 is still fine.
      const ok = await deleteObjects(Array.from({ length: 1000 }, () => 'm/first'));
      assert.equal(ok.status, 200, ok.body.slice(0, 300));
      assert.equal(await exists('m/first'), false);
    });

    it('a CompleteMultipartUpload of 10,001 parts is MalformedXML; 10,000 parse', async () => {
      const key = 'm/parts';
      const c = await send('POST', objPath(key), { uploads: '' });
      const uploadId = texts(c.body, 'UploadId')[0]!;
      const doc = (n: number) => `<CompleteMultipartUpload>${Array.from({ length: n }, (_, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>"00000000000000000000000000000000"</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
      const over = await send('POST', objPath(key), { uploadId }, doc(10_001));
      assertError(over, 400, 'MalformedXML', '10,001 parts');
      // 10,000 parts is a valid document: it fails only because the parts were never uploaded.
      assertError(await send('POST', objPath(key), { uploadId }, doc(10_000)), 400, 'InvalidPart', '10,000 parts');
    });
  });
});
