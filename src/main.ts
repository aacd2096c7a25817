import 'reflect-metadata';
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { readFile, mkdir } from 'node:fs/promises';
import { resolve, join } from 'node:path';
import { loadConfig, configFromObject, type Config } from './util/config.ts';
import { writeFileAtomic } from './util/fs.ts';
import { ConfigError, AdminError, GarageError, errorMessage } from './util/errors.ts';
import { rootLogger } from './util/log.ts';
import { addClientCommands } from './cli/commands.ts';
import { AdminClient, type ClientTarget } from './cli/client.ts';
import { startNode, type RunningNode } from './server.ts';
import type { KeyInfo } from './admin/api.ts';
import type { Caller } from './admin/ops.ts';

function configPath(opt: string | undefined): string {
  return opt ?? process.env.GARAGE_CONFIG_FILE ?? '/etc/garage.toml';
}

/** The embedded default of `garage server --single-node`: everything under one directory. */
async function singleNodeConfig(
  dataDir: string,
  s3Bind: string,
  rpcBind: string,
  adminBind: string,
): Promise<{ config: Config; file: string }> {
  const dir = resolve(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Secrets generated once, kept beside the data (0600), so restarts keep them.
  const secretIn = async (name: string, gen: () => string) => {
    const f = join(dir, name);
    try {
      await readFile(f, 'utf8');
    } catch {
      await writeFileAtomic(f, `${gen()}\n`, true);
    }
    return f;
  };
  const secretFile = await secretIn('rpc_secret', () => randomBytes(32).toString('hex'));
  const adminTokenFile = await secretIn('admin_token', () => randomBytes(32).toString('base64url'));
  const raw = {
    metadata_dir: join(dir, 'meta'),
    data_dir: join(dir, 'data'),
    replication_factor: 1,
    rpc_bind_addr: rpcBind,
    // A wildcard bind address is no address to give others.
    ...(/^(\[::\]|0\.0\.0\.0):/.test(rpcBind) ? {} : { rpc_public_addr: rpcBind }),
    rpc_secret_file: secretFile,
    s3_api: { api_bind_addr: s3Bind, s3_region: 'garage' },
    admin: { api_bind_addr: adminBind, admin_token_file: adminTokenFile },
  };
  // A config file beside the data lets `garage -c <dir>/garage.toml status` reach this node.
  const file = join(dir, 'garage.toml');
  const toml = [
    "# Written by 'garage server --single-node'.",
    `metadata_dir = "${raw.metadata_dir}"`,
    `data_dir = "${raw.data_dir}"`,
    'replication_factor = 1',
    `rpc_bind_addr = "${rpcBind}"`,
    ...(raw.rpc_public_addr ? [`rpc_public_addr = "${raw.rpc_public_addr}"`] : []),
    `rpc_secret_file = "${secretFile}"`,
    '',
    '[s3_api]',
    `api_bind_addr = "${s3Bind}"`,
    's3_region = "garage"',
    '',
    '[admin]',
    `api_bind_addr = "${adminBind}"`,
    `admin_token_file = "${adminTokenFile}"`,
    '',
  ].join('\n');
  await writeFileAtomic(file, toml, false, 0o600);
  return { config: configFromObject(raw, 'embedded single-node default', {}), file };
}

/** Assigns the layout, creates a key and (optionally) a bucket, the first time only. */
async function provisionSingleNode(
  node: RunningNode,
  defaultBucket: boolean,
): Promise<{ key: KeyInfo; bucket?: string }> {
  const api = node.admin;
  const self: Caller = {
    token: { id: null, name: 'single-node setup', created: null, expiration: null, expired: false, scope: ['*'] },
  };
  if (!node.system.layout.ready()) {
    await api.cluster(
      'UpdateClusterLayout',
      { body: { roles: [{ id: node.id, zone: 'dc1', capacity: 1e12, tags: [] }] } },
      self,
    );
    const version = (await api.cluster('GetClusterLayout', {}, self)).version + 1;
    await api.cluster('ApplyClusterLayout', { body: { version } }, self);
  }
  const existing = (await api.cluster('ListKeys', {}, self)).find((k) => k.name === 'default-key');
  const key = existing
    ? await api.cluster('GetKeyInfo', { id: existing.id, showSecretKey: true }, self)
    : await api.cluster('CreateKey', { body: { name: 'default-key', allow: { createBucket: true } } }, self);
  let bucket: string | undefined;
  if (defaultBucket) {
    bucket = 'default-bucket';
    const found = (await api.cluster('ListBuckets', {}, self)).find((b) => b.globalAliases.includes('default-bucket'));
    const id = found?.id ?? (await api.cluster('CreateBucket', { body: { globalAlias: bucket } }, self)).id;
    const permissions = { read: true, write: true, owner: true };
    await api.cluster('AllowBucketKey', { body: { bucketId: id, accessKeyId: key.accessKeyId, permissions } }, self);
  }
  return { key, bucket };
}

function hostPort(bind: string): string {
  const m = /:(\d+)$/.exec(bind);
  return `http://127.0.0.1:${m ? m[1] : bind}`;
}

/** The options of `garage server`. */
interface ServerOptions {
  config?: string;
  singleNode?: boolean;
  defaultBucket?: boolean;
  dataDir?: string;
  s3Bind?: string;
  rpcBind?: string;
  adminBind?: string;
}

async function runServer(opts: ServerOptions): Promise<void> {
  let config: Config;
  let file: string | undefined;
  if (opts.singleNode) {
    const dataDir = opts.dataDir ?? process.env.GARAGE_DATA_DIR ?? './garage-data';
    ({ config, file } = await singleNodeConfig(
      dataDir,
      opts.s3Bind ?? process.env.GARAGE_S3_BIND ?? '127.0.0.1:3900',
      opts.rpcBind ?? process.env.GARAGE_RPC_BIND ?? '127.0.0.1:3901',
      opts.adminBind ?? process.env.GARAGE_ADMIN_BIND ?? '127.0.0.1:3903',
    ));
  } else {
    config = loadConfig(configPath(opts.config));
  }
  const node = await startNode(config);
  // A background task that fails unexpectedly is logged; it must not take the node down.
  process.on('unhandledRejection', (e) =>
    rootLogger().error(
      { err: errorMessage(e), stack: (e as Error)?.stack },
      'unhandled rejection in a background task',
    ),
  );
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`received ${sig}, shutting down\n`);
    node.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`error during shutdown: ${errorMessage(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  if (opts.singleNode) {
    const { key, bucket } = await provisionSingleNode(node, !!opts.defaultBucket);
    const lines = [
      '',
      'Garage is running as a single node.',
      `  S3 endpoint:   ${hostPort(config.s3Api.bindAddr!)}`,
      `  Region:        ${config.s3Api.region}`,
      `  Access key ID: ${key.accessKeyId}`,
      `  Secret key:    ${key.secretAccessKey}`,
      ...(bucket ? [`  Bucket:        ${bucket}`] : []),
      `  Data:          ${resolve(config.dataDirs[0]!.path, '..')}`,
      `  CLI:           garage -c ${file} status`,
      `  Admin API:     ${hostPort(config.admin.bindAddr!)}/v2/ (Authorization: Bearer <token>)`,
      `  Admin token:   in ${join(resolve(config.metadataDir, '..'), 'admin_token')}`,
      `  Web console:   ${hostPort(config.admin.bindAddr!)}/ (sign in with that token)`,
      '',
      'Example: AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... aws --endpoint-url ' +
        hostPort(config.s3Api.bindAddr!) +
        ' --region garage s3 ls',
      '',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

/**
 * Where the CLI's daemon is: from the configuration file, with -s / --rpc-secret-file overriding
 * its secret; with --rpc-host and a secret, no configuration file is needed.
 */
async function clientTarget(program: Command): Promise<ClientTarget> {
  const g = program.opts<{ config?: string; rpcHost?: string; rpcSecret?: string; rpcSecretFile?: string }>();
  let secretHex = g.rpcSecret ?? (g.rpcSecretFile ? (await readFile(g.rpcSecretFile, 'utf8')).trim() : undefined);
  if (secretHex === undefined && g.rpcHost && !g.config && process.env.GARAGE_RPC_SECRET)
    secretHex = process.env.GARAGE_RPC_SECRET;
  const secret = (hex: string) => {
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new ConfigError('the rpc secret must be 64 hex characters');
    return Buffer.from(hex, 'hex');
  };
  if (secretHex !== undefined && g.rpcHost && !g.config && !process.env.GARAGE_CONFIG_FILE)
    return { rpcSecret: secret(secretHex) };
  const config = loadConfig(configPath(g.config));
  return {
    metadataDir: config.metadataDir,
    rpcAddr: config.rpcPublicAddr ?? config.rpcBindAddr,
    rpcSecret: secretHex === undefined ? config.rpcSecret : secret(secretHex),
  };
}

/** Builds the `garage` command line. */
export function buildProgram(): Command {
  const program = new Command('garage')
    .description('Garage: a geo-distributed, S3-compatible object store')
    .option('-c, --config <path>', 'configuration file (default /etc/garage.toml, or $GARAGE_CONFIG_FILE)')
    .option('-h, --rpc-host <id@addr>', 'daemon to talk to (default: the local one from the config)')
    .option('-s, --rpc-secret <hex>', 'the cluster rpc_secret (default: from the config, or $GARAGE_RPC_SECRET)')
    .option('--rpc-secret-file <path>', 'a file holding the rpc_secret')
    .helpOption('--help', 'display help for command')
    .enablePositionalOptions()
    .showHelpAfterError();
  program
    .command('server')
    .description('run a Garage node')
    .option('--single-node', 'run one node on an embedded default configuration (no file needed)')
    .option('--default-bucket', 'with --single-node: create a key and a bucket and print them')
    .option('--data-dir <dir>', 'with --single-node: where to keep data (default ./garage-data or $GARAGE_DATA_DIR)')
    .option('--s3-bind <addr>', 'with --single-node: S3 API address (default 127.0.0.1:3900)')
    .option('--rpc-bind <addr>', 'with --single-node: RPC address (default 127.0.0.1:3901)')
    .option('--admin-bind <addr>', 'with --single-node: admin API and web console address (default 127.0.0.1:3903)')
    .action((o: ServerOptions) => runServer({ ...o, config: program.opts<{ config?: string }>().config }));
  addClientCommands(program, async (fn) => {
    const client = await AdminClient.connect(await clientTarget(program), program.opts<{ rpcHost?: string }>().rpcHost);
    try {
      await fn(client);
    } finally {
      await client.close();
    }
  });
  program
    .command('help')
    .description('show help')
    .argument('[command...]')
    .action((cmd: string[]) => {
      let c: Command = program;
      for (const name of cmd) {
        const sub = c.commands.find((x) => x.name() === name || x.aliases().includes(name));
        if (!sub) break;
        c = sub;
      }
      c.outputHelp();
    });
  return program;
}

/** Entry point: parse argv, run, map errors to a message and exit code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof ConfigError || e instanceof AdminError) {
      process.stderr.write(`Error: ${e.message}\n`);
      process.exit(1);
    }
    if (e instanceof GarageError) {
      process.stderr.write(`Error: ${e.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`Error: ${errorMessage(e)}\n`);
    process.exit(1);
  }
}

if (import.meta.main) await main(process.argv);
