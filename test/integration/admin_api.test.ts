// The admin API v2 against its contract (test/data/admin-api-v2.interface.json, Garage's
// OpenAPI description): every operation is called over HTTP on a real node and its answer
// checked against the contract's response schema; then the error cases (no token, wrong
// scope, expired token, unknown ids, malformed bodies) and the reference quick start done
// through the admin API alone, followed by S3 with the key it created.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { PutObjectCommand, GetObjectCommand, CreateMultipartUploadCommand, type S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { GarageProcess, ROOT, freePort, s3Client, waitFor } from './harness.ts';

const ADMIN = 'admin-secret-token';
const METRICS = 'metrics-secret-token';

const contract = z
  .object({
    paths: z.record(
      z.string(),
      z.record(z.string(), z.object({ operationId: z.string(), responses: z.record(z.string(), z.unknown()) })),
    ),
    components: z.object({ schemas: z.record(z.string(), z.unknown()) }),
  })
  .parse(JSON.parse(readFileSync(join(ROOT, 'test/data/admin-api-v2.interface.json'), 'utf8')));

const zResponse = z.object({ content: z.object({ 'application/json': z.object({ schema: z.unknown() }) }) });
const ajv = new Ajv2020({ strict: false, allErrors: true });
for (const f of ['int32', 'int64', 'float']) ajv.addFormat(f, true);
ajv.addFormat('date-time', (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s));
ajv.addSchema({ $id: 'contract', components: contract.components }, 'contract');
/** Operation id → [method, path, validator of its 200 answer (none: no JSON body)]. */
const OPS = new Map<string, { method: string; path: string; check?: (v: unknown) => string | undefined }>();
for (const [path, methods] of Object.entries(contract.paths))
  for (const [method, op] of Object.entries(methods)) {
    const ok = zResponse.safeParse(op.responses['200']);
    let check: ((v: unknown) => string | undefined) | undefined;
    if (ok.success) {
      const schema = JSON.parse(
        JSON.stringify(ok.data.content['application/json'].schema).replaceAll(
          '"#/components/',
          '"contract#/components/',
        ),
      );
      const v = ajv.compile(schema);
      check = (x) => (v(x) ? undefined : ajv.errorsText(v.errors));
    }
    OPS.set(op.operationId, { method: method.toUpperCase(), path, check });
  }

