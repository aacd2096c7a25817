import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';
import {
  CHECKSUM_ALGORITHMS,
  combineCrc,
  isCrc,
  checksumAlgorithmFromHeader,
  checksumBase64,
  checksumHeaderName,
  createChecksum,
  crc32c,
  decodeChecksum,
  encodeChecksum,
  parseChecksumAlgorithm,
} from '../../../src/api/common/checksum.ts';

const CHECK = Buffer.from('123456789');

test('check values of "123456789"', () => {
  const hex = (alg: (typeof CHECKSUM_ALGORITHMS)[number]) => {
    const h = createChecksum(alg);
    h.update(CHECK);
    return h.digest().toString('hex');
  };
  assert.equal(hex('CRC32'), 'cbf43926');
  assert.equal(hex('CRC32C'), 'e3069283');
  assert.equal(hex('CRC64NVME'), 'ae8b14860a799888');
  assert.equal(hex('SHA1'), 'f7c3bc1d808e04732adf679965ccc34ca7ae3441');
  assert.equal(hex('SHA256'), '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225');
});

test('empty input and S3 base64 encoding', () => {
  // Known S3 values for an empty object.
  assert.equal(checksumBase64('CRC32', Buffer.alloc(0)), 'AAAAAA==');
  assert.equal(checksumBase64('CRC32C', Buffer.alloc(0)), 'AAAAAA==');
  assert.equal(checksumBase64('CRC64NVME', Buffer.alloc(0)), 'AAAAAAAAAAA=');
  assert.equal(checksumBase64('SHA256', Buffer.alloc(0)), '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  // "hello world" as the AWS SDK sends it (x-amz-checksum-crc32: DUoRhQ==).
  assert.equal(checksumBase64('CRC32', Buffer.from('hello world')), 'DUoRhQ==');
  assert.equal(checksumBase64('CRC32C', CHECK), Buffer.from('e3069283', 'hex').toString('base64'));
});

test('incremental updates equal one-shot, for every split', async () => {
  const data = randomBytes(100_003);
  for (const alg of CHECKSUM_ALGORITHMS) {
    const whole = checksumBase64(alg, data);
    for (const cuts of [[1], [7, 8, 9], [4096, 4097, 65536]]) {
      const h = createChecksum(alg);
      let prev = 0;
      for (const c of [...cuts, data.length]) {
        h.update(data.subarray(prev, c));
        prev = c;
      }
      assert.equal(encodeChecksum(h.digest()), whole, `${alg} split at ${cuts.join(',')}`);
    }
  }
  assert.equal(crc32c(data.subarray(5), crc32c(data.subarray(0, 5))), crc32c(data));
});

test('CRC32C and CRC64NVME agree with the AWS SDK implementations on random data', async () => {
  for (const len of [0, 1, 7, 8, 9, 1000, 65_537]) {
    const data = randomBytes(len);
    const a = new Crc32c();
    a.update(data);
    assert.equal(checksumBase64('CRC32C', data), Buffer.from(await a.digest()).toString('base64'), `crc32c len ${len}`);
    const b = new Crc64Nvme();
    b.update(data);
    assert.equal(
      checksumBase64('CRC64NVME', data),
      Buffer.from(await b.digest()).toString('base64'),
      `crc64nvme len ${len}`,
    );
  }
  const sha = createHash('sha1').update(CHECK).digest('base64');
  assert.equal(checksumBase64('SHA1', CHECK), sha);
});

test('decoding validates base64 and digest length', () => {
  assert.deepEqual(decodeChecksum('CRC32', 'DUoRhQ=='), Buffer.from('0d4a1185', 'hex'));
  assert.deepEqual(decodeChecksum('CRC32', ' DUoRhQ== '), Buffer.from('0d4a1185', 'hex'));
  assert.equal(decodeChecksum('CRC32', 'DUoRhQ'), undefined);
  assert.equal(decodeChecksum('CRC32', 'DUoRhQAA'), undefined);
  assert.equal(decodeChecksum('CRC32', 'DUo*hQ=='), undefined);
  assert.equal(decodeChecksum('CRC64NVME', 'DUoRhQ=='), undefined);
  assert.equal(decodeChecksum('SHA256', '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=')?.length, 32);
});

test('algorithm names', () => {
  assert.equal(parseChecksumAlgorithm('crc64nvme'), 'CRC64NVME');
  assert.equal(parseChecksumAlgorithm('MD5'), undefined);
  assert.equal(checksumHeaderName('CRC32C'), 'x-amz-checksum-crc32c');
  assert.equal(checksumAlgorithmFromHeader('X-Amz-Checksum-Sha1'), 'SHA1');
  assert.equal(checksumAlgorithmFromHeader('x-amz-checksum-type'), undefined);
});

describe('combineCrc', () => {
  it('gives the CRC of a concatenation from the CRCs of its pieces (every CRC, empty and odd-sized pieces)', () => {
    for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
      assert.ok(isCrc(alg));
      for (const sizes of [
        [1, 1],
        [0, 5],
        [5, 0],
        [1000, 3],
        [4096, 65_537, 7],
      ]) {
        const pieces = sizes.map((n, i) =>
          Buffer.from(Array.from({ length: n }, (_, j) => (i * 37 + 11 + j * 7) & 0xff)),
        );
        const one = (b: Buffer) => {
          const h = createChecksum(alg);
          h.update(b);
          return h.digest();
        };
        let crc = one(pieces[0]!);
        for (const p of pieces.slice(1)) crc = combineCrc(alg, crc, one(p), p.length);
        assert.deepEqual(crc, one(Buffer.concat(pieces)), `${alg} ${sizes.join('+')}`);
      }
    }
    assert.ok(!isCrc('SHA256'));
  });
});
