import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { FAST_ENV, type GarageProcess, startCluster, waitFor, s3Client, getBytes } from './harness.ts';

/** Table digests and stored block count as `garage stats` reports them. */
async function stats(g: GarageProcess): Promise<{ digests: Record<string, string>; stored: number }> {
  const s = await g.cliOk('stats');
  const digests: Record<string, string> = {};
  for (const m of s.matchAll(/^(\w+)\s+\d+\s+\d+\s+([0-9a-f]{16})$/gm)) digests[m[1]!] = m[2]!;
  return { digests, stored: Number(/Blocks stored here: (\d+)/.exec(s)![1]) };
}

describe('failures: nodes and zones go down, nothing acknowledged is lost', () => {
  // The guide's cluster: par1 ×2, lon1, bru1. With 3 replicas over 3 zones, lon1 and bru1 hold everything.
  let nodes: GarageProcess[] = [];
  let keyId = '';
  let secret = '';
  const acked = new Map<string, Buffer>();

  before(async () => {
    ({ nodes, keyId, secret } = await startCluster([
      { zone: 'par1', capacity: 10 },
      { zone: 'par1', capacity: 20 },
      { zone: 'lon1', capacity: 20 },
      { zone: 'bru1', capacity: 15 },
    ]));
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('keeps accepting and serving writes while a node is SIGKILLed mid-stream', async () => {
    const s3 = s3Client(nodes[3]!, keyId, secret);
    try {
      let killed: Promise<void> | undefined;
      let failures = 0;
      for (let i = 0; i < 30; i++) {
        if (i === 10) killed = nodes[2]!.kill('SIGKILL');
        const data = randomBytes(i % 4 === 0 ? 1_200_000 + i : 500 + i);
        try {
          await s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: `w-${i}`, Body: data }));
          acked.set(`w-${i}`, data);
        } catch {
          failures++;
        }
      }
      await killed;
      assert.ok(failures <= 2, `at most the writes in flight at the kill may fail (${failures} failed)`);
      const reader = s3Client(nodes[0]!, keyId, secret);
      try {
        for (const [k, v] of acked) assert.ok((await getBytes(reader, 'cluster', k)).equals(v), `${k} reads back`);
      } finally {
        reader.destroy();
      }
    } finally {
      s3.destroy();
    }
  });

  it('brings a returning node up to date (tables and blocks match its peers)', async () => {
    await nodes[2]!.start(FAST_ENV);
    await waitFor(
      'lon1 to catch up with bru1 by anti-entropy and resync',
      async () => {
        const [a, b] = await Promise.all([stats(nodes[2]!), stats(nodes[3]!)]);
        return JSON.stringify(a) === JSON.stringify(b) && a.stored > 0 ? true : undefined;
      },
      60_000,
    );
  });

  it('keeps serving with a whole zone down', async () => {
    await Promise.all([nodes[0]!.kill('SIGKILL'), nodes[1]!.kill('SIGKILL')]);
    const s3 = s3Client(nodes[2]!, keyId, secret);
    try {
      for (let i = 0; i < 6; i++) {
        const data = randomBytes(i % 2 ? 2_000_000 : 100);
        await s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: `zone-down-${i}`, Body: data }));
        acked.set(`zone-down-${i}`, data);
      }
      for (const [k, v] of acked)
        assert.ok((await getBytes(s3, 'cluster', k)).equals(v), `${k} readable with par1 down`);
    } finally {
      s3.destroy();
    }
  });

  it('answers 503 with two zones down, and loses nothing once they return', async () => {
    await nodes[2]!.kill('SIGKILL');
    const s3 = s3Client(nodes[3]!, keyId, secret);
    try {
      const put = s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: 'no-quorum', Body: 'x' }));
      await assert.rejects(
        put,
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 503,
      );
      await assert.rejects(
        getBytes(s3, 'cluster', 'w-0'),
        (e: Error & { $metadata?: { httpStatusCode?: number } }) => e.$metadata?.httpStatusCode === 503,
      );
    } finally {
      s3.destroy();
    }
    await Promise.all([0, 1, 2].map((i) => nodes[i]!.start(FAST_ENV)));
    const reader = s3Client(nodes[1]!, keyId, secret);
    try {
      await waitFor(
        'quorum to be back',
        async () => (await getBytes(reader, 'cluster', 'w-0').catch(() => undefined)) !== undefined,
      );
      for (const [k, v] of acked)
        assert.ok((await getBytes(reader, 'cluster', k)).equals(v), `${k} intact after the outage`);
    } finally {
      reader.destroy();
    }
  });
});
