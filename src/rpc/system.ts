import { hostname } from 'node:os';
import { statfs } from 'node:fs/promises';
import type { RpcTransport } from './rpc_helper.ts';
import type { LayoutManager } from './layout/manager.ts';
import { z } from 'zod';
import { current, layoutHistorySchema, type LayoutHistory } from './layout/history.ts';
import { call, endpoint, serve } from '../net/endpoint.ts';
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

const zAvail = z.object({ free: z.number(), total: z.number() }).optional();
const zStatus: z.ZodType<NodeStatus> = z.object({
  id: z.string(),
  hostname: z.string(),
  addr: z.string().nullable(),
  layoutVersion: z.number(),
  dataAvail: zAvail,
  metaAvail: zAvail,
});
/** Status and layout gossip between nodes. */
const SYSTEM = {
  status: endpoint('system/status', z.object({}), zStatus),
  layout: endpoint('system/layout', z.object({}), layoutHistorySchema),
  layoutPush: endpoint('system/layout-push', z.object({ history: layoutHistorySchema }), z.null()),
};

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

  constructor(o: {
    rpc: RpcTransport;
    layout: LayoutManager;
    membership: Membership;
    publicAddr: string | null;
    bindAddr?: string;
    dirs: { meta: string; data: string };
    logger: Logger;
  }) {
    this.displayAddr = o.publicAddr ?? (o.bindAddr && !/^(\[::\]|0\.0\.0\.0):/.test(o.bindAddr) ? o.bindAddr : null);
    this.rpc = o.rpc;
    this.layout = o.layout;
    this.membership = o.membership;
    this.publicAddr = o.publicAddr;
    this.dirs = o.dirs;
    this.log = o.logger;
    serve(this.rpc, SYSTEM.status, () => this.localStatus());
    serve(this.rpc, SYSTEM.layout, async () => this.layout.history);
    serve(this.rpc, SYSTEM.layoutPush, async (_from, m) => {
      await this.layout.update(m.history);
      return null;
    });
    // Every layout change is pushed to every peer; they merge and push on if it changed for them.
    this.layout.on('changed', (h: LayoutHistory) => void this.#broadcast(h));
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
    const self = {
      node: await this.localStatus(),
      peer: { id: this.rpc.id, addr: this.displayAddr ?? undefined, connected: true },
    };
    const others = await Promise.all(
      peers.map(async (peer) => {
        if (!peer.connected) return { node: undefined, peer };
        try {
          return {
            node: (await call(this.rpc, peer.id, SYSTEM.status, {}, { timeoutMs: 5000, priority: 'high' })).body,
            peer,
          };
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
      this.membership
        .peers()
        .filter((p) => p.connected && p.id !== this.rpc.id)
        .map((p) =>
          call(this.rpc, p.id, SYSTEM.layoutPush, { history: h }, { timeoutMs: 10_000, priority: 'high' }).catch(
            (e: unknown) => {
              this.log.debug({ peer: p.id.slice(0, 16), err: errorMessage(e) }, 'layout push failed');
            },
          ),
        ),
    );
  }

  /** Pulls the layout of a peer that just connected. */
  async pullLayout(peer: string): Promise<void> {
    try {
      const r = await call(this.rpc, peer, SYSTEM.layout, {}, { timeoutMs: 10_000, priority: 'high' });
      await this.layout.update(r.body);
      await call(
        this.rpc,
        peer,
        SYSTEM.layoutPush,
        { history: this.layout.history },
        { timeoutMs: 10_000, priority: 'high' },
      );
    } catch (e) {
      this.log.debug({ peer: peer.slice(0, 16), err: errorMessage(e) }, 'layout pull failed');
    }
  }
}
