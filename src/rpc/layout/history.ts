import { z } from 'zod';
import { LayoutError } from '../../util/errors.ts';
import { mergeLww, mergeLwwMap, lwwNext, lwwSet, type Lww, type LwwMap } from '../../util/crdt.ts';
import { computeAssignment, type NodeRole, type ZoneRedundancy, type AssignReport } from './assign.ts';

export const PARTITION_BITS = 8;
export const PARTITIONS = 1 << PARTITION_BITS;

/** One applied layout: roles and the partition → nodes assignment computed from them. */
export interface LayoutVersion {
  version: number;
  replicationFactor: number;
  zoneRedundancy: ZoneRedundancy;
  /** Sorted by node id. */
  roles: NodeRole[];
  /** For each partition, the ids of the nodes holding it. */
  assignment: string[][];
  partitionSize: number;
}

/** Changes proposed for the next version; a CRDT merged across nodes. */
export interface LayoutStaging {
  /** The version these changes apply on top of; staging of an older base is dropped on merge. */
  base: number;
  roles: LwwMap<NodeRole | null>;
  zoneRedundancy: Lww<ZoneRedundancy | null>;
}

/** The whole layout state a node keeps: live versions, staging and transition trackers. */
export interface LayoutHistory {
  /** Live versions, oldest first; never empty (version 0 has no roles). */
  versions: LayoutVersion[];
  staging: LayoutStaging;
  /** node id → highest version acked / synced / seen synced everywhere (merge = max). */
  ack: [string, number][];
  sync: [string, number][];
  syncAck: [string, number][];
}

const zNodeId = z.string().regex(/^[0-9a-f]{64}$/, 'a node id is 64 hex characters');
const zRole: z.ZodType<NodeRole> = z.object({
  id: zNodeId,
  zone: z.string(),
  capacity: z.number().nonnegative().nullable(),
  tags: z.array(z.string()).optional(),
});
const zZoneRedundancy: z.ZodType<ZoneRedundancy> = z.union([z.literal('maximum'), z.number().int().positive()]);
const lww = <T>(v: z.ZodType<T>): z.ZodType<Lww<T>> => z.object({ ts: z.number(), v });
const zTracker = z.array(z.tuple([zNodeId, z.number().int().nonnegative()]));

/** The shape of a layout history, checked where one enters: from a peer, or from disk. */
export const layoutHistorySchema: z.ZodType<LayoutHistory> = z.object({
  versions: z
    .array(
      z.object({
        version: z.number().int().nonnegative(),
        replicationFactor: z.number().int().positive(),
        zoneRedundancy: zZoneRedundancy,
        roles: z.array(zRole),
        assignment: z.array(z.array(zNodeId)),
        partitionSize: z.number().nonnegative(),
      }),
    )
    .min(1),
  staging: z.object({
    base: z.number().int().nonnegative(),
    roles: z.array(z.tuple([zNodeId, lww(zRole.nullable())])),
    zoneRedundancy: lww(zZoneRedundancy.nullable()),
  }),
  ack: zTracker,
  sync: zTracker,
  syncAck: zTracker,
});

/** The empty layout every node starts with. */
export function emptyHistory(replicationFactor: number): LayoutHistory {
  return {
    versions: [
      { version: 0, replicationFactor, zoneRedundancy: 'maximum', roles: [], assignment: [], partitionSize: 0 },
    ],
    staging: { base: 0, roles: [], zoneRedundancy: { ts: 0, v: null } },
    ack: [],
    sync: [],
    syncAck: [],
  };
}

/** The newest applied version. */
export function current(h: LayoutHistory): LayoutVersion {
  return h.versions[h.versions.length - 1]!;
}

function mergeTracker(a: [string, number][], b: [string, number][]): [string, number][] {
  const m = new Map(a);
  for (const [k, v] of b) m.set(k, Math.max(m.get(k) ?? 0, v));
  return [...m.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1));
}

/** Merges two histories (commutative, associative, idempotent). */
export function mergeHistory(a: LayoutHistory, b: LayoutHistory): LayoutHistory {
  const byVersion = new Map<number, LayoutVersion>();
  for (const v of [...a.versions, ...b.versions]) if (!byVersion.has(v.version)) byVersion.set(v.version, v);
  const newest = Math.max(current(a).version, current(b).version);
  // Keep the versions that either side still considers live.
  const oldest = Math.max(a.versions[0]!.version, b.versions[0]!.version);
  const versions = [...byVersion.values()]
    .filter((v) => v.version >= Math.min(oldest, newest))
    .sort((x, y) => x.version - y.version);
  let staging: LayoutStaging;
  if (a.staging.base !== b.staging.base) staging = a.staging.base > b.staging.base ? a.staging : b.staging;
  else
    staging = {
      base: a.staging.base,
      roles: mergeLwwMap(a.staging.roles, b.staging.roles),
      zoneRedundancy: mergeLww(a.staging.zoneRedundancy, b.staging.zoneRedundancy),
    };
  if (staging.base < newest) staging = { base: newest, roles: [], zoneRedundancy: { ts: 0, v: null } };
  return {
    versions,
    staging,
    ack: mergeTracker(a.ack, b.ack),
    sync: mergeTracker(a.sync, b.sync),
    syncAck: mergeTracker(a.syncAck, b.syncAck),
  };
}

