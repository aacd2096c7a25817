/**
 * NetApp: authenticated, encrypted, multiplexed RPC between nodes.
 *
 * One TLS 1.3 connection per pair of nodes (see tls.ts for authentication)
 * carries any number of concurrent calls. A call is a msgpack request message
 * plus an optional attached byte stream, answered by a msgpack response
 * message plus an optional attached byte stream; all of them are cut in frames
 * (wire.ts) that the scheduler interleaves by priority (stream.ts).
 *
 * Duplicate connections (both nodes dialing each other at once, or a peer
 * redialing while we still hold its old connection) are resolved the same way
 * on both ends: between connections dialed by different nodes, the one dialed
 * by the node with the smaller id wins; between two dialed by the same node,
 * the newer wins. The loser is retired gracefully: each end sends GOAWAY (it
 * starts no new call there) and the connection closes once both ends said so
 * and its calls are over.
 */
import { EventEmitter } from 'node:events';
import * as tls from 'node:tls';
import type { AddressInfo, Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { NetError, NetTimeoutError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { formatHostPort, isNodeId, parseHostPort } from './addr.ts';
import type { NodeKey } from './node_key.ts';
import { InStream, OutSender, Scheduler, SendQueue } from './stream.ts';
import { clientTlsOptions, makeTlsMaterial, peerNodeId, serverTlsOptions, type TlsMaterial } from './tls.ts';
import {
  decode,
  encode,
  FIN,
  frame,
  FrameParser,
  header,
  Kind,
  MAX_MESSAGE_BYTES,
  MAX_PAYLOAD_BYTES,
  PROTOCOL_VERSION,
  u32,
} from './wire.ts';

const log = logger('net/netapp');

/** Scheduling class of a call: pings/metadata before bulk. */
export type Priority = 'high' | 'normal' | 'background';

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

/** Construction options of a NetApp. */
export interface NetAppOptions {
  key: NodeKey;
  /** The 32-byte cluster secret. */
  rpcSecret: Buffer;
  /** Receive window per attached stream, in bytes (default 1 MiB). */
  streamWindowBytes?: number;
  /** Limit for TCP connect + TLS handshake + HELLO (default 10000 ms). */
  connectTimeoutMs?: number;
}

/** Events of a NetApp. */
export interface NetAppEvents {
  'peer-connected': [id: string, addr: string];
  'peer-disconnected': [id: string];
  'handshake-failed': [addr: string, err: Error];
}

/** The remote handler failed; `message` is the remote message, `remoteName` the remote error class name. */
export class RemoteError extends NetError {
  override name = 'RemoteError';
  readonly remoteName: string;
  constructor(message: string, remoteName: string) {
    super(message);
    this.remoteName = remoteName;
  }
}

const PRIO: Record<Priority, number> = { high: 0, normal: 1, background: 2 };
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_WINDOW = 1024 * 1024;

function shortId(id: string): string {
  return id.slice(0, 16);
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// Errors that a handshake with a different cluster CA produces.
const CERT_ERROR_RE = /cert|verify|signature|self.signed|unknown ca|alert|decrypt|handshake/i;

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

/** One authenticated TLS connection with one peer. */
class Conn {
  readonly app: NetApp;
  readonly socket: tls.TLSSocket;
  readonly peerId: string;
  /** We dialed it (else the peer did). */
  readonly outgoing: boolean;
  readonly addr: string;
  private readonly sched: Scheduler;
  private readonly parser: FrameParser;
  private nextSid: number;
  private readonly outCalls = new Map<number, OutCall>();
  private readonly inCalls = new Map<number, InCall>();
  private peerWindow = DEFAULT_WINDOW;
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
    this.nextSid = outgoing ? 1 : 2;
    this.sched = new Scheduler(socket);
    this.parser = new FrameParser((k, s, p) => this.onFrame(k, s, p));
    this.ready = new Promise<void>((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    // Avoid an unhandled rejection when nobody awaits `ready` (incoming connections).
    this.ready.catch(() => undefined);
    this.closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
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
        this.fail(e instanceof NetError ? e : new NetError(`protocol error: ${errMsg(e)}`));
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
    for (const c of this.outCalls.values()) this.finishOut(c, lost);
    for (const c of this.inCalls.values()) this.dropIn(c, lost);
    this.outCalls.clear();
    this.inCalls.clear();
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

  // ---- caller side ----

  private allocSid(): number {
    for (;;) {
      const sid = this.nextSid;
      this.nextSid += 2;
      // Wrap far before u32 overflow, keeping our parity; skip ids still in use.
      if (this.nextSid > 0xfffffff0) this.nextSid = this.outgoing ? 1 : 2;
      if (!this.outCalls.has(sid)) return sid;
    }
  }

  /** Starts a call on this connection. */
  call(endpoint: string, body: unknown, opts: CallOptions): Promise<RpcResponse> {
    const prio = PRIO[opts.priority ?? 'normal'];
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
      this.outCalls.set(sid, c);
      c.timer = setTimeout(() => {
        this.cancelOut(
          c,
          new NetTimeoutError(`call ${endpoint} to ${shortId(this.peerId)} timed out after ${timeoutMs} ms`),
        );
      }, timeoutMs);
      if (opts.signal) {
        const signal = opts.signal;
        c.onAbort = () =>
          this.cancelOut(
            c,
            new NetError(
              `call ${endpoint} to ${shortId(this.peerId)} aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : ''}`,
            ),
          );
        signal.addEventListener('abort', c.onAbort, { once: true });
      }
      this.enqueueMessage(c.q, Kind.REQ, sid, msg);
      if (opts.stream) {
        c.reqSender = new OutSender(this, c.q, sid, Kind.REQ_DATA, Kind.REQ_ERR, opts.stream, this.peerWindow, () =>
          this.checkOutDone(c),
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
    if (tellPeer && !this.closed) this.sched.sendControl(frame(Kind.CANCEL, c.sid));
  }

  /** Ends a call for good; `err` fails whatever is still pending. */
  private finishOut(c: OutCall, err: Error | undefined): void {
    if (c.done) return;
    c.done = true;
    this.outCalls.delete(c.sid);
    if (c.timer) clearTimeout(c.timer);
    if (c.onAbort) c.signal?.removeEventListener('abort', c.onAbort);
    if (err) {
      if (!c.settled) {
        c.settled = true;
        c.reject(err);
      }
      this.sched.drop(c.q);
      c.reqSender?.stop();
      c.respStream?.fail(err);
    }
    this.afterCallEnded();
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
        window: this.app.streamWindow,
        idleTimeoutMs: c.timeoutMs,
        grant: (n) => this.sched.sendControl(frame(Kind.RESP_WINDOW, c.sid, u32(n))),
        // The consumer dropped the response stream: the callee can stop sending.
        onAbandon: () => this.cancelOut(c, new NetError('response stream dropped')),
      });
      c.resolve({ body: payload, stream: c.respStream });
    } else {
      c.resolve({ body: payload });
    }
    this.checkOutDone(c);
  }

  // ---- callee side ----

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
        window: this.app.streamWindow,
        idleTimeoutMs: c.timeoutMs,
        grant: (n) => this.sched.sendControl(frame(Kind.REQ_WINDOW, c.sid, u32(n))),
        onAbandon: () => {
          if (!c.cancelled) this.sched.sendControl(frame(Kind.REQ_STOP, c.sid));
          this.checkInDone(c);
        },
      });
    }
    this.runHandler(c, endpoint, body).catch((e: unknown) => {
      log.error({ err: errMsg(e), endpoint }, 'internal error while answering a call');
      this.dropIn(c, new NetError(errMsg(e)));
    });
  }

  private async runHandler(c: InCall, endpoint: string, body: unknown): Promise<void> {
    const handler = this.app.handlerFor(endpoint);
    let resp: RpcResponse;
    try {
      if (!handler) throw new NetError(`unknown endpoint ${endpoint}`);
      const r: RpcResponse | undefined = await handler(this.peerId, body, c.reqStream, c.ac.signal);
      // Tolerate handlers (plain JS) that resolve to nothing.
      resp = r && typeof r === 'object' ? r : { body: undefined };
    } catch (e) {
      if (c.cancelled) return;
      this.releaseReqStream(c);
      this.respond(c, encode([false, errMsg(e), false, e instanceof Error ? e.name : 'Error']), undefined);
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
      this.respond(c, encode([false, errMsg(e), false, 'NetError']), undefined);
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
    this.enqueueMessage(c.q!, Kind.RESP, c.sid, msg);
    c.respQueued = true;
    if (stream) {
      c.respSender = new OutSender(this, c.q!, c.sid, Kind.RESP_DATA, Kind.RESP_ERR, stream, this.peerWindow, () =>
        this.checkInDone(c),
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
    if (this.inCalls.get(c.sid) === c) {
      this.inCalls.delete(c.sid);
      this.afterCallEnded();
    }
  }

  /** Drops a callee-side call (caller cancelled, or connection lost). */
  private dropIn(c: InCall, err: Error): void {
    if (c.cancelled) return;
    c.cancelled = true;
    c.ac.abort(err);
    c.reqStream?.fail(err);
    c.respSender?.stop();
    if (c.q) this.sched.drop(c.q);
  }

  private afterCallEnded(): void {
    if (this.retiring) this.maybeCloseRetired();
  }

  // ---- frames ----

  /** Enqueues a frame of a call (OutSender host interface). */
  enqueue(q: SendQueue, head: Buffer, body?: Buffer): void {
    this.sched.enqueue(q, head, body);
  }

  private enqueueMessage(q: SendQueue, kind: number, sid: number, msg: Buffer): void {
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
    switch (kind) {
      case Kind.GOAWAY:
        this.goawayReceived = true;
        this.maybeCloseRetired();
        return;
      case Kind.REQ: {
        // Calls started by the peer carry the peer's parity.
        if ((sid & 1) === (this.outgoing ? 1 : 0) || sid === 0)
          throw new NetError('protocol error: request id of wrong parity');
        let c = this.inCalls.get(sid);
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
          this.inCalls.set(sid, c);
        } else if (c.started) throw new NetError('protocol error: request id reused');
        c.chunks.push(p);
        c.bytes += p.length;
        if (c.bytes > MAX_MESSAGE_BYTES) throw new NetError('protocol error: request message too large');
        if (fin) this.startIn(c);
        return;
      }
      case Kind.REQ_DATA: {
        const c = this.inCalls.get(sid);
        if (c?.reqStream) {
          c.reqStream.deliver(p, fin);
          if (fin) this.checkInDone(c);
        }
        return;
      }
      case Kind.REQ_ERR:
        this.inCalls
          .get(sid)
          ?.reqStream?.fail(new RemoteError(`request stream failed at caller: ${p.toString()}`, 'StreamError'));
        return;
      case Kind.RESP_WINDOW:
        this.inCalls.get(sid)?.respSender?.addCredit(readU32(p));
        return;
      case Kind.CANCEL: {
        const c = this.inCalls.get(sid);
        if (c) {
          this.inCalls.delete(sid);
          this.dropIn(c, new NetError('call cancelled by caller'));
          this.afterCallEnded();
        }
        return;
      }
      case Kind.RESP: {
        const c = this.outCalls.get(sid);
        if (!c || c.respReceived) return;
        c.respChunks.push(p);
        c.respBytes += p.length;
        if (c.respBytes > MAX_MESSAGE_BYTES) throw new NetError('protocol error: response message too large');
        if (fin) this.onResponse(c);
        return;
      }
      case Kind.RESP_DATA: {
        const c = this.outCalls.get(sid);
        if (c?.respStream) {
          c.respStream.deliver(p, fin);
          if (fin) this.checkOutDone(c);
        }
        return;
      }
      case Kind.RESP_ERR: {
        const c = this.outCalls.get(sid);
        if (c?.respStream) {
          c.respStream.fail(new RemoteError(`response stream failed at callee: ${p.toString()}`, 'StreamError'));
          this.checkOutDone(c);
        }
        return;
      }
      case Kind.REQ_WINDOW:
        this.outCalls.get(sid)?.reqSender?.addCredit(readU32(p));
        return;
      case Kind.REQ_STOP: {
        const c = this.outCalls.get(sid);
        c?.reqSender?.stop();
        return;
      }
      default:
        throw new NetError(`protocol error: unknown frame kind ${kind}`);
    }
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

/** Addresses of accepted TCP sockets, noted before any TLS failure can destroy them. */
const tcpRemote = new WeakMap<object, string>();

/** Remote address of a server-side TLS socket, even after a failed handshake destroyed it. */
function remoteOf(socket: tls.TLSSocket): string {
  if (socket.remoteAddress) return formatHostPort(socket.remoteAddress, socket.remotePort ?? 0);
  // A destroyed TLS socket forgets its peer; its wrapped TCP socket (the
  // undocumented `_parent`) is the key under which 'connection' noted it.
  const parent = (socket as unknown as { _parent?: object })._parent;
  return (parent && tcpRemote.get(parent)) ?? 'unknown address';
}

function readU32(p: Buffer): number {
  if (p.length !== 4) throw new NetError('protocol error: bad window frame');
  return p.readUInt32BE(0);
}

/** A node's endpoint in the cluster network: listens, dials, and serves/sends RPCs. */
export class NetApp extends EventEmitter<NetAppEvents> {
  /** This node's id (64 hex chars). */
  readonly id: string;
  /** Receive window per attached stream. */
  readonly streamWindow: number;
  /** Limit for connect + handshake. */
  readonly connectTimeoutMs: number;
  private readonly material: Promise<TlsMaterial>;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly active = new Map<string, Conn>();
  private readonly conns = new Set<Conn>();
  private readonly dialing = new Map<string, Promise<void>>();
  private readonly pendingSockets = new Set<tls.TLSSocket>();
  private readonly acceptedSockets = new Set<Socket>();
  private server: tls.Server | undefined;
  private port: number | undefined;
  private closing = false;

  constructor(opts: NetAppOptions) {
    super();
    this.id = opts.key.id;
    this.streamWindow = opts.streamWindowBytes ?? DEFAULT_WINDOW;
    if (this.streamWindow < MAX_PAYLOAD_BYTES || this.streamWindow > 0xffffffff)
      throw new NetError('streamWindowBytes out of range');
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    // Certificates are made once, asynchronously (WebCrypto); listen/connect await them.
    this.material = makeTlsMaterial(opts.rpcSecret, opts.key);
    this.material.catch(() => undefined);
  }

  /** Port we listen on, once `listen` resolved. */
  get listenPort(): number | undefined {
    return this.port;
  }

  /** Starts accepting connections on `host:port` (`[::]:3901`, `127.0.0.1:0`…). */
  async listen(bindAddr: string): Promise<{ port: number }> {
    if (this.server) throw new NetError('already listening');
    const { host, port } = parseHostPort(bindAddr);
    const m = await this.material;
    const server = tls.createServer({ ...serverTlsOptions(m), handshakeTimeout: this.connectTimeoutMs });
    server.on('secureConnection', (socket) => this.onIncoming(socket));
    server.on('connection', (raw: Socket) => {
      if (raw.remoteAddress) tcpRemote.set(raw, formatHostPort(raw.remoteAddress, raw.remotePort ?? 0));
      // Tracked so close() need not wait for handshakes in progress to time out.
      this.acceptedSockets.add(raw);
      raw.once('close', () => this.acceptedSockets.delete(raw));
    });
    server.on('tlsClientError', (err, socket) => {
      const from = remoteOf(socket);
      log.warn({ err: err.message }, `TLS handshake failed from ${from}: wrong rpc_secret?`);
      this.emit('handshake-failed', from, err);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => log.error({ err: e.message }, 'RPC listener error'));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    log.info({ addr: formatHostPort(host, this.port), nodeId: this.id }, 'RPC listening');
    return { port: this.port };
  }

  private onIncoming(socket: tls.TLSSocket): void {
    const from = formatHostPort(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    if (this.closing) {
      socket.destroy();
      return;
    }
    let peer: string;
    try {
      peer = peerNodeId(socket);
    } catch (e) {
      log.warn({ err: errMsg(e) }, `rejected connection from ${from}: unusable certificate`);
      socket.destroy();
      return;
    }
    if (peer === this.id) {
      // Someone dialed us with our own identity (or we dialed ourselves): pointless.
      socket.destroy();
      return;
    }
    const conn = new Conn(this, socket, peer, false, from);
    this.conns.add(conn);
    conn.start();
  }

  /** Connects to node `id` at `addr` unless already connected; resolves once usable. */
  connect(id: string, addr: string): Promise<void> {
    if (!isNodeId(id)) return Promise.reject(new NetError(`invalid node id "${id}"`));
    const peer = id.toLowerCase();
    if (this.closing) return Promise.reject(new NetError('netapp closed'));
    if (peer === this.id || this.active.has(peer)) return Promise.resolve();
    const pending = this.dialing.get(peer);
    if (pending) return pending;
    const p = this.dial(peer, addr)
      .catch((e: unknown) => {
        // An incoming connection from that peer may have won meanwhile.
        if (this.active.has(peer)) return;
        throw e;
      })
      .finally(() => this.dialing.delete(peer));
    this.dialing.set(peer, p);
    return p;
  }

  private async dial(peer: string, addr: string): Promise<void> {
    const { host, port } = parseHostPort(addr);
    const m = await this.material;
    if (this.closing) throw new NetError('netapp closed');
    const socket = tls.connect({ ...clientTlsOptions(m, peer), host, port });
    this.pendingSockets.add(socket);
    const fail = (e: unknown): NetError => {
      const msg = errMsg(e);
      const hint = e instanceof NetError || !CERT_ERROR_RE.test(msg) ? '' : ' (wrong rpc_secret?)';
      return new NetError(`cannot connect to ${shortId(peer)} at ${addr}: ${msg}${hint}`);
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error): void => {
          clearTimeout(timer);
          reject(e);
        };
        const timer = setTimeout(() => onError(new NetError('timed out')), this.connectTimeoutMs);
        socket.once('error', onError);
        socket.once('secureConnect', () => {
          clearTimeout(timer);
          socket.off('error', onError);
          resolve();
        });
      });
    } catch (e) {
      socket.destroy();
      throw fail(e);
    } finally {
      this.pendingSockets.delete(socket);
    }
    if (this.closing) {
      socket.destroy();
      throw new NetError('netapp closed');
    }
    const conn = new Conn(this, socket, peer, true, addr);
    this.conns.add(conn);
    conn.start();
    try {
      // In TLS 1.3 the server checks our certificate after our handshake is
      // done: only its HELLO proves it accepted us.
      await conn.ready;
    } catch (e) {
      throw fail(e);
    }
  }

  /** Called by a connection when the peer's HELLO arrived: make it the peer's connection, or retire a duplicate. */
  adopt(conn: Conn): void {
    const peer = conn.peerId;
    const existing = this.active.get(peer);
    if (!existing) {
      this.active.set(peer, conn);
      log.info({ peer: shortId(peer), addr: conn.addr, outgoing: conn.outgoing }, 'peer connected');
      this.emit('peer-connected', peer, conn.addr);
      return;
    }
    const winner = this.prefer(existing, conn);
    if (winner === conn) {
      this.active.set(peer, conn);
      existing.retire();
    } else {
      conn.retire();
    }
  }

  private prefer(a: Conn, b: Conn): Conn {
    const dialerA = a.outgoing ? this.id : a.peerId;
    const dialerB = b.outgoing ? this.id : b.peerId;
    if (dialerA !== dialerB) {
      const smaller = this.id < a.peerId ? this.id : a.peerId;
      return dialerA === smaller ? a : b;
    }
    // Same dialer: it dialed again, so it considers the older one dead.
    return b;
  }

  /** Called by a connection once closed. */
  connClosed(conn: Conn, err: Error): void {
    this.conns.delete(conn);
    if (this.active.get(conn.peerId) === conn) {
      this.active.delete(conn.peerId);
      log.info({ peer: shortId(conn.peerId), reason: err.message }, 'peer disconnected');
      this.emit('peer-disconnected', conn.peerId);
    }
  }

  /** True when a usable connection to `id` exists. */
  isConnected(id: string): boolean {
    return this.active.has(id.toLowerCase());
  }

  /** Address of the connection to `id`: the dialed address, or the remote socket address if it dialed us. */
  peerAddress(id: string): string | undefined {
    return this.active.get(id.toLowerCase())?.addr;
  }

  /** Ids of all connected peers. */
  connectedPeers(): string[] {
    return [...this.active.keys()];
  }

  /** Open connections, duplicates being retired included (diagnostics, tests). */
  connectionCount(): number {
    return this.conns.size;
  }

  /** Drops the connection to `id` (e.g. after failed pings), failing its calls. */
  disconnect(id: string): void {
    this.active.get(id.toLowerCase())?.fail(new NetError('disconnected locally'));
  }

  /** Serves `endpoint` with `handler` (replaces any previous handler). */
  register(endpoint: string, handler: RpcHandler): void {
    this.handlers.set(endpoint, handler);
  }

  /** The handler of an endpoint, if any. */
  handlerFor(endpoint: string): RpcHandler | undefined {
    return this.handlers.get(endpoint);
  }

  /**
   * Calls `endpoint` on node `to` (locally, without the network, when `to` is
   * this node). Remote failures reject with RemoteError (a NetError) carrying
   * the remote message; transport failures with NetError.
   */
  call(to: string, endpoint: string, body: unknown, opts: CallOptions = {}): Promise<RpcResponse> {
    const peer = to.toLowerCase();
    if (opts.signal?.aborted) return Promise.reject(new NetError(`call ${endpoint} aborted before start`));
    try {
      if (peer === this.id) return this.localCall(endpoint, body, opts);
      if (this.closing) throw new NetError('netapp closed');
      const conn = this.active.get(peer);
      if (!conn) throw new NetError(`not connected to node ${shortId(peer)}`);
      return conn.call(endpoint, body, opts);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Same semantics as a remote call (bodies go through msgpack, errors become RemoteError), no network. */
  private localCall(endpoint: string, body: unknown, opts: CallOptions): Promise<RpcResponse> {
    const reqBody = decode(encode(body));
    const handler = this.handlers.get(endpoint);
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
        .then(() => handler(this.id, reqBody, reqStream, ac.signal))
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
              reject(new RemoteError(errMsg(e), 'NetError'));
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
            reject(new RemoteError(errMsg(e), e instanceof Error ? e.name : 'Error'));
          },
        );
    });
  }

  /** Stops listening and closes every connection (in-flight calls fail with NetError). */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    const serverClosed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of this.pendingSockets) s.destroy();
    for (const s of this.acceptedSockets) s.destroy();
    const conns = [...this.conns];
    for (const c of conns) c.fail(new NetError('netapp closed'));
    await Promise.all([serverClosed, ...conns.map((c) => c.whenClosed())]);
    this.active.clear();
  }
}
