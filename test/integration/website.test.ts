import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import {
  PutObjectCommand,
  PutBucketWebsiteCommand,
  GetBucketWebsiteCommand,
  DeleteBucketWebsiteCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type GarageProcess, useNode } from './harness.ts';

interface Page {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request to the website endpoint with a chosen Host header. */
function web(
  g: GarageProcess,
  host: string,
  path: string,
  method = 'GET',
  extra: Record<string, string> = {},
): Promise<Page> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: g.webPort, path, method, headers: { host, ...extra }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('static website endpoint ([s3_web])', () => {
  let g: GarageProcess;
  let s3: S3Client;

  const node = useNode('site');
  before(async () => {
    ({ g, s3 } = node);
    const put = (Key: string, Body: string, ContentType = 'text/html') =>
      s3.send(new PutObjectCommand({ Bucket: 'site', Key, Body, ContentType }));
    await put('index.html', '<h1>home</h1>');
    await put('docs/index.html', '<h1>docs</h1>');
    await put('style.css', 'body{}', 'text/css');
    await put('404.html', '<h1>lost</h1>');
  });

  it('serves nothing until website access is allowed', async () => {
    const r = await web(g, 'site.web.garage', '/');
    assert.equal(r.status, 404);
    assert.doesNotMatch(r.body, /home/);
  });

  it('serves index documents, files, redirects to directories, and the error document with 404', async () => {
    await g.cliOk('bucket', 'website', '--allow', 'site', '--error-document', '404.html');
    for (const host of ['site.web.garage', 'site.web.garage:3902']) {
      const home = await web(g, host, '/');
      assert.equal(home.status, 200);
      assert.equal(home.body, '<h1>home</h1>');
      assert.equal(home.headers['content-type'], 'text/html');
    }
    assert.equal((await web(g, 'site.web.garage', '/docs/')).body, '<h1>docs</h1>');
    const css = await web(g, 'site.web.garage', '/style.css');
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css');
    const dir = await web(g, 'site.web.garage', '/docs');
    assert.equal(dir.status, 302);
    assert.equal(dir.headers.location, '/docs/');
    const missing = await web(g, 'site.web.garage', '/nope.html');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, '<h1>lost</h1>');
    const head = await web(g, 'site.web.garage', '/', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal((await web(g, 'site.web.garage', '/', 'POST')).status, 405);
  });

  it('answers errors as HTML pages, never S3 XML', async () => {
    const r = await web(g, 'site.web.garage', '/style.css', 'GET', { range: 'bytes=1000-2000' });
    assert.equal(r.status, 416);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(r.body, /^<!DOCTYPE html>/);
    assert.doesNotMatch(r.body, /<Error>/);
  });

  it('a bucket whose global alias is the whole host name is served too', async () => {
    await g.cliOk('bucket', 'alias', 'site', 'www.example.com');
    assert.equal((await web(g, 'www.example.com', '/')).body, '<h1>home</h1>');
  });

  it('Get/Put/DeleteBucketWebsite through S3', async () => {
    const got = await s3.send(new GetBucketWebsiteCommand({ Bucket: 'site' }));
    assert.equal(got.IndexDocument?.Suffix, 'index.html');
    assert.equal(got.ErrorDocument?.Key, '404.html');
    await s3.send(
      new PutBucketWebsiteCommand({
        Bucket: 'site',
        WebsiteConfiguration: { IndexDocument: { Suffix: 'index.html' } },
      }),
    );
    assert.equal(
      (await web(g, 'site.web.garage', '/nope.html')).body.includes('lost'),
      false,
      'no error document any more',
    );
    await s3.send(new DeleteBucketWebsiteCommand({ Bucket: 'site' }));
    assert.equal((await web(g, 'site.web.garage', '/')).status, 404);
    await assert.rejects(
      s3.send(new GetBucketWebsiteCommand({ Bucket: 'site' })),
      (e: Error) => e.name === 'NoSuchWebsiteConfiguration',
    );
  });

  it('follows routing rules: key prefixes before the lookup, error codes after it', async () => {
    await s3.send(
      new PutBucketWebsiteCommand({
        Bucket: 'site',
        WebsiteConfiguration: {
          IndexDocument: { Suffix: 'index.html' },
          RoutingRules: [
            {
              Condition: { KeyPrefixEquals: 'old/' },
              Redirect: { ReplaceKeyPrefixWith: 'new/', HttpRedirectCode: '302' },
            },
            {
              Condition: { KeyPrefixEquals: 'gone/', HttpErrorCodeReturnedEquals: '404' },
              Redirect: { HostName: 'archive.example.org', Protocol: 'https', ReplaceKeyWith: 'lost.html' },
            },
            { Condition: { KeyPrefixEquals: 'docs/' }, Redirect: { HostName: 'docs.example.org' } },
          ],
        },
      }),
    );
    const got = await s3.send(new GetBucketWebsiteCommand({ Bucket: 'site' }));
    assert.equal(got.RoutingRules?.length, 3);
    assert.equal(got.RoutingRules?.[0]?.Redirect?.ReplaceKeyPrefixWith, 'new/');
    assert.equal(got.RoutingRules?.[1]?.Condition?.HttpErrorCodeReturnedEquals, '404');
    const host = 'site.web.garage';
    const moved = await web(g, host, '/old/page.html');
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.location, `http://${host}/new/page.html`);
    const missing = await web(g, host, '/gone/thing.html');
    assert.equal(missing.status, 301);
    assert.equal(missing.headers.location, 'https://archive.example.org/lost.html');
    // The error-code rule applies only to what is missing.
    await s3.send(new PutObjectCommand({ Bucket: 'site', Key: 'gone/here.html', Body: 'here' }));
    assert.equal((await web(g, host, '/gone/here.html')).body, 'here');
    const docs = await web(g, host, '/docs/intro.html', 'GET', { 'x-forwarded-proto': 'https' });
    assert.equal(docs.headers.location, 'https://docs.example.org/docs/intro.html', 'scheme from the proxy');
    assert.equal((await web(g, host, '/')).body, '<h1>home</h1>', 'other keys are served as before');
  });

  it('redirects an object with x-amz-website-redirect-location, and refuses a bad one', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: 'site', Key: 'short', Body: '', WebsiteRedirectLocation: '/docs/index.html' }),
    );
    const r = await web(g, 'site.web.garage', '/short');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/docs/index.html');
    await assert.rejects(
      s3.send(new PutObjectCommand({ Bucket: 'site', Key: 'bad', Body: '', WebsiteRedirectLocation: 'elsewhere' })),
      (e: Error) => e.name === 'InvalidArgument',
    );
  });

  it('redirects every request with RedirectAllRequestsTo, and refuses invalid configurations', async () => {
    await s3.send(
      new PutBucketWebsiteCommand({
        Bucket: 'site',
        WebsiteConfiguration: { RedirectAllRequestsTo: { HostName: 'www.example.net', Protocol: 'https' } },
      }),
    );
    const got = await s3.send(new GetBucketWebsiteCommand({ Bucket: 'site' }));
    assert.deepEqual(got.RedirectAllRequestsTo, { HostName: 'www.example.net', Protocol: 'https' });
    const r = await web(g, 'site.web.garage', '/a/b.html?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'https://www.example.net/a/b.html?x=1');
    const bad: [object, string][] = [
      [
        {
          IndexDocument: { Suffix: 'index.html' },
          RoutingRules: [{ Redirect: { ReplaceKeyWith: 'a', ReplaceKeyPrefixWith: 'b' } }],
        },
        'InvalidRequest',
      ],
      [
        { IndexDocument: { Suffix: 'index.html' }, RoutingRules: [{ Redirect: { HttpRedirectCode: '404' } }] },
        'InvalidRequest',
      ],
      [
        {
          IndexDocument: { Suffix: 'index.html' },
          RoutingRules: [{ Condition: { HttpErrorCodeReturnedEquals: '200' }, Redirect: { HostName: 'x' } }],
        },
        'InvalidRequest',
      ],
      [{ IndexDocument: { Suffix: 'index.html' }, RedirectAllRequestsTo: { HostName: 'x' } }, 'InvalidArgument'],
    ];
    for (const [conf, code] of bad)
      await assert.rejects(
        s3.send(new PutBucketWebsiteCommand({ Bucket: 'site', WebsiteConfiguration: conf })),
        (e: Error) => e.name === code,
        JSON.stringify(conf),
      );
    await s3.send(new DeleteBucketWebsiteCommand({ Bucket: 'site' }));
  });
});
