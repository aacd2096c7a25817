// The caller side of the calls on one connection: request messages and streams out, their
// responses (message, then an optional stream) in, timeouts and cancellation.

import { NetError, NetTimeoutError } from '../util/errors.ts';
import { DEFAULT_TIMEOUT_MS, PRIORITY, RemoteError, shortId, type CallOptions, type RpcResponse } from './rpc_types.ts';
import { InStream, OutSender, SendQueue, type OutSenderHost, type Scheduler } from './stream.ts';
import { decode, encode, frame, Kind, MAX_MESSAGE_BYTES, u32, readU32 } from './wire.ts';

/** What the calls of a connection need of it. */
export interface CallHost extends OutSenderHost {
  readonly peerId: string;
  /** We dialed the connection (our call ids are odd), else the peer did. */
  readonly outgoing: boolean;
  readonly closed: boolean;
  /** The peer's receive window per stream. */
  readonly peerWindow: number;
  /** Our receive window per stream. */
  readonly streamWindow: number;
  readonly sched: Scheduler;
  /** Queues a message of a call, cut in frames. */
  enqueueMessage(q: SendQueue, kind: number, sid: number, msg: Buffer): void;
  /** A call ended (a retired connection may close). */
  afterCallEnded(): void;
}

/** Caller-side state of one call. */
interface OutCall {
  sid: number;
  endpoint: string;
  q: SendQueue;
  settled: boolean;
  done: boolean;
  resolve: (r: RpcResponse) => void;
  reject: (e: Error) => void;
  respChunks: Buffer[];
  respBytes: number;
  respReceived: boolean;
  respStream: InStream | undefined;
  reqSender: OutSender | undefined;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  timeoutMs: number;
}

/** The calls this node started on one connection. */
export class OutCalls {
  readonly host: CallHost;
  private readonly calls = new Map<number, OutCall>();
  private nextSid: number;

  constructor(host: CallHost) {
    this.host = host;
    this.nextSid = host.outgoing ? 1 : 2;
  }

  /** Calls in flight. */
  get size(): number {
    return this.calls.size;
  }

  /** Fails every call (the connection is lost). */
  failAll(err: Error): void {
    for (const c of this.calls.values()) this.finishOut(c, err);
    this.calls.clear();
  }

  private allocSid(): number {
    for (;;) {
      const sid = this.nextSid;
      this.nextSid += 2;
      // Wrap far before u32 overflow, keeping our parity; skip ids still in use.
      if (this.nextSid > 0xfffffff0) this.nextSid = this.host.outgoing ? 1 : 2;
      if (!this.calls.has(sid)) return sid;
    }
  }

