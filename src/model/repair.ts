import type { Model } from './garage.ts';
import type { SyncManager } from './sync_manager.ts';
import type { Logger } from '../util/log.ts';
import { GarageError, errorMessage } from '../util/errors.ts';
import { lwwGet, lwwSet } from '../util/crdt.ts';

export type RepairKind =
  | 'tables'
  | 'blocks'
  | 'versions'
  | 'multipart-uploads'
  | 'block-refs'
  | 'block-rc'
  | 'rebalance'
  | 'aliases'
  | 'scrub';

interface ScrubState {
  paused: boolean;
  cancelled: boolean;
  /** Wakes a paused scrub. */
  resume: (() => void) | undefined;
}

/** What `repair scrub start|pause|resume|cancel` does to the running scrub. */
export type ScrubCommand = 'start' | 'pause' | 'resume' | 'cancel';

const EMPTY = Buffer.alloc(0);

/** The repair procedures behind `garage repair`; each runs in the background on this node. */
export class Repair {
  readonly model: Model;
  readonly sync: SyncManager;
  readonly log: Logger;
  /** Sleep after each scrubbed block, as a multiple of the time it took (Garage's tranquility). */
  scrubTranquility = 4;
  #scrub: ScrubState | undefined;

  constructor(model: Model, sync: SyncManager, log: Logger) {
    this.model = model;
    this.sync = sync;
    this.log = log;
    model.workers.defineVariable('scrub-tranquility', {
      get: () => String(this.scrubTranquility),
      set: (v) => {
        if (!/^\d{1,4}$/.test(v)) throw new GarageError(`scrub-tranquility must be an integer 0-9999, got '${v}'`);
        this.scrubTranquility = Number(v);
      },
    });
  }

