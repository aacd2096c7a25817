import { Agent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
/** Runs `op` n times with `concurrency` workers; returns the elapsed seconds. */
export async function timed(n: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return (performance.now() - t0) / 1000;
}

/** An SDK client for benches: path-style, keep-alive, enough sockets for 32 clients. */
export function benchClient(endpoint: string, keyId: string, secret: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'garage',
    forcePathStyle: true,
    credentials: { accessKeyId: keyId, secretAccessKey: secret },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}
