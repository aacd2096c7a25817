import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  computeAssignment,
  type AssignInput,
  type AssignResult,
  type NodeRole,
  type ZoneRedundancy,
} from '../../../src/rpc/layout/assign.ts';
import { LayoutError } from '../../../src/util/errors.ts';

// Deterministic PRNG (mulberry32) so every run checks the same clusters.
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

function shuffle<T>(rng: () => number, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(rng, 0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Cluster {
  roles: NodeRole[];
  rf: number;
  zr: ZoneRedundancy;
}

// A random valid cluster: every zone has a storage node, capacities span up
// to 100x, some clusters use byte-sized capacities (exercising exact
// arithmetic beyond 2^53), some have gateways.
function randomCluster(rng: () => number, maxNodes = 30, maxZones = 6, maxRf = 5): Cluster {
  const n = int(rng, 1, maxNodes);
  const zones = int(rng, 1, Math.min(maxZones, n));
  const unit = rng() < 0.3 ? 1_000_000_000_000 : 1;
  const roles: NodeRole[] = [];
  for (let i = 0; i < n; i++) {
    const zone = i < zones ? i : int(rng, 0, zones - 1);
    const capacity = Math.round(100 ** rng() * int(rng, 1, 10)) * unit;
    roles.push({ id: `node${String(i).padStart(2, '0')}-${int(rng, 0, 9999)}`, zone: `zone${zone}`, capacity });
  }
  for (let g = int(rng, 0, 2); g > 0; g--)
    roles.push({ id: `gw${g}`, zone: `zone${int(rng, 0, zones + 1)}`, capacity: null });
  const rf = int(rng, 1, Math.min(maxRf, n));
  const zr: ZoneRedundancy = rng() < 0.5 ? 'maximum' : int(rng, 1, Math.min(rf, zones));
  return { roles: shuffle(rng, roles), rf, zr };
}

function storageOf(roles: NodeRole[]): { id: string; zone: string; capacity: number }[] {
  const out: { id: string; zone: string; capacity: number }[] = [];
  for (const r of roles) if (r.capacity !== null) out.push({ id: r.id, zone: r.zone, capacity: r.capacity });
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function effectiveZr(c: Cluster): number {
  const zones = new Set(storageOf(c.roles).map((n) => n.zone)).size;
  return c.zr === 'maximum' ? Math.min(c.rf, zones) : c.zr;
}

// Checks constraint (1) and the consistency of the report with the assignment.
function checkValid(c: Cluster, partitions: number, res: AssignResult): void {
  const storage = storageOf(c.roles);
  const byId = new Map(storage.map((n) => [n.id, n]));
  const zr = effectiveZr(c);
  const { assignment, report } = res;
  assert.equal(assignment.length, partitions);
  assert.equal(report.effectiveZoneRedundancy, zr);
  const counts = new Map<string, number>();
  for (const set of assignment) {
    assert.equal(set.length, c.rf);
    assert.equal(new Set(set).size, c.rf, 'replicas on distinct nodes');
    assert.deepEqual([...set].sort(), set, 'sorted ids');
    const perZone = new Map<string, number>();
    for (const id of set) {
      const node = byId.get(id);
      assert.ok(node, `${id} is a storage node`);
      perZone.set(node.zone, (perZone.get(node.zone) ?? 0) + 1);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    assert.ok(perZone.size >= zr, `at least ${zr} zones`);
    for (const k of perZone.values()) assert.ok(k <= c.rf - zr + 1, 'zone cap');
  }
  const s = report.partitionSize;
  assert.ok(s > 0);
  assert.equal(report.usableCapacity, s * partitions);
  assert.deepEqual(
    report.perNode.map((n) => n.id),
    storage.map((n) => n.id),
  );
  for (const n of report.perNode) {
    const count = counts.get(n.id) ?? 0;
    assert.equal(n.partitions, count);
    assert.equal(n.capacity, byId.get(n.id)?.capacity);
    assert.equal(n.usableCapacity, count * s);
    assert.ok(count * s <= n.capacity * (1 + 1e-12), `${n.id}: ${count} partitions of ${s} fit in ${n.capacity}`);
  }
}

// Independent feasibility test of a partition size, derived by hand rather
// than by a flow: with A_z = min(P·(rf−zr+1), Σ_{n∈z} min(P, ⌊c_n/s⌋)), an
// assignment exists iff Σ_z A_z ≥ P·rf (room for every replica) and
// Σ_z min(P, A_z) ≥ P·zr (each partition can touch zr distinct zones).
// Necessity is immediate; sufficiency is shown in docs/layout-assignment.md.
function feasibleClosedForm(c: Cluster, partitions: number, s: number): boolean {
  const P = partitions;
  const zr = effectiveZr(c);
  const zoneRoom = new Map<string, number>();
  for (const n of storageOf(c.roles)) {
    const units = Math.min(P, Math.floor((n.capacity / s) * (1 + 1e-12)));
    zoneRoom.set(n.zone, (zoneRoom.get(n.zone) ?? 0) + units);
  }
  let total = 0;
  let touching = 0;
  for (const room of zoneRoom.values()) {
    const a = Math.min(P * (c.rf - zr + 1), room);
    total += a;
    touching += Math.min(P, a);
  }
  return total >= P * c.rf && touching >= P * zr;
}

// Largest feasible s by bisection over the reals (no candidate-set reasoning).
function bisectSize(c: Cluster, partitions: number): number {
  const caps = storageOf(c.roles).map((n) => n.capacity);
  let lo = Math.min(...caps) / partitions;
  let hi = (2 * caps.reduce((a, b) => a + b, 0)) / (partitions * c.rf);
  assert.ok(feasibleClosedForm(c, partitions, lo));
  assert.ok(!feasibleClosedForm(c, partitions, hi));
  for (let i = 0; i < 200 && hi / lo - 1 > 1e-14; i++) {
    const mid = (lo + hi) / 2;
    if (feasibleClosedForm(c, partitions, mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

function assignCluster(c: Cluster, partitions: number, previous?: string[][]): AssignResult {
  return computeAssignment({ roles: c.roles, replicationFactor: c.rf, zoneRedundancy: c.zr, partitions, previous });
}

test('random clusters: constraints hold and the partition size is optimal', () => {
  const rng = prng(0x5eed);
  const sizes = [8, 16, 64, 256];
  for (let i = 0; i < 100; i++) {
    const c = randomCluster(rng);
    const P = sizes[i % sizes.length];
    const res = assignCluster(c, P);
    checkValid(c, P, res);
    const s = res.report.partitionSize;
    const bound = bisectSize(c, P);
    assert.ok(Math.abs(s - bound) <= 1e-9 * bound, `cluster ${i}: s=${s}, bisection bound ${bound}`);
    assert.ok(feasibleClosedForm(c, P, s));
    assert.ok(!feasibleClosedForm(c, P, s * (1 + 1e-9)), `cluster ${i}: a larger size would fit`);
    assert.equal(res.report.moved, 0, 'no previous, nothing moves');
  }
});

test('random clusters with a previous assignment: still valid and optimal', () => {
  const rng = prng(77);
  for (let i = 0; i < 30; i++) {
    const c = randomCluster(rng, 20, 5, 4);
    const P = 64;
    // An arbitrary previous assignment, including nodes that no longer exist.
    const ids = storageOf(c.roles)
      .map((n) => n.id)
      .concat(['gone-1', 'gone-2']);
    const previous = Array.from({ length: P }, () => shuffle(rng, ids).slice(0, c.rf));
    const res = assignCluster(c, P, previous);
    checkValid(c, P, res);
    const bound = bisectSize(c, P);
    assert.ok(Math.abs(res.report.partitionSize - bound) <= 1e-9 * bound);
    let moved = 0;
    for (const [p, set] of res.assignment.entries()) moved += set.filter((id) => !previous[p].includes(id)).length;
    assert.equal(res.report.moved, moved);
    // Recomputing from the result itself must move nothing.
    const again = assignCluster(c, P, res.assignment);
    assert.equal(again.report.moved, 0);
    assert.deepEqual(again.assignment, res.assignment);
  }
});

// Exhaustive optimum over every assignment: dynamic programming over
// partitions whose state is the vector of per-node loads, keeping the fewest
// moves reaching each vector. The partition size a load vector allows is
// min over used nodes of capacity/load, so the optimum needs no flow at all.
function bruteForce(c: Cluster, partitions: number, previous: string[][]): { size: number; moved: number } {
  const nodes = storageOf(c.roles);
  const zr = effectiveZr(c);
  const sets: number[][] = [];
  const pick = (start: number, chosen: number[]) => {
    if (chosen.length === c.rf) {
      const perZone = new Map<string, number>();
      for (const i of chosen) perZone.set(nodes[i].zone, (perZone.get(nodes[i].zone) ?? 0) + 1);
      if (perZone.size >= zr && [...perZone.values()].every((k) => k <= c.rf - zr + 1)) sets.push([...chosen]);
      return;
    }
    for (let i = start; i < nodes.length; i++) pick(i + 1, [...chosen, i]);
  };
  pick(0, []);
  const shift = (i: number) => 16 ** i; // loads ≤ partitions ≤ 15 fit in a hex digit
  let dp = new Map<number, number>([[0, 0]]);
  for (let p = 0; p < partitions; p++) {
    const before = new Set(previous[p]);
    const next = new Map<number, number>();
    for (const [key, moves] of dp) {
      for (const set of sets) {
        let k = key;
        let m = moves;
        for (const i of set) {
          k += shift(i);
          if (!before.has(nodes[i].id)) m++;
        }
        const old = next.get(k);
        if (old === undefined || m < old) next.set(k, m);
      }
    }
    dp = next;
  }
  let best = -1;
  let bestMoves = Infinity;
  for (const [key, moves] of dp) {
    let size = Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const load = Math.floor(key / shift(i)) % 16;
      if (load > 0) size = Math.min(size, nodes[i].capacity / load);
    }
    if (size > best) {
      best = size;
      bestMoves = moves;
    } else if (size === best) bestMoves = Math.min(bestMoves, moves);
  }
  return { size: best, moved: bestMoves };
}

test('adding or removing a node moves no more replicas than the brute-force minimum', () => {
  const rng = prng(2024);
  let cases = 0;
  let nonTrivial = 0;
  while (cases < 60) {
    const base = randomCluster(rng, 6, 3, 3);
    const P = int(rng, 4, 8);
    const storage = storageOf(base.roles);
    const before = assignCluster(base, P);
    let changed: Cluster;
    if (rng() < 0.5 || storage.length <= base.rf) {
      const zones = new Set(storage.map((n) => n.zone)).size;
      const role: NodeRole = { id: `new${cases}`, zone: `zone${int(rng, 0, zones)}`, capacity: int(rng, 1, 100) };
      changed = { ...base, roles: [...base.roles, role] };
    } else {
      const victim = storage[int(rng, 0, storage.length - 1)].id;
      changed = { ...base, roles: base.roles.filter((r) => r.id !== victim) };
      const zones = new Set(storageOf(changed.roles).map((n) => n.zone)).size;
      if (typeof changed.zr === 'number' && changed.zr > zones) continue;
    }
    const after = assignCluster(changed, P, before.assignment);
    checkValid(changed, P, after);
    const brute = bruteForce(changed, P, before.assignment);
    assert.equal(after.report.partitionSize, brute.size, `case ${cases}: optimal partition size`);
    assert.equal(after.report.moved, brute.moved, `case ${cases}: fewest moves`);
    if (brute.moved > 0) nonTrivial++;
    cases++;
  }
  assert.ok(nonTrivial >= 20, `enough cases where something must move (${nonTrivial})`);
});

test('the fewest moves also against an arbitrary previous assignment (brute force)', () => {
  const rng = prng(99);
  for (let i = 0; i < 60; i++) {
    const c = randomCluster(rng, 6, 3, 3);
    const P = int(rng, 4, 6);
    const ids = storageOf(c.roles)
      .map((n) => n.id)
      .concat(['ghost']);
    const previous = Array.from({ length: P }, () => shuffle(rng, ids).slice(0, int(rng, 0, c.rf)));
    const res = assignCluster(c, P, previous);
    checkValid(c, P, res);
    const brute = bruteForce(c, P, previous);
    assert.equal(res.report.partitionSize, brute.size);
    assert.equal(res.report.moved, brute.moved, `case ${i}`);
  }
});

test('the result depends only on the set of roles, not on their order', () => {
  const rng = prng(4242);
  for (let i = 0; i < 20; i++) {
    const c = randomCluster(rng, 30, 6, 5);
    const P = 64;
    const a = assignCluster(c, P);
    const b = assignCluster({ ...c, roles: shuffle(rng, c.roles) }, P);
    assert.deepEqual(b, a);
    // Same for the previous assignment: only its sets matter.
    const prev = a.assignment.map((set, p) => (p % 3 === 0 ? set.slice(1) : shuffle(rng, set)));
    const x = assignCluster(c, P, prev);
    const y = assignCluster(
      { ...c, roles: shuffle(rng, c.roles) },
      P,
      prev.map((set) => shuffle(rng, set)),
    );
    assert.deepEqual(y, x);
  }
});

test('single zone: every node within one partition of its water-filled capacity share', () => {
  // Without zone limits the only constraints are a node's units ⌊c/s⌋ and at
  // most one replica per partition, so the fair share is t = min(units, λ·c)
  // with λ such that Σ t = P·rf; the balancing tie-break must reach it to ±1.
  const rng = prng(31337);
  for (let i = 0; i < 30; i++) {
    const c = randomCluster(rng, 25, 1, 4);
    const P = 128;
    const res = assignCluster(c, P);
    checkValid(c, P, res);
    const s = res.report.partitionSize;
    const nodes = res.report.perNode.map((n) => ({
      ...n,
      units: Math.min(P, Math.floor((n.capacity / s) * (1 + 1e-12))),
    }));
    let lo = 0;
    let hi = Math.max(...nodes.map((n) => n.units / n.capacity));
    const fill = (l: number) => nodes.reduce((a, n) => a + Math.min(n.units, l * n.capacity), 0);
    for (let k = 0; k < 200; k++) {
      const mid = (lo + hi) / 2;
      if (fill(mid) >= P * c.rf) hi = mid;
      else lo = mid;
    }
    for (const n of nodes) {
      const share = Math.min(n.units, hi * n.capacity);
      assert.ok(Math.abs(n.partitions - share) < 1 + 1e-6, `${n.id}: ${n.partitions} vs share ${share}`);
    }
  }
});

test('zones: a small zone bounds the partition size, gateways hold nothing', () => {
  const roles: NodeRole[] = [
    { id: 'a1', zone: 'a', capacity: 1000 },
    { id: 'a2', zone: 'a', capacity: 1000 },
    { id: 'b1', zone: 'b', capacity: 1000 },
    { id: 'c1', zone: 'c', capacity: 100 },
    { id: 'gw', zone: 'c', capacity: null },
  ];
  const res = computeAssignment({ roles, replicationFactor: 3, zoneRedundancy: 'maximum' });
  // Every partition needs one replica in c, so c1 holds all 256.
  assert.equal(res.report.partitionSize, 100 / 256);
  assert.equal(res.report.perNode.find((n) => n.id === 'c1')?.partitions, 256);
  assert.equal(res.report.perNode.find((n) => n.id === 'b1')?.partitions, 256);
  assert.ok(res.assignment.every((set) => !set.includes('gw')));
  assert.equal(res.report.perNode.length, 4);
  // With zone redundancy 2, zone c may be skipped and the size grows.
  const two = computeAssignment({ roles, replicationFactor: 3, zoneRedundancy: 2 });
  assert.ok(two.report.partitionSize > res.report.partitionSize);
  checkValid({ roles, rf: 3, zr: 2 }, 256, two);
});

test('errors are LayoutErrors with clear messages', () => {
  const ok: NodeRole[] = [
    { id: 'a', zone: 'z1', capacity: 10 },
    { id: 'b', zone: 'z2', capacity: 10 },
  ];
  const base: AssignInput = { roles: ok, replicationFactor: 2, zoneRedundancy: 'maximum' };
  const cases: [AssignInput, RegExp][] = [
    [{ ...base, roles: [] }, /no storage node/],
    [{ ...base, roles: [{ id: 'g', zone: 'z', capacity: null }] }, /no storage node/],
    [{ ...base, replicationFactor: 3 }, /at least 3 storage nodes/],
    [{ ...base, zoneRedundancy: 3 }, /exceeds the replication factor/],
    [{ ...base, replicationFactor: 1, zoneRedundancy: 2 }, /exceeds the replication factor/],
    [
      { ...base, roles: [...ok, { id: 'c', zone: 'z1', capacity: 5 }], replicationFactor: 3, zoneRedundancy: 3 },
      /needs at least 3 zones/,
    ],
    [{ ...base, zoneRedundancy: 0 }, /invalid zone redundancy/],
    [{ ...base, roles: [...ok, { id: 'c', zone: 'z1', capacity: 0 }] }, /node c has capacity 0/],
    [{ ...base, roles: [...ok, { id: 'c', zone: 'z1', capacity: -5 }] }, /positive capacity/],
    [{ ...base, roles: [...ok, { id: 'c', zone: 'z1', capacity: Number.NaN }] }, /positive capacity/],
    [{ ...base, roles: [...ok, { id: 'a', zone: 'z3', capacity: 1 }] }, /appears twice/],
    [{ ...base, replicationFactor: 0 }, /invalid replication factor/],
    [{ ...base, partitions: 0 }, /invalid number of partitions/],
    [{ ...base, previous: [['a', 'b']] }, /previous assignment has 1 partitions, expected 256/],
  ];
  for (const [input, message] of cases) {
    assert.throws(
      () => computeAssignment(input),
      (e: unknown) => {
        assert.ok(e instanceof LayoutError, `LayoutError for ${message}`);
        assert.match(e.message, message);
        return true;
      },
    );
  }
});

interface StudyNode {
  id: string;
  zone: string;
  capacity: number;
}

function loadStudy(): StudyNode[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = resolve(here, '../../data/layout-study.json');
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  assert.ok(typeof raw === 'object' && raw !== null && 'nodes' in raw && Array.isArray(raw.nodes));
  return raw.nodes.map((n: unknown) => {
    assert.ok(typeof n === 'object' && n !== null && 'id' in n && 'zone' in n && 'capacity' in n);
    assert.ok(typeof n.id === 'string' && typeof n.zone === 'string' && typeof n.capacity === 'number');
    return { id: n.id, zone: n.zone, capacity: n.capacity };
  });
}

test('reference study (1024 partitions, rf 3): every node within one partition of its optimal count', () => {
  const nodes = loadStudy();
  const P = 1024;
  const rf = 3;
  const res = computeAssignment({ roles: nodes, replicationFactor: rf, zoneRedundancy: 'maximum', partitions: P });
  const c: Cluster = { roles: nodes, rf, zr: 'maximum' };
  checkValid(c, P, res);
  // Optimal count: the capacity share P·rf·c/Σc. Here it is attainable under
  // the zone constraints (zr = 3 of 4 zones, so a zone holds at most one
  // replica per partition, i.e. P in all): every zone's share is ≤ P and
  // every node's ≤ P, so no constraint pushes a node away from its share.
  const total = nodes.reduce((a, n) => a + n.capacity, 0);
  const share = (cap: number) => (P * rf * cap) / total;
  const zoneShare = new Map<string, number>();
  for (const n of nodes) zoneShare.set(n.zone, (zoneShare.get(n.zone) ?? 0) + share(n.capacity));
  for (const z of zoneShare.values()) assert.ok(z <= P * (rf - effectiveZr(c) + 1));
  for (const n of res.report.perNode) {
    assert.ok(share(n.capacity) <= P);
    assert.ok(Math.abs(n.partitions - share(n.capacity)) <= 1, `${n.id}: ${n.partitions} vs ${share(n.capacity)}`);
  }
  assert.equal(res.report.usableCapacity * rf, total, 'the whole raw capacity is usable');

  // Removing any node: the replicas it held must move, and the size stays optimal.
  for (const gone of nodes) {
    const left = nodes.filter((n) => n.id !== gone.id);
    const after = computeAssignment({
      roles: left,
      replicationFactor: rf,
      zoneRedundancy: 'maximum',
      partitions: P,
      previous: res.assignment,
    });
    checkValid({ roles: left, rf, zr: 'maximum' }, P, after);
    const held = res.report.perNode.find((n) => n.id === gone.id)?.partitions ?? 0;
    assert.ok(after.report.moved >= held);
    const bound = bisectSize({ roles: left, rf, zr: 'maximum' }, P);
    assert.ok(Math.abs(after.report.partitionSize - bound) <= 1e-9 * bound);
  }
});
