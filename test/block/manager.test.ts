// The block manager on three in-process nodes: a block written to its replicas, a lost local
// copy fetched back by resync, references counted in transactions, an unreferenced block
// collected after the delay, several resync workers sharing the queue.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BlockManager } from '../../src/block/manager.ts';
import { MemCluster } from '../support/mem_cluster.ts';
import { waitFor } from '../integration/harness.ts';

describe('block manager on three in-process nodes', () => {
  const c = new MemCluster(3, { gcDelayMs: 50 });
  before(() => c.start());
  after(() => c.stop());

  it('writes a block to its replicas, reads it anywhere, and resync brings back a lost copy', async () => {
    const data = randomBytes(10_000);
    const hash = BlockManager.hash(data);
    const [a, b] = c.nodes;
    await a!.blocks.put(hash, data);
    for (const n of c.nodes) await n.db.transaction((tx) => n.blocks.incref(tx, hash));
    await waitFor('every replica to hold it', async () => {
      for (const n of c.nodes) if (!(await n.blocks.store.locate(hash))) return false;
      return true;
    });
    assert.ok((await b!.blocks.get(hash)).equals(data));
    await b!.blocks.store.delete(hash);
    await b!.blocks.requeue(hash);
    await waitFor(
      'resync to fetch the copy back',
      async () => (await b!.blocks.store.locate(hash)) !== undefined,
      5000,
    );
    assert.equal(b!.blocks.refcount(hash), 1);
  });

  it('collects a block whose last reference went, after the delay', async () => {
    const data = randomBytes(5000);
    const hash = BlockManager.hash(data);
    const n = c.nodes[0]!;
    await n.blocks.put(hash, data);
    await n.db.transaction((tx) => n.blocks.incref(tx, hash));
    await n.db.transaction((tx) => n.blocks.decref(tx, hash));
    assert.equal(n.blocks.refcount(hash), 0);
    await waitFor('the GC to delete the file', async () => (await n.blocks.store.locate(hash)) === undefined, 5000);
  });

  it('several resync workers drain the queue, none holding a block another one does', async () => {
    const n = c.nodes[1]!;
    n.model.workers.variables().get('resync-worker-count')!.set('4');
    n.model.workers.variables().get('resync-tranquility')!.set('0');
    const blocks = Array.from({ length: 20 }, () => randomBytes(2000));
    for (const d of blocks) {
      const h = BlockManager.hash(d);
      await c.nodes[0]!.blocks.put(h, d);
      await n.db.transaction((tx) => n.blocks.incref(tx, h));
      await n.blocks.store.delete(h);
      await n.blocks.requeue(h);
    }
    await waitFor(
      'every lost copy to come back',
      async () => {
        for (const d of blocks) if (!(await n.blocks.store.locate(BlockManager.hash(d)))) return false;
        return true;
      },
      10_000,
    );
    assert.equal(n.blocks.errors.count(), 0);
    assert.throws(() => n.model.workers.variables().get('resync-worker-count')!.set('9'), /1-8/);
  });
});
