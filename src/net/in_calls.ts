// The callee side of the calls on one connection: request messages and streams in, the
// handler run, its response (message, then an optional stream) out; cancellation by the caller.

import type { Readable } from 'node:stream';
import { NetError, errorMessage } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { DEFAULT_TIMEOUT_MS, RemoteError, type RpcHandler, type RpcResponse } from './rpc_types.ts';
import { InStream, OutSender, SendQueue } from './stream.ts';
import { decode, encode, frame, Kind, MAX_MESSAGE_BYTES, u32, readU32 } from './wire.ts';
import type { CallHost } from './out_calls.ts';

const log = logger('net/netapp');

/** What the calls served on a connection need of it. */
export interface ServeHost extends CallHost {
  handlerFor(endpoint: string): RpcHandler | undefined;
}

/** Callee-side state of one call. */
interface InCall {
  sid: number;
  chunks: Buffer[];
  bytes: number;
  started: boolean;
  prio: number;
  q: SendQueue | undefined;
  reqStream: InStream | undefined;
  respSender: OutSender | undefined;
  respQueued: boolean;
  cancelled: boolean;
  ac: AbortController;
  timeoutMs: number;
}

/** The calls the peer started on one connection. */
export class InCalls {
  readonly host: ServeHost;
  private readonly calls = new Map<number, InCall>();

  constructor(host: ServeHost) {
    this.host = host;
  }

  /** Calls in flight. */
  get size(): number {
    return this.calls.size;
  }

  /** Drops every call (the connection is lost). */
  failAll(err: Error): void {
    for (const c of this.calls.values()) this.dropIn(c, err);
    this.calls.clear();
  }

  private startIn(c: InCall): void {
    const buf = c.chunks.length === 1 ? c.chunks[0]! : Buffer.concat(c.chunks, c.bytes);
    c.chunks = [];
    c.started = true;
    const m = decode(buf);
    if (!Array.isArray(m) || typeof m[0] !== 'string') throw new NetError('protocol error: malformed request');
    const [endpoint, body, hasStream, prio, timeoutMs] = m as [string, unknown, boolean, unknown, unknown];
    c.prio = typeof prio === 'number' && prio >= 0 && prio <= 2 ? prio : 1;
    // The caller's timeout bounds how long its request stream may stall.
    if (typeof timeoutMs === 'number' && timeoutMs > 0) c.timeoutMs = timeoutMs;
    c.q = new SendQueue(c.prio);
    if (hasStream) {
      c.reqStream = new InStream({
        window: this.host.streamWindow,
        idleTimeoutMs: c.timeoutMs,
        grant: (n) => this.host.sched.sendControl(frame(Kind.REQ_WINDOW, c.sid, u32(n))),
        onAbandon: () => {
          if (!c.cancelled) this.host.sched.sendControl(frame(Kind.REQ_STOP, c.sid));
          this.checkInDone(c);
        },
      });
    }
    this.runHandler(c, endpoint, body).catch((e: unknown) => {
      log.error({ err: errorMessage(e), endpoint }, 'internal error while answering a call');
      this.dropIn(c, new NetError(errorMessage(e)));
    });
  }

  private async runHandler(c: InCall, endpoint: string, body: unknown): Promise<void> {
    const handler = this.host.handlerFor(endpoint);
    let resp: RpcResponse;
    try {
      if (!handler) throw new NetError(`unknown endpoint ${endpoint}`);
      const r: RpcResponse | undefined = await handler(this.host.peerId, body, c.reqStream, c.ac.signal);
      // Tolerate handlers (plain JS) that resolve to nothing.
      resp = r && typeof r === 'object' ? r : { body: undefined };
    } catch (e) {
      if (c.cancelled) return;
      this.releaseReqStream(c);
      this.respond(c, encode([false, errorMessage(e), false, e instanceof Error ? e.name : 'Error']), undefined);
      return;
    }
    if (c.cancelled) {
      resp.stream?.destroy();
      return;
    }
    // A returned response stream may be fed from the request stream (echo): keep it then.
    if (!resp.stream) this.releaseReqStream(c);
    let msg: Buffer;
    try {
      msg = encode([true, resp.body, resp.stream !== undefined]);
      if (msg.length > MAX_MESSAGE_BYTES) throw new NetError(`response message too large (${msg.length} bytes)`);
    } catch (e) {
      resp.stream?.destroy();
      this.releaseReqStream(c);
      this.respond(c, encode([false, errorMessage(e), false, 'NetError']), undefined);
      return;
    }
    this.respond(c, msg, resp.stream);
  }

