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
import { NetError, errorMessage } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { formatHostPort, isNodeId, parseHostPort } from './addr.ts';
import { Conn } from './conn.ts';
import { localCall } from './local_call.ts';
import type { NodeKey } from './node_key.ts';
import { DEFAULT_WINDOW, shortId, type CallOptions, type RpcHandler, type RpcResponse } from './rpc_types.ts';
import { clientTlsOptions, makeTlsMaterial, peerNodeId, serverTlsOptions, type TlsMaterial } from './tls.ts';
import { MAX_PAYLOAD_BYTES } from './wire.ts';

const log = logger('net/netapp');

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

// Errors that a handshake with a different cluster CA produces.
const CERT_ERROR_RE = /cert|verify|signature|self.signed|unknown ca|alert|decrypt|handshake/i;

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
      log.warn({ err: errorMessage(e) }, `rejected connection from ${from}: unusable certificate`);
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
      const msg = errorMessage(e);
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
      if (peer === this.id) return localCall(this.id, this.handlers.get(endpoint), endpoint, body, opts);
      if (this.closing) throw new NetError('netapp closed');
      const conn = this.active.get(peer);
      if (!conn) throw new NetError(`not connected to node ${shortId(peer)}`);
      return conn.call(endpoint, body, opts);
    } catch (e) {
      return Promise.reject(e);
    }
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
