import type { Db, Tree, Tx } from '../db/db.ts';
import { Table, type TableCore } from '../table/table.ts';
import { z } from 'zod';
import type { RpcTransport } from '../rpc/rpc_helper.ts';
import { call, endpoint, serve, zBuf } from '../net/endpoint.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import type { BlockManager } from '../block/manager.ts';
import type { Logger } from '../util/log.ts';
import type { Workers } from '../util/background.ts';
import { bucketSchema, bucketAliasSchema, type BucketEntry, type BucketAliasEntry } from './bucket.ts';
import { keySchema, type KeyEntry } from './key.ts';
import { adminTokenSchema, type AdminTokenEntry } from './admin_token.ts';
import { nextVersionTs, objectSchema, type ObjectEntry, type ObjectFilter } from './object.ts';
import { versionSchema, blockRefSchema, blockRefKey, type VersionEntry, type BlockRefEntry } from './version.ts';
import { mpuSchema, type MpuEntry } from './mpu.ts';
import { ObjectClaims } from './object_claim.ts';

const zCounts = z.object({ objects: z.number(), bytes: z.number(), uploads: z.number() });
/** A replica's counts of a bucket's content (see Model.localCounts). */
const COUNTER = endpoint('model/counter', z.object({ bucketId: zBuf }), zCounts);

/** Counts of a bucket's content. */
export interface BucketCounts {
  objects: number;
  bytes: number;
  uploads: number;
}

export interface ModelOptions {
  db: Db;
  rpc: RpcTransport;
  layout: LayoutView;
  blocks: BlockManager;
  consistency: 'consistent' | 'degraded' | 'dangerous';
  logger: Logger;
  workers: Workers;
}

/** The model tables of a node, wired so that deleting an object cascades down to block refcounts. */
export class Model {
  readonly bucket: Table<BucketEntry>;
  readonly bucketAlias: Table<BucketAliasEntry>;
  readonly key: Table<KeyEntry>;
  readonly adminToken: Table<AdminTokenEntry>;
  readonly object: Table<ObjectEntry, ObjectFilter>;
  readonly version: Table<VersionEntry>;
  readonly blockRef: Table<BlockRefEntry>;
  readonly mpu: Table<MpuEntry>;
  /** Claims of conditional writes on object versions (see object_claim.ts). */
  readonly claims: ObjectClaims;
  readonly blocks: BlockManager;
  readonly workers: Workers;
  /** bucket id → objects, bytes, unfinished uploads, as counted from this node's object rows. */
  readonly counters: Tree;
  readonly #tables: TableCore[];
  readonly #layout: LayoutView;
  readonly #rpc: RpcTransport;

