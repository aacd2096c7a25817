// Throughput of a 3-node cluster (3 zones, 3 replicas) on loopback next to one node, in the same run.
// Usage: npx node bench/cluster-bench.ts [--big-mib 64] [--small-ops 1000]
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Agent } from 'node:http';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { timed } from './lib.ts';
import { GarageProcess, quickStart, startCluster } from '../test/integration/harness.ts';

const { values } = parseArgs({
  options: { 'big-mib': { type: 'string', default: '64' }, 'small-ops': { type: 'string', default: '1000' } },
});
const BIG = Number(values['big-mib']) * 1024 * 1024;
const SMALL_OPS = Number(values['small-ops']);

async function measure(
  endpoint: string,
  bucket: string,
  keyId: string,
  secret: string,
): Promise<Record<string, string>> {
  const s3 = new S3Client({
    endpoint,
    region: 'garage',
    forcePathStyle: true,
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
  const r: Record<string, string> = {};
  const big = randomBytes(BIG);
  const put = await timed(
    1,
    1,
    async () => void (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'big', Body: big }))),
  );
  r[`PUT ${BIG >> 20} MiB`] = `${(BIG / 1e6 / put).toFixed(1)} MB/s`;
  const get = await timed(1, 1, async () => {
    const o = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'big' }));
    for await (const _ of o.Body as AsyncIterable<Uint8Array>) void _;
  });
  r[`GET ${BIG >> 20} MiB`] = `${(BIG / 1e6 / get).toFixed(1)} MB/s`;
  const small = randomBytes(4096);
  const sp = await timed(
    SMALL_OPS,
    32,
    async (i) => void (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `s/${i}`, Body: small }))),
  );
  r['PUT 4 KiB x32'] = `${(SMALL_OPS / sp).toFixed(0)} ops/s`;
  const sg = await timed(
    SMALL_OPS,
    32,
    async (i) =>
      void (await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `s/${i}` }))
      ).Body!.transformToByteArray()),
  );
  r['GET 4 KiB x32'] = `${(SMALL_OPS / sg).toFixed(0)} ops/s`;
  s3.destroy();
  return r;
}

const single = await GarageProcess.create();
let one: Record<string, string>;
try {
  const c = await quickStart(single, 'bench');
  one = await measure(single.endpoint, 'bench', c.keyId, c.secret);
} finally {
  await single.destroy();
}
const cluster = await startCluster(
  [
    { zone: 'a', capacity: 1 },
    { zone: 'b', capacity: 1 },
    { zone: 'c', capacity: 1 },
  ],
  { bucket: 'bench' },
);
let three: Record<string, string>;
try {
  three = await measure(cluster.nodes[0]!.endpoint, 'bench', cluster.keyId, cluster.secret);
} finally {
  await Promise.all(cluster.nodes.map((n) => n.destroy()));
}
process.stdout.write(`${'operation'.padEnd(16)} ${'1 node'.padStart(14)} ${'3 nodes (rf 3)'.padStart(16)}\n`);
for (const k of Object.keys(one))
  process.stdout.write(`${k.padEnd(16)} ${one[k]!.padStart(14)} ${three[k]!.padStart(16)}\n`);
