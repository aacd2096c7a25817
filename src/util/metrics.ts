// The metrics that code below the API layers updates (tables, blocks, RPC), with Garage's names
// and labels, so that Garage's Grafana dashboard reads them. One registry per process: a
// process runs one node. The API layer adds its own and the gauges read when scraped.

import { Counter, Histogram, Registry } from 'prom-client';

/** The process's Prometheus registry (served at /metrics). */
export const registry = new Registry();

const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
  new Counter<L>({ name, help, labelNames, registers: [registry] });
const histogram = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
  new Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });

export const blockMetrics = {
  bytesRead: counter('block_bytes_read', 'Bytes read from block files'),
  bytesWritten: counter('block_bytes_written', 'Bytes written to block files'),
  readDuration: histogram('block_read_duration', 'Duration of the read of one block file (s)'),
  writeDuration: histogram('block_write_duration', 'Duration of the write of one block file (s)'),
  deleteCounter: counter('block_delete_counter', 'Block files deleted'),
  resyncCounter: counter('block_resync_counter', 'Resync checks done'),
  resyncDuration: histogram('block_resync_duration', 'Duration of one resync check (s)'),
};

export const tableMetrics = {
  getCounter: counter('table_get_request_counter', 'Get and range requests made on a table', ['table_name']),
  getDuration: histogram('table_get_request_duration', 'Duration of get and range requests (s)', ['table_name']),
  putCounter: counter('table_put_request_counter', 'Insert requests made on a table', ['table_name']),
  putDuration: histogram('table_put_request_duration', 'Duration of insert requests (s)', ['table_name']),
  internalUpdate: counter(
    'table_internal_update_counter',
    'Local writes that changed a stored value (creations included)',
    ['table_name'],
  ),
  internalDelete: counter('table_internal_delete_counter', 'Local deletions (tombstone GC)', ['table_name']),
  syncReceived: counter('table_sync_items_received', 'Entries received from other nodes by anti-entropy', [
    'table_name',
    'from',
  ]),
  syncSent: counter('table_sync_items_sent', 'Entries sent to other nodes by anti-entropy', ['table_name', 'to']),
};

export const rpcMetrics = {
  requests: counter('rpc_request_counter', 'RPC requests sent', ['from', 'rpc_endpoint', 'to']),
  errors: counter('rpc_netapp_error_counter', 'RPC requests that failed in transport', ['from', 'rpc_endpoint', 'to']),
  timeouts: counter('rpc_timeout_counter', 'RPC requests that timed out', ['from', 'rpc_endpoint', 'to']),
  duration: histogram('rpc_duration', 'Duration of RPC requests (s)', ['from', 'rpc_endpoint', 'to']),
};

/** Times an async operation into a histogram. */
export async function timed<T>(h: Histogram<string>, labels: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const end = h.startTimer(labels);
  try {
    return await fn();
  } finally {
    end();
  }
}
