import { lwwNext } from '../util/crdt.ts';
import { AdminError, AdminNotFoundError } from '../util/errors.ts';
import { newAdminToken, tokenExpired, type AdminTokenEntry } from '../model/admin_token.ts';
import type { AdminTokenInfo, ClusterRequest, ClusterResponses } from './api.ts';
import type { AdminCtx } from './context.ts';
import { isoDate } from '../util/units.ts';

const EMPTY = Buffer.alloc(0);
type TokenBody = ClusterRequest<'CreateAdminToken'>['body'];

/** The API's view of a stored token. */
export function tokenInfo(t: AdminTokenEntry): AdminTokenInfo {
  return {
    id: t.id,
    name: t.name.v,
    created: isoDate(t.created),
    expiration: t.expiration.v === null ? null : isoDate(t.expiration.v),
    expired: tokenExpired(t),
    scope: t.scope.v,
  };
}

/** The tokens of the configuration, as ListAdminTokens shows them (no id: they are not stored). */
export function configTokens(ctx: AdminCtx): AdminTokenInfo[] {
  const t = (name: string, scope: string[]): AdminTokenInfo => ({
    id: null,
    name,
    created: null,
    expiration: null,
    expired: false,
    scope,
  });
  return [
    ...(ctx.adminToken ? [t('admin_token (from configuration)', ['*'])] : []),
    ...(ctx.metricsToken ? [t('metrics_token (from configuration)', ['Metrics'])] : []),
  ];
}

async function live(ctx: AdminCtx): Promise<AdminTokenEntry[]> {
  return (await ctx.model.adminToken.getRangeAll()).filter((t) => !t.deleted);
}

async function byId(ctx: AdminCtx, id: string): Promise<AdminTokenEntry> {
  const t = await ctx.model.adminToken.get(Buffer.from(id), EMPTY);
  if (!t || t.deleted) throw new AdminNotFoundError('NoSuchAdminToken', `no admin token with id '${id}'`);
  return t;
}

/** ListAdminTokens. */
export async function listAdminTokens(ctx: AdminCtx): Promise<ClusterResponses['ListAdminTokens']> {
  const stored = (await live(ctx)).sort((a, b) => a.created - b.created).map(tokenInfo);
  return [...configTokens(ctx), ...stored];
}

/** GetAdminTokenInfo: by id, or a search (a unique id prefix, or the exact name). */
export async function getAdminTokenInfo(
  ctx: AdminCtx,
  q: ClusterRequest<'GetAdminTokenInfo'>,
): Promise<AdminTokenInfo> {
  if ((q.id === undefined) === (q.search === undefined)) throw new AdminError('give exactly one of id and search');
  if (q.id !== undefined) return tokenInfo(await byId(ctx, q.id));
  const s = q.search!;
  const matches = (await live(ctx)).filter((t) => t.id.startsWith(s) || t.name.v === s);
  if (matches.length === 1) return tokenInfo(matches[0]!);
  if (matches.length === 0) throw new AdminNotFoundError('NoSuchAdminToken', `no admin token matches '${s}'`);
  throw new AdminError(`'${s}' matches ${matches.length} admin tokens: ${matches.map((t) => t.id).join(', ')}`);
}

function expirationOf(body: TokenBody): number | null | undefined {
  if (body.expiration && body.neverExpires) throw new AdminError('expiration and neverExpires are exclusive');
  if (body.expiration) return Date.parse(body.expiration);
  return body.neverExpires ? null : undefined;
}

function checkScope(scope: string[]): string[] {
  for (const s of scope)
    if (!/^[A-Za-z*]+$/.test(s)) throw new AdminError(`invalid scope entry '${s}': an operation name or *`);
  return scope;
}

/** CreateAdminToken: the secret is in this answer only. */
export async function createAdminToken(ctx: AdminCtx, body: TokenBody): Promise<ClusterResponses['CreateAdminToken']> {
  const [entry, secretToken] = newAdminToken(
    body.name ?? 'Unnamed token',
    checkScope(body.scope ?? ['*']),
    expirationOf(body) ?? null,
  );
  await ctx.model.adminToken.insert(entry);
  return { ...tokenInfo(entry), secretToken };
}

/** UpdateAdminToken: name, scope, expiration. */
export async function updateAdminToken(
  ctx: AdminCtx,
  req: ClusterRequest<'UpdateAdminToken'>,
): Promise<AdminTokenInfo> {
  let t = await byId(ctx, req.id);
  const b = req.body;
  if (b.name !== undefined && b.name !== null) t = { ...t, name: lwwNext(t.name, b.name) };
  if (b.scope !== undefined && b.scope !== null) t = { ...t, scope: lwwNext(t.scope, checkScope(b.scope)) };
  const exp = expirationOf(b);
  if (exp !== undefined) t = { ...t, expiration: lwwNext(t.expiration, exp) };
  await ctx.model.adminToken.insert(t);
  return tokenInfo(await byId(ctx, req.id));
}

/** DeleteAdminToken. */
export async function deleteAdminToken(ctx: AdminCtx, id: string): Promise<null> {
  const t = await byId(ctx, id);
  await ctx.model.adminToken.insert({ ...t, deleted: true, secretHash: Buffer.alloc(0) });
  return null;
}
