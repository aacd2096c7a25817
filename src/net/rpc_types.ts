import type { Readable } from 'node:stream';
import { NetError } from '../util/errors.ts';

/** Scheduling class of a call: pings/metadata before bulk. */
export type Priority = 'high' | 'normal' | 'background';

/** The scheduler level of each priority (0 is served first). */
export const PRIORITY: Record<Priority, number> = { high: 0, normal: 1, background: 2 };

/** Options of one call. */
export interface CallOptions {
  /** Time allowed until the response message arrives (default 30000); also the stall limit of attached streams. */
  timeoutMs?: number;
  /** Default 'normal'. */
  priority?: Priority;
  /** Byte stream attached to the request; destroyed if the call is cancelled or the callee drops it. */
  stream?: Readable;
  /** Cancels the call (and its response stream, once received). */
  signal?: AbortSignal;
}

/** A call's result: the response body and an optional attached byte stream. */
export interface RpcResponse {
  body: unknown;
  stream?: Readable;
}

/**
 * Serves one endpoint. `stream` is the request's attached stream: consume it
 * before resolving (unless a response stream is returned), as it is released
 * when the handler settles. `signal` aborts when the caller cancels or the
 * connection drops.
 */
export type RpcHandler = (
  from: string,
  body: unknown,
  stream: Readable | undefined,
  signal: AbortSignal,
) => Promise<RpcResponse>;

/** The remote handler failed; `message` is the remote message, `remoteName` the remote error class name. */
export class RemoteError extends NetError {
  override name = 'RemoteError';
  readonly remoteName: string;
  constructor(message: string, remoteName: string) {
    super(message);
    this.remoteName = remoteName;
  }
}

export const DEFAULT_TIMEOUT_MS = 30_000;
/** Receive window per attached stream, unless configured. */
export const DEFAULT_WINDOW = 1024 * 1024;

/** A node id as logs and messages show it. */
export function shortId(id: string): string {
  return id.slice(0, 16);
}
