import {
  applyStaged,
  current,
  hasStagedChanges,
  revertStaged,
  setTracker,
  stageRole,
  stageZoneRedundancy,
  stagedRoles,
  trackedNodes,
  type LayoutHistory,
  type LayoutVersion,
} from '../rpc/layout/history.ts';
import type { AssignReport, ZoneRedundancy } from '../rpc/layout/assign.ts';
import { AdminError, AdminNotFoundError, LayoutError } from '../util/errors.ts';
import { bytes } from '../util/units.ts';
import type { ApiZoneRedundancy, ClusterLayout, ClusterRequest, ClusterResponses } from './api.ts';
import { upNodes } from './cluster.ts';
import type { AdminCtx } from './context.ts';

const toApiZr = (z: ZoneRedundancy): ApiZoneRedundancy => (z === 'maximum' ? 'maximum' : { atLeast: z });
const fromApiZr = (z: ApiZoneRedundancy): ZoneRedundancy => (z === 'maximum' ? 'maximum' : z.atLeast);

/** The layout as GetClusterLayout shows it: a version and the changes staged on top of it. */
export function layoutOf(h: LayoutHistory, v: LayoutVersion = current(h)): ClusterLayout {
  const perNode = new Map<string, number>();
  for (const nodes of v.assignment) for (const n of nodes) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  const staged = v.version === current(h).version;
  return {
    version: v.version,
    roles: v.roles.map((r) => ({
      id: r.id,
      zone: r.zone,
      tags: r.tags ?? [],
      capacity: r.capacity,
      storedPartitions: r.capacity === null ? null : (perNode.get(r.id) ?? 0),
      usableCapacity: r.capacity === null ? null : (perNode.get(r.id) ?? 0) * v.partitionSize,
    })),
    parameters: { zoneRedundancy: toApiZr(v.zoneRedundancy) },
    partitionSize: v.partitionSize,
    stagedRoleChanges: staged
      ? h.staging.roles.map(([id, { v: role }]) =>
          role ? { id, zone: role.zone, tags: role.tags ?? [], capacity: role.capacity } : { id, remove: true },
        )
      : [],
    stagedParameters:
      staged && h.staging.zoneRedundancy.v !== null ? { zoneRedundancy: toApiZr(h.staging.zoneRedundancy.v) } : null,
  };
}

/** The lines Garage prints after computing an assignment. */
export function reportLines(r: AssignReport): string[] {
  return [
    `Partition size: ${bytes(r.partitionSize)}`,
    `Usable capacity: ${bytes(r.usableCapacity)}`,
    `Effective zone redundancy: ${r.effectiveZoneRedundancy}`,
    ...r.perNode.map(
      (n) =>
        `${n.id.slice(0, 16)}  zone ${n.zone}  ${n.partitions} partitions  usable ${bytes(n.usableCapacity)} of ${bytes(n.capacity)}`,
    ),
    `Partition replicas moved by this change: ${r.moved}`,
  ];
}

/** Resolves a node id or a unique prefix of one among known nodes (layout roles, peers, self). */
export function findNode(ctx: AdminCtx, prefix: string): string {
  const p = prefix.toLowerCase().replace(/@.*$/, '');
  const h = ctx.system.layout.history;
  const known = new Set<string>([
    ctx.rpc.id,
    ...ctx.system.membership.peers().map((x) => x.id),
    ...stagedRoles(h).map((r) => r.id),
    ...h.versions.flatMap((v) => v.roles.map((r) => r.id)),
  ]);
  const matches = [...known].filter((id) => id.startsWith(p));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new AdminNotFoundError('NoSuchNode', `no node id starts with '${prefix}'`);
  throw new AdminError(`node id prefix '${prefix}' is ambiguous: ${matches.map((m) => m.slice(0, 16)).join(', ')}`);
}

