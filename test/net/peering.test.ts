import './quiet_logs.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Peering, PING_ENDPOINT, parsePeerAddr, type PeeringOptions } from '../../src/net/peering.ts';
import { NetError } from '../../src/util/errors.ts';
import { nextEvent, startNode, waitFor, type TestNode } from './helpers.ts';

const FAST = {
  pingIntervalMs: 150,
  pingTimeoutMs: 150,
  exchangeIntervalMs: 250,
  reconnectBaseMs: 50,
  reconnectMaxMs: 400,
};

interface PeerNode extends TestNode {
  peering: Peering;
  dir: string;
}

async function peerNode(
  dir: string,
  opts: Partial<PeeringOptions> & { port?: number; key?: TestNode['key'] } = {},
): Promise<PeerNode> {
  const n = await startNode({ ...(opts.port ? { port: opts.port } : {}), ...(opts.key ? { key: opts.key } : {}) });
  const peering = new Peering({
    netapp: n.app,
    bootstrap: [],
    peerListFile: join(dir, 'peer_list'),
    ...FAST,
    ...opts,
    ...(opts.publicAddr === undefined ? {} : { publicAddr: opts.publicAddr === '' ? n.addr : opts.publicAddr }),
  });
  return { ...n, peering, dir };
}

async function stopNode(n: PeerNode): Promise<void> {
  await n.peering.stop();
  await n.app.close();
}

