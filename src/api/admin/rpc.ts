import { call, serve } from '../../net/endpoint.ts';
import { AdminError, LayoutError, errorMessage } from '../../util/errors.ts';
import type { Workers } from '../../util/background.ts';
import type { RpcTransport } from '../../rpc/rpc_helper.ts';
import type { System } from '../../rpc/system.ts';
import {
  ADMIN,
  type AdminRequest,
  type BlockRefInfo,
  type BucketInfo,
  type KeyInfo,
  type LayoutShowResult,
  type NodeAnswer,
  type StatusResult,
} from '../../rpc/admin_protocol.ts';
import type { Repair } from '../../model/repair.ts';
import {
  applyStaged,
  current,
  revertStaged,
  stageRole,
  stageZoneRedundancy,
  stagedRoles,
  hasStagedChanges,
  setTracker,
  trackedNodes,
} from '../../rpc/layout/history.ts';
import { computeAssignment } from '../../rpc/layout/assign.ts';
import type { Model } from '../../model/garage.ts';
import type { ModelHelpers } from '../../model/helpers.ts';
import type { BucketEntry } from '../../model/bucket.ts';
import type { KeyEntry } from '../../model/key.ts';
import { lwwSet, lwwNext } from '../../util/crdt.ts';
import { createHash } from 'node:crypto';

const EMPTY = Buffer.alloc(0);

/** Serves the CLI's requests on the `admin` RPC endpoint. */
export class AdminRpc {
  readonly rpc: RpcTransport;
  readonly system: System;
  readonly model: Model;
  readonly helpers: ModelHelpers;
  readonly workers: Workers;
  readonly replicationFactor: number;
  readonly repair: Repair;

  constructor(o: {
    rpc: RpcTransport;
    system: System;
    model: Model;
    helpers: ModelHelpers;
    workers: Workers;
    replicationFactor: number;
    repair: Repair;
  }) {
    this.repair = o.repair;
    this.rpc = o.rpc;
    this.system = o.system;
    this.model = o.model;
    this.helpers = o.helpers;
    this.workers = o.workers;
    this.replicationFactor = o.replicationFactor;
    serve(this.rpc, ADMIN, async (_from, req) => {
      try {
        return { ok: await this.handle(req) };
      } catch (e) {
        // User errors travel as data so the CLI can print them plainly.
        if (e instanceof AdminError || e instanceof LayoutError) return { error: e.message };
        throw e;
      }
    });
  }

