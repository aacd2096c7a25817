// A TCP relay that holds bytes for a one-way delay in each direction (order kept),
// to simulate WAN links between nodes on one machine without netem.
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface RelayOptions {
  listenPort: number;
  targetPort: number;
  /** Mean one-way delay, ms. */
  delayMs: number;
  /** Uniform jitter ± ms on each chunk's delay (order is kept). */
  jitterMs: number;
}

// One queue and one timer per direction, so chunks leave strictly in arrival order.
function pipeDelayed(from: Socket, to: Socket, o: RelayOptions): void {
  const queue: { at: number; chunk: Buffer | null }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    timer = undefined;
    const now = Date.now();
    while (queue.length && queue[0]!.at <= now) {
      const { chunk } = queue.shift()!;
      if (to.destroyed) return;
      if (chunk === null) to.end();
      else to.write(chunk);
    }
    if (queue.length) timer = setTimeout(pump, Math.max(1, queue[0]!.at - now));
  };
  const push = (chunk: Buffer | null) => {
    const last = queue.length ? queue[queue.length - 1]!.at : 0;
    queue.push({ at: Math.max(last, Date.now() + o.delayMs + (Math.random() * 2 - 1) * o.jitterMs), chunk });
    if (!timer) timer = setTimeout(pump, Math.max(1, queue[0]!.at - Date.now()));
  };
  from.on('data', (c: Buffer) => push(c));
  from.on('end', () => push(null));
  from.on('error', () => to.destroy());
  from.on('close', () => {
    if (!queue.length) to.destroy();
  });
}

/** Starts a delaying relay; resolves once it listens. */
export function startRelay(o: RelayOptions): Promise<Server> {
  const server = createServer((inbound) => {
    inbound.setNoDelay(true);
    const outbound = connect(o.targetPort, '127.0.0.1');
    outbound.setNoDelay(true);
    pipeDelayed(inbound, outbound, o);
    pipeDelayed(outbound, inbound, o);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.listenPort, '127.0.0.1', () => resolve(server));
  });
}
