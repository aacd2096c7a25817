import { mkdir, open, readdir, readFile, rename, unlink, stat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BlockError } from '../util/errors.ts';
import { blockMetrics } from '../util/metrics.ts';

/** A block as stored on disk: possibly zstd-compressed bytes. */
export interface StoredBlock {
  data: Buffer;
  compressed: boolean;
}

/** One data directory. */
export interface DataDir {
  path: string;
  capacity?: number;
  readOnly: boolean;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** The file-system operations the store makes durable with; tests wrap them to see what is synced. */
export interface BlockIo {
  /** Flushes a directory's entries (new files, renames, subdirectories) to disk. */
  syncDir(path: string): Promise<void>;
}

/** The real file system. */
export const fsBlockIo: BlockIo = {
  async syncDir(path: string): Promise<void> {
    const d = await open(path, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  },
};

/**
 * Block files under `data_dir/<h0h1>/<h2h3>/<hex>[.zst]`. Names come only from hex hashes,
 * so nothing a client sends can make a path leave the data directory.
 */
export class BlockStore {
  readonly dirs: DataDir[];
  readonly fsync: boolean;
  readonly #writable: DataDir[];
  readonly #io: BlockIo;
  /** Directories being created and their parent synced: concurrent writers into them wait for it. */
  readonly #creating = new Map<string, Promise<void>>();
  /** Block directories known to exist (they are never removed while serving): no mkdir per write. */
  readonly #made = new Set<string>();

  constructor(dirs: DataDir[], fsync: boolean, io: BlockIo = fsBlockIo) {
    this.dirs = dirs;
    this.fsync = fsync;
    this.#io = io;
    this.#writable = dirs.filter((d) => !d.readOnly);
    if (this.#writable.length === 0) throw new BlockError('no writable data directory');
  }

  #hex(hash: Buffer): string {
    const hex = hash.toString('hex');
    if (!HASH_RE.test(hex)) throw new BlockError(`invalid block hash ${hex}`);
    return hex;
  }

  // The directory a new block goes to: stable for a hash, proportional to capacity.
  #primary(hash: Buffer): DataDir {
    if (this.#writable.length === 1) return this.#writable[0]!;
    const total = this.#writable.reduce((s, d) => s + (d.capacity ?? 1), 0);
    let x = (hash.readUInt32BE(1) / 2 ** 32) * total;
    for (const d of this.#writable) {
      x -= d.capacity ?? 1;
      if (x < 0) return d;
    }
    return this.#writable[this.#writable.length - 1]!;
  }

  #path(dir: DataDir, hex: string, compressed: boolean): string {
    return join(dir.path, hex.slice(0, 2), hex.slice(2, 4), compressed ? `${hex}.zst` : hex);
  }

  /** Empties the temp directories, where a crash may have left partial files (call before serving). */
  async cleanTemp(): Promise<void> {
    for (const d of this.#writable) {
      await rm(join(d.path, 'tmp'), { recursive: true, force: true });
      await mkdir(join(d.path, 'tmp'), { recursive: true });
    }
  }

  // Where a block may be stored, most likely first: its primary directory, plain then compressed.
  #candidates(hash: Buffer): { path: string; compressed: boolean }[] {
    const hex = this.#hex(hash);
    const primary = this.#primary(hash);
    const out: { path: string; compressed: boolean }[] = [];
    for (const dir of [primary, ...this.dirs.filter((d) => d !== primary)])
      for (const compressed of [false, true]) out.push({ path: this.#path(dir, hex, compressed), compressed });
    return out;
  }

  /** Finds where a block is stored, if anywhere. */
  async locate(hash: Buffer): Promise<{ path: string; compressed: boolean; size: number } | undefined> {
    for (const c of this.#candidates(hash)) {
      try {
        const s = await stat(c.path);
        return { ...c, size: s.size };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return undefined;
  }

  /** Reads a block as stored (opening each candidate path: no stat before the read). */
  async read(hash: Buffer): Promise<StoredBlock | undefined> {
    const end = blockMetrics.readDuration.startTimer();
    try {
      for (const c of this.#candidates(hash)) {
        try {
          const data = await readFile(c.path);
          blockMetrics.bytesRead.inc(data.length);
          return { data, compressed: c.compressed };
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
      return undefined;
    } finally {
      end();
    }
  }

  // Whether a block is stored in any form: every candidate path is checked at once.
  async #present(hash: Buffer): Promise<boolean> {
    const found = await Promise.all(
      this.#candidates(hash).map((c) =>
        stat(c.path).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT') return false;
            throw e;
          },
        ),
      ),
    );
    return found.includes(true);
  }

  /** Writes a block atomically (temp file, optional fsync, rename); a no-op if already present. */
  async write(hash: Buffer, block: StoredBlock): Promise<void> {
    if (await this.#present(hash)) return;
    const end = blockMetrics.writeDuration.startTimer();
    await this.#writeIn(this.#primary(hash), this.#hex(hash), block);
    end();
    blockMetrics.bytesWritten.inc(block.data.length);
  }

  async #writeIn(dir: DataDir, hex: string, block: StoredBlock): Promise<void> {
    const path = this.#path(dir, hex, block.compressed);
    const parent = join(dir.path, hex.slice(0, 2), hex.slice(2, 4));
    await this.#ensureDir(dir, hex);
    // Temp files live in one directory per data dir, emptied at start: a crash mid-write leaves nothing behind.
    const tmp = join(dir.path, 'tmp', `${hex}-${randomBytes(4).toString('hex')}`);
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(block.data);
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, path);
    } catch (e) {
      // The directory was removed behind our back: make it again.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !this.#made.delete(parent)) throw e;
      await this.#ensureDir(dir, hex);
      await rename(tmp, path);
    }
    if (this.fsync) await this.#io.syncDir(parent);
  }

