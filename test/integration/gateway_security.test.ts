import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FAST_ENV, GarageProcess, startCluster, nodeIds, waitFor, s3Client, getBytes } from './harness.ts';

describe('gateway nodes and cluster security', () => {
  let nodes: GarageProcess[] = [];
  let ids: string[] = [];
  let keyId = '';
  let secret = '';
  let intruder: GarageProcess | undefined;

  before(async () => {
    ({ nodes, ids, keyId, secret } = await startCluster([
      { zone: 'a', capacity: 10 },
      { zone: 'b', capacity: 10 },
      { zone: 'c', capacity: 10 },
      { zone: 'a', capacity: null },
    ]));
  });
  after(async () => {
    await Promise.all([...nodes, ...(intruder ? [intruder] : [])].map((n) => n.destroy()));
  });

  it('a gateway serves S3 for the cluster and stores no data', async () => {
    const gw = s3Client(nodes[3]!, keyId, secret);
    try {
      const objects = new Map<string, Buffer>();
      for (let i = 0; i < 6; i++) {
        const data = randomBytes(i % 2 ? 1_300_000 : 200);
        await gw.send(new PutObjectCommand({ Bucket: 'cluster', Key: `gw-${i}`, Body: data }));
        objects.set(`gw-${i}`, data);
      }
      for (const [k, v] of objects) {
        assert.ok((await getBytes(gw, 'cluster', k)).equals(v));
      }
      assert.equal((await gw.send(new ListObjectsV2Command({ Bucket: 'cluster' }))).KeyCount, 6);
      const stats = await nodes[3]!.cliOk('stats');
      assert.match(stats, /Blocks stored here: 0/);
      assert.match(stats, /^object\s+0\s/m, 'the gateway holds no object rows');
      assert.match(await nodes[0]!.cliOk('status'), /gateway/);
    } finally {
      gw.destroy();
    }
  });

  it('a node with another rpc_secret cannot join or read anything', async () => {
    intruder = await GarageProcess.create('', { replicationMode: '3', rpcSecret: randomBytes(32).toString('hex') });
    await intruder.start(FAST_ENV);
    const r = await intruder.cli('node', 'connect', ids[0]!);
    assert.notEqual(r.code, 0, 'connecting with the wrong secret fails');
    const [intruderId] = await nodeIds([intruder]);
    const status = await nodes[0]!.cliOk('status');
    assert.doesNotMatch(status, new RegExp(intruderId!.slice(0, 16)));
    await waitFor('the refusal to be logged', () => /rpc_secret/.test(nodes[0]!.log));
    // The CLI with the wrong secret cannot talk to a member either.
    const cli = await intruder.cli('--rpc-host', ids[0]!, 'bucket', 'list');
    assert.notEqual(cli.code, 0);
    assert.doesNotMatch(cli.stdout, /cluster/);
  });

  it("a node cannot be reached under another node's id", async () => {
    // Dial node 1's address while claiming it is node 0: the TLS identity check refuses it.
    const forged = `${ids[0]!.split('@')[0]}@${ids[1]!.split('@')[1]}`;
    const r = await nodes[2]!.cli('--rpc-host', forged, 'status');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /cannot reach/);
  });
});
