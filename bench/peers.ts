// This project's single node next to s3rver (and Ceph RGW when given) on this machine, in one
// run: wrk drives presigned URLs (so the client costs little), targets alternate within each
// cell, and each figure is the median over the rounds.
// Usage: npm run bench:peers -- [--seconds 5] [--rounds 2] [--sizes 4k,1m,64m] [--rgw URL,KEY,SECRET]
//   [--only-ours] [--profile DIR]
// Needs wrk (Debian's package). Prints the table of the issue, with ratios and round spread.
// --profile writes this project's server CPU profile (node --cpu-prof) into DIR when it stops.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { freePort, GarageProcess, quickStart, run, waitFor } from '../test/integration/harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '2' },
    sizes: { type: 'string', default: '4k,1m,64m' },
    rgw: { type: 'string' },
    'only-ours': { type: 'boolean', default: false },
    profile: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const LUA = join(import.meta.dirname, 'wrk-requests.lua');

interface Target {
  name: string;
  endpoint: string;
  region: string;
  keyId: string;
  secret: string;
  pid?: number;
  stop(): Promise<void>;
}

interface Size {
  label: string;
  bytes: number;
  /** Distinct keys written and read (overwritten over and over by the PUT cells). */
  keys: number;
  put: number[];
  get: number[];
  /** Figures in MB/s rather than ops/s. */
  mbps: boolean;
}

const SIZES: Record<string, Size> = {
  '4k': { label: '4 KiB', bytes: 4096, keys: 4000, put: [1, 8, 32], get: [1, 8, 32], mbps: false },
  '1m': { label: '1 MiB', bytes: 1 << 20, keys: 256, put: [1, 8, 32], get: [1, 8, 32], mbps: true },
  '64m': { label: '64 MiB', bytes: 64 << 20, keys: 16, put: [1, 8], get: [1, 8, 32], mbps: true },
};

const work = mkdtempSync(join(tmpdir(), 'bench-peers-'));

async function startOurs(): Promise<Target> {
  const g = await GarageProcess.create();
  const profile = values.profile;
  await g.start(profile ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profile}` } : {});
  const { keyId, secret } = await quickStart(g, 'bench');
  return {
    name: 'this project',
    endpoint: g.endpoint,
    region: 'garage',
    keyId,
    secret,
    pid: g.proc?.pid,
    // A profile is written only on a clean exit.
    stop: async () => {
      if (profile) await g.kill('SIGTERM');
      await g.destroy();
    },
  };
}

async function startS3rver(): Promise<Target> {
  const port = await freePort();
  const dir = join(work, 's3rver');
  const child: ChildProcess = spawn(
    process.execPath,
    [join(import.meta.dirname, 's3rver-server.ts'), String(port), dir],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('s3rver to start', async () => {
    if (child.exitCode !== null) throw new Error(`s3rver exited with ${child.exitCode}`);
    return out.includes('ready');
  });
  return {
    name: 's3rver 3.7',
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    keyId: 'S3RVER',
    secret: 'S3RVER',
    pid: child.pid,
    stop: async () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function rgwTarget(spec: string): Target {
  const [endpoint, keyId, secret] = spec.split(',');
  if (!endpoint || !keyId || !secret) throw new Error('--rgw expects URL,KEY,SECRET');
  return { name: 'Ceph RGW', endpoint, region: 'us-east-1', keyId, secret, stop: async () => undefined };
}

function client(t: Target): S3Client {
  return new S3Client({
    endpoint: t.endpoint,
    region: t.region,
    forcePathStyle: true,
    credentials: { accessKeyId: t.keyId, secretAccessKey: t.secret },
    // Presigned URLs carry no checksum parameters: every target accepts them as plain S3 requests.
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** Writes the presigned request targets (path?query) for every key of a size; returns the file. */
async function presign(t: Target, s: Size, method: 'PUT' | 'GET'): Promise<string> {
  const c = client(t);
  const lines: string[] = [];
  for (let i = 0; i < s.keys; i++) {
    const input = { Bucket: 'bench', Key: `${s.label.replace(' ', '')}/${i}` };
    const cmd = method === 'PUT' ? new PutObjectCommand(input) : new GetObjectCommand(input);
    const url = new URL(await getSignedUrl(c, cmd, { expiresIn: 6 * 3600 }));
    lines.push(url.pathname + url.search);
  }
  c.destroy();
  const file = join(work, `${t.name.replace(/\W/g, '')}-${s.label.replace(' ', '')}-${method}.txt`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** Puts every key of a size once so that GET cells find them all. */
async function prefill(t: Target, s: Size, putFile: string): Promise<void> {
  const targets = readFileSync(putFile, 'utf8').trim().split('\n');
  const body = Buffer.alloc(s.bytes, 'x');
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < targets.length) {
        const r = await fetch(t.endpoint + targets[next++], { method: 'PUT', body });
        if (!r.ok) throw new Error(`${t.name}: prefill PUT answered ${r.status}: ${await r.text()}`);
        await r.arrayBuffer();
      }
    }),
  );
}

/** One wrk run; returns requests per second (throws when any request failed). */
async function wrk(t: Target, file: string, method: 'PUT' | 'GET', s: Size, clients: number): Promise<number> {
  const seconds = s.bytes >= 64 << 20 ? Math.max(SECONDS, 10) : SECONDS;
  const threads = Math.min(clients, 2);
  const r = await run(
    'wrk',
    [
      `-t${threads}`,
      `-c${clients}`,
      `-d${seconds}s`,
      '--timeout',
      '120s',
      '-s',
      LUA,
      t.endpoint,
      '--',
      file,
      method,
      String(method === 'PUT' ? s.bytes : 0),
    ],
    { env: method === 'PUT' ? { WRK_REPORT: '1' } : {} },
  );
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr}${r.stdout}`);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  if (bad) throw new Error(`${t.name}: ${bad[1]} ${method} requests failed:\n${r.stdout}${r.stderr}`);
  const errors = /Socket errors: (.*)/.exec(r.stdout);
  if (errors) throw new Error(`${t.name}: socket errors (${errors[1]}) in ${method}:\n${r.stdout}`);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!rps) throw new Error(`no Requests/sec in wrk's output:\n${r.stdout}`);
  return Number(rps[1]);
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number) => (x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(1));

