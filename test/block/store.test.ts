import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlockStore, fsBlockIo, type BlockIo } from '../../src/block/store.ts';

/** Real file-system operations that also record which directories were fsynced, in order. */
function recordingIo(): BlockIo & { synced: string[] } {
  const synced: string[] = [];
  return {
    synced,
    async syncDir(path: string): Promise<void> {
      synced.push(path);
      await fsBlockIo.syncDir(path);
    },
  };
}

/** A block hash whose first two bytes (the two directory levels) are given. */
function hashWith(h0: number, h1: number, fill: number): Buffer {
  const h = Buffer.alloc(32, fill);
  h[0] = h0;
  h[1] = h1;
  return h;
}

test('block store with data_fsync: new subdirectories and renamed block files are made durable', async () => {
  const root = mkdtempSync(join(tmpdir(), 'garage-store-'));
  try {
    const io = recordingIo();
    const store = new BlockStore([{ path: root, readOnly: false }], true, io);
    await store.cleanTemp();
    const data = { data: Buffer.from('block bytes'), compressed: false };

    // A first block creates <root>/ab and <root>/ab/cd: both new entries and the file's own entry are synced.
    const a = hashWith(0xab, 0xcd, 1);
    await store.write(a, data);
    assert.deepEqual(io.synced, [root, join(root, 'ab'), join(root, 'ab', 'cd')]);
    assert.equal(readFileSync(join(root, 'ab', 'cd', a.toString('hex'))).toString(), 'block bytes');

    // Same subdirectory: only the directory that received the renamed file.
    io.synced.length = 0;
    await store.write(hashWith(0xab, 0xcd, 2), data);
    assert.deepEqual(io.synced, [join(root, 'ab', 'cd')]);

    // A new second-level subdirectory under an existing first level one.
    io.synced.length = 0;
    await store.write(hashWith(0xab, 0xef, 3), data);
    assert.deepEqual(io.synced, [join(root, 'ab'), join(root, 'ab', 'ef')]);

    // Concurrent writes into one new subdirectory: each waits until the new entries are synced.
    io.synced.length = 0;
    await Promise.all([4, 5, 6].map((f) => store.write(hashWith(0x12, 0x34, f), data)));
    assert.equal(io.synced.filter((d) => d === root).length, 1);
    assert.equal(io.synced.filter((d) => d === join(root, '12')).length, 1);
    assert.equal(io.synced.filter((d) => d === join(root, '12', '34')).length, 3);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('block store without data_fsync syncs no directory', async () => {
  const root = mkdtempSync(join(tmpdir(), 'garage-store-'));
  try {
    const io = recordingIo();
    const store = new BlockStore([{ path: root, readOnly: false }], false, io);
    await store.cleanTemp();
    await store.write(hashWith(0x01, 0x02, 7), { data: Buffer.from('x'), compressed: false });
    assert.deepEqual(io.synced, []);
    assert.ok(await store.locate(hashWith(0x01, 0x02, 7)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
