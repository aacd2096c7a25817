import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import {
  PutBucketCorsCommand,
  GetBucketCorsCommand,
  DeleteBucketCorsCommand,
  PutObjectCommand,
  GetObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type GarageProcess, useNode } from './harness.ts';

function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('CORS: bucket rules, preflight and response headers', () => {
  let g: GarageProcess;
  let s3: S3Client;

  const node = useNode('cors-bucket');
  before(async () => {
    ({ g, s3 } = node);
    await s3.send(new PutObjectCommand({ Bucket: 'cors-bucket', Key: 'index.html', Body: 'hello' }));
  });

  it('refuses preflights until rules exist, then answers them from the rules', async () => {
    const pre = {
      origin: 'https://app.example.com',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'content-type, x-amz-date',
    };
    assert.equal((await call(g.s3Port, 'OPTIONS', '/cors-bucket/file', pre)).status, 403);
    await s3.send(
      new PutBucketCorsCommand({
        Bucket: 'cors-bucket',
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: ['https://*.example.com'],
              AllowedMethods: ['GET', 'PUT'],
              AllowedHeaders: ['*'],
              ExposeHeaders: ['ETag'],
              MaxAgeSeconds: 600,
            },
          ],
        },
      }),
    );
    const got = await s3.send(new GetBucketCorsCommand({ Bucket: 'cors-bucket' }));
    assert.deepEqual(got.CORSRules?.[0]?.AllowedMethods, ['GET', 'PUT']);
    const ok = await call(g.s3Port, 'OPTIONS', '/cors-bucket/file', pre);
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.match(String(ok.headers['access-control-allow-methods']), /PUT/);
    assert.equal(ok.headers['access-control-max-age'], '600');
    assert.equal(
      (await call(g.s3Port, 'OPTIONS', '/cors-bucket/file', { ...pre, origin: 'https://evil.test' })).status,
      403,
    );
    assert.equal(
      (await call(g.s3Port, 'OPTIONS', '/cors-bucket/file', { ...pre, 'access-control-request-method': 'DELETE' }))
        .status,
      403,
    );
  });

  it('adds the allow-origin header to actual requests from an allowed origin', async () => {
    const url = new URL(
      await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'cors-bucket', Key: 'index.html' }), { expiresIn: 60 }),
    );
    const r = await call(g.s3Port, 'GET', url.pathname + url.search, { origin: 'https://app.example.com' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(r.headers['access-control-expose-headers'], 'ETag');
    assert.equal(r.headers['access-control-allow-credentials'], 'true', 'a named origin may send credentials');
    assert.match(String(r.headers['access-control-allow-methods']), /GET/);
    assert.match(String(r.headers.vary), /Origin/);
    const other = await call(g.s3Port, 'GET', url.pathname + url.search, { origin: 'https://evil.test' });
    assert.equal(other.headers['access-control-allow-origin'], undefined, 'no rule matches: no CORS headers');
    assert.equal(other.headers['access-control-allow-methods'], undefined);
    assert.match(String(other.headers.vary), /Origin/, 'the answer still varies by origin');
    // The rule allows GET and PUT only: a DELETE from an allowed origin gets no CORS headers.
    const del = await call(g.s3Port, 'DELETE', '/cors-bucket/nothing', { origin: 'https://app.example.com' });
    assert.equal(del.headers['access-control-allow-origin'], undefined);
    // No Origin, no CORS headers at all.
    const plain = await call(g.s3Port, 'GET', url.pathname + url.search, {});
    assert.equal(plain.headers['access-control-allow-origin'], undefined);
    assert.equal(plain.headers.vary, undefined);
  });

  it('puts the CORS headers on errors too, so a browser can read them', async () => {
    // A request with a bad signature, and one for a missing object: the browser sees why.
    const signed = new URL(
      await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'cors-bucket', Key: 'missing' }), { expiresIn: 60 }),
    );
    const missing = await call(g.s3Port, 'GET', signed.pathname + signed.search, { origin: 'https://app.example.com' });
    assert.equal(missing.status, 404);
    assert.equal(missing.headers['access-control-allow-origin'], 'https://app.example.com');
    const forged = signed.search.replace(/X-Amz-Signature=[0-9a-f]+/, `X-Amz-Signature=${'0'.repeat(64)}`);
    const bad = await call(g.s3Port, 'GET', signed.pathname + forged, { origin: 'https://app.example.com' });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers['access-control-allow-origin'], 'https://app.example.com');
    const anon = await call(g.s3Port, 'GET', '/cors-bucket/index.html', { origin: 'https://app.example.com' });
    assert.equal(anon.status, 403);
    assert.equal(anon.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  it('applies to the website endpoint, and can be deleted', async () => {
    await g.cliOk('bucket', 'website', '--allow', 'cors-bucket');
    const host = 'cors-bucket.web.garage';
    const r = await call(g.webPort, 'GET', '/', { host, origin: 'https://app.example.com' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(
      (
        await call(g.webPort, 'OPTIONS', '/', {
          host,
          origin: 'https://app.example.com',
          'access-control-request-method': 'GET',
        })
      ).status,
      200,
    );
    await s3.send(new DeleteBucketCorsCommand({ Bucket: 'cors-bucket' }));
    await assert.rejects(
      s3.send(new GetBucketCorsCommand({ Bucket: 'cors-bucket' })),
      (e: Error) => e.name === 'NoSuchCORSConfiguration',
    );
    assert.equal(
      (await call(g.webPort, 'GET', '/', { host, origin: 'https://app.example.com' })).headers[
        'access-control-allow-origin'
      ],
      undefined,
    );
  });
});
