// Replays the reference's load-balancing study with our partition assignment.
//
//   npx node bench/layout-study.ts [FILE] [--partitions N] [--remove ID] [--summary]
//
// FILE defaults to test/data/layout-study.json (relative to the
// repository). Without --summary it prints JSON {partitions, before[, after]}:
// `before` is the assignment of the whole cluster, `after` the one computed
// from it when node ID leaves. --summary prints partitions per node against
// the capacity share, and for every single-node removal how many replicas
// moved, side by side with the reference's figures.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { computeAssignment, type AssignResult, type NodeRole } from '../src/rpc/layout/assign.ts';

interface StudyNode {
  id: string;
  zone: string;
  capacity: number;
}

interface Study {
  replicationFactor: number;
  nodes: StudyNode[];
  referenceMethod: string;
  referencePartitions: number | undefined;
  referenceCounts: Record<string, number>;
  referenceRemovals: Record<string, number[]>;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

// Reads the study file, checking just the fields this bench uses.
function loadStudy(file: string): Study {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isRecord(raw) || !Array.isArray(raw.nodes)) throw new Error(`${file}: no "nodes" array`);
  const nodes: StudyNode[] = raw.nodes.map((n: unknown) => {
    if (!isRecord(n) || typeof n.id !== 'string' || typeof n.zone !== 'string' || typeof n.capacity !== 'number') {
      throw new Error(`${file}: each node needs id, zone and capacity`);
    }
    return { id: n.id, zone: n.zone, capacity: n.capacity };
  });
  const ref = isRecord(raw.reference_results) ? raw.reference_results : {};
  const counts: Record<string, number> = {};
  if (isRecord(ref.partitions_per_node)) {
    for (const [k, v] of Object.entries(ref.partitions_per_node)) if (typeof v === 'number') counts[k] = v;
  }
  const removals: Record<string, number[]> = {};
  const rem = ref.removal_disruption_percent_of_partitions_moved_on_0_1_2_3_nodes;
  if (isRecord(rem)) {
    for (const [k, v] of Object.entries(rem)) {
      if (Array.isArray(v)) removals[k] = v.filter((x): x is number => typeof x === 'number');
    }
  }
  return {
    replicationFactor: typeof raw.replication_factor === 'number' ? raw.replication_factor : 3,
    nodes,
    referenceMethod: typeof ref.method === 'string' ? ref.method : 'reference',
    referencePartitions: typeof ref.partitions === 'number' ? ref.partitions : undefined,
    referenceCounts: counts,
    referenceRemovals: removals,
  };
}

function assign(study: Study, partitions: number, without?: string, previous?: string[][]): AssignResult {
  const roles: NodeRole[] = study.nodes.filter((n) => n.id !== without).map((n) => ({ ...n }));
  return computeAssignment({
    roles,
    replicationFactor: study.replicationFactor,
    zoneRedundancy: 'maximum',
    partitions,
    previous,
  });
}

// Histogram of partitions by how many of their replicas changed node.
function disruption(before: string[][], after: string[][], rf: number): number[] {
  const hist = new Array<number>(rf + 1).fill(0);
  for (let p = 0; p < before.length; p++) {
    const old = new Set(before[p]);
    hist[after[p].filter((id) => !old.has(id)).length]++;
  }
  return hist;
}

const pct = (x: number) => `${x.toFixed(2).padStart(6)}%`;

