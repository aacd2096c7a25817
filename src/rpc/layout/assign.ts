// Partition assignment: which storage nodes hold the replicas of each partition.
//
// Pure and deterministic. The three goals, in priority order (DESIGN.md §5):
//   1. every partition has `replicationFactor` distinct storage nodes spread
//      over at least `zr` zones, no zone holding more than rf - zr + 1 of them;
//   2. the partition size s (capacity units one partition takes on a node) is
//      as large as any valid assignment allows, i.e. the usable capacity is maximal;
//   3. among those, as few replicas as possible change node w.r.t. `previous`.
// Two weaker wishes use the remaining freedom: 4. partitions per node as close
// to the capacity share as the units allow; 5. each node's partitions
// scattered over many partners (a hashed preference, as rendezvous hashing
// would), so that a departing node's replicas can be taken over by many nodes
// without reshuffling others. The reasoning is in docs/layout-assignment.md.

import { LayoutError } from '../../util/errors.ts';
import { FlowGraph } from './assign_flow.ts';

/** A node's role in the layout; capacity null marks a gateway (holds no data). */
export interface NodeRole {
  id: string;
  zone: string;
  capacity: number | null;
  tags?: string[];
}

/** How many distinct zones each partition must span: a number, or as many as possible. */
export type ZoneRedundancy = 'maximum' | number;

/** What the assignment is computed from. */
export interface AssignInput {
  roles: NodeRole[];
  replicationFactor: number;
  zoneRedundancy: ZoneRedundancy;
  /** Per partition, the node ids of the current assignment (to move as little as possible). */
  previous?: string[][];
  /** Number of partitions, 256 unless told. */
  partitions?: number;
}

/** Figures describing a computed assignment. */
export interface AssignReport {
  /** Capacity units per partition: the optimal s. */
  partitionSize: number;
  /** partitionSize × partitions. */
  usableCapacity: number;
  perNode: { id: string; zone: string; capacity: number; partitions: number; usableCapacity: number }[];
  /** Replicas placed on a node that did not hold them in `previous` (0 without previous). */
  moved: number;
  effectiveZoneRedundancy: number;
}

/** An assignment (per partition, sorted node ids) and its report. */
export interface AssignResult {
  assignment: string[][];
  report: AssignReport;
}

const DEFAULT_PARTITIONS = 256;
// Levels of the hashed per-(partition, node) preference used as the last tie-break.
const PREFERENCE_LEVELS = 8;

interface StorageNode {
  id: string;
  zone: number;
  capacity: number;
}

interface Problem {
  nodes: StorageNode[]; // sorted by id
  zones: string[]; // sorted
  rf: number;
  zr: number;
  partitions: number;
}

// A candidate partition size, kept as the exact fraction num/k.
interface Size {
  num: number;
  k: number;
}