  /** Drops a request stream the handler did not read to its end (tells the caller to stop). */
  private releaseReqStream(c: InCall): void {
    const s = c.reqStream;
    if (s && !s.finished && !s.destroyed) s.destroy();
  }

  private respond(c: InCall, msg: Buffer, stream: Readable | undefined): void {
    this.host.enqueueMessage(c.q!, Kind.RESP, c.sid, msg);
    c.respQueued = true;
    if (stream) {
      c.respSender = new OutSender(
        this.host,
        c.q!,
        c.sid,
        Kind.RESP_DATA,
        Kind.RESP_ERR,
        stream,
        this.host.peerWindow,
        () => this.checkInDone(c),
      );
      c.respSender.start();
    }
    this.checkInDone(c);
  }

  private checkInDone(c: InCall): void {
    if (!c.respQueued || c.cancelled) return;
    if (c.respSender && !c.respSender.finished) return;
    // The response is all out: a request stream nobody read to its end never will be.
    if (c.reqStream && !c.reqStream.finished) this.releaseReqStream(c);
    if (c.reqStream && !c.reqStream.finished) return;
    if (this.calls.get(c.sid) === c) {
      this.calls.delete(c.sid);
      this.host.afterCallEnded();
    }
  }

  /** Drops a callee-side call (caller cancelled, or connection lost). */
  private dropIn(c: InCall, err: Error): void {
    if (c.cancelled) return;
    c.cancelled = true;
    c.ac.abort(err);
    c.reqStream?.fail(err);
    c.respSender?.stop();
    if (c.q) this.host.sched.drop(c.q);
  }

  /** Handles a frame of a call the peer started; false when the frame kind is not ours. */
  onFrame(kind: number, sid: number, p: Buffer, fin: boolean): boolean {
    switch (kind) {
      case Kind.REQ: {
        // Calls started by the peer carry the peer's parity.
        if ((sid & 1) === (this.host.outgoing ? 1 : 0) || sid === 0)
          throw new NetError('protocol error: request id of wrong parity');
        let c = this.calls.get(sid);
        if (!c) {
          c = {
            sid,
            chunks: [],
            bytes: 0,
            started: false,
            prio: 1,
            q: undefined,
            reqStream: undefined,
            respSender: undefined,
            respQueued: false,
            cancelled: false,
            ac: new AbortController(),
            timeoutMs: DEFAULT_TIMEOUT_MS,
          };
          this.calls.set(sid, c);
        } else if (c.started) throw new NetError('protocol error: request id reused');
        c.chunks.push(p);
        c.bytes += p.length;
        if (c.bytes > MAX_MESSAGE_BYTES) throw new NetError('protocol error: request message too large');
        if (fin) this.startIn(c);
        return true;
      }
      case Kind.REQ_DATA: {
        const c = this.calls.get(sid);
        if (c?.reqStream) {
          c.reqStream.deliver(p, fin);
          if (fin) this.checkInDone(c);
        }
        return true;
      }
      case Kind.REQ_ERR:
        this.calls
          .get(sid)
          ?.reqStream?.fail(new RemoteError(`request stream failed at caller: ${p.toString()}`, 'StreamError'));
        return true;
      case Kind.RESP_WINDOW:
        this.calls.get(sid)?.respSender?.addCredit(readU32(p));
        return true;
      case Kind.CANCEL: {
        const c = this.calls.get(sid);
        if (c) {
          this.calls.delete(sid);
          this.dropIn(c, new NetError('call cancelled by caller'));
          this.host.afterCallEnded();
        }
        return true;
      }
      default:
        return false;
    }
  }
}
