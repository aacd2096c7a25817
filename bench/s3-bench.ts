// S3 throughput and ops/s against a real single node started here.
// Usage: npx node bench/s3-bench.ts [--big-mib 64] [--small-ops 2000]
// Prints: PUT/GET MB/s for big objects at 1 and 8 clients, 4 KiB PUT/GET ops/s at 32 clients.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { benchClient, timed } from './lib.ts';
import { GarageProcess, quickStart } from '../test/integration/harness.ts';

const { values } = parseArgs({
  options: { 'big-mib': { type: 'string', default: '64' }, 'small-ops': { type: 'string', default: '2000' } },
});
const BIG = Number(values['big-mib']) * 1024 * 1024;
const SMALL_OPS = Number(values['small-ops']);

const g = await GarageProcess.create();
try {
  const { keyId, secret } = await quickStart(g, 'bench');
  const s3 = benchClient(g.endpoint, keyId, secret);
  const big = randomBytes(BIG);
  const results: Record<string, string> = {};
  for (const clients of [1, 8]) {
    const n = clients;
    const put = await timed(
      n,
      clients,
      async (i) =>
        void (await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `big-${clients}-${i}`, Body: big }))),
    );
    results[`PUT ${BIG >> 20} MiB x${clients} clients`] = `${((n * BIG) / 1e6 / put).toFixed(1)} MB/s`;
    const get = await timed(n, clients, async (i) => {
      const r = await s3.send(new GetObjectCommand({ Bucket: 'bench', Key: `big-${clients}-${i}` }));
      for await (const _ of r.Body as AsyncIterable<Uint8Array>) void _;
    });
    results[`GET ${BIG >> 20} MiB x${clients} clients`] = `${((n * BIG) / 1e6 / get).toFixed(1)} MB/s`;
  }
  const small = randomBytes(4096);
  const sput = await timed(
    SMALL_OPS,
    32,
    async (i) => void (await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `small/${i}`, Body: small }))),
  );
  results['PUT 4 KiB x32 clients'] = `${(SMALL_OPS / sput).toFixed(0)} ops/s`;
  const sget = await timed(SMALL_OPS, 32, async (i) => {
    const r = await s3.send(new GetObjectCommand({ Bucket: 'bench', Key: `small/${i}` }));
    await r.Body!.transformToByteArray();
  });
  results['GET 4 KiB x32 clients'] = `${(SMALL_OPS / sget).toFixed(0)} ops/s`;
  s3.destroy();
  for (const [k, v] of Object.entries(results)) process.stdout.write(`${k.padEnd(28)} ${v}\n`);
} finally {
  await g.destroy();
}
