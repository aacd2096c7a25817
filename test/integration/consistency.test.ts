import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, DeleteObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type GarageProcess, startCluster, s3Client, getBytes } from './harness.ts';

describe('read-after-write across nodes under concurrent load', () => {
  let nodes: GarageProcess[] = [];
  let clients: S3Client[] = [];

  before(async () => {
    const c = await startCluster([
      { zone: 'a', capacity: 1 },
      { zone: 'b', capacity: 1 },
      { zone: 'c', capacity: 1 },
    ]);
    nodes = c.nodes;
    clients = nodes.map((n) => s3Client(n, c.keyId, c.secret, 3));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('every read through another node sees the last acknowledged write of its key', async () => {
    // Each worker owns its keys, so the expected state of a key is known after every step;
    // writes and reads go through different nodes, and workers run concurrently.
    const deadline = Date.now() + 8000;
    const failures: string[] = [];
    let steps = 0;
    const finalState = new Map<string, Buffer | null>();
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        const state = new Map<string, Buffer | null>();
        let i = 0;
        while (Date.now() < deadline) {
          const key = `w${w}/k${i % 4}`;
          const writer = clients[(i + w) % 3]!;
          const reader = clients[(i + w + 1) % 3]!;
          if (i % 5 === 4) {
            await writer.send(new DeleteObjectCommand({ Bucket: 'cluster', Key: key }));
            state.set(key, null);
          } else {
            const data = randomBytes(i % 3 === 0 ? 1_100_000 : 300);
            await writer.send(new PutObjectCommand({ Bucket: 'cluster', Key: key, Body: data }));
            state.set(key, data);
          }
          const want = state.get(key)!;
          const got = await getBytes(reader, 'cluster', key).catch((e: Error) =>
            e.name === 'NoSuchKey' ? null : Promise.reject(e),
          );
          if (want === null ? got !== null : !got?.equals(want))
            failures.push(
              `${key} step ${i}: expected ${want === null ? 'deleted' : `${want.length} bytes`}, read ${got === null ? 'nothing' : `${got.length} bytes`}`,
            );
          i++;
          steps++;
        }
        for (const [k, v] of state) finalState.set(k, v);
      }),
    );
    assert.deepEqual(failures, []);
    assert.ok(steps > 30, `enough steps ran (${steps})`);
    // Listings through every node agree with the final state.
    const expected = [...finalState]
      .filter(([, v]) => v !== null)
      .map(([k]) => k)
      .sort();
    for (const c of clients) {
      const l = await c.send(new ListObjectsV2Command({ Bucket: 'cluster' }));
      assert.deepEqual(
        (l.Contents ?? []).map((o) => o.Key),
        expected,
      );
    }
  });
});
