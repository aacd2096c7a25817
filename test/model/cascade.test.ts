// The model's cascades (object → version → block_ref → refcount → block GC), quorum reads,
// read repair, anti-entropy and tombstone GC, on nodes in one process (test/support).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { putObjectStream, saveBlocks } from '../../src/api/s3/put.ts';
import { visibleVersion } from '../../src/model/object.ts';
import { newBucket } from '../../src/model/bucket.ts';
import { serveObject, versionBlocks } from '../../src/api/s3/get.ts';
import { createServer } from 'node:http';
import { z } from 'zod';
import { logger } from '../../src/util/log.ts';
import { MemCluster } from '../support/mem_cluster.ts';
import { waitFor } from '../integration/harness.ts';

const MiB = 1 << 20;
const BLOCK = 64 * 1024;
const bucketId = Buffer.alloc(32, 7);

/** A stream of `data` that runs `hook` once before its last chunk. */
function bodyWithHook(data: Buffer, hook?: () => Promise<void>): Readable {
  let sent = 0;
  return new Readable({
    async read() {
      if (sent >= data.length) {
        this.push(null);
        return;
      }
      const take = Math.min(BLOCK, data.length - sent);
      if (sent + take === data.length && hook) await hook();
      this.push(data.subarray(sent, sent + take));
      sent += take;
    },
  });
}

async function blockFiles(c: MemCluster): Promise<number[]> {
  const out: number[] = [];
  for (const n of c.nodes) {
    let k = 0;
    for await (const _ of n.blocks.store.list()) k++;
    out.push(k);
  }
  return out;
}