const targets: Target[] = [];
try {
  targets.push(await startOurs());
  if (!values['only-ours']) targets.push(await startS3rver());
  if (values.rgw) targets.push(rgwTarget(values.rgw));
  const idle = targets.map((t) => rssMiB(t.pid));
  const peak = [...idle];
  const sampler = setInterval(() => {
    targets.forEach((t, i) => {
      const r = rssMiB(t.pid);
      if (r > peak[i]!) peak[i] = r;
    });
  }, 250);
  const sizes = values.sizes.split(',').map((k) => {
    const s = SIZES[k];
    if (!s) throw new Error(`--sizes: unknown size ${k} (expected 4k, 1m or 64m)`);
    return s;
  });
  // rows[row][target] = one figure per round
  const rows = new Map<string, number[][]>();
  for (const s of sizes) {
    const files = new Map<Target, { put: string; get: string }>();
    for (const t of targets) {
      const put = await presign(t, s, 'PUT');
      files.set(t, { put, get: await presign(t, s, 'GET') });
      await prefill(t, s, put);
    }
    for (const method of ['PUT', 'GET'] as const) {
      for (const clients of method === 'PUT' ? s.put : s.get) {
        const row = `${s.label} ${method} ${s.mbps ? 'MB/s' : 'ops/s'}|${clients}`;
        const cell = targets.map(() => [] as number[]);
        rows.set(row, cell);
        for (let round = 0; round < ROUNDS; round++) {
          // Alternate which target goes first, so neither always runs on a warmer machine.
          const order = round % 2 ? [...targets].reverse() : targets;
          for (const t of order) {
            const f = files.get(t)!;
            const rps = await wrk(t, method === 'PUT' ? f.put : f.get, method, s, clients);
            cell[targets.indexOf(t)]!.push(s.mbps ? (rps * s.bytes) / 1e6 : rps);
            process.stderr.write(`${row} ${t.name} round ${round + 1}: ${fmt(s.mbps ? (rps * s.bytes) / 1e6 : rps)}\n`);
          }
        }
      }
    }
  }
  clearInterval(sampler);
  // Group the client counts of one row: "4 KiB PUT ops/s (1 / 8 / 32)".
  const grouped = new Map<string, { clients: string[]; cells: number[][][] }>();
  for (const [row, cell] of rows) {
    const [name, clients] = row.split('|') as [string, string];
    const g = grouped.get(name) ?? { clients: [], cells: [] };
    g.clients.push(clients);
    g.cells.push(cell);
    grouped.set(name, g);
  }
  const names = targets.map((t) => t.name);
  const out: string[] = [
    `| cell (clients) | ${names.join(' | ')} | ${names[0]} ÷ best other | round spread (max) |`,
    `|---|${names.map(() => '---|').join('')}---|---|`,
  ];
  for (const [name, g] of grouped) {
    const meds = g.cells.map((cell) => cell.map(median));
    const perTarget = targets.map((_, ti) => meds.map((m) => fmt(m[ti]!)).join(' / '));
    const ratios = meds.map((m) => (m.length > 1 ? (m[0]! / Math.max(...m.slice(1))).toFixed(2) : '-')).join(' / ');
    let spread = 0;
    for (const cell of g.cells)
      for (const rounds of cell)
        spread = Math.max(spread, (Math.max(...rounds) - Math.min(...rounds)) / median(rounds));
    out.push(
      `| ${name} (${g.clients.join(' / ')}) | ${perTarget.join(' | ')} | ${ratios} | ${(spread * 100).toFixed(0)} % |`,
    );
  }
  out.push('');
  targets.forEach((t, i) => {
    if (t.pid !== undefined)
      out.push(
        `${t.name}: RSS ${idle[i]!.toFixed(0)} MiB idle, ${peak[i]!.toFixed(0)} MiB peak, ${rssMiB(t.pid).toFixed(0)} MiB at the end`,
      );
  });
  process.stdout.write(`${out.join('\n')}\n`);
} finally {
  for (const t of targets) await t.stop();
  rmSync(work, { recursive: true, force: true });
}
