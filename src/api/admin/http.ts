import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { AdminError, errorMessage } from '../../util/errors.ts';
import { CLUSTER_REQUESTS, isAdminOp, isLocalOp, type AdminOp, type AdminTokenInfo } from '../../admin/api.ts';
import { toAdminError, type AdminApi, type Caller } from '../../admin/ops.ts';
import { clusterHealth } from '../../admin/cluster.ts';
import { tokenInfo } from '../../admin/token.ts';
import { tokenExpired, tokenSecretMatches } from '../../model/admin_token.ts';
import type { Metrics } from './metrics.ts';
import type { ConsoleAssets } from './console.ts';
import { s3ErrorRenderer, type Handler } from '../common/http.ts';
import { S3Error } from '../common/s3_error.ts';

/** Settings of the admin HTTP API (`[admin]`). */
export interface AdminHttpOptions {
  api: AdminApi;
  metrics: Metrics;
  adminToken?: string;
  metricsToken?: string;
  /** Whether /metrics needs a token even when metrics_token is not set. */
  metricsRequireToken?: boolean;
  /** The website endpoint's root domain, for /check (`.web.example.com`). */
  webRootDomain?: string;
  /** The web console's files, served at `/` and `/ui/`. */
  console?: ConsoleAssets;
  /** The S3 API, reached by the console's object browser under `/s3/` (same origin, no CORS). */
  s3?: Handler;
}

/** The operations Garage serves with GET; every other one is a POST. */
export const GET_OPS = new Set<AdminOp>([
  'GetClusterStatus',
  'GetClusterHealth',
  'GetClusterStatistics',
  'GetClusterLayout',
  'GetClusterLayoutHistory',
  'GetClusterLayoutPartitions',
  'ListAdminTokens',
  'GetAdminTokenInfo',
  'GetCurrentAdminTokenInfo',
  'ListKeys',
  'GetKeyInfo',
  'ListBuckets',
  'GetBucketInfo',
  'InspectObject',
  'GetNodeInfo',
  'GetNodeStatistics',
  'ListBlockErrors',
]);
/** Query parameters that are booleans. */
const BOOL_PARAMS = new Set(['showSecretKey']);
const MAX_BODY = 1 << 20;

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, `${JSON.stringify(value ?? null)}\n`, 'application/json');
}

function sendError(res: ServerResponse, path: string, status: number, code: string, message: string): void {
  sendJson(res, status, { code, message, region: 'garage', path });
}

function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : '';
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// Reads a JSON body of at most MAX_BODY bytes; an empty body is undefined.
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > MAX_BODY) throw new AdminError(`request body over ${MAX_BODY} bytes`, 'InvalidRequest', 413);
    chunks.push(b);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AdminError(`request body is not valid JSON: ${errorMessage(e)}`);
  }
}

/** Builds an operation's request from the query parameters and the JSON body. */
function requestOf(op: AdminOp, query: URLSearchParams, body: unknown): unknown {
  const params: Record<string, unknown> = {};
  for (const [k, v] of query) {
    if (k in params) throw new AdminError(`query parameter '${k}' given twice`);
    params[k] = BOOL_PARAMS.has(k) ? v === 'true' || v === '' || v === '1' : v;
  }
  if (isLocalOp(op)) return { ...params, body: body ?? {} };
  const shape = CLUSTER_REQUESTS[op].shape;
  return 'body' in shape ? { ...params, body: body ?? {} } : params;
}

/**
 * The admin HTTP API: Garage's admin API v2 under `/v2/<Operation>` (bearer tokens: the
 * configuration's admin_token, or a stored admin token within its scope), `/health` and
 * `/check` (no token), `/metrics` (metrics_token), and the web console at `/`.
 */
