/**
 * A TLS terminator in front of a local port, as the reverse proxy in front of a real
 * deployment would be: clients that refuse to send SSE-C keys over plain HTTP (the Go SDK
 * under rclone) reach the S3 API through it.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { connect } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';

/** A self-signed certificate for 127.0.0.1 (ECDSA P-256), as PEMs. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '01',
      name: 'CN=127.0.0.1',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 24 * 3600_000),
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
    },
    webcrypto,
  );
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`;
  return { cert: cert.toString('pem'), key };
}

/** Listens with TLS on a free port of 127.0.0.1 and pipes each connection to `target`. */
export async function tlsFront(target: number): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<TLSSocket>();
  const server = createServer(await selfSigned(), (s) => {
    sockets.add(s);
    const up = connect(target, '127.0.0.1');
    s.pipe(up).pipe(s);
    const end = () => {
      s.destroy();
      up.destroy();
      sockets.delete(s);
    };
    s.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the TLS front has no TCP address');
  return {
    url: `https://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
