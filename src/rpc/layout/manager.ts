import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/fs.ts';
import { pack, unpack } from '../../util/codec.ts';
import {
  current,
  emptyHistory,
  layoutHistorySchema,
  mergeHistory,
  partitionOf,
  pruneHistory,
  readVersion,
  setTracker,
  trackedNodes,
  type LayoutHistory,
  type LayoutVersion,
} from './history.ts';
import { z } from 'zod';
import { LayoutError } from '../../util/errors.ts';

/** What the tables and the block manager need to know of the layout. */
export interface LayoutView {
  /** Node sets that must each reach a write quorum for this hash: one per live version. */
  writeSets(hash: Buffer): string[][];
  /** Nodes to read this hash from. */
  readNodes(hash: Buffer): string[];
  /** Storage nodes of every live version (for fully replicated tables). */
  storageNodeSets(): string[][];
  /** Storage nodes that read from fully replicated tables may use. */
  readStorageNodes(): string[];
  replicationFactor(): number;
  /** Whether some version with roles exists. */
  ready(): boolean;
  /** Marks a write as started under the current version; call the result when it is done. */
  beginWrite(): () => void;
}

/** Holds this node's copy of the layout history, persists it, merges what peers send. */
export class LayoutManager extends EventEmitter implements LayoutView {
  history: LayoutHistory;
  readonly file: string;
  readonly self: string;
  readonly rf: number;
  #saving: Promise<void> = Promise.resolve();
  /** Writes in flight, by the layout version they started under. */
  readonly #inflight = new Map<number, number>();

  private constructor(file: string, self: string, rf: number, history: LayoutHistory) {
    super();
    this.file = file;
    this.self = self;
    this.rf = rf;
    this.history = history;
  }

  /** Loads `metadata_dir/cluster_layout` or starts with the empty layout. */
  static async open(metadataDir: string, self: string, replicationFactor: number): Promise<LayoutManager> {
    const file = join(metadataDir, 'cluster_layout');
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return new LayoutManager(file, self, replicationFactor, emptyHistory(replicationFactor));
    }
    const parsed = layoutHistorySchema.safeParse(unpack(raw));
    if (!parsed.success)
      throw new LayoutError(
        `${file} is not a valid layout history (${z.prettifyError(parsed.error).replace(/\n/g, '; ')})`,
      );
    return new LayoutManager(file, self, replicationFactor, parsed.data);
  }

  /** Merges a history (ours changed or a peer's); persists and notifies when it changed. */
  async update(other: LayoutHistory): Promise<boolean> {
    let merged = mergeHistory(this.history, other);
    merged = this.#advanceOwnTrackers(merged);
    merged = pruneHistory(merged);
    const changed = !pack(merged).equals(pack(this.history));
    if (!changed) return false;
    const prevVersion = current(this.history).version;
    this.history = merged;
    const snapshot = pack(merged);
    this.#saving = this.#saving.then(() => writeFileAtomic(this.file, snapshot, true));
    await this.#saving;
    this.emit('changed', merged, current(merged).version !== prevVersion);
    return true;
  }

  // Trackers this node advances by itself: it acks every version it has seen, and records
  // sync-ack once it sees every node synced. Sync itself is set by the anti-entropy pass
  // (setSynced). A lone node has nothing to sync from, so it is synced at once.
  #advanceOwnTrackers(h: LayoutHistory): LayoutHistory {
    const v = current(h).version;
    const nodes = trackedNodes(h);
    // Ack v only once no write started under an older version is still in flight.
    const oldestInflight = Math.min(v, ...[...this.#inflight].filter(([, n]) => n > 0).map(([ver]) => ver));
    h = setTracker(h, 'ack', this.self, oldestInflight);
    if (nodes.length <= 1) {
      for (const n of new Set([this.self, ...nodes]))
        for (const t of ['ack', 'sync', 'syncAck'] as const) h = setTracker(h, t, n, v);
      return h;
    }
    const sync = new Map(h.sync);
    const minSync = Math.min(...nodes.map((n) => sync.get(n) ?? 0));
    if (minSync > 0) h = setTracker(h, 'syncAck', this.self, minSync);
    return h;
  }

  beginWrite(): () => void {
    const v = current(this.history).version;
    this.#inflight.set(v, (this.#inflight.get(v) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#inflight.get(v) ?? 1) - 1;
      if (n > 0) {
        this.#inflight.set(v, n);
        return;
      }
      this.#inflight.delete(v);
      // The last write under an older version finished: our ack can move forward now.
      if (v < current(this.history).version) void this.update(this.history);
    };
  }

  /** The lowest version every node of the newest layout has acked. */
  minAck(): number {
    const ack = new Map(this.history.ack);
    return Math.min(...trackedNodes(this.history).map((n) => ack.get(n) ?? 0));
  }

  /** Records that this node finished a full anti-entropy pass for `version`. */
  async setSynced(version: number): Promise<void> {
    await this.update(setTracker(this.history, 'sync', this.self, version));
  }

  current(): LayoutVersion {
    return current(this.history);
  }

  ready(): boolean {
    return this.history.versions.some((v) => v.roles.length > 0);
  }

  replicationFactor(): number {
    return this.rf;
  }

  writeSets(hash: Buffer): string[][] {
    const p = partitionOf(hash);
    return this.history.versions.filter((v) => v.assignment.length).map((v) => v.assignment[p]!);
  }

  readNodes(hash: Buffer): string[] {
    const v = readVersion(this.history);
    return v.assignment.length ? v.assignment[partitionOf(hash)]! : [];
  }

  storageNodeSets(): string[][] {
    return this.history.versions
      .filter((v) => v.roles.length)
      .map((v) => v.roles.filter((r) => r.capacity !== null).map((r) => r.id));
  }

  readStorageNodes(): string[] {
    return readVersion(this.history)
      .roles.filter((r) => r.capacity !== null)
      .map((r) => r.id);
  }
}
