import { z } from 'zod';
import type { RpcTransport } from '../rpc/rpc_helper.ts';
import { call, endpoint, serve, zBuf, type Endpoint } from '../net/endpoint.ts';
import type { LayoutView } from '../rpc/layout/manager.ts';
import { errorMessage } from '../util/errors.ts';
import { tableMetrics } from '../util/metrics.ts';
import type { Logger } from '../util/log.ts';
import type { TableCore } from './table.ts';
import { SUBS } from './merkle.ts';

const zPartition = z.number().int().min(0).max(255);
/** The anti-entropy endpoints of one table (see merkle.ts for the digest they compare). */
function syncEndpoints(name: string) {
  return {
    roots: endpoint(`table-sync/${name}/roots`, z.object({}), zBuf),
    sums: endpoint(`table-sync/${name}/sums`, z.object({ partition: zPartition }), zBuf),
    leaves: endpoint(
      `table-sync/${name}/leaves`,
      z.object({ partition: zPartition, subs: z.array(z.number().int().nonnegative()) }),
      z.array(z.array(z.tuple([zBuf, zBuf]))),
    ),
    get: endpoint(`table-sync/${name}/get`, z.object({ keys: z.array(zBuf) }), z.array(zBuf.nullable())),
  };
}

/** Result of one anti-entropy pass. */
export interface SyncReport {
  partitions: number;
  pushed: number;
  pulled: number;
  errors: string[];
  /** Partitions not synced with enough replicas to have seen every acknowledged write. */
  incomplete: number;
}

/**
 * Anti-entropy for one table: compares the digests of each partition with the other
 * replicas of that partition and exchanges the entries that differ, both ways.
 */
export class TableSyncer {
  readonly table: TableCore;
  readonly rpc: RpcTransport;
  readonly layout: LayoutView;
  readonly log: Logger;
  readonly endpoints: ReturnType<typeof syncEndpoints>;

  constructor(table: TableCore, rpc: RpcTransport, layout: LayoutView, log: Logger) {
    this.table = table;
    this.rpc = rpc;
    this.layout = layout;
    this.log = log;
    this.endpoints = syncEndpoints(table.schema.name);
    const d = table.digest;
    serve(rpc, this.endpoints.roots, async () => d.partitionRoots());
    serve(rpc, this.endpoints.sums, async (_from, m) => d.partitionSums(m.partition));
    serve(rpc, this.endpoints.leaves, async (_from, m) => m.subs.map((s) => d.leavesOf(m.partition, s)));
    serve(rpc, this.endpoints.get, async (_from, m) => m.keys.map((k) => table.store.get(k) ?? null));
  }

  /** Replica sets (one per live layout version) of each partition this node holds. */
  #setsByPartition(): Map<number, string[][]> {
    const self = this.rpc.id;
    const out = new Map<number, string[][]>();
    for (let p = 0; p < 256; p++) {
      const hash = Buffer.alloc(32);
      hash[0] = p;
      const sets = this.table.replication.syncSets(hash);
      if (sets.some((s) => s.includes(self))) out.set(p, sets);
    }
    return out;
  }

  /**
   * Runs one full pass with every other replica of every partition this node holds. A
   * partition counts as synced when, in each live replica set, this node has merged with
   * enough members (itself included) that any write quorum intersects them: then it has
   * seen every acknowledged write, even if some replicas are down.
   */
  async syncAll(): Promise<SyncReport> {
    const self = this.rpc.id;
    const report: SyncReport = { partitions: 0, pushed: 0, pulled: 0, errors: [], incomplete: 0 };
    const setsByPartition = this.#setsByPartition();
    const byPeer = new Map<string, number[]>();
    for (const [p, sets] of setsByPartition)
      for (const peer of new Set(sets.flat())) if (peer !== self) byPeer.set(peer, [...(byPeer.get(peer) ?? []), p]);
    const ok = new Set<string>([self]);
    await Promise.all(
      [...byPeer].map(async ([peer, partitions]) => {
        try {
          await this.#syncWith(peer, partitions, report);
          ok.add(peer);
        } catch (e) {
          report.errors.push(`${peer.slice(0, 16)}: ${errorMessage(e)}`);
        }
      }),
    );
    for (const sets of setsByPartition.values()) {
      const enough = sets.every(
        (s) => s.filter((n) => ok.has(n)).length >= s.length - this.table.writeQuorum(s.length) + 1,
      );
      if (!enough) report.incomplete++;
    }
    return report;
  }

  async #call<Req, Res>(peer: string, ep: Endpoint<Req, Res>, m: Req): Promise<Res> {
    return (await call(this.rpc, peer, ep, m, { priority: 'background', timeoutMs: 60_000 })).body;
  }

  async #syncWith(peer: string, partitions: number[], report: SyncReport): Promise<void> {
    const d = this.table.digest;
    const remoteRoots = await this.#call(peer, this.endpoints.roots, {});
    const localRoots = d.partitionRoots();
    for (const p of partitions) {
      report.partitions++;
      if (remoteRoots.subarray(32 * p, 32 * p + 32).equals(localRoots.subarray(32 * p, 32 * p + 32))) continue;
      const remoteSums = await this.#call(peer, this.endpoints.sums, { partition: p });
      const localSums = d.partitionSums(p);
      const subs: number[] = [];
      for (let s = 0; s < SUBS; s++)
        if (!remoteSums.subarray(32 * s, 32 * s + 32).equals(localSums.subarray(32 * s, 32 * s + 32))) subs.push(s);
      for (let i = 0; i < subs.length; i += 32) {
        const batch = subs.slice(i, i + 32);
        const remote = await this.#call(peer, this.endpoints.leaves, { partition: p, subs: batch });
        const push: Buffer[] = [];
        const pull: Buffer[] = [];
        batch.forEach((s, j) => {
          const theirs = new Map(remote[j]!.map(([k, v]) => [k.toString('hex'), v]));
          for (const [k, v] of d.leavesOf(p, s)) {
            const t = theirs.get(k.toString('hex'));
            if (!t?.equals(v)) push.push(k);
            if (t && !t.equals(v)) pull.push(k);
            theirs.delete(k.toString('hex'));
          }
          for (const k of theirs.keys()) pull.push(Buffer.from(k, 'hex'));
        });
        if (push.length) {
          const entries = push.map((k) => this.table.store.get(k)).filter((b): b is Buffer => b !== undefined);
          for (let j = 0; j < entries.length; j += 100) {
            await this.#call(peer, this.table.endpoints.update, { entries: entries.slice(j, j + 100) });
          }
          report.pushed += entries.length;
          tableMetrics.syncSent.inc({ table_name: this.table.schema.name, to: peer.slice(0, 16) }, entries.length);
        }
        for (let j = 0; j < pull.length; j += 100) {
          const got = await this.#call(peer, this.endpoints.get, { keys: pull.slice(j, j + 100) });
          const entries = got.filter((b): b is Buffer => b !== null);
          if (entries.length) await this.table.applyLocal(entries);
          report.pulled += entries.length;
          tableMetrics.syncReceived.inc(
            { table_name: this.table.schema.name, from: peer.slice(0, 16) },
            entries.length,
          );
        }
      }
    }
  }
}
