import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type GarageProcess, startCluster, s3Client, getBytes, waitFor } from './harness.ts';

describe('scheduled scrub finds bit rot and repairs it from the other replicas', () => {
  let nodes: GarageProcess[] = [];

  before(async () => {
    const c = await startCluster(
      [
        { zone: 'a', capacity: 1 },
        { zone: 'b', capacity: 1 },
        { zone: 'c', capacity: 1 },
      ],
      { env: { GARAGE_SCRUB_EVERY_MS: '1500', GARAGE_SCRUB_CHECK_MS: '500' } },
    );
    nodes = c.nodes;
    const s3 = s3Client(nodes[0]!, c.keyId, c.secret);
    try {
      const data = randomBytes(2 * 1024 * 1024);
      await s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: 'precious', Body: data }));
      assert.ok((await getBytes(s3, 'cluster', 'precious')).equals(data));
    } finally {
      s3.destroy();
    }
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('a corrupted block file on one node is detected and fetched again', async () => {
    const hash = createHash('sha256');
    // Find one block file of node a (random data is stored uncompressed, named by its hash).
    const files = readdirSync(join(nodes[0]!.dir, 'data'), { recursive: true, withFileTypes: true }).filter(
      (d) => d.isFile() && /^[0-9a-f]{64}$/.test(d.name),
    );
    assert.ok(files.length > 0);
    const f = files[0]!;
    const path = join(f.parentPath, f.name);
    const good = readFileSync(path);
    assert.equal(hash.update(good).digest('hex'), f.name);
    const bad = Buffer.from(good);
    bad[1000] = bad[1000]! ^ 0xff;
    writeFileSync(path, bad);
    await waitFor(
      'the scrub to restore the block',
      () => {
        try {
          return readFileSync(path).equals(good);
        } catch {
          return false;
        }
      },
      30_000,
    );
    assert.match(await nodes[0]!.cliOk('worker', 'list'), /scrub/);
  });
});