  /** Starts a repair; returns a one-line description of what was launched (block-rc: its result). */
  async launch(kind: RepairKind): Promise<string> {
    const run = (name: string, fn: () => Promise<string>) => {
      this.model.workers.register(`repair ${name}`, `garage repair ${name}`);
      this.model.workers.report(`repair ${name}`, { state: 'running' });
      fn().then(
        (r) => {
          this.model.workers.report(`repair ${name}`, { state: 'done', result: r });
          this.log.info({ repair: name, result: r }, 'repair finished');
        },
        (e: unknown) => {
          this.model.workers.report(`repair ${name}`, { state: 'failed', error: errorMessage(e) });
          this.log.warn({ repair: name, err: errorMessage(e) }, 'repair failed');
        },
      );
    };
    switch (kind) {
      case 'tables':
        this.sync.trigger(0);
        return 'full anti-entropy pass of every table launched';
      case 'blocks':
        this.model.blocks.recheckAll();
        return 'every referenced block queued for a check (missing ones are fetched from other nodes)';
      case 'versions':
        run('versions', () => this.#versions());
        return 'check of versions against their objects launched';
      case 'multipart-uploads':
        run('multipart-uploads', () => this.#uploads());
        return 'check of multipart uploads against their objects launched';
      case 'block-refs':
        run('block-refs', () => this.#blockRefs());
        return 'check of block references against their versions launched';
      case 'rebalance':
        run('rebalance', () => this.#rebalance());
        return 'move of blocks to the data directory they belong in launched';
      case 'aliases':
        run('aliases', () => this.#aliases());
        return 'check of bucket aliases launched';
      case 'block-rc': {
        const r = await this.blockRc();
        return `${r.referenced} referenced block(s), ${r.fixed} refcount(s) corrected, ${r.missing} referenced block(s) missing here (queued for resync), ${r.orphans} unreferenced block file(s) (queued for deletion)`;
      }
      case 'scrub':
        return this.scrubCommand('start');
    }
  }

  /** Starts, pauses, resumes or cancels the scrub of local blocks. */
  scrubCommand(cmd: ScrubCommand): string {
    const s = this.#scrub;
    switch (cmd) {
      case 'start':
        if (s) return 'a scrub is already running';
        this.model.workers.register('repair scrub', 'garage repair scrub');
        this.model.workers.report('repair scrub', { state: 'running' });
        this.scrub().then(
          (r) => this.model.workers.report('repair scrub', { state: 'done', result: r }),
          (e: unknown) => this.model.workers.report('repair scrub', { state: 'failed', error: errorMessage(e) }),
        );
        return 'scrub of every local block launched';
      case 'pause':
        if (!s) return 'no scrub is running';
        s.paused = true;
        this.model.workers.report('repair scrub', { state: 'paused' });
        return 'scrub paused';
      case 'resume':
        if (!s?.paused) return 'no scrub is paused';
        s.paused = false;
        s.resume?.();
        this.model.workers.report('repair scrub', { state: 'running' });
        return 'scrub resumed';
      case 'cancel':
        if (!s) return 'no scrub is running';
        s.cancelled = true;
        s.resume?.();
        return 'scrub cancelled';
    }
  }

  // Upload headers whose object no longer has that upload in progress are deleted (cascading to parts).
  async #uploads(): Promise<string> {
    let deleted = 0;
    for (const e of this.model.mpu.scanLocal()) {
      if (e.sk.length !== 0 || e.deleted || !e.header) continue;
      const obj = await this.model.object.get(e.header.bucketId, Buffer.from(e.header.key));
      const ov = obj?.versions.find((x) => x.uuid.equals(e.uploadId));
      if (ov?.state.t !== 'uploading') {
        await this.model.mpu.insert({ ...e, deleted: true });
        deleted++;
      }
    }
    return `${deleted} orphan multipart upload(s) deleted`;
  }

  // Blocks outside the data directory their hash maps to are moved there.
  async #rebalance(): Promise<string> {
    let moved = 0;
    for await (const hash of this.model.blocks.store.list())
      if (await this.model.blocks.store.moveToPrimary(hash)) {
        moved++;
        // A block the GC took meanwhile would otherwise stay as an orphan copy: check it again.
        if (this.model.blocks.refcount(hash) === 0) await this.model.blocks.requeue(hash);
      }
    return `${moved} block(s) moved`;
  }

  // Global aliases and buckets are made to agree: an alias row pointing to a bucket that does
  // not list it is dropped, and a bucket listing an alias whose row points elsewhere unlists it.
  async #aliases(): Promise<string> {
    let fixed = 0;
    for (const a of this.model.bucketAlias.scanLocal()) {
      const id = a.bucket.v;
      if (!id) continue;
      const b = await this.model.bucket.get(id, EMPTY);
      if (!b || b.deleted || !lwwGet(b.aliases, a.name)?.v) {
        await this.model.bucketAlias.insert({ name: a.name, bucket: { ts: Date.now(), v: null } });
        fixed++;
      }
    }
    for (const b of this.model.bucket.scanLocal()) {
      if (b.deleted) continue;
      for (const [name, v] of b.aliases) {
        if (!v.v) continue;
        const a = await this.model.bucketAlias.get(Buffer.from(name), EMPTY);
        if (!a?.bucket.v?.equals(b.id)) {
          await this.model.bucket.insert({ ...b, aliases: lwwSet(b.aliases, name, false) });
          fixed++;
        }
      }
    }
    return `${fixed} alias inconsistenc(ies) fixed`;
  }

  // Version headers whose object no longer has that version are deleted (cascading to blocks).
  async #versions(): Promise<string> {
    let deleted = 0;
    for (const e of this.model.version.scanLocal()) {
      if (e.sk.length !== 0 || e.deleted || !e.header) continue;
      const obj = await this.model.object.get(e.header.bucketId, Buffer.from(e.header.key));
      const ov = obj?.versions.find((x) => x.uuid.equals(e.uuid));
      if (!ov || ov.state.t === 'aborted') {
        await this.model.version.insert({ ...e, deleted: true, blocks: [] });
        deleted++;
      }
    }
    return `${deleted} orphan version(s) deleted`;
  }

  /**
   * Recounts every local block's references from the local block_ref rows (they live with
   * their block) and corrects the refcounts that differ, in one transaction. Referenced blocks
   * this node should hold but lacks are queued for resync; block files nobody references
   * are queued for deletion after the GC delay. Garage's `repair block-rc`.
   */
  async blockRc(): Promise<{ referenced: number; fixed: number; missing: number; orphans: number }> {
    const blocks = this.model.blocks;
    const onDisk = new Set<string>();
    for await (const h of blocks.store.list()) onDisk.add(h.toString('hex'));
    const res = await blocks.opts.db.transaction((tx) => {
      const counts = new Map<string, number>();
      for (const r of this.model.blockRef.scanLocal({ tx })) {
        if (r.deleted) continue;
        const h = r.block.toString('hex');
        counts.set(h, (counts.get(h) ?? 0) + 1);
      }
      let fixed = 0;
      for (const [hash] of tx.range(blocks.rc, {})) {
        const h = hash.toString('hex');
        if (!counts.has(h) && blocks.refcountIn(tx, hash) !== 0) {
          blocks.setRefcount(tx, hash, 0);
          fixed++;
        }
      }
      for (const [h, n] of counts) {
        const hash = Buffer.from(h, 'hex');
        if (blocks.refcountIn(tx, hash) !== n) {
          blocks.setRefcount(tx, hash, n);
          fixed++;
        }
      }
      let missing = 0;
      let orphans = 0;
      for (const [h] of counts) {
        const hash = Buffer.from(h, 'hex');
        if (!onDisk.has(h) && blocks.shouldHold(hash)) {
          blocks.queueCheck(tx, hash);
          missing++;
        }
      }
      for (const h of onDisk) {
        const hash = Buffer.from(h, 'hex');
        if (!counts.has(h) && !blocks.gcPending(tx, hash)) {
          blocks.setRefcount(tx, hash, 0);
          orphans++;
        }
      }
      return { referenced: counts.size, fixed, missing, orphans };
    });
    if (res.fixed || res.missing || res.orphans) this.log.warn(res, 'repair block-rc corrected refcounts');
    return res;
  }

  // References from deleted versions, or from deleted rows of a version, are deleted.
  async #blockRefs(): Promise<string> {
    let deleted = 0;
    for (const r of this.model.blockRef.scanLocal()) {
      if (r.deleted) continue;
      const uuid = r.ref.subarray(0, 16);
      const header = await this.model.version.get(uuid, EMPTY);
      const row = header?.deleted ? undefined : await this.model.version.get(uuid, r.ref.subarray(16));
      if (header?.deleted || row?.deleted) {
        await this.model.blockRef.insert({ ...r, deleted: true });
        deleted++;
      }
    }
    return `${deleted} stale block reference(s) deleted`;
  }

