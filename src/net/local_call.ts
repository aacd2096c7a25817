import type { Readable } from 'node:stream';
import { NetError, errorMessage } from '../util/errors.ts';
import { DEFAULT_TIMEOUT_MS, RemoteError, type CallOptions, type RpcHandler, type RpcResponse } from './rpc_types.ts';
import { decode, encode } from './wire.ts';

/** A call to this node: the semantics of a remote call (bodies go through msgpack, errors become RemoteError), no network. */
export function localCall(
  self: string,
  handler: RpcHandler | undefined,
  endpoint: string,
  body: unknown,
  opts: CallOptions,
): Promise<RpcResponse> {
  const reqBody = decode(encode(body));
  const reqStream = opts.stream;
  if (!handler) {
    reqStream?.destroy();
    return Promise.reject(new RemoteError(`unknown endpoint ${endpoint}`, 'NetError'));
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const ac = new AbortController();
  const release = (s: Readable | undefined): void => {
    if (s && !s.readableEnded && !s.destroyed) s.destroy();
  };
  return new Promise<RpcResponse>((resolve, reject) => {
    let settled = false;
    let respStream: Readable | undefined;
    const signal = opts.signal;
    const fail = (err: Error): void => {
      if (settled) {
        // Cancelling after the response: release the response stream, as remotely.
        if (respStream && !respStream.readableEnded) respStream.destroy(err);
        return;
      }
      settled = true;
      clearTimeout(timer);
      ac.abort(err);
      release(reqStream);
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new NetError(`call ${endpoint} to self timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = (): void => fail(new NetError(`call ${endpoint} to self aborted`));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
    };
    Promise.resolve()
      .then(() => handler(self, reqBody, reqStream, ac.signal))
      .then(
        (resp) => {
          if (settled) {
            resp.stream?.destroy();
            return;
          }
          done();
          if (!resp.stream) release(reqStream);
          let out: unknown;
          try {
            out = decode(encode(resp.body));
          } catch (e) {
            resp.stream?.destroy();
            signal?.removeEventListener('abort', onAbort);
            reject(new RemoteError(errorMessage(e), 'NetError'));
            return;
          }
          if (resp.stream) {
            respStream = resp.stream;
            respStream.once('close', () => signal?.removeEventListener('abort', onAbort));
            resolve({ body: out, stream: resp.stream });
          } else {
            signal?.removeEventListener('abort', onAbort);
            resolve({ body: out });
          }
        },
        (e: unknown) => {
          if (settled) return;
          done();
          signal?.removeEventListener('abort', onAbort);
          release(reqStream);
          reject(new RemoteError(errorMessage(e), e instanceof Error ? e.name : 'Error'));
        },
      );
  });
}
