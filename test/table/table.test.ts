// The generic table on three in-process nodes (real LMDB, in-memory transport): merge and
// apply, local range reads with typed filters, quorum reads and writes with a node down, read
// repair, the insert queue, and the quorum helper's errors. Milliseconds, no processes.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { LmdbDb } from '../../src/db/lmdb.ts';
import { endpoint, serve } from '../../src/net/endpoint.ts';
import { callQuorum } from '../../src/rpc/rpc_helper.ts';
import { Table } from '../../src/table/table.ts';
import type { TableSchema } from '../../src/table/schema.ts';
import { decodeRow, encodeVersioned } from '../../src/util/codec.ts';
import { mergeLww, zLww, type Lww } from '../../src/util/crdt.ts';
import { QuorumError } from '../../src/util/errors.ts';
import { logger } from '../../src/util/log.ts';
import { MemNet, fullLayout } from '../support/mem_cluster.ts';
import { waitFor } from '../integration/harness.ts';

/** A register per (owner, name): the test's entry type. */
interface Note {
  owner: string;
  name: string;
  text: Lww<string>;
  deleted: boolean;
}
type Row = [string, string, Lww<string>, boolean];
const zRow: z.ZodType<Row> = z.tuple([z.string(), z.string(), zLww(z.string()), z.boolean()]);

const noteSchema: TableSchema<Note> & { matches(e: Note, f: { prefix: string }): boolean } = {
  name: 'note',
  replication: 'sharded',
  partitionKey: (e) => Buffer.from(e.owner),
  sortKey: (e) => Buffer.from(e.name),
  encode: (e) => encodeVersioned(1, [e.owner, e.name, e.text, e.deleted] satisfies Row),
  decode: (b) => {
    const [owner, name, text, deleted] = decodeRow(1, b, 'note', zRow);
    return { owner, name, text, deleted };
  },
  merge: (a, b) => ({ owner: a.owner, name: a.name, text: mergeLww(a.text, b.text), deleted: a.deleted || b.deleted }),
  isTombstone: (e) => e.deleted,
  matches: (e, f) => e.text.v.startsWith(f.prefix),
};

const note = (owner: string, name: string, text: string, ts: number): Note => ({
  owner,
  name,
  text: { ts, v: text },
  deleted: false,
});

