import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { System } from '../../rpc/system.ts';
import { quorums } from '../../rpc/rpc_helper.ts';
import type { AdminRpc } from './rpc.ts';
import type { Metrics } from './metrics.ts';

/** Settings of the admin HTTP API (`[admin]`). */
export interface AdminHttpOptions {
  system: System;
  admin: AdminRpc;
  metrics: Metrics;
  adminToken?: string;
  metricsToken?: string;
  replicationFactor: number;
  consistency: 'consistent' | 'degraded' | 'dangerous';
}

function bearerOk(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7).trim() : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

/** Whether every partition has enough reachable replicas for reads and writes. */
export function clusterHealth(o: AdminHttpOptions): {
  status: 'healthy' | 'degraded' | 'unavailable';
  partitions: number;
  partitionsQuorum: number;
  partitionsAllOk: number;
  connectedNodes: number;
} {
  const up = new Set([
    o.system.rpc.id,
    ...o.system.membership
      .peers()
      .filter((p) => p.connected)
      .map((p) => p.id),
  ]);
  const assignment = o.system.layout.current().assignment;
  const { read, write } = quorums(o.replicationFactor, o.consistency);
  let quorum = 0;
  let allOk = 0;
  for (const nodes of assignment) {
    const n = nodes.filter((x) => up.has(x)).length;
    if (n >= Math.max(read, write)) quorum++;
    if (n === nodes.length) allOk++;
  }
  const status =
    assignment.length === 0 || quorum < assignment.length
      ? 'unavailable'
      : allOk < assignment.length
        ? 'degraded'
        : 'healthy';
  return {
    status,
    partitions: assignment.length,
    partitionsQuorum: quorum,
    partitionsAllOk: allOk,
    connectedNodes: up.size,
  };
}

/**
 * The admin HTTP API: `/health` (no auth; 200 while every partition has a quorum),
 * `/metrics` (Prometheus; bearer metrics_token when set), and `/v1/status`, `/v1/health`
 * (bearer admin_token; disabled when no token is configured).
 */
export function adminHttpHandler(o: AdminHttpOptions) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'Method not allowed\n');
      return;
    }
    if (path === '/health') {
      const h = clusterHealth(o);
      send(
        res,
        h.status === 'unavailable' ? 503 : 200,
        h.status === 'healthy'
          ? 'Garage is fully operational\n'
          : h.status === 'degraded'
            ? 'Garage is operational, some nodes are down\n'
            : 'Garage is not able to serve all requests: quorum unavailable for some partitions\n',
      );
      return;
    }
    if (path === '/metrics') {
      if (o.metricsToken && !bearerOk(req, o.metricsToken)) {
        send(res, 403, 'Forbidden: a valid metrics_token is required\n');
        return;
      }
      send(res, 200, await o.metrics.registry.metrics(), o.metrics.registry.contentType);
      return;
    }
    if (path.startsWith('/v1/')) {
      if (!o.adminToken) {
        send(res, 403, 'Forbidden: admin_token is not set in the configuration\n');
        return;
      }
      if (!bearerOk(req, o.adminToken)) {
        send(res, 403, 'Forbidden: invalid admin token\n');
        return;
      }
      if (path === '/v1/health') {
        send(res, 200, JSON.stringify(clusterHealth(o)), 'application/json');
        return;
      }
      if (path === '/v1/status') {
        send(res, 200, JSON.stringify(await o.admin.handle({ op: 'status' })), 'application/json');
        return;
      }
    }
    send(res, 404, 'Not found\n');
  };
}
