import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NetApp } from '../net/netapp.ts';
import { generateEphemeralKey } from '../net/node_key.ts';
import { call } from '../net/endpoint.ts';
import { AdminError, errorMessage } from '../util/errors.ts';
import type {
  ClusterOp,
  ClusterRequest,
  ClusterResponses,
  LocalOp,
  LocalRequest,
  LocalResponses,
  MultiResponse,
} from '../admin/api.ts';
import { ADMIN_API, answerError } from '../admin/ops.ts';

/** Where the CLI finds its daemon: the node key and RPC address, and the cluster's secret. */
export interface ClientTarget {
  metadataDir?: string;
  rpcAddr?: string;
  rpcSecret: Buffer;
}

/** A short-lived RPC peer that runs admin API operations on a daemon. */
export class AdminClient {
  readonly netapp: NetApp;
  readonly target: string;
  constructor(netapp: NetApp, target: string) {
    this.netapp = netapp;
    this.target = target;
  }

  /** Connects to the daemon named by --rpc-host, or to the one whose metadata_dir the config names. */
  static async connect(t: ClientTarget, rpcHost?: string): Promise<AdminClient> {
    let id: string;
    let addr: string;
    if (rpcHost) {
      const at = rpcHost.indexOf('@');
      if (at < 0) throw new AdminError(`--rpc-host must be <node id>@<host>:<port>, got '${rpcHost}'`);
      id = rpcHost.slice(0, at);
      addr = rpcHost.slice(at + 1);
    } else {
      if (!t.metadataDir || !t.rpcAddr) throw new AdminError('no configuration file: give --rpc-host <id>@<addr>');
      try {
        id = (await readFile(join(t.metadataDir, 'node_key.pub'))).toString('hex');
      } catch {
        throw new AdminError(
          `cannot read the node key in ${t.metadataDir} (has 'garage server' been started with this ` +
            'configuration?); or use --rpc-host <id>@<addr>',
        );
      }
      addr = localAddr(t.rpcAddr);
    }
    const netapp = new NetApp({ key: generateEphemeralKey(), rpcSecret: t.rpcSecret, connectTimeoutMs: 5000 });
    try {
      await netapp.connect(id, addr);
    } catch (e) {
      await netapp.close();
      throw new AdminError(
        `cannot reach the garage daemon at ${addr} (node ${id.slice(0, 16)}…): ${errorMessage(e)}. ` +
          "Is 'garage server' running, with the same rpc_secret?",
      );
    }
    return new AdminClient(netapp, id);
  }

  async #run(op: string, req: unknown): Promise<unknown> {
    const { body } = await call(
      this.netapp,
      this.target,
      ADMIN_API,
      { op, req },
      { timeoutMs: 120_000, priority: 'high' },
    );
    if (body.error) throw answerError(body.error);
    return body.ok;
  }

  /** Runs a cluster-wide operation; an error the daemon reports becomes an AdminError. */
  async call<O extends ClusterOp>(op: O, req: ClusterRequest<O>): Promise<ClusterResponses[O]> {
    // The daemon checked the request and answered with the handler's result for `op` (same code).
    return (await this.#run(op, req)) as ClusterResponses[O];
  }

  /** Runs a node-local operation on `node` (an id, `self`: the daemon reached, or `*`). */
  async local<O extends LocalOp>(
    op: O,
    node: string,
    body: LocalRequest<O>,
  ): Promise<MultiResponse<LocalResponses[O]>> {
    return (await this.#run(op, { node, body })) as MultiResponse<LocalResponses[O]>;
  }

  async close(): Promise<void> {
    await this.netapp.close();
  }
}

// A wildcard bind address is reached through loopback.
function localAddr(bind: string): string {
  return bind.replace(/^\[::\]/, '[::1]').replace(/^0\.0\.0\.0/, '127.0.0.1');
}
