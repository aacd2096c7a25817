// The torture run: real `garage server` processes (1 node, or 3 with rf 3), fsync on, GC made
// fast, workers running fast-check scenarios concurrently, nodes SIGKILLed and restarted,
// then, at quiescence, the model check, a `repair block-rc` on every node, and a clean-up
// after which not one block file may remain.

import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  type BucketVersioningStatus,
  type S3Client,
} from '@aws-sdk/client-s3';
import { GarageProcess, nodeIds, s3Client, waitFor } from '../integration/harness.ts';
import { checkHistory, describeViolation, type Read, type Value, type Write } from './history.ts';
import {
  checkAllVersions,
  KEYS,
  resolveCopies,
  resolveVersionDeletes,
  runOp,
  scenarioArb,
  type Scenario,
  type Target,
  type Versioning,
} from './workload.ts';

/** Background work made fast so that GC, tombstone GC and stale-upload cleanup run during the test. */
export const TORTURE_ENV: NodeJS.ProcessEnv = {
  GARAGE_BLOCK_GC_DELAY_MS: '1500',
  GARAGE_TOMBSTONE_GC_DELAY_MS: '2000',
  GARAGE_GC_INTERVAL_MS: '1000',
  GARAGE_STALE_UPLOAD_AGE_MS: '20000',
  GARAGE_SYNC_INTERVAL_MS: '2000',
  GARAGE_PING_INTERVAL_MS: '500',
};

export interface TortureOptions {
  nodes: 1 | 3;
  seed: number;
  workers: number;
  /** Operations per worker and scenario (at most). */
  ops: number;
  /** Node kills per scenario (at most). */
  kills: number;
  /** Scenarios to run, or until `untilMs` (a performance.now() deadline) when given. */
  runs: number;
  untilMs?: number;
  /** Shrink a failing scenario (slow: each attempt is a real run). */
  shrink: boolean;
  /** Replays one counterexample (fast-check's path) of `seed`. */
  path?: string;
  /** Hand-written scenarios run before the generated ones. */
  examples?: Scenario[];
  log: (line: string) => void;
}

export interface TortureReport {
  runs: number;
  ops: number;
  faults: number;
  minutes: number;
  /** The first violation with its seed and replay line; undefined if none. */
  failure?: string;
}

/** Nodes of a torture cluster and the one key every client uses. */
class Cluster {
  readonly nodes: GarageProcess[];
  readonly keyId: string;
  readonly secret: string;
  readonly clients: S3Client[];
  /** Intervals during which some node was down (end Infinity while it still is). */
  readonly down: { start: number; end: number }[] = [];
  ops = 0;
  faults = 0;

  constructor(nodes: GarageProcess[], keyId: string, secret: string) {
    this.nodes = nodes;
    this.keyId = keyId;
    this.secret = secret;
    this.clients = nodes.map((n) => s3Client(n, keyId, secret));
  }

  static async start(n: 1 | 3): Promise<Cluster> {
    const rpcSecret = randomBytes(32).toString('hex');
    const nodes: GarageProcess[] = [];
    try {
      return await Cluster.#form(nodes, n, rpcSecret);
    } catch (e) {
      await Promise.all(nodes.map((g) => g.destroy()));
      throw e;
    }
  }

  static async #form(nodes: GarageProcess[], n: 1 | 3, rpcSecret: string): Promise<Cluster> {
    const fsync = 'metadata_fsync = true\ndata_fsync = true\n';
    for (let i = 0; i < n; i++)
      nodes.push(await GarageProcess.create(fsync, { replicationMode: n === 1 ? 'none' : '3', rpcSecret }));
    await Promise.all(nodes.map((g) => g.start(TORTURE_ENV)));
    const ids = await nodeIds(nodes);
    for (let i = 1; i < n; i++) await nodes[i]!.cliOk('node', 'connect', ids[0]!);
    for (const [i, id] of ids.entries())
      await nodes[0]!.cliOk('layout', 'assign', '-z', `dc${i}`, '-c', '1G', id.slice(0, 16));
    await nodes[0]!.cliOk('layout', 'apply');
    await waitFor('every node to adopt the layout', async () => {
      for (const g of nodes)
        if (!/Current cluster layout version: 1/.test(await g.cliOk('layout', 'show'))) return false;
      return true;
    });
    const out = await nodes[0]!.cliOk('key', 'new', '--name', 'torture');
    const keyId = /Key ID: (GK\w+)/.exec(out)![1]!;
    const secret = /Secret key: (\w+)/.exec(out)![1]!;
    await nodes[0]!.cliOk('key', 'allow', '--create-bucket', keyId);
    await waitFor('the key to reach every node', async () => {
      for (const g of nodes) if (!/Can create buckets: true/.test(await g.cliOk('key', 'info', keyId))) return false;
      return true;
    });
    return new Cluster(nodes, keyId, secret);
  }

  faultDuring(start: number, end: number): boolean {
    return this.down.some((d) => d.start <= end && d.end >= start);
  }

  /** SIGKILLs a node, keeps it down for `ms`, restarts it. */
  async kill(i: number, ms: number): Promise<void> {
    const g = this.nodes[i]!;
    if (!g.running()) return;
    const d = { start: performance.now(), end: Infinity };
    this.down.push(d);
    this.faults++;
    await g.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, ms));
    await g.start(TORTURE_ENV);
    d.end = performance.now();
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.destroy();
    await Promise.all(this.nodes.map((g) => g.destroy()));
  }
}

