import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Config } from './util/config.ts';
import { logger } from './util/log.ts';
import { Periodic, Workers } from './util/background.ts';
import { LmdbDb } from './db/lmdb.ts';
import { loadOrCreateNodeKey } from './net/node_key.ts';
import { NetApp } from './net/netapp.ts';
import { LayoutManager } from './rpc/layout/manager.ts';
import { System } from './rpc/system.ts';
import { Peering } from './net/peering.ts';
import { SyncManager } from './model/sync_manager.ts';
import { Repair } from './model/repair.ts';
import { StaleUploadCleaner } from './model/stale_uploads.ts';
import { LifecycleWorker } from './model/lifecycle_worker.ts';
import { ScrubWorker } from './model/scrub_worker.ts';
import { join } from 'node:path';
import { BlockManager } from './block/manager.ts';
import { Model } from './model/garage.ts';
import { ModelHelpers } from './model/helpers.ts';
import { AdminApi } from './admin/ops.ts';
import { snapshotMetadata } from './admin/node.ts';
import { errorMessage } from './util/errors.ts';
import {
  htmlErrorRenderer,
  jsonErrorRenderer,
  startHttpServer,
  type Handler,
  type HttpLimits,
} from './api/common/http.ts';
import { s3Handler } from './api/s3/api.ts';
import { webHandler } from './web/server.ts';
import { Metrics } from './api/admin/metrics.ts';
import { GET_OPS, adminHttpHandler } from './api/admin/http.ts';
import { ConsoleAssets } from './api/admin/console.ts';

/** Wraps a handler so that every answered request is reported (method, status, duration). */
function observed(h: Handler, report: (method: string, status: number, seconds: number) => void): Handler {
  return (req, res, ctx) => {
    const started = performance.now();
    res.once('finish', () => report(req.method ?? 'GET', res.statusCode, (performance.now() - started) / 1000));
    return h(req, res, ctx);
  };
}

/** A running node. */
export interface RunningNode {
  id: string;
  netapp: NetApp;
  model: Model;
  helpers: ModelHelpers;
  system: System;
  admin: AdminApi;
  s3Server?: Server;
  stop(): Promise<void>;
}

// Test and tuning knobs that are not part of Garage's configuration file.
/** HTTP listener bounds from GARAGE_HEADERS_TIMEOUT_MS, GARAGE_BODY_IDLE_TIMEOUT_MS, GARAGE_MAX_CONNECTIONS. */
function httpLimits(): Partial<HttpLimits> {
  const limits: Partial<HttpLimits> = {};
  const headers = envMs('GARAGE_HEADERS_TIMEOUT_MS');
  const idle = envMs('GARAGE_BODY_IDLE_TIMEOUT_MS');
  const conns = envMs('GARAGE_MAX_CONNECTIONS');
  if (headers !== undefined && headers > 0) limits.headersTimeoutMs = headers;
  if (idle !== undefined) limits.bodyIdleTimeoutMs = idle;
  if (conns !== undefined && conns > 0) limits.maxConnections = conns;
  return limits;
}

