import type { Tx } from '../db/db.ts';
import { z } from 'zod';
import { encodeVersioned, decodeRow, zBytes } from '../util/codec.ts';
import type { TableSchema } from '../table/schema.ts';

/**
 * Rows of one multipart upload (partition key = upload id = the object version uuid).
 * The header has an empty sort key; each finished part upload is its own row keyed by
 * (part number, upload timestamp), so 10,000 parts cost 10,000 small writes.
 */
export interface MpuEntry {
  uploadId: Buffer;
  sk: Buffer;
  deleted: boolean;
  header?: { bucketId: Buffer; key: string; created: number };
  part?: { etag: string; size: number; checksum?: string };
}

/** The sort key of a part row. */
export function partKey(part: number, ts: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(part, 0);
  b.writeBigUInt64BE(BigInt(ts), 4);
  return b;
}

/** Decodes a part row's sort key. */
export function parsePartKey(sk: Buffer): { part: number; ts: number } {
  return { part: sk.readUInt32BE(0), ts: Number(sk.readBigUInt64BE(4)) };
}

export interface MpuHooks {
  deleteParts(tx: Tx, uploadId: Buffer): void;
  headerDeleted(tx: Tx, uploadId: Buffer): boolean;
}

type Row = [Buffer, Buffer, boolean, [Buffer, string, number] | null, [string, number, string | null] | null];

const zRow: z.ZodType<Row> = z.tuple([
  zBytes,
  zBytes,
  z.boolean(),
  z.tuple([zBytes, z.string(), z.number()]).nullable(),
  z.tuple([z.string(), z.number(), z.string().nullable()]).nullable(),
]);

/** The mpu table schema. */
export function mpuSchema(hooks: MpuHooks): TableSchema<MpuEntry> {
  return {
    name: 'mpu',
    replication: 'sharded',
    partitionKey: (e) => e.uploadId,
    sortKey: (e) => e.sk,
    encode: (e) =>
      encodeVersioned(1, [
        e.uploadId,
        e.sk,
        e.deleted,
        e.header ? [e.header.bucketId, e.header.key, e.header.created] : null,
        e.part ? [e.part.etag, e.part.size, e.part.checksum ?? null] : null,
      ] satisfies Row),
    decode: (b) => {
      const [uploadId, sk, deleted, h, p] = decodeRow(1, b, 'mpu', zRow);
      return {
        uploadId,
        sk,
        deleted,
        header: h ? { bucketId: h[0], key: h[1], created: h[2] } : undefined,
        part: p ? { etag: p[0], size: p[1], checksum: p[2] ?? undefined } : undefined,
      };
    },
    merge: (a, b) => ({
      uploadId: a.uploadId,
      sk: a.sk,
      deleted: a.deleted || b.deleted,
      header: a.header ?? b.header,
      part: a.deleted || b.deleted ? undefined : (a.part ?? b.part),
    }),
    isTombstone: (e) => e.deleted,
    fixup: (tx, e) =>
      e.sk.length > 0 && !e.deleted && hooks.headerDeleted(tx, e.uploadId)
        ? { ...e, deleted: true, part: undefined }
        : e,
    updated: (tx, old, cur) => {
      if (cur.sk.length === 0 && cur.deleted && !old?.deleted) hooks.deleteParts(tx, cur.uploadId);
    },
  };
}
