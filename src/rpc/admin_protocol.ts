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
