import './quiet_logs.ts';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetApp } from '../../src/net/netapp.ts';
import { generateEphemeralKey, type NodeKey } from '../../src/net/node_key.ts';

/** The cluster secret shared by test nodes. */
export const SECRET = randomBytes(32);

/** A listening test node. */
export interface TestNode {
  app: NetApp;
  port: number;
  addr: string;
  key: NodeKey;
}

/** Starts a NetApp listening on a free loopback port. */
export async function startNode(
  opts: { secret?: Buffer; key?: NodeKey; port?: number; window?: number } = {},
): Promise<TestNode> {
  const key = opts.key ?? generateEphemeralKey();
  const app = new NetApp({
    key,
    rpcSecret: opts.secret ?? SECRET,
    ...(opts.window ? { streamWindowBytes: opts.window } : {}),
  });
  const { port } = await app.listen(`127.0.0.1:${opts.port ?? 0}`);
  return { app, port, addr: `127.0.0.1:${port}`, key };
}

/** A byte source producing `total` bytes on demand; `produced()` tells how much it generated so far. */
export function generator(
  total: number,
  chunkSize = 64 * 1024,
): { stream: Readable; produced: () => number; hash: () => string; destroyed: () => boolean } {
  let produced = 0;
  const h = createHash('sha256');
  // One random block reused with a varying first byte: cheap, yet corruption or reordering shows in the hash.
  const block = randomBytes(chunkSize);
  let n = 0;
  const stream = new Readable({
    highWaterMark: chunkSize,
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const len = Math.min(chunkSize, total - produced);
      const c = Buffer.from(block.subarray(0, len));
      c[0] = n++ & 0xff;
      produced += len;
      h.update(c);
      this.push(c);
    },
  });
  return { stream, produced: () => produced, hash: () => h.copy().digest('hex'), destroyed: () => stream.destroyed };
}

/** Reads a stream to its end, returning its size and sha256. */
export async function consume(stream: Readable): Promise<{ bytes: number; hash: string }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of stream) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { bytes, hash: h.digest('hex') };
}

/** Polls `cond` until true, failing after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Resolves when `emitter` emits `event` (with a deadline). */
export function nextEvent<T extends unknown[]>(
  emitter: { once(ev: string, fn: (...a: T) => void): unknown },
  event: string,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
    emitter.once(event, (...a: T) => {
      clearTimeout(t);
      resolve(a);
    });
  });
}
