// The operations of Garage's admin API v2: their requests (zod schemas, checked where a request
// enters, over HTTP or from the CLI's RPC) and their responses (TypeScript types), with the field
// names of the contract so that a client written for Garage works unchanged.

import { z } from 'zod';

const str = z.string();
const bool = z.boolean();
const u64 = z.number().int().nonnegative();
const optStr = str.nullable().optional();
/** An RFC 3339 date, as Garage writes and reads them. */
const date = z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'expected an RFC 3339 date');

const perm = z.object({ owner: bool.optional(), read: bool.optional(), write: bool.optional() });
const keyPerm = z.object({ createBucket: bool.optional() });
const quotas = z.object({ maxObjects: u64.nullable().optional(), maxSize: u64.nullable().optional() });
const zoneRedundancy = z.union([z.object({ atLeast: z.number().int().positive() }), z.literal('maximum')]);
const layoutParams = z.object({ zoneRedundancy });
const roleChange = z.union([
  z.object({ id: str, remove: z.literal(true) }),
  z.object({ id: str, zone: str, tags: z.array(str), capacity: u64.nullable().optional() }),
]);
const aliasRef = z.union([
  z.object({ bucketId: str, globalAlias: str }),
  z.object({ bucketId: str, localAlias: str, accessKeyId: str }),
]);
const bucketKeyPerm = z.object({ bucketId: str, accessKeyId: str, permissions: perm });
const tokenBody = z.object({
  name: optStr,
  expiration: date.nullable().optional(),
  neverExpires: bool.optional(),
  scope: z.array(str).nullable().optional(),
});
const keyBody = z.object({
  name: optStr,
  allow: keyPerm.nullable().optional(),
  deny: keyPerm.nullable().optional(),
  expiration: date.nullable().optional(),
  neverExpires: bool.optional(),
});
const none = z.object({});
const scrubCommand = z.enum(['start', 'pause', 'resume', 'cancel']);
export const repairType = z.union([
  z.enum(['tables', 'blocks', 'versions', 'multipartUploads', 'blockRefs', 'blockRc', 'rebalance', 'aliases']),
  z.object({ scrub: scrubCommand }),
]);
export type RepairType = z.infer<typeof repairType>;

/** The request of each node-local operation (the `body` of its node-targeted form). */
export const LOCAL_REQUESTS = {
  GetNodeInfo: none,
  GetNodeStatistics: none,
  CreateMetadataSnapshot: none,
  ListWorkers: z.object({ busyOnly: bool.optional(), errorOnly: bool.optional() }),
  GetWorkerInfo: z.object({ id: u64 }),
  GetWorkerVariable: z.object({ variable: optStr }),
  SetWorkerVariable: z.object({ variable: str, value: str }),
  LaunchRepairOperation: z.object({ repairType }),
  ListBlockErrors: none,
  GetBlockInfo: z.object({ blockHash: str }),
  RetryBlockResync: z.union([z.object({ all: bool }), z.object({ blockHashes: z.array(str) })]),
  PurgeBlocks: z.array(str),
} as const;
export type LocalOp = keyof typeof LOCAL_REQUESTS;
export type LocalRequest<O extends LocalOp> = z.infer<(typeof LOCAL_REQUESTS)[O]>;

