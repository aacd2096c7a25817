// Latency of S3 calls on a 5-node cluster whose node-to-node links have a simulated WAN
// round trip (default 100 ms ± 20 ms), measured one request at a time and expressed in RTTs.
// Each node's rpc_public_addr points at a delaying relay in front of its RPC port.
// Usage: npx node bench/wan-latency.ts [--rtt 100] [--jitter 20] [--n 15]
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:net';
import {
  S3Client,
  ListBucketsCommand,
  ListObjectsV2Command,
  GetObjectCommand,
  PutObjectCommand,
  DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { GarageProcess, freePort, nodeIds, waitFor, FAST_ENV } from '../test/integration/harness.ts';
import { startRelay } from './wan-relay.ts';

const { values } = parseArgs({
  options: {
    rtt: { type: 'string', default: '100' },
    jitter: { type: 'string', default: '20' },
    n: { type: 'string', default: '15' },
  },
});
const RTT = Number(values.rtt);
const JITTER = Number(values.jitter);
const N = Number(values.n);

const nodes: GarageProcess[] = [];
const relays: Server[] = [];
try {
  const secret = randomBytes(32).toString('hex');
  for (let i = 0; i < 5; i++) {
    const relayPort = await freePort();
    const g = await GarageProcess.create('', { replicationMode: '3', rpcSecret: secret, rpcPublicPort: relayPort });
    relays.push(
      await startRelay({ listenPort: relayPort, targetPort: g.rpcPort, delayMs: RTT / 2, jitterMs: JITTER / 2 }),
    );
    nodes.push(g);
  }
  await Promise.all(nodes.map((n) => n.start({ GARAGE_PING_INTERVAL_MS: FAST_ENV.GARAGE_PING_INTERVAL_MS })));
  const ids = await nodeIds(nodes);
  for (let i = 1; i < 5; i++) await nodes[i]!.cliOk('node', 'connect', ids[0]!);
  for (let i = 0; i < 5; i++) await nodes[0]!.cliOk('layout', 'assign', '-z', `z${i}`, '-c', '1', ids[i]!.slice(0, 16));
  await nodes[0]!.cliOk('layout', 'apply');
  await waitFor(
    'layout everywhere',
    async () => {
      for (const n of nodes) if (!/version: 1/.test(await n.cliOk('layout', 'show'))) return false;
      return true;
    },
    60_000,
  );
  await nodes[0]!.cliOk('bucket', 'create', 'wan');
  const key = await nodes[0]!.cliOk('key', 'new', '--name', 'wan');
  const keyId = /Key ID: (GK\w+)/.exec(key)![1]!;
  const secretKey = /Secret key: (\w+)/.exec(key)![1]!;
  await nodes[0]!.cliOk('bucket', 'allow', '--read', '--write', 'wan', '--key', keyId);
  // The client talks to node 0 directly (a client next to its gateway); only node-to-node links are slow.
  const s3 = new S3Client({
    endpoint: nodes[0]!.endpoint,
    region: 'garage',
    forcePathStyle: true,
    credentials: { accessKeyId: keyId, secretAccessKey: secretKey },
  });
  await waitFor(
    'the key to be usable',
    async () =>
      await s3.send(new ListBucketsCommand({})).then(
        () => true,
        () => false,
      ),
    60_000,
  );
  const body = randomBytes(1024);
  for (let i = 0; i < 5; i++) await s3.send(new PutObjectCommand({ Bucket: 'wan', Key: `warm-${i}`, Body: body }));

  const ops: [string, (i: number) => Promise<unknown>][] = [
    ['ListBuckets', () => s3.send(new ListBucketsCommand({}))],
    ['ListObjectsV2', () => s3.send(new ListObjectsV2Command({ Bucket: 'wan' }))],
    ['PutObject', (i) => s3.send(new PutObjectCommand({ Bucket: 'wan', Key: `k-${i}`, Body: body }))],
    [
      'GetObject',
      async (i) => (await s3.send(new GetObjectCommand({ Bucket: 'wan', Key: `k-${i}` }))).Body!.transformToByteArray(),
    ],
    ['DeleteObject', (i) => s3.send(new DeleteObjectCommand({ Bucket: 'wan', Key: `k-${i}` }))],
  ];
  process.stdout.write(
    `5 nodes, 5 zones, replication 3, node-to-node RTT ${RTT} ms ± ${JITTER} ms (one request at a time, ${N} each)\n`,
  );
  for (const [name, op] of ops) {
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await op(i);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)]!;
    process.stdout.write(
      `${name.padEnd(14)} median ${med.toFixed(1).padStart(7)} ms = ${(med / RTT).toFixed(2)} RTT   (min ${times[0]!.toFixed(1)}, max ${times[times.length - 1]!.toFixed(1)})\n`,
    );
  }
  s3.destroy();
} finally {
  await Promise.all(nodes.map((n) => n.destroy()));
  for (const r of relays) r.close();
}
