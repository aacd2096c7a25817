import { z } from 'zod';
import { call, endpoint, serve } from '../net/endpoint.ts';
import { current } from '../rpc/layout/history.ts';
import { AdminError, GarageError, LayoutError, QuorumError, errorMessage } from '../util/errors.ts';
import {
  CLUSTER_REQUESTS,
  LOCAL_REQUESTS,
  isAdminOp,
  isLocalOp,
  type AdminOp,
  type AdminTokenInfo,
  type ClusterOp,
  type ClusterRequest,
  type ClusterResponses,
  type LocalOp,
  type LocalRequest,
  type LocalResponses,
  type MultiResponse,
} from './api.ts';
import type { AdminCtx } from './context.ts';
import * as bucket from './bucket.ts';
import * as block from './block.ts';
import * as cluster from './cluster.ts';
import * as key from './key.ts';
import * as layout from './layout.ts';
import * as node from './node.ts';
import * as token from './token.ts';

/** Who calls an operation: the token it came with (GetCurrentAdminTokenInfo answers it). */
export interface Caller {
  token: AdminTokenInfo;
}

type ClusterHandlers = {
  [O in ClusterOp]: (ctx: AdminCtx, req: ClusterRequest<O>, caller: Caller) => Promise<ClusterResponses[O]>;
};
type LocalHandlers = { [O in LocalOp]: (ctx: AdminCtx, req: LocalRequest<O>) => Promise<LocalResponses[O]> };

const CLUSTER: ClusterHandlers = {
  GetClusterStatus: async (ctx) => cluster.getClusterStatus(ctx),
  GetClusterHealth: async (ctx) => cluster.clusterHealth(ctx),
  GetClusterStatistics: async (ctx) => cluster.getClusterStatistics(ctx),
  ConnectClusterNodes: async (ctx, r) => cluster.connectClusterNodes(ctx, r.body),
  GetClusterLayout: async (ctx) => layout.layoutOf(ctx.system.layout.history),
  GetClusterLayoutHistory: async (ctx) => layout.getClusterLayoutHistory(ctx),
  GetClusterLayoutPartitions: async (ctx) => ({
    versions: ctx.system.layout.history.versions.map((v) => ({ version: v.version, partitions: v.assignment })),
  }),
  UpdateClusterLayout: async (ctx, r) => layout.updateClusterLayout(ctx, r.body),
  PreviewClusterLayoutChanges: async (ctx) => layout.previewClusterLayoutChanges(ctx),
  ApplyClusterLayout: async (ctx, r) => layout.applyClusterLayout(ctx, r.body.version),
  RevertClusterLayout: async (ctx) => layout.revertClusterLayout(ctx),
  ClusterLayoutSkipDeadNodes: async (ctx, r) => layout.skipDeadNodes(ctx, r.body),
  ListAdminTokens: async (ctx) => token.listAdminTokens(ctx),
  GetAdminTokenInfo: async (ctx, r) => token.getAdminTokenInfo(ctx, r),
  GetCurrentAdminTokenInfo: async (_ctx, _r, caller) => caller.token,
  CreateAdminToken: async (ctx, r) => token.createAdminToken(ctx, r.body),
  UpdateAdminToken: async (ctx, r) => token.updateAdminToken(ctx, r),
  DeleteAdminToken: async (ctx, r) => token.deleteAdminToken(ctx, r.id),
  ListKeys: async (ctx) => key.listKeys(ctx),
  GetKeyInfo: async (ctx, r) => key.getKeyInfo(ctx, r),
  CreateKey: async (ctx, r) => key.createKey(ctx, r.body),
  ImportKey: async (ctx, r) => key.importKey(ctx, r.body),
  UpdateKey: async (ctx, r) => key.updateKey(ctx, r),
  DeleteKey: async (ctx, r) => key.deleteKey(ctx, r.id),
  ListBuckets: async (ctx) => bucket.listBuckets(ctx),
  GetBucketInfo: async (ctx, r) => bucket.getBucketInfo(ctx, r),
  CreateBucket: async (ctx, r) => bucket.createBucket(ctx, r.body),
  UpdateBucket: async (ctx, r) => bucket.updateBucket(ctx, r),
  DeleteBucket: async (ctx, r) => bucket.deleteBucket(ctx, r.id),
  CleanupIncompleteUploads: async (ctx, r) => bucket.cleanupIncompleteUploads(ctx, r.body),
  InspectObject: async (ctx, r) => bucket.inspectObject(ctx, r),
  AllowBucketKey: async (ctx, r) => bucket.changeBucketKeyPerm(ctx, r.body, true),
  DenyBucketKey: async (ctx, r) => bucket.changeBucketKeyPerm(ctx, r.body, false),
  AddBucketAlias: async (ctx, r) => bucket.addBucketAlias(ctx, r.body),
  RemoveBucketAlias: async (ctx, r) => bucket.removeBucketAlias(ctx, r.body),
};