/** Hashes (hex) of the block files below a data directory (the temp directory excluded). */
function blockFiles(dir: string): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    if (e === 'tmp') return [];
    const p = join(dir, e);
    return statSync(p).isDirectory() ? blockFiles(p) : [e.replace(/\.zst$/, '')];
  });
}

// What each node knows of the blocks left after clean-up: enough to tell an orphan file
// (refcount 0, references deleted) from a reference the cascade never dropped.
async function describeLeftovers(c: Cluster): Promise<string> {
  const lines: string[] = [];
  const left = c.nodes.map((g) => blockFiles(join(g.dir, 'data')));
  for (const hash of [...new Set(left.flat())].slice(0, 4)) {
    lines.push(`block ${hash.slice(0, 16)}:`);
    for (const [i, g] of c.nodes.entries()) {
      const text = await g.cliOk('block', 'info', hash).catch((e: unknown) => String(e));
      const rc = /Refcount: (\d+)/.exec(text)?.[1] ?? '?';
      const refs = text.split('\n').filter((l) => /^[0-9a-f]{32}\s/.test(l));
      const file = left[i]!.includes(hash) ? 'present' : 'absent';
      lines.push(`  node ${i}: file ${file}, refcount ${rc}`, ...refs.map((r) => `    ${r.replace(/\s+/g, ' ')}`));
    }
  }
  return lines.join('\n');
}

let bucketSeq = 0;

/** What makes a new bucket's versioning: suspended from the start takes enabling it first. */
const STATUSES: Record<Versioning, BucketVersioningStatus[]> = {
  off: [],
  enabled: ['Enabled'],
  suspended: ['Enabled', 'Suspended'],
};

