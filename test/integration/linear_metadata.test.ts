import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  PutObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  CompleteMultipartUploadCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { type GarageProcess, getBytes, useNode } from './harness.ts';

const MiB = 1024 * 1024;

/** Row counts per table from `garage stats`. */
async function rows(g: GarageProcess): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of (await g.cliOk('stats')).matchAll(/^(\w+)\s+(\d+)\s+\d+\s+[0-9a-f]{16}$/gm))
    out[m[1]!] = Number(m[2]);
  return out;
}

describe('metadata stays linear in the size of an upload (many small rows, no growing record)', () => {
  let g: GarageProcess;
  let s3: S3Client;

  const node = useNode('linear');
  before(() => ({ g, s3 } = node));

  it('a 96 MiB object is one header and three rows of 32 blocks', async () => {
    const data = randomBytes(96 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'linear', Key: 'big', Body: data }));
    const r = await rows(g);
    assert.equal(r.version, 1 + 3);
    assert.equal(r.block_ref, 96);
    assert.ok((await getBytes(s3, 'linear', 'big')).equals(data));
  });

  it('a 12-part upload writes one row per part in the mpu table and one block group per part', async () => {
    const before = await rows(g);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'linear', Key: 'parts' }));
    const parts = [];
    const chunks: Buffer[] = [];
    for (let i = 1; i <= 12; i++) {
      const body = randomBytes(5 * MiB);
      chunks.push(body);
      const p = await s3.send(
        new UploadPartCommand({ Bucket: 'linear', Key: 'parts', UploadId, PartNumber: i, Body: body }),
      );
      parts.push({ PartNumber: i, ETag: p.ETag });
    }
    const during = await rows(g);
    assert.equal(during.mpu! - before.mpu!, 1 + 12, 'an mpu header and one row per part');
    assert.equal(during.version! - before.version!, 1 + 12, 'a version header and one block group per part');
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'linear',
        Key: 'parts',
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    assert.ok((await getBytes(s3, 'linear', 'parts')).equals(Buffer.concat(chunks)));
  });

  it('compresses compressible blocks with zstd and stores incompressible ones as they are', async () => {
    const text = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(100_000)).subarray(0, 3 * MiB);
    const noise = randomBytes(3 * MiB);
    await s3.send(new PutObjectCommand({ Bucket: 'linear', Key: 'text', Body: text }));
    await s3.send(new PutObjectCommand({ Bucket: 'linear', Key: 'noise', Body: noise }));
    const files = (dir: string): string[] =>
      readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile())
        .map((d) => d.name);
    const names = files(join(g.dir, 'data'));
    const hashesOf = (b: Buffer) =>
      [0, 1, 2].map((i) =>
        createHash('sha256')
          .update(b.subarray(i * MiB, (i + 1) * MiB))
          .digest('hex'),
      );
    for (const h of hashesOf(text)) assert.ok(names.includes(`${h}.zst`), 'text blocks are stored compressed');
    for (const h of hashesOf(noise)) assert.ok(names.includes(h), 'random blocks are stored raw');
    assert.ok((await getBytes(s3, 'linear', 'text')).equals(text));
  });
});
