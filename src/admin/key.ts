import { lwwNext } from '../util/crdt.ts';
import { AdminError } from '../util/errors.ts';
import { keyExpired, type KeyEntry } from '../model/key.ts';
import type { ClusterRequest, ClusterResponses, KeyInfo } from './api.ts';
import { keyById } from './bucket.ts';
import type { AdminCtx } from './context.ts';
import { isoDate } from '../util/units.ts';

type KeyBody = ClusterRequest<'UpdateKey'>['body'];

const created = (k: KeyEntry) => (k.created ? isoDate(k.created) : null);
const expiration = (k: KeyEntry) => (k.expiration.v === null ? null : isoDate(k.expiration.v));

/** GetKeyInfo as the API answers it for a key entry. */
export async function keyInfo(ctx: AdminCtx, k: KeyEntry, showSecret: boolean): Promise<KeyInfo> {
  const buckets: KeyInfo['buckets'] = [];
  const local = (bid: string) => k.localAliases.filter(([, v]) => v.v === bid).map(([n]) => n);
  const ids = new Set([...k.buckets.map(([id]) => id), ...k.localAliases.flatMap(([, v]) => (v.v ? [v.v] : []))]);
  for (const bid of ids) {
    const p = k.buckets.find(([id]) => id === bid)?.[1].v ?? { read: false, write: false, owner: false };
    if (!(p.read || p.write || p.owner) && local(bid).length === 0) continue;
    const b = await ctx.helpers.getBucket(Buffer.from(bid, 'hex'));
    if (!b) continue;
    buckets.push({
      id: bid,
      globalAliases: ctx.helpers.globalAliases(b),
      localAliases: local(bid),
      permissions: { ...p },
    });
  }
  return {
    accessKeyId: k.id,
    name: k.name.v,
    created: created(k),
    expiration: expiration(k),
    expired: keyExpired(k),
    secretAccessKey: showSecret ? k.secret : null,
    permissions: { createBucket: k.allowCreateBucket.v },
    buckets,
  };
}

/** ListKeys. */
export async function listKeys(ctx: AdminCtx): Promise<ClusterResponses['ListKeys']> {
  return (await ctx.helpers.listKeys()).map((k) => ({
    id: k.id,
    name: k.name.v,
    created: created(k),
    expiration: expiration(k),
    expired: keyExpired(k),
  }));
}

/** GetKeyInfo: by exact id, or a search (a unique prefix of the id, or the exact name). */
export async function getKeyInfo(ctx: AdminCtx, q: ClusterRequest<'GetKeyInfo'>): Promise<KeyInfo> {
  if ((q.id === undefined) === (q.search === undefined)) throw new AdminError('give exactly one of id and search');
  const k = q.id !== undefined ? await keyById(ctx, q.id) : await ctx.helpers.findKey(q.search!);
  return keyInfo(ctx, k, !!q.showSecretKey);
}

// Applies the fields of CreateKey / UpdateKey that a key entry holds.
function applyBody(k: KeyEntry, body: KeyBody): KeyEntry {
  if (body.expiration && body.neverExpires) throw new AdminError('expiration and neverExpires are exclusive');
  let e = k;
  if (body.name !== undefined && body.name !== null) e = { ...e, name: lwwNext(e.name, body.name) };
  if (body.allow?.createBucket) e = { ...e, allowCreateBucket: lwwNext(e.allowCreateBucket, true) };
  if (body.deny?.createBucket) e = { ...e, allowCreateBucket: lwwNext(e.allowCreateBucket, false) };
  if (body.expiration) e = { ...e, expiration: lwwNext(e.expiration, Date.parse(body.expiration)) };
  if (body.neverExpires) e = { ...e, expiration: lwwNext(e.expiration, null) };
  return e;
}

/** CreateKey: a new key with a random id and secret. */
export async function createKey(ctx: AdminCtx, body: KeyBody): Promise<KeyInfo> {
  const k = await ctx.helpers.createKey(body.name ?? 'Unnamed key');
  const e = applyBody(k, body);
  if (e !== k) await ctx.model.key.insert(e);
  return keyInfo(ctx, await keyById(ctx, k.id), true);
}

/** ImportKey: a key with a given id and secret (moving keys from another cluster). */
export async function importKey(ctx: AdminCtx, body: ClusterRequest<'ImportKey'>['body']): Promise<KeyInfo> {
  const k = await ctx.helpers.createKey(body.name ?? 'Imported key', body.accessKeyId, body.secretAccessKey);
  return keyInfo(ctx, k, false);
}

/** UpdateKey: name, the create-bucket permission, expiration. */
export async function updateKey(ctx: AdminCtx, req: ClusterRequest<'UpdateKey'>): Promise<KeyInfo> {
  const k = await keyById(ctx, req.id);
  await ctx.model.key.insert(applyBody(k, req.body));
  return keyInfo(ctx, await keyById(ctx, k.id), false);
}

/** DeleteKey: the key and its permissions on every bucket. */
export async function deleteKey(ctx: AdminCtx, id: string): Promise<null> {
  await ctx.helpers.deleteKey(await keyById(ctx, id));
  return null;
}
