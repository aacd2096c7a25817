// Transport figures (not a test: prints numbers, asserts nothing about speed).
// Run: npx node test/net/transport_bench.ts [MiB]
// Two NetApps in this one process over loopback TLS 1.3, so one thread does
// both ends' encryption, framing and flow control.
import './quiet_logs.ts';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { startNode } from './helpers.ts';

const mib = Number(process.argv[2] ?? 256);
const total = mib * 1024 * 1024;

function source(n: number): Readable {
  const block = randomBytes(1024 * 1024);
  let sent = 0;
  return new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (sent >= n) return void this.push(null);
      const len = Math.min(block.length, n - sent);
      sent += len;
      this.push(block.subarray(0, len));
    },
  });
}

async function drain(s: Readable): Promise<number> {
  let n = 0;
  for await (const c of s) n += (c as Buffer).length;
  return n;
}

const a = await startNode();
const b = await startNode();
try {
  await b.app.connect(a.app.id, a.addr);
  a.app.register('sink', async (_f, _b, s) => ({ body: await drain(s!) }));
  a.app.register('source', async (_f, body) => ({ body: null, stream: source(body as number) }));
  a.app.register('ping', async (_f, body) => ({ body }));

  for (let i = 0; i < 200; i++) await b.app.call(a.app.id, 'ping', i); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < 5000; i++) {
    const t = performance.now();
    await b.app.call(a.app.id, 'ping', { i, key: 'some/object/key' });
    lat.push(performance.now() - t);
  }
  lat.sort((x, y) => x - y);
  const q = (p: number): string => (lat[Math.floor(lat.length * p)]! * 1000).toFixed(0);
  console.log(`small call latency (sequential, 5000 calls): p50 ${q(0.5)} µs, p90 ${q(0.9)} µs, p99 ${q(0.99)} µs`);

  let t = performance.now();
  const conc = 20_000;
  await Promise.all(Array.from({ length: conc }, (_, i) => b.app.call(a.app.id, 'ping', i)));
  console.log(`small calls, ${conc} concurrent: ${(conc / ((performance.now() - t) / 1000)).toFixed(0)} calls/s`);

  for (let round = 0; round < 2; round++) {
    t = performance.now();
    const up = await b.app.call(a.app.id, 'sink', null, { stream: source(total), priority: 'background' });
    const upMs = performance.now() - t;
    if (up.body !== total) throw new Error('short upload');
    t = performance.now();
    const down = await b.app.call(a.app.id, 'source', total, { priority: 'background' });
    const got = await drain(down.stream!);
    const downMs = performance.now() - t;
    if (got !== total) throw new Error('short download');
    console.log(
      `${mib} MiB request stream: ${(total / 1048576 / (upMs / 1000)).toFixed(0)} MiB/s; response stream: ${(total / 1048576 / (downMs / 1000)).toFixed(0)} MiB/s`,
    );
  }
} finally {
  await Promise.all([a.app.close(), b.app.close()]);
}
