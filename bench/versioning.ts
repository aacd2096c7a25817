// The cost of versioning on one node: the same workload on a bucket never versioned and on a
// versioned one, alternated over rounds. Each round overwrites every key `--versions` times
// (a versioned bucket then keeps that many versions per key), then reads and lists.
// Usage: npx node bench/versioning.ts [--keys 1000] [--versions 4] [--rounds 2]
// Prints per bucket: 4 KiB PUT and GET ops/s at 32 clients, the time of a full ListObjectsV2
// (pages of 1,000) and, in the versioned bucket, of a full ListObjectVersions; the versioned
// figure relative to the plain one.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
} from '@aws-sdk/client-s3';
import { benchClient, timed } from './lib.ts';
import { GarageProcess, quickStart } from '../test/integration/harness.ts';

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000' },
    versions: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
  },
});
const KEYS = Number(values.keys);
const VERSIONS = Number(values.versions);
const ROUNDS = Number(values.rounds);
const body = randomBytes(4096);

/** Median of a list of figures. */
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const g = await GarageProcess.create();
try {
  const { keyId, secret } = await quickStart(g, 'plain');
  await g.cliOk('key', 'allow', '--create-bucket', keyId);
  const s3 = benchClient(g.endpoint, keyId, secret);
  await s3.send(new CreateBucketCommand({ Bucket: 'versioned' }));
  await s3.send(
    new PutBucketVersioningCommand({ Bucket: 'versioned', VersioningConfiguration: { Status: 'Enabled' } }),
  );
  const figures = new Map<string, number[]>();
  const add = (name: string, v: number) => figures.set(name, [...(figures.get(name) ?? []), v]);
  const listAll = async (bucket: string, versions: boolean) => {
    const t0 = performance.now();
    let token: string | undefined;
    let km: string | undefined;
    let vm: string | undefined;
    for (;;) {
      if (versions) {
        const r = await s3.send(
          new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: km, VersionIdMarker: vm, MaxKeys: 1000 }),
        );
        if (!r.IsTruncated) break;
        km = r.NextKeyMarker;
        vm = r.NextVersionIdMarker;
      } else {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token, MaxKeys: 1000 }));
        if (!r.IsTruncated) break;
        token = r.NextContinuationToken;
      }
    }
    return performance.now() - t0;
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const bucket of round % 2 ? ['versioned', 'plain'] : ['plain', 'versioned']) {
      const n = KEYS * VERSIONS;
      const put = await timed(
        n,
        32,
        async (i) => void (await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k/${i % KEYS}`, Body: body }))),
      );
      add(`${bucket} PUT 4 KiB x32 (ops/s)`, n / put);
      const get = await timed(KEYS, 32, async (i) => {
        const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `k/${i}` }));
        await r.Body!.transformToByteArray();
      });
      add(`${bucket} GET 4 KiB x32 (ops/s)`, KEYS / get);
      add(`${bucket} ListObjectsV2, all keys (ms)`, await listAll(bucket, false));
      if (bucket === 'versioned') add('versioned ListObjectVersions, all (ms)', await listAll(bucket, true));
    }
  }
  s3.destroy();
  process.stdout.write(`${KEYS} keys, ${VERSIONS} writes per key per round, ${ROUNDS} rounds (medians)\n`);
  for (const [name, xs] of figures) process.stdout.write(`${name.padEnd(42)} ${median(xs).toFixed(0)}\n`);
  for (const op of ['PUT 4 KiB x32 (ops/s)', 'GET 4 KiB x32 (ops/s)', 'ListObjectsV2, all keys (ms)']) {
    const ratio = median(figures.get(`versioned ${op}`)!) / median(figures.get(`plain ${op}`)!);
    process.stdout.write(`versioned / plain, ${op.padEnd(28)} ${ratio.toFixed(2)}\n`);
  }
} finally {
  await g.destroy();
}