/** Computes the assignment of partitions to storage nodes; throws LayoutError when impossible. */
export function computeAssignment(input: AssignInput): AssignResult {
  const problem = validate(input);
  const { nodes, partitions } = problem;
  const size = optimalSize(problem);
  const units = nodes.map((n) => unitsAt(n.capacity, size, partitions));
  const assignment = solve(problem, units, input.previous);
  const partitionSize = size.num / size.k;

  const counts = new Map<string, number>();
  for (const set of assignment) for (const id of set) counts.set(id, (counts.get(id) ?? 0) + 1);
  let moved = 0;
  if (input.previous !== undefined) {
    for (let p = 0; p < partitions; p++) {
      const before = new Set(input.previous[p]);
      for (const id of assignment[p]) if (!before.has(id)) moved++;
    }
  }
  return {
    assignment,
    report: {
      partitionSize,
      usableCapacity: partitionSize * partitions,
      perNode: nodes.map((n) => {
        const count = counts.get(n.id) ?? 0;
        return {
          id: n.id,
          zone: problem.zones[n.zone],
          capacity: n.capacity,
          partitions: count,
          usableCapacity: count * partitionSize,
        };
      }),
      moved,
      effectiveZoneRedundancy: problem.zr,
    },
  };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function validate(input: AssignInput): Problem {
  const partitions = input.partitions ?? DEFAULT_PARTITIONS;
  // The bound keeps the lexicographic flow costs (see solve) exact in doubles.
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 65536) {
    throw new LayoutError(`invalid number of partitions: ${partitions}`);
  }
  const rf = input.replicationFactor;
  if (!Number.isInteger(rf) || rf < 1) throw new LayoutError(`invalid replication factor: ${rf}`);

  const seen = new Set<string>();
  const storage: { id: string; zone: string; capacity: number }[] = [];
  for (const role of input.roles) {
    if (seen.has(role.id)) throw new LayoutError(`node ${role.id} appears twice in the layout`);
    seen.add(role.id);
    if (role.capacity === null) continue; // gateway
    if (typeof role.capacity !== 'number' || !Number.isFinite(role.capacity) || role.capacity <= 0) {
      throw new LayoutError(
        `node ${role.id} has capacity ${String(role.capacity)}: a storage node needs a positive capacity (use a gateway role for none)`,
      );
    }
    storage.push({ id: role.id, zone: role.zone, capacity: role.capacity });
  }
  if (storage.length === 0) throw new LayoutError('the layout has no storage node (only gateways or nothing)');
  if (storage.length < rf) {
    throw new LayoutError(
      `replication factor ${rf} needs at least ${rf} storage nodes, the layout has ${storage.length}`,
    );
  }

  // Canonical order: the result must depend on the set of roles only.
  storage.sort((a, b) => compareStrings(a.id, b.id));
  const zones = [...new Set(storage.map((n) => n.zone))].sort(compareStrings);
  const zoneIndex = new Map(zones.map((z, i) => [z, i]));

  let zr: number;
  if (input.zoneRedundancy === 'maximum') {
    zr = Math.min(rf, zones.length);
  } else {
    zr = input.zoneRedundancy;
    if (!Number.isInteger(zr) || zr < 1) throw new LayoutError(`invalid zone redundancy: ${zr}`);
    if (zr > rf) throw new LayoutError(`zone redundancy ${zr} exceeds the replication factor ${rf}`);
    if (zr > zones.length) {
      throw new LayoutError(
        `zone redundancy ${zr} needs at least ${zr} zones with storage nodes, the layout has ${zones.length}`,
      );
    }
  }

  if (input.previous !== undefined && input.previous.length !== partitions) {
    throw new LayoutError(`previous assignment has ${input.previous.length} partitions, expected ${partitions}`);
  }

  return {
    nodes: storage.map((n) => ({ id: n.id, zone: zoneIndex.get(n.zone) as number, capacity: n.capacity })),
    zones,
    rf,
    zr,
    partitions,
  };
}

// floor(a * b / c) for positive numbers, exact when a and c are integers
// (byte capacities can make a * b exceed 2^53, hence the BigInt fallback).
function mulDivFloor(a: number, b: number, c: number): number {
  if (Number.isInteger(a) && Number.isInteger(c)) {
    const prod = a * b;
    if (prod <= Number.MAX_SAFE_INTEGER) return Math.floor(prod / c);
    return Number((BigInt(a) * BigInt(b)) / BigInt(c));
  }
  return Math.floor((a * b) / c);
}

// Partitions a node of this capacity can hold at partition size `size`
// (never more than one replica of each partition).
function unitsAt(capacity: number, size: Size, partitions: number): number {
  return Math.min(partitions, mulDivFloor(capacity, size.k, size.num));
}

// Is size x strictly larger than size y? Exact for integer capacities.
function greaterSize(x: Size, y: Size): boolean {
  if (Number.isInteger(x.num) && Number.isInteger(y.num)) {
    const l = x.num * y.k;
    const r = y.num * x.k;
    if (l <= Number.MAX_SAFE_INTEGER && r <= Number.MAX_SAFE_INTEGER) return l > r;
    return BigInt(x.num) * BigInt(y.k) > BigInt(y.num) * BigInt(x.k);
  }
  return x.num / x.k > y.num / y.k;
}