  async #ensureDir(dir: DataDir, hex: string): Promise<void> {
    const parent = join(dir.path, hex.slice(0, 2), hex.slice(2, 4));
    if (this.#made.has(parent)) return;
    if (this.fsync) await this.#makeDirsDurably(dir.path, [hex.slice(0, 2), hex.slice(2, 4)]);
    else await mkdir(parent, { recursive: true });
    this.#made.add(parent);
  }

  // Creates root/a, root/a/b… as needed, fsyncing the parent of each new one, so a power loss
  // cannot drop the path to an acknowledged block. A writer that finds a directory another one
  // is still creating waits until that directory's entry is synced before going on.
  async #makeDirsDurably(root: string, parts: string[]): Promise<void> {
    let cur = root;
    for (const part of parts) {
      const child = join(cur, part);
      let p = this.#creating.get(child);
      if (!p) {
        p = this.#makeDirDurably(cur, child);
        this.#creating.set(child, p);
        const forget = () => this.#creating.delete(child);
        p.then(forget, forget);
      }
      await p;
      cur = child;
    }
  }

  async #makeDirDurably(parent: string, child: string): Promise<void> {
    try {
      await mkdir(child);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
      throw e;
    }
    await this.#io.syncDir(parent);
  }

  /**
   * Deletes a block unless `stillUnused()` turns false once it is out of the way: the file is
   * first moved aside, then the check runs, then it is unlinked or put back. This closes the
   * race with an upload that references the block again between the GC's check and the unlink.
   */
  async deleteIfUnused(hash: Buffer, stillUnused: () => boolean): Promise<boolean> {
    const loc = await this.locate(hash);
    if (!loc) return false;
    const dir = this.dirs.find((d) => loc.path.startsWith(d.path))!;
    const aside = join(dir.path, 'tmp', `gc-${hash.toString('hex')}-${randomBytes(4).toString('hex')}`);
    try {
      await rename(loc.path, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    if (stillUnused()) {
      await unlink(aside);
      blockMetrics.deleteCounter.inc();
      return true;
    }
    // Referenced again: restore it, unless a fresh copy was written meanwhile.
    if (await this.locate(hash)) await unlink(aside);
    else await rename(aside, loc.path);
    return false;
  }

  /**
   * Moves a block stored outside the directory its hash maps to (after data directories were
   * added, removed or resized) into that directory; returns whether it moved.
   */
  async moveToPrimary(hash: Buffer): Promise<boolean> {
    const loc = await this.locate(hash);
    const primary = this.#primary(hash);
    if (!loc || loc.path.startsWith(`${primary.path}/`)) return false;
    const data = await readFile(loc.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!data) return false;
    await this.#writeIn(primary, this.#hex(hash), { data, compressed: loc.compressed });
    await unlink(loc.path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    return true;
  }

  /** Every block stored in the data directories (the hash of each block file). */
  async *list(): AsyncGenerator<Buffer> {
    const seen = new Set<string>();
    for (const d of this.dirs) {
      for (const a of await dirEntries(d.path)) {
        if (!/^[0-9a-f]{2}$/.test(a)) continue;
        for (const b of await dirEntries(join(d.path, a))) {
          for (const f of await dirEntries(join(d.path, a, b))) {
            const hex = f.replace(/\.zst$/, '');
            if (!HASH_RE.test(hex) || seen.has(hex)) continue;
            seen.add(hex);
            yield Buffer.from(hex, 'hex');
          }
        }
      }
    }
  }

  /** Deletes a block's file(s). */
  async delete(hash: Buffer): Promise<boolean> {
    let found = false;
    for (;;) {
      const loc = await this.locate(hash);
      if (!loc) return found;
      await unlink(loc.path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      found = true;
    }
  }
}

/** The names in a directory; none if it does not exist. */
async function dirEntries(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
