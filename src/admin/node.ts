import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AdminError, AdminNotFoundError } from '../util/errors.ts';
import { VERSION } from '../util/version.ts';
import { table } from '../util/units.ts';
import type { WorkerInfo } from '../util/background.ts';
import type { RepairKind } from '../model/repair.ts';
import type { LocalRequest, LocalResponses, RepairType, WorkerInfoResp, WorkerState } from './api.ts';
import type { AdminCtx } from './context.ts';
import type { Db } from '../db/db.ts';

/** GetNodeInfo. */
export function getNodeInfo(ctx: AdminCtx): LocalResponses['GetNodeInfo'] {
  return {
    nodeId: ctx.rpc.id,
    garageVersion: VERSION,
    garageFeatures: ['lmdb', 'metrics', 'k2v-no', 'sse-c-no'].filter((f) => !f.endsWith('-no')),
    rustVersion: `node ${process.version}`,
    dbEngine: 'lmdb',
  };
}

/** GetNodeStatistics: tables, queues and blocks of this node, as text. */
export async function getNodeStatistics(ctx: AdminCtx): Promise<LocalResponses['GetNodeStatistics']> {
  let stored = 0;
  const blocks = ctx.model.blocks;
  for (const [hash, v] of blocks.rc.range({}))
    if (v.readBigUInt64BE(0) > 0n && (await blocks.store.locate(hash))) stored++;
  const tables = ctx.model
    .tables()
    .map((t) => [
      t.schema.name,
      String(t.store.count()),
      String(t.queue.count()),
      createHash('sha256').update(t.digest.partitionRoots()).digest('hex').slice(0, 16),
    ]);
  const lines = [
    table([['Table', 'Items', 'Insert queue', 'Digest'], ...tables]),
    '',
    `Blocks with a refcount: ${blocks.rc.count()}`,
    `Blocks stored here: ${stored}`,
    `Resync queue length: ${blocks.resync.count()}`,
    `Blocks with resync errors: ${blocks.errors.count()}`,
  ];
  return { freeform: `${lines.join('\n')}\n` };
}

let snapshotting = false;
const KEEP_SNAPSHOTS = 2;

/**
 * Writes a consistent copy of the metadata database under `dir`, in a directory named by the
 * date, and removes the older snapshots beyond the two most recent (as Garage does). One at a time.
 */
export async function snapshotMetadata(db: Db, dir: string): Promise<string> {
  if (snapshotting) throw new AdminError('another metadata snapshot is in progress', 'Conflict', 409);
  snapshotting = true;
  try {
    await mkdir(dir, { recursive: true });
    const path = join(dir, new Date().toISOString().replace(/[:.]/g, '-'));
    await db.snapshot(path);
    const all = (await readdir(dir)).filter((n) => /^\d{4}-\d\d-\d\dT/.test(n)).sort();
    for (const old of all.slice(0, -KEEP_SNAPSHOTS)) await rm(join(dir, old), { recursive: true, force: true });
    return path;
  } finally {
    snapshotting = false;
  }
}

/** CreateMetadataSnapshot. */
export async function createMetadataSnapshot(ctx: AdminCtx): Promise<null> {
  await snapshotMetadata(ctx.db, ctx.snapshotsDir);
  return null;
}

function workerState(w: WorkerInfo): WorkerState {
  const s = String(w.status.state ?? '');
  if (s === 'running' || s === 'busy') return 'busy';
  if (s === 'done') return 'done';
  return 'idle';
}

function workerResp(w: WorkerInfo, id: number): WorkerInfoResp {
  const err = w.status.error;
  const queue = w.status.queue ?? w.status.queueLength;
  return {
    id,
    name: w.name,
    state: workerState(w),
    errors: typeof w.status.errors === 'number' ? w.status.errors : err === undefined ? 0 : 1,
    consecutiveErrors: typeof w.status.consecutiveErrors === 'number' ? w.status.consecutiveErrors : 0,
    lastError:
      err === undefined
        ? null
        : { message: String(err), secsAgo: Math.round((Date.now() - (w.lastActivity ?? Date.now())) / 1000) },
    tranquility: typeof w.status.tranquility === 'number' ? w.status.tranquility : null,
    progress: w.status.progress === undefined ? null : String(w.status.progress),
    queueLength: typeof queue === 'number' ? queue : null,
    persistentErrors: typeof w.status.persistentErrors === 'number' ? w.status.persistentErrors : null,
    freeform: [
      w.description,
      ...Object.entries(w.status).map(([k, v]) => `${k}=${v}`),
      ...(w.lastActivity ? [`last activity ${new Date(w.lastActivity).toISOString()}`] : []),
    ],
  };
}

/** ListWorkers: ids are positions in the name order, stable while the node runs. */
export function listWorkers(ctx: AdminCtx, req: LocalRequest<'ListWorkers'>): WorkerInfoResp[] {
  return ctx.workers
    .list()
    .map(workerResp)
    .filter((w) => (!req.busyOnly || w.state === 'busy') && (!req.errorOnly || w.lastError !== null));
}

/** GetWorkerInfo. */
export function getWorkerInfo(ctx: AdminCtx, id: number): WorkerInfoResp {
  const w = ctx.workers.list()[id];
  if (!w) throw new AdminNotFoundError('NoSuchWorker', `no worker with id ${id}`);
  return workerResp(w, id);
}

/** GetWorkerVariable: one variable, or all when none is named. */
export function getWorkerVariable(ctx: AdminCtx, variable: string | null | undefined): Record<string, string> {
  const vars = ctx.workers.variables();
  if (variable === null || variable === undefined) return Object.fromEntries([...vars].map(([k, v]) => [k, v.get()]));
  const v = vars.get(variable);
  if (!v) throw new AdminError(`unknown worker variable '${variable}' (known: ${[...vars.keys()].join(', ')})`);
  return { [variable]: v.get() };
}

/** SetWorkerVariable. */
export function setWorkerVariable(
  ctx: AdminCtx,
  req: LocalRequest<'SetWorkerVariable'>,
): LocalResponses['SetWorkerVariable'] {
  const v = ctx.workers.variables().get(req.variable);
  if (!v) throw new AdminError(`unknown worker variable '${req.variable}'`);
  v.set(req.value);
  return { variable: req.variable, value: v.get() };
}

const REPAIRS: Record<Exclude<RepairType, object>, RepairKind | undefined> = {
  tables: 'tables',
  blocks: 'blocks',
  versions: 'versions',
  multipartUploads: 'multipart-uploads',
  blockRefs: 'block-refs',
  blockRc: 'block-rc',
  rebalance: 'rebalance',
  aliases: 'aliases',
};

/** LaunchRepairOperation: starts a repair in the background; answers what was launched. */
export async function launchRepair(ctx: AdminCtx, t: RepairType): Promise<string> {
  if (typeof t === 'object') return ctx.repair.scrubCommand(t.scrub);
  const kind = REPAIRS[t];
  if (!kind) throw new AdminError(`unknown repair '${String(t)}'`);
  return ctx.repair.launch(kind);
}
