import { it } from 'node:test';
import assert from 'node:assert/strict';
import { torture } from '../torture/run.ts';
import { KEYS, type Scenario } from '../torture/workload.ts';

const MiB = 1 << 20;
const k = (name: string) => KEYS.indexOf(name);

// The cases the outside check found, written out so that every run includes them.
const examples: Scenario[] = [
  // Concurrent overwrites of one key, identical and different multi-block bodies, GC running.
  {
    versioning: 'off',
    workers: [0, 1, 2, 3].map((w) => [
      { t: 'put', key: k('k'), body: { seed: w % 2, size: 3 * MiB + 512 * 1024 }, via: w % 2 ? 'stream' : 'sdk' },
      { t: 'put', key: k('k'), body: { seed: 0, size: 2 * MiB + 17 }, via: 'raw' },
      { t: 'get', key: k('k') },
      { t: 'copy', from: k('k'), to: k('k') },
      { t: 'get', key: k('k') },
    ]),
    faults: [],
  },
  // Keys that differ only by spaces at either end: a batch delete must delete exactly the one named.
  {
    versioning: 'off',
    workers: [
      [
        { t: 'put', key: k('k'), body: { seed: 1, size: 100 }, via: 'sdk' },
        { t: 'put', key: k('k '), body: { seed: 2, size: 100 }, via: 'sdk' },
        { t: 'put', key: k(' k'), body: { seed: 3, size: 100 }, via: 'sdk' },
        { t: 'deleteMany', keys: [k('k ')] },
        { t: 'list', prefix: 0, delimiter: false },
        { t: 'get', key: k('k') },
        { t: 'get', key: k(' k') },
      ],
    ],
    faults: [],
  },
  // A SIGKILL while multi-block PUTs and a multipart upload of shared blocks are in flight.
  {
    versioning: 'off',
    workers: [
      [
        { t: 'put', key: k('a/b'), body: { seed: 0, size: 2 * MiB + 17 }, via: 'stream' },
        { t: 'put', key: k('a/b'), body: { seed: 1, size: MiB + 1 }, via: 'sdk' },
        { t: 'get', key: k('a/b') },
      ],
      [
        {
          t: 'mpu',
          key: k('0012'),
          parts: [
            { seed: 0, size: 5 * MiB },
            { seed: 2, size: MiB },
          ],
          reversed: false,
          retry: { part: 1, same: true },
          abort: false,
        },
        { t: 'copy', from: k('0012'), to: k('1e3') },
        { t: 'delete', key: k('0012') },
      ],
    ],
    faults: [{ node: 0, afterOps: 2, downMs: 500 }],
  },
  // Versioned: overwrites, deletes by id of versions and markers, copies of old versions, GC running.
  {
    versioning: 'enabled',
    workers: [0, 1, 2].map((w) => [
      { t: 'put', key: k('k'), body: { seed: w, size: 2 * MiB + 17 }, via: w ? 'raw' : 'sdk' },
      { t: 'put', key: k('k'), body: { seed: 0, size: 100 }, via: 'sdk' },
      { t: 'delete', key: k('k') },
      { t: 'deleteVersion', pick: w },
      { t: 'getVersion', pick: w + 1 },
      { t: 'copy', from: k('k'), to: k('a/b') },
      { t: 'listVersions' },
      { t: 'get', key: k('k') },
    ]),
    faults: [],
  },
];

const log = (l: string) => process.stdout.write(`# ${l}\n`);

it('torture, one node: seeded concurrent scenarios with GC and a SIGKILL, checked against the model', async () => {
  const r = await torture({
    nodes: 1,
    seed: 20261201,
    workers: 4,
    ops: 12,
    kills: 1,
    runs: 5,
    shrink: false,
    examples,
    log,
  });
  log(`${r.runs} scenarios, ${r.ops} operations, ${r.faults} kill(s), ${r.minutes.toFixed(1)} min`);
  assert.equal(r.failure, undefined, r.failure);
});

it('torture, three nodes (rf 3): seeded concurrent scenarios with GC and a SIGKILL, checked against the model', async () => {
  const r = await torture({
    nodes: 3,
    seed: 7,
    workers: 4,
    ops: 10,
    kills: 1,
    runs: 2,
    shrink: false,
    log,
  });
  log(`${r.runs} scenarios, ${r.ops} operations, ${r.faults} kill(s), ${r.minutes.toFixed(1)} min`);
  assert.equal(r.failure, undefined, r.failure);
});
