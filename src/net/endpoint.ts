import type { Readable } from 'node:stream';
import { z } from 'zod';
import { NetError, NetTimeoutError } from '../util/errors.ts';
import { rpcMetrics } from '../util/metrics.ts';
import type { CallOptions, RpcHandler, RpcResponse } from './rpc_types.ts';

/**
 * One RPC endpoint: its name and the schemas of its request and its answer. Both are checked
 * where they enter a node, so a handler gets a typed request and a caller a typed answer, and
 * a malformed message from a peer is a clear error, never a crash deeper down.
 */
export interface Endpoint<Req, Res> {
  readonly name: string;
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
}

/** Defines an endpoint. */
export function endpoint<Req, Res>(
  name: string,
  request: z.ZodType<Req>,
  response: z.ZodType<Res>,
): Endpoint<Req, Res> {
  return { name, request, response };
}

/** The untyped node-to-node transport (NetApp, or an in-memory one in tests). */
export interface RpcTransport {
  readonly id: string;
  call(to: string, endpoint: string, body: unknown, opts?: CallOptions): Promise<RpcResponse>;
  register(endpoint: string, handler: RpcHandler): void;
}

/** A Buffer (msgpack decodes binary as Buffer). */
export const zBuf = z.instanceof(Buffer);

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new NetError(`malformed ${what}: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
  return r.data;
}

/** Calls an endpoint on a node; the answer is checked against the endpoint's schema. */
export async function call<Req, Res>(
  rpc: RpcTransport,
  to: string,
  ep: Endpoint<Req, Res>,
  req: Req,
  opts?: CallOptions,
): Promise<{ body: Res; stream?: Readable }> {
  const labels = { from: rpc.id.slice(0, 16), rpc_endpoint: ep.name, to: to.slice(0, 16) };
  rpcMetrics.requests.inc(labels);
  const end = rpcMetrics.duration.startTimer(labels);
  let r: RpcResponse;
  try {
    r = await rpc.call(to, ep.name, req, opts);
  } catch (e) {
    if (e instanceof NetTimeoutError) rpcMetrics.timeouts.inc(labels);
    else if (e instanceof NetError) rpcMetrics.errors.inc(labels);
    throw e;
  } finally {
    end();
  }
  return { body: check(ep.response, r.body, `answer to ${ep.name} from ${to.slice(0, 16)}`), stream: r.stream };
}

/** Serves an endpoint; a request that does not match its schema is refused with a clear error. */
export function serve<Req, Res>(
  rpc: RpcTransport,
  ep: Endpoint<Req, Res>,
  handler: (from: string, req: Req, stream: Readable | undefined) => Promise<Res>,
): void {
  rpc.register(ep.name, async (from, body, stream) => ({
    body: await handler(from, check(ep.request, body, `${ep.name} request from ${from.slice(0, 16)}`), stream),
  }));
}
