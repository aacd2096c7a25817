import { randomBytes } from 'node:crypto';
import { lwwNext, lwwSet } from '../util/crdt.ts';
import { AdminError, AdminNotFoundError } from '../util/errors.ts';
import { newBucket, validBucketName, type BucketEntry, type Perms } from '../model/bucket.ts';
import type { KeyEntry } from '../model/key.ts';
import type { ObjectVersion } from '../model/object.ts';
import type { ApiBucketKeyPerm, BucketInfo, ClusterRequest, ClusterResponses, InspectObject } from './api.ts';
import type { AdminCtx } from './context.ts';
import { isoDate } from '../util/units.ts';

const EMPTY = Buffer.alloc(0);
const NO_PERMS: Perms = { read: false, write: false, owner: false };
const hasAny = (p: Perms) => p.read || p.write || p.owner;

function checkName(name: string): void {
  if (!validBucketName(name))
    throw new AdminError(
      `invalid bucket name '${name}': 3-63 characters among a-z, 0-9, '.', '-', starting and ending with a letter or digit`,
      'InvalidBucketName',
    );
}

/** A live bucket by its full hex id. */
export async function bucketById(ctx: AdminCtx, id: string): Promise<BucketEntry> {
  const b = /^[0-9a-f]{64}$/.test(id) ? await ctx.helpers.getBucket(Buffer.from(id, 'hex')) : undefined;
  if (!b) throw new AdminNotFoundError('NoSuchBucket', `no bucket with id '${id}'`);
  return b;
}

/** A live key by its exact id. */
export async function keyById(ctx: AdminCtx, id: string): Promise<KeyEntry> {
  const k = await ctx.model.key.get(Buffer.from(id), EMPTY);
  if (!k || k.deleted) throw new AdminNotFoundError('NoSuchAccessKey', `no access key with id '${id}'`);
  return k;
}

const localAliasesOf = (b: BucketEntry) =>
  b.localAliases
    .filter(([, v]) => v.v)
    .map(([k]) => ({ accessKeyId: k.slice(0, k.indexOf(':')), alias: k.slice(k.indexOf(':') + 1) }));

/** ListBuckets. */
export async function listBuckets(ctx: AdminCtx): Promise<ClusterResponses['ListBuckets']> {
  return (await ctx.helpers.listBuckets()).map((b) => ({
    id: b.id.toString('hex'),
    created: isoDate(b.created),
    globalAliases: ctx.helpers.globalAliases(b),
    localAliases: localAliasesOf(b),
  }));
}

/** GetBucketInfo as the API answers it for a bucket entry. */
export async function bucketInfo(ctx: AdminCtx, b: BucketEntry): Promise<BucketInfo> {
  const local = localAliasesOf(b);
  const keys: BucketInfo['keys'] = [];
  for (const [id, p] of b.keys) {
    const aliases = local.filter((a) => a.accessKeyId === id).map((a) => a.alias);
    if (!hasAny(p.v) && aliases.length === 0) continue;
    const k = await ctx.model.key.get(Buffer.from(id), EMPTY);
    if (!k || k.deleted) continue;
    keys.push({ accessKeyId: id, name: k.name.v, permissions: { ...p.v }, bucketLocalAliases: aliases });
  }
  const counts = await ctx.model.bucketCounts(b.id);
  let parts = 0;
  let partBytes = 0;
  if (counts.uploads > 0)
    for (const o of await ctx.model.object.getRange(b.id, { filter: { uploads: true } }))
      for (const v of o.versions)
        if (v.state.t === 'uploading' && v.state.multipart)
          for (const row of await ctx.model.mpu.getRange(v.uuid, {}))
            if (row.part && !row.deleted) {
              parts++;
              partBytes += row.part.size;
            }
  const w = b.website.v;
  return {
    id: b.id.toString('hex'),
    created: isoDate(b.created),
    globalAliases: ctx.helpers.globalAliases(b),
    websiteAccess: w !== null,
    websiteConfig: w ? { indexDocument: w.index, errorDocument: w.errorDocument } : null,
    keys,
    objects: counts.objects,
    bytes: counts.bytes,
    unfinishedUploads: counts.uploads,
    unfinishedMultipartUploads: counts.uploads,
    unfinishedMultipartUploadParts: parts,
    unfinishedMultipartUploadBytes: partBytes,
    quotas: { ...b.quotas.v },
  };
}

/** GetBucketInfo: by id, by global alias, or by a search (alias, or a unique prefix of the id). */
export async function getBucketInfo(ctx: AdminCtx, q: ClusterRequest<'GetBucketInfo'>): Promise<BucketInfo> {
  const given = [q.id, q.globalAlias, q.search].filter((x) => x !== undefined).length;
  if (given !== 1) throw new AdminError('give exactly one of id, globalAlias and search');
  if (q.id !== undefined) return bucketInfo(ctx, await bucketById(ctx, q.id));
  if (q.globalAlias !== undefined) {
    const id = await ctx.helpers.resolveBucket(q.globalAlias);
    const b = id && (await ctx.helpers.getBucket(id));
    if (!b) throw new AdminNotFoundError('NoSuchBucket', `no bucket with global alias '${q.globalAlias}'`);
    return bucketInfo(ctx, b);
  }
  return bucketInfo(ctx, await ctx.helpers.findBucket(q.search!));
}

