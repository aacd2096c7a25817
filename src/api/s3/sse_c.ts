import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ObjectEncryption } from '../../model/object.ts';
import { BlockError } from '../../util/errors.ts';
import { S3Error } from '../common/s3_error.ts';

// SSE-C: the client sends a 256-bit key with every request touching the object's data. The key
// is never stored. Each object version gets a random salt; from key and salt come a data key
// (AES-256-GCM, a random nonce per block) and a key check value, stored with the object, that
// tells a wrong key apart from the right one without decrypting anything.

/** Bytes a sealed block has beyond its plaintext: the nonce before it, the GCM tag after it. */
export const SEAL_OVERHEAD = 12 + 16;
const NONCE = 12;
const TAG = 16;

/** A customer key sent with a request, checked against its MD5. */
export interface CustomerKey {
  key: Buffer;
  /** base64 MD5 of the key, as echoed in responses. */
  md5: string;
}

/** Encrypts and decrypts the blocks (and inline bytes) of one object version. */
export class BlockCipher {
  readonly #key: Buffer;
  constructor(dataKey: Buffer) {
    this.#key = dataKey;
  }

  /** nonce ‖ ciphertext ‖ tag. */
  seal(plain: Buffer): Buffer {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.#key, nonce);
    const body = c.update(plain);
    const fin = c.final();
    return Buffer.concat([nonce, body, fin, c.getAuthTag()], NONCE + plain.length + TAG);
  }

  /** The plaintext of a sealed block; a block that does not authenticate is corrupt. */
  open(sealed: Buffer): Buffer {
    if (sealed.length < SEAL_OVERHEAD) throw new BlockError('encrypted block is truncated');
    const d = createDecipheriv('aes-256-gcm', this.#key, sealed.subarray(0, NONCE));
    d.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      const out = d.update(sealed.subarray(NONCE, sealed.length - TAG));
      const fin = d.final();
      return fin.length ? Buffer.concat([out, fin]) : out;
    } catch {
      throw new BlockError('encrypted block failed authentication (corrupt data)');
    }
  }
}

function derive(key: Buffer, salt: Buffer, what: string): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, `garage-ts sse-c ${what}`, 32));
}

/** Where a request's customer key comes from: the object's own headers, or the copy source's. */
export type KeySource = 'object' | 'copy-source';

const PREFIX: Record<KeySource, string> = {
  object: 'x-amz-server-side-encryption-customer-',
  'copy-source': 'x-amz-copy-source-server-side-encryption-customer-',
};

/** The customer key a request (or PostObject form) carries, validated as S3 does; undefined if none. */
export function customerKey(
  get: (name: string) => string | undefined,
  source: KeySource = 'object',
): CustomerKey | undefined {
  const p = PREFIX[source];
  const alg = get(`${p}algorithm`);
  const key = get(`${p}key`);
  const md5 = get(`${p}key-md5`);
  if (alg === undefined && key === undefined && md5 === undefined) return undefined;
  const arg = (name: string, message: string) =>
    new S3Error('InvalidArgument', message, { ArgumentName: `${p}${name}` });
  if (alg === undefined)
    throw arg(
      'algorithm',
      'Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.',
    );
  if (alg !== 'AES256')
    throw new S3Error(
      'InvalidEncryptionAlgorithmError',
      'The encryption request you specified is not valid. Supported value: AES256.',
      {
        ArgumentName: `${p}algorithm`,
        ArgumentValue: alg.slice(0, 40),
      },
    );
  if (key === undefined)
    throw arg(
      'key',
      'Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.',
    );
  const raw = Buffer.from(key, 'base64');
  if (raw.length !== 32 || raw.toString('base64') !== key.trim())
    throw arg('key', 'The secret key was invalid for the specified algorithm.');
  const digest = createHash('md5').update(raw).digest('base64');
  if (md5 === undefined)
    throw arg(
      'key-MD5',
      'Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.',
    );
  if (md5.trim() !== digest)
    throw arg('key-MD5', 'The calculated MD5 hash of the key did not match the hash that was provided.');
  return { key: raw, md5: digest };
}

