import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { S3Error, type S3ErrorCode } from '../../../src/api/common/s3_error.ts';
import { authenticate, authenticatePostPolicy } from '../../../src/api/common/signature/index.ts';
import {
  AK,
  HOST,
  REGION,
  SK,
  auth,
  hmacHex,
  keyPath,
  lookup,
  presignHead,
  request,
  sha256hex,
  signHead,
  signer,
  signingKey,
  toHead,
} from './sigv4_helpers.ts';

/** Asserts that a promise rejects with an S3Error of `code` that does not leak the secret. */
async function rejectsWith(p: Promise<unknown>, code: S3ErrorCode, message?: RegExp): Promise<S3Error> {
  let err: unknown;
  await p.then(
    () => assert.fail(`expected ${code}`),
    (e: unknown) => (err = e),
  );
  assert.ok(err instanceof S3Error, `not an S3Error: ${String(err)}`);
  assert.equal(err.code, code, err.message);
  if (message) assert.match(err.message, message);
  assert.ok(!JSON.stringify({ m: err.message, x: err.extra }).includes(SK), 'secret leaked into the error');
  return err;
}

const KEYS = [
  'plain.txt',
  'a+b=c~d',
  'with space/and  two',
  'unicode/é☃/𝄞',
  "!*()'",
  'a%b%20c',
  'a/b//c/',
  '#?&;:@$,[]{}|^`"<>\\',
  'tilde~_-.',
  '+',
  '=',
];

test('header auth verifies keys with special characters', async () => {
  for (const key of KEYS) {
    const head = await signHead(
      request('GET', keyPath('bucket', key), { headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }),
    );
    const r = await auth(head);
    assert.equal(r.accessKeyId, AK, key);
    assert.deepEqual(r.payload, { kind: 'unsigned' });
    assert.equal(r.presigned, false);
  }
});

