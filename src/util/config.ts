import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { durationMs } from './units.ts';

/** Parses a byte size such as `1048576`, `1M` (10^6), `1MiB` (2^20), `10G`, `1T` into bytes. */
export function parseSize(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new Error(`invalid size ${v}`);
    return Math.floor(v);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]?)(i?)[bB]?\s*$/.exec(v);
  if (!m) throw new Error(`invalid size '${v}' (expected e.g. 1048576, 1M, 10G, 1T, 1GiB)`);
  const exp = ['', 'K', 'M', 'G', 'T', 'P'].indexOf(m[2]!.toUpperCase());
  return Math.floor(Number(m[1]) * (m[3] ? 1024 : 1000) ** exp);
}

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

const addr = z.string();

const dataDirEntry = z.strictObject({
  path: z.string().min(1),
  capacity: size.optional(),
  read_only: z.boolean().optional(),
});

const s3Api = z.strictObject({
  api_bind_addr: addr.optional(),
  s3_region: z.string().min(1).default('garage'),
  root_domain: z.string().optional(),
});

const s3Web = z.strictObject({
  bind_addr: addr.optional(),
  root_domain: z.string().optional(),
  index: z.string().default('index.html'),
  add_host_to_metrics: z.boolean().optional(),
});

const admin = z.strictObject({
  api_bind_addr: addr.optional(),
  admin_token: z.string().optional(),
  admin_token_file: z.string().optional(),
  metrics_token: z.string().optional(),
  metrics_token_file: z.string().optional(),
  metrics_require_token: z.boolean().optional(),
  trace_sink: z.string().optional(),
});

/** Keys that older Garage versions accepted and that we accept and ignore with a warning. */
const IGNORED_KEYS = [
  'sled_cache_capacity',
  'sled_flush_every_ms',
  'sled_sync_interval_ms',
  'consul_host',
  'consul_service_name',
  'lmdb_map_size',
  'block_ram_buffer_max',
  'use_local_tz',
  'rpc_ping_timeout_msec',
  'rpc_timeout_msec',
  'allow_world_readable_secrets',
  'allow_punycode',
  'block_max_concurrent_reads',
  'block_max_concurrent_writes_per_request',
] as const;

const ignored = Object.fromEntries(IGNORED_KEYS.map((k) => [k, z.unknown().optional()]));

const schema = z.strictObject({
  metadata_dir: z.string().min(1),
  data_dir: z.union([z.string().min(1), z.array(dataDirEntry).min(1)]),
  db_engine: z.enum(['lmdb', 'sled', 'sqlite', 'fjall']).default('lmdb'),
  metadata_fsync: z.boolean().default(false),
  disable_scrub: z.boolean().default(false),
  data_fsync: z.boolean().default(false),
  block_size: size.default(1048576),
  replication_mode: z.enum(['none', '1', '2', '2-dangerous', '3', '3-degraded', '3-dangerous']).optional(),
  replication_factor: z.number().int().min(1).max(7).optional(),
  consistency_mode: z.enum(['consistent', 'degraded', 'dangerous']).optional(),
  compression_level: z.union([z.number().int().min(-99).max(22), z.literal('none')]).default(1),
  rpc_secret: z.string().optional(),
  rpc_secret_file: z.string().optional(),
  rpc_bind_addr: addr.default('[::]:3901'),
  rpc_bind_outgoing: z.boolean().optional(),
  rpc_public_addr: addr.optional(),
  rpc_public_addr_subnet: z.string().optional(),
  bootstrap_peers: z.array(z.string()).default([]),
  consul_discovery: z.record(z.string(), z.unknown()).optional(),
  kubernetes_discovery: z.record(z.string(), z.unknown()).optional(),
  s3_api: s3Api.default({ s3_region: 'garage' }),
  s3_web: s3Web.optional(),
  k2v_api: z.record(z.string(), z.unknown()).optional(),
  admin: admin.default({}),
  metadata_snapshots_dir: z.string().optional(),
  metadata_auto_snapshot_interval: z.string().optional(),
  ...ignored,
});