  // What this node's rows say of one reference (a block kept alive by a reference whose
  // version is gone is a leak; one whose version is live is in use).
  #describeRef(ref: Buffer, deleted: boolean): BlockRefInfo {
    const uuid = ref.subarray(0, 16);
    const state = (e: { deleted: boolean } | undefined) => (e ? (e.deleted ? 'deleted' : 'live') : 'absent');
    const header = this.model.version.getLocal(uuid, EMPTY);
    const info: BlockRefInfo = {
      version: uuid.toString('hex'),
      deleted,
      versionRow: state(header),
      groupRow: state(this.model.version.getLocal(uuid, ref.subarray(16))),
    };
    const h = header?.header;
    if (h) {
      info.key = h.key;
      const v = this.model.object.getLocal(h.bucketId, Buffer.from(h.key))?.versions.find((x) => x.uuid.equals(uuid));
      info.objectVersion = v ? v.state.t : 'absent';
    }
    return info;
  }

  /** Resolves a node id prefix among known nodes (layout roles, peers, self). */
  #findNode(prefix: string): string {
    const p = prefix.toLowerCase().replace(/@.*$/, '');
    const known = new Set<string>([
      this.rpc.id,
      ...this.system.membership.peers().map((x) => x.id),
      ...stagedRoles(this.system.layout.history).map((r) => r.id),
      ...current(this.system.layout.history).roles.map((r) => r.id),
    ]);
    const matches = [...known].filter((id) => id.startsWith(p));
    if (matches.length === 1) return matches[0]!;
    if (matches.length === 0) throw new AdminError(`no node id starts with '${prefix}' (see garage status)`);
    throw new AdminError(`node id prefix '${prefix}' is ambiguous: ${matches.map((m) => m.slice(0, 16)).join(', ')}`);
  }

  /** Handles one admin request. */
  async handle(r: AdminRequest): Promise<unknown> {
    const layout = this.system.layout;
    switch (r.op) {
      case 'status': {
        const lines = await this.system.clusterStatus();
        const roles = new Map(current(layout.history).roles.map((x) => [x.id, x]));
        const seen = new Set(lines.map((l) => l.peer.id));
        const nodes = lines.map((l) => ({ status: l.node, peer: l.peer, role: roles.get(l.peer.id) }));
        for (const [id, role] of roles)
          if (!seen.has(id)) nodes.push({ status: undefined, peer: { id, connected: false }, role });
        return { nodes, layoutVersion: current(layout.history).version } satisfies StatusResult;
      }
      case 'node-id':
        return { id: this.rpc.id, addr: this.system.publicAddr };
      case 'node-connect':
        await this.system.membership.connectTo(r.peer);
        return null;
      case 'layout-show':
        return this.#layoutShow();
      case 'layout-assign': {
        let h = layout.history;
        const cur = new Map(stagedRoles(h).map((x) => [x.id, x]));
        for (const n of r.nodes) {
          const id = this.#findNode(n);
          const old = cur.get(id);
          const zone = r.zone ?? old?.zone;
          if (!zone) throw new AdminError(`no zone given for node ${id.slice(0, 16)}: use -z <zone>`);
          let capacity: number | null;
          if (r.gateway) capacity = null;
          else if (r.capacity !== undefined) capacity = r.capacity;
          else if (old) capacity = old.capacity;
          else
            throw new AdminError(
              `no capacity given for node ${id.slice(0, 16)}: use -c <capacity> or -g for a gateway`,
            );
          h = stageRole(h, id, { id, zone, capacity, tags: r.tags ?? old?.tags ?? [] });
        }
        for (const old of r.replace ?? []) h = stageRole(h, this.#findNode(old), null);
        await this.system.updateLayout(h);
        return null;
      }
      case 'layout-remove': {
        const id = this.#findNode(r.node);
        await this.system.updateLayout(stageRole(layout.history, id, null));
        return null;
      }
      case 'layout-config':
        await this.system.updateLayout(stageZoneRedundancy(layout.history, r.zoneRedundancy));
        return null;
      case 'layout-apply': {
        const { history, report } = applyStaged(layout.history, r.version, this.replicationFactor);
        await this.system.updateLayout(history);
        return { version: current(history).version, report };
      }
      case 'layout-skip-dead-nodes': {
        // Lets a transition finish without nodes that are down: their trackers are set for them.
        const cur = current(layout.history).version;
        if (r.version !== cur) throw new AdminError(`--version must be the current layout version (${cur})`);
        const up = new Set([
          this.rpc.id,
          ...this.system.membership
            .peers()
            .filter((p) => p.connected)
            .map((p) => p.id),
        ]);
        const dead = trackedNodes(layout.history).filter((n) => !up.has(n));
        if (dead.length === 0) throw new AdminError('every node of the current layout is up: nothing to skip');
        let h = layout.history;
        // The live replicas have synced the data the dead ones should hold; those catch up when they return.
        for (const n of dead) for (const t of ['ack', 'sync', 'syncAck'] as const) h = setTracker(h, t, n, cur);
        await this.system.updateLayout(h);
        return dead;
      }
      case 'layout-revert': {
        await this.system.updateLayout(revertStaged(layout.history, r.version));
        return null;
      }
      case 'bucket-list':
        return (await this.helpers.listBuckets()).map((b) => ({
          id: b.id.toString('hex'),
          created: b.created,
          globalAliases: this.helpers.globalAliases(b),
          localAliases: b.localAliases.filter(([, v]) => v.v).map(([k]) => k),
        }));
      case 'bucket-info':
        return this.#bucketInfo(await this.helpers.findBucket(r.name));
      case 'bucket-create':
        return this.#bucketInfo(await this.helpers.createBucket(r.name));
      case 'bucket-delete':
        await this.helpers.deleteBucket(await this.helpers.findBucket(r.name));
        return null;
      case 'bucket-allow':
      case 'bucket-deny': {
        const b = await this.helpers.findBucket(r.bucket);
        const k = await this.helpers.findKey(r.key);
        const cur = b.keys.find(([id]) => id === k.id)?.[1].v ?? { read: false, write: false, owner: false };
        const allow = r.op === 'bucket-allow';
        const set = (flag: boolean, was: boolean) => (flag ? allow : was);
        if (!r.read && !r.write && !r.owner)
          throw new AdminError('say which permission: --read, --write and/or --owner');
        await this.helpers.setKeyPerms(b, k.id, {
          read: set(r.read, cur.read),
          write: set(r.write, cur.write),
          owner: set(r.owner, cur.owner),
        });
        return this.#bucketInfo((await this.helpers.getBucket(b.id))!);
      }
      case 'bucket-alias': {
        const b = await this.helpers.findBucket(r.bucket);
        if (r.localKey) {
          const k = await this.helpers.findKey(r.localKey);
          await this.model.key.insert({ ...k, localAliases: lwwSet(k.localAliases, r.name, b.id.toString('hex')) });
          await this.model.bucket.insert({ ...b, localAliases: lwwSet(b.localAliases, `${k.id}:${r.name}`, true) });
        } else {
          const existing = await this.helpers.resolveBucket(r.name);
          if (existing && !existing.equals(b.id) && (await this.helpers.getBucket(existing)))
            throw new AdminError(`alias '${r.name}' already points to another bucket`);
          await this.model.bucketAlias.insert({ name: r.name, bucket: { ts: Date.now(), v: b.id } });
          await this.model.bucket.insert({ ...b, aliases: lwwSet(b.aliases, r.name, true) });
        }
        return null;
      }
      case 'bucket-unalias': {
        if (r.localKey) {
          const k = await this.helpers.findKey(r.localKey);
          const id = await this.helpers.resolveBucket(r.name, k);
          if (!id) throw new AdminError(`key ${k.id} has no local alias '${r.name}'`);
          await this.model.key.insert({ ...k, localAliases: lwwSet(k.localAliases, r.name, null) });
          const b = await this.helpers.getBucket(id);
          if (b)
            await this.model.bucket.insert({ ...b, localAliases: lwwSet(b.localAliases, `${k.id}:${r.name}`, false) });
        } else {
          const b = await this.helpers.findBucket(r.name);
          if (this.helpers.globalAliases(b).length <= 1 && b.localAliases.every(([, v]) => !v.v))
            throw new AdminError(`'${r.name}' is the last alias of its bucket; delete the bucket instead`);
          await this.model.bucketAlias.insert({ name: r.name, bucket: { ts: Date.now(), v: null } });
          await this.model.bucket.insert({ ...b, aliases: lwwSet(b.aliases, r.name, false) });
        }
        return null;
      }
      case 'bucket-website': {
        const b = await this.helpers.findBucket(r.bucket);
        const website = r.allow ? { index: r.index ?? 'index.html', errorDocument: r.errorDocument ?? null } : null;
        await this.model.bucket.insert({ ...b, website: lwwNext(b.website, website) });
        return null;
      }
      case 'bucket-set-quotas': {
        const b = await this.helpers.findBucket(r.bucket);
        const q = {
          maxSize: r.maxSize === undefined ? b.quotas.v.maxSize : r.maxSize,
          maxObjects: r.maxObjects === undefined ? b.quotas.v.maxObjects : r.maxObjects,
        };
        await this.model.bucket.insert({ ...b, quotas: lwwNext(b.quotas, q) });
        return q;
      }
      case 'key-list':
        return (await this.helpers.listKeys()).map((k) => ({ id: k.id, name: k.name.v }));
      case 'key-info':
        return this.#keyInfo(await this.helpers.findKey(r.pattern), r.showSecret);
      case 'key-new':
        return this.#keyInfo(await this.helpers.createKey(r.name), true);
      case 'key-import':
        return this.#keyInfo(await this.helpers.createKey(r.name, r.id, r.secret), true);
      case 'key-rename': {
        const k = await this.helpers.findKey(r.pattern);
        await this.model.key.insert({ ...k, name: lwwNext(k.name, r.name) });
        return this.#keyInfo((await this.model.key.get(Buffer.from(k.id), EMPTY))!, false);
      }
      case 'key-delete':
        await this.helpers.deleteKey(await this.helpers.findKey(r.pattern));
        return null;
      case 'key-allow':
      case 'key-deny': {
        const k = await this.helpers.findKey(r.pattern);
        if (!r.createBucket) throw new AdminError('say which permission: --create-bucket');
        await this.model.key.insert({ ...k, allowCreateBucket: lwwNext(k.allowCreateBucket, r.op === 'key-allow') });
        return this.#keyInfo((await this.model.key.get(Buffer.from(k.id), EMPTY))!, false);
      }
      case 'stats': {
        let stored = 0;
        for (const [hash, v] of this.model.blocks.rc.range({}))
          if (v.readBigUInt64BE(0) > 0n && (await this.model.blocks.store.locate(hash))) stored++;
        return {
          tables: this.model.tables().map((t) => ({
            name: t.schema.name,
            items: t.store.count(),
            queue: t.queue.count(),
            digest: createHash('sha256').update(t.digest.partitionRoots()).digest('hex').slice(0, 16),
          })),
          blocks: {
            refcounted: this.model.blocks.rc.count(),
            stored,
            resyncQueue: this.model.blocks.resync.count(),
            errors: this.model.blocks.errors.count(),
          },
        };
      }
      case 'worker-list':
        return this.workers.list();
      case 'block-list-errors':
        return this.model.blocks.listErrors();
      case 'block-info': {
        if (!/^[0-9a-f]{64}$/.test(r.hash)) throw new AdminError('a block hash is 64 hex characters');
        const hash = Buffer.from(r.hash, 'hex');
        const refs = this.model.blockRef.rangeLocal(hash, {}).map((x) => this.#describeRef(x.ref, x.deleted));
        return { ...(await this.model.blocks.info(hash)), refs };
      }
      case 'block-retry-now': {
        const hashes = r.all ? this.model.blocks.listErrors().map((e) => e.hash) : r.hashes;
        for (const h of hashes) {
          if (!/^[0-9a-f]{64}$/.test(h)) throw new AdminError(`invalid block hash '${h}'`);
          await this.model.blocks.requeue(Buffer.from(h, 'hex'));
        }
        return hashes.length;
      }
      case 'repair':
        return this.repair.launch(r.what);
      case 'all-nodes': {
        const nodes = [
          ...new Set([
            this.rpc.id,
            ...current(layout.history).roles.map((x) => x.id),
            ...this.system.membership
              .peers()
              .filter((p) => p.connected)
              .map((p) => p.id),
          ]),
        ];
        return Promise.all(
          nodes.map(async (node): Promise<NodeAnswer> => {
            try {
              const res = await call(this.rpc, node, ADMIN, r.req, { timeoutMs: 60_000, priority: 'high' });
              return { node, ...res.body };
            } catch (e) {
              return { node, error: errorMessage(e) };
            }
          }),
        );
      }
    }
  }

  #layoutShow(): LayoutShowResult {
    const h = this.system.layout.history;
    const cur = current(h);
    const perNode: Record<string, number> = {};
    for (const nodes of cur.assignment) for (const n of nodes) perNode[n] = (perNode[n] ?? 0) + 1;
    const res: LayoutShowResult = {
      version: cur.version,
      roles: cur.roles,
      staged: h.staging.roles.map(([id, v]) => ({ id, role: v.v })),
      stagedZoneRedundancy: h.staging.zoneRedundancy.v,
      zoneRedundancy: cur.zoneRedundancy,
      replicationFactor: this.replicationFactor,
      partitionsPerNode: perNode,
      partitionSize: cur.partitionSize,
      liveVersions: h.versions.map((v) => v.version),
      assignment: cur.assignment,
    };
    if (hasStagedChanges(h)) {
      try {
        res.preview = computeAssignment({
          roles: stagedRoles(h),
          replicationFactor: this.replicationFactor,
          zoneRedundancy: h.staging.zoneRedundancy.v ?? cur.zoneRedundancy,
          previous: cur.assignment.length ? cur.assignment : undefined,
          partitions: 256,
        }).report;
      } catch (e) {
        res.previewError = (e as Error).message;
      }
    }
    return res;
  }

  async #bucketInfo(b: BucketEntry): Promise<BucketInfo> {
    const keys = [];
    for (const [id, p] of b.keys) {
      if (!(p.v.read || p.v.write || p.v.owner)) continue;
      const k = await this.model.key.get(Buffer.from(id), EMPTY);
      keys.push({ id, name: k?.name.v ?? '', ...p.v });
    }
    const c = await this.model.bucketCounts(b.id);
    const usage = { objects: c.objects, bytes: c.bytes, unfinishedUploads: c.uploads };
    return {
      id: b.id.toString('hex'),
      created: b.created,
      globalAliases: this.helpers.globalAliases(b),
      localAliases: b.localAliases
        .filter(([, v]) => v.v)
        .map(([k]) => ({ keyId: k.split(':')[0]!, name: k.slice(k.indexOf(':') + 1) })),
      website: b.website.v,
      quotas: b.quotas.v,
      keys,
      ...usage,
    };
  }

  async #keyInfo(k: KeyEntry, showSecret: boolean): Promise<KeyInfo> {
    const buckets = [];
    for (const [bid, p] of k.buckets) {
      if (!(p.v.read || p.v.write || p.v.owner)) continue;
      const b = await this.helpers.getBucket(Buffer.from(bid, 'hex'));
      if (!b) continue;
      const local = k.localAliases.filter(([, v]) => v.v === bid).map(([n]) => n);
      buckets.push({ id: bid, aliases: [...this.helpers.globalAliases(b), ...local], ...p.v });
    }
    return {
      id: k.id,
      name: k.name.v,
      secret: showSecret ? k.secret : undefined,
      allowCreateBucket: k.allowCreateBucket.v,
      buckets,
    };
  }
}
