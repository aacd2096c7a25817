/**
 * Full-mesh peering: keep a connection to every known node.
 *
 * Known peers come from `bootstrap_peers`, `connectTo` (`garage node connect`),
 * the persisted peer list, and the lists other nodes send us, so nodes find
 * each other transitively. Each node announces its own address (its
 * `rpc_public_addr`, or else its listen port, which the receiver pairs with the
 * IP it sees), and that self-announcement wins over second-hand addresses.
 * Connected peers are pinged (high priority) to measure RTT; after consecutive
 * failed pings a peer is marked down and its connection dropped. Disconnected
 * peers are redialed with exponential backoff.
 *
 * Peers are persisted to `peer_list` as JSON `{ version: 1, peers: [{ id, addr }] }`.
 */
import { EventEmitter } from 'node:events';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { NetError } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import { formatHostPort, isNodeId, parseHostPort, parsePeerAddr } from './addr.ts';
import type { NetApp } from './netapp.ts';
import { z } from 'zod';
import { call, endpoint, serve } from './endpoint.ts';

export { parsePeerAddr } from './addr.ts';
export type { PeerAddr } from './addr.ts';

const log = logger('net/peering');

/** Endpoint answering pings (body and answer: the sender's address announcement). */
export const PING_ENDPOINT = 'garage_net/peering/ping';
/** Endpoint exchanging peer lists (body and answer: announcement + `[id, addr][]`). */
export const PEERS_ENDPOINT = 'garage_net/peering/peers';

/** Construction options of Peering; the *Ms knobs exist mainly for tests. */
export interface PeeringOptions {
  netapp: NetApp;
  /** Address other nodes should dial to reach us (`rpc_public_addr`). */
  publicAddr?: string;
  /** `id@host:port` entries. */
  bootstrap: string[];
  /** Where known peers are persisted (`metadata_dir/peer_list`). */
  peerListFile: string;
  /** Ping period (default 10000). */
  pingIntervalMs?: number;
  /** Ping timeout (default 5000, at most the ping period). */
  pingTimeoutMs?: number;
  /** Consecutive failed pings before a peer is marked down (default 3). */
  maxPingFailures?: number;
  /** First reconnection delay (default 1000); doubles on each failure. */
  reconnectBaseMs?: number;
  /** Cap of the reconnection delay (default 60000). */
  reconnectMaxMs?: number;
  /** Period of peer list exchanges with each connected peer (default 60000). */
  exchangeIntervalMs?: number;
}

/** What `peers()` reports for one known peer. */
export interface PeerInfo {
  id: string;
  addr: string;
  connected: boolean;
  /** Last successful contact (ms since epoch), 0 if never. */
  lastSeen: number;
  rttMs?: number;
  /** When it was marked down (ms since epoch), if it is down. */
  downSince?: number;
}

/** Events of Peering. */
export interface PeeringEvents {
  'peer-up': [id: string];
  'peer-down': [id: string];
}

interface PeerState {
  id: string;
  addr: string | undefined;
  up: boolean;
  lastSeen: number;
  rttMs: number | undefined;
  downSince: number | undefined;
  failures: number;
  backoffMs: number;
  reconnectTimer: NodeJS.Timeout | undefined;
  connecting: boolean;
  pinging: boolean;
}

/** Announcement a node makes about itself. */
/** How a node says where it can be reached: its public address, or its listen port. */
const zAnnounce = z.object({ addr: z.string().optional(), port: z.number().int().min(1).max(65535).optional() });
type Announce = z.infer<typeof zAnnounce>;
const zPeers = zAnnounce.extend({ peers: z.array(z.tuple([z.string(), z.string()])) });
const PING = endpoint(PING_ENDPOINT, zAnnounce, zAnnounce);
const PEERS = endpoint(PEERS_ENDPOINT, zPeers, zPeers);

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function shortId(id: string): string {
  return id.slice(0, 16);
}

/** Keeps a full mesh of connections between cluster nodes. */
export class Peering extends EventEmitter<PeeringEvents> {
  private readonly netapp: NetApp;
  private readonly publicAddr: string | undefined;
  private readonly bootstrap: { id: string; addr: string }[];
  private readonly peerListFile: string;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly maxPingFailures: number;
  private readonly reconnectBaseMs: number;
  private readonly reconnectMaxMs: number;
  private readonly exchangeIntervalMs: number;
  private readonly known = new Map<string, PeerState>();
  private running = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private exchangeTimer: NodeJS.Timeout | undefined;
  private saveChain: Promise<void> = Promise.resolve();
  private saveQueued = false;
  private readonly onConnected = (id: string): void => this.peerConnected(id);
  private readonly onDisconnected = (id: string): void => this.peerDisconnected(id);

