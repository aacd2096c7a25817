import { z } from 'zod';
import { endpoint } from '../net/endpoint.ts';
import type { NodeRole, ZoneRedundancy, AssignReport } from './layout/assign.ts';
import type { NodeStatus, PeerInfo } from './system.ts';

/** Requests the CLI sends to a daemon's `admin` endpoint. */
export type AdminRequest =
  | { op: 'status' }
  | { op: 'node-id' }
  | { op: 'node-connect'; peer: string }
  | { op: 'layout-show' }
  | {
      op: 'layout-assign';
      nodes: string[];
      zone?: string;
      capacity?: number;
      gateway?: boolean;
      tags?: string[];
      replace?: string[];
    }
  | { op: 'layout-remove'; node: string }
  | { op: 'layout-config'; zoneRedundancy: ZoneRedundancy }
  | { op: 'layout-apply'; version?: number }
  | { op: 'layout-revert'; version?: number }
  | { op: 'layout-skip-dead-nodes'; version: number; allowMissingData: boolean }
  | { op: 'bucket-list' }
  | { op: 'bucket-info'; name: string }
  | { op: 'bucket-create'; name: string }
  | { op: 'bucket-delete'; name: string }
  | { op: 'bucket-allow' | 'bucket-deny'; bucket: string; key: string; read: boolean; write: boolean; owner: boolean }
  | { op: 'bucket-alias'; bucket: string; name: string; localKey?: string }
  | { op: 'bucket-unalias'; name: string; localKey?: string }
  | { op: 'bucket-website'; bucket: string; allow: boolean; index?: string; errorDocument?: string }
  /** undefined: unchanged; null: no limit. */
  | { op: 'bucket-set-quotas'; bucket: string; maxSize?: number | null; maxObjects?: number | null }
  | { op: 'key-list' }
  | { op: 'key-info'; pattern: string; showSecret: boolean }
  | { op: 'key-new'; name: string }
  | { op: 'key-import'; id: string; secret: string; name: string }
  | { op: 'key-rename'; pattern: string; name: string }
  | { op: 'key-delete'; pattern: string }
  | { op: 'key-allow' | 'key-deny'; pattern: string; createBucket: boolean }
  | { op: 'stats' }
  | { op: 'worker-list' }
  | { op: 'block-list-errors' }
  | { op: 'block-info'; hash: string }
  | { op: 'block-retry-now'; hashes: string[]; all: boolean }
  | { op: 'repair'; what: 'tables' | 'blocks' | 'versions' | 'block-refs' | 'block-rc' | 'scrub' }
  /** Runs `req` on every node of the cluster and gathers the answers. */
  | { op: 'all-nodes'; req: AdminRequest };

const str = z.string();
const bool = z.boolean();
const perm = { bucket: str, key: str, read: bool, write: bool, owner: bool };
const keyPerm = { pattern: str, createBucket: bool };
const version = z.number().int().nonnegative();
const quota = z.number().int().nonnegative().nullable().optional();