const LOCAL: LocalHandlers = {
  GetNodeInfo: async (ctx) => node.getNodeInfo(ctx),
  GetNodeStatistics: async (ctx) => node.getNodeStatistics(ctx),
  CreateMetadataSnapshot: async (ctx) => node.createMetadataSnapshot(ctx),
  ListWorkers: async (ctx, r) => node.listWorkers(ctx, r),
  GetWorkerInfo: async (ctx, r) => node.getWorkerInfo(ctx, r.id),
  GetWorkerVariable: async (ctx, r) => node.getWorkerVariable(ctx, r.variable),
  SetWorkerVariable: async (ctx, r) => node.setWorkerVariable(ctx, r),
  LaunchRepairOperation: async (ctx, r) => node.launchRepair(ctx, r.repairType),
  ListBlockErrors: async (ctx) => block.listBlockErrors(ctx),
  GetBlockInfo: async (ctx, r) => block.getBlockInfo(ctx, r.blockHash),
  RetryBlockResync: async (ctx, r) => block.retryBlockResync(ctx, r),
  PurgeBlocks: async (ctx, r) => block.purgeBlocks(ctx, r),
};

const zError = z.object({ code: z.string(), message: z.string(), status: z.number().int() });
const zAnswer = z.object({ ok: z.unknown().optional(), error: zError.optional() });
/** An answer over RPC: the result, or an admin error to report as is. */
export type AdminAnswer = z.infer<typeof zAnswer>;

/** The CLI → daemon endpoint: any operation, checked on arrival as an HTTP request is. */
export const ADMIN_API = endpoint('admin/api', z.object({ op: z.string(), req: z.unknown() }), zAnswer);
/** Daemon → daemon: a node-local operation run on the node called. */
const ADMIN_LOCAL = endpoint('admin/local', z.object({ op: z.string(), req: z.unknown() }), zAnswer);

/** The error an answer carries, as the AdminError it was. */
export function answerError(e: z.infer<typeof zError>): AdminError {
  return new AdminError(e.message, e.code, e.status);
}