describe('admin API v2: the contract, tokens, and the quick start through the API', () => {
  let g: GarageProcess;
  let s3: S3Client | undefined;
  let base = '';
  const called = new Set<string>();

  /** Calls an operation by id; checks the answer against the contract when it succeeds. */
  const api = async (
    op: string,
    o: { query?: Record<string, string>; body?: unknown; token?: string | null; raw?: string } = {},
  ) => {
    const spec = OPS.get(op) ?? { method: 'GET', path: `/v2/${op}` };
    const q = o.query ? `?${new URLSearchParams(o.query)}` : '';
    const token = o.token === undefined ? ADMIN : o.token;
    const r = await fetch(`${base}${spec.path}${q}`, {
      method: spec.method,
      headers: {
        connection: 'close',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(o.body !== undefined || o.raw !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body)),
    });
    const text = await r.text();
    const body: unknown =
      text && r.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text;
    if (r.status === 200) {
      called.add(op);
      const err = 'check' in spec && spec.check ? spec.check(body) : undefined;
      assert.equal(err, undefined, `${op} answer does not match the contract: ${err}\n${text.slice(0, 2000)}`);
    }
    return { status: r.status, body, text };
  };
  const ok = async (op: string, o: Parameters<typeof api>[1] = {}) => {
    const r = await api(op, o);
    assert.equal(r.status, 200, `${op}: ${r.text}`);
    return r.body;
  };
  const field = (v: unknown, ...path: string[]): unknown => {
    let cur = v;
    for (const p of path) cur = typeof cur === 'object' && cur !== null ? Reflect.get(cur, p) : undefined;
    return cur;
  };
  const str = (v: unknown, ...path: string[]) => z.string().parse(field(v, ...path));

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    g = await GarageProcess.create(
      `[admin]\napi_bind_addr = "127.0.0.1:${port}"\nadmin_token = "${ADMIN}"\nmetrics_token = "${METRICS}"\n`,
    );
    await g.start();
  });
  after(async () => {
    s3?.destroy();
    await g.destroy();
  });

  it('runs the quick start through the admin API alone, then S3 with the key it made', async () => {
    assert.equal((await fetch(`${base}/health`)).status, 503, 'no layout yet');
    const status = await ok('GetClusterStatus');
    const nodeId = str(field(status, 'nodes'), '0', 'id');
    await ok('UpdateClusterLayout', { body: { roles: [{ id: nodeId, zone: 'dc1', capacity: 1e9, tags: ['t'] }] } });
    const preview = await ok('PreviewClusterLayoutChanges');
    assert.ok(Array.isArray(field(preview, 'message')));
    const applied = await ok('ApplyClusterLayout', { body: { version: 1 } });
    assert.equal(field(applied, 'layout', 'version'), 1);
    await waitFor('healthy', async () => (await fetch(`${base}/health`)).status === 200);
    const bucket = await ok('CreateBucket', { body: { globalAlias: 'api-bucket' } });
    const bucketId = str(bucket, 'id');
    const key = await ok('CreateKey', { body: { name: 'api-key' } });
    const keyId = str(key, 'accessKeyId');
    const secret = str(key, 'secretAccessKey');
    await ok('AllowBucketKey', {
      body: { bucketId, accessKeyId: keyId, permissions: { read: true, write: true, owner: true } },
    });
    s3 = s3Client(g, keyId, secret);
    await s3.send(new PutObjectCommand({ Bucket: 'api-bucket', Key: 'hello.txt', Body: 'hello' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'api-bucket', Key: 'hello.txt' }));
    assert.equal(await got.Body!.transformToString(), 'hello');
  });

  it('answers every operation of the contract with the contract’s shapes', async () => {
    const nodeId = str(field(await ok('GetClusterStatus'), 'nodes'), '0', 'id');
    const bucketId = str(await ok('GetBucketInfo', { query: { globalAlias: 'api-bucket' } }), 'id');
    const keyId = str(await ok('GetKeyInfo', { query: { search: 'api-key' } }), 'accessKeyId');
    const mpu = await s3!.send(new CreateMultipartUploadCommand({ Bucket: 'api-bucket', Key: 'upload' }));
    assert.ok(mpu.UploadId);

    await ok('GetClusterHealth');
    await ok('GetClusterStatistics');
    await ok('ConnectClusterNodes', { body: [`${'0'.repeat(64)}@127.0.0.1:1`] });
    await ok('GetClusterLayout');
    await ok('GetClusterLayoutHistory');
    await ok('UpdateClusterLayout', { body: { parameters: { zoneRedundancy: { atLeast: 1 } } } });
    await ok('RevertClusterLayout');
    const skip = await api('ClusterLayoutSkipDeadNodes', { body: { version: 1, allowMissingData: false } });
    assert.equal(skip.status, 400, 'nothing to skip on a healthy cluster');
    await ok('ListBuckets');
    await ok('GetBucketInfo', { query: { id: bucketId } });
    await ok('GetBucketInfo', { query: { search: 'api-bucket' } });
    await ok('UpdateBucket', {
      query: { id: bucketId },
      body: {
        quotas: { maxSize: 1e9, maxObjects: null },
        websiteAccess: { enabled: true, indexDocument: 'index.html' },
      },
    });
    const check = await fetch(`${base}/check?domain=api-bucket`);
    assert.equal(check.status, 200, 'website-enabled bucket is a managed domain');
    assert.equal((await fetch(`${base}/check?domain=unknown.example`)).status, 400);
    await ok('AddBucketAlias', { body: { bucketId, globalAlias: 'api-alias' } });
    await ok('AddBucketAlias', { body: { bucketId, localAlias: 'mine', accessKeyId: keyId } });
    await ok('RemoveBucketAlias', { body: { bucketId, localAlias: 'mine', accessKeyId: keyId } });
    await ok('RemoveBucketAlias', { body: { bucketId, globalAlias: 'api-alias' } });
    await ok('DenyBucketKey', { body: { bucketId, accessKeyId: keyId, permissions: { owner: true } } });
    const inspect = await ok('InspectObject', { query: { bucketId, key: 'hello.txt' } });
    assert.equal(field(inspect, 'key'), 'hello.txt');
    const cleaned = await ok('CleanupIncompleteUploads', { body: { bucketId, olderThanSecs: 0 } });
    assert.equal(field(cleaned, 'uploadsDeleted'), 1);
    const other = str(await ok('CreateBucket', { body: {} }), 'id');
    await ok('DeleteBucket', { query: { id: other } });

    await ok('ListKeys');
    await ok('GetKeyInfo', { query: { id: keyId, showSecretKey: 'true' } });
    const exp = new Date(Date.now() + 86_400_000).toISOString();
    const upd = await ok('UpdateKey', {
      query: { id: keyId },
      body: { allow: { createBucket: true }, expiration: exp },
    });
    assert.equal(field(upd, 'expired'), false);
    await ok('UpdateKey', { query: { id: keyId }, body: { neverExpires: true } });
    const imported = await ok('ImportKey', {
      body: { accessKeyId: `GK${'a'.repeat(24)}`, secretAccessKey: 'b'.repeat(64), name: 'imported' },
    });
    await ok('DeleteKey', { query: { id: str(imported, 'accessKeyId') } });

    await ok('ListAdminTokens');
    const tok = await ok('CreateAdminToken', { body: { name: 'ops', scope: ['ListBuckets'] } });
    const tokId = str(tok, 'id');
    await ok('GetAdminTokenInfo', { query: { id: tokId } });
    await ok('GetAdminTokenInfo', { query: { search: 'ops' } });
    await ok('UpdateAdminToken', { query: { id: tokId }, body: { name: 'ops2', scope: ['ListBuckets', 'ListKeys'] } });
    await ok('DeleteAdminToken', { query: { id: tokId } });

    for (const node of [nodeId, 'self', '*']) await ok('GetNodeInfo', { query: { node } });
    await ok('GetNodeStatistics', { query: { node: '*' } });
    await ok('CreateMetadataSnapshot', { query: { node: 'self' } });
    const workers = await ok('ListWorkers', { query: { node: 'self' }, body: {} });
    assert.ok(Object.keys(z.record(z.string(), z.unknown()).parse(field(workers, 'success'))).length === 1);
    await ok('GetWorkerInfo', { query: { node: 'self' }, body: { id: 0 } });
    const vars = await ok('GetWorkerVariable', { query: { node: 'self' }, body: {} });
    assert.equal(field(vars, 'success', nodeId, 'scrub-tranquility'), '4');
    await ok('SetWorkerVariable', { query: { node: 'self' }, body: { variable: 'scrub-tranquility', value: '2' } });
    const set = await ok('GetWorkerVariable', { query: { node: 'self' }, body: { variable: 'scrub-tranquility' } });
    assert.equal(field(set, 'success', nodeId, 'scrub-tranquility'), '2');
    await ok('LaunchRepairOperation', { query: { node: 'self' }, body: { repairType: 'blockRc' } });
    await ok('LaunchRepairOperation', { query: { node: 'self' }, body: { repairType: { scrub: 'start' } } });
    await ok('ListBlockErrors', { query: { node: 'self' } });
    const hash = 'ab'.repeat(32);
    await ok('GetBlockInfo', { query: { node: 'self' }, body: { blockHash: hash } });
    await ok('RetryBlockResync', { query: { node: 'self' }, body: { all: true } });
    await ok('PurgeBlocks', { query: { node: 'self' }, body: [hash] });

    await s3!.send(new PutObjectCommand({ Bucket: 'api-bucket', Key: 'big', Body: Buffer.alloc(65536, 7) }));
    const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } });
    assert.equal(metrics.status, 200);
    const scraped = await metrics.text();
    assert.match(scraped, /api_admin_request_counter\{api_endpoint="ListBuckets"\}/);
    assert.match(scraped, /api_s3_request_counter\{api_endpoint="PutObject"\} 2/);
    assert.match(scraped, /cluster_healthy 1/);
    assert.match(scraped, /garage_build_info\{version="[^"]+"\} 1/);
    assert.match(scraped, /block_bytes_written [1-9]/);
    assert.match(scraped, /table_put_request_counter\{table_name="object"\} [1-9]/);
    // Every metric docs/metrics.md lists is served, with the type it gives.
    const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
    const listed = [...doc.matchAll(/^\| `([a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => [m[1]!, m[2]!]);
    assert.ok(listed.length > 40, 'docs/metrics.md lists the metrics');
    for (const [name, type] of listed) assert.match(scraped, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 200);

    const all = [...OPS.keys()].filter((op) => OPS.get(op)!.path.startsWith('/v2/'));
    assert.deepEqual(
      all.filter((op) => !called.has(op) && op !== 'ClusterLayoutSkipDeadNodes'),
      [],
      'every operation was called',
    );
  });

  it('refuses missing, wrong, out-of-scope and expired tokens, unknown ids and malformed requests', async () => {
    assert.equal((await api('ListBuckets', { token: null })).status, 401);
    assert.equal((await api('ListBuckets', { token: 'nope' })).status, 401);
    assert.equal((await api('ListBuckets', { token: METRICS })).status, 401, 'the metrics token is for /metrics only');
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    const scoped = str(
      await ok('CreateAdminToken', { body: { name: 'reader', scope: ['ListBuckets', 'GetCurrentAdminTokenInfo'] } }),
      'secretToken',
    );
    assert.equal((await api('ListBuckets', { token: scoped })).status, 200);
    const denied = await api('ListKeys', { token: scoped });
    assert.equal(denied.status, 403);
    assert.equal(field(denied.body, 'code'), 'Forbidden');
    const me = await ok('GetCurrentAdminTokenInfo', { token: scoped });
    assert.equal(field(me, 'name'), 'reader');
    const soon = new Date(Date.now() + 1500).toISOString();
    const expiring = str(await ok('CreateAdminToken', { body: { name: 'brief', expiration: soon } }), 'secretToken');
    assert.equal((await api('ListBuckets', { token: expiring })).status, 200);
    await waitFor('the token to expire', async () => (await api('ListBuckets', { token: expiring })).status === 403);

    for (const [op, query] of [
      ['GetBucketInfo', { id: 'f'.repeat(64) }],
      ['GetKeyInfo', { id: 'GKnope' }],
      ['GetAdminTokenInfo', { id: 'nope' }],
    ] as const) {
      const r = await api(op, { query });
      assert.equal(r.status, 404, `${op}: ${r.text}`);
      assert.match(str(r.body, 'code'), /^NoSuch/);
    }
    assert.equal((await api('DeleteBucket', { query: { id: 'f'.repeat(64) } })).status, 404);
    assert.equal((await api('ApplyClusterLayout', { raw: '{not json' })).status, 400);
    assert.equal((await api('ApplyClusterLayout', { body: { version: 'one' } })).status, 400);
    assert.equal((await api('ApplyClusterLayout', { body: { version: 7 } })).status, 400, 'wrong version');
    assert.equal((await api('GetBucketInfo')).status, 400, 'no id, alias or search');
    assert.equal((await api('NoSuchOperation')).status, 404);
    const wrongMethod = await fetch(`${base}/v2/ListBuckets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(wrongMethod.status, 405);
    const bucketId = str(await ok('GetBucketInfo', { query: { globalAlias: 'api-bucket' } }), 'id');
    const notEmpty = await api('DeleteBucket', { query: { id: bucketId } });
    assert.equal(notEmpty.status, 409);
    assert.equal(field(notEmpty.body, 'code'), 'BucketNotEmpty');
    assert.doesNotMatch(
      g.log,
      new RegExp(`${ADMIN}|${METRICS}|${scoped.split('.')[1]}`),
      'tokens never reach the logs',
    );
  });

  it('refuses S3 requests signed with an expired access key', async () => {
    const k = await ok('CreateKey', {
      body: { name: 'short-lived', expiration: new Date(Date.now() + 1500).toISOString() },
    });
    const id = str(k, 'accessKeyId');
    const bucketId = str(await ok('GetBucketInfo', { query: { globalAlias: 'api-bucket' } }), 'id');
    await ok('AllowBucketKey', { body: { bucketId, accessKeyId: id, permissions: { read: true } } });
    const c = s3Client(g, id, str(k, 'secretAccessKey'));
    try {
      await c.send(new GetObjectCommand({ Bucket: 'api-bucket', Key: 'hello.txt' }));
      await waitFor('the key to expire', async () => {
        try {
          await c.send(new GetObjectCommand({ Bucket: 'api-bucket', Key: 'hello.txt' }));
          return false;
        } catch (e) {
          return e instanceof Error && e.name === 'InvalidAccessKeyId';
        }
      });
    } finally {
      c.destroy();
    }
  });
});