  constructor(o: ModelOptions) {
    this.#layout = o.layout;
    this.#rpc = o.rpc;
    const topt = { consistency: o.consistency, logger: o.logger, workers: o.workers };
    const mk = <E, F = never>(schema: ConstructorParameters<typeof Table<E, F>>[0]) =>
      new Table<E, F>(schema, o.db, o.rpc, o.layout, topt);
    this.blocks = o.blocks;
    this.workers = o.workers;
    this.counters = o.db.tree('counter:bucket');
    serve(o.rpc, COUNTER, async (_from, m) => this.localCounts(m.bucketId));
    this.bucket = mk(bucketSchema);
    this.bucketAlias = mk(bucketAliasSchema);
    this.key = mk(keySchema);
    this.adminToken = mk(adminTokenSchema);
    const empty = Buffer.alloc(0);
    const rowDeleted = <E extends { deleted: boolean }>(t: Table<E>, tx: Tx, pk: Buffer) => {
      const b = tx.get(t.store, t.storageKey(pk, empty));
      return b ? t.schema.decode(b).deleted : false;
    };
    const deleteRows = <E extends { deleted: boolean; sk: Buffer }>(t: Table<E>, tx: Tx, pk: Buffer) => {
      for (const e of [...t.scanLocal({ tx, pk })])
        if (e.sk.length > 0 && !e.deleted) t.applyInTx(tx, { ...e, deleted: true });
    };
    this.object = mk(
      objectSchema({
        versionGone: (tx, uuid, multipart, bucketId, key) => {
          this.version.queueInsert(tx, {
            uuid,
            sk: empty,
            deleted: true,
            header: { bucketId, key, parts: null },
            blocks: [],
          });
          if (multipart)
            this.mpu.queueInsert(tx, {
              uploadId: uuid,
              sk: empty,
              deleted: true,
              header: { bucketId, key, created: 0 },
            });
        },
        countsChanged: (tx, bucketId, objects, bytes, uploads) => {
          const cur = this.localCounts(bucketId, tx);
          const b = Buffer.alloc(24);
          b.writeBigInt64BE(BigInt(cur.objects + objects), 0);
          b.writeBigInt64BE(BigInt(cur.bytes + bytes), 8);
          b.writeBigInt64BE(BigInt(cur.uploads + uploads), 16);
          tx.put(this.counters, bucketId, b);
        },
      }),
    );
    this.claims = new ObjectClaims(o.db, o.rpc, this.object, o.logger);
    this.version = mk(
      versionSchema({
        deleteGroups: (tx, uuid) => deleteRows(this.version, tx, uuid),
        headerDeleted: (tx, uuid) => rowDeleted(this.version, tx, uuid),
        blocksGone: (tx, uuid, sk, blocks) => {
          const seen = new Set<string>();
          for (const [, hash] of blocks) {
            const h = hash.toString('hex');
            if (seen.has(h)) continue;
            seen.add(h);
            this.blockRef.queueInsert(tx, { block: hash, ref: blockRefKey(uuid, sk), deleted: true });
          }
        },
      }),
    );
    this.blockRef = mk(
      blockRefSchema({ incref: (tx, h) => o.blocks.incref(tx, h), decref: (tx, h) => o.blocks.decref(tx, h) }),
    );
    this.mpu = mk(
      mpuSchema({
        deleteParts: (tx, id) => deleteRows(this.mpu, tx, id),
        headerDeleted: (tx, id) => rowDeleted(this.mpu, tx, id),
      }),
    );
    this.#tables = [
      this.bucket,
      this.bucketAlias,
      this.key,
      this.adminToken,
      this.object,
      this.version,
      this.blockRef,
      this.mpu,
    ];
  }

  /** The timestamp for a new version of an object (read from a quorum: see nextVersionTs). */
  async nextObjectTs(bucketId: Buffer, key: string): Promise<number> {
    return nextVersionTs(await this.object.get(bucketId, Buffer.from(key)));
  }

  /** A bucket's counts from this node's object rows (in a transaction when given). */
  localCounts(bucketId: Buffer, tx?: Tx): BucketCounts {
    const b = tx ? tx.get(this.counters, bucketId) : this.counters.get(bucketId);
    return b
      ? {
          objects: Number(b.readBigInt64BE(0)),
          bytes: Number(b.readBigInt64BE(8)),
          uploads: Number(b.readBigInt64BE(16)),
        }
      : { objects: 0, bytes: 0, uploads: 0 };
  }

  /** A bucket's counts, from its replicas (the highest each reports: a lagging replica undercounts). */
  async bucketCounts(bucketId: Buffer): Promise<BucketCounts> {
    const nodes = this.#layout.readNodes(this.object.partitionHash(bucketId));
    const answers = await Promise.allSettled(
      nodes.map((n) => call(this.#rpc, n, COUNTER, { bucketId }, { timeoutMs: 10_000, priority: 'high' })),
    );
    const out = { objects: 0, bytes: 0, uploads: 0 };
    for (const a of answers) {
      if (a.status !== 'fulfilled') continue;
      const c = a.value.body;
      out.objects = Math.max(out.objects, c.objects);
      out.bytes = Math.max(out.bytes, c.bytes);
      out.uploads = Math.max(out.uploads, c.uploads);
    }
    return out;
  }

  /** All tables, for workers and stats. */
  tables(): TableCore[] {
    return this.#tables;
  }

  /** Starts the deferred-insert workers of every table. */
  start(): void {
    for (const t of this.#tables) t.startQueueWorker();
  }

  /** Stops background work. */
  stop(): void {
    for (const t of this.#tables) t.stop();
  }
}
