import { QuorumError, errorMessage } from '../util/errors.ts';
import { call, type Endpoint, type RpcTransport } from '../net/endpoint.ts';
import type { Priority } from '../net/rpc_types.ts';

export type { RpcTransport } from '../net/endpoint.ts';
export type { Priority } from '../net/rpc_types.ts';

export interface QuorumOptions {
  quorum: number;
  timeoutMs?: number;
  priority?: Priority;
}

/**
 * Sends the same request to every node at once and resolves with the first `quorum`
 * answers; slower nodes finish in the background. Rejects as soon as the quorum is out of reach.
 */
export function callQuorum<Req, Res>(
  rpc: RpcTransport,
  nodes: string[],
  ep: Endpoint<Req, Res>,
  body: Req,
  opts: QuorumOptions,
): Promise<{ node: string; body: Res }[]> {
  const { quorum } = opts;
  return new Promise((resolve, reject) => {
    if (nodes.length < quorum) {
      reject(new QuorumError(quorum, 0, [`only ${nodes.length} node(s) to ask`]));
      return;
    }
    const ok: { node: string; body: Res }[] = [];
    const errors: string[] = [];
    let done = false;
    for (const node of nodes) {
      call(rpc, node, ep, body, { timeoutMs: opts.timeoutMs, priority: opts.priority }).then(
        (r) => {
          if (done) return;
          ok.push({ node, body: r.body });
          if (ok.length >= quorum) {
            done = true;
            resolve(ok);
          }
        },
        (e: unknown) => {
          if (done) return;
          errors.push(`${node.slice(0, 16)}: ${errorMessage(e)}`);
          if (nodes.length - errors.length < quorum) {
            done = true;
            reject(new QuorumError(quorum, ok.length, errors));
          }
        },
      );
    }
  });
}

/** Like callQuorum for several node sets at once: the quorum must be met in each set. */
export async function callQuorumSets<Req, Res>(
  rpc: RpcTransport,
  sets: string[][],
  ep: Endpoint<Req, Res>,
  body: Req,
  quorumOf: (setSize: number) => number,
  opts: Omit<QuorumOptions, 'quorum'> = {},
): Promise<void> {
  const all = [...new Set(sets.flat())];
  if (sets.length <= 1) {
    await callQuorum(rpc, all, ep, body, { ...opts, quorum: quorumOf(all.length) });
    return;
  }
  // One request per node, then wait until every set has its quorum.
  await new Promise<void>((resolve, reject) => {
    const okNodes = new Set<string>();
    const failed = new Set<string>();
    const errors: string[] = [];
    let done = false;
    const check = () => {
      if (done) return;
      if (sets.every((s) => s.filter((n) => okNodes.has(n)).length >= quorumOf(s.length))) {
        done = true;
        resolve();
      } else if (sets.some((s) => s.length - s.filter((n) => failed.has(n)).length < quorumOf(s.length))) {
        done = true;
        reject(new QuorumError(Math.max(...sets.map((s) => quorumOf(s.length))), okNodes.size, errors));
      }
    };
    for (const node of all) {
      call(rpc, node, ep, body, { timeoutMs: opts.timeoutMs, priority: opts.priority }).then(
        () => {
          okNodes.add(node);
          check();
        },
        (e: unknown) => {
          failed.add(node);
          errors.push(`${node.slice(0, 16)}: ${errorMessage(e)}`);
          check();
        },
      );
    }
  });
}

/** Write and read quorums for a replication factor and consistency mode (DESIGN §6). */
export function quorums(rf: number, mode: 'consistent' | 'degraded' | 'dangerous'): { write: number; read: number } {
  const w = Math.floor(rf / 2) + 1;
  if (mode === 'dangerous') return { write: 1, read: 1 };
  if (mode === 'degraded') return { write: w, read: 1 };
  return { write: w, read: rf - w + 1 };
}