// The largest feasible partition size. Feasibility only improves as s
// shrinks, and the unit counts min(P, floor(c_i / s)) only change at
// s = c_i / k with k ≤ P, so the optimum is one of those fractions. For each
// distinct capacity the sequence c/1 > c/2 > … > c/P is sorted: a binary
// search finds its largest feasible member, and the best of these is the optimum.
function optimalSize(problem: Problem): Size {
  const { nodes, partitions } = problem;
  const capacities = [...new Set(nodes.map((n) => n.capacity))].sort((a, b) => b - a);
  let best: Size | undefined;
  for (const c of capacities) {
    if (best !== undefined && !greaterSize({ num: c, k: 1 }, best)) continue;
    if (!feasible(problem, { num: c, k: partitions })) continue;
    let lo = 1; // infeasible unless proven otherwise below
    let hi = partitions; // feasible
    if (feasible(problem, { num: c, k: 1 })) hi = 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (feasible(problem, { num: c, k: mid })) hi = mid;
      else lo = mid;
    }
    const found = { num: c, k: hi };
    if (best === undefined || greaterSize(found, best)) best = found;
  }
  // With every node able to hold every partition (s = min capacity / P) the
  // constraints validated above can always be met, so this cannot happen.
  if (best === undefined) throw new LayoutError('internal error: no feasible partition size');
  return best;
}

// Zone-level max flow: source → UP (P·zr) and DOWN (P·(rf−zr)); UP → zone (P)
// and DOWN → zone (P·(rf−zr)); zone → node (P); node → sink (its units).
// It is the per-partition network of `solve` with all partitions summed up;
// dividing one of its flows by P gives a fractional per-partition flow, and
// max-flow integrality then yields an integral one, so the two networks
// accept exactly the same unit counts while this one has ~Z+N vertices.
function feasible(problem: Problem, size: Size): boolean {
  const { nodes, zones, rf, zr, partitions: P } = problem;
  const units = nodes.map((n) => unitsAt(n.capacity, size, P));
  if (units.reduce((a, b) => a + b, 0) < P * rf) return false;
  const Z = zones.length;
  const SRC = 0;
  const SINK = 1;
  const UP = 2;
  const DOWN = 3;
  const zoneV = (z: number) => 4 + z;
  const nodeV = (i: number) => 4 + Z + i;
  const g = new FlowGraph(4 + Z + nodes.length);
  g.addEdge(SRC, UP, P * zr);
  if (rf > zr) g.addEdge(SRC, DOWN, P * (rf - zr));
  for (let z = 0; z < Z; z++) {
    g.addEdge(UP, zoneV(z), P);
    if (rf > zr) g.addEdge(DOWN, zoneV(z), P * (rf - zr));
  }
  nodes.forEach((n, i) => {
    g.addEdge(zoneV(n.zone), nodeV(i), P);
    if (units[i] > 0) g.addEdge(nodeV(i), SINK, units[i]);
  });
  return g.maxFlow(SRC, SINK) === P * rf;
}

// Per-node load the balancing tie-break aims at: proportional to capacity,
// clipped by the node's units and by the zone cap P·(rf−zr+1), water-filled
// so that the targets sum to P·rf.
function balanceTargets(problem: Problem, units: number[]): number[] {
  const { nodes, zones, rf, zr, partitions: P } = problem;
  const zoneCap = P * (rf - zr + 1);
  const total = P * rf;
  const members: number[][] = zones.map(() => []);
  for (const [i, n] of nodes.entries()) members[n.zone].push(i);
  const fill = (idx: number[], lambda: number) =>
    idx.reduce((sum, i) => sum + Math.min(units[i], lambda * nodes[i].capacity), 0);
  const zoneLoad = (lambda: number) => members.reduce((sum, idx) => sum + Math.min(zoneCap, fill(idx, lambda)), 0);
  let lo = 0;
  let hi = Math.max(...nodes.map((n, i) => units[i] / n.capacity));
  for (let it = 0; it < 100 && zoneLoad(hi) > total; it++) {
    const mid = (lo + hi) / 2;
    if (zoneLoad(mid) >= total) hi = mid;
    else lo = mid;
  }
  const targets = new Array<number>(nodes.length).fill(0);
  for (const idx of members) {
    if (fill(idx, hi) <= zoneCap) {
      for (const i of idx) targets[i] = Math.min(units[i], hi * nodes[i].capacity);
      continue;
    }
    // A zone at its cap shares the cap among its nodes by capacity.
    let zlo = 0;
    let zhi = hi;
    for (let it = 0; it < 100; it++) {
      const mid = (zlo + zhi) / 2;
      if (fill(idx, mid) >= zoneCap) zhi = mid;
      else zlo = mid;
    }
    for (const i of idx) targets[i] = Math.min(units[i], zhi * nodes[i].capacity);
  }
  return targets;
}

