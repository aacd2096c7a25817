// Conditional writes (If-None-Match: *, If-Match: <etag>) without consensus.
//
// A conditional writer first asks the replicas of the key for a claim on its version. A replica
// grants one when the condition holds on what it stores, the version is still uploading there,
// and no other live claim on the key is held; the grant is kept in a local tree (never
// replicated), so it survives a restart. The writer completes only with a write quorum of grants
// in every layout version. Two write quorums share a replica, and that replica grants only one of
// two concurrent claims: at most one of two concurrent conditional writers completes. A writer
// without a quorum releases its grants and aborts; it never completes a version on some replicas
// only, because a complete version there would prune the winner when they merge.

import { z } from 'zod';
import type { Db, Tree } from '../db/db.ts';
import { call, endpoint, serve, zBuf } from '../net/endpoint.ts';
import type { RpcTransport } from '../rpc/rpc_helper.ts';
import type { Table } from '../table/table.ts';
import { QuorumError, errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import { visibleVersion, type ObjectEntry, type ObjectFilter, type ObjectVersion } from './object.ts';

/** What a conditional write requires of the object it replaces. */
export type WriteCondition =
  | { t: 'absent' }
  /** The current version's ETag is one of these (unquoted; `*`: any object). */
  | { t: 'etag'; etags: string[] };

/** A replica's answer to a claim, and the writer's outcome. */
export type ClaimVote = 'granted' | 'failed' | 'missing' | 'conflict';

/**
 * How long a grant holds other conditional writers of the key off. A writer completes only if
 * its quorum of grants came within a third of it, so the rest covers the completion's delivery.
 */
export const CLAIM_LEASE_MS = 30_000;

const zCondition: z.ZodType<WriteCondition> = z.discriminatedUnion('t', [
  z.object({ t: z.literal('absent') }),
  z.object({ t: z.literal('etag'), etags: z.array(z.string()).max(100) }),
]);
const zTarget = z.object({ bucketId: zBuf, key: z.string(), uuid: zBuf });
const CLAIM = endpoint(
  'model/object/claim',
  zTarget.extend({ cond: zCondition }),
  z.enum(['granted', 'failed', 'missing', 'conflict']),
);
const RELEASE = endpoint('model/object/release', zTarget, z.null());

/** Whether `cond` holds for the version a GET would see. */
export function conditionHolds(cond: WriteCondition, current: ObjectVersion | undefined): ClaimVote {
  const v = current?.state.t === 'complete' && current.state.data.t !== 'deleteMarker' ? current.state.data : undefined;
  if (cond.t === 'absent') return v ? 'failed' : 'granted';
  if (!v) return 'missing';
  return cond.etags.some((e) => e === '*' || e === v.meta.etag) ? 'granted' : 'failed';
}

/** Claims on object versions for conditional writes: the replica side and the writer side. */
export class ObjectClaims {
  readonly #db: Db;
  readonly #rpc: RpcTransport;
  readonly #object: Table<ObjectEntry, ObjectFilter>;
  readonly #logger: Logger;
  /** object storage key → [granted at, ms u64][version uuid]. */
  readonly #grants: Tree;

  constructor(db: Db, rpc: RpcTransport, object: Table<ObjectEntry, ObjectFilter>, logger: Logger) {
    this.#db = db;
    this.#rpc = rpc;
    this.#object = object;
    this.#logger = logger;
    this.#grants = db.tree('object:claims');
    serve(rpc, CLAIM, async (_from, r) => this.vote(r.bucketId, r.key, r.uuid, r.cond));
    serve(rpc, RELEASE, async (_from, r) => {
      await this.release(r.bucketId, r.key, r.uuid);
      return null;
    });
  }

  /** Replica side: grants a claim on version `uuid` if `cond` holds here and no other live claim is held. */
  vote(bucketId: Buffer, key: string, uuid: Buffer, cond: WriteCondition, now = Date.now()): Promise<ClaimVote> {
    const sk = this.#object.storageKey(bucketId, Buffer.from(key));
    return this.#db.transaction((tx) => {
      const held = tx.get(this.#grants, sk);
      if (held && !held.subarray(8).equals(uuid) && now - Number(held.readBigUInt64BE(0)) < CLAIM_LEASE_MS)
        return 'conflict';
      const b = tx.get(this.#object.store, sk);
      const e = b ? this.#object.schema.decode(b) : undefined;
      const verdict = conditionHolds(cond, e ? visibleVersion(e) : undefined);
      if (verdict !== 'granted') return verdict;
      // Superseded here, or not arrived yet: this replica could not complete it.
      if (e?.versions.find((v) => v.uuid.equals(uuid))?.state.t !== 'uploading') return 'conflict';
      const grant = Buffer.alloc(8 + uuid.length);
      grant.writeBigUInt64BE(BigInt(now));
      uuid.copy(grant, 8);
      tx.put(this.#grants, sk, grant);
      return 'granted';
    });
  }

  /** Replica side: drops this version's claim on its key, if it holds it. */
  release(bucketId: Buffer, key: string, uuid: Buffer): Promise<void> {
    const sk = this.#object.storageKey(bucketId, Buffer.from(key));
    return this.#db.transaction((tx) => {
      if (tx.get(this.#grants, sk)?.subarray(8).equals(uuid)) tx.remove(this.#grants, sk);
    });
  }

  /**
   * Writer side: claims version `uuid` (uploading on its replicas) for a write under `cond`.
   * 'granted': complete it now, then `releaseAll`. Otherwise the grants obtained are already
   * released: 'failed' (412), 'missing' (404), 'conflict' (409, a concurrent conditional write).
   */
  async claim(bucketId: Buffer, key: string, uuid: Buffer, cond: WriteCondition): Promise<ClaimVote> {
    const sets = this.#object.replication.writeSets(this.#object.partitionHash(bucketId));
    const nodes = [...new Set(sets.flat())];
    const start = Date.now();
    const votes = new Map<string, ClaimVote>();
    const failed = new Set<string>();
    const errors: string[] = [];
    let final: ClaimVote | QuorumError | undefined;
    const outcome = await new Promise<ClaimVote | QuorumError>((resolve) => {
      const q = (s: string[]) => this.#object.writeQuorum(s.length);
      const granted = (s: string[]) => s.filter((n) => votes.get(n) === 'granted').length;
      const open = (s: string[]) => s.filter((n) => !votes.has(n) && !failed.has(n)).length;
      const decide = (): ClaimVote | QuorumError | undefined => {
        if (sets.every((s) => granted(s) >= q(s)))
          return Date.now() - start < CLAIM_LEASE_MS / 3 ? 'granted' : 'conflict';
        if (!sets.some((s) => granted(s) + open(s) < q(s))) return undefined;
        const seen = [...votes.values()];
        if (seen.includes('granted') || seen.includes('conflict')) return 'conflict';
        if (seen.includes('failed')) return 'failed';
        if (seen.includes('missing')) return 'missing';
        return new QuorumError(Math.max(...sets.map(q)), 0, errors);
      };
      const settle = () => {
        if (final !== undefined) return;
        final = decide();
        if (final !== undefined) resolve(final);
      };
      for (const node of nodes)
        call(this.#rpc, node, CLAIM, { bucketId, key, uuid, cond }, { priority: 'high' }).then(
          (r) => {
            votes.set(node, r.body);
            // A grant arriving after the outcome was decided against this writer: give it back.
            if (final !== undefined && final !== 'granted' && r.body === 'granted')
              this.#releaseOn(node, bucketId, key, uuid);
            settle();
          },
          (e: unknown) => {
            failed.add(node);
            errors.push(`${node.slice(0, 16)}: ${errorMessage(e)}`);
            settle();
          },
        );
    });
    if (outcome !== 'granted') this.releaseAll(bucketId, key, uuid);
    if (outcome instanceof QuorumError) throw outcome;
    return outcome;
  }

  /** Writer side: releases the claims of version `uuid` on every replica (in the background). */
  releaseAll(bucketId: Buffer, key: string, uuid: Buffer): void {
    const sets = this.#object.replication.writeSets(this.#object.partitionHash(bucketId));
    for (const node of new Set(sets.flat())) this.#releaseOn(node, bucketId, key, uuid);
  }

  #releaseOn(node: string, bucketId: Buffer, key: string, uuid: Buffer): void {
    call(this.#rpc, node, RELEASE, { bucketId, key, uuid }, { priority: 'background' }).catch((e: unknown) => {
      // An unreleased claim lapses after CLAIM_LEASE_MS.
      this.#logger.debug({ err: errorMessage(e) }, 'claim release failed');
    });
  }
}
