import './quiet_logs.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { once } from 'node:events';
import { connect as tcpConnect, type AddressInfo } from 'node:net';
import { randomBytes, X509Certificate } from 'node:crypto';
import { generateEphemeralKey } from '../../src/net/node_key.ts';
import {
  clientTlsOptions,
  deriveCaCertificate,
  makeTlsMaterial,
  nodeIdFromDer,
  peerNodeId,
  serverTlsOptions,
  type TlsMaterial,
} from '../../src/net/tls.ts';
import { NetError } from '../../src/util/errors.ts';
import { startNode, SECRET, nextEvent } from './helpers.ts';

test('the cluster CA is a deterministic function of rpc_secret', async () => {
  const s = randomBytes(32);
  const a = await deriveCaCertificate(s);
  assert.equal(await deriveCaCertificate(Buffer.from(s)), a);
  assert.notEqual(await deriveCaCertificate(randomBytes(32)), a);
  const ca = new X509Certificate(a);
  assert.ok(ca.ca);
  assert.equal(ca.publicKey.asymmetricKeyType, 'ed25519');
  await assert.rejects(deriveCaCertificate(randomBytes(16)), NetError);
});

test('node certificates carry the node key and chain to the CA', async () => {
  const k = generateEphemeralKey();
  const m = await makeTlsMaterial(SECRET, k);
  const ca = new X509Certificate(m.caPem);
  const cert = new X509Certificate(m.certPem);
  assert.ok(cert.verify(ca.publicKey));
  assert.ok(cert.checkIssued(ca));
  assert.equal(nodeIdFromDer(cert.raw), k.id);
  // Deterministic as well: re-issuing gives the same bytes.
  assert.equal((await makeTlsMaterial(SECRET, k)).certPem, m.certPem);
});

async function rawServer(
  opts: tls.TlsOptions,
): Promise<{ server: tls.Server; port: number; accepted: tls.TLSSocket[]; clientErrors: Error[] }> {
  const accepted: tls.TLSSocket[] = [];
  const clientErrors: Error[] = [];
  const server = tls.createServer(opts, (s) => {
    accepted.push(s);
    s.on('error', () => undefined);
    s.write('ok');
  });
  server.on('tlsClientError', (e) => clientErrors.push(e));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, accepted, clientErrors };
}

function dial(port: number, opts: tls.ConnectionOptions): Promise<{ socket: tls.TLSSocket; data: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ ...opts, host: '127.0.0.1', port });
    socket.once('error', reject);
    // In TLS 1.3 the client finishes before the server checks its certificate:
    // only data from the server proves the server accepted us.
    socket.once('data', (d: Buffer) => resolve({ socket, data: d.toString() }));
    socket.once('close', () => reject(new Error('closed without data')));
  });
}

test('mutual TLS 1.3 with Ed25519 certificates works on this Node', async () => {
  const a = generateEphemeralKey();
  const b = generateEphemeralKey();
  const [ma, mb] = await Promise.all([makeTlsMaterial(SECRET, a), makeTlsMaterial(SECRET, b)]);
  const srv = await rawServer(serverTlsOptions(ma));
  try {
    const { socket, data } = await dial(srv.port, clientTlsOptions(mb, a.id));
    assert.equal(data, 'ok');
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    assert.equal(peerNodeId(socket), a.id);
    assert.equal(srv.accepted.length, 1);
    assert.equal(peerNodeId(srv.accepted[0]!), b.id);
    assert.ok(srv.accepted[0]!.authorized);
    socket.destroy();
    // TLS 1.2 is refused.
    await assert.rejects(
      dial(srv.port, { ...clientTlsOptions(mb, a.id), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }),
    );
  } finally {
    for (const s of srv.accepted) s.destroy();
    srv.server.close();
  }
});

test('wrong rpc_secret is refused in both directions (raw TLS)', async () => {
  const a = generateEphemeralKey();
  const b = generateEphemeralKey();
  const good: TlsMaterial = await makeTlsMaterial(SECRET, a);
  const bad: TlsMaterial = await makeTlsMaterial(randomBytes(32), b);
  const goodClient: TlsMaterial = await makeTlsMaterial(SECRET, b);

  // 1. The server refuses a client certificate from another CA, even when that
  //    client does not check the server at all.
  const srv = await rawServer(serverTlsOptions(good));
  try {
    await assert.rejects(
      dial(srv.port, {
        ...clientTlsOptions(bad, a.id),
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      }),
    );
    assert.equal(srv.accepted.length, 0);
    assert.ok(srv.clientErrors.length >= 1);
  } finally {
    srv.server.close();
  }

  // 2. The client refuses a server certificate from another CA (the server here
  //    asks nothing of the client, so only the client-side check can fail).
  const badSrv = await rawServer({ ...serverTlsOptions(bad), requestCert: false, rejectUnauthorized: false });
  try {
    await assert.rejects(dial(badSrv.port, clientTlsOptions(goodClient, b.id)), /certificate/);
  } finally {
    for (const s of badSrv.accepted) s.destroy();
    badSrv.server.close();
  }
});

test('NetApp: a node without the secret cannot connect, either way; the server reports it', async () => {
  const good = await startNode();
  const bad = await startNode({ secret: randomBytes(32) });
  const other = await startNode();
  try {
    const failed = nextEvent<[string, Error]>(good.app, 'handshake-failed');
    await assert.rejects(
      bad.app.connect(good.app.id, good.addr),
      (e: unknown) => e instanceof NetError && /wrong rpc_secret\?/.test(e.message),
    );
    const [from] = await failed;
    assert.match(from, /^127\.0\.0\.1:\d+$/);
    await assert.rejects(
      other.app.connect(bad.app.id, bad.addr),
      (e: unknown) => e instanceof NetError && /wrong rpc_secret\?/.test(e.message),
    );
    assert.equal(good.app.isConnected(bad.app.id), false);
    assert.equal(bad.app.connectedPeers().length, 0);
    assert.equal(other.app.connectedPeers().length, 0);
  } finally {
    await Promise.all([good.app.close(), bad.app.close(), other.app.close()]);
  }
});

test('NetApp: dialing id X at an address where node Y answers is refused (no impersonation)', async () => {
  const x = await startNode();
  const y = await startNode();
  const c = await startNode();
  try {
    await assert.rejects(c.app.connect(x.app.id, y.addr), /presented node id/);
    assert.equal(c.app.isConnected(x.app.id), false);
    assert.equal(c.app.isConnected(y.app.id), false);
    // The honest dial still works.
    await c.app.connect(x.app.id, x.addr);
    assert.ok(c.app.isConnected(x.app.id));
  } finally {
    await Promise.all([x.app.close(), y.app.close(), c.app.close()]);
  }
});

test('close() does not wait for a handshake that never comes', async () => {
  const n = await startNode();
  const raw = tcpConnect(n.port, '127.0.0.1');
  raw.on('error', () => undefined);
  await once(raw, 'connect');
  await new Promise((r) => setTimeout(r, 50));
  const t0 = performance.now();
  await n.app.close();
  assert.ok(performance.now() - t0 < 1000);
  raw.destroy();
});