  /** Starts a call on this connection. */
  call(endpoint: string, body: unknown, opts: CallOptions): Promise<RpcResponse> {
    const prio = PRIORITY[opts.priority ?? 'normal'];
    if (prio === undefined) return Promise.reject(new NetError(`invalid priority ${String(opts.priority)}`));
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const msg = encode([endpoint, body, opts.stream !== undefined, prio, timeoutMs]);
    if (msg.length > MAX_MESSAGE_BYTES)
      return Promise.reject(new NetError(`request message too large (${msg.length} bytes)`));
    const sid = this.allocSid();
    return new Promise<RpcResponse>((resolve, reject) => {
      const c: OutCall = {
        sid,
        endpoint,
        q: new SendQueue(prio),
        settled: false,
        done: false,
        resolve,
        reject,
        respChunks: [],
        respBytes: 0,
        respReceived: false,
        respStream: undefined,
        reqSender: undefined,
        timer: undefined,
        signal: opts.signal,
        onAbort: undefined,
        timeoutMs,
      };
      this.calls.set(sid, c);
      c.timer = setTimeout(() => {
        this.cancelOut(
          c,
          new NetTimeoutError(`call ${endpoint} to ${shortId(this.host.peerId)} timed out after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      if (opts.signal) {
        const signal = opts.signal;
        c.onAbort = () =>
          this.cancelOut(
            c,
            new NetError(
              `call ${endpoint} to ${shortId(this.host.peerId)} aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`,
            ),
          );
        signal.addEventListener('abort', c.onAbort, { once: true });
      }
      this.host.enqueueMessage(c.q, Kind.REQ, sid, msg);
      if (opts.stream) {
        c.reqSender = new OutSender(
          this.host,
          c.q,
          sid,
          Kind.REQ_DATA,
          Kind.REQ_ERR,
          opts.stream,
          this.host.peerWindow,
          () => this.checkOutDone(c),
        );
        c.reqSender.start();
      }
    });
  }

  /** Cancels a call: rejects it if pending, releases its streams, tells the callee. */
  private cancelOut(c: OutCall, err: Error): void {
    if (c.done) return;
    // Frames already on the wire mean the callee may hold state for this call.
    const tellPeer = c.q.sent > 0;
    this.finishOut(c, err);
    if (tellPeer && !this.host.closed) this.host.sched.sendControl(frame(Kind.CANCEL, c.sid));
  }

  /** Ends a call for good; `err` fails whatever is still pending. */
  private finishOut(c: OutCall, err: Error | undefined): void {
    if (c.done) return;
    c.done = true;
    this.calls.delete(c.sid);
    if (c.timer) clearTimeout(c.timer);
    if (c.onAbort) c.signal?.removeEventListener('abort', c.onAbort);
    if (err) {
      if (!c.settled) {
        c.settled = true;
        c.reject(err);
      }
      this.host.sched.drop(c.q);
      c.reqSender?.stop();
      c.respStream?.fail(err);
    }
    this.host.afterCallEnded();
  }

  private checkOutDone(c: OutCall): void {
    if (c.done || !c.respReceived) return;
    if (c.respStream && !c.respStream.finished) return;
    if (c.reqSender && !c.reqSender.finished) return;
    this.finishOut(c, undefined);
  }

  private onResponse(c: OutCall): void {
    const buf = c.respChunks.length === 1 ? c.respChunks[0]! : Buffer.concat(c.respChunks, c.respBytes);
    c.respChunks = [];
    c.respReceived = true;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    const m = decode(buf);
    if (!Array.isArray(m) || typeof m[0] !== 'boolean') throw new NetError('protocol error: malformed response');
    const [ok, payload, hasStream, errName] = m as [boolean, unknown, boolean, unknown];
    c.settled = true;
    if (!ok) {
      c.reject(
        new RemoteError(
          typeof payload === 'string' ? payload : String(payload),
          typeof errName === 'string' ? errName : 'Error',
        ),
      );
    } else if (hasStream) {
      c.respStream = new InStream({
        window: this.host.streamWindow,
        idleTimeoutMs: c.timeoutMs,
        grant: (n) => this.host.sched.sendControl(frame(Kind.RESP_WINDOW, c.sid, u32(n))),
        // The consumer dropped the response stream: the callee can stop sending.
        onAbandon: () => this.cancelOut(c, new NetError('response stream dropped')),
      });
      c.resolve({ body: payload, stream: c.respStream });
    } else {
      c.resolve({ body: payload });
    }
    this.checkOutDone(c);
  }

  /** Handles a frame of a call we started; false when the frame kind is not ours. */
  onFrame(kind: number, sid: number, p: Buffer, fin: boolean): boolean {
    switch (kind) {
      case Kind.RESP: {
        const c = this.calls.get(sid);
        if (!c || c.respReceived) return true;
        c.respChunks.push(p);
        c.respBytes += p.length;
        if (c.respBytes > MAX_MESSAGE_BYTES) throw new NetError('protocol error: response message too large');
        if (fin) this.onResponse(c);
        return true;
      }
      case Kind.RESP_DATA: {
        const c = this.calls.get(sid);
        if (c?.respStream) {
          c.respStream.deliver(p, fin);
          if (fin) this.checkOutDone(c);
        }
        return true;
      }
      case Kind.RESP_ERR: {
        const c = this.calls.get(sid);
        if (c?.respStream) {
          c.respStream.fail(new RemoteError(`response stream failed at callee: ${p.toString()}`, 'StreamError'));
          this.checkOutDone(c);
        }
        return true;
      }
      case Kind.REQ_WINDOW:
        this.calls.get(sid)?.reqSender?.addCredit(readU32(p));
        return true;
      case Kind.REQ_STOP:
        this.calls.get(sid)?.reqSender?.stop();
        return true;
      default:
        return false;
    }
  }
}