/** Runs one scenario in a new bucket; returns the violations found. */
async function runScenario(c: Cluster, sc: Scenario, log: (l: string) => void): Promise<string[]> {
  const bucket = `torture-${process.pid}-${bucketSeq++}`;
  await c.clients[0]!.send(new CreateBucketCommand({ Bucket: bucket }));
  // Suspended from the start: every write makes the null version, its deletes listed markers.
  for (const Status of STATUSES[sc.versioning])
    await c.clients[0]!.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status } }));
  const t0 = performance.now();
  const t: Target = {
    bucket,
    clients: c.clients,
    endpoints: c.nodes.map((g) => g.endpoint),
    credentials: { accessKeyId: c.keyId, secretAccessKey: c.secret },
    now: () => performance.now(),
    writes: [] as Write[],
    reads: [] as Read[],
    contents: new Map<Value, () => Buffer>(),
    problems: [],
    faultDuring: (s, e) => c.faultDuring(s, e),
    timeoutMs: 60_000,
    versioning: sc.versioning,
    versions: [],
    versionDeletes: [],
  };
  // Faults fire when the count of started operations passes their mark, one at a time.
  const total = sc.workers.reduce((n, w) => n + w.length, 0);
  const faults = sc.faults.map((f) => ({ ...f, afterOps: f.afterOps % total })).sort((a, b) => a.afterOps - b.afterOps);
  let started = 0;
  let faultChain = Promise.resolve();
  const upNode = async (preferred: number): Promise<number> => {
    await waitFor('a node to be up', () => c.nodes.some((g) => g.running()), 60_000);
    for (let k = 0; k < c.nodes.length; k++) {
      const i = (preferred + k) % c.nodes.length;
      if (c.nodes[i]!.running()) return i;
    }
    return preferred;
  };
  await Promise.all(
    sc.workers.map(async (ops, w) => {
      for (const [i, o] of ops.entries()) {
        started++;
        c.ops++;
        while (faults.length && faults[0]!.afterOps <= started) {
          const f = faults.shift()!;
          faultChain = faultChain.then(() => c.kill(f.node % c.nodes.length, f.downMs));
        }
        await runOp(t, o, await upNode(w + i));
      }
    }),
  );
  await faultChain;
  // Quiescence: every node up. Final reads of every key through every node, and a listing.
  for (const n of c.clients.keys()) {
    for (const k of KEYS.keys()) {
      await runOp(t, { t: 'head', key: k }, n);
      await runOp(t, { t: 'get', key: k }, n);
    }
    await runOp(t, { t: 'list', prefix: 0, delimiter: false }, n);
    await runOp(t, { t: 'listVersions' }, n);
  }
  await checkAllVersions(t, c.clients[0]!);
  resolveCopies(t.writes);
  resolveVersionDeletes(t.writes);
  const problems = [...t.problems, ...checkHistory(t.writes, t.reads).map((v) => describeViolation(v, t0))];
  // Uploads left in progress (a part upload cut by a kill may reference blocks never written)
  // are aborted first; then refcounts must equal the references on every node, and every
  // referenced block be present once single PUTs cut by a kill are cleaned up.
  const uploads = await c.clients[0]!.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) {
    await c.clients[0]!.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key!, UploadId: u.UploadId! }));
  }
  for (const g of c.nodes) {
    const first = await g.cliOk('repair', '--yes', 'block-rc');
    const fixed = Number(/(\d+) refcount\(s\) corrected/.exec(first)?.[1] ?? NaN);
    if (fixed !== 0) problems.push(`repair block-rc on ${g.endpoint}: ${first.trim()}`);
    try {
      await waitFor(
        'referenced blocks to be present',
        async () => /\b0 referenced block\(s\) missing/.test(await g.cliOk('repair', '--yes', 'block-rc')),
        60_000,
      );
    } catch (e) {
      problems.push(`${g.endpoint}: referenced blocks stay missing: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  // Clean up: delete every version and marker by id, then the bucket (its unfinished uploads
  // with it); after GC not one block file may remain anywhere.
  const s3 = c.clients[0]!;
  const keys: { Key: string; VersionId?: string }[] = [];
  for (let KeyMarker: string | undefined, VersionIdMarker: string | undefined, more = true; more; ) {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker, VersionIdMarker }));
    for (const v of [...(r.Versions ?? []), ...(r.DeleteMarkers ?? [])])
      keys.push({ Key: v.Key!, VersionId: v.VersionId });
    more = r.IsTruncated === true;
    KeyMarker = r.NextKeyMarker;
    VersionIdMarker = r.NextVersionIdMarker;
  }
  for (let i = 0; i < keys.length; i += 1000)
    await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000) } }));
  try {
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
  } catch (e) {
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 })).catch(() => undefined);
    const names = (left?.Contents ?? []).map((o) => JSON.stringify(o.Key));
    problems.push(
      `DeleteBucket after DeleteObjects of [${keys.map((k) => JSON.stringify(k.Key)).join(', ')}] failed: ${e instanceof Error ? e.message : String(e)}; still listed: [${names.join(', ')}]`,
    );
  }
  try {
    await waitFor(
      'every block to be collected',
      () => c.nodes.every((g) => blockFiles(join(g.dir, 'data')).length === 0),
      // Stale PUTs cut by a kill wait 20 s, then cascades retried after a node was down.
      180_000,
    );
  } catch {
    const counts = c.nodes.map((g) => blockFiles(join(g.dir, 'data')).length).join(', ');
    problems.push(`unreferenced blocks remain after clean-up and GC: ${counts} file(s)\n${await describeLeftovers(c)}`);
  }
  log(
    `  scenario ${bucket} (versioning ${sc.versioning}): ${sc.workers.flat().length} ops, ${sc.faults.length} kill(s) planned, ${t.writes.length} writes, ${t.reads.length} reads checked, ${problems.length} violation(s), ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  for (const p of problems.slice(0, 5)) log(`    ${p.replace(/\n/g, '\n    ')}`);
  return problems;
}

/** Runs the torture test; resolves with what it did and the first violation, if any. */
export async function torture(o: TortureOptions): Promise<TortureReport> {
  const begin = performance.now();
  const c = await Cluster.start(o.nodes);
  let runs = 0;
  try {
    const prop = fc.asyncProperty(
      scenarioArb({ workers: o.workers, ops: o.ops, kills: o.kills, nodes: o.nodes }),
      async (sc) => {
        runs++;
        const problems = await runScenario(c, sc, o.log);
        if (problems.length) throw new Error(problems.slice(0, 5).join('\n'));
      },
    );
    const details = await fc.check(prop, {
      seed: o.seed,
      numRuns: o.untilMs === undefined ? o.runs : 1_000_000,
      interruptAfterTimeLimit: o.untilMs === undefined ? undefined : Math.max(1, o.untilMs - performance.now()),
      endOnFailure: !o.shrink,
      path: o.path,
      examples: (o.examples ?? []).map((e): [Scenario] => [e]),
    });
    const minutes = (performance.now() - begin) / 60_000;
    const report: TortureReport = { runs, ops: c.ops, faults: c.faults, minutes };
    if (details.failed) {
      report.failure = [
        `torture failed (nodes ${o.nodes}, seed ${details.seed}, counterexample path ${details.counterexamplePath}):`,
        details.errorInstance instanceof Error ? details.errorInstance.message : 'interrupted',
        `scenario: ${JSON.stringify(details.counterexample?.[0])}`,
        `replay: npm run torture -- --nodes ${o.nodes} --workers ${o.workers} --ops ${o.ops} --kills ${o.kills} --seed ${details.seed} --path ${details.counterexamplePath}`,
      ].join('\n');
    }
    return report;
  } finally {
    await c.stop();
  }
}
