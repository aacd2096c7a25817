import { quorums } from '../rpc/rpc_helper.ts';
import { current } from '../rpc/layout/history.ts';
import { errorMessage } from '../util/errors.ts';
import { bytes } from '../util/units.ts';
import { VERSION } from '../util/version.ts';
import type { NodeRole } from '../rpc/layout/assign.ts';
import type { ClusterHealth, ClusterResponses, NodeResp } from './api.ts';
import type { AdminCtx } from './context.ts';

/** The ids of the nodes this one is connected to, and itself. */
export function upNodes(ctx: AdminCtx): Set<string> {
  return new Set([
    ctx.rpc.id,
    ...ctx.system.membership
      .peers()
      .filter((p) => p.connected)
      .map((p) => p.id),
  ]);
}

/** Whether every partition has enough reachable replicas for reads and writes. */
export function clusterHealth(ctx: AdminCtx): ClusterHealth {
  const up = upNodes(ctx);
  const layout = current(ctx.system.layout.history);
  const { read, write } = quorums(ctx.replicationFactor, ctx.consistency);
  let quorum = 0;
  let allOk = 0;
  for (const nodes of layout.assignment) {
    const n = nodes.filter((x) => up.has(x)).length;
    if (n >= Math.max(read, write)) quorum++;
    if (n === nodes.length) allOk++;
  }
  const partitions = layout.assignment.length;
  const storage = layout.roles.filter((r) => r.capacity !== null);
  const known = new Set([ctx.rpc.id, ...ctx.system.membership.peers().map((p) => p.id)]);
  return {
    status: partitions === 0 || quorum < partitions ? 'unavailable' : allOk < partitions ? 'degraded' : 'healthy',
    knownNodes: known.size,
    connectedNodes: up.size,
    storageNodes: storage.length,
    storageNodesOk: storage.filter((r) => up.has(r.id)).length,
    partitions,
    partitionsQuorum: quorum,
    partitionsAllOk: allOk,
  };
}

const assigned = (r: NodeRole | undefined) => (r ? { zone: r.zone, tags: r.tags ?? [], capacity: r.capacity } : null);

/** GetClusterStatus: every node known (connected peers, layout members), with its role and disks. */
export async function getClusterStatus(ctx: AdminCtx): Promise<ClusterResponses['GetClusterStatus']> {
  const h = ctx.system.layout.history;
  const cur = current(h);
  const roles = new Map(cur.roles.map((r) => [r.id, r]));
  const older = new Set(h.versions.slice(0, -1).flatMap((v) => v.roles.map((r) => r.id)));
  const free = (a: { free: number; total: number } | undefined) => (a ? { available: a.free, total: a.total } : null);
  const nodes: NodeResp[] = [];
  const seen = new Set<string>();
  const now = Date.now();
  for (const { node, peer } of await ctx.system.clusterStatus()) {
    seen.add(peer.id);
    const role = roles.get(peer.id);
    nodes.push({
      id: peer.id,
      isUp: peer.connected,
      draining: !role && older.has(peer.id),
      addr: node?.addr ?? peer.addr ?? null,
      hostname: node?.hostname ?? null,
      garageVersion: node ? VERSION : null,
      lastSeenSecsAgo: peer.connected || !peer.lastSeen ? null : Math.round((now - peer.lastSeen) / 1000),
      dataPartition: free(node?.dataAvail),
      metadataPartition: free(node?.metaAvail),
      role: assigned(role),
    });
  }
  for (const id of [...roles.keys(), ...older])
    if (!seen.has(id)) {
      seen.add(id);
      const role = roles.get(id);
      nodes.push({
        id,
        isUp: false,
        draining: !role,
        addr: null,
        hostname: null,
        garageVersion: null,
        lastSeenSecsAgo: null,
        dataPartition: null,
        metadataPartition: null,
        role: assigned(role),
      });
    }
  return { layoutVersion: cur.version, nodes };
}

/** GetClusterStatistics: storage per node and in all, as text. */
export async function getClusterStatistics(ctx: AdminCtx): Promise<ClusterResponses['GetClusterStatistics']> {
  const status = await getClusterStatus(ctx);
  const lines = ['Storage nodes:'];
  let avail = 0;
  let total = 0;
  for (const n of status.nodes) {
    if (!n.role || n.role.capacity === null) continue;
    const d = n.dataPartition;
    if (d) {
      avail += d.available;
      total += d.total;
    }
    lines.push(
      `  ${n.id.slice(0, 16)}  ${n.hostname ?? '?'}  zone ${n.role.zone}  ` +
        (d ? `data ${bytes(d.available)} free of ${bytes(d.total)}` : 'data: unknown (node down)'),
    );
  }
  const buckets = await ctx.helpers.listBuckets();
  lines.push('', `Buckets: ${buckets.length}`, `Data available in all: ${bytes(avail)} of ${bytes(total)}`);
  return { freeform: `${lines.join('\n')}\n` };
}

/** ConnectClusterNodes: connects to each `<id>@<addr>`, answering per node. */
export async function connectClusterNodes(
  ctx: AdminCtx,
  peers: string[],
): Promise<ClusterResponses['ConnectClusterNodes']> {
  return Promise.all(
    peers.map(async (p) => {
      try {
        await ctx.system.membership.connectTo(p);
        return { success: true, error: null };
      } catch (e) {
        return { success: false, error: errorMessage(e) };
      }
    }),
  );
}