  /** Validates options (bad bootstrap entries or public address throw NetError). */
  constructor(opts: PeeringOptions) {
    super();
    this.netapp = opts.netapp;
    if (opts.publicAddr !== undefined) {
      const hp = parseHostPort(opts.publicAddr);
      if (hp.port === 0) throw new NetError(`invalid rpc_public_addr "${opts.publicAddr}": port 0`);
      this.publicAddr = formatHostPort(hp.host, hp.port);
    }
    this.bootstrap = opts.bootstrap.map((b) => parsePeerAddr(b));
    this.peerListFile = opts.peerListFile;
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.pingTimeoutMs = Math.min(opts.pingTimeoutMs ?? 5_000, this.pingIntervalMs);
    this.maxPingFailures = opts.maxPingFailures ?? 3;
    this.reconnectBaseMs = opts.reconnectBaseMs ?? 1_000;
    this.reconnectMaxMs = opts.reconnectMaxMs ?? 60_000;
    this.exchangeIntervalMs = opts.exchangeIntervalMs ?? 60_000;
    serve(this.netapp, PING, async (from, a) => {
      this.learnAnnounce(from, a);
      this.touch(from);
      return this.announce();
    });
    serve(this.netapp, PEERS, async (from, m) => {
      this.learnAnnounce(from, m);
      this.touch(from);
      this.learnList(m.peers);
      return { ...this.announce(), peers: this.list() };
    });
  }

  /** Loads the persisted peer list, adds bootstrap peers, and starts connecting, pinging and exchanging. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (const p of await this.loadPeerList()) this.addPeer(p.id, p.addr, false);
    for (const b of this.bootstrap) this.addPeer(b.id, b.addr, false);
    this.netapp.on('peer-connected', this.onConnected);
    this.netapp.on('peer-disconnected', this.onDisconnected);
    // Peers that connected before we listened (incoming) still need handling.
    for (const id of this.netapp.connectedPeers()) this.peerConnected(id);
    this.pingTimer = setInterval(() => this.tick(), this.pingIntervalMs);
    this.pingTimer.unref();
    this.exchangeTimer = setInterval(() => {
      for (const p of this.known.values()) if (p.addr && this.netapp.isConnected(p.id)) void this.exchange(p.id);
    }, this.exchangeIntervalMs);
    this.exchangeTimer.unref();
    for (const p of this.known.values()) this.tryConnect(p);
    this.scheduleSave();
  }

  /** Stops all maintenance (connections stay open: close the NetApp for that) and flushes the peer list. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.netapp.off('peer-connected', this.onConnected);
    this.netapp.off('peer-disconnected', this.onDisconnected);
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.exchangeTimer) clearInterval(this.exchangeTimer);
    for (const p of this.known.values()) {
      if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
      p.reconnectTimer = undefined;
    }
    this.scheduleSave(true);
    await this.saveChain;
  }

  /** Adds `id@host:port` to the known peers and connects to it now (throws if it cannot). */
  async connectTo(idAtAddr: string): Promise<void> {
    const { id, addr } = parsePeerAddr(idAtAddr);
    if (id === this.netapp.id) return;
    // Whoever typed it knows better than any gossip.
    const p = this.addPeer(id, addr, true);
    await this.netapp.connect(id, addr);
    p.backoffMs = this.reconnectBaseMs;
    this.scheduleSave();
  }

  /** Known peers that have an address (not this node). */
  peers(): PeerInfo[] {
    const out: PeerInfo[] = [];
    for (const p of this.known.values()) {
      if (!p.addr) continue;
      const info: PeerInfo = { id: p.id, addr: p.addr, connected: this.netapp.isConnected(p.id), lastSeen: p.lastSeen };
      if (p.rttMs !== undefined) info.rttMs = p.rttMs;
      if (p.downSince !== undefined) info.downSince = p.downSince;
      out.push(info);
    }
    return out;
  }

  // ---- state ----

