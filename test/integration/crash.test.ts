import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import {
  type S3Client,
  PutObjectCommand,
  GetObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  ListMultipartUploadsCommand,
  AbortMultipartUploadCommand,
  HeadObjectCommand,
} from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { type GarageProcess, waitFor, s3Client, getBytes, countFiles, useNode } from './harness.ts';

/** A body that sends `data` in 256 KiB pieces and calls `onProgress` with the bytes sent so far. */
function slowBody(data: Buffer, onProgress: (sent: number) => void): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null);
        return;
      }
      const piece = data.subarray(off, off + 256 * 1024);
      off += piece.length;
      onProgress(off);
      setTimeout(() => this.push(piece), 5);
    },
  });
}

describe('crash safety: SIGKILL at any instant loses nothing acknowledged and shows nothing partial', () => {
  let g: GarageProcess;
  let s3: S3Client;
  let creds: { keyId: string; secret: string };

  // Unreferenced blocks go after 300 ms instead of 10 min, in every run of this node.
  const node = useNode('crash', { env: { GARAGE_BLOCK_GC_DELAY_MS: '300' } });
  before(() => {
    ({ g, s3 } = node);
    creds = { keyId: node.keyId, secret: node.secret };
  });

  async function restart(): Promise<void> {
    await g.kill('SIGKILL');
    await g.start();
    s3.destroy();
    s3 = s3Client(g, creds.keyId, creds.secret);
    await waitFor(
      'S3 to answer after restart',
      async () =>
        (await s3.send(new HeadObjectCommand({ Bucket: 'crash', Key: 'acked-0' })).catch(() => undefined)) !==
        undefined,
      30_000,
    );
  }

  it('keeps every acknowledged PUT and the old version across a kill during a large PUT', async () => {
    const acked = new Map<string, Buffer>();
    for (let i = 0; i < 10; i++) {
      const data = randomBytes(i % 2 ? 100 : 1_500_000 + i);
      await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: `acked-${i}`, Body: data }));
      acked.set(`acked-${i}`, data);
    }
    const old = randomBytes(3 * 1024 * 1024 + 7);
    await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: 'overwritten', Body: old }));

    const big = randomBytes(48 * 1024 * 1024);
    let killed: Promise<void> | undefined;
    const onProgress = (sent: number) => {
      if (sent >= 20 * 1024 * 1024 && !killed) killed = g.kill('SIGKILL');
    };
    const puts = Promise.allSettled([
      s3.send(
        new PutObjectCommand({
          Bucket: 'crash',
          Key: 'overwritten',
          Body: slowBody(big, onProgress),
          ContentLength: big.length,
        }),
      ),
      s3.send(
        new PutObjectCommand({
          Bucket: 'crash',
          Key: 'fresh',
          Body: slowBody(big, () => undefined),
          ContentLength: big.length,
        }),
      ),
    ]);
    const results = await puts;
    await killed;
    assert.ok(
      results.every((r) => r.status === 'rejected'),
      'the interrupted PUTs were not acknowledged',
    );

    await restart();
    for (const [k, v] of acked) assert.ok((await getBytes(s3, 'crash', k)).equals(v), `${k} intact after the kill`);
    assert.ok(
      (await getBytes(s3, 'crash', 'overwritten')).equals(old),
      'the previous version is still the visible one',
    );
    await assert.rejects(
      s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'fresh' })),
      (e: Error) => e.name === 'NoSuchKey',
    );
    // The node keeps serving writes.
    await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: 'after', Body: 'ok' }));
    assert.equal((await getBytes(s3, 'crash', 'after')).toString(), 'ok');
  });

  it('shows nothing of a multipart upload killed mid-part, and the upload can be finished or aborted after restart', async () => {
    const part1 = randomBytes(5 * 1024 * 1024);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: 'mpu' }));
    const p1 = await s3.send(
      new UploadPartCommand({ Bucket: 'crash', Key: 'mpu', UploadId, PartNumber: 1, Body: part1 }),
    );
    const part2 = randomBytes(16 * 1024 * 1024);
    let killed: Promise<void> | undefined;
    const r = await Promise.allSettled([
      s3.send(
        new UploadPartCommand({
          Bucket: 'crash',
          Key: 'mpu',
          UploadId,
          PartNumber: 2,
          Body: slowBody(part2, (sent) => {
            if (sent >= 6 * 1024 * 1024 && !killed) killed = g.kill('SIGKILL');
          }),
          ContentLength: part2.length,
        }),
      ),
    ]);
    await killed;
    assert.equal(r[0]!.status, 'rejected');

    await restart();
    await assert.rejects(
      s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'mpu' })),
      (e: Error) => e.name === 'NoSuchKey',
    );
    const list = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'crash' }));
    assert.ok(
      list.Uploads?.some((u) => u.UploadId === UploadId),
      'the upload is still listed',
    );
    // Complete with the part that was acknowledged: exactly those bytes become visible.
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'crash',
        Key: 'mpu',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag }] },
      }),
    );
    assert.ok((await getBytes(s3, 'crash', 'mpu')).equals(part1));

    const { UploadId: u2 } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'crash', Key: 'mpu2' }));
    await s3.send(new UploadPartCommand({ Bucket: 'crash', Key: 'mpu2', UploadId: u2, PartNumber: 1, Body: part1 }));
    await restart();
    await s3.send(new AbortMultipartUploadCommand({ Bucket: 'crash', Key: 'mpu2', UploadId: u2 }));
    const after = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'crash' }));
    assert.ok(!after.Uploads?.some((u) => u.UploadId === u2), 'aborted upload is gone');
    await assert.rejects(
      s3.send(new GetObjectCommand({ Bucket: 'crash', Key: 'mpu2' })),
      (e: Error) => e.name === 'NoSuchKey',
    );
  });

  it('frees what interrupted uploads wrote once they are stale', async () => {
    await g.kill('SIGKILL');
    await g.start({ GARAGE_STALE_UPLOAD_AGE_MS: '0', GARAGE_GC_INTERVAL_MS: '300', GARAGE_TOMBSTONE_GC_DELAY_MS: '0' });
    s3.destroy();
    s3 = s3Client(g, creds.keyId, creds.secret);
    // Live objects: acked-0…9 (five of 2 blocks, five inline), overwritten (4 blocks), after (inline), mpu (5 blocks).
    let last = '';
    await waitFor(
      'only the blocks and rows of live objects to remain',
      async () => {
        const s = await g.cliOk('stats');
        last = `${s}\nfiles: ${countFiles(join(g.dir, 'data'))}`;
        return /^object\s+13\s/m.test(s) && countFiles(join(g.dir, 'data')) === 19;
      },
      60_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${last}`);
    });
    assert.ok((await getBytes(s3, 'crash', 'overwritten')).length > 0);
  });
});
