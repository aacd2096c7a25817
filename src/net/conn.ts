// One authenticated TLS connection with one peer: the socket's life, the HELLO and GOAWAY
// exchange, and the demultiplexing of frames to the calls each side started (out_calls.ts,
// in_calls.ts).

import type * as tls from 'node:tls';
import { NetError, errorMessage } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { InCalls, type ServeHost } from './in_calls.ts';
import type { NetApp } from './netapp.ts';
import { OutCalls } from './out_calls.ts';
import { DEFAULT_WINDOW, shortId, type CallOptions, type RpcHandler, type RpcResponse } from './rpc_types.ts';
import { Scheduler, type SendQueue } from './stream.ts';
import { decode, encode, FIN, frame, FrameParser, header, Kind, MAX_PAYLOAD_BYTES, PROTOCOL_VERSION } from './wire.ts';

const log = logger('net/netapp');

/** One authenticated TLS connection with one peer. */
export class Conn implements ServeHost {
  readonly app: NetApp;
  readonly socket: tls.TLSSocket;
  readonly peerId: string;
  /** We dialed it (else the peer did). */
  readonly outgoing: boolean;
  readonly addr: string;
  readonly sched: Scheduler;
  private readonly parser: FrameParser;
  private readonly outCalls: OutCalls;
  private readonly inCalls: InCalls;
  peerWindow = DEFAULT_WINDOW;
  open = false;
  closed = false;
  retiring = false;
  private goawayReceived = false;
  private helloTimer: NodeJS.Timeout | undefined;
  private readyResolve!: () => void;
  private readyReject!: (e: Error) => void;
  /** Settles when the peer's HELLO arrived (connection usable) or the connection failed before. */
  readonly ready: Promise<void>;
  private readonly closedPromise: Promise<void>;

  constructor(app: NetApp, socket: tls.TLSSocket, peerId: string, outgoing: boolean, addr: string) {
    this.app = app;
    this.socket = socket;
    this.peerId = peerId;
    this.outgoing = outgoing;
    this.addr = addr;
    this.sched = new Scheduler(socket);
    this.parser = new FrameParser((k, s, p) => this.onFrame(k, s, p));
    this.outCalls = new OutCalls(this);
    this.inCalls = new InCalls(this);
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Avoid an unhandled rejection when nobody awaits `ready` (incoming connections).
    this.ready.catch(() => undefined);
    this.closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  }

  get streamWindow(): number {
    return this.app.streamWindow;
  }

  handlerFor(endpoint: string): RpcHandler | undefined {
    return this.app.handlerFor(endpoint);
  }

  /** Starts reading and sends our HELLO. */
  start(): void {
    const s = this.socket;
    s.setNoDelay(true);
    s.setKeepAlive(true, 10_000);
    s.on('data', (d: Buffer) => {
      try {
        this.parser.push(d);
      } catch (e) {
        this.fail(e instanceof NetError ? e : new NetError(`protocol error: ${errorMessage(e)}`));
      }
    });
    s.on('error', (e) => this.fail(e));
    s.on('close', () => this.fail(new NetError('connection closed')));
    this.helloTimer = setTimeout(
      () => this.fail(new NetError('no HELLO from peer in time')),
      this.app.connectTimeoutMs,
    );
    this.helloTimer.unref();
    this.sched.sendControl(
      frame(Kind.HELLO, 0, encode({ v: PROTOCOL_VERSION, id: this.app.id, window: this.app.streamWindow })),
    );
  }

  /** Calls in flight on this connection (both directions). */
  busy(): boolean {
    return this.outCalls.size > 0 || this.inCalls.size > 0;
  }

  /** Starts a call on this connection. */
  call(endpoint: string, body: unknown, opts: CallOptions): Promise<RpcResponse> {
    return this.outCalls.call(endpoint, body, opts);
  }

  /** Stops starting calls here; closes once the peer agrees and calls are over. */
  retire(): void {
    if (this.retiring || this.closed) return;
    this.retiring = true;
    this.sched.sendControl(frame(Kind.GOAWAY, 0));
    this.sched.onIdle = () => this.maybeCloseRetired();
    this.maybeCloseRetired();
  }

  private maybeCloseRetired(): void {
    if (!this.retiring || !this.goawayReceived || this.closed || this.busy() || !this.sched.idle()) return;
    log.debug({ peer: shortId(this.peerId) }, 'closing retired duplicate connection');
    this.socket.end();
  }

  /** Closes the connection now, failing everything on it. */
  fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.sched.kill();
    const lost = new NetError(`connection to ${shortId(this.peerId)} lost: ${err.message}`);
    this.outCalls.failAll(lost);
    this.inCalls.failAll(lost);
    if (!this.socket.destroyed) this.socket.destroy();
    if (!this.open) {
      this.readyReject(err);
    }
    this.app.connClosed(this, err);
  }

  /** Resolves when the socket has closed. */
  whenClosed(): Promise<void> {
    return this.closedPromise;
  }

  afterCallEnded(): void {
    if (this.retiring) this.maybeCloseRetired();
  }

  /** Enqueues a frame of a call (OutSender host interface). */
  enqueue(q: SendQueue, head: Buffer, body?: Buffer): void {
    this.sched.enqueue(q, head, body);
  }

  enqueueMessage(q: SendQueue, kind: number, sid: number, msg: Buffer): void {
    for (let off = 0; off < msg.length; off += MAX_PAYLOAD_BYTES) {
      const end = Math.min(msg.length, off + MAX_PAYLOAD_BYTES);
      this.sched.enqueue(q, header(end === msg.length ? kind | FIN : kind, sid, end - off), msg.subarray(off, end));
    }
  }

  private onFrame(kindByte: number, sid: number, p: Buffer): void {
    if (this.closed) return;
    const kind = kindByte & 0x7f;
    const fin = (kindByte & FIN) !== 0;
    if (!this.open) {
      if (kind !== Kind.HELLO) throw new NetError(`protocol error: frame ${kind} before HELLO`);
      this.onHello(p);
      return;
    }
    if (kind === Kind.GOAWAY) {
      this.goawayReceived = true;
      this.maybeCloseRetired();
      return;
    }
    if (this.outCalls.onFrame(kind, sid, p, fin) || this.inCalls.onFrame(kind, sid, p, fin)) return;
    throw new NetError(`protocol error: unknown frame kind ${kind}`);
  }

  private onHello(p: Buffer): void {
    const h = decode(p) as { v?: unknown; id?: unknown; window?: unknown } | null;
    if (!h || typeof h !== 'object' || h.v !== PROTOCOL_VERSION) {
      throw new NetError(`protocol version mismatch: peer speaks ${String(h?.v)}, we speak ${PROTOCOL_VERSION}`);
    }
    if (h.id !== this.peerId) throw new NetError('protocol error: HELLO id differs from certificate');
    if (typeof h.window === 'number' && h.window >= MAX_PAYLOAD_BYTES) this.peerWindow = h.window;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.open = true;
    this.app.adopt(this);
    this.readyResolve();
  }
}