/** GetClusterLayoutHistory: the live versions and the transition trackers. */
export function getClusterLayoutHistory(ctx: AdminCtx): ClusterResponses['GetClusterLayoutHistory'] {
  const h = ctx.system.layout.history;
  const cur = current(h);
  const nodes = trackedNodes(h);
  const get = (t: [string, number][], n: string) => t.find(([id]) => id === n)?.[1] ?? 0;
  const trackers: Record<string, { ack: number; sync: number; syncAck: number }> = {};
  for (const n of new Set([...nodes, ...h.ack.map(([id]) => id)]))
    trackers[n] = { ack: get(h.ack, n), sync: get(h.sync, n), syncAck: get(h.syncAck, n) };
  return {
    currentVersion: cur.version,
    minAck: nodes.length ? Math.min(...nodes.map((n) => get(h.ack, n))) : cur.version,
    versions: h.versions
      .map((v) => ({
        version: v.version,
        status: v.version === cur.version ? ('Current' as const) : ('Draining' as const),
        storageNodes: v.roles.filter((r) => r.capacity !== null).length,
        gatewayNodes: v.roles.filter((r) => r.capacity === null).length,
      }))
      .reverse(),
    updateTrackers: trackers,
  };
}

/** UpdateClusterLayout: stages role changes and parameters. */
export async function updateClusterLayout(
  ctx: AdminCtx,
  req: ClusterRequest<'UpdateClusterLayout'>['body'],
): Promise<ClusterLayout> {
  let h = ctx.system.layout.history;
  for (const c of req.roles ?? []) {
    const id = findNode(ctx, c.id);
    if ('remove' in c) h = stageRole(h, id, null);
    else {
      if (c.capacity === 0) throw new AdminError('capacity must be positive (null for a gateway node)');
      h = stageRole(h, id, { id, zone: c.zone, capacity: c.capacity ?? null, tags: c.tags });
    }
  }
  if (req.parameters) h = stageZoneRedundancy(h, fromApiZr(req.parameters.zoneRedundancy));
  await ctx.system.updateLayout(h);
  return layoutOf(ctx.system.layout.history);
}

/** PreviewClusterLayoutChanges: what applying the staged changes would give, or why it cannot. */
export function previewClusterLayoutChanges(ctx: AdminCtx): ClusterResponses['PreviewClusterLayoutChanges'] {
  const h = ctx.system.layout.history;
  if (!hasStagedChanges(h)) return { error: 'no staged layout changes' };
  try {
    const { history, report } = applyStaged(h, undefined, ctx.replicationFactor);
    return { message: reportLines(report), newLayout: layoutOf(history) };
  } catch (e) {
    if (e instanceof LayoutError) return { error: e.message };
    throw e;
  }
}

/** ApplyClusterLayout: the staged changes become version `version` (current + 1). */
export async function applyClusterLayout(
  ctx: AdminCtx,
  version: number,
): Promise<ClusterResponses['ApplyClusterLayout']> {
  const { history, report } = applyStaged(ctx.system.layout.history, version, ctx.replicationFactor);
  await ctx.system.updateLayout(history);
  return { message: reportLines(report), layout: layoutOf(ctx.system.layout.history) };
}

/** RevertClusterLayout: drops the staged changes. */
export async function revertClusterLayout(ctx: AdminCtx): Promise<ClusterLayout> {
  await ctx.system.updateLayout(revertStaged(ctx.system.layout.history, undefined));
  return layoutOf(ctx.system.layout.history);
}

/** ClusterLayoutSkipDeadNodes: lets a transition finish without the nodes that are down. */
export async function skipDeadNodes(
  ctx: AdminCtx,
  req: ClusterRequest<'ClusterLayoutSkipDeadNodes'>['body'],
): Promise<ClusterResponses['ClusterLayoutSkipDeadNodes']> {
  const h0 = ctx.system.layout.history;
  const cur = current(h0).version;
  if (req.version !== cur) throw new AdminError(`version must be the current layout version (${cur})`);
  const up = upNodes(ctx);
  const dead = trackedNodes(h0).filter((n) => !up.has(n));
  if (dead.length === 0) throw new AdminError('every node of the current layout is up: nothing to skip');
  let h = h0;
  // The live replicas have synced what the dead ones should hold (every sync pass merges with a
  // set that meets every write quorum); the dead ones catch up when they return.
  for (const n of dead) for (const t of ['ack', 'sync', 'syncAck'] as const) h = setTracker(h, t, n, cur);
  await ctx.system.updateLayout(h);
  return { ackUpdated: dead, syncUpdated: dead };
}