/** The request of each cluster-wide operation: its query parameters, and `body` when it has one. */
export const CLUSTER_REQUESTS = {
  GetClusterStatus: none,
  GetClusterHealth: none,
  GetClusterStatistics: none,
  ConnectClusterNodes: z.object({ body: z.array(str) }),
  GetClusterLayout: none,
  GetClusterLayoutHistory: none,
  /** Not in Garage: the partition → nodes assignment of each live version (for tooling and tests). */
  GetClusterLayoutPartitions: none,
  UpdateClusterLayout: z.object({
    body: z.object({ roles: z.array(roleChange).optional(), parameters: layoutParams.nullable().optional() }),
  }),
  PreviewClusterLayoutChanges: none,
  ApplyClusterLayout: z.object({ body: z.object({ version: u64 }) }),
  RevertClusterLayout: none,
  ClusterLayoutSkipDeadNodes: z.object({ body: z.object({ version: u64, allowMissingData: bool }) }),
  ListAdminTokens: none,
  GetAdminTokenInfo: z.object({ id: str.optional(), search: str.optional() }),
  GetCurrentAdminTokenInfo: none,
  CreateAdminToken: z.object({ body: tokenBody }),
  UpdateAdminToken: z.object({ id: str, body: tokenBody }),
  DeleteAdminToken: z.object({ id: str }),
  ListKeys: none,
  GetKeyInfo: z.object({ id: str.optional(), search: str.optional(), showSecretKey: bool.optional() }),
  CreateKey: z.object({ body: keyBody }),
  ImportKey: z.object({ body: z.object({ accessKeyId: str, secretAccessKey: str, name: optStr }) }),
  UpdateKey: z.object({ id: str, body: keyBody }),
  DeleteKey: z.object({ id: str }),
  ListBuckets: none,
  GetBucketInfo: z.object({ id: str.optional(), globalAlias: str.optional(), search: str.optional() }),
  CreateBucket: z.object({
    body: z.object({
      globalAlias: optStr,
      localAlias: z.object({ accessKeyId: str, alias: str, allow: perm.optional() }).nullable().optional(),
    }),
  }),
  UpdateBucket: z.object({
    id: str,
    body: z.object({
      quotas: quotas.nullable().optional(),
      websiteAccess: z.object({ enabled: bool, indexDocument: optStr, errorDocument: optStr }).nullable().optional(),
    }),
  }),
  DeleteBucket: z.object({ id: str }),
  CleanupIncompleteUploads: z.object({ body: z.object({ bucketId: str, olderThanSecs: u64 }) }),
  InspectObject: z.object({ bucketId: str, key: str }),
  AllowBucketKey: z.object({ body: bucketKeyPerm }),
  DenyBucketKey: z.object({ body: bucketKeyPerm }),
  AddBucketAlias: z.object({ body: aliasRef }),
  RemoveBucketAlias: z.object({ body: aliasRef }),
} as const;
export type ClusterOp = keyof typeof CLUSTER_REQUESTS;
export type ClusterRequest<O extends ClusterOp> = z.infer<(typeof CLUSTER_REQUESTS)[O]>;

/** Every operation: cluster-wide ones, and node-local ones in their node-targeted form. */
export type AdminOp = ClusterOp | LocalOp;
/** The request of an operation (a node-local one gains `node` and carries its own request as `body`). */
export type AdminRequest<O extends AdminOp> = O extends ClusterOp
  ? ClusterRequest<O>
  : O extends LocalOp
    ? { node: string; body: LocalRequest<O> }
    : never;

/** Whether a string names an operation. */
export function isAdminOp(s: string): s is AdminOp {
  return Object.hasOwn(CLUSTER_REQUESTS, s) || Object.hasOwn(LOCAL_REQUESTS, s);
}

/** Whether an operation runs on nodes named by `node`. */
export function isLocalOp(op: AdminOp): op is LocalOp {
  return Object.hasOwn(LOCAL_REQUESTS, op);
}

// ---- responses ----

