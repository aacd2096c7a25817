/**
 * Node identity: an Ed25519 key pair whose raw 32-byte public key is the node id.
 *
 * On disk (in `metadata_dir`):
 * - `node_key`: the private key as PKCS#8 DER (48 bytes for Ed25519), mode 0600.
 *   For convenience we also accept a raw 32-byte seed, or the 64-byte
 *   libsodium form (seed ‖ public key) that Garage itself writes.
 * - `node_key.pub`: the raw 32-byte public key (informational: the public key is
 *   always re-derived from the private key, and a mismatching file is rewritten).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { NetError } from '../util/errors.ts';
import { logger } from '../util/log.ts';

const log = logger('net/node_key');

/** A node's identity key pair. */
export interface NodeKey {
  /** 64 lowercase hex chars of the raw 32-byte Ed25519 public key. */
  id: string;
  /** Raw 32-byte Ed25519 public key. */
  publicKey: Buffer;
  /** Ed25519 private key. */
  privateKey: KeyObject;
}

// DER prefix of a PKCS#8 Ed25519 private key; followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
// DER prefix of an SPKI Ed25519 public key; followed by the 32 raw bytes.
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Builds an Ed25519 private key from its 32-byte seed. */
export function ed25519FromSeed(seed: Buffer): KeyObject {
  if (seed.length !== 32) throw new NetError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Returns the raw 32-byte public key of an Ed25519 key (private or public). */
export function rawEd25519PublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') throw new NetError(`expected an Ed25519 key, got ${pub.asymmetricKeyType}`);
  const der = pub.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(der.length - 32));
}

/** Builds a KeyObject for a raw 32-byte Ed25519 public key. */
export function ed25519PublicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new NetError(`Ed25519 public key must be 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function nodeKeyOf(privateKey: KeyObject): NodeKey {
  const publicKey = rawEd25519PublicKey(privateKey);
  return { id: publicKey.toString('hex'), publicKey, privateKey };
}

/** Generates a fresh in-memory key (for short-lived peers such as the CLI). */
export function generateEphemeralKey(): NodeKey {
  return nodeKeyOf(generateKeyPairSync('ed25519').privateKey);
}

function parsePrivateKeyFile(data: Buffer, path: string): KeyObject {
  if (data.length === 32) return ed25519FromSeed(data);
  if (data.length === 64) {
    // libsodium layout: seed ‖ public key; the check catches a truncated/garbled file.
    const key = ed25519FromSeed(data.subarray(0, 32));
    if (!rawEd25519PublicKey(key).equals(data.subarray(32))) {
      throw new NetError(`${path}: 64-byte key whose public half does not match its seed`);
    }
    return key;
  }
  try {
    const key = createPrivateKey({ key: data, format: 'der', type: 'pkcs8' });
    if (key.asymmetricKeyType !== 'ed25519') throw new NetError(`not an Ed25519 key (${key.asymmetricKeyType})`);
    return key;
  } catch (e) {
    throw new NetError(`${path}: cannot parse node key (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Writes a file atomically (temp file + fsync + rename) with the given mode. */
async function writeFileAtomic(path: string, data: Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/** Loads `metadataDir/node_key`, creating a new key pair on first start. */
export async function loadOrCreateNodeKey(metadataDir: string): Promise<NodeKey> {
  const keyPath = join(metadataDir, 'node_key');
  const pubPath = join(metadataDir, 'node_key.pub');
  let key: NodeKey;
  let existing: Buffer | undefined;
  try {
    existing = await readFile(keyPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (existing) {
    key = nodeKeyOf(parsePrivateKeyFile(existing, keyPath));
  } else {
    await mkdir(metadataDir, { recursive: true });
    key = generateEphemeralKey();
    const der = key.privateKey.export({ format: 'der', type: 'pkcs8' });
    await writeFileAtomic(keyPath, der, 0o600);
    log.info({ nodeId: key.id }, 'generated new node key');
  }
  // Keep the .pub file in sync with the private key (it may be missing or stale).
  let pub: Buffer | undefined;
  try {
    pub = await readFile(pubPath);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (!pub?.equals(key.publicKey)) await writeFile(pubPath, key.publicKey, { mode: 0o644 });
  return key;
}