function envMs(name: string): number | undefined {
  const v = process.env[name];
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** Wires and starts a node: config → db → net → rpc → tables → blocks → APIs (DESIGN §3). */
export async function startNode(config: Config): Promise<RunningNode> {
  const log = logger('server');
  for (const w of config.warnings) log.warn(w);
  await mkdir(config.metadataDir, { recursive: true, mode: 0o700 });
  for (const d of config.dataDirs) await mkdir(d.path, { recursive: true, mode: 0o700 });

  const key = await loadOrCreateNodeKey(config.metadataDir);
  log.info({ node: key.id }, 'node identity loaded');
  const netapp = new NetApp({ key, rpcSecret: config.rpcSecret });
  const { port: rpcPort } = await netapp.listen(config.rpcBindAddr);
  log.info({ addr: config.rpcBindAddr, port: rpcPort }, 'RPC listening');

  const db = new LmdbDb(config.metadataDir, { fsync: config.metadataFsync });
  const workers = new Workers();
  const layout = await LayoutManager.open(config.metadataDir, key.id, config.replicationFactor);
  const peering = new Peering({
    netapp,
    publicAddr: config.rpcPublicAddr,
    bootstrap: config.bootstrapPeers,
    peerListFile: join(config.metadataDir, 'peer_list'),
    pingIntervalMs: envMs('GARAGE_PING_INTERVAL_MS'),
  });
  const system = new System({
    rpc: netapp,
    layout,
    membership: peering,
    publicAddr: config.rpcPublicAddr ?? null,
    bindAddr: config.rpcBindAddr,
    dirs: { meta: config.metadataDir, data: config.dataDirs[0]!.path },
    logger: logger('system'),
  });

  const blocks = new BlockManager({
    db,
    rpc: netapp,
    layout,
    dataDirs: config.dataDirs,
    compressionLevel: config.compressionLevel,
    fsync: config.dataFsync,
    consistency: config.consistencyMode,
    logger: logger('block'),
    workers,
    gcDelayMs: envMs('GARAGE_BLOCK_GC_DELAY_MS'),
    rttOf: (node) => peering.peers().find((p) => p.id === node)?.rttMs,
  });
  const model = new Model({
    db,
    rpc: netapp,
    layout,
    blocks,
    consistency: config.consistencyMode,
    logger: logger('table'),
    workers,
  });
  const helpers = new ModelHelpers(model);
  const sync = new SyncManager({
    model,
    rpc: netapp,
    layout,
    system,
    workers,
    logger: logger('sync'),
    intervalMs: envMs('GARAGE_SYNC_INTERVAL_MS') ?? 10 * 60_000,
    tombstoneDelayMs: envMs('GARAGE_TOMBSTONE_GC_DELAY_MS') ?? 24 * 3600_000,
    gcIntervalMs: envMs('GARAGE_GC_INTERVAL_MS') ?? 10 * 60_000,
  });
  const repair = new Repair(model, sync, logger('repair'));
  const admin = new AdminApi({
    rpc: netapp,
    system,
    model,
    helpers,
    workers,
    repair,
    db,
    replicationFactor: config.replicationFactor,
    consistency: config.consistencyMode,
    snapshotsDir: config.metadataSnapshotsDir,
    adminToken: config.admin.adminToken,
    metricsToken: config.admin.metricsToken,
  });
  netapp.on('peer-connected', (id) => {
    void system.pullLayout(id).then(() => sync.trigger());
  });
  await peering.start();
  const lifecycle = new LifecycleWorker({
    model,
    layout,
    self: key.id,
    isUp: (n) => peering.peers().some((p) => p.id === n && p.connected),
    logger: logger('lifecycle'),
    dayMs: envMs('GARAGE_LIFECYCLE_DAY_MS'),
  });
  const staleUploads = new StaleUploadCleaner(model, logger('model'), envMs('GARAGE_STALE_UPLOAD_AGE_MS'));
  model.start();
  await blocks.start();
  sync.start();
  staleUploads.start(envMs('GARAGE_GC_INTERVAL_MS'));
  lifecycle.start(envMs('GARAGE_LIFECYCLE_INTERVAL_MS'));
  const scrub = new ScrubWorker(config.metadataDir, {
    repair,
    workers,
    logger: logger('scrub'),
    everyMs: envMs('GARAGE_SCRUB_EVERY_MS'),
    checkMs: envMs('GARAGE_SCRUB_CHECK_MS'),
  });
  if (!config.disableScrub) scrub.start();

  // metadata_auto_snapshot_interval: a snapshot of the metadata now and then (two are kept).
  const snapshots =
    config.metadataAutoSnapshotMs === undefined
      ? undefined
      : new Periodic(
          config.metadataAutoSnapshotMs,
          async () =>
            log.info({ path: await snapshotMetadata(db, config.metadataSnapshotsDir) }, 'metadata snapshot written'),
          (e) => log.warn({ err: errorMessage(e) }, 'metadata snapshot failed'),
        );
  const metrics = new Metrics(admin.ctx, {
    compressionLevel: config.compressionLevel,
    dataDir: config.dataDirs[0]!.path,
    metadataDir: config.metadataDir,
  });
  const s3 = s3Handler({
    model,
    helpers,
    region: config.s3Api.region,
    rootDomain: config.s3Api.rootDomain,
    blockSize: config.blockSize,
    logger: logger('s3'),
    postFormTimeoutMs: envMs('GARAGE_POST_FORM_TIMEOUT_MS'),
    observe: (e, st, sec) => metrics.observe(e, st, sec),
  });
  let s3Server: Server | undefined;
  if (config.s3Api.bindAddr) {
    s3Server = await startHttpServer(config.s3Api.bindAddr, s3, logger('s3'), 'S3 API', httpLimits());
    log.info({ addr: config.s3Api.bindAddr }, 'S3 API listening');
  }

  let webServer: Server | undefined;
  if (config.s3Web?.bindAddr) {
    webServer = await startHttpServer(
      config.s3Web.bindAddr,
      observed(
        webHandler({
          model,
          helpers,
          logger: logger('web'),
          rootDomain: config.s3Web.rootDomain,
          index: config.s3Web.index,
        }),
        (method, status, seconds) => metrics.observeWeb(method, status, seconds),
      ),
      logger('web'),
      'web',
      httpLimits(),
      htmlErrorRenderer,
    );
    log.info({ addr: config.s3Web.bindAddr }, 'website endpoint listening');
  }

  let adminServer: Server | undefined;
  if (config.admin.bindAddr) {
    adminServer = await startHttpServer(
      config.admin.bindAddr,
      adminHttpHandler({
        api: admin,
        metrics,
        adminToken: config.admin.adminToken,
        metricsToken: config.admin.metricsToken,
        metricsRequireToken: config.admin.metricsRequireToken,
        webRootDomain: config.s3Web?.rootDomain,
        console: new ConsoleAssets(config.s3Api.region, GET_OPS),
        s3,
      }),
      logger('admin'),
      'admin API',
      httpLimits(),
      jsonErrorRenderer,
    );
    metrics.startHistory();
    log.info({ addr: config.admin.bindAddr }, 'admin API and web console listening');
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log.info('shutting down');
      // Requests in progress get 10 s to finish; then their connections are cut.
      await Promise.all(
        [s3Server, webServer, adminServer]
          .filter((x): x is Server => x !== undefined)
          .map(
            (srv) =>
              new Promise<void>((r) => {
                const force = setTimeout(() => srv.closeAllConnections(), 10_000);
                srv.close(() => {
                  clearTimeout(force);
                  r();
                });
                srv.closeIdleConnections();
              }),
          ),
      );
      sync.stop();
      staleUploads.stop();
      lifecycle.stop();
      scrub.stop();
      snapshots?.stop();
      metrics.stopHistory();
      model.stop();
      await blocks.stop();
      await peering.stop();
      await netapp.close();
      await db.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { id: key.id, netapp, model, helpers, system, admin, s3Server, stop };
}
