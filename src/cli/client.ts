import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NetApp } from '../net/netapp.ts';
import { generateEphemeralKey } from '../net/node_key.ts';
import type { Config } from '../util/config.ts';
import { ADMIN, type AdminRequest } from '../rpc/admin_protocol.ts';
import { call } from '../net/endpoint.ts';
import { AdminError, errorMessage } from '../util/errors.ts';

/** A short-lived RPC peer that sends admin requests to the local daemon. */
export class AdminClient {
  readonly netapp: NetApp;
  readonly target: string;
  constructor(netapp: NetApp, target: string) {
    this.netapp = netapp;
    this.target = target;
  }

  /** Connects to the daemon named by --rpc-host, or to the one whose metadata_dir the config names. */
  static async connect(config: Config, rpcHost?: string): Promise<AdminClient> {
    let id: string;
    let addr: string;
    if (rpcHost) {
      const at = rpcHost.indexOf('@');
      if (at < 0) throw new AdminError(`--rpc-host must be <node id>@<host>:<port>, got '${rpcHost}'`);
      id = rpcHost.slice(0, at);
      addr = rpcHost.slice(at + 1);
    } else {
      try {
        id = (await readFile(join(config.metadataDir, 'node_key.pub'))).toString('hex');
      } catch {
        throw new AdminError(
          `cannot read the node key in ${config.metadataDir} (has 'garage server' been started with this configuration?); or use --rpc-host <id>@<addr>`,
        );
      }
      addr = localAddr(config.rpcPublicAddr ?? config.rpcBindAddr);
    }
    const netapp = new NetApp({ key: generateEphemeralKey(), rpcSecret: config.rpcSecret, connectTimeoutMs: 5000 });
    try {
      await netapp.connect(id, addr);
    } catch (e) {
      await netapp.close();
      throw new AdminError(
        `cannot reach the garage daemon at ${addr} (node ${id.slice(0, 16)}…): ${errorMessage(e)}. Is 'garage server' running, with the same rpc_secret?`,
      );
    }
    return new AdminClient(netapp, id);
  }

  /** Sends one request; an error the daemon reports becomes an AdminError. */
  async call<T>(req: AdminRequest): Promise<T> {
    const { body } = await call(this.netapp, this.target, ADMIN, req, { timeoutMs: 120_000, priority: 'high' });
    if (body.error !== undefined) throw new AdminError(body.error);
    // The answer's shape per operation is the daemon's (same code, same version): not re-checked here.
    return body.ok as T;
  }

  async close(): Promise<void> {
    await this.netapp.close();
  }
}

// A wildcard bind address is reached through loopback.
function localAddr(bind: string): string {
  return bind.replace(/^\[::\]/, '[::1]').replace(/^0\.0\.0\.0/, '127.0.0.1');
}
