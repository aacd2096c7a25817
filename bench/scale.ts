// One bucket filled to 10 thousand, 100 thousand and 1 million objects (10 million with
// --max 1e7); at each size: PUT and GET latency (sequential, so no queueing), ListObjectsV2
// timings (first page, a deep page, the root with a delimiter, a prefix with a delimiter), the
// metadata size on disk and the node's RSS. Every figure should stay flat as the bucket grows.
// Usage: npm run bench:scale -- [--max 1e6] [--concurrency 32] [--size 200]
// Keys: p<0-2>/s<00-99>/k<8 digits>: 3 prefixes at the root, 100 under each.
import { statSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GarageProcess, quickStart } from '../test/integration/harness.ts';
import { signer } from './sigv4.ts';

const { values } = parseArgs({
  options: {
    max: { type: 'string', default: '1e6' },
    concurrency: { type: 'string', default: '32' },
    size: { type: 'string', default: '200' },
  },
});
const MAX = Number(values.max);
const CONCURRENCY = Number(values.concurrency);
const BODY = Buffer.alloc(Number(values.size), 'x');
const STEPS = [1e4, 1e5, 1e6, 1e7].filter((n) => n <= MAX);
const BUCKET = 'scale';

const g = await GarageProcess.create();
await g.start();
const { keyId, secret } = await quickStart(g, BUCKET);
const host = `127.0.0.1:${g.s3Port}`;
const sign = signer({ host, region: 'garage', keyId, secret });
const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function key(i: number): string {
  return `p${i % 3}/s${String(Math.floor(i / 3) % 100).padStart(2, '0')}/k${String(i).padStart(8, '0')}`;
}

/** One signed request; resolves with the status and body, rejects on a transport error. */
function send(method: string, path: string, query = '', body?: Buffer): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { ...sign(method, path, query) };
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = request(
      { host: '127.0.0.1', port: g.s3Port, method, path: query ? `${path}?${query}` : path, headers, agent },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

async function ok(method: string, path: string, query = '', body?: Buffer): Promise<string> {
  const r = await send(method, path, query, body);
  if (r.status !== 200) throw new Error(`${method} ${path}?${query}: ${r.status} ${r.body.slice(0, 300)}`);
  return r.body;
}

const put = (i: number) => ok('PUT', `/${BUCKET}/${key(i)}`, '', BODY);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Latencies in ms of `n` sequential calls, sorted. */
async function latencies(n: number, op: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await op(i);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

/** Median time in ms of a listing, and how many keys and prefixes it returned. */
async function listing(query: string): Promise<{ ms: number; items: number }> {
  let items = 0;
  const times = await latencies(5, async () => {
    const xml = await ok('GET', `/${BUCKET}`, query);
    items = (xml.match(/<Key>/g)?.length ?? 0) + (xml.match(/<CommonPrefixes>/g)?.length ?? 0);
  });
  return { ms: pct(times, 0.5), items };
}

// RSS, and its file-backed part (the LMDB map among it: pages the kernel may drop).
function rss(): string {
  const status = readFileSync(`/proc/${g.proc!.pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return `${(kib('VmRSS') / 1024).toFixed(0)} (${(kib('RssFile') / 1024).toFixed(0)} file)`;
}

const rows: string[] = [];
let filled = 0;
try {
  for (const target of STEPS) {
    let next = filled;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < target) await put(next++);
      }),
    );
    const fillRate = (target - filled) / ((performance.now() - t0) / 1000);
    filled = target;
    // Overwrites of existing keys and reads of random ones: the bucket keeps its size.
    const spread = (i: number) => (i * 7919) % target;
    const putLat = await latencies(500, (i) => put(spread(i)));
    const getLat = await latencies(1000, (i) => ok('GET', `/${BUCKET}/${key(spread(i + 13))}`));
    const first = await listing('list-type=2&max-keys=1000');
    const deep = await listing('list-type=2&max-keys=1000&start-after=p1%2Fs50%2F');
    const root = await listing('delimiter=%2F&list-type=2');
    const sub = await listing('delimiter=%2F&list-type=2&prefix=p1%2F');
    const meta = statSync(join(g.dir, 'meta', 'db.lmdb', 'data.mdb')).blocks * 512;
    const f = (x: number) => x.toFixed(1);
    const row = `| ${target.toLocaleString('en-US')} | ${f(pct(putLat, 0.5))} / ${f(pct(putLat, 0.99))} | ${f(pct(getLat, 0.5))} / ${f(pct(getLat, 0.99))} | ${f(first.ms)} (${Math.round((first.items / first.ms) * 1000).toLocaleString('en-US')} keys/s) | ${f(deep.ms)} | ${f(root.ms)} (${root.items}) | ${f(sub.ms)} (${sub.items}) | ${f(meta / 2 ** 20)} | ${rss()} | ${Math.round(fillRate).toLocaleString('en-US')} |`;
    rows.push(row);
    console.log(row);
  }
} finally {
  await g.destroy();
}
console.log(
  '\n| objects | PUT ms p50 / p99 | GET ms p50 / p99 | first page of 1,000 ms | deep page ms | root, delimiter / ms (prefixes) | prefix p1/, delimiter / ms (prefixes) | metadata MiB | RSS MiB (file-backed part: LMDB map, binaries) | fill PUT/s |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