  /**
   * Reads every local block and checks its hash, sleeping `scrubTranquility` times as long as
   * each block took so the disk stays available; pausable and cancellable (scrubCommand).
   */
  async scrub(): Promise<string> {
    if (this.#scrub) return 'a scrub is already running';
    const state: ScrubState = { paused: false, cancelled: false, resume: undefined };
    this.#scrub = state;
    try {
      return await this.#scrubAll(state);
    } finally {
      this.#scrub = undefined;
    }
  }

  async #scrubAll(state: ScrubState): Promise<string> {
    let checked = 0;
    let corrupt = 0;
    for (const [hash] of this.model.blocks.rc.range({})) {
      while (state.paused && !state.cancelled) await new Promise<void>((r) => (state.resume = r));
      if (state.cancelled) return `cancelled after ${checked} block(s) checked, ${corrupt} corrupt`;
      const started = performance.now();
      const stored = await this.model.blocks.store.read(hash);
      if (!stored) continue;
      checked++;
      try {
        await this.model.blocks.decode(hash, stored, true);
      } catch {
        corrupt++;
        this.log.warn({ block: hash.toString('hex') }, 'scrub: corrupt block, fetching it again');
        await this.model.blocks.store.delete(hash);
        await this.model.blocks.requeue(hash);
      }
      const pause = (performance.now() - started) * this.scrubTranquility;
      if (pause >= 1) await new Promise((r) => setTimeout(r, pause));
    }
    return `${checked} block(s) checked, ${corrupt} corrupt`;
  }
}