/** customerKey over a request's headers. */
export function requestKey(headers: IncomingMessage['headers'], source: KeySource = 'object'): CustomerKey | undefined {
  return customerKey((n) => {
    const v = headers[n];
    return Array.isArray(v) ? v.join(',') : v;
  }, source);
}

/** A new version's encryption under a customer key: what is stored, and its cipher. */
export function sealWith(k: CustomerKey): { stored: ObjectEncryption; cipher: BlockCipher } {
  const salt = randomBytes(16);
  return {
    stored: { algorithm: 'AES256', salt, check: derive(k.key, salt, 'key check') },
    cipher: new BlockCipher(derive(k.key, salt, 'data key')),
  };
}

/** How a mismatch between what is stored and what was sent is reported (made only when thrown: errors are costly). */
interface Refusals {
  missing: () => S3Error;
  notApplicable: () => S3Error;
  wrongKey: () => S3Error;
}

const OBJECT_REFUSALS = (source: KeySource): Refusals => ({
  missing: () =>
    new S3Error(
      'InvalidRequest',
      source === 'object'
        ? 'The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.'
        : 'The source object of the COPY action is encrypted. Please provide the x-amz-copy-source-server-side-encryption-customer-* headers.',
    ),
  notApplicable: () =>
    new S3Error(
      'InvalidRequest',
      source === 'object'
        ? 'The encryption parameters are not applicable to this object.'
        : 'The source object of the COPY action is not encrypted: the copy-source encryption parameters are not applicable.',
    ),
  wrongKey: () =>
    new S3Error(
      'AccessDenied',
      source === 'object'
        ? 'Access Denied: the SSE-C key provided is not the one the object was encrypted with.'
        : 'Access Denied: the SSE-C key provided for the copy source is not the one it was encrypted with.',
    ),
});

/** Refusals for the parts of a multipart upload (S3 answers 400 for all three). */
export const UPLOAD_REFUSALS: Refusals = {
  missing: () =>
    new S3Error(
      'InvalidRequest',
      'The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.',
    ),
  notApplicable: () =>
    new S3Error(
      'InvalidRequest',
      'The multipart upload initiate did not request encryption: the encryption parameters are not applicable.',
    ),
  wrongKey: () =>
    new S3Error('InvalidRequest', 'The provided encryption parameters did not match the ones used originally.'),
};

/**
 * The cipher to read (or extend) a stored version with the key a request sent: undefined for a
 * plaintext version read without a key; an S3 error when the two do not go together.
 */
export function openWith(
  stored: ObjectEncryption | undefined,
  k: CustomerKey | undefined,
  refusals: Refusals | KeySource = 'object',
): BlockCipher | undefined {
  const r = typeof refusals === 'string' ? OBJECT_REFUSALS(refusals) : refusals;
  if (!stored) {
    if (k) throw r.notApplicable();
    return undefined;
  }
  if (!k) throw r.missing();
  const check = derive(k.key, stored.salt, 'key check');
  if (check.length !== stored.check.length || !timingSafeEqual(check, stored.check)) throw r.wrongKey();
  return new BlockCipher(derive(k.key, stored.salt, 'data key'));
}

/** The response headers of a request made with a customer key (S3 echoes the algorithm and the key's MD5). */
export function sseHeaders(k: CustomerKey | undefined, source: KeySource = 'object'): Record<string, string> {
  if (!k) return {};
  const p = PREFIX[source];
  return { [`${p}algorithm`]: 'AES256', [`${p}key-MD5`]: k.md5 };
}

/** Names of the headers (or form fields) asking for SSE-S3 or SSE-KMS, which are not built. */
export function managedSseName(names: Iterable<string>): string | undefined {
  for (const n of names) {
    const name = n.toLowerCase();
    if (name.startsWith('x-amz-server-side-encryption') && !name.startsWith(PREFIX.object)) return name;
  }
  return undefined;
}
