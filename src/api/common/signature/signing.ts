// SigV4 key derivation and the signing context kept for chunk signatures.

import { createHash, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/** Algorithm name of the request signature. */
export const ALGORITHM = 'AWS4-HMAC-SHA256';
/** Hex sha256 of the empty string (the "header hash" of every chunk string to sign). */
export const EMPTY_SHA256_HEX = createHash('sha256').digest('hex');

const SIG_RE = /^[0-9a-f]{64}$/;

/** Hex sha256 of a string or buffer. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// Node's HMAC is several times slower with a Buffer key than with a
// KeyObject (or a string), so derived keys are kept as KeyObjects and cached:
// a key is valid for a whole day, and every request of that day needs it.
const KEY_CACHE_MAX = 1024;
const keyCache = new Map<string, KeyObject>();

/** Derives (or reuses) the SigV4 signing key for one day, region and service. */
export function deriveSigningKey(secretKey: string, shortDate: string, region: string, service: string): KeyObject {
  const id = `${shortDate}\0${region}\0${service}\0${secretKey}`;
  let key = keyCache.get(id);
  if (key) return key;
  const kDate = createHmac('sha256', `AWS4${secretKey}`).update(shortDate).digest();
  const kRegion = createHmac('sha256', createSecretKey(kDate)).update(region).digest();
  const kService = createHmac('sha256', createSecretKey(kRegion)).update(service).digest();
  key = createSecretKey(createHmac('sha256', createSecretKey(kService)).update('aws4_request').digest());
  // Crude bound: entries only pile up across days and keys, so starting over is fine.
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(id, key);
  return key;
}

/** True if `given` (as sent by the client) is the 32-byte signature `expected`; constant time in the signature bytes. */
export function signatureMatches(expected: Buffer, given: string): boolean {
  // The format check leaks nothing about the secret; only the comparison of
  // well-formed signatures must not exit early.
  if (!SIG_RE.test(given)) return false;
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

/**
 * What chunk and trailer signatures are verified with: the derived signing key
 * (never the secret itself; kept private so it does not show in logs or
 * inspection), the request timestamp and scope, and the seed signature.
 */
export class SigningContext {
  readonly #key: KeyObject;
  /** X-Amz-Date of the request (ISO 8601 basic format). */
  readonly amzDate: string;
  /** Credential scope, e.g. 20130524/us-east-1/s3/aws4_request. */
  readonly scope: string;
  /** The request's own signature, which seeds the chunk signature chain. */
  readonly seedSignature: string;

  constructor(signingKey: KeyObject, amzDate: string, scope: string, seedSignature: string) {
    this.#key = signingKey;
    this.amzDate = amzDate;
    this.scope = scope;
    this.seedSignature = seedSignature;
  }

  /** HMAC-SHA256 of a string to sign with the signing key. */
  sign(stringToSign: string): Buffer {
    return createHmac('sha256', this.#key).update(stringToSign).digest();
  }

  /** Expected signature of a chunk given the previous signature and the chunk's hex sha256. */
  chunkSignature(previous: string, chunkSha256Hex: string): Buffer {
    return this.sign(
      `AWS4-HMAC-SHA256-PAYLOAD\n${this.amzDate}\n${this.scope}\n${previous}\n${EMPTY_SHA256_HEX}\n${chunkSha256Hex}`,
    );
  }

  /** Expected signature of the trailer section given the final chunk's signature and the hex sha256 of the canonical trailers. */
  trailerSignature(previous: string, trailersSha256Hex: string): Buffer {
    return this.sign(`AWS4-HMAC-SHA256-TRAILER\n${this.amzDate}\n${this.scope}\n${previous}\n${trailersSha256Hex}`);
  }

  /** Keeps the key out of JSON dumps of an AuthResult. */
  toJSON(): Record<string, string> {
    return { amzDate: this.amzDate, scope: this.scope };
  }
}
