import type { RpcTransport } from '../rpc/rpc_helper.ts';
import type { System } from '../rpc/system.ts';
import type { Model } from '../model/garage.ts';
import type { ModelHelpers } from '../model/helpers.ts';
import type { Repair } from '../model/repair.ts';
import type { Workers } from '../util/background.ts';
import type { Db } from '../db/db.ts';

/** What the admin operations of a node work on. */
export interface AdminCtx {
  rpc: RpcTransport;
  system: System;
  model: Model;
  helpers: ModelHelpers;
  workers: Workers;
  repair: Repair;
  db: Db;
  replicationFactor: number;
  consistency: 'consistent' | 'degraded' | 'dangerous';
  /** Where CreateMetadataSnapshot writes (metadata_snapshots_dir, or metadata_dir/snapshots). */
  snapshotsDir: string;
  /** The tokens of the configuration (admin_token, metrics_token), when set. */
  adminToken: string | undefined;
  metricsToken: string | undefined;
}
