import { hostname } from 'node:os';
import { statfs } from 'node:fs/promises';
import type { RpcTransport } from './rpc_helper.ts';
import type { LayoutManager } from './layout/manager.ts';
import type { LayoutHistory } from './layout/history.ts';
import { current } from './layout/history.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';

/** What a node tells others (and the CLI) about itself. */
export interface NodeStatus {
  id: string;
  hostname: string;
  addr: string | null;
  layoutVersion: number;
  dataAvail?: { free: number; total: number };
  metaAvail?: { free: number; total: number };
}

/** A peer as the membership layer sees it. */
export interface PeerInfo {
  id: string;
  addr?: string;
  connected: boolean;
  lastSeen?: number;
  downSince?: number;
}

/** The membership layer's view, provided by the peering module. */
export interface Membership {
  peers(): PeerInfo[];
  connectTo(idAtAddr: string): Promise<void>;
}

type SystemRpc = { op: 'status' } | { op: 'layout' } | { op: 'layout-push'; history: LayoutHistory };

async function diskAvail(path: string): Promise<{ free: number; total: number } | undefined> {
  try {
    const s = await statfs(path);
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
  } catch {
    return undefined;
  }
}

/** Node status and layout propagation between nodes. */
export class System {
  readonly rpc: RpcTransport;
  readonly layout: LayoutManager;
  readonly membership: Membership;
  readonly publicAddr: string | null;
  /** What `status` shows as this node's address: the public one, else a non-wildcard bind address. */
  readonly displayAddr: string | null;
  readonly dirs: { meta: string; data: string };
  readonly log: Logger;

  constructor(o: { rpc: RpcTransport; layout: LayoutManager; membership: Membership; publicAddr: string | null; bindAddr?: string; dirs: { meta: string; data: string }; logger: Logger }) {
    this.displayAddr = o.publicAddr ?? (o.bindAddr && !/^(\[::\]|0\.0\.0\.0):/.test(o.bindAddr) ? o.bindAddr : null);
    this.rpc = o.rpc;
    this.layout = o.layout;
    this.membership = o.membership;
    this.publicAddr = o.publicAddr;
    this.dirs = o.dirs;
    this.log = o.logger;
    this.rpc.register('system', async (_from, body) => ({ body: await this.#handle(body as SystemRpc) }));
    // Every layout change is pushed to every peer; they merge and push on if it changed for them.
    this.layout.on('changed', (h: LayoutHistory) => void this.#broadcast(h));
  }

  async #handle(m: SystemRpc): Promise<unknown> {
    switch (m.op) {
      case 'status':
        return this.localStatus();
      case 'layout':
        return this.layout.history;
      case 'layout-push':
        await this.layout.update(m.history);
        return null;
    }
  }

  /** This node's status. */
  async localStatus(): Promise<NodeStatus> {
    return {
      id: this.rpc.id,
      hostname: hostname(),
      addr: this.displayAddr,
      layoutVersion: current(this.layout.history).version,
      dataAvail: await diskAvail(this.dirs.data),
      metaAvail: await diskAvail(this.dirs.meta),
    };
  }

  /** Status of every known node: ours, and each connected peer's. */
  async clusterStatus(): Promise<{ node: NodeStatus | undefined; peer: PeerInfo }[]> {
    const peers = this.membership.peers().filter((p) => p.id !== this.rpc.id);
    const self = { node: await this.localStatus(), peer: { id: this.rpc.id, addr: this.displayAddr ?? undefined, connected: true } };
    const others = await Promise.all(
      peers.map(async (peer) => {
        if (!peer.connected) return { node: undefined, peer };
        try {
          const r = await this.rpc.call(peer.id, 'system', { op: 'status' } satisfies SystemRpc, { timeoutMs: 5000, priority: 'high' });
          return { node: r.body as NodeStatus, peer };
        } catch {
          return { node: undefined, peer: { ...peer, connected: false } };
        }
      }),
    );
    return [self, ...others];
  }

  /** Merges a layout change locally and sends it to every connected peer. */
  async updateLayout(h: LayoutHistory): Promise<void> {
    await this.layout.update(h);
    await this.#broadcast(this.layout.history);
  }

  async #broadcast(h: LayoutHistory): Promise<void> {
    await Promise.all(
      this.membership.peers().filter((p) => p.connected && p.id !== this.rpc.id).map((p) =>
        this.rpc.call(p.id, 'system', { op: 'layout-push', history: h } satisfies SystemRpc, { timeoutMs: 10_000, priority: 'high' }).catch((e: unknown) => {
          this.log.debug({ peer: p.id.slice(0, 16), err: errorMessage(e) }, 'layout push failed');
        }),
      ),
    );
  }

  /** Pulls the layout of a peer that just connected. */
  async pullLayout(peer: string): Promise<void> {
    try {
      const r = await this.rpc.call(peer, 'system', { op: 'layout' } satisfies SystemRpc, { timeoutMs: 10_000, priority: 'high' });
      await this.layout.update(r.body as LayoutHistory);
      await this.rpc.call(peer, 'system', { op: 'layout-push', history: this.layout.history } satisfies SystemRpc, { timeoutMs: 10_000, priority: 'high' });
    } catch (e) {
      this.log.debug({ peer: peer.slice(0, 16), err: errorMessage(e) }, 'layout pull failed');
    }
  }
}