/** Stages a role (or its removal with null) for a node. */
export function stageRole(h: LayoutHistory, id: string, role: NodeRole | null): LayoutHistory {
  return { ...h, staging: { ...h.staging, roles: lwwSet(h.staging.roles, id, role) } };
}

/** Stages a new zone redundancy parameter. */
export function stageZoneRedundancy(h: LayoutHistory, zr: ZoneRedundancy): LayoutHistory {
  return { ...h, staging: { ...h.staging, zoneRedundancy: lwwNext(h.staging.zoneRedundancy, zr) } };
}

/** Roles of the newest version with staged changes applied, sorted by id. */
export function stagedRoles(h: LayoutHistory): NodeRole[] {
  const roles = new Map(current(h).roles.map((r) => [r.id, r]));
  for (const [id, { v }] of h.staging.roles) {
    if (v === null) roles.delete(id);
    else roles.set(id, v);
  }
  return [...roles.values()].sort((x, y) => (x.id < y.id ? -1 : 1));
}

/** Whether anything is staged. */
export function hasStagedChanges(h: LayoutHistory): boolean {
  return h.staging.roles.length > 0 || h.staging.zoneRedundancy.v !== null;
}

function checkVersion(h: LayoutHistory, version: number | undefined): number {
  const next = current(h).version + 1;
  if (version !== undefined && version !== next) {
    throw new LayoutError(
      `invalid layout version ${version}: the next version must be ${next} (current is ${next - 1})`,
    );
  }
  return next;
}

/** Applies the staged changes as a new version; returns the new history and the assignment report. */
export function applyStaged(
  h: LayoutHistory,
  version: number | undefined,
  replicationFactor: number,
): { history: LayoutHistory; report: AssignReport } {
  const next = checkVersion(h, version);
  if (!hasStagedChanges(h))
    throw new LayoutError('no staged layout changes to apply (use garage layout assign/remove first)');
  const cur = current(h);
  const roles = stagedRoles(h);
  const zoneRedundancy = h.staging.zoneRedundancy.v ?? cur.zoneRedundancy;
  const { assignment, report } = computeAssignment({
    roles,
    replicationFactor,
    zoneRedundancy,
    previous: cur.assignment.length ? cur.assignment : undefined,
    partitions: PARTITIONS,
  });
  const nv: LayoutVersion = {
    version: next,
    replicationFactor,
    zoneRedundancy,
    roles,
    assignment,
    partitionSize: report.partitionSize,
  };
  return {
    // A version without roles holds no data: nothing to transition from.
    history: {
      ...h,
      versions: [...h.versions.filter((v) => v.roles.length > 0), nv],
      staging: { base: next, roles: [], zoneRedundancy: { ts: 0, v: null } },
    },
    report,
  };
}

/** Drops the staged changes. */
export function revertStaged(h: LayoutHistory, version: number | undefined): LayoutHistory {
  if (version !== undefined) checkVersion(h, version);
  return {
    ...h,
    staging: { base: h.staging.base, roles: [], zoneRedundancy: lwwNext(h.staging.zoneRedundancy, null) },
  };
}

function trackerMin(t: [string, number][], nodes: string[]): number {
  const m = new Map(t);
  return Math.min(...nodes.map((n) => m.get(n) ?? 0));
}

/**
 * The nodes whose trackers gate transitions: those of the newest version. A node being
 * removed need not sync (its data is moving away), so a dead removed node never blocks.
 */
export function trackedNodes(h: LayoutHistory): string[] {
  return current(h)
    .roles.map((r) => r.id)
    .sort();
}

/** Updates a tracker for one node (monotonic). */
export function setTracker(
  h: LayoutHistory,
  which: 'ack' | 'sync' | 'syncAck',
  node: string,
  version: number,
): LayoutHistory {
  return { ...h, [which]: mergeTracker(h[which], [[node, version]]) };
}

/** Drops versions that every node has seen synced past, keeping the newest. */
export function pruneHistory(h: LayoutHistory): LayoutHistory {
  const nodes = trackedNodes(h);
  if (nodes.length === 0) return { ...h, versions: [current(h)] };
  const minSyncAck = trackerMin(h.syncAck, nodes);
  const versions = h.versions.filter((_v, i) => i === h.versions.length - 1 || h.versions[i + 1]!.version > minSyncAck);
  return versions.length === h.versions.length ? h : { ...h, versions };
}

/** The newest version that every node has synced: reads go to its replicas. */
export function readVersion(h: LayoutHistory): LayoutVersion {
  const nodes = trackedNodes(h);
  const minSync = nodes.length ? trackerMin(h.sync, nodes) : 0;
  let best = h.versions[0]!;
  for (const v of h.versions) if (v.version <= minSync) best = v;
  return best;
}

/** The partition of a 32-byte hash. */
export function partitionOf(hash: Buffer): number {
  return hash[0]! >> (8 - PARTITION_BITS);
}