function summary(study: Study, file: string, partitions: number): void {
  const rf = study.replicationFactor;
  let t0 = performance.now();
  const full = assign(study, partitions);
  const fullMs = performance.now() - t0;
  const totalCap = study.nodes.reduce((a, n) => a + n.capacity, 0);
  const zones = new Set(study.nodes.map((n) => n.zone));
  const r = full.report;
  console.log(`Layout study: ${file}`);
  console.log(
    `${study.nodes.length} nodes in ${zones.size} zones, replication ${rf}, zone redundancy ${r.effectiveZoneRedundancy}, ${partitions} partitions`,
  );
  console.log(
    `partition size ${r.partitionSize.toPrecision(6)} units, usable capacity ${r.usableCapacity.toPrecision(6)} of ${totalCap} (x${rf} replicas = ${((r.usableCapacity * rf * 100) / totalCap).toFixed(2)}% of raw), computed in ${fullMs.toFixed(1)} ms`,
  );
  const refComparable = study.referencePartitions === partitions && rf === 3;
  console.log('');
  console.log(
    `Partitions per node (capacity share = ${partitions}·${rf}·capacity/${totalCap})${refComparable ? `; reference = ${study.referenceMethod}` : ''}:`,
  );
  let maxDev = 0;
  let sq = 0;
  let refMaxDev = 0;
  let refSq = 0;
  for (const n of r.perNode) {
    const share = (partitions * rf * n.capacity) / totalCap;
    const dev = n.partitions - share;
    maxDev = Math.max(maxDev, Math.abs(dev) / share);
    sq += (dev / share) ** 2;
    let refText = '';
    const ref = study.referenceCounts[n.id];
    if (refComparable && ref !== undefined) {
      const rdev = ref - share;
      refMaxDev = Math.max(refMaxDev, Math.abs(rdev) / share);
      refSq += (rdev / share) ** 2;
      refText = `   reference ${String(ref).padStart(4)} (${rdev >= 0 ? '+' : ''}${rdev.toFixed(0)})`;
    }
    console.log(
      `- ${n.id.padEnd(9)} ${n.zone.padEnd(8)} cap ${String(n.capacity).padStart(3)}: ${String(n.partitions).padStart(4)}  share ${share.toFixed(2).padStart(7)}  deviation ${(dev >= 0 ? '+' : '') + dev.toFixed(2)}${refText}`,
    );
  }
  const n = r.perNode.length;
  console.log(
    `relative deviation from share: max ${(maxDev * 100).toFixed(2)}%, rms ${(Math.sqrt(sq / n) * 100).toFixed(2)}%` +
      (refComparable
        ? `   (reference: max ${(refMaxDev * 100).toFixed(2)}%, rms ${(Math.sqrt(refSq / n) * 100).toFixed(2)}%)`
        : ''),
  );

  console.log('');
  console.log('Removing one node: share of partitions with 0/1/2/3 replicas moved; replicas moved vs held by the node');
  const head = `${'node'.padEnd(10)}${'ours: 0'.padStart(9)}${'1'.padStart(8)}${'2'.padStart(8)}${'3'.padStart(8)}   ${refComparable ? `reference: 0${'1'.padStart(8)}${'2'.padStart(8)}${'3'.padStart(8)}` : ''}   moved/held`;
  console.log(head);
  const avg = new Array<number>(rf + 1).fill(0);
  const refAvgKnown = refComparable && study.referenceRemovals.average !== undefined;
  let movedTotal = 0;
  let heldTotal = 0;
  let maxMs = 0;
  for (const node of study.nodes) {
    t0 = performance.now();
    const after = assign(study, partitions, node.id, full.assignment);
    maxMs = Math.max(maxMs, performance.now() - t0);
    const hist = disruption(full.assignment, after.assignment, rf).map((c) => (c * 100) / partitions);
    for (const [i, v] of hist.entries()) avg[i] += v / study.nodes.length;
    const held = r.perNode.find((x) => x.id === node.id)?.partitions ?? 0;
    movedTotal += after.report.moved;
    heldTotal += held;
    const ref = study.referenceRemovals[node.id];
    const refText = refComparable && ref !== undefined ? `   ${ref.map(pct).join(' ')}` : '';
    console.log(
      `${node.id.padEnd(10)}${hist.map(pct).join(' ')}${refText}   ${after.report.moved}/${held} (x${(after.report.moved / held).toFixed(2)})`,
    );
  }
  const refAvg = study.referenceRemovals.average;
  console.log(
    `${'average'.padEnd(10)}${avg.map(pct).join(' ')}${refAvgKnown && refAvg !== undefined ? `   ${refAvg.map(pct).join(' ')}` : ''}   ${movedTotal}/${heldTotal} (x${(movedTotal / heldTotal).toFixed(2)})`,
  );
  console.log('');
  console.log(`slowest removal computed in ${maxMs.toFixed(1)} ms`);
}

function main(): void {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      partitions: { type: 'string' },
      remove: { type: 'string' },
      summary: { type: 'boolean' },
    },
  });
  const file =
    positionals[0] !== undefined ? resolve(positionals[0]) : resolve(repoRoot, 'test/data/layout-study.json');
  const partitions = values.partitions !== undefined ? Number(values.partitions) : 256;
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`--partitions: not a positive integer`);
  const study = loadStudy(file);
  if (values.remove !== undefined && !study.nodes.some((n) => n.id === values.remove)) {
    throw new Error(`--remove: no node ${values.remove} in ${file}`);
  }
  if (values.summary === true) {
    summary(study, file, partitions);
    return;
  }
  const before = assign(study, partitions);
  const out: { partitions: number; before: string[][]; after?: string[][] } = { partitions, before: before.assignment };
  if (values.remove !== undefined) out.after = assign(study, partitions, values.remove, before.assignment).assignment;
  console.log(JSON.stringify(out));
}

try {
  main();
} catch (e) {
  console.error(`layout-study: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
}
