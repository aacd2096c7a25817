import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  PutObjectCommand,
  ListObjectsV2Command,
  PutObjectTaggingCommand,
  GetObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import { GarageProcess, waitFor, s3Client, getBytes } from './harness.ts';

const FAST = { GARAGE_SYNC_INTERVAL_MS: '3000', GARAGE_PING_INTERVAL_MS: '1000' };

describe('a real cluster: four nodes in three zones, as in the reference deployment guide', () => {
  const nodes: GarageProcess[] = [];
  const ids: string[] = [];
  let keyId = '';
  let secret = '';
  const written = new Map<string, Buffer>();

  before(async () => {
    const rpcSecret = randomBytes(32).toString('hex');
    for (let i = 0; i < 4; i++) nodes.push(await GarageProcess.create('', { replicationMode: '3', rpcSecret }));
    await Promise.all(nodes.map((n) => n.start(FAST)));
    for (const n of nodes) ids.push((await n.cliOk('node', 'id')).trim());
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('connects nodes with `node connect` and finds the others transitively', async () => {
    // Each node is told about one other only; the mesh forms by itself.
    await nodes[1]!.cliOk('node', 'connect', ids[0]!);
    await nodes[2]!.cliOk('node', 'connect', ids[1]!);
    await nodes[3]!.cliOk('node', 'connect', ids[0]!);
    await waitFor(
      'every node to see the three others',
      async () => {
        for (const n of nodes) {
          const s = await n.cliOk('status');
          const healthy = s
            .split('==== FAILED')[0]!
            .split('\n')
            .filter((l) => /^[0-9a-f]{16}\s/.test(l));
          if (healthy.length !== 4) return false;
        }
        return true;
      },
      30_000,
    );
  });

  it('assigns the layout of the guide (par1 ×2, lon1, bru1) and applies it everywhere', async () => {
    const short = ids.map((id) => id.slice(0, 4));
    await nodes[0]!.cliOk('layout', 'assign', '-z', 'par1', '-c', '10', '-t', 'mercury', short[0]!);
    await nodes[0]!.cliOk('layout', 'assign', '-z', 'par1', '-c', '20', '-t', 'venus', short[1]!);
    await nodes[0]!.cliOk('layout', 'assign', '-z', 'lon1', '-c', '20', '-t', 'earth', short[2]!);
    await nodes[0]!.cliOk('layout', 'assign', '-z', 'bru1', '-c', '15', '-t', 'mars', short[3]!);
    const show = await nodes[0]!.cliOk('layout', 'show');
    assert.match(show, /STAGED ROLE CHANGES/);
    assert.match(show, /garage layout apply --version 1/);
    const applied = await nodes[0]!.cliOk('layout', 'apply', '--version', '1');
    assert.match(applied, /version 1/);
    await waitFor('every node to adopt layout version 1', async () => {
      for (const n of nodes)
        if (!/Current cluster layout version: 1/.test(await n.cliOk('layout', 'show'))) return false;
      return true;
    });
    // Zone constraint: with 3 zones and 3 replicas, lon1 and bru1 hold every partition.
    const s = await nodes[2]!.cliOk('layout', 'show');
    assert.match(s, new RegExp(`${ids[2]!.slice(0, 16)}.*\\b256$`, 'm'));
    assert.match(s, new RegExp(`${ids[3]!.slice(0, 16)}.*\\b256$`, 'm'));
    // Node-targeted operations answer per node: every node of the cluster, each in its section.
    const stats = await nodes[0]!.cliOk('stats', '-a');
    for (const id of ids) assert.match(stats, new RegExp(`^Node ${id.slice(0, 16)}:$`, 'm'));
    assert.equal((stats.match(/^Blocks stored here: \d+$/gm) ?? []).length, 4);
  });

  it('serves a workload written through some nodes and read through others', async () => {
    await nodes[0]!.cliOk('bucket', 'create', 'cluster');
    const key = await nodes[1]!.cliOk('key', 'new', '--name', 'cluster-key');
    keyId = /Key ID: (GK\w+)/.exec(key)![1]!;
    secret = /Secret key: (\w+)/.exec(key)![1]!;
    await waitFor('the key to reach every node', async () => {
      for (const n of nodes) if ((await n.cli('key', 'info', keyId)).code !== 0) return false;
      return true;
    });
    await nodes[2]!.cliOk('bucket', 'allow', '--read', '--write', 'cluster', '--key', keyId);
    const clients = nodes.map((n) => s3Client(n, keyId, secret));
    try {
      for (let i = 0; i < 24; i++) {
        const data = randomBytes(i % 3 === 0 ? 2_500_000 + i : 1000 + i);
        await clients[i % 4]!.send(new PutObjectCommand({ Bucket: 'cluster', Key: `obj-${i}`, Body: data }));
        written.set(`obj-${i}`, data);
      }
      for (const [k, v] of written) {
        const reader = clients[(Number(k.slice(4)) + 1) % 4]!;
        assert.ok((await getBytes(reader, 'cluster', k)).equals(v), `${k} reads back through another node`);
      }
      const list = await clients[3]!.send(new ListObjectsV2Command({ Bucket: 'cluster' }));
      assert.equal(list.KeyCount, 24);
      // Tags changed through one node, then another, read through a third: the last change wins.
      for (const [i, v] of ['first', 'second'].entries())
        await clients[i]!.send(
          new PutObjectTaggingCommand({
            Bucket: 'cluster',
            Key: 'obj-0',
            Tagging: { TagSet: [{ Key: 'round', Value: v }] },
          }),
        );
      const tags = await clients[2]!.send(new GetObjectTaggingCommand({ Bucket: 'cluster', Key: 'obj-0' }));
      assert.deepEqual(tags.TagSet, [{ Key: 'round', Value: 'second' }]);
      assert.ok((await getBytes(clients[3]!, 'cluster', 'obj-0')).equals(written.get('obj-0')!), 'data untouched');
    } finally {
      for (const c of clients) c.destroy();
    }
  });
});