// Builds the per-partition network and solves it at minimum cost:
//   source → UP_p (zr) and DOWN_p (rf−zr)
//   UP_p → (p,z) (1) and DOWN_p → (p,z) (rf−zr)   for each zone z
//   (p,z) → node n (1)                            for each node n in z
//   node n → sink (its units, split into balance tiers)
// A full flow (P·rf) is exactly a valid assignment: each partition gets rf
// distinct nodes, at least zr zones (the UP_p unit edges) and at most
// 1 + (rf−zr) replicas per zone. Costs: W per replica on a node that did not
// hold it before, plus B or 2B per unit a node takes beyond its balance
// target, plus the hashed preference level (0..7) of the replica arc. Each
// weight exceeds the largest possible total of everything below it
// (B > 7·P·rf, W > 2·P·rf·B + 7·P·rf), so the goals are strictly lexicographic.
function solve(problem: Problem, units: number[], previous: string[][] | undefined): string[][] {
  const { nodes, zones, rf, zr, partitions: P } = problem;
  const Z = zones.length;
  const N = nodes.length;
  const SRC = 0;
  const SINK = 1;
  const upV = (p: number) => 2 + p;
  const downV = (p: number) => 2 + P + p;
  const pzV = (p: number, z: number) => 2 + 2 * P + p * Z + z;
  const nodeV = (i: number) => 2 + 2 * P + P * Z + i;
  const g = new FlowGraph(2 + 2 * P + P * Z + N);

  const byZone: number[][] = zones.map(() => []);
  for (const [i, n] of nodes.entries()) byZone[n.zone].push(i);
  const H = PREFERENCE_LEVELS - 1;
  const B = P * rf * H + 1;
  const W = previous === undefined ? 0 : (2 * P * rf + 1) * B;

  const replicaArcs: Int32Array[] = [];
  for (let p = 0; p < P; p++) {
    g.addEdge(SRC, upV(p), zr);
    if (rf > zr) g.addEdge(SRC, downV(p), rf - zr);
    const before = new Set(previous?.[p] ?? []);
    const arcs = new Int32Array(N);
    for (let z = 0; z < Z; z++) {
      g.addEdge(upV(p), pzV(p, z), 1);
      if (rf > zr) g.addEdge(downV(p), pzV(p, z), rf - zr);
      for (const i of byZone[z]) {
        const pref = preference(p, nodes[i].id);
        arcs[i] = g.addEdge(pzV(p, z), nodeV(i), 1, (before.has(nodes[i].id) ? 0 : W) + pref);
      }
    }
    replicaArcs.push(arcs);
  }

  const targets = balanceTargets(problem, units);
  for (let i = 0; i < N; i++) {
    // The small epsilon absorbs floating error of the water-filling.
    const base = Math.min(units[i], Math.floor(targets[i] + 1e-6));
    const rest = units[i] - base;
    if (base > 0) g.addEdge(nodeV(i), SINK, base, 0);
    if (rest > 0) g.addEdge(nodeV(i), SINK, 1, B);
    if (rest > 1) g.addEdge(nodeV(i), SINK, rest - 1, 2 * B);
  }

  const { flow } = g.minCostMaxFlow(SRC, SINK);
  if (flow !== P * rf) {
    throw new LayoutError(`internal error: assignment flow ${flow} short of ${P * rf}`);
  }
  const assignment: string[][] = [];
  for (let p = 0; p < P; p++) {
    const ids: string[] = [];
    for (let i = 0; i < N; i++) if (g.flowOn(replicaArcs[p][i]) > 0) ids.push(nodes[i].id);
    assignment.push(ids); // already sorted: nodes are in id order
  }
  return assignment;
}

// Pseudo-random preference level of a node for a partition (FNV-1a of both).
// As the weakest tie-break it scatters each node's partitions over many
// different partners, the way rendezvous hashing would, so that when a node
// leaves, the replicas it held can be taken over by many nodes at once.
function preference(partition: number, id: string): number {
  let h = 0x811c9dc5;
  const text = `${partition}:${id}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return (h >>> 0) % PREFERENCE_LEVELS;
}
