import { Registry, Counter, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import type { Model } from '../../model/garage.ts';
import type { System } from '../../rpc/system.ts';

/** The Prometheus metrics of a node. */
export class Metrics {
  readonly registry = new Registry();
  readonly apiRequests: Counter<'api_endpoint'>;
  readonly apiErrors: Counter<'api_endpoint' | 'status_code'>;
  readonly apiDuration: Histogram<'api_endpoint'>;
  readonly adminRequests: Counter<'api_endpoint'>;
  readonly adminErrors: Counter<'api_endpoint' | 'status_code'>;
  readonly adminDuration: Histogram<'api_endpoint'>;

  constructor(model: Model, system: System) {
    collectDefaultMetrics({ register: this.registry });
    this.apiRequests = new Counter({
      name: 'api_s3_request_counter',
      help: 'S3 requests by endpoint',
      labelNames: ['api_endpoint'],
      registers: [this.registry],
    });
    this.apiErrors = new Counter({
      name: 'api_s3_error_counter',
      help: 'S3 requests that failed, by endpoint and status',
      labelNames: ['api_endpoint', 'status_code'],
      registers: [this.registry],
    });
    this.apiDuration = new Histogram({
      name: 'api_s3_request_duration',
      help: 'S3 request duration in seconds',
      labelNames: ['api_endpoint'],
      registers: [this.registry],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    this.adminRequests = new Counter({
      name: 'api_admin_request_counter',
      help: 'Admin API requests by operation',
      labelNames: ['api_endpoint'],
      registers: [this.registry],
    });
    this.adminErrors = new Counter({
      name: 'api_admin_error_counter',
      help: 'Admin API requests that failed, by operation and status',
      labelNames: ['api_endpoint', 'status_code'],
      registers: [this.registry],
    });
    this.adminDuration = new Histogram({
      name: 'api_admin_request_duration',
      help: 'Admin API request duration in seconds',
      labelNames: ['api_endpoint'],
      registers: [this.registry],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    });
    // Gauges read the current state when scraped.
    new Gauge({
      name: 'table_size',
      help: 'Entries stored on this node per table',
      labelNames: ['table_name'],
      registers: [this.registry],
      collect() {
        for (const t of model.tables()) this.set({ table_name: t.schema.name }, t.store.count());
      },
    });
    new Gauge({
      name: 'table_insert_queue_length',
      help: 'Deferred inserts waiting per table',
      labelNames: ['table_name'],
      registers: [this.registry],
      collect() {
        for (const t of model.tables()) this.set({ table_name: t.schema.name }, t.queue.count());
      },
    });
    new Gauge({
      name: 'block_resync_queue_length',
      help: 'Blocks waiting for a resync check',
      registers: [this.registry],
      collect() {
        this.set(model.blocks.resync.count());
      },
    });
    new Gauge({
      name: 'block_resync_errored_blocks',
      help: 'Blocks whose resync failed',
      registers: [this.registry],
      collect() {
        this.set(model.blocks.errors.count());
      },
    });
    new Gauge({
      name: 'block_ref_count',
      help: 'Blocks with a reference count on this node',
      registers: [this.registry],
      collect() {
        this.set(model.blocks.rc.count());
      },
    });
    new Gauge({
      name: 'cluster_connected_nodes',
      help: 'Peers currently connected',
      registers: [this.registry],
      collect() {
        this.set(system.membership.peers().filter((p) => p.connected).length);
      },
    });
    new Gauge({
      name: 'cluster_layout_version',
      help: 'Current layout version',
      registers: [this.registry],
      collect() {
        this.set(system.layout.current().version);
      },
    });
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
}