/** The schema of AdminRequest, checked where a request enters the daemon. */
export const adminRequestSchema: z.ZodType<AdminRequest> = z.lazy(() =>
  z.discriminatedUnion('op', [
    z.object({ op: z.literal('status') }),
    z.object({ op: z.literal('node-id') }),
    z.object({ op: z.literal('node-connect'), peer: str }),
    z.object({ op: z.literal('layout-show') }),
    z.object({
      op: z.literal('layout-assign'),
      nodes: z.array(str),
      zone: str.optional(),
      capacity: z.number().nonnegative().optional(),
      gateway: bool.optional(),
      tags: z.array(str).optional(),
      replace: z.array(str).optional(),
    }),
    z.object({ op: z.literal('layout-remove'), node: str }),
    z.object({ op: z.literal('layout-config'), zoneRedundancy: z.union([z.literal('maximum'), z.number().int()]) }),
    z.object({ op: z.literal('layout-apply'), version: version.optional() }),
    z.object({ op: z.literal('layout-revert'), version: version.optional() }),
    z.object({ op: z.literal('layout-skip-dead-nodes'), version, allowMissingData: bool }),
    z.object({ op: z.literal('bucket-list') }),
    z.object({ op: z.literal('bucket-info'), name: str }),
    z.object({ op: z.literal('bucket-create'), name: str }),
    z.object({ op: z.literal('bucket-delete'), name: str }),
    z.object({ op: z.literal('bucket-allow'), ...perm }),
    z.object({ op: z.literal('bucket-deny'), ...perm }),
    z.object({ op: z.literal('bucket-alias'), bucket: str, name: str, localKey: str.optional() }),
    z.object({ op: z.literal('bucket-unalias'), name: str, localKey: str.optional() }),
    z.object({
      op: z.literal('bucket-website'),
      bucket: str,
      allow: bool,
      index: str.optional(),
      errorDocument: str.optional(),
    }),
    z.object({ op: z.literal('bucket-set-quotas'), bucket: str, maxSize: quota, maxObjects: quota }),
    z.object({ op: z.literal('key-list') }),
    z.object({ op: z.literal('key-info'), pattern: str, showSecret: bool }),
    z.object({ op: z.literal('key-new'), name: str }),
    z.object({ op: z.literal('key-import'), id: str, secret: str, name: str }),
    z.object({ op: z.literal('key-rename'), pattern: str, name: str }),
    z.object({ op: z.literal('key-delete'), pattern: str }),
    z.object({ op: z.literal('key-allow'), ...keyPerm }),
    z.object({ op: z.literal('key-deny'), ...keyPerm }),
    z.object({ op: z.literal('stats') }),
    z.object({ op: z.literal('worker-list') }),
    z.object({ op: z.literal('block-list-errors') }),
    z.object({ op: z.literal('block-info'), hash: str }),
    z.object({ op: z.literal('block-retry-now'), hashes: z.array(str), all: bool }),
    z.object({
      op: z.literal('repair'),
      what: z.enum(['tables', 'blocks', 'versions', 'block-refs', 'block-rc', 'scrub']),
    }),
    z.object({ op: z.literal('all-nodes'), req: adminRequestSchema }),
  ]),
);

/** What the daemon answers: the operation's result, or a user error to print as is. */
export const adminAnswerSchema = z.object({ ok: z.unknown().optional(), error: z.string().optional() });

/** The CLI → daemon endpoint. */
export const ADMIN = endpoint('admin', adminRequestSchema, adminAnswerSchema);

/** One reference to a block, as `garage block info` shows it: the rows this node holds. */
export interface BlockRefInfo {
  version: string;
  /** The block_ref row is a tombstone. */
  deleted: boolean;
  versionRow: 'absent' | 'deleted' | 'live';
  /** The version's group row that holds the reference. */
  groupRow: 'absent' | 'deleted' | 'live';
  key?: string;
  /** The state of that version in the object row here (absent: pruned or never seen). */
  objectVersion?: string;
}

/** One node's answer to an all-nodes request. */
export interface NodeAnswer {
  node: string;
  ok?: unknown;
  error?: string;
}

/** A node line of `garage status`. */
export interface StatusLine {
  status: NodeStatus | undefined;
  peer: PeerInfo;
  role?: NodeRole;
}

export interface StatusResult {
  nodes: StatusLine[];
  /** Nodes in the layout that are not connected. */
  layoutVersion: number;
}

export interface LayoutShowResult {
  version: number;
  roles: NodeRole[];
  staged: { id: string; role: NodeRole | null }[];
  stagedZoneRedundancy: ZoneRedundancy | null;
  zoneRedundancy: ZoneRedundancy;
  replicationFactor: number;
  partitionsPerNode: Record<string, number>;
  partitionSize: number;
  /** Versions still live (more than one while data moves after a change). */
  liveVersions: number[];
  /** For each partition, the nodes of the newest version holding it. */
  assignment: string[][];
  /** What applying the staged changes would give, or why it cannot be applied. */
  preview?: AssignReport;
  previewError?: string;
}

export interface BucketInfo {
  id: string;
  created: number;
  globalAliases: string[];
  localAliases: { keyId: string; name: string }[];
  website: { index: string; errorDocument: string | null } | null;
  quotas: { maxSize: number | null; maxObjects: number | null };
  keys: { id: string; name: string; read: boolean; write: boolean; owner: boolean }[];
  objects: number;
  bytes: number;
  unfinishedUploads: number;
}

export interface KeyInfo {
  id: string;
  name: string;
  secret?: string;
  allowCreateBucket: boolean;
  buckets: { id: string; aliases: string[]; read: boolean; write: boolean; owner: boolean }[];
}
