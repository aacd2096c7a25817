/**
 * XML request bodies and object keys against a real `garage server` (issue 7, items 2, 9, 10):
 * values reach the handlers byte for byte, keys XML 1.0 cannot carry are refused, every
 * listing stays valid XML, and malformed or oversized bodies get a fast 400.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SignatureV4 } from '@smithy/signature-v4';
import { XMLValidator } from 'fast-xml-parser';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type GarageProcess, useNode } from './harness.ts';
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
const BAD_CHAR_REF =
  /&#(?:x0*(?:[0-8bcef]|1[0-9a-f]|d[89a-f][0-9a-f]{2}|fff[ef])|0*(?:[0-8]|1[1-2]|1[4-9]|2[0-9]|3[01]|5[5-6][0-9]{3}|6553[45]));/i;

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
    if (e[0] === '#')
      return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
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
  async function sign(
    method: string,
    path: string,
    query: Record<string, string>,
    headers: Record<string, string>,
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
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Resp> {
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const s = await sign(method, path, query, headers, buf);
    return new Promise<Resp>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: g.s3Port, method, path: s.path, headers: s.headers, agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      // The server may answer before it has read the whole body, and close.
      req.on('error', (e: NodeJS.ErrnoException) =>
        e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e),
      );
      req.end(buf);
    });
  }

  const objPath = (key: string) => `/${BUCKET}/${key.split('/').map(sdkEncode).join('/')}`;
  const put = (key: string, body = 'x') => send('PUT', objPath(key), {}, body);
  const exists = async (key: string) => (await send('HEAD', objPath(key))).status === 200;
  const deleteObjects = (keys: string[], raw?: string) =>
    send(
      'POST',
      `/${BUCKET}`,
      { delete: '' },
      raw ?? `<Delete>${keys.map((k) => `<Object><Key>${esc(k)}</Key></Object>`).join('')}</Delete>`,
    );

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

  const node = useNode(BUCKET);
  before(() => {
    ({ g, s3, keyId, secret } = node);
    signer = makeSigner({ accessKey: keyId, secret });
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
      const keys = [
        'k/ lead',
        'k/trail ',
        'k/\ttab',
        'k/nl\nx',
        'k/cr\rx',
        'k/crlf\r\n',
        'k/0012',
        'k/1e3',
        'k/true',
        'k/0x10',
        'k/ünï 日本 🚀',
        'k/a<b',
        'k/a&b',
        'k/a&amp;b',
        'k/&#x20;',
        'k/"q\'',
        'k/]]>',
      ];
      // Keys that differ from these only by what a lenient parser would change.
      const decoys = [
        'k/lead',
        'k/trail',
        'k/tab',
        'k/nl x',
        'k/nl',
        'k/cr\nx',
        'k/crlf\n',
        'k/crlf',
        'k/12',
        'k/1000',
        'k/16',
        'k/a&amp;amp;b',
        'k/ ',
      ];
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
      const out = await s3.send(
        new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: more.map((Key) => ({ Key })) } }),
      );
      assert.deepEqual((out.Deleted ?? []).map((d) => d.Key).sort(), [...more].sort());
      assert.deepEqual(await listed('s/'), []);
    });

    it('DeleteObjects Quiet accepts surrounding whitespace (a boolean), keys stay exact', async () => {
      assert.equal((await put('q/ a')).status, 200);
      const r = await deleteObjects(
        [],
        '<Delete>\n  <Quiet> true </Quiet>\n  <Object><Key>q/ a</Key></Object>\n</Delete>',
      );
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
      const doc = (e: string, n = '1') =>
        `<CompleteMultipartUpload><Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part></CompleteMultipartUpload>`;
      // A trailing space or newline is part of the ETag: no such part.
      assertError(
        await send('POST', objPath(key), { uploadId }, doc(`${etag} `)),
        400,
        'InvalidPart',
        'ETag with a trailing space',
      );
      assertError(
        await send('POST', objPath(key), { uploadId }, doc(`&quot;${etag}&quot;&#10;`)),
        400,
        'InvalidPart',
        'ETag with an encoded newline',
      );
      assertError(
        await send('POST', objPath(key), { uploadId }, doc(`&amp;quot;${etag}&amp;quot;`)),
        400,
        'InvalidPart',
        'ETag with doubly-escaped quotes',
      );
      // Quotes as entities or character references; the part number as an integer with whitespace around it.
      const done = await send('POST', objPath(key), { uploadId }, doc(`&#34;${etag}&quot;`, ' 1 '));
      assert.equal(done.status, 200, done.body);
      assertValidXml(done.body, 'CompleteMultipartUploadResult');
      assert.deepEqual(texts(done.body, 'Key'), [key]);
      assert.equal((await send('GET', objPath(key))).body, 'part one');
    });

    it('PutBucketCors keeps origins, headers and methods exactly as written', async () => {
      const body =
        '<CORSConfiguration><CORSRule>' +
        '<AllowedOrigin>https://a.example/?x=1&amp;y=2</AllowedOrigin><AllowedOrigin> https://b.example </AllowedOrigin>' +
        '<AllowedMethod>GET</AllowedMethod><AllowedHeader>x-amz-meta-0012</AllowedHeader><AllowedHeader>1e3</AllowedHeader>' +
        '<ExposeHeader> ETag</ExposeHeader><MaxAgeSeconds> 0012 </MaxAgeSeconds></CORSRule></CORSConfiguration>';
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
      const body =
        '<WebsiteConfiguration><IndexDocument><Suffix> index 0012.html </Suffix></IndexDocument>' +
        '<ErrorDocument><Key>errors/&lt;404&gt; &amp; 1e3 </Key></ErrorDocument></WebsiteConfiguration>';
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
      const body =
        '<LifecycleConfiguration><Rule><ID>0012</ID><Filter><Prefix> logs/&#9;</Prefix></Filter><Status>Enabled</Status>' +
        '<Expiration><Days> 30 </Days></Expiration></Rule></LifecycleConfiguration>';
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
      const doc = (loc: string) =>
        `<CreateBucketConfiguration><LocationConstraint>${loc}</LocationConstraint></CreateBucketConfiguration>`;
      await g.cliOk('key', 'allow', '--create-bucket', keyId);
      assertError(await send('PUT', '/xml-loc-a', {}, doc(' garage ')), 400, 'InvalidArgument', 'location " garage "');
      assert.equal((await send('HEAD', '/xml-loc-a')).status, 404);
      const ok = await send('PUT', '/xml-loc-b', {}, doc('garage'));
      assert.equal(ok.status, 200, ok.body);
    });
  });

  describe('object keys that XML 1.0 cannot carry', () => {
    it('PutObject, CopyObject, CreateMultipartUpload and PostObject refuse keys with NUL and other C0 controls', async () => {
      assert.equal((await put('src')).status, 200);
      for (const c of ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001f', '\ufffe', '\uffff']) {
        const key = `ctl/a${c}b`;
        const what = `U+${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
        assertError(await put(key), 400, 'InvalidArgument', `PutObject ${what}`);
        assertError(
          await send('PUT', objPath(key), {}, undefined, { 'x-amz-copy-source': `/${BUCKET}/src` }),
          400,
          'InvalidArgument',
          `CopyObject ${what}`,
        );
        assertError(
          await send('POST', objPath(key), { uploads: '' }),
          400,
          'InvalidArgument',
          `CreateMultipartUpload ${what}`,
        );
      }
      assert.deepEqual(await listed('ctl/'), []);

      // PostObject: the key comes from the form.
      const now = new Date();
      const date = now
        .toISOString()
        .replace(/[-:]/g, '')
        .replace(/\.\d{3}/, '');
      const day = date.slice(0, 8);
      const credential = `${keyId}/${day}/garage/s3/aws4_request`;
      const policy = Buffer.from(
        JSON.stringify({
          expiration: new Date(now.getTime() + 60_000).toISOString(),
          conditions: [
            { bucket: BUCKET },
            ['starts-with', '$key', 'ctl/'],
            { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
            { 'x-amz-credential': credential },
            { 'x-amz-date': date },
          ],
        }),
      ).toString('base64');
      const k = [day, 'garage', 's3', 'aws4_request'].reduce<Buffer>(
        (acc, part) => createHmac('sha256', acc).update(part).digest(),
        Buffer.from(`AWS4${secret}`),
      );
      const form = new FormData();
      const fields = {
        key: 'ctl/post\u0000key',
        policy,
        'x-amz-algorithm': 'AWS4-HMAC-SHA256',
        'x-amz-credential': credential,
        'x-amz-date': date,
        'x-amz-signature': createHmac('sha256', k).update(policy).digest('hex'),
      };
      for (const [n, v] of Object.entries(fields)) form.append(n, v);
      form.append('file', new Blob(['data']), 'f.txt');
      const r = await fetch(`${g.endpoint}/${BUCKET}`, { method: 'POST', body: form });
      const text = await r.text();
      assertError({ status: r.status, headers: {}, body: text }, 400, 'InvalidArgument', 'PostObject NUL');
      assert.deepEqual(await listed('ctl/'), []);
    });

    it('keys with tab, CR, LF, DEL, C1 controls and U+2028 are accepted, and every listing is valid XML that round-trips them', async () => {
      const keys = [
        'ok/tab\t',
        'ok/cr\r',
        'ok/lf\n',
        'ok/crlf\r\n',
        'ok/del\u007f',
        'ok/c1\u0085\u0090\u009f',
        'ok/ls\u2028',
        'ok/&<>"\'',
      ];
      for (const k of keys) assert.equal((await put(k)).status, 200, `PUT ${JSON.stringify(k)}`);
      const uploads: string[] = [];
      for (const k of keys) {
        const c = await send('POST', objPath(k), { uploads: '' });
        assert.equal(c.status, 200, c.body);
        assertValidXml(c.body, 'InitiateMultipartUploadResult');
        assert.deepEqual(texts(c.body, 'Key'), [k]);
        uploads.push(texts(c.body, 'UploadId')[0]!);
      }
      const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const listings: [string, Record<string, string>, string][] = [
        ['ListObjects', { prefix: 'ok/' }, 'Key'],
        ['ListObjectsV2', { 'list-type': '2', prefix: 'ok/' }, 'Key'],
        ['ListObjectVersions', { versions: '', prefix: 'ok/' }, 'Key'],
        ['ListMultipartUploads', { uploads: '', prefix: 'ok/' }, 'Key'],
      ];
      for (const [what, query, tag] of listings) {
        for (const url of [false, true]) {
          const r = await send('GET', `/${BUCKET}`, { ...query, ...(url ? { 'encoding-type': 'url' } : {}) });
          assert.equal(r.status, 200, `${what}: ${r.body}`);
          assertValidXml(r.body, what);
          if (url) {
            assert.deepEqual(texts(r.body, 'EncodingType'), ['url'], `${what} says it encoded`);
            for (const k of texts(r.body, tag))
              assert.match(k, /^[\w\-.!~*'()/%]*$/, `${what} url-encodes ${JSON.stringify(k)}`);
          }
          const got = texts(r.body, tag).map((k) => (url ? decodeURIComponent(k) : k));
          assert.deepEqual(got, sorted, `${what}${url ? ' (encoding-type=url)' : ''} lists every key exactly`);
        }
      }
      // Delimiter and prefixes with those characters.
      const d = await send('GET', `/${BUCKET}`, { 'list-type': '2', prefix: 'ok/c', delimiter: '\r' });
      assertValidXml(d.body, 'ListObjectsV2 with a CR delimiter');
      assert.deepEqual(texts(d.body, 'Delimiter'), ['\r']);
      assert.deepEqual(texts(d.body, 'Prefix'), ['ok/c', 'ok/cr\r', 'ok/crlf\r']);
      for (const [i, k] of keys.entries()) {
        const lp = await send('GET', objPath(k), { uploadId: uploads[i]! });
        assert.equal(lp.status, 200, lp.body);
        assertValidXml(lp.body, 'ListPartsResult');
        assert.deepEqual(texts(lp.body, 'Key'), [k]);
        assert.equal((await send('DELETE', objPath(k), { uploadId: uploads[i]! })).status, 204);
      }
      // The AWS SDK (its own XML parser) reads them back exactly.
      const sdk = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'ok/' }));
      assert.deepEqual(
        (sdk.Contents ?? []).map((c) => c.Key),
        sorted,
      );
      // Error bodies that name such a key stay valid XML.
      assertError(await send('GET', objPath('ok/missing\r\u0085')), 404, 'NoSuchKey', 'GET of a missing key with CR');
      assertError(
        await send('GET', `/${BUCKET}/${sdkEncode('x')}`, {}, undefined, { 'x-amz-copy-source': `/${BUCKET}/nope` }),
        404,
        'NoSuchKey',
      );
    });

    it('a key that is not valid UTF-8 is 400, not silently replaced', async () => {
      for (const enc of ['bad/%FF', 'bad/%C3%28', 'bad/%ED%A0%80', 'bad/%F0%9F%98']) {
        const r = await send('PUT', `/${BUCKET}/${enc}`, {}, 'x');
        assertError(r, 400, 'InvalidArgument', `PUT ${enc}`);
        assert.match(r.body, /UTF-8/);
      }
      assertError(
        await send('PUT', objPath('bad/copy'), {}, undefined, { 'x-amz-copy-source': `/${BUCKET}/%FF` }),
        400,
        'InvalidArgument',
        'copy source %FF',
      );
      assert.deepEqual(await listed('bad/'), []);
      // A DeleteObjects body that is not UTF-8 is malformed, not a request for U+FFFD.
      assert.equal((await put('bad/\ufffd')).status, 200);
      const r = await send(
        'POST',
        `/${BUCKET}`,
        { delete: '' },
        Buffer.concat([
          Buffer.from('<Delete><Object><Key>bad/'),
          Buffer.from([0xff]),
          Buffer.from('</Key></Object></Delete>'),
        ]),
      );
      assertError(r, 400, 'MalformedXML', 'DeleteObjects with invalid UTF-8');
      assert.equal(await exists('bad/\ufffd'), true);
    });
  });

  describe('malformed and oversized bodies', () => {
    it('malformed documents are 400 MalformedXML (deep nesting, DOCTYPE, entities, bad characters)', async () => {
      assert.equal((await put('m/keep')).status, 200);
      const keep = '<Object><Key>m/keep</Key></Object>';
      const bodies: [string, string | Buffer][] = [
        ['deep nesting', `<Delete>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}${keep}</Delete>`],
        ['deep nesting, unclosed', `<Delete>${'<a>'.repeat(200_000)}`],
        [
          'DOCTYPE with an external entity',
          `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&e;</Key></Object></Delete>`,
        ],
        [
          'DOCTYPE with an internal entity',
          `<!DOCTYPE d [<!ENTITY e "m/keep">]><Delete><Object><Key>&e;</Key></Object></Delete>`,
        ],
        [
          'billion laughs',
          `<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><Delete><Object><Key>&c;</Key></Object></Delete>`,
        ],
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
        [
          'not UTF-8',
          Buffer.concat([
            Buffer.from('<Delete><Object><Key>m/'),
            Buffer.from([0xc3]),
            Buffer.from('</Key></Object></Delete>'),
          ]),
        ],
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
        [
          'PutBucketWebsite',
          'PUT',
          `/${BUCKET}`,
          { website: '' },
          `<WebsiteConfiguration>${deep}</WebsiteConfiguration>`,
        ],
        ['PutBucketLifecycle', 'PUT', `/${BUCKET}`, { lifecycle: '' }, `${doctype}<LifecycleConfiguration/>`],
        [
          'CreateBucket',
          'PUT',
          '/xml-new-bucket',
          {},
          `<CreateBucketConfiguration>${deep}</CreateBucketConfiguration>`,
        ],
        [
          'CompleteMultipartUpload',
          'POST',
          objPath('m/mpu'),
          { uploadId },
          `<CompleteMultipartUpload>${deep}</CompleteMultipartUpload>`,
        ],
      ];
      for (const [what, method, path, query, body] of calls)
        assertError(await send(method, path, query, body), 400, 'MalformedXML', what);
    });

    it('a 5 MB garbage body gets its 400 fast', async () => {
      for (const garbage of [
        Buffer.alloc(5 * 1024 * 1024, 'x'),
        Buffer.alloc(5 * 1024 * 1024, '<'),
        Buffer.concat([Buffer.from('<Delete>'), Buffer.alloc(5 * 1024 * 1024, 0xff)]),
      ]) {
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
      return sign('POST', path, query, {
        'content-length': String(length),
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
      }).then(
        (s) =>
          new Promise<string>((resolve, reject) => {
            const head = `POST ${s.path} HTTP/1.1\r\n${Object.entries(s.headers)
              .map(([k, v]) => `${k}: ${v}`)
              .join('\r\n')}\r\n\r\n`;
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
          }),
      );
    }

    it('an over-limit body is refused from its Content-Length, without waiting for it', async () => {
      const c = await send('POST', objPath('m/big'), { uploads: '' });
      const uploadId = texts(c.body, 'UploadId')[0]!;
      for (const [what, path, query] of [
        ['DeleteObjects', `/${BUCKET}`, { delete: '' }],
        ['CompleteMultipartUpload', objPath('m/big'), { uploadId }],
      ] as const) {
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
      const doc = (n: number) =>
        `<CompleteMultipartUpload>${Array.from({ length: n }, (_, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>"00000000000000000000000000000000"</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
      const over = await send('POST', objPath(key), { uploadId }, doc(10_001));
      assertError(over, 400, 'MalformedXML', '10,001 parts');
      // 10,000 parts is a valid document: it fails only because the parts were never uploaded.
      assertError(await send('POST', objPath(key), { uploadId }, doc(10_000)), 400, 'InvalidPart', '10,000 parts');
    });
  });
});
