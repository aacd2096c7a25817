import { createHash } from 'node:crypto';
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type GarageProcess, getBytes, useNode } from './harness.ts';

describe('POST object: browser form uploads with a signed policy', () => {
  let g: GarageProcess;
  let s3: S3Client;
  let keyId = '';
  let secret = '';

  const node = useNode('forms');
  before(() => ({ g, s3, keyId, secret } = node));

  /** Builds the signed form fields for a policy, as a browser page would get them from its server. */
  function signedFields(conditions: unknown[], expiresInMs = 60_000, signWith = secret): Record<string, string> {
    const now = new Date();
    const date = now
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
    const day = date.slice(0, 8);
    const credential = `${keyId}/${day}/garage/s3/aws4_request`;
    const policy = Buffer.from(
      JSON.stringify({
        expiration: new Date(now.getTime() + expiresInMs).toISOString(),
        conditions: [
          ...conditions,
          { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
          { 'x-amz-credential': credential },
          { 'x-amz-date': date },
        ],
      }),
    ).toString('base64');
    const k = [day, 'garage', 's3', 'aws4_request'].reduce<Buffer>(
      (acc, part) => createHmac('sha256', acc).update(part).digest(),
      Buffer.from(`AWS4${signWith}`),
    );
    return {
      policy,
      'x-amz-algorithm': 'AWS4-HMAC-SHA256',
      'x-amz-credential': credential,
      'x-amz-date': date,
      'x-amz-signature': createHmac('sha256', k).update(policy).digest('hex'),
    };
  }

  async function post(fields: Record<string, string>, content: string, filename = 'photo.jpg'): Promise<Response> {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('file', new Blob([content]), filename);
    return fetch(`${g.endpoint}/forms`, { method: 'POST', body: form, redirect: 'manual' });
  }

  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${filename} is S3's POST placeholder, sent literally
  it('uploads with ${filename}, stores the content type, answers 204, 201 or a redirect', async () => {
    const conditions = [
      { bucket: 'forms' },
      ['starts-with', '$key', 'uploads/'],
      ['starts-with', '$Content-Type', 'image/'],
      ['content-length-range', 1, 1000],
    ];
    const r = await post(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: S3's POST placeholder, sent literally
      { key: 'uploads/${filename}', 'Content-Type': 'image/jpeg', ...signedFields(conditions) },
      'jpeg bytes',
    );
    assert.equal(r.status, 204, await r.text());
    assert.equal((await getBytes(s3, 'forms', 'uploads/photo.jpg')).toString(), 'jpeg bytes');
    assert.equal(
      (await s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'uploads/photo.jpg' }))).ContentType,
      'image/jpeg',
    );

    const r201 = await post(
      {
        key: 'uploads/two',
        'Content-Type': 'image/png',
        success_action_status: '201',
        ...signedFields([...conditions, { success_action_status: '201' }]),
      },
      'png',
    );
    assert.equal(r201.status, 201);
    assert.match(await r201.text(), /<Key>uploads\/two<\/Key>/);

    const redir = await post(
      {
        key: 'uploads/three',
        'Content-Type': 'image/gif',
        success_action_redirect: 'https://app.example.com/done',
        ...signedFields([...conditions, ['starts-with', '$success_action_redirect', 'https://app.example.com/']]),
      },
      'gif',
    );
    assert.equal(redir.status, 303);
    assert.match(
      redir.headers.get('location') ?? '',
      /^https:\/\/app\.example\.com\/done\?bucket=forms&key=uploads%2Fthree&etag=/,
    );
  });

  it('refuses what the policy does not allow', async () => {
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'uploads/'], ['content-length-range', 1, 10]];
    const code = async (r: Response) => /<Code>([^<]+)<\/Code>/.exec(await r.text())?.[1];
    let r = await post({ key: 'elsewhere/x', ...signedFields(base) }, 'x');
    assert.equal(r.status, 403);
    assert.equal(await code(r), 'AccessDenied');
    r = await post({ key: 'uploads/big', ...signedFields(base) }, 'far more than ten bytes');
    assert.equal(r.status, 400);
    assert.equal(await code(r), 'EntityTooLarge');
    r = await post({ key: 'uploads/x', ...signedFields(base, -1000) }, 'x');
    assert.equal(r.status, 403);
    r = await post({ key: 'uploads/x', 'x-amz-meta-extra': 'no', ...signedFields(base) }, 'x');
    assert.equal(r.status, 403, 'a field without a condition is refused');
    r = await post({ key: 'uploads/x', ...signedFields(base, 60_000, '0'.repeat(64)) }, 'x');
    assert.equal(r.status, 403);
    assert.equal(await code(r), 'SignatureDoesNotMatch');
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'uploads/big' })));
  });

  it('refuses SSE-S3 and SSE-KMS fields with 501 NotImplemented and stores nothing', async () => {
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'sse/']];
    for (const [k, v] of [
      ['x-amz-server-side-encryption', 'AES256'],
      ['x-amz-server-side-encryption', 'aws:kms'],
      ['x-amz-server-side-encryption-aws-kms-key-id', 'k'],
    ] as const) {
      const r = await post({ key: 'sse/x', [k]: v, ...signedFields([...base, { [k]: v }]) }, 'secret');
      assert.equal(r.status, 501, `${k}: ${v}`);
      assert.match(await r.text(), /<Code>NotImplemented<\/Code>.*encryption/s);
    }
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'sse/x' })));
  });

  it('stores an object sealed under the SSE-C key of the form fields, readable only with that key', async () => {
    const key = 'p'.repeat(32);
    const sse = {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': Buffer.from(key).toString('base64'),
      'x-amz-server-side-encryption-customer-key-MD5': createHash('md5').update(key).digest('base64'),
    };
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'ssec/']];
    const r = await post({ key: 'ssec/x', ...sse, ...signedFields(base) }, 'sealed by a form');
    assert.equal(r.status, 204, await r.text());
    assert.equal(
      r.headers.get('x-amz-server-side-encryption-customer-key-md5'),
      sse['x-amz-server-side-encryption-customer-key-MD5'],
    );
    await assert.rejects(
      s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'ssec/x' })),
      (e: { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 400,
    );
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'forms', Key: 'ssec/x', SSECustomerAlgorithm: 'AES256', SSECustomerKey: key }),
    );
    assert.equal(await got.Body!.transformToString(), 'sealed by a form');
  });

  it('stores the tags of a tagging field (a Tagging document), and refuses a bad one', async () => {
    const tagging = '<Tagging><TagSet><Tag><Key>from</Key><Value>form upload</Value></Tag></TagSet></Tagging>';
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'tagged/'], ['starts-with', '$tagging', '']];
    const r = await post({ key: 'tagged/x', tagging, ...signedFields(base) }, 'tagged');
    assert.equal(r.status, 204, await r.text());
    const t = await s3.send(new GetObjectTaggingCommand({ Bucket: 'forms', Key: 'tagged/x' }));
    assert.deepEqual(t.TagSet, [{ Key: 'from', Value: 'form upload' }]);
    const bad = tagging.replace('<Key>from</Key>', '<Key>aws:from</Key>');
    const refused = await post({ key: 'tagged/y', tagging: bad, ...signedFields(base) }, 'tagged');
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /<Code>InvalidTag<\/Code>/);
  });

  it('refuses header fields with CR, LF or other characters a header cannot carry (400 InvalidArgument naming the field)', async () => {
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'hdr/']];
    const bad: [string, string][] = [
      ['x-amz-meta-evil', 'a\r\nset-cookie: session=stolen'],
      ['x-amz-meta-lf', 'line\nbreak'],
      ['x-amz-meta-nul', 'a\u0000b'],
      ['Content-Type', 'text/plain\r\nx-injected: 1'],
      ['Cache-Control', 'no-cache\r'],
      ['x-amz-meta-bad name', 'v'],
    ];
    for (const [k, v] of bad) {
      const r = await post({ key: 'hdr/x', [k]: v, ...signedFields([...base, ['starts-with', `$${k}`, '']]) }, 'body');
      const text = await r.text();
      assert.equal(r.status, 400, `${k}: ${JSON.stringify(v)}: ${text}`);
      assert.match(text, /<Code>InvalidArgument<\/Code>/);
      assert.ok(text.includes(k.toLowerCase()), `the message names ${k}: ${text}`);
    }
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'hdr/x' })));
    // A clean one is stored and read back.
    const ok = await post(
      {
        key: 'hdr/ok',
        'x-amz-meta-note': 'caf\u00e9 ok \u20ac',
        ...signedFields([...base, ['starts-with', '$x-amz-meta-note', '']]),
      },
      'body',
    );
    assert.equal(ok.status, 204, await ok.text());
    assert.equal((await getBytes(s3, 'forms', 'hdr/ok')).toString(), 'body');
    // Form fields are text: non-ASCII metadata comes back as one RFC 2047 encoded word, as from S3.
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'hdr/ok' }));
    assert.equal(head.Metadata?.note, `=?UTF-8?B?${Buffer.from('caf\u00e9 ok \u20ac').toString('base64')}?=`);
  });

  it('checks and stores an x-amz-checksum-* field (400 BadDigest and nothing stored when it does not match)', async () => {
    const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'sum/']];
    const content = 'checked by the form';
    const good = createHash('sha256').update(content).digest('base64');
    const ok = await post(
      { key: 'sum/ok', 'x-amz-checksum-algorithm': 'SHA256', 'x-amz-checksum-sha256': good, ...signedFields(base) },
      content,
    );
    assert.equal(ok.status, 204, await ok.text());
    assert.equal(ok.headers.get('x-amz-checksum-sha256'), good);
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'sum/ok', ChecksumMode: 'ENABLED' }));
    assert.equal(head.ChecksumSHA256, good);
    const bad = await post(
      {
        key: 'sum/bad',
        'x-amz-checksum-sha256': createHash('sha256').update('other').digest('base64'),
        ...signedFields(base),
      },
      content,
    );
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /<Code>BadDigest<\/Code>/);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'sum/bad' })));
  });

  it('refuses a success_action_redirect that is not a URL before storing anything', async () => {
    const base = [
      { bucket: 'forms' },
      ['starts-with', '$key', 'redir/'],
      ['starts-with', '$success_action_redirect', ''],
    ];
    const r = await post({ key: 'redir/x', success_action_redirect: 'not a url', ...signedFields(base) }, 'body');
    const text = await r.text();
    assert.equal(r.status, 400, text);
    assert.match(text, /<Code>InvalidArgument<\/Code>.*success_action_redirect/s);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'redir/x' })));
  });

  it('counts the file against the bucket size quota as it streams (403 QuotaExceeded, nothing stored)', async () => {
    const used = Number(/\((\d+) bytes\)/.exec(await g.cliOk('bucket', 'info', 'forms'))![1]);
    await g.cliOk('bucket', 'set-quotas', 'forms', '--max-size', String(used + 5000));
    try {
      const base = [{ bucket: 'forms' }, ['starts-with', '$key', 'quota/']];
      for (const size of [5001, 3 * 1024 * 1024]) {
        const r = await post({ key: 'quota/big', ...signedFields(base) }, 'x'.repeat(size));
        assert.equal(r.status, 403, `${size} bytes`);
        assert.match(await r.text(), /<Code>QuotaExceeded<\/Code>/);
        await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'forms', Key: 'quota/big' })));
      }
      const ok = await post({ key: 'quota/fits', ...signedFields(base) }, 'x'.repeat(5000));
      assert.equal(ok.status, 204, await ok.text());
    } finally {
      await g.cliOk('bucket', 'set-quotas', 'forms', '--max-size', 'none');
    }
  });

  it('stores a file of several blocks whole', async () => {
    const content = 'abcdefghij'.repeat(350_000);
    const r = await post(
      { key: 'big/file', ...signedFields([{ bucket: 'forms' }, ['starts-with', '$key', 'big/']]) },
      content,
    );
    assert.equal(r.status, 204, await r.text());
    assert.equal((await getBytes(s3, 'forms', 'big/file')).toString(), content);
  });
});