async function addGlobalAlias(ctx: AdminCtx, b: BucketEntry, name: string): Promise<void> {
  checkName(name);
  const existing = await ctx.helpers.resolveBucket(name);
  if (existing && !existing.equals(b.id) && (await ctx.helpers.getBucket(existing)))
    throw new AdminError(`global alias '${name}' already points to another bucket`, 'BucketAlreadyExists', 409);
  await ctx.model.bucketAlias.insert({ name, bucket: { ts: Date.now(), v: b.id } });
  await ctx.model.bucket.insert({ ...b, aliases: lwwSet(b.aliases, name, true) });
}

async function addLocalAlias(ctx: AdminCtx, b: BucketEntry, k: KeyEntry, name: string): Promise<void> {
  checkName(name);
  const local = k.localAliases.find(([n]) => n === name)?.[1].v;
  if (local && local !== b.id.toString('hex') && (await ctx.helpers.getBucket(Buffer.from(local, 'hex'))))
    throw new AdminError(`key ${k.id} already has a local alias '${name}'`, 'BucketAlreadyExists', 409);
  await ctx.model.key.insert({ ...k, localAliases: lwwSet(k.localAliases, name, b.id.toString('hex')) });
  await ctx.model.bucket.insert({ ...b, localAliases: lwwSet(b.localAliases, `${k.id}:${name}`, true) });
}

const reload = async (ctx: AdminCtx, b: BucketEntry) => bucketById(ctx, b.id.toString('hex'));

/** CreateBucket: with a global alias, a local alias of a key, both or neither. */
export async function createBucket(ctx: AdminCtx, req: ClusterRequest<'CreateBucket'>['body']): Promise<BucketInfo> {
  const { globalAlias, localAlias } = req;
  if (globalAlias) {
    checkName(globalAlias);
    const existing = await ctx.helpers.resolveBucket(globalAlias);
    if (existing && (await ctx.helpers.getBucket(existing)))
      throw new AdminError(`bucket '${globalAlias}' already exists`, 'BucketAlreadyExists', 409);
  }
  const key = localAlias ? await keyById(ctx, localAlias.accessKeyId) : undefined;
  if (localAlias) checkName(localAlias.alias);
  let b = newBucket(randomBytes(32));
  await ctx.model.bucket.insert(b);
  if (globalAlias) await addGlobalAlias(ctx, b, globalAlias);
  if (key && localAlias) {
    b = await reload(ctx, b);
    await addLocalAlias(ctx, b, key, localAlias.alias);
    const a = localAlias.allow;
    if (a && (a.read || a.write || a.owner))
      await ctx.helpers.setKeyPerms(await reload(ctx, b), key.id, {
        read: !!a.read,
        write: !!a.write,
        owner: !!a.owner,
      });
  }
  return bucketInfo(ctx, await reload(ctx, b));
}

/** UpdateBucket: quotas and website access. */
export async function updateBucket(ctx: AdminCtx, req: ClusterRequest<'UpdateBucket'>): Promise<BucketInfo> {
  let b = await bucketById(ctx, req.id);
  const { quotas, websiteAccess } = req.body;
  if (websiteAccess) {
    let website = null;
    if (websiteAccess.enabled) {
      if (!websiteAccess.indexDocument) throw new AdminError('indexDocument is required to enable website access');
      website = { index: websiteAccess.indexDocument, errorDocument: websiteAccess.errorDocument ?? null };
    }
    b = { ...b, website: lwwNext(b.website, website) };
  }
  if (quotas) {
    const q = {
      maxSize: quotas.maxSize === undefined ? b.quotas.v.maxSize : quotas.maxSize,
      maxObjects: quotas.maxObjects === undefined ? b.quotas.v.maxObjects : quotas.maxObjects,
    };
    b = { ...b, quotas: lwwNext(b.quotas, q) };
  }
  await ctx.model.bucket.insert(b);
  return bucketInfo(ctx, await reload(ctx, b));
}

/** DeleteBucket: a bucket without objects (its unfinished uploads are aborted). */
export async function deleteBucket(ctx: AdminCtx, id: string): Promise<null> {
  await ctx.helpers.deleteBucket(await bucketById(ctx, id));
  return null;
}

/** AllowBucketKey / DenyBucketKey: sets (allow) or clears (deny) the flags given as true. */
export async function changeBucketKeyPerm(
  ctx: AdminCtx,
  req: ClusterRequest<'AllowBucketKey'>['body'],
  allow: boolean,
): Promise<BucketInfo> {
  const b = await bucketById(ctx, req.bucketId);
  const k = await keyById(ctx, req.accessKeyId);
  const cur = b.keys.find(([id]) => id === k.id)?.[1].v ?? NO_PERMS;
  const p: Partial<ApiBucketKeyPerm> = req.permissions;
  const set = (flag: boolean | undefined, was: boolean) => (flag ? allow : was);
  await ctx.helpers.setKeyPerms(b, k.id, {
    read: set(p.read, cur.read),
    write: set(p.write, cur.write),
    owner: set(p.owner, cur.owner),
  });
  return bucketInfo(ctx, await reload(ctx, b));
}