describe('model cascades on three in-process nodes', () => {
  let c: MemCluster;
  before(async () => {
    c = new MemCluster(3, { gcDelayMs: 50 });
    await c.start();
  });
  after(() => c.stop());

  it('an overwrite racing with a slower PUT of the same key keeps the winner whole and frees the loser', async () => {
    const [a, b] = [Buffer.alloc(MiB / 2, 'A'), randomBytes(MiB / 2)];
    const svc = { model: c.nodes[0]!.model, blockSize: BLOCK };
    const other = { model: c.nodes[1]!.model, blockSize: BLOCK };
    await putObjectStream(
      svc,
      bucketId,
      'o',
      [],
      bodyWithHook(b, async () => {
        await putObjectStream(other, bucketId, 'o', [], bodyWithHook(a));
      }),
    );
    for (const n of c.nodes) {
      const v = visibleVersion(await n.model.object.get(bucketId, Buffer.from('o')));
      assert.ok(v, 'visible on every node');
      const blocks = await versionBlocks(n.model, v.uuid);
      const bytes = Buffer.concat(await Promise.all(blocks.map((x) => n.model.blocks.get(x.hash))));
      assert.ok(bytes.equals(a) || bytes.equals(b));
    }
    // A's one distinct block remains on each node; B's eight are collected.
    await waitFor('the loser to be collected', async () => (await blockFiles(c)).every((k) => k === 1), 10_000);
  });

  it('a PUT superseded before its version reached the replicas still frees what it wrote', async () => {
    // Two writers place their versions from the same read; the later-placed one completes
    // first, so the other's version is pruned on arrival everywhere. Its writer goes on
    // writing rows and blocks, which must be freed although no replica ever stored the version.
    const m = c.nodes[0]!.model;
    const now = Date.now();
    const inline = { t: 'inline' as const, meta: { size: 1, etag: 'x', headers: [] }, bytes: Buffer.from('w') };
    await m.object.insert({
      bucketId,
      key: 'pruned',
      versions: [{ uuid: randomBytes(16), ts: now + 1000, state: { t: 'complete', data: inline } }],
    });
    const loser = randomBytes(16);
    await m.object.insert({
      bucketId,
      key: 'pruned',
      versions: [{ uuid: loser, ts: now, state: { t: 'uploading', multipart: false, headers: [] } }],
    });
    await m.version.insert({
      uuid: loser,
      sk: Buffer.alloc(0),
      deleted: false,
      header: { bucketId, key: 'pruned', parts: null },
      blocks: [],
    });
    const before = await blockFiles(c);
    await saveBlocks(m, BLOCK, Readable.from([randomBytes(3 * BLOCK)]), {
      uuid: loser,
      part: 0,
      partTs: 0,
      allowInline: false,
    });
    await waitFor(
      "the loser's rows to be deleted and its blocks collected",
      async () =>
        c.nodes.every((n) => n.model.version.getLocal(loser, Buffer.alloc(0))?.deleted === true) &&
        (await blockFiles(c)).every((k, i) => k === before[i]),
      10_000,
    );
  });

  it('a node that missed writes still reads them through a quorum, and anti-entropy brings them', async () => {
    const down = c.nodes[2]!;
    c.net.down.add(down.id);
    const svc = { model: c.nodes[0]!.model, blockSize: BLOCK };
    for (let i = 0; i < 5; i++) await putObjectStream(svc, bucketId, `k${i}`, [], bodyWithHook(randomBytes(100)));
    c.net.down.delete(down.id);
    assert.equal(down.model.object.getLocal(bucketId, Buffer.from('k0')), undefined);
    // A quorum read through the stale node still sees every acknowledged write.
    for (let i = 0; i < 5; i++) assert.ok(visibleVersion(await down.model.object.get(bucketId, Buffer.from(`k${i}`))));
    // Anti-entropy brings the rows themselves.
    const r = await down.sync.get('object')!.syncAll();
    assert.equal(r.errors.length, 0);
    for (let i = 0; i < 5; i++) assert.ok(down.model.object.getLocal(bucketId, Buffer.from(`k${i}`)), `k${i} synced`);
    const roots = c.nodes.map((n) => n.model.object.digest.partitionRoots().toString('hex'));
    assert.equal(new Set(roots).size, 1, 'the three digests agree');
  });

  it('a tombstone is deleted only once every replica holds it', async () => {
    const svc = { model: c.nodes[0]!.model, blockSize: BLOCK };
    await putObjectStream(svc, bucketId, 'gone', [], bodyWithHook(randomBytes(10)));
    const ts = await c.nodes[0]!.model.nextObjectTs(bucketId, 'gone');
    c.net.down.add(c.nodes[2]!.id);
    await c.nodes[0]!.model.object.insert({
      bucketId,
      key: 'gone',
      versions: [{ uuid: randomBytes(16), ts, state: { t: 'complete', data: { t: 'deleteMarker' } } }],
    });
    const gc = c.nodes[0]!.gc.get('object')!;
    assert.equal(await gc.pass(), 0, 'one replica lacks the tombstone: kept');
    c.net.down.delete(c.nodes[2]!.id);
    assert.equal(await gc.pass(), 0, 'the third replica still holds the live object: kept');
    await c.nodes[0]!.sync.get('object')!.syncAll();
    assert.equal(await gc.pass(), 1);
    for (const n of c.nodes) assert.equal(n.model.object.getLocal(bucketId, Buffer.from('gone')), undefined);
  });

  it('a GET whose version is superseded and freed while it reads serves the new one', async () => {
    const node = c.nodes[0]!;
    const svc = { model: node.model, blockSize: BLOCK };
    const [oldBody, newBody] = [randomBytes(MiB), randomBytes(MiB / 4)];
    await putObjectStream(svc, bucketId, 'raced', [], bodyWithHook(oldBody));
    const oldUuid = visibleVersion(await node.model.object.get(bucketId, Buffer.from('raced')))!.uuid;
    // The overwrite lands, and frees the old version's rows, between the GET's read of the
    // object row and its read of the version rows.
    const table = node.model.version;
    const getRange = table.getRange.bind(table);
    let raced = false;
    table.getRange = async (pk, q) => {
      if (!raced) {
        raced = true;
        await putObjectStream(svc, bucketId, 'raced', [], bodyWithHook(newBody));
        await waitFor(
          'the old version rows to be freed',
          async () => (await getRange(oldUuid, {})).every((r) => r.deleted || r.sk.length === 0),
          10_000,
        );
      }
      return getRange(pk, q);
    };
    const server = createServer((req, res) => {
      const t = { model: node.model, logger: logger('test'), req, res, query: new URLSearchParams(), head: false };
      serveObject(t, newBucket(bucketId), 'raced').catch((e: unknown) => {
        res.statusCode = 503;
        res.end(String(e));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = z.object({ port: z.number() }).parse(server.address());
      const r = await fetch(`http://127.0.0.1:${port}/`);
      const body = Buffer.from(await r.arrayBuffer());
      assert.equal(r.status, 200, body.toString().slice(0, 200));
      assert.ok(raced, 'the overwrite ran during the GET');
      assert.ok(body.equals(newBody), 'the GET serves the version that superseded the one it first read');
    } finally {
      table.getRange = getRange;
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