function parse<T>(schema: z.ZodType<T>, raw: unknown, op: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new AdminError(`invalid ${op} request: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
  return r.data;
}

/**
 * The admin error a failure is reported as: admin errors as they are, layout errors (a wrong
 * version, no layout yet) as bad requests, unreachable replicas as 503; anything else is a bug.
 */
export function toAdminError(e: unknown): AdminError | undefined {
  if (e instanceof AdminError) return e;
  if (e instanceof LayoutError) return new AdminError(e.message);
  if (e instanceof QuorumError) return new AdminError(e.message, 'ServiceUnavailable', 503);
  return undefined;
}

async function answer(fn: () => Promise<unknown>): Promise<AdminAnswer> {
  try {
    return { ok: await fn() };
  } catch (e) {
    const a = toAdminError(e);
    if (!a) throw e;
    return { error: { code: a.code, message: a.message, status: a.status } };
  }
}

// The schemas again, typed per operation so that a generic lookup keeps the request type.
const CLUSTER_SCHEMAS: { [O in ClusterOp]: z.ZodType<ClusterRequest<O>> } = CLUSTER_REQUESTS;
const LOCAL_SCHEMAS: { [O in LocalOp]: z.ZodType<LocalRequest<O>> } = LOCAL_REQUESTS;

function runCluster<O extends ClusterOp>(ctx: AdminCtx, op: O, raw: unknown, caller: Caller) {
  const schema = CLUSTER_SCHEMAS[op];
  const handler: ClusterHandlers[O] = CLUSTER[op];
  return handler(ctx, parse(schema, raw, op), caller);
}

function runLocal<O extends LocalOp>(ctx: AdminCtx, op: O, raw: unknown) {
  const schema = LOCAL_SCHEMAS[op];
  const handler: LocalHandlers[O] = LOCAL[op];
  return handler(ctx, parse(schema, raw, op));
}

/** The admin operations of a node, shared by the admin HTTP API and the CLI (over RPC). */
export class AdminApi {
  readonly ctx: AdminCtx;

  constructor(ctx: AdminCtx) {
    this.ctx = ctx;
    // The CLI holds rpc_secret, which gives full control of the cluster anyway.
    const cli: Caller = {
      token: { id: null, name: 'rpc_secret (CLI)', created: null, expiration: null, expired: false, scope: ['*'] },
    };
    serve(ctx.rpc, ADMIN_API, async (_from, m) => answer(() => this.runRaw(m.op, m.req, cli)));
    serve(ctx.rpc, ADMIN_LOCAL, async (_from, m) =>
      answer(async () => {
        if (!isAdminOp(m.op) || !isLocalOp(m.op)) throw new AdminError(`unknown node operation '${m.op}'`);
        return this.#local(m.op, m.req);
      }),
    );
  }

  /** Runs an operation from an untyped request (HTTP, RPC): unknown names and malformed requests are AdminErrors. */
  async runRaw(op: string, raw: unknown, caller: Caller): Promise<unknown> {
    if (!isAdminOp(op)) throw new AdminError(`unknown admin operation '${op}'`, 'InvalidRequest', 404);
    return this.#dispatch(op, raw, caller);
  }

  /** Runs a cluster-wide operation from a typed request (the schema still runs, as for any caller). */
  cluster<O extends ClusterOp>(op: O, req: ClusterRequest<O>, caller: Caller): Promise<ClusterResponses[O]> {
    return runCluster(this.ctx, op, req, caller);
  }

  #dispatch(op: AdminOp, raw: unknown, caller: Caller): Promise<unknown> {
    if (isLocalOp(op)) {
      const r = parse(z.object({ node: z.string(), body: z.unknown() }), raw, op);
      return this.#multi(op, r.node, r.body);
    }
    return runCluster(this.ctx, op, raw, caller);
  }

  #local(op: LocalOp, raw: unknown): Promise<unknown> {
    return runLocal(this.ctx, op, raw);
  }

  /** The nodes a `node` parameter names: `*` (every node known), `self`, or an id (or unique prefix). */
  targets(nodeParam: string): string[] {
    const ctx = this.ctx;
    if (nodeParam === 'self') return [ctx.rpc.id];
    if (nodeParam !== '*') return [layout.findNode(ctx, nodeParam)];
    return [
      ...new Set([ctx.rpc.id, ...current(ctx.system.layout.history).roles.map((r) => r.id), ...cluster.upNodes(ctx)]),
    ];
  }

  async #multi(op: LocalOp, nodeParam: string, body: unknown): Promise<MultiResponse<unknown>> {
    const out: MultiResponse<unknown> = { success: {}, error: {} };
    await Promise.all(
      this.targets(nodeParam).map(async (n) => {
        try {
          if (n === this.ctx.rpc.id) out.success[n] = await this.#local(op, body);
          else {
            const a = (
              await call(this.ctx.rpc, n, ADMIN_LOCAL, { op, req: body }, { timeoutMs: 60_000, priority: 'high' })
            ).body;
            if (a.error) out.error[n] = a.error.message;
            else out.success[n] = a.ok ?? null;
          }
        } catch (e) {
          if (!(e instanceof GarageError)) throw e;
          out.error[n] = errorMessage(e);
        }
      }),
    );
    return out;
  }
}