export interface ApiBucketKeyPerm {
  owner: boolean;
  read: boolean;
  write: boolean;
}
export interface FreeSpace {
  available: number;
  total: number;
}
export interface NodeAssignedRole {
  zone: string;
  tags: string[];
  capacity: number | null;
}
export interface NodeResp {
  id: string;
  isUp: boolean;
  draining: boolean;
  addr: string | null;
  hostname: string | null;
  garageVersion: string | null;
  lastSeenSecsAgo: number | null;
  dataPartition: FreeSpace | null;
  metadataPartition: FreeSpace | null;
  role: NodeAssignedRole | null;
}
export interface ClusterHealth {
  status: 'healthy' | 'degraded' | 'unavailable';
  knownNodes: number;
  connectedNodes: number;
  storageNodes: number;
  storageNodesOk: number;
  partitions: number;
  partitionsQuorum: number;
  partitionsAllOk: number;
}
export type ApiZoneRedundancy = { atLeast: number } | 'maximum';
export interface LayoutNodeRole extends NodeAssignedRole {
  id: string;
  storedPartitions: number | null;
  usableCapacity: number | null;
}
export type NodeRoleChange = { id: string; remove: true } | ({ id: string } & NodeAssignedRole);
export interface ClusterLayout {
  version: number;
  roles: LayoutNodeRole[];
  parameters: { zoneRedundancy: ApiZoneRedundancy };
  partitionSize: number;
  stagedRoleChanges: NodeRoleChange[];
  stagedParameters: { zoneRedundancy: ApiZoneRedundancy } | null;
}
export interface ClusterLayoutHistory {
  currentVersion: number;
  minAck: number;
  versions: {
    version: number;
    status: 'Current' | 'Draining' | 'Historical';
    storageNodes: number;
    gatewayNodes: number;
  }[];
  updateTrackers: Record<string, { ack: number; sync: number; syncAck: number }> | null;
}
export interface AdminTokenInfo {
  id: string | null;
  name: string;
  created: string | null;
  expiration: string | null;
  expired: boolean;
  scope: string[];
}
export interface KeyListItem {
  id: string;
  name: string;
  created: string | null;
  expiration: string | null;
  expired: boolean;
}
export interface KeyInfo {
  accessKeyId: string;
  name: string;
  created: string | null;
  expiration: string | null;
  expired: boolean;
  secretAccessKey: string | null;
  permissions: { createBucket: boolean };
  buckets: { id: string; globalAliases: string[]; localAliases: string[]; permissions: ApiBucketKeyPerm }[];
}
export interface BucketListItem {
  id: string;
  created: string;
  globalAliases: string[];
  localAliases: { accessKeyId: string; alias: string }[];
}
export interface BucketInfo {
  id: string;
  created: string;
  globalAliases: string[];
  websiteAccess: boolean;
  websiteConfig: { indexDocument: string; errorDocument: string | null } | null;
  keys: { accessKeyId: string; name: string; permissions: ApiBucketKeyPerm; bucketLocalAliases: string[] }[];
  objects: number;
  bytes: number;
  unfinishedUploads: number;
  unfinishedMultipartUploads: number;
  unfinishedMultipartUploadParts: number;
  unfinishedMultipartUploadBytes: number;
  quotas: { maxSize: number | null; maxObjects: number | null };
}
export interface InspectObject {
  bucketId: string;
  key: string;
  versions: {
    uuid: string;
    timestamp: string;
    encrypted: boolean;
    uploading: boolean;
    aborted: boolean;
    deleteMarker: boolean;
    inline: boolean;
    size: number | null;
    etag: string | null;
    headers: [string, string][];
    blocks: { partNumber: number; offset: number; hash: string; size: number }[];
  }[];
}
export type WorkerState = 'busy' | 'idle' | 'done' | { throttled: { durationSecs: number } };
export interface WorkerInfoResp {
  id: number;
  name: string;
  state: WorkerState;
  errors: number;
  consecutiveErrors: number;
  lastError: { message: string; secsAgo: number } | null;
  tranquility: number | null;
  progress: string | null;
  queueLength: number | null;
  persistentErrors: number | null;
  freeform: string[];
}
export interface BlockError {
  blockHash: string;
  refcount: number;
  errorCount: number;
  lastTrySecsAgo: number;
  nextTryInSecs: number;
}
export interface BlockVersion {
  versionId: string;
  refDeleted: boolean;
  versionDeleted: boolean;
  garbageCollected: boolean;
  backlink:
    | { object: { bucketId: string; key: string } }
    | {
        upload: {
          uploadId: string;
          uploadDeleted: boolean;
          uploadGarbageCollected: boolean;
          bucketId: string | null;
          key: string | null;
        };
      }
    | null;
  /** Not in Garage: this node's group row of the reference, and the version's state in its object. */
  groupRow?: 'absent' | 'deleted' | 'live';
  objectVersion?: string | null;
}
export interface BlockInfo {
  blockHash: string;
  refcount: number;
  versions: BlockVersion[];
}

