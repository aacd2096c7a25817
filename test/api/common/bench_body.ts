// Throughput of verifiedBody on a 64 MiB body in each payload mode.
// Run: npx node test/api/common/bench_body.ts   (not part of the test suite)

import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { checksumBase64, type ChecksumAlgorithm } from '../../../src/api/common/checksum.ts';
import { verifiedBody } from '../../../src/api/common/signature/index.ts';
import { auth, encodeChunked, keyPath, request, sha256hex, signHead } from './sigv4_helpers.ts';

const SIZE = 64 << 20;
const data = randomBytes(SIZE);

function source(raw: Buffer): Readable {
  // 64 KiB pieces, like Node's HTTP parser delivers them.
  let off = 0;
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      if (off >= raw.length) return void this.push(null);
      this.push(raw.subarray(off, off + 65536));
      off += 65536;
    },
  });
}

async function bench(
  name: string,
  contentSha: string,
  extra: Record<string, string>,
  encode: (seed: string, amzDate: string) => Buffer,
): Promise<void> {
  const headers = { 'x-amz-content-sha256': contentSha, ...extra };
  const head = await signHead(request('PUT', keyPath('b', 'k'), { headers }));
  const a = await auth(head);
  const raw = encode(a.signing.seedSignature, a.signing.amzDate);
  head.headers['content-length'] = String(raw.length);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const vb = verifiedBody(source(raw), head, a);
    await pipeline(vb.stream, new Writable({ highWaterMark: 1 << 20, write: (_c, _e, cb) => cb() }));
    await vb.done;
    best = Math.min(best, performance.now() - t);
  }
  console.log(`${name.padEnd(58)} ${(SIZE / (1 << 20) / (best / 1000)).toFixed(0).padStart(5)} MiB/s`);
}

const streamingHeaders = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(SIZE) };
const crc = (alg: ChecksumAlgorithm): [string, string] => [
  `x-amz-checksum-${alg.toLowerCase()}`,
  checksumBase64(alg, data),
];

await bench('UNSIGNED-PAYLOAD (md5)', 'UNSIGNED-PAYLOAD', {}, () => data);
await bench(
  'UNSIGNED-PAYLOAD + x-amz-checksum-crc32c header',
  'UNSIGNED-PAYLOAD',
  { [crc('CRC32C')[0]]: crc('CRC32C')[1] },
  () => data,
);
await bench('sha256 payload (md5 + sha256)', sha256hex(data), {}, () => data);
await bench(
  'sha256 payload + x-amz-checksum-crc32 header',
  sha256hex(data),
  { [crc('CRC32')[0]]: crc('CRC32')[1] },
  () => data,
);
await bench(
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD (64 KiB chunks)',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  streamingHeaders,
  (seed, amzDate) => encodeChunked(data, { chunkSize: 65536, signed: { seed, amzDate } }),
);
await bench(
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD (1 MiB chunks)',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  streamingHeaders,
  (seed, amzDate) => encodeChunked(data, { chunkSize: 1 << 20, signed: { seed, amzDate } }),
);
for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
  await bench(
    `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (${alg} trailer)`,
    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
    { ...streamingHeaders, 'x-amz-trailer': crc(alg)[0] },
    (seed, amzDate) => encodeChunked(data, { chunkSize: 65536, signed: { seed, amzDate }, trailers: [crc(alg)] }),
  );
}
for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA256'] as const) {
  await bench(
    `STREAMING-UNSIGNED-PAYLOAD-TRAILER (${alg} trailer)`,
    'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    { ...streamingHeaders, 'x-amz-trailer': crc(alg)[0] },
    () => encodeChunked(data, { chunkSize: 65536, trailers: [crc(alg)] }),
  );
}

// authenticate() cost per request (header auth, derived key cached).
{
  const head = await signHead(
    request('GET', keyPath('bucket', 'some/key é.txt'), {
      query: { 'x-id': 'GetObject' },
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    }),
  );
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    for (let i = 0; i < 20000; i++) await auth(head);
    best = Math.min(best, ((performance.now() - t) / 20000) * 1000);
  }
  console.log(`${'authenticate() (header auth)'.padEnd(58)} ${best.toFixed(1).padStart(5)} µs/request`);
}
