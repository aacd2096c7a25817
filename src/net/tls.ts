/**
 * Cluster TLS material derived from `rpc_secret`.
 *
 * Every node derives the same certificate authority from the shared secret
 * (HKDF-SHA256 → Ed25519 seed → CA key, plus a self-signed CA certificate whose
 * every field is fixed, so the DER is identical on all nodes since Ed25519
 * signatures are deterministic). Each node then issues itself a certificate for
 * its own node key, signed by that CA. TLS 1.3 with mutual authentication and
 * the CA as the only trusted root means a peer without the secret cannot finish
 * a handshake; the client additionally checks that the server's certificate key
 * is the node id it meant to reach, so a member cannot impersonate another node
 * (it cannot prove possession of another node's private key).
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPublicKey, hkdfSync, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate, TlsOptions, TLSSocket } from 'node:tls';
import { NetError } from '../util/errors.ts';
import { ed25519FromSeed, rawEd25519PublicKey, type NodeKey } from './node_key.ts';

// Domain separation strings: changing either changes every derived CA (protocol break).
const HKDF_SALT = Buffer.from('garage-ts cluster ca v1');
const HKDF_INFO = Buffer.from('ed25519 ca key');
// Fixed validity so every node derives a byte-identical CA certificate;
// 9999-12-31T23:59:59Z is RFC 5280's "no well-defined expiration".
const NOT_BEFORE = new Date(Date.UTC(2020, 0, 1, 0, 0, 0));
const NOT_AFTER = new Date(Date.UTC(9999, 11, 31, 23, 59, 59));
const CA_NAME = 'CN=garage-ts cluster CA';
const CA_SERIAL = '01';
const ED25519 = { name: 'Ed25519' };

/** What a node needs to run TLS in its cluster: PEMs for node:tls. */
export interface TlsMaterial {
  /** The cluster CA certificate (identical on every node sharing the secret). */
  caPem: string;
  /** This node's certificate, signed by the cluster CA. */
  certPem: string;
  /** This node's private key (PKCS#8 PEM). */
  keyPem: string;
  /** This node's id (hex of its Ed25519 public key). */
  nodeId: string;
}

// Passed explicitly so we do not depend on x509's global provider being set.
const crypto = webcrypto;

async function toCryptoKey(key: KeyObject, usage: 'sign' | 'verify'): Promise<webcrypto.CryptoKey> {
  return usage === 'sign'
    ? await webcrypto.subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), ED25519, true, ['sign'])
    : await webcrypto.subtle.importKey(
        'spki',
        createPublicKey(key).export({ format: 'der', type: 'spki' }),
        ED25519,
        true,
        ['verify'],
      );
}

/** Checks and returns a 32-byte rpc_secret. */
function checkSecret(rpcSecret: Buffer): Buffer {
  if (rpcSecret.length !== 32)
    throw new NetError(`rpc_secret must be 32 bytes (64 hex chars), got ${rpcSecret.length} bytes`);
  return rpcSecret;
}

/** Derives the cluster CA private key from rpc_secret (HKDF-SHA256 → Ed25519 seed). */
export function deriveCaKey(rpcSecret: Buffer): KeyObject {
  const seed = Buffer.from(hkdfSync('sha256', checkSecret(rpcSecret), HKDF_SALT, HKDF_INFO, 32));
  return ed25519FromSeed(seed);
}

/** Builds the deterministic self-signed cluster CA certificate (PEM). */
export async function deriveCaCertificate(rpcSecret: Buffer): Promise<string> {
  const caKey = deriveCaKey(rpcSecret);
  const keys = { privateKey: await toCryptoKey(caKey, 'sign'), publicKey: await toCryptoKey(caKey, 'verify') };
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: CA_SERIAL,
      name: CA_NAME,
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
      keys,
      signingAlgorithm: ED25519,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return cert.toString('pem');
}

/** Issues the certificate of `nodeKey`, signed by the cluster CA (deterministic too). */
export async function issueNodeCertificate(rpcSecret: Buffer, nodeKey: NodeKey): Promise<string> {
  const caKey = deriveCaKey(rpcSecret);
  const caPublic = await toCryptoKey(caKey, 'verify');
  const nodePublic = await toCryptoKey(nodeKey.privateKey, 'verify');
  const cert = await x509.X509CertificateGenerator.create(
    {
      // Positive serial derived from the node id keeps the certificate deterministic.
      serialNumber: `01${nodeKey.id.slice(0, 30)}`,
      subject: `CN=${nodeKey.id}`,
      issuer: CA_NAME,
      notBefore: NOT_BEFORE,
      notAfter: NOT_AFTER,
      publicKey: nodePublic,
      signingKey: await toCryptoKey(caKey, 'sign'),
      signingAlgorithm: ED25519,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        // Every node is both a TLS server and a TLS client.
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
        await x509.SubjectKeyIdentifierExtension.create(nodePublic, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(caPublic, false, crypto),
      ],
    },
    crypto,
  );
  return cert.toString('pem');
}

/** Derives the CA and issues this node's certificate. */
export async function makeTlsMaterial(rpcSecret: Buffer, nodeKey: NodeKey): Promise<TlsMaterial> {
  const [caPem, certPem] = await Promise.all([
    deriveCaCertificate(rpcSecret),
    issueNodeCertificate(rpcSecret, nodeKey),
  ]);
  const keyPem = nodeKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { caPem, certPem, keyPem, nodeId: nodeKey.id };
}

/** Options for `tls.createServer`: TLS 1.3 only, client certificate required and checked against the CA. */
export function serverTlsOptions(m: TlsMaterial): TlsOptions {
  return {
    key: m.keyPem,
    cert: m.certPem,
    ca: [m.caPem],
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
  };
}

/**
 * Options for `tls.connect` to the node `expectedId`: TLS 1.3 only, server
 * certificate checked against the CA and its key against `expectedId`.
 */
export function clientTlsOptions(m: TlsMaterial, expectedId: string): ConnectionOptions {
  const want = expectedId.toLowerCase();
  return {
    key: m.keyPem,
    cert: m.certPem,
    ca: [m.caPem],
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    // Host names mean nothing here: the identity is the certificate's key.
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined => {
      let got: string;
      try {
        got = nodeIdFromDer(cert.raw);
      } catch (e) {
        return new NetError(`peer certificate unusable: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (got !== want)
        return new NetError(`peer presented node id ${got.slice(0, 16)}…, expected ${want.slice(0, 16)}…`);
      return undefined;
    },
  };
}

/** Node id (hex Ed25519 public key) carried by a DER certificate. */
export function nodeIdFromDer(der: Buffer): string {
  const cert = new NodeX509(der);
  return rawEd25519PublicKey(cert.publicKey).toString('hex');
}

/** Node id of the authenticated peer of a TLS socket (after the handshake). */
export function peerNodeId(socket: TLSSocket): string {
  const cert = socket.getPeerCertificate();
  if (!cert?.raw) throw new NetError('peer sent no certificate');
  return nodeIdFromDer(cert.raw);
}