  private state(id: string): PeerState {
    let p = this.known.get(id);
    if (!p) {
      p = {
        id,
        addr: undefined,
        up: false,
        lastSeen: 0,
        rttMs: undefined,
        downSince: undefined,
        failures: 0,
        backoffMs: this.reconnectBaseMs,
        reconnectTimer: undefined,
        connecting: false,
        pinging: false,
      };
      this.known.set(id, p);
    }
    return p;
  }

  /** Records an address for `id`; a self-announced (or operator-given) address replaces any other. */
  private addPeer(id: string, addr: string, selfAnnounced: boolean): PeerState {
    const p = this.state(id);
    // Second-hand addresses only fill a gap; a peer's own word always counts.
    if (p.addr !== undefined && !selfAnnounced) return p;
    if (p.addr === addr) return p;
    const wasAnonymous = p.addr === undefined;
    log.debug({ peer: shortId(id), addr }, 'peer address learnt');
    p.addr = addr;
    this.scheduleSave();
    // A connected peer becomes reportable once we can name its address.
    if (wasAnonymous && p.up) this.emit('peer-up', p.id);
    if (this.running) this.tryConnect(p);
    return p;
  }

  private touch(id: string): void {
    const p = this.known.get(id);
    if (p) p.lastSeen = Date.now();
  }

  private announce(): Announce {
    if (this.publicAddr) return { addr: this.publicAddr };
    const port = this.netapp.listenPort;
    return port ? { port } : {};
  }

  private learnAnnounce(from: string, a: Announce): void {
    let addr: string | undefined;
    if (a.addr !== undefined) {
      try {
        const hp = parseHostPort(a.addr);
        if (hp.port !== 0) addr = formatHostPort(hp.host, hp.port);
      } catch {
        // A malformed announcement is ignored; the peer stays reachable via what we know.
      }
    } else if (a.port !== undefined) {
      // No public address configured: its listen port at the IP we see it from.
      const seen = this.netapp.peerAddress(from);
      if (seen) {
        try {
          addr = formatHostPort(parseHostPort(seen).host, a.port);
        } catch {
          // Unparsable connection address: nothing to learn.
        }
      }
    }
    if (addr) this.addPeer(from, addr, true);
  }

  private learnList(list: [string, string][]): void {
    for (const e of list) {
      const id = e[0].toLowerCase();
      if (!isNodeId(id) || id === this.netapp.id) continue;
      try {
        const hp = parseHostPort(e[1]);
        if (hp.port === 0) continue;
        this.addPeer(id, formatHostPort(hp.host, hp.port), false);
      } catch {}
    }
  }

  private list(): [string, string][] {
    const out: [string, string][] = [];
    for (const p of this.known.values()) if (p.addr) out.push([p.id, p.addr]);
    return out;
  }

  // ---- connection lifecycle ----

  private peerConnected(id: string): void {
    const p = this.state(id);
    if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
    p.reconnectTimer = undefined;
    p.backoffMs = this.reconnectBaseMs;
    p.failures = 0;
    p.lastSeen = Date.now();
    this.markUp(p);
    void this.exchange(id);
  }

  private peerDisconnected(id: string): void {
    const p = this.known.get(id);
    if (!p) return;
    if (!p.addr) {
      // An anonymous client (e.g. the CLI) left: forget it.
      this.known.delete(id);
      return;
    }
    this.markDown(p);
    this.scheduleReconnect(p);
  }

  private markUp(p: PeerState): void {
    p.downSince = undefined;
    if (p.up) return;
    p.up = true;
    // Only peers we can name by address are reported (not e.g. a CLI client).
    if (p.addr) this.emit('peer-up', p.id);
  }

  private markDown(p: PeerState): void {
    if (p.downSince === undefined) p.downSince = Date.now();
    if (!p.up) return;
    p.up = false;
    log.info({ peer: shortId(p.id) }, 'peer down');
    if (p.addr) this.emit('peer-down', p.id);
  }

  private tryConnect(p: PeerState): void {
    if (!this.running || p.connecting || !p.addr || p.id === this.netapp.id || this.netapp.isConnected(p.id)) return;
    if (p.reconnectTimer) clearTimeout(p.reconnectTimer);
    p.reconnectTimer = undefined;
    p.connecting = true;
    const addr = p.addr;
    this.netapp.connect(p.id, addr).then(
      () => {
        p.connecting = false;
        p.backoffMs = this.reconnectBaseMs;
      },
      (e: unknown) => {
        p.connecting = false;
        log.debug({ peer: shortId(p.id), addr, err: errMsg(e), retryInMs: p.backoffMs }, 'connection attempt failed');
        if (p.downSince === undefined) p.downSince = Date.now();
        this.scheduleReconnect(p);
        p.backoffMs = Math.min(this.reconnectMaxMs, p.backoffMs * 2);
      },
    );
  }