async function withDirs(k: number, fn: (dirs: string[]) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'peering-'));
  try {
    await fn(Array.from({ length: k }, (_, i) => join(root, `n${i}`)));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function persisted(file: string): Promise<{ id: string; addr: string }[]> {
  try {
    return (JSON.parse(await readFile(file, 'utf8')) as { peers: { id: string; addr: string }[] }).peers;
  } catch {
    return [];
  }
}

test('parsePeerAddr is exported for config and CLI use', () => {
  assert.throws(() => parsePeerAddr('nonsense'), NetError);
  assert.throws(
    () => new Peering({ netapp: undefined as never, bootstrap: ['bad'], peerListFile: '/nonexistent' }),
    /invalid peer "bad"/,
  );
});

test('three nodes discover each other transitively from one bootstrap peer and persist what they learnt', () =>
  withDirs(3, async ([d0, d1, d2]) => {
    // A listens; B and C only know A. C has no public address: the others must
    // derive it from its announced listen port and the IP they see.
    const a = await peerNode(d0!, { publicAddr: '' });
    const b = await peerNode(d1!, { publicAddr: '', bootstrap: [`${a.app.id}@${a.addr}`] });
    const c = await peerNode(d2!, { bootstrap: [`${a.app.id}@${a.addr}`] });
    const nodes = [a, b, c];
    try {
      await Promise.all(nodes.map((n) => n.peering.start()));
      await waitFor(() => nodes.every((n) => n.app.connectedPeers().length === 2), 8000, 'full mesh');
      await waitFor(
        () =>
          nodes.every((n) => n.peering.peers().length === 2 && n.peering.peers().every((p) => p.rttMs !== undefined)),
        5000,
        'pings',
      );
      for (const n of nodes) {
        const peers = n.peering.peers();
        for (const other of nodes.filter((o) => o !== n)) {
          const p = peers.find((x) => x.id === other.app.id);
          assert.ok(p, 'peer known');
          assert.equal(p.addr, other.addr);
          assert.equal(p.connected, true);
          assert.ok(p.lastSeen > Date.now() - 5000);
          assert.equal(p.downSince, undefined);
          assert.ok(p.rttMs! >= 0 && p.rttMs! < 1000);
        }
      }
      for (const n of nodes) {
        const want = nodes
          .filter((o) => o !== n)
          .map((o) => ({ id: o.app.id, addr: o.addr }))
          .sort((x, y) => x.id.localeCompare(y.id));
        let got: { id: string; addr: string }[] = [];
        const deadline = Date.now() + 3000;
        while (Date.now() < deadline) {
          got = (await persisted(join(n.dir, 'peer_list'))).sort((x, y) => x.id.localeCompare(y.id));
          if (JSON.stringify(got) === JSON.stringify(want)) break;
          await new Promise((r) => setTimeout(r, 20));
        }
        assert.deepEqual(got, want);
      }
    } finally {
      await Promise.all(nodes.map(stopNode));
    }
  }));

test('a restarted peer is reconnected (backoff), and reloads its peers from peer_list', () =>
  withDirs(2, async ([d0, d1]) => {
    const a = await peerNode(d0!, { publicAddr: '' });
    let b = await peerNode(d1!, { publicAddr: '', bootstrap: [`${a.app.id}@${a.addr}`] });
    try {
      await Promise.all([a.peering.start(), b.peering.start()]);
      await waitFor(
        () => a.app.isConnected(b.app.id) && (a.peering.peers()[0]?.connected ?? false),
        5000,
        'connection',
      );
      const down = nextEvent<[string]>(a.peering, 'peer-down');
      const bKey = b.key;
      const bPort = b.port;
      await stopNode(b);
      assert.deepEqual(await down, [bKey.id]);
      const info = a.peering.peers().find((p) => p.id === bKey.id)!;
      assert.equal(info.connected, false);
      assert.ok(info.downSince !== undefined && info.downSince <= Date.now());
      // Let a few reconnection attempts fail first.
      await new Promise((r) => setTimeout(r, 300));
      const up = nextEvent<[string]>(a.peering, 'peer-up', 8000);
      // Same key, same port, no bootstrap: it must find A through its peer_list.
      b = await peerNode(d1!, { publicAddr: '', port: bPort, key: bKey });
      await b.peering.start();
      assert.deepEqual(await up, [bKey.id]);
      await waitFor(
        () => b.app.isConnected(a.app.id) && b.peering.peers().some((p) => p.id === a.app.id && p.connected),
        5000,
        'B reconnected',
      );
      const again = a.peering.peers().find((p) => p.id === bKey.id)!;
      assert.equal(again.connected, true);
      assert.equal(again.downSince, undefined);
      await waitFor(() => a.app.connectionCount() === 1 && b.app.connectionCount() === 1, 3000, 'single connection');
    } finally {
      await Promise.all([stopNode(a), stopNode(b)]);
    }
  }));

test('consecutive failed pings mark a peer down and drop its connection; it comes back', () =>
  withDirs(2, async ([d0, d1]) => {
    const a = await peerNode(d0!, { publicAddr: '', maxPingFailures: 2 });
    const b = await peerNode(d1!, { publicAddr: '', bootstrap: [`${a.app.id}@${a.addr}`] });
    try {
      await Promise.all([a.peering.start(), b.peering.start()]);
      await waitFor(() => a.app.isConnected(b.app.id) && a.peering.peers().length === 1, 5000, 'connection');
      // B stops answering pings (but stays connected).
      let hang = true;
      b.app.register(PING_ENDPOINT, () =>
        hang ? new Promise(() => undefined) : Promise.resolve({ body: { addr: b.addr } }),
      );
      const [id] = await nextEvent<[string]>(a.peering, 'peer-down', 5000);
      assert.equal(id, b.app.id);
      assert.ok(a.peering.peers()[0]!.downSince !== undefined);
      hang = false;
      await nextEvent(a.peering, 'peer-up', 5000);
      await waitFor(() => a.app.isConnected(b.app.id), 3000, 'reconnection');
    } finally {
      await Promise.all([stopNode(a), stopNode(b)]);
    }
  }));

test('connectTo connects and persists; unreachable peers reject; a corrupt peer_list is ignored', () =>
  withDirs(2, async ([d0, d1]) => {
    const a = await peerNode(d0!, { publicAddr: '' });
    const b = await peerNode(d1!, { publicAddr: '' });
    try {
      await writeFile(join(d1!, '..', 'n1-peer_list'), '{not json');
      const c = new Peering({ netapp: b.app, bootstrap: [], peerListFile: join(d1!, '..', 'n1-peer_list') });
      await c.start();
      assert.deepEqual(c.peers(), []);
      await c.stop();
      await Promise.all([a.peering.start(), b.peering.start()]);
      await b.peering.connectTo(`${a.app.id}@${a.addr}`);
      assert.ok(b.app.isConnected(a.app.id));
      await waitFor(
        () => a.peering.peers().some((p) => p.id === b.app.id && p.addr === b.addr),
        3000,
        'A learns B address',
      );
      await b.peering.stop();
      assert.deepEqual(
        (await persisted(join(d1!, 'peer_list'))).map((p) => p.id),
        [a.app.id],
      );
      await assert.rejects(b.peering.connectTo(`${'ef'.repeat(32)}@127.0.0.1:1`), NetError);
      await assert.rejects(b.peering.connectTo('garbage'), /expected <node id>@<host>:<port>/);
    } finally {
      await Promise.all([stopNode(a), stopNode(b)]);
    }
  }));
