import { AdminError } from '../util/errors.ts';
import { deletedVersion, isDataVersion } from '../model/object.ts';
import { activeLock } from '../model/lock.ts';
import type { BlockVersion, LocalRequest, LocalResponses } from './api.ts';
import type { AdminCtx } from './context.ts';

const EMPTY = Buffer.alloc(0);

function blockHash(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new AdminError(`invalid block hash '${hex}': expected 64 hex characters`);
  return Buffer.from(hex, 'hex');
}

/** ListBlockErrors: blocks whose resync failed here. */
export function listBlockErrors(ctx: AdminCtx): LocalResponses['ListBlockErrors'] {
  const now = Date.now();
  return ctx.model.blocks.listErrors().map((e) => ({
    blockHash: e.hash,
    refcount: ctx.model.blocks.refcount(Buffer.from(e.hash, 'hex')),
    errorCount: e.tries,
    lastTrySecsAgo: Math.max(0, Math.round((now - e.lastTry) / 1000)),
    nextTryInSecs: Math.max(0, Math.round((e.nextTry - now) / 1000)),
  }));
}

/**
 * GetBlockInfo: the references to a block this node holds, and where each leads. Beyond
 * Garage's fields, each version says what this node's rows hold of it (`groupRow`,
 * `objectVersion`), which is what tells a leaked block from one in use.
 */
export async function getBlockInfo(ctx: AdminCtx, hex: string): Promise<LocalResponses['GetBlockInfo']> {
  const hash = blockHash(hex);
  const m = ctx.model;
  const versions: BlockVersion[] = [];
  for (const r of m.blockRef.rangeLocal(hash, {})) {
    const uuid = r.ref.subarray(0, 16);
    const header = m.version.getLocal(uuid, EMPTY);
    const group = m.version.getLocal(uuid, r.ref.subarray(16));
    const h = header?.header;
    let backlink: BlockVersion['backlink'] = null;
    let objectVersion: string | null = null;
    if (h) {
      const v = m.object.getLocal(h.bucketId, Buffer.from(h.key))?.versions.find((x) => x.uuid.equals(uuid));
      objectVersion = v ? v.state.t : 'absent';
      const upload = m.mpu.getLocal(uuid, EMPTY);
      backlink =
        v?.state.t === 'uploading' && v.state.multipart
          ? {
              upload: {
                uploadId: uuid.toString('hex'),
                uploadDeleted: !!upload?.deleted,
                uploadGarbageCollected: !upload,
                bucketId: h.bucketId.toString('hex'),
                key: h.key,
              },
            }
          : { object: { bucketId: h.bucketId.toString('hex'), key: h.key } };
    }
    versions.push({
      versionId: uuid.toString('hex'),
      refDeleted: r.deleted,
      versionDeleted: !!header?.deleted,
      garbageCollected: !header,
      backlink,
      groupRow: group ? (group.deleted ? 'deleted' : 'live') : 'absent',
      objectVersion,
    });
  }
  return { blockHash: hex, refcount: m.blocks.refcount(hash), versions };
}

/** RetryBlockResync: the given blocks (or every block in error) are checked again now. */
export async function retryBlockResync(
  ctx: AdminCtx,
  req: LocalRequest<'RetryBlockResync'>,
): Promise<LocalResponses['RetryBlockResync']> {
  const hashes = 'all' in req ? (req.all ? ctx.model.blocks.listErrors().map((e) => e.hash) : []) : req.blockHashes;
  const parsed = hashes.map(blockHash);
  for (const h of parsed) await ctx.model.blocks.requeue(h);
  return { count: parsed.length };
}

/**
 * Refuses a purge that would delete a version its object lock protects (retention or legal hold):
 * no administrative path removes a locked version before its date. Checked before anything is deleted.
 */
async function refuseLocked(ctx: AdminCtx, hashes: Buffer[]): Promise<void> {
  const m = ctx.model;
  for (const hash of hashes)
    for (const r of await m.blockRef.getRange(hash, {})) {
      if (r.deleted) continue;
      const h = (await m.version.get(r.ref.subarray(0, 16), EMPTY))?.header;
      if (!h) continue;
      const v = (await m.object.get(h.bucketId, Buffer.from(h.key)))?.versions.find((x) =>
        x.uuid.equals(r.ref.subarray(0, 16)),
      );
      const lock = isDataVersion(v) ? v.state.data.meta.lock : undefined;
      const why = lock && activeLock(lock);
      if (why)
        throw new AdminError(
          `block ${hash.toString('hex')} belongs to version ${r.ref.subarray(0, 16).toString('hex')} of '${h.key}', protected by object lock (${why}): nothing was purged`,
        );
    }
}

/**
 * PurgeBlocks: deletes every object version and multipart upload that references the given
 * blocks (for blocks lost on every replica): the object → version → block_ref cascade then
 * drops the references.
 */
export async function purgeBlocks(ctx: AdminCtx, hexes: string[]): Promise<LocalResponses['PurgeBlocks']> {
  const m = ctx.model;
  const res = { blocksPurged: 0, objectsDeleted: 0, uploadsDeleted: 0, versionsDeleted: 0, blockRefsPurged: 0 };
  const done = new Set<string>();
  const hashes = hexes.map(blockHash);
  await refuseLocked(ctx, hashes);
  for (const hash of hashes) {
    for (const r of await m.blockRef.getRange(hash, {})) {
      if (r.deleted) continue;
      res.blockRefsPurged++;
      const uuid = r.ref.subarray(0, 16);
      const id = uuid.toString('hex');
      if (done.has(id)) continue;
      done.add(id);
      const header = await m.version.get(uuid, EMPTY);
      const h = header?.header;
      if (h) {
        const v = (await m.object.get(h.bucketId, Buffer.from(h.key)))?.versions.find((x) => x.uuid.equals(uuid));
        if (v && v.state.t !== 'aborted') {
          if (v.state.t === 'uploading' && v.state.multipart) res.uploadsDeleted++;
          else res.objectsDeleted++;
          await m.object.insert({
            bucketId: h.bucketId,
            key: h.key,
            versions: [deletedVersion(v)],
          });
        }
      }
      if (header && !header.deleted) {
        await m.version.insert({ ...header, deleted: true, blocks: [] });
        res.versionsDeleted++;
      }
      await m.blockRef.insert({ ...r, deleted: true });
    }
    res.blocksPurged++;
  }
  return res;
}
