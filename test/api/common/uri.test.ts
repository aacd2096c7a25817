/** Percent-decoding of bucket names and object keys (src/api/common/uri.ts). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../src/api/common/s3_error.ts';
import { decodeUtf8Component } from '../../../src/api/common/uri.ts';

/** Fails unless `fn` throws an S3Error with this code and a message matching `message`. */
function assertS3Error(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof S3Error && e.code === code && message.test(e.message));
}

describe('percent-decoding of keys', () => {
  it('decodes UTF-8 and refuses what is not UTF-8 or not a valid escape', () => {
    assert.equal(decodeUtf8Component('/b/%C3%A9%20%F0%9F%9A%80', 'the path'), '/b/é 🚀');
    for (const bad of ['%FF', '%C3%28', '%ED%A0%80', '%F0%9F%98', '%C0%AF'])
      assertS3Error(() => decodeUtf8Component(`/b/${bad}`, 'the path'), 'InvalidArgument', /UTF-8/);
    assertS3Error(() => decodeUtf8Component('/b/%zz', 'the path'), 'InvalidRequest', /percent-escape/);
  });
});