test('header auth verifies query strings (special characters, repeated and value-less parameters)', async () => {
  const query: Record<string, string | string[]> = {
    'list-type': '2',
    prefix: 'x y+z/é=&?',
    delimiter: '/',
    'continuation-token': 'AbC+/=',
    'a-b': '1',
    a: ['z', 'b', ''],
  };
  const req = request('GET', '/bucket', { query, headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  const r = await auth(await signHead(req));
  assert.equal(r.accessKeyId, AK);
  // "?uploads" (no '=') canonicalises like "uploads=".
  const up = await signHead(request('POST', '/b/k', { query: { uploads: '' } }));
  assert.ok(up.url.endsWith('?uploads='));
  assert.equal((await auth({ ...up, url: up.url.replace('uploads=', 'uploads') })).accessKeyId, AK);
});

test('a sha256 payload hash is returned for the body check', async () => {
  const body = Buffer.from('hello');
  const head = await signHead(
    request('PUT', keyPath('b', 'k'), { headers: { 'x-amz-content-sha256': sha256hex(body) }, body }),
  );
  const r = await auth(head);
  assert.deepEqual(r.payload, { kind: 'sha256', hex: sha256hex(body) });
});

test('streaming payload modes are recognised', async () => {
  const modes = {
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': { kind: 'streaming-signed', trailer: false },
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': { kind: 'streaming-signed', trailer: true },
    'STREAMING-UNSIGNED-PAYLOAD-TRAILER': { kind: 'streaming-unsigned-trailer' },
  };
  for (const [value, mode] of Object.entries(modes)) {
    const head = await signHead(request('PUT', '/b/k', { headers: { 'x-amz-content-sha256': value } }));
    const r = await auth(head);
    assert.deepEqual(r.payload, mode);
    assert.equal(r.signing.seedSignature, /Signature=([0-9a-f]{64})/.exec(String(head.headers.authorization))![1]);
  }
  // No x-amz-content-sha256 at all: UNSIGNED-PAYLOAD (lenient) …
  const date = new Date();
  const unsignedReq = request('GET', '/b/k', { headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } });
  const noHeader = toHead(
    await signer({ applyChecksum: false }).sign(unsignedReq, {
      signingDate: date,
      unsignableHeaders: new Set(['x-amz-content-sha256']),
    }),
  );
  delete noHeader.headers['x-amz-content-sha256'];
  assert.deepEqual((await auth(noHeader)).payload, { kind: 'unsigned' });
  // … or, from generic signers, the hash of an empty payload, which the body must then match.
  const generic = toHead(await signer({ applyChecksum: false }).sign(request('GET', '/b/k'), { signingDate: date }));
  assert.equal(generic.headers['x-amz-content-sha256'], undefined);
  assert.deepEqual((await auth(generic)).payload, { kind: 'sha256', hex: sha256hex('') });
  await rejectsWith(
    auth(
      await signHead(
        request('PUT', '/b/k', { headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' } }),
      ),
    ),
    'InvalidArgument',
  );
  await rejectsWith(
    auth(await signHead(request('PUT', '/b/k', { headers: { 'x-amz-content-sha256': 'abc' } }))),
    'InvalidArgument',
  );
});

test('header values are trimmed and inner whitespace collapsed', async () => {
  const head = await signHead(
    request('PUT', '/b/k', {
      headers: { 'x-amz-meta-note': '  a   b \t c  ', 'content-type': 'text/plain;  charset=utf-8' },
    }),
  );
  head.headers['x-amz-meta-note'] = '  a   b \t c  ';
  assert.equal((await auth(head)).accessKeyId, AK);
});

test("clients that sign the path as sent (unescaped !'()*) still verify", async () => {
  // encodeURIComponent-style clients leave !'()* raw and sign them raw.
  const path = `/b/${encodeURIComponent("it's (a) test*!")}`;
  const head = await signHead(request('GET', path));
  assert.ok(head.url.includes('('));
  assert.equal((await auth(head)).accessKeyId, AK);
  // A client encoding '/' inside a key as %2F signs it that way.
  assert.equal((await auth(await signHead(request('GET', '/b/a%2Fb')))).accessKeyId, AK);
});

test('tampering breaks the signature', async () => {
  const head = await signHead(
    request('GET', keyPath('b', 'k'), { query: { prefix: 'p' }, headers: { 'x-amz-meta-a': 'x' } }),
  );
  await rejectsWith(auth({ ...head, url: head.url.replace('/b/k', '/b/K') }), 'SignatureDoesNotMatch');
  await rejectsWith(auth({ ...head, url: head.url.replace('prefix=p', 'prefix=q') }), 'SignatureDoesNotMatch');
  await rejectsWith(auth({ ...head, url: `${head.url}&extra=1` }), 'SignatureDoesNotMatch');
  await rejectsWith(auth({ ...head, method: 'DELETE' }), 'SignatureDoesNotMatch');
  await rejectsWith(auth({ ...head, headers: { ...head.headers, 'x-amz-meta-a': 'y' } }), 'SignatureDoesNotMatch');
  // '+' and '%2B' in a path are different keys; '+' and '%20' in a query mean the same.
  const plus = await signHead(request('GET', keyPath('b', 'a+b')));
  await rejectsWith(auth({ ...plus, url: plus.url.replace('%2B', '%20') }), 'SignatureDoesNotMatch');
  const q = await signHead(request('GET', '/b', { query: { prefix: 'a b' } }));
  assert.equal((await auth({ ...q, url: q.url.replace('%20', '+') })).accessKeyId, AK);
});

test('wrong secret, unknown key, wrong region, wrong service', async () => {
  const e1 = await rejectsWith(auth(await signHead(request('GET', '/b'), { secret: 'nope' })), 'SignatureDoesNotMatch');
  assert.equal(e1.extra.AWSAccessKeyId, AK);
  assert.match(e1.extra.CanonicalRequest!, /^GET\n\/b\n/);
  await rejectsWith(auth(await signHead(request('GET', '/b'), { accessKey: 'GKunknown' })), 'InvalidAccessKeyId');
  const e3 = await rejectsWith(
    auth(await signHead(request('GET', '/b'), { region: 'us-east-1' })),
    'AuthorizationHeaderMalformed',
    /'us-east-1' is wrong; expecting 'garage'/,
  );
  assert.equal(e3.extra.Region, REGION);
  const head = await signHead(request('GET', '/b'));
  await rejectsWith(
    authenticate(head, { region: REGION, service: 'k2v', lookup }),
    'AuthorizationHeaderMalformed',
    /service/,
  );
});

test('clock skew beyond 15 minutes is refused for header auth', async () => {
  const now = new Date('2025-03-01T12:00:00Z');
  const ok = await signHead(request('GET', '/b'), { date: new Date(now.getTime() - 14 * 60_000) });
  assert.equal((await auth(ok, now)).accessKeyId, AK);
  await rejectsWith(
    auth(await signHead(request('GET', '/b'), { date: new Date(now.getTime() - 16 * 60_000) }), now),
    'RequestTimeTooSkewed',
  );
  await rejectsWith(
    auth(await signHead(request('GET', '/b'), { date: new Date(now.getTime() + 16 * 60_000) }), now),
    'RequestTimeTooSkewed',
  );
});

test('presigned URLs: valid, expired, too long, not yet valid, wrong region', async () => {
  const date = new Date('2025-03-01T12:00:00Z');
  for (const key of KEYS) {
    const head = await presignHead(
      request('GET', keyPath('bucket', key), { query: { 'response-content-type': 'text/plain; a=b' } }),
      { date },
    );
    const r = await auth(head, new Date(date.getTime() + 60_000));
    assert.equal(r.presigned, true);
    assert.deepEqual(r.payload, { kind: 'unsigned' });
  }
  const head = await presignHead(request('PUT', keyPath('b', 'k')), { date, expiresIn: 3600 });
  assert.equal((await auth(head, new Date(date.getTime() + 3599_000))).accessKeyId, AK);
  await rejectsWith(auth(head, new Date(date.getTime() + 3601_000)), 'AccessDenied', /Request has expired/);
  await rejectsWith(auth(head, new Date(date.getTime() - 20 * 60_000)), 'AccessDenied', /not valid yet/);
  await rejectsWith(
    auth({ ...head, url: head.url.replace('X-Amz-Expires=3600', 'X-Amz-Expires=604801') }, date),
    'AccessDenied',
    /604800/,
  );
  await rejectsWith(
    auth({ ...head, url: head.url.replace('X-Amz-Expires=3600', 'X-Amz-Expires=0') }, date),
    'AccessDenied',
    /at least 1 second/,
  );
  await rejectsWith(
    auth({ ...head, url: head.url.replace('X-Amz-Expires=3600', 'X-Amz-Expires=soon') }, date),
    'AuthorizationQueryParametersError',
    /number/,
  );
  await rejectsWith(
    auth({ ...head, url: head.url.replace('X-Amz-Expires=3600', 'X-Amz-Expires=3601') }, date),
    'SignatureDoesNotMatch',
  );
  await rejectsWith(
    auth({ ...head, url: head.url.replace(/X-Amz-Signature=[0-9a-f]+&?/, '') }, date),
    'AuthorizationQueryParametersError',
  );
  await rejectsWith(
    auth({ ...head, url: head.url.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1') }, date),
    'AuthorizationQueryParametersError',
  );
  const wrong = await presignHead(request('GET', '/b/k'), { date, region: 'eu-west-1' });
  const e = await rejectsWith(
    auth(wrong, date),
    'AuthorizationQueryParametersError',
    /'eu-west-1' is wrong; expecting 'garage'/,
  );
  assert.equal(e.extra.Region, REGION);
});

test('presigned x-amz-* parameters are exposed as headers', async () => {
  const date = new Date();
  const req = request('PUT', '/b/k', { headers: { 'x-amz-checksum-crc32': 'DUoRhQ==', 'x-amz-meta-color': 'blue' } });
  const head = await presignHead(req, { date });
  assert.ok(head.url.includes('x-amz-checksum-crc32='));
  const r = await auth(head, date);
  assert.equal(r.queryHeaders['x-amz-checksum-crc32'], 'DUoRhQ==');
  assert.equal(r.queryHeaders['x-amz-meta-color'], 'blue');
  assert.equal(r.queryHeaders['x-amz-signature'], undefined);
});

test('missing or malformed authentication', async () => {
  await rejectsWith(auth({ method: 'GET', url: '/b', headers: { host: HOST } }), 'AccessDenied');
  for (const authorization of ['', '   '])
    await rejectsWith(auth({ method: 'PUT', url: '/b/k', headers: { host: HOST, authorization } }), 'AccessDenied');
  await rejectsWith(
    auth({ method: 'GET', url: '/b', headers: { host: HOST, authorization: 'AWS AKID:c2lnbmF0dXJl' } }),
    'InvalidRequest',
  );
  await rejectsWith(
    auth({ method: 'GET', url: '/b?AWSAccessKeyId=a&Signature=b&Expires=1', headers: { host: HOST } }),
    'InvalidRequest',
  );
  await rejectsWith(
    auth({ method: 'GET', url: '/b', headers: { host: HOST, authorization: 'Bearer x' } }),
    'InvalidArgument',
  );
  const good = await signHead(request('GET', '/b'));
  const authz = String(good.headers.authorization);
  const withAuthz = (a: string) => auth({ ...good, headers: { ...good.headers, authorization: a } });
  await rejectsWith(
    withAuthz(authz.replace(/, Signature=[0-9a-f]+/, '')),
    'AuthorizationHeaderMalformed',
    /three components/,
  );
  await rejectsWith(
    withAuthz(authz.replace(`Credential=${AK}/`, `Credential=${AK}:`)),
    'AuthorizationHeaderMalformed',
    /Credential is mal-formed/,
  );
  await rejectsWith(
    withAuthz(authz.replace(/\/\d{8}\//, '/20000101/')),
    'AuthorizationHeaderMalformed',
    /credential date/,
  );
  await rejectsWith(withAuthz(authz.replace('aws4_request', 'aws5_request')), 'AuthorizationHeaderMalformed');
  await rejectsWith(withAuthz(authz.replace(/Signature=[0-9a-f]+/, 'Signature=zz')), 'SignatureDoesNotMatch');
  const noDate = { ...good.headers };
  delete noDate['x-amz-date'];
  await rejectsWith(auth({ ...good, headers: noDate }), 'AccessDenied', /x-amz-date/);
  const noHost = await signHead(request('GET', '/b'));
  noHost.headers.authorization = String(noHost.headers.authorization).replace('SignedHeaders=host;', 'SignedHeaders=');
  await rejectsWith(auth(noHost), 'AuthorizationHeaderMalformed', /host/);
  // Both mechanisms at once.
  const pre = await presignHead(request('GET', '/b'));
  await rejectsWith(
    auth({ ...pre, headers: { ...pre.headers, authorization: authz } }),
    'InvalidArgument',
    /Only one auth mechanism/,
  );
});

test('x-amz-* headers must be signed', async () => {
  const head = await signHead(request('PUT', '/b/k'));
  const e = await rejectsWith(
    auth({ ...head, headers: { ...head.headers, 'x-amz-copy-source': '/other/secret' } }),
    'AccessDenied',
  );
  assert.equal(e.extra.HeadersNotSigned, 'x-amz-copy-source');
});

test('the signing key never shows in an inspected or serialised AuthResult', async () => {
  const r = await auth(await signHead(request('GET', '/b')));
  const dump = inspect(r, { depth: 10, showHidden: true }) + JSON.stringify(r);
  assert.ok(!dump.includes(SK));
  assert.ok(!/signingKey|<Buffer/.test(dump), dump);
});

test('the AWS documentation example (chunked upload seed signature)', async () => {
  // https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
  const head = {
    method: 'PUT',
    url: '/examplebucket/chunkObject.txt',
    headers: {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
    },
  };
  const r = await authenticate(head, {
    region: 'us-east-1',
    lookup: async (id) =>
      id === 'AKIAIOSFODNN7EXAMPLE' ? { secretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' } : null,
    now: new Date('2013-05-24T00:00:00Z'),
  });
  assert.deepEqual(r.payload, { kind: 'streaming-signed', trailer: false });
  assert.equal(r.signing.seedSignature, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
  // The first chunk's signature from the same page.
  const first = r.signing.chunkSignature(r.signing.seedSignature, sha256hex(Buffer.alloc(65536, 'a'))).toString('hex');
  assert.equal(first, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648');
});

test('smithy presign of a request with a signed header other than host', async () => {
  const date = new Date();
  const req = request('GET', '/b/k');
  req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  req.headers.range = 'bytes=0-9';
  const signed = await signer().presign(req, {
    signingDate: date,
    expiresIn: 60,
    unhoistableHeaders: new Set(['x-amz-content-sha256']),
  });
  const head = toHead(signed);
  assert.equal((await auth(head, date)).signedHeaders.join(';'), 'host;range;x-amz-content-sha256');
});

test('repeated headers verify when headersDistinct is given', async () => {
  // What a client signs for two "x-amz-meta-multi" lines ("a", "b"): values joined with ','.
  const head = await signHead(request('GET', '/b/k', { headers: { 'x-amz-meta-multi': 'a,b' } }));
  // What Node's server then shows.
  const nodeView = { ...head, headers: { ...head.headers, 'x-amz-meta-multi': 'a, b' } };
  await rejectsWith(auth(nodeView), 'SignatureDoesNotMatch');
  assert.equal((await auth({ ...nodeView, headersDistinct: { 'x-amz-meta-multi': ['a', ' b'] } })).accessKeyId, AK);
});

test('browser POST policy signature', async () => {
  const date = '20250301T120000Z';
  const credential = `${AK}/20250301/${REGION}/s3/aws4_request`;
  const policy = Buffer.from(
    JSON.stringify({
      expiration: '2025-03-02T00:00:00Z',
      conditions: [{ bucket: 'b' }, ['starts-with', '$key', 'up/'], { 'x-amz-credential': credential }],
    }),
  ).toString('base64');
  const signature = hmacHex(signingKey(SK, '20250301', REGION), policy);
  const fields = { policy, algorithm: 'AWS4-HMAC-SHA256', credential, date, signature };
  assert.deepEqual(await authenticatePostPolicy(fields, { region: REGION, lookup }), {
    accessKeyId: AK,
    amzDate: date,
  });
  await rejectsWith(
    authenticatePostPolicy({ ...fields, policy: policy.replace(/^./, 'f') }, { region: REGION, lookup }),
    'SignatureDoesNotMatch',
  );
  await rejectsWith(
    authenticatePostPolicy(
      { ...fields, credential: credential.replace(REGION, 'us-east-1') },
      { region: REGION, lookup },
    ),
    'AuthorizationQueryParametersError',
  );
  await rejectsWith(
    authenticatePostPolicy({ ...fields, credential: credential.replace(AK, 'GKnope') }, { region: REGION, lookup }),
    'InvalidAccessKeyId',
  );
});