  private scheduleReconnect(p: PeerState): void {
    if (!this.running || p.reconnectTimer || p.connecting) return;
    // ±20% jitter so a restarted cluster does not redial in lockstep.
    const delay = Math.round(p.backoffMs * (0.8 + Math.random() * 0.4));
    p.reconnectTimer = setTimeout(() => {
      p.reconnectTimer = undefined;
      this.tryConnect(p);
    }, delay);
    p.reconnectTimer.unref();
  }

  private tick(): void {
    for (const p of this.known.values()) {
      if (!p.addr) continue;
      if (this.netapp.isConnected(p.id)) void this.ping(p);
      else if (!p.reconnectTimer && !p.connecting) this.tryConnect(p);
    }
  }

  private async ping(p: PeerState): Promise<void> {
    if (p.pinging) return;
    p.pinging = true;
    const t0 = performance.now();
    try {
      const r = await call(this.netapp, p.id, PING, this.announce(), {
        priority: 'high',
        timeoutMs: this.pingTimeoutMs,
      });
      p.rttMs = performance.now() - t0;
      p.lastSeen = Date.now();
      p.failures = 0;
      this.learnAnnounce(p.id, r.body);
      if (this.netapp.isConnected(p.id)) this.markUp(p);
    } catch (e) {
      if (!this.running || !this.netapp.isConnected(p.id)) return;
      p.failures++;
      log.debug({ peer: shortId(p.id), failures: p.failures, err: errMsg(e) }, 'ping failed');
      if (p.failures >= this.maxPingFailures) {
        log.warn({ peer: shortId(p.id), failures: p.failures }, 'peer not answering pings: dropping its connection');
        this.markDown(p);
        this.netapp.disconnect(p.id);
      }
    } finally {
      p.pinging = false;
    }
  }

  private async exchange(id: string): Promise<void> {
    try {
      const r = await call(
        this.netapp,
        id,
        PEERS,
        { ...this.announce(), peers: this.list() },
        { priority: 'high', timeoutMs: this.pingTimeoutMs },
      );
      this.learnAnnounce(id, r.body);
      this.learnList(r.body.peers);
      this.touch(id);
    } catch (e) {
      // Short-lived clients (CLI) do not serve peering: not an error.
      log.debug({ peer: shortId(id), err: errMsg(e) }, 'peer list exchange failed');
    }
  }

  // ---- persistence ----

  private async loadPeerList(): Promise<{ id: string; addr: string }[]> {
    let text: string;
    try {
      text = await readFile(this.peerListFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    try {
      const data = JSON.parse(text) as { peers?: unknown };
      const out: { id: string; addr: string }[] = [];
      for (const e of Array.isArray(data.peers) ? data.peers : []) {
        const entry = e as { id?: unknown; addr?: unknown };
        if (typeof entry.id !== 'string' || typeof entry.addr !== 'string') continue;
        try {
          out.push(parsePeerAddr(`${entry.id}@${entry.addr}`));
        } catch {}
      }
      return out.filter((p) => p.id !== this.netapp.id);
    } catch (e) {
      // A corrupt list only costs rediscovery: bootstrap peers and gossip rebuild it.
      log.warn({ file: this.peerListFile, err: errMsg(e) }, 'ignoring unreadable peer list');
      return [];
    }
  }

  /** Queues a save; saves are serialized and coalesced. Only while running (or the final one). */
  private scheduleSave(final = false): void {
    if (this.saveQueued || (!this.running && !final)) return;
    this.saveQueued = true;
    this.saveChain = this.saveChain.then(async () => {
      this.saveQueued = false;
      try {
        await this.save();
      } catch (e) {
        log.warn({ file: this.peerListFile, err: errMsg(e) }, 'cannot save peer list');
      }
    });
  }

  private async save(): Promise<void> {
    const peers = this.list().map(([id, addr]) => ({ id, addr }));
    const text = `${JSON.stringify({ version: 1, peers }, null, 1)}\n`;
    await mkdir(dirname(this.peerListFile), { recursive: true });
    const tmp = `${this.peerListFile}.tmp-${process.pid}`;
    const fh = await open(tmp, 'w', 0o644);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, this.peerListFile);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }
}
