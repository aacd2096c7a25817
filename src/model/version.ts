import type { Tx } from '../db/db.ts';
import { z } from 'zod';
import { encodeVersioned, decodeRow, zBytes } from '../util/codec.ts';
import type { TableSchema } from '../table/schema.ts';

/** A block of a version: offset within its part, hash, plain size. */
export type BlockInfo = [offset: number, hash: Buffer, size: number];

/**
 * A part chosen at CompleteMultipartUpload: part number, upload timestamp, size, and the part's
 * checksum (base64, of the upload's algorithm) when the upload has one.
 */
export type ChosenPart = [part: number, partTs: number, size: number, checksum?: string];

/**
 * Rows of one version (partition key = version uuid). The row with an empty sort key is the
 * header; the others each hold up to GROUP_SIZE blocks of one part upload, so writing an
 * object of n blocks costs O(n) and no row is rewritten more than GROUP_SIZE times.
 */
export interface VersionEntry {
  uuid: Buffer;
  /** Empty for the header, else groupKey(part, partTs, seq). */
  sk: Buffer;
  deleted: boolean;
  /** Header only: where the version belongs, and the parts chosen on completion (multipart). */
  header?: { bucketId: Buffer; key: string; parts: ChosenPart[] | null };
  /** Group rows only, sorted by offset. */
  blocks: BlockInfo[];
}

export const GROUP_SIZE = 32;

/** The sort key of a block group row. */
export function groupKey(part: number, partTs: number, seq: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(part, 0);
  b.writeBigUInt64BE(BigInt(partTs), 4);
  b.writeUInt32BE(seq, 12);
  return b;
}

/** Decodes a group row's sort key. */
export function parseGroupKey(sk: Buffer): { part: number; partTs: number; seq: number } {
  return { part: sk.readUInt32BE(0), partTs: Number(sk.readBigUInt64BE(4)), seq: sk.readUInt32BE(12) };
}

function mergeBlocks(a: BlockInfo[], b: BlockInfo[]): BlockInfo[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const m = new Map<number, BlockInfo>(a.map((x) => [x[0], x]));
  for (const x of b) if (!m.has(x[0])) m.set(x[0], x);
  return [...m.values()].sort((x, y) => x[0] - y[0]);
}

export interface VersionHooks {
  /** Marks every group row of a version deleted (local rows, same transaction). */
  deleteGroups(tx: Tx, uuid: Buffer): void;
  /** Whether the header of this version is known deleted here. */
  headerDeleted(tx: Tx, uuid: Buffer): boolean;
  /** A group row was deleted: its blocks lose the references from that row. */
  blocksGone(tx: Tx, uuid: Buffer, sk: Buffer, blocks: BlockInfo[]): void;
}

type Row = [Buffer, Buffer, boolean, [Buffer, string, ChosenPart[] | null] | null, BlockInfo[]];

const zBlockInfo: z.ZodType<BlockInfo> = z.tuple([z.number(), zBytes, z.number()]);
const zChosen: z.ZodType<ChosenPart> = z.union([
  z.tuple([z.number(), z.number(), z.number()]),
  z.tuple([z.number(), z.number(), z.number(), z.string()]),
]);
const zRow: z.ZodType<Row> = z.tuple([
  zBytes,
  zBytes,
  z.boolean(),
  z.tuple([zBytes, z.string(), z.array(zChosen).nullable()]).nullable(),
  z.array(zBlockInfo),
]);
const zRefRow: z.ZodType<[Buffer, Buffer, boolean]> = z.tuple([zBytes, zBytes, z.boolean()]);

/** The version table schema with its cascade hooks. */
export function versionSchema(hooks: VersionHooks): TableSchema<VersionEntry> {
  return {
    name: 'version',
    replication: 'sharded',
    partitionKey: (e) => e.uuid,
    sortKey: (e) => e.sk,
    encode: (e) =>
      encodeVersioned(1, [
        e.uuid,
        e.sk,
        e.deleted,
        e.header ? [e.header.bucketId, e.header.key, e.header.parts] : null,
        e.blocks,
      ] satisfies Row),
    decode: (b) => {
      const [uuid, sk, deleted, h, blocks] = decodeRow(1, b, 'version', zRow);
      return { uuid, sk, deleted, header: h ? { bucketId: h[0], key: h[1], parts: h[2] } : undefined, blocks };
    },
    merge: (a, b) => {
      const header =
        a.header && b.header ? { ...a.header, parts: a.header.parts ?? b.header.parts } : (a.header ?? b.header);
      if (a.deleted || b.deleted) return { uuid: a.uuid, sk: a.sk, deleted: true, header, blocks: [] };
      return { uuid: a.uuid, sk: a.sk, deleted: false, header, blocks: mergeBlocks(a.blocks, b.blocks) };
    },
    isTombstone: (e) => e.deleted,
    // A group row arriving for a deleted version (or adding blocks to a deleted row) is stored
    // deleted, and the references its writer took to those blocks are released here: the merge
    // drops them, so no later hook would.
    fixup: (tx, e, incoming) => {
      if (e.sk.length === 0 || (!e.deleted && !hooks.headerDeleted(tx, e.uuid))) return e;
      if (!incoming.deleted && incoming.blocks.length) hooks.blocksGone(tx, e.uuid, e.sk, incoming.blocks);
      return e.deleted ? e : { ...e, deleted: true, blocks: [] };
    },
    updated: (tx, old, cur) => {
      if (!cur.deleted || old?.deleted) return;
      if (cur.sk.length === 0) hooks.deleteGroups(tx, cur.uuid);
      else if (old?.blocks.length) hooks.blocksGone(tx, cur.uuid, cur.sk, old.blocks);
    },
  };
}

/**
 * A reference to a block from one group row of a version; partitioned by the block hash so
 * it lives with the block. `ref` = version uuid (16 bytes) ++ the group row's sort key, so
 * dropping one row (say a part upload replaced by a retry with the same bytes) removes only
 * that row's references, never those of the rows still in use.
 */
export interface BlockRefEntry {
  block: Buffer;
  ref: Buffer;
  deleted: boolean;
}

/** The `ref` of a block reference from group row `sk` of version `uuid`. */
export function blockRefKey(uuid: Buffer, sk: Buffer): Buffer {
  return Buffer.concat([uuid, sk]);
}

export interface BlockRefHooks {
  incref(tx: Tx, hash: Buffer): void;
  decref(tx: Tx, hash: Buffer): void;
}

/** The block_ref table schema: its hook feeds the local block refcounts. */
export function blockRefSchema(
  hooks: BlockRefHooks,
): TableSchema<BlockRefEntry> & { partitionHash(pk: Buffer): Buffer } {
  return {
    name: 'block_ref',
    replication: 'sharded',
    partitionKey: (e) => e.block,
    sortKey: (e) => e.ref,
    partitionHash: (pk) => pk,
    encode: (e) => encodeVersioned(1, [e.block, e.ref, e.deleted]),
    decode: (b) => {
      const [block, ref, deleted] = decodeRow(1, b, 'block_ref', zRefRow);
      return { block, ref, deleted };
    },
    merge: (a, b) => ({ ...a, deleted: a.deleted || b.deleted }),
    isTombstone: (e) => e.deleted,
    updated: (tx, old, cur) => {
      if (!old && !cur.deleted) hooks.incref(tx, cur.block);
      else if (old && !old.deleted && cur.deleted) hooks.decref(tx, cur.block);
    },
  };
}