export function adminHttpHandler(o: AdminHttpOptions) {
  // Who a token is, or why it is refused (401: no or unknown token; 403: valid but not for this).
  const authenticate = async (token: string | undefined, op: string): Promise<Caller | [number, string]> => {
    if (token === undefined) return [401, 'an admin token is required: Authorization: Bearer <token>'];
    if (o.adminToken && same(token, o.adminToken))
      return {
        token: { id: null, name: 'admin_token', created: null, expiration: null, expired: false, scope: ['*'] },
      };
    if (op === 'Metrics' && o.metricsToken && same(token, o.metricsToken))
      return {
        token: { id: null, name: 'metrics_token', created: null, expiration: null, expired: false, scope: ['Metrics'] },
      };
    const dot = token.indexOf('.');
    const id = dot > 0 ? token.slice(0, dot) : '';
    const t = /^[0-9a-f]{24}$/.test(id)
      ? await o.api.ctx.model.adminToken.get(Buffer.from(id), Buffer.alloc(0))
      : undefined;
    if (!t || t.deleted || !tokenSecretMatches(t, token.slice(dot + 1))) return [401, 'invalid admin token'];
    if (tokenExpired(t)) return [403, `admin token ${t.id} has expired`];
    const info: AdminTokenInfo = tokenInfo(t);
    if (!t.scope.v.includes('*') && !t.scope.v.includes(op))
      return [403, `admin token ${t.id} may not call ${op} (scope: ${t.scope.v.join(', ') || 'none'})`];
    return { token: info };
  };

  return async (
    req: IncomingMessage,
    res: ServerResponse,
    ctx: { requestId: string; expectContinue: boolean },
  ): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (o.s3 && (path === '/s3' || path.startsWith('/s3/'))) {
      // The signature covers the path without the prefix: the S3 API sees the request as sent to it.
      req.url = (req.url ?? '/').slice(3) || '/';
      try {
        await o.s3(req, res, ctx);
      } catch (e) {
        if (!(e instanceof S3Error)) throw e;
        s3ErrorRenderer(res, e, { resource: req.url, requestId: ctx.requestId, head: method === 'HEAD' });
      }
      return;
    }
    if (path === '/ui/history.json') {
      const who = await authenticate(bearer(req), 'GetNodeStatistics');
      if (Array.isArray(who)) return sendError(res, path, who[0], 'Forbidden', who[1]);
      return sendJson(res, 200, await o.metrics.history());
    }
    if (path === '/health' || path === '/check' || path === '/metrics') {
      if (method !== 'GET' && method !== 'HEAD') return sendError(res, path, 405, 'MethodNotAllowed', `use GET`);
      if (path === '/health') {
        const h = clusterHealth(o.api.ctx);
        return send(
          res,
          h.status === 'unavailable' ? 503 : 200,
          h.status === 'healthy'
            ? 'Garage is fully operational\n'
            : h.status === 'degraded'
              ? 'Garage is operational, some nodes are down\n'
              : 'Garage is not able to serve all requests: quorum unavailable for some partitions\n',
        );
      }
      if (path === '/check') return checkDomain(o, url.searchParams.get('domain'), res);
      if (o.metricsToken || o.metricsRequireToken) {
        const who = await authenticate(bearer(req), 'Metrics');
        if (Array.isArray(who)) return sendError(res, path, who[0], 'Forbidden', who[1]);
      }
      return send(res, 200, await o.metrics.registry.metrics(), o.metrics.registry.contentType);
    }
    if (path.startsWith('/v2/')) {
      const op = path.slice(4);
      if (!isAdminOp(op)) return sendError(res, path, 404, 'NotFound', `no admin API operation '${op}'`);
      const want = GET_OPS.has(op) ? 'GET' : 'POST';
      if (method !== want) return sendError(res, path, 405, 'MethodNotAllowed', `${op} is called with ${want}`);
      const who = await authenticate(bearer(req), op);
      if (Array.isArray(who))
        return sendError(res, path, who[0], who[0] === 401 ? 'Unauthorized' : 'Forbidden', who[1]);
      const started = performance.now();
      try {
        const body = want === 'POST' ? await jsonBody(req) : undefined;
        const out = await o.api.runRaw(op, requestOf(op, url.searchParams, body), who);
        sendJson(res, 200, out);
        o.metrics.observeAdmin(op, 200, (performance.now() - started) / 1000);
      } catch (e) {
        const a = toAdminError(e);
        if (!a) throw e;
        sendError(res, path, a.status, a.code, a.message);
        o.metrics.observeAdmin(op, a.status, (performance.now() - started) / 1000);
      }
      return;
    }
    if (o.console && (method === 'GET' || method === 'HEAD') && o.console.serve(path, req, res)) return;
    sendError(res, path, 404, 'NotFound', `nothing at ${path}`);
  };
}

// Whether a reverse proxy may get a certificate for this domain (Caddy's on-demand TLS asks).
async function checkDomain(o: AdminHttpOptions, domain: string | null, res: ServerResponse): Promise<void> {
  if (!domain) return send(res, 400, 'give ?domain=<domain>\n');
  const root = o.webRootDomain;
  const name = root && domain.endsWith(root) ? domain.slice(0, -root.length) : domain;
  const h = o.api.ctx.helpers;
  const id = await h.resolveBucket(name);
  const b = id && (await h.getBucket(id));
  if (b && b.website.v !== null) return send(res, 200, `Domain '${domain}' is managed by Garage\n`);
  send(res, 400, `Domain '${domain}' is not managed by Garage\n`);
}
