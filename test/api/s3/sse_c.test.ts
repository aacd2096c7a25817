import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { S3Error } from '../../../src/api/common/s3_error.ts';
import { BlockError } from '../../../src/util/errors.ts';
import {
  customerKey,
  managedSseName,
  openWith,
  SEAL_OVERHEAD,
  sealWith,
  UPLOAD_REFUSALS,
  type CustomerKey,
} from '../../../src/api/s3/sse_c.ts';

const P = 'x-amz-server-side-encryption-customer-';

function headersFor(key: Buffer): Record<string, string> {
  return {
    [`${P}algorithm`]: 'AES256',
    [`${P}key`]: key.toString('base64'),
    [`${P}key-md5`]: createHash('md5').update(key).digest('base64'),
  };
}
const parse = (h: Record<string, string>, source: 'object' | 'copy-source' = 'object') =>
  customerKey((n) => h[n], source);
const keyOf = (b: Buffer): CustomerKey => parse(headersFor(b))!;

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof S3Error) return `${e.status} ${e.code}`;
    throw e;
  }
  return 'ok';
}

describe('SSE-C keys and block sealing', () => {
  it('parses a key and checks its algorithm, length and MD5 as S3 does', () => {
    const k = randomBytes(32);
    const h = headersFor(k);
    assert.ok(parse(h)!.key.equals(k));
    assert.equal(parse({}), undefined);
    assert.equal(
      code(() => parse({ ...h, [`${P}algorithm`]: 'AES128' })),
      '400 InvalidEncryptionAlgorithmError',
    );
    const { [`${P}algorithm`]: _a, ...noAlg } = h;
    assert.equal(
      code(() => parse(noAlg)),
      '400 InvalidArgument',
    );
    const { [`${P}key`]: _k, ...noKey } = h;
    assert.equal(
      code(() => parse(noKey)),
      '400 InvalidArgument',
    );
    const { [`${P}key-md5`]: _m, ...noMd5 } = h;
    assert.equal(
      code(() => parse(noMd5)),
      '400 InvalidArgument',
    );
    assert.equal(
      code(() => parse({ ...headersFor(randomBytes(16)) })),
      '400 InvalidArgument',
    );
    assert.equal(
      code(() => parse({ ...h, [`${P}key`]: '!!not base64!!' })),
      '400 InvalidArgument',
    );
    assert.equal(
      code(() => parse({ ...h, [`${P}key-md5`]: headersFor(randomBytes(32))[`${P}key-md5`]! })),
      '400 InvalidArgument',
    );
    // The copy-source form reads its own headers only.
    assert.equal(parse(h, 'copy-source'), undefined);
    const copy = Object.fromEntries(Object.entries(h).map(([n, v]) => [n.replace('x-amz-', 'x-amz-copy-source-'), v]));
    assert.ok(parse(copy, 'copy-source')!.key.equals(k));
  });

  it('seals blocks so that only the same key opens them, and detects tampering', () => {
    const k = keyOf(randomBytes(32));
    const { stored, cipher } = sealWith(k);
    for (const size of [0, 1, 1000, 1 << 20]) {
      const plain = randomBytes(size);
      const sealed = cipher.seal(plain);
      assert.equal(sealed.length, size + SEAL_OVERHEAD);
      assert.ok(openWith(stored, k)!.open(sealed).equals(plain));
      if (size >= 16) assert.equal(sealed.indexOf(plain.subarray(0, 16)), -1, 'no plaintext inside');
      const bad = Buffer.from(sealed);
      bad[bad.length >> 1]! ^= 1;
      assert.throws(() => cipher.open(bad), BlockError);
    }
    // Two seals of the same bytes differ (a fresh nonce each), and two versions under one key have different keys.
    const same = Buffer.alloc(100, 7);
    assert.notDeepEqual(cipher.seal(same), cipher.seal(same));
    const other = sealWith(k);
    assert.throws(() => other.cipher.open(cipher.seal(same)), BlockError);
    assert.ok(!stored.check.equals(other.stored.check), 'key check values are salted');
  });

  it('refuses a missing, wrong or unneeded key with the error of the context', () => {
    const k = keyOf(randomBytes(32));
    const wrong = keyOf(randomBytes(32));
    const { stored } = sealWith(k);
    assert.equal(openWith(undefined, undefined), undefined);
    assert.equal(
      code(() => openWith(stored, undefined)),
      '400 InvalidRequest',
    );
    assert.equal(
      code(() => openWith(stored, wrong)),
      '403 AccessDenied',
    );
    assert.equal(
      code(() => openWith(undefined, k)),
      '400 InvalidRequest',
    );
    assert.equal(
      code(() => openWith(stored, wrong, 'copy-source')),
      '403 AccessDenied',
    );
    assert.equal(
      code(() => openWith(stored, wrong, UPLOAD_REFUSALS)),
      '400 InvalidRequest',
    );
  });

  it('names SSE-S3 and SSE-KMS headers, not SSE-C ones', () => {
    assert.equal(managedSseName([`${P}algorithm`, `${P}key`, 'content-type']), undefined);
    assert.equal(managedSseName(['X-Amz-Server-Side-Encryption']), 'x-amz-server-side-encryption');
    assert.equal(
      managedSseName(['x-amz-server-side-encryption-aws-kms-key-id']),
      'x-amz-server-side-encryption-aws-kms-key-id',
    );
  });
});
