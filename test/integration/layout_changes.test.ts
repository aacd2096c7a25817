import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { FAST_ENV, GarageProcess, startCluster, waitFor, nodeIds, s3Client, getBytes } from './harness.ts';

async function storedBlocks(g: GarageProcess): Promise<number> {
  return Number(/Blocks stored here: (\d+)/.exec(await g.cliOk('stats'))![1]);
}

interface Layout {
  version: number;
  liveVersions: number[];
  assignment: string[][];
}

async function layout(g: GarageProcess): Promise<Layout> {
  return JSON.parse(await g.cliOk('layout', 'show', '--json')) as Layout;
}

/** The block hashes of an object, as the server cuts it (1 MiB blocks; small bodies are inline). */
function blockHashes(data: Buffer): string[] {
  if (data.length < 3072) return [];
  const out: string[] = [];
  for (let o = 0; o < data.length; o += 1 << 20)
    out.push(
      createHash('sha256')
        .update(data.subarray(o, o + (1 << 20)))
        .digest('hex'),
    );
  return out;
}

describe('layout changes: replacement, repair, growth and shrink without loss', () => {
  let nodes: GarageProcess[] = [];
  let ids: string[] = [];
  let keyId = '';
  let secret = '';
  const objects = new Map<string, Buffer>();

  before(async () => {
    ({ nodes, ids, keyId, secret } = await startCluster([
      { zone: 'a', capacity: 10 },
      { zone: 'b', capacity: 10 },
      { zone: 'c', capacity: 10 },
    ]));
    const s3 = s3Client(nodes[0]!, keyId, secret);
    try {
      for (let i = 0; i < 12; i++) {
        const data = randomBytes(i % 3 === 0 ? 2_100_000 + i : 300 + i);
        await s3.send(new PutObjectCommand({ Bucket: 'cluster', Key: `o-${i}`, Body: data }));
        objects.set(`o-${i}`, data);
      }
    } finally {
      s3.destroy();
    }
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  const distinctBlocks = () => new Set([...objects.values()].flatMap(blockHashes));

  /** Waits until only one layout version is live everywhere and each node stores exactly its blocks. */
  async function settled(): Promise<void> {
    let last = '';
    try {
      await waitFor(
        'the transition to finish and every block to sit on exactly its assigned nodes',
        async () => {
          const l = await layout(nodes[0]!);
          last = `live versions ${l.liveVersions.join(',')}`;
          if (l.liveVersions.length !== 1) return false;
          const blocks = [...distinctBlocks()];
          let ok = true;
          for (const [i, n] of nodes.entries()) {
            const id = ids[i]!.split('@')[0]!;
            const expected = blocks.filter((h) => l.assignment[parseInt(h.slice(0, 2), 16)]!.includes(id)).length;
            const got = await storedBlocks(n);
            last += `; node ${i}: ${got}/${expected}`;
            if (got !== expected) ok = false;
          }
          return ok;
        },
        90_000,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message} (last: ${last})`);
    }
  }

  it('replaces a wiped node with --replace and re-replicates everything to it', async () => {
    const old = ids[2]!;
    await nodes[2]!.kill('SIGKILL');
    nodes[2]!.wipe({ meta: true, data: true });
    await nodes[2]!.start(FAST_ENV);
    const fresh = (await nodeIds([nodes[2]!]))[0]!;
    assert.notEqual(fresh, old, 'a wiped node has a new identity');
    await nodes[2]!.cliOk('node', 'connect', ids[0]!);
    await nodes[0]!.cliOk('layout', 'assign', '-z', 'c', '-c', '10', fresh.slice(0, 16), '--replace', old.slice(0, 16));
    assert.match(await nodes[0]!.cliOk('layout', 'apply'), /version 2/);
    ids[2] = fresh;
    await settled();
    const s3 = s3Client(nodes[2]!, keyId, secret);
    try {
      for (const [k, v] of objects)
        assert.ok((await getBytes(s3, 'cluster', k)).equals(v), `${k} through the new node`);
    } finally {
      s3.destroy();
    }
    assert.doesNotMatch(await nodes[0]!.cliOk('layout', 'show'), new RegExp(old.slice(0, 16)));
  });

  it('restores every block with `repair blocks` after losing only data_dir', async () => {
    await nodes[1]!.kill('SIGKILL');
    nodes[1]!.wipe({ data: true });
    await nodes[1]!.start(FAST_ENV);
    assert.match(await nodes[1]!.cliOk('repair', '--yes', 'blocks'), /queued/);
    await waitFor(
      'node b to fetch every block again',
      async () => (await storedBlocks(nodes[1]!)) === distinctBlocks().size,
      60_000,
    );
  });

  it('grows and shrinks while a workload runs: every object stays readable throughout', async () => {
    const extra = await GarageProcess.create('', {
      replicationMode: '3',
      rpcSecret: /rpc_secret = "(\w+)"/.exec(
        await import('node:fs').then((fs) => fs.readFileSync(nodes[0]!.configPath, 'utf8')),
      )![1],
    });
    await extra.start(FAST_ENV);
    nodes.push(extra);
    ids.push((await nodeIds([extra]))[0]!);
    await extra.cliOk('node', 'connect', ids[0]!);

    const s3s = nodes.map((n) => s3Client(n, keyId, secret));
    let stop = false;
    let paused = false;
    let idle: (() => void) | undefined;
    let reads = 0;
    let writes = 0;
    const failures: string[] = [];
    const workload = (async () => {
      let i = 0;
      while (!stop) {
        if (paused) {
          idle?.();
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        const k = `grow-${i}`;
        const data = randomBytes(i % 2 ? 1_500_000 : 700);
        try {
          await s3s[i % 3]!.send(new PutObjectCommand({ Bucket: 'cluster', Key: k, Body: data }));
          objects.set(k, data);
          writes++;
        } catch (e) {
          failures.push(`put ${k}: ${(e as Error).message}`);
        }
        for (const [key, v] of [...objects].slice(-5)) {
          try {
            if (!(await getBytes(s3s[(i + 1) % 3]!, 'cluster', key)).equals(v))
              failures.push(`get ${key}: wrong bytes`);
            reads++;
          } catch (e) {
            failures.push(`get ${key}: ${(e as Error).message}`);
          }
        }
        i++;
      }
    })();
    // The transition must finish under load; exact placement is checked with the workload paused
    // (while it writes, the third copy of the newest blocks is always a moment behind).
    const pause = () =>
      new Promise<void>((r) => {
        idle = r;
        paused = true;
      });
    const oneVersion = () =>
      waitFor('a single live layout version', async () => (await layout(nodes[0]!)).liveVersions.length === 1, 90_000);
    try {
      await nodes[0]!.cliOk('layout', 'assign', '-z', 'd', '-c', '10', ids[3]!.slice(0, 16));
      await nodes[0]!.cliOk('layout', 'apply');
      await oneVersion();
      await pause();
      await settled();
      paused = false;
      await nodes[0]!.cliOk('layout', 'remove', ids[3]!.slice(0, 16));
      await nodes[0]!.cliOk('layout', 'apply');
      await oneVersion();
      stop = true;
      await workload;
      await settled();
    } finally {
      stop = true;
      await workload;
    }
    assert.deepEqual(failures, [], 'no request failed during the changes');
    assert.ok(writes > 3 && reads > 10, `the workload ran (${writes} writes, ${reads} reads)`);
    for (const [k, v] of objects)
      assert.ok((await getBytes(s3s[1]!, 'cluster', k)).equals(v), `${k} after growth and shrink`);
    for (const c of s3s) c.destroy();
  });

  it('finishes a transition without a node that is down, with layout skip-dead-nodes', async () => {
    // Node b goes down, then the layout changes (zone redundancy 2): the transition waits for b.
    await nodes[1]!.kill('SIGKILL');
    await nodes[0]!.cliOk('layout', 'config', '-r', '2');
    const applied = await nodes[0]!.cliOk('layout', 'apply');
    const version = Number(/version (\d+)/.exec(applied)![1]);
    await new Promise((r) => setTimeout(r, 3000));
    assert.ok((await layout(nodes[0]!)).liveVersions.length > 1, 'the transition waits for the dead node');
    assert.match(await nodes[0]!.cliOk('layout', 'skip-dead-nodes', '--version', String(version)), /1 node/);
    await waitFor(
      'the transition to finish without b',
      async () => (await layout(nodes[0]!)).liveVersions.length === 1,
      30_000,
    );
    const s3 = s3Client(nodes[0]!, keyId, secret);
    try {
      for (const [k, v] of objects)
        assert.ok((await getBytes(s3, 'cluster', k)).equals(v), `${k} readable with b down`);
    } finally {
      s3.destroy();
    }
    await nodes[1]!.start(FAST_ENV);
  });
});
