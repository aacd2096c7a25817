import { STATUS_CODES } from 'node:http';
import { statfs } from 'node:fs/promises';
import { Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import { registry } from '../../util/metrics.ts';
import { VERSION } from '../../util/version.ts';
import { current } from '../../rpc/layout/history.ts';
import { clusterHealth, upNodes } from '../../admin/cluster.ts';
import type { AdminCtx } from '../../admin/context.ts';

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What the node-level gauges read besides the admin context. */
export interface MetricsOptions {
  compressionLevel: number | null;
  dataDir: string;
  metadataDir: string;
}

/** The Prometheus metrics of a node, with Garage's names (docs/metrics.md). */
export class Metrics {
  readonly registry = registry;
  readonly apiRequests: Counter<'api_endpoint'>;
  readonly apiErrors: Counter<'api_endpoint' | 'status_code'>;
  readonly apiDuration: Histogram<'api_endpoint'>;
  readonly adminRequests: Counter<'api_endpoint'>;
  readonly adminErrors: Counter<'api_endpoint' | 'status_code'>;
  readonly adminDuration: Histogram<'api_endpoint'>;
  readonly webRequests: Counter<'method'>;
  readonly webErrors: Counter<'method' | 'status_code'>;
  readonly webDuration: Histogram<'method'>;

  constructor(ctx: AdminCtx, o: MetricsOptions) {
    // One node per process: these are registered once, in the process's registry.
    collectDefaultMetrics({ register: registry });
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name, help, labelNames, registers: [registry] });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: L[],
      collect: (g: Gauge<L>) => void | Promise<void>,
    ) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers: [registry],
        collect() {
          return collect(this);
        },
      });
    this.apiRequests = counter('api_s3_request_counter', 'S3 requests by endpoint', ['api_endpoint']);
    this.apiErrors = counter('api_s3_error_counter', 'S3 requests that failed, by endpoint and status', [
      'api_endpoint',
      'status_code',
    ]);
    this.apiDuration = histogram('api_s3_request_duration', 'S3 request duration (s)', ['api_endpoint']);
    this.adminRequests = counter('api_admin_request_counter', 'Admin API requests by operation', ['api_endpoint']);
    this.adminErrors = counter('api_admin_error_counter', 'Admin API requests that failed', [
      'api_endpoint',
      'status_code',
    ]);
    this.adminDuration = histogram('api_admin_request_duration', 'Admin API request duration (s)', ['api_endpoint']);
    this.webRequests = counter('web_request_counter', 'Website requests', ['method']);
    this.webErrors = counter('web_error_counter', 'Website requests answered with an error', ['method', 'status_code']);
    this.webDuration = histogram('web_request_duration', 'Website request duration (s)', ['method']);

    const m = ctx.model;
    gauge('garage_build_info', 'The version running on this node', ['version'], (g) => g.set({ version: VERSION }, 1));
    gauge('garage_replication_factor', 'The replication factor configured', [], (g) => g.set(ctx.replicationFactor));
    const disk = async (g: Gauge<'volume'>, which: 'bavail' | 'blocks') => {
      for (const [volume, path] of [
        ['data', o.dataDir],
        ['metadata', o.metadataDir],
      ] as const) {
        const s = await statfs(path).catch(() => undefined);
        if (s) g.set({ volume }, s[which] * s.bsize);
      }
    };
    gauge('garage_local_disk_avail', 'Disk space available to this node', ['volume'], (g) => disk(g, 'bavail'));
    gauge('garage_local_disk_total', 'Disk space of the volume', ['volume'], (g) => disk(g, 'blocks'));

    const health = () => clusterHealth(ctx);
    gauge('cluster_healthy', 'Whether every storage node is connected (0 or 1)', [], (g) =>
      g.set(health().status === 'healthy' ? 1 : 0),
    );
    gauge('cluster_available', 'Whether every partition has a quorum (0 or 1)', [], (g) =>
      g.set(health().status === 'unavailable' ? 0 : 1),
    );
    gauge('cluster_connected_nodes', 'Nodes connected, this one included', [], (g) => g.set(health().connectedNodes));
    gauge('cluster_known_nodes', 'Nodes seen at least once', [], (g) => g.set(health().knownNodes));
    gauge('cluster_storage_nodes', 'Storage nodes of the current layout', [], (g) => g.set(health().storageNodes));
    gauge('cluster_storage_nodes_ok', 'Storage nodes of the current layout connected', [], (g) =>
      g.set(health().storageNodesOk),
    );
    gauge('cluster_partitions', 'Partitions of the layout (256)', [], (g) => g.set(health().partitions));
    gauge('cluster_partitions_all_ok', 'Partitions with every replica connected', [], (g) =>
      g.set(health().partitionsAllOk),
    );
    gauge('cluster_partitions_quorum', 'Partitions with a quorum of replicas connected', [], (g) =>
      g.set(health().partitionsQuorum),
    );
    const roleLabels = ['id', 'role_capacity', 'role_gateway', 'role_zone'] as const;
    const eachRole = (fn: (labels: Record<(typeof roleLabels)[number], string>, id: string) => void) => {
      for (const r of current(ctx.system.layout.history).roles)
        fn(
          {
            id: r.id.slice(0, 16),
            role_capacity: String(r.capacity ?? 0),
            role_gateway: r.capacity === null ? '1' : '0',
            role_zone: r.zone,
          },
          r.id,
        );
    };
    gauge('cluster_layout_node_connected', 'Whether each node of the layout is connected', [...roleLabels], (g) => {
      g.reset();
      const up = upNodes(ctx);
      eachRole((l, id) => g.set(l, up.has(id) ? 1 : 0));
    });
    gauge(
      'cluster_layout_node_disconnected_time',
      'Seconds since each node of the layout was last seen',
      [...roleLabels],
      (g) => {
        g.reset();
        const peers = new Map(ctx.system.membership.peers().map((p) => [p.id, p]));
        const now = Date.now();
        eachRole((l, id) => {
          const p = peers.get(id);
          if (id === ctx.rpc.id || p?.connected) g.set(l, 0);
          else if (p?.lastSeen) g.set(l, Math.round((now - p.lastSeen) / 1000));
        });
      },
    );
    gauge('cluster_layout_version', 'Current layout version', [], (g) => g.set(ctx.system.layout.current().version));

    gauge('block_compression_level', 'The zstd level configured (0: none)', [], (g) => g.set(o.compressionLevel ?? 0));
    gauge('block_resync_queue_length', 'Blocks waiting for a resync check', [], (g) => g.set(m.blocks.resync.count()));
    gauge('block_resync_errored_blocks', 'Blocks whose last resync failed', [], (g) => g.set(m.blocks.errors.count()));
    gauge('block_ref_count', 'Blocks with a reference count on this node', [], (g) => g.set(m.blocks.rc.count()));

    const perTable = (g: Gauge<'table_name'>, v: (t: ReturnType<typeof m.tables>[number]) => number) => {
      for (const t of m.tables()) g.set({ table_name: t.schema.name }, v(t));
    };
    gauge('table_size', 'Entries stored on this node per table', ['table_name'], (g) =>
      perTable(g, (t) => t.store.count()),
    );
    gauge('table_insert_queue_length', 'Deferred inserts waiting per table', ['table_name'], (g) =>
      perTable(g, (t) => t.queue.count()),
    );
    gauge('table_gc_todo_queue_length', 'Tombstones waiting for garbage collection', ['table_name'], (g) =>
      perTable(g, (t) => t.gcTodo.count()),
    );
    // Digests are updated in the write transaction itself: nothing ever waits.
    gauge('table_merkle_updater_todo_queue_length', 'Digest updates waiting (always 0 here)', ['table_name'], (g) =>
      perTable(g, () => 0),
    );
  }

  readonly #history: { t: number; requests: number; errors: number }[] = [];
  #sampler: NodeJS.Timeout | undefined;

  /** Samples the S3 request and error totals every minute, keeping the last hour (for the console). */
  startHistory(everyMs = 60_000): void {
    const sample = async () => {
      this.#history.push({ t: Date.now(), ...(await this.#totals()) });
      if (this.#history.length > 61) this.#history.shift();
    };
    void sample();
    this.#sampler = setInterval(() => void sample(), everyMs);
    this.#sampler.unref();
  }

  stopHistory(): void {
    clearInterval(this.#sampler);
  }

  async #totals(): Promise<{ requests: number; errors: number }> {
    const sum = async (c: Counter<string>) => (await c.get()).values.reduce((n, v) => n + v.value, 0);
    return { requests: await sum(this.apiRequests), errors: await sum(this.apiErrors) };
  }

  /** The samples of the last hour, and the totals now. */
  async history(): Promise<{ t: number; requests: number; errors: number }[]> {
    return [...this.#history, { t: Date.now(), ...(await this.#totals()) }];
  }

  /** Records one admin API request. */
  observeAdmin(op: string, status: number, seconds: number): void {
    this.adminRequests.inc({ api_endpoint: op });
    this.adminDuration.observe({ api_endpoint: op }, seconds);
    if (status >= 400) this.adminErrors.inc({ api_endpoint: op, status_code: String(status) });
  }

  /** Records one S3 request. */
  observe(endpoint: string, status: number, seconds: number): void {
    this.apiRequests.inc({ api_endpoint: endpoint });
    this.apiDuration.observe({ api_endpoint: endpoint }, seconds);
    if (status >= 400) this.apiErrors.inc({ api_endpoint: endpoint, status_code: String(status) });
  }

  /** Records one website request (status as Garage labels it: `404 Not Found`). */
  observeWeb(method: string, status: number, seconds: number): void {
    this.webRequests.inc({ method });
    this.webDuration.observe({ method }, seconds);
    if (status >= 400) this.webErrors.inc({ method, status_code: `${status} ${STATUS_CODES[status] ?? ''}`.trim() });
  }
}