type RawConfig = z.infer<typeof schema>;

/** The validated configuration a node runs with. */
export interface Config {
  metadataDir: string;
  dataDirs: { path: string; capacity?: number; readOnly: boolean }[];
  dbEngine: 'lmdb';
  metadataFsync: boolean;
  dataFsync: boolean;
  /** No scheduled scrub (`garage repair scrub` still works). */
  disableScrub: boolean;
  blockSize: number;
  replicationFactor: number;
  consistencyMode: 'consistent' | 'degraded' | 'dangerous';
  /** zstd level, or null when compression is disabled. */
  compressionLevel: number | null;
  rpcSecret: Buffer;
  rpcBindAddr: string;
  rpcPublicAddr?: string;
  bootstrapPeers: string[];
  s3Api: { bindAddr?: string; region: string; rootDomain?: string };
  s3Web?: { bindAddr?: string; rootDomain?: string; index: string };
  admin: { bindAddr?: string; adminToken?: string; metricsToken?: string; metricsRequireToken: boolean };
  /** Where metadata snapshots go (metadata_snapshots_dir; default metadata_dir/snapshots). */
  metadataSnapshotsDir: string;
  /** Take a metadata snapshot this often (ms; metadata_auto_snapshot_interval), or never. */
  metadataAutoSnapshotMs?: number;
  /** Human-readable warnings about accepted-but-ignored keys. */
  warnings: string[];
}

/** Parses a duration such as `6h`, `1d 12h` or `30min` (humantime, as Garage reads it) into ms. */
export function parseDuration(text: string, key: string, source: string): number {
  const ms = durationMs(text);
  if (ms === undefined)
    throw new ConfigError(
      `invalid configuration in ${source}: '${key}' must be a duration such as "6h" or "1d", got '${text}'`,
    );
  if (ms < 60_000) throw new ConfigError(`invalid configuration in ${source}: '${key}' must be at least one minute`);
  return ms;
}

function readSecretFile(file: string, key: string, source: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(`${source}: ${key}: cannot read '${file}': ${(e as Error).message}`);
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `'${k}'`).join(', ')}${path ? ` in [${path}]` : ''}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined)
    return `missing required key '${path}' (expected ${issue.expected})`;
  return `key '${path}': ${issue.message}`;
}