describe('tables on three in-process nodes', () => {
  const net = new MemNet();
  const ids = ['a', 'b', 'c'].map((c) => c.repeat(64));
  const dirs: string[] = [];
  const dbs: LmdbDb[] = [];
  const tables: Table<Note, { prefix: string }>[] = [];

  before(() => {
    for (const id of ids) {
      const dir = mkdtempSync(join(tmpdir(), 'garage-table-'));
      dirs.push(dir);
      const db = new LmdbDb(dir, { fsync: false });
      dbs.push(db);
      tables.push(
        new Table<Note, { prefix: string }>(noteSchema, db, net.transport(id), fullLayout(ids), {
          consistency: 'consistent',
          logger: logger('test'),
        }),
      );
    }
  });
  after(async () => {
    for (const t of tables) t.stop();
    for (const db of dbs) await db.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('merges to the same bytes whatever the order entries arrive in', async () => {
    const versions = [note('o', 'x', 'one', 1), note('o', 'x', 'three', 3), note('o', 'x', 'two', 2)];
    await tables[0]!.applyLocal(versions.map((v) => noteSchema.encode(v)));
    await tables[1]!.applyLocal([...versions].reverse().map((v) => noteSchema.encode(v)));
    for (const v of versions) await tables[2]!.applyLocal([noteSchema.encode(v)]);
    const stored = tables.map((t) => noteSchema.encode(t.getLocal(Buffer.from('o'), Buffer.from('x'))!));
    assert.ok(stored.every((b) => b.equals(stored[0]!)));
    assert.equal(tables[0]!.getLocal(Buffer.from('o'), Buffer.from('x'))!.text.v, 'three');
    const roots = tables.map((t) => t.digest.partitionRoots().toString('hex'));
    assert.equal(new Set(roots).size, 1, 'equal content, equal digests');
  });

  it('reads local ranges forward, backward, bounded, limited and filtered', async () => {
    const t = tables[0]!;
    await t.applyLocal(
      ['a', 'b', 'c', 'd', 'e'].map((n, i) => noteSchema.encode(note('r', n, i % 2 ? 'odd' : 'even', 1))),
    );
    const names = (q: Parameters<typeof t.rangeLocal>[1]) =>
      t
        .rangeLocal(Buffer.from('r'), q)
        .map((e) => e.name)
        .join('');
    assert.equal(names({}), 'abcde');
    assert.equal(names({ start: Buffer.from('b'), end: Buffer.from('d') }), 'bc');
    assert.equal(names({ reverse: true, limit: 2 }), 'ed');
    assert.equal(names({ reverse: true, start: Buffer.from('d'), end: Buffer.from('a') }), 'dcb');
    assert.equal(names({ filter: { prefix: 'odd' } }), 'bd');
    assert.equal([...t.scanLocal({ pk: Buffer.from('r') })].length, 5);
  });

  it('writes and reads with a quorum while a node is down; a read repairs the stale node', async () => {
    net.down.add(ids[2]!);
    await tables[0]!.insert(note('q', 'k', 'v1', 10));
    net.down.delete(ids[2]!);
    assert.equal(tables[2]!.getLocal(Buffer.from('q'), Buffer.from('k')), undefined, 'missed the write');
    // Read through the stale node with another one down: the quorum is the stale node and one
    // that has the entry; the read returns it and repairs the stale node.
    net.down.add(ids[1]!);
    try {
      const got = await tables[2]!.get(Buffer.from('q'), Buffer.from('k'));
      assert.equal(got?.text.v, 'v1');
      await waitFor(
        'read repair to reach the stale node',
        () => tables[2]!.getLocal(Buffer.from('q'), Buffer.from('k'))?.text.v === 'v1',
        5000,
      );
    } finally {
      net.down.delete(ids[1]!);
    }
    // A filtered range read merges the replicas' answers, then filters.
    await tables[1]!.insertMany(['a', 'b', 'c', 'd'].map((n, i) => note('fr', n, i % 2 ? 'odd' : 'even', 1)));
    const even = await tables[2]!.getRange(Buffer.from('fr'), { filter: { prefix: 'even' } });
    assert.deepEqual(
      even.map((e) => e.name),
      ['a', 'c'],
    );
  });

  it('fails a write without a quorum, with the counts in the error', async () => {
    net.down.add(ids[1]!);
    net.down.add(ids[2]!);
    try {
      await assert.rejects(tables[0]!.insert(note('q', 'z', 'nope', 1)), (e: unknown) => {
        assert.ok(e instanceof QuorumError);
        assert.equal(e.needed, 2);
        assert.ok(e.ok <= 1);
        return true;
      });
    } finally {
      net.down.clear();
    }
  });

  it('sends queued inserts in the background, once committed', async () => {
    for (const t of tables) t.startQueueWorker();
    await dbs[0]!.transaction((tx) => tables[0]!.queueInsert(tx, note('queued', 'k', 'later', 5)));
    await waitFor(
      'the queued insert to reach every node',
      () => tables.every((t) => t.getLocal(Buffer.from('queued'), Buffer.from('k'))?.text.v === 'later'),
      5000,
    );
    assert.equal(tables[0]!.queue.count(), 0, 'the queue is drained');
  });

  it('the quorum helper answers once enough nodes did, and names the failures otherwise', async () => {
    const ep = endpoint('test/echo', z.object({ n: z.number() }), z.number());
    const rpcs = ids.map((id) => net.transport(`${id.slice(0, 63)}e`));
    for (const [i, r] of rpcs.entries()) serve(r, ep, async (_f, m) => m.n + i);
    const nodes = rpcs.map((r) => r.id);
    const answers = await callQuorum(rpcs[0]!, nodes, ep, { n: 1 }, { quorum: 2 });
    assert.ok(answers.length >= 2);
    net.down.add(nodes[1]!);
    net.down.add(nodes[2]!);
    await assert.rejects(callQuorum(rpcs[0]!, nodes, ep, { n: 1 }, { quorum: 2 }), QuorumError);
    net.down.clear();
  });
});
