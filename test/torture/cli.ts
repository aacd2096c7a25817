// `npm run torture -- --minutes N --nodes 1|3 --seed S`: the long-running torture test. It
// prints what it did and, on a violation, the seed and fast-check path that replay it.

import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { torture } from './run.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    nodes: { type: 'string', default: '1' },
    seed: { type: 'string' },
    workers: { type: 'string', default: '6' },
    ops: { type: 'string', default: '40' },
    kills: { type: 'string', default: '2' },
    path: { type: 'string' },
    'no-shrink': { type: 'boolean', default: false },
  },
});
const int = (name: string, v: string | undefined): number => {
  if (v === undefined || !/^\d+$/.test(v))
    throw new Error(`--${name} expects a whole number, got ${JSON.stringify(v)}`);
  return Number(v);
};
const nodes = int('nodes', values.nodes);
if (nodes !== 1 && nodes !== 3) throw new Error('--nodes expects 1 or 3');
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : int('seed', values.seed);
const minutes = int('minutes', values.minutes);
process.stdout.write(
  `torture: ${nodes} node(s), seed ${seed}, ${minutes} min, ${values.workers} workers × ${values.ops} ops, up to ${values.kills} kill(s) per scenario\n`,
);
const report = await torture({
  nodes,
  seed,
  workers: int('workers', values.workers),
  ops: int('ops', values.ops),
  kills: int('kills', values.kills),
  runs: 1,
  untilMs: values.path ? undefined : performance.now() + minutes * 60_000,
  shrink: !values['no-shrink'],
  path: values.path,
  log: (l) => process.stdout.write(`${l}\n`),
});
process.stdout.write(
  `torture: ${report.runs} scenario(s), ${report.ops} operations, ${report.faults} node kill(s) in ${report.minutes.toFixed(1)} min\n`,
);
if (report.failure) {
  process.stdout.write(`${report.failure}\n`);
  process.exitCode = 1;
} else process.stdout.write('torture: no violation\n');