/** Validates a parsed TOML document (or an equivalent object) into a Config. */
export function configFromObject(obj: unknown, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const res = schema.safeParse(obj);
  if (!res.success) {
    throw new ConfigError(`invalid configuration in ${source}: ${res.error.issues.map(describeIssue).join('; ')}`);
  }
  const raw: RawConfig = res.data;
  const warnings: string[] = [];
  for (const k of IGNORED_KEYS)
    if ((raw as Record<string, unknown>)[k] !== undefined)
      warnings.push(`${source}: key '${k}' is accepted for compatibility and ignored`);
  if (raw.db_engine !== 'lmdb') warnings.push(`${source}: db_engine '${raw.db_engine}' is not available; using 'lmdb'`);

  let secretHex = env.GARAGE_RPC_SECRET ?? raw.rpc_secret;
  if (secretHex === undefined && raw.rpc_secret_file)
    secretHex = readSecretFile(raw.rpc_secret_file, 'rpc_secret_file', source);
  if (secretHex === undefined && env.GARAGE_RPC_SECRET_FILE)
    secretHex = readSecretFile(env.GARAGE_RPC_SECRET_FILE, 'GARAGE_RPC_SECRET_FILE', source);
  if (secretHex === undefined)
    throw new ConfigError(
      `invalid configuration in ${source}: missing 'rpc_secret' (or 'rpc_secret_file', or env GARAGE_RPC_SECRET): expected 64 hex characters`,
    );
  if (!/^[0-9a-fA-F]{64}$/.test(secretHex))
    throw new ConfigError(
      `invalid configuration in ${source}: key 'rpc_secret': expected 32 bytes as 64 hex characters (e.g. from 'openssl rand -hex 32')`,
    );

  let replicationFactor = raw.replication_factor;
  let consistency = raw.consistency_mode;
  if (raw.replication_mode !== undefined) {
    const [n, mode] = raw.replication_mode.split('-') as [string, string | undefined];
    const rf = n === 'none' ? 1 : Number(n);
    if (replicationFactor !== undefined && replicationFactor !== rf) {
      throw new ConfigError(
        `invalid configuration in ${source}: 'replication_mode' (${raw.replication_mode}) and 'replication_factor' (${replicationFactor}) disagree`,
      );
    }
    replicationFactor = rf;
    if (mode && consistency === undefined) consistency = mode as 'degraded' | 'dangerous';
  }
  if (replicationFactor === undefined)
    throw new ConfigError(
      `invalid configuration in ${source}: missing 'replication_factor' (or 'replication_mode'): expected 1, 2 or 3`,
    );

  const dataDirs =
    typeof raw.data_dir === 'string'
      ? [{ path: raw.data_dir, readOnly: false }]
      : raw.data_dir.map((d) => ({ path: d.path, capacity: d.capacity, readOnly: d.read_only ?? false }));

  // A secret from the environment (value, then file), else from the configuration (value, then file).
  const secret = (envName: string, value: string | undefined, file: string | undefined, fileKey: string) => {
    const envFile = env[`${envName}_FILE`];
    return (
      env[envName] ??
      (envFile ? readSecretFile(envFile, `${envName}_FILE`, source) : undefined) ??
      value ??
      (file ? readSecretFile(file, fileKey, source) : undefined)
    );
  };
  const adminToken = secret(
    'GARAGE_ADMIN_TOKEN',
    raw.admin.admin_token,
    raw.admin.admin_token_file,
    'admin.admin_token_file',
  );
  const metricsToken = secret(
    'GARAGE_METRICS_TOKEN',
    raw.admin.metrics_token,
    raw.admin.metrics_token_file,
    'admin.metrics_token_file',
  );
  const snapshotEvery = raw.metadata_auto_snapshot_interval;

  return {
    metadataDir: raw.metadata_dir,
    dataDirs,
    dbEngine: 'lmdb',
    metadataFsync: raw.metadata_fsync,
    dataFsync: raw.data_fsync,
    disableScrub: raw.disable_scrub,
    blockSize: raw.block_size,
    replicationFactor,
    consistencyMode: consistency ?? 'consistent',
    compressionLevel: raw.compression_level === 'none' ? null : raw.compression_level,
    rpcSecret: Buffer.from(secretHex, 'hex'),
    rpcBindAddr: raw.rpc_bind_addr,
    rpcPublicAddr: raw.rpc_public_addr ? raw.rpc_public_addr : undefined,
    bootstrapPeers: raw.bootstrap_peers,
    s3Api: {
      bindAddr: raw.s3_api.api_bind_addr,
      region: raw.s3_api.s3_region,
      rootDomain: raw.s3_api.root_domain || undefined,
    },
    s3Web: raw.s3_web
      ? { bindAddr: raw.s3_web.bind_addr, rootDomain: raw.s3_web.root_domain || undefined, index: raw.s3_web.index }
      : undefined,
    admin: {
      bindAddr: raw.admin.api_bind_addr,
      adminToken,
      metricsToken,
      metricsRequireToken: raw.admin.metrics_require_token ?? false,
    },
    metadataSnapshotsDir: raw.metadata_snapshots_dir ?? join(raw.metadata_dir, 'snapshots'),
    metadataAutoSnapshotMs:
      snapshotEvery === undefined ? undefined : parseDuration(snapshotEvery, 'metadata_auto_snapshot_interval', source),
    warnings,
  };
}

/** Reads and validates a TOML configuration file. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      `cannot read configuration file '${path}': ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file (use -c <path> or GARAGE_CONFIG_FILE)' : (e as Error).message}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    throw new ConfigError(`invalid TOML in '${path}'${where}: ${(e as Error).message.split('\n')[0]}`);
  }
  return configFromObject(doc, `'${path}'`, env);
}
