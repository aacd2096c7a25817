import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { PutObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GarageProcess, freePort, quickStart, s3Client } from './harness.ts';

describe('admin HTTP API: /health, /metrics, /v1', () => {
  let g: GarageProcess;
  let s3: S3Client;
  let base = '';
  /** A GET that reads the whole answer and closes its connection. */
  const get = async (path: string, token?: string) => {
    const r = await fetch(`${base}${path}`, {
      headers: { connection: 'close', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    return { status: r.status, text: await r.text() };
  };

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    g = await GarageProcess.create(
      `[admin]\napi_bind_addr = "127.0.0.1:${port}"\nadmin_token = "admin-secret-token"\nmetrics_token = "metrics-secret-token"\n`,
    );
  });
  after(async () => {
    s3?.destroy();
    await g.destroy();
  });

  it('reports unavailable before the layout is applied, operational after', async () => {
    await g.start();
    assert.equal((await get('/health')).status, 503);
    const { keyId, secret } = await quickStart(g, 'admin-api');
    s3 = s3Client(g, keyId, secret);
    const h = await get('/health');
    assert.equal(h.status, 200);
    assert.match(h.text, /fully operational/);
  });

  it('serves Prometheus metrics behind metrics_token', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'admin-api', Key: 'k', Body: 'v' }));
    await s3.send(new GetObjectCommand({ Bucket: 'admin-api', Key: 'k' }));
    await s3.send(new GetObjectCommand({ Bucket: 'admin-api', Key: 'missing' })).catch(() => undefined);
    assert.equal((await get('/metrics')).status, 403);
    const m = await get('/metrics', 'metrics-secret-token');
    assert.equal(m.status, 200);
    const text = m.text;
    assert.match(text, /api_s3_request_counter\{api_endpoint="PutObject"\} 1/);
    assert.match(text, /api_s3_error_counter\{api_endpoint="GetObject",status_code="404"\} 1/);
    assert.match(text, /table_size\{table_name="object"\} 1/);
    assert.match(text, /cluster_layout_version 1/);
  });

  it('answers /v1 only with the admin token', async () => {
    assert.equal((await get('/v1/status')).status, 403);
    assert.equal((await get('/v1/status', 'metrics-secret-token')).status, 403);
    const r = await get('/v1/status', 'admin-secret-token');
    assert.equal(r.status, 200);
    const body = JSON.parse(r.text) as { nodes: { peer: { id: string } }[]; layoutVersion: number };
    assert.equal(body.layoutVersion, 1);
    assert.equal(body.nodes.length, 1);
    const h = JSON.parse((await get('/v1/health', 'admin-secret-token')).text) as {
      status: string;
      partitions: number;
    };
    assert.deepEqual([h.status, h.partitions], ['healthy', 256]);
    assert.doesNotMatch(g.log, /admin-secret-token|metrics-secret-token/, 'tokens never reach the logs');
  });
});