/** What each node-local operation answers. */
export interface LocalResponses {
  GetNodeInfo: {
    nodeId: string;
    garageVersion: string;
    garageFeatures: string[] | null;
    rustVersion: string;
    dbEngine: string;
  };
  GetNodeStatistics: { freeform: string };
  CreateMetadataSnapshot: null;
  ListWorkers: WorkerInfoResp[];
  GetWorkerInfo: WorkerInfoResp;
  GetWorkerVariable: Record<string, string>;
  SetWorkerVariable: { variable: string; value: string };
  /** Garage answers null; this project answers what was launched (and the result of blockRc). */
  LaunchRepairOperation: string;
  ListBlockErrors: BlockError[];
  GetBlockInfo: BlockInfo;
  RetryBlockResync: { count: number };
  PurgeBlocks: {
    blocksPurged: number;
    objectsDeleted: number;
    uploadsDeleted: number;
    versionsDeleted: number;
    blockRefsPurged: number;
  };
}

/** A node-targeted answer: each node's result or error, by node id. */
export interface MultiResponse<T> {
  success: Record<string, T>;
  error: Record<string, string>;
}

/** What each cluster-wide operation answers. */
export interface ClusterResponses {
  GetClusterStatus: { layoutVersion: number; nodes: NodeResp[] };
  GetClusterHealth: ClusterHealth;
  GetClusterStatistics: { freeform: string };
  ConnectClusterNodes: { success: boolean; error: string | null }[];
  GetClusterLayout: ClusterLayout;
  GetClusterLayoutHistory: ClusterLayoutHistory;
  GetClusterLayoutPartitions: { versions: { version: number; partitions: string[][] }[] };
  UpdateClusterLayout: ClusterLayout;
  PreviewClusterLayoutChanges: { error: string } | { message: string[]; newLayout: ClusterLayout };
  ApplyClusterLayout: { message: string[]; layout: ClusterLayout };
  RevertClusterLayout: ClusterLayout;
  ClusterLayoutSkipDeadNodes: { ackUpdated: string[]; syncUpdated: string[] };
  ListAdminTokens: AdminTokenInfo[];
  GetAdminTokenInfo: AdminTokenInfo;
  GetCurrentAdminTokenInfo: AdminTokenInfo;
  CreateAdminToken: AdminTokenInfo & { secretToken: string };
  UpdateAdminToken: AdminTokenInfo;
  DeleteAdminToken: null;
  ListKeys: KeyListItem[];
  GetKeyInfo: KeyInfo;
  CreateKey: KeyInfo;
  ImportKey: KeyInfo;
  UpdateKey: KeyInfo;
  DeleteKey: null;
  ListBuckets: BucketListItem[];
  GetBucketInfo: BucketInfo;
  CreateBucket: BucketInfo;
  UpdateBucket: BucketInfo;
  DeleteBucket: null;
  CleanupIncompleteUploads: { uploadsDeleted: number };
  InspectObject: InspectObject;
  AllowBucketKey: BucketInfo;
  DenyBucketKey: BucketInfo;
  AddBucketAlias: BucketInfo;
  RemoveBucketAlias: BucketInfo;
}

/** What an operation answers. */
export type AdminResponse<O extends AdminOp> = O extends ClusterOp
  ? ClusterResponses[O]
  : O extends LocalOp
    ? MultiResponse<LocalResponses[O]>
    : never;