/** AddBucketAlias: a global alias, or a local alias of a key. */
export async function addBucketAlias(
  ctx: AdminCtx,
  req: ClusterRequest<'AddBucketAlias'>['body'],
): Promise<BucketInfo> {
  const b = await bucketById(ctx, req.bucketId);
  if ('globalAlias' in req) await addGlobalAlias(ctx, b, req.globalAlias);
  else await addLocalAlias(ctx, b, await keyById(ctx, req.accessKeyId), req.localAlias);
  return bucketInfo(ctx, await reload(ctx, b));
}

/** RemoveBucketAlias: never the last alias of a bucket (delete the bucket instead). */
export async function removeBucketAlias(
  ctx: AdminCtx,
  req: ClusterRequest<'RemoveBucketAlias'>['body'],
): Promise<BucketInfo> {
  const b = await bucketById(ctx, req.bucketId);
  const aliases = ctx.helpers.globalAliases(b).length + localAliasesOf(b).length;
  if ('globalAlias' in req) {
    if (!ctx.helpers.globalAliases(b).includes(req.globalAlias))
      throw new AdminNotFoundError('NoSuchBucket', `bucket has no global alias '${req.globalAlias}'`);
    if (aliases <= 1)
      throw new AdminError(`'${req.globalAlias}' is the last alias of its bucket; delete the bucket instead`);
    await ctx.model.bucketAlias.insert({ name: req.globalAlias, bucket: { ts: Date.now(), v: null } });
    await ctx.model.bucket.insert({ ...b, aliases: lwwSet(b.aliases, req.globalAlias, false) });
  } else {
    const k = await keyById(ctx, req.accessKeyId);
    if (k.localAliases.find(([n]) => n === req.localAlias)?.[1].v !== b.id.toString('hex'))
      throw new AdminNotFoundError(
        'NoSuchBucket',
        `key ${k.id} has no local alias '${req.localAlias}' for this bucket`,
      );
    if (aliases <= 1)
      throw new AdminError(`'${req.localAlias}' is the last alias of its bucket; delete the bucket instead`);
    await ctx.model.key.insert({ ...k, localAliases: lwwSet(k.localAliases, req.localAlias, null) });
    await ctx.model.bucket.insert({ ...b, localAliases: lwwSet(b.localAliases, `${k.id}:${req.localAlias}`, false) });
  }
  return bucketInfo(ctx, await reload(ctx, b));
}

/** CleanupIncompleteUploads: aborts the bucket's multipart uploads started over `olderThanSecs` ago. */
export async function cleanupIncompleteUploads(
  ctx: AdminCtx,
  req: ClusterRequest<'CleanupIncompleteUploads'>['body'],
): Promise<ClusterResponses['CleanupIncompleteUploads']> {
  const b = await bucketById(ctx, req.bucketId);
  const uploadsDeleted = await ctx.helpers.abortUploads(b.id, Date.now() - req.olderThanSecs * 1000);
  return { uploadsDeleted };
}

function inspectVersion(v: ObjectVersion): Omit<InspectObject['versions'][number], 'blocks'> {
  const base = {
    uuid: v.uuid.toString('hex'),
    timestamp: isoDate(v.ts),
    encrypted: false,
    uploading: v.state.t === 'uploading',
    aborted: v.state.t === 'aborted',
    deleteMarker: false,
    inline: false,
    size: null,
    etag: null,
    headers: v.state.t === 'uploading' ? v.state.headers : [],
  };
  if (v.state.t !== 'complete') return base;
  const d = v.state.data;
  if (d.t === 'deleteMarker') return { ...base, deleteMarker: true };
  return { ...base, inline: d.t === 'inline', size: d.meta.size, etag: d.meta.etag, headers: d.meta.headers };
}

/** InspectObject: every version the object row holds, with its blocks. */
export async function inspectObject(ctx: AdminCtx, q: ClusterRequest<'InspectObject'>): Promise<InspectObject> {
  const b = await bucketById(ctx, q.bucketId);
  const o = await ctx.model.object.get(b.id, Buffer.from(q.key));
  if (!o) throw new AdminNotFoundError('NoSuchKey', `no object '${q.key}' in bucket ${q.bucketId}`);
  const versions: InspectObject['versions'] = [];
  for (const v of o.versions) {
    const blocks: InspectObject['versions'][number]['blocks'] = [];
    if (v.state.t !== 'aborted' && !(v.state.t === 'complete' && v.state.data.t !== 'blocks')) {
      for (const row of await ctx.model.version.getRange(v.uuid, {})) {
        if (row.sk.length === 0 || row.deleted) continue;
        const part = row.sk.readUInt32BE(0);
        for (const [offset, hash, size] of row.blocks)
          blocks.push({ partNumber: part, offset, hash: hash.toString('hex'), size });
      }
    }
    versions.push({ ...inspectVersion(v), blocks });
  }
  return { bucketId: q.bucketId, key: q.key, versions };
}
