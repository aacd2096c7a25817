import type { Readable } from 'node:stream';
import { z } from 'zod';
import { NetError, NetTimeoutError } from '../util/errors.ts';
import { rpcMetrics } from '../util/metrics.ts';
import { DEFAULT_TIMEOUT_MS, type CallOptions, type RpcHandler, type RpcResponse } from './rpc_types.ts';

/**
 * One RPC endpoint: its name and the schemas of its request and its answer. Both are checked
 * where they enter a node, so a handler gets a typed request and a caller a typed answer, and
 * a malformed message from a peer is a clear error, never a crash deeper down.
 */
export interface Endpoint<Req, Res> {
  readonly name: string;
  readonly request: z.ZodType<Req>;
  readonly response: z.ZodType<Res>;
  /**
   * Set on direct endpoints: the handler each transport of this process serves, which a call to
   * self runs in place (no copy through msgpack, no schema check: both sides are this code).
   */
  readonly local?: WeakMap<RpcTransport, Handler<Req, Res>>;
}

type Handler<Req, Res> = (from: string, req: Req, stream: Readable | undefined) => Promise<Res>;

/**
 * Defines an endpoint. `direct`: calls to self skip the copy of a remote call, so neither the
 * handler nor the caller may mutate the request or the answer (the hot table and block paths).
 */
export function endpoint<Req, Res>(
  name: string,
  request: z.ZodType<Req>,
  response: z.ZodType<Res>,
  opts: { direct?: boolean } = {},
): Endpoint<Req, Res> {
  return { name, request, response, ...(opts.direct ? { local: new WeakMap() } : {}) };
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
  const local = to === rpc.id && !opts?.stream ? ep.local?.get(rpc) : undefined;
  if (local) return { body: await inPlace(ep.name, local(to, req, undefined), opts) };
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

// A call to self run in place still times out as a remote one would (a stuck disk must not
// hang the request) and still honours its abort signal.
function inPlace<Res>(name: string, p: Promise<Res>, opts: CallOptions | undefined): Promise<Res> {
  const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = opts?.signal;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NetTimeoutError(`call ${name} to self timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    onAbort = () => reject(new NetError(`call ${name} to self aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([p, cut]).finally(() => {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  });
}

/** Serves an endpoint; a request that does not match its schema is refused with a clear error. */
export function serve<Req, Res>(rpc: RpcTransport, ep: Endpoint<Req, Res>, handler: Handler<Req, Res>): void {
  ep.local?.set(rpc, handler);
  rpc.register(ep.name, async (from, body, stream) => ({
    body: await handler(from, check(ep.request, body, `${ep.name} request from ${from.slice(0, 16)}`), stream),
  }));
}
