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

function pipeDelayed(from: Socket, to: Socket, o: RelayOptions): void {
  let lastRelease = 0;
  from.on('data', (chunk: Buffer) => {
    const delay = o.delayMs + (Math.random() * 2 - 1) * o.jitterMs;
    const release = Math.max(lastRelease, Date.now() + delay);
    lastRelease = release;
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, release - Date.now());
  });
  from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastRelease - Date.now())));
  from.on('error', () => to.destroy());
  from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, lastRelease - Date.now()) + 10));
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
