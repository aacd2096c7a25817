// S3 "additional checksums" (x-amz-checksum-*): incremental hashers and their
// wire encoding. S3 transmits every checksum as the base64 of the big-endian
// digest bytes, so CRCs are turned into 4- or 8-byte big-endian buffers.

import { createHash } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';

/** The checksum algorithms S3 accepts for x-amz-checksum-* and x-amz-sdk-checksum-algorithm. */
export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

/** All supported algorithms, in the order S3 documents them. */
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

/** An incremental hasher; digest() may be called once, after the last update(). */
export interface Checksummer {
  update(data: Uint8Array): void;
  digest(): Buffer;
}

const DIGEST_LENGTH: Record<ChecksumAlgorithm, number> = {
  CRC32: 4,
  CRC32C: 4,
  CRC64NVME: 8,
  SHA1: 20,
  SHA256: 32,
};

/** Length in bytes of the raw digest of `alg`. */
export function checksumDigestLength(alg: ChecksumAlgorithm): number {
  return DIGEST_LENGTH[alg];
}

/** Parses an algorithm name as found in x-amz-sdk-checksum-algorithm (case-insensitive); undefined if unknown. */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const up = name.trim().toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(up) ? (up as ChecksumAlgorithm) : undefined;
}

/** The header (and trailer) name carrying a checksum of `alg`, e.g. x-amz-checksum-crc32c. */
export function checksumHeaderName(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** Maps an x-amz-checksum-* header name (any case) back to its algorithm; undefined if it is not one. */
export function checksumAlgorithmFromHeader(name: string): ChecksumAlgorithm | undefined {
  const lower = name.trim().toLowerCase();
  if (!lower.startsWith('x-amz-checksum-')) return undefined;
  return parseChecksumAlgorithm(lower.slice('x-amz-checksum-'.length));
}

/** Encodes a raw digest the way S3 puts it on the wire (base64). */
export function encodeChecksum(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('base64');
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes a base64 checksum value, or returns undefined if it is not canonical base64 of the right length for `alg`. */
export function decodeChecksum(alg: ChecksumAlgorithm, value: string): Buffer | undefined {
  return decodeBase64Exact(value.trim(), DIGEST_LENGTH[alg]);
}

/** Strictly decodes base64 of exactly `length` bytes (Buffer.from is lenient and would accept garbage). */
export function decodeBase64Exact(value: string, length: number): Buffer | undefined {
  if (value.length !== Math.ceil(length / 3) * 4 || !BASE64_RE.test(value)) return undefined;
  const buf = Buffer.from(value, 'base64');
  return buf.length === length ? buf : undefined;
}

/** Creates an incremental hasher for `alg`. */
export function createChecksum(alg: ChecksumAlgorithm): Checksummer {
  switch (alg) {
    case 'CRC32':
      return new Crc32Hasher();
    case 'CRC32C':
      return new Crc32cHasher();
    case 'CRC64NVME':
      return new Crc64NvmeHasher();
    case 'SHA1':
      return createHash('sha1');
    case 'SHA256':
      return createHash('sha256');
  }
}

/** One-shot checksum of `data`, base64-encoded as S3 sends it. */
export function checksumBase64(alg: ChecksumAlgorithm, data: Uint8Array): string {
  const h = createChecksum(alg);
  h.update(data);
  return encodeChecksum(h.digest());
}

function u32be(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

class Crc32Hasher implements Checksummer {
  private crc = 0;
  update(data: Uint8Array): void {
    this.crc = zlibCrc32(data, this.crc);
  }
  digest(): Buffer {
    return u32be(this.crc);
  }
}

// ---------------------------------------------------------------------------
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
// Node has no native CRC32C, so this is table-driven JS: eight 256-entry
// tables let each loop iteration fold 8 input bytes with 8 independent
// lookups, which V8 compiles to tight typed-array code.

const CRC32C_TABLES = buildCrc32Tables(0x82f63b78);

function buildCrc32Tables(poly: number): Int32Array {
  const t = new Int32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + i] = c;
    }
  }
  return t;
}

/** Continues a CRC32C over `data` from a previous value (0 to start); returns the new value as an unsigned 32-bit number. */
export function crc32c(data: Uint8Array, previous = 0): number {
  const t = CRC32C_TABLES;
  let crc = ~previous;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  for (; i < end8; i += 8) {
    const a = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
  }
  for (; i < n; i++) crc = t[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

class Crc32cHasher implements Checksummer {
  private crc = 0;
  update(data: Uint8Array): void {
    this.crc = crc32c(data, this.crc);
  }
  digest(): Buffer {
    return u32be(this.crc);
  }
}

// ---------------------------------------------------------------------------
// CRC64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5, init and xorout all
// ones). BigInt is far too slow for a hot path, so the 64-bit register is
// kept as two 32-bit halves (hi, lo) with a pair of slicing-by-8 tables.

const CRC64_TABLES = buildCrc64Tables(0x9a6c9329, 0xac4bc9b5);

function buildCrc64Tables(polyHi: number, polyLo: number): { lo: Int32Array; hi: Int32Array } {
  const lo = new Int32Array(256 * 8);
  const hi = new Int32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let l = i;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = (l >>> 1) | (h << 31);
      h = h >>> 1;
      if (bit) {
        l ^= polyLo;
        h ^= polyHi;
      }
    }
    lo[i] = l;
    hi[i] = h;
  }
  for (let i = 0; i < 256; i++) {
    let l = lo[i]!;
    let h = hi[i]!;
    for (let k = 1; k < 8; k++) {
      const idx = l & 0xff;
      l = ((l >>> 8) | (h << 24)) ^ lo[idx]!;
      h = (h >>> 8) ^ hi[idx]!;
      lo[k * 256 + i] = l;
      hi[k * 256 + i] = h;
    }
  }
  return { lo, hi };
}

class Crc64NvmeHasher implements Checksummer {
  // Register stored pre-inverted (i.e. ~crc), so update() needs no per-call xor.
  private hi = -1;
  private lo = -1;
  update(data: Uint8Array): void {
    const tl = CRC64_TABLES.lo;
    const th = CRC64_TABLES.hi;
    let lo = this.lo;
    let hi = this.hi;
    let i = 0;
    const n = data.length;
    const end8 = n - (n & 7);
    for (; i < end8; i += 8) {
      const a = lo ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
      const b = hi ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24));
      const i7 = 1792 + (a & 0xff);
      const i6 = 1536 + ((a >>> 8) & 0xff);
      const i5 = 1280 + ((a >>> 16) & 0xff);
      const i4 = 1024 + (a >>> 24);
      const i3 = 768 + (b & 0xff);
      const i2 = 512 + ((b >>> 8) & 0xff);
      const i1 = 256 + ((b >>> 16) & 0xff);
      const i0 = b >>> 24;
      lo = tl[i7]! ^ tl[i6]! ^ tl[i5]! ^ tl[i4]! ^ tl[i3]! ^ tl[i2]! ^ tl[i1]! ^ tl[i0]!;
      hi = th[i7]! ^ th[i6]! ^ th[i5]! ^ th[i4]! ^ th[i3]! ^ th[i2]! ^ th[i1]! ^ th[i0]!;
    }
    for (; i < n; i++) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ tl[idx]!;
      hi = (hi >>> 8) ^ th[idx]!;
    }
    this.lo = lo;
    this.hi = hi;
  }
  digest(): Buffer {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32BE(~this.hi >>> 0, 0);
    b.writeUInt32BE(~this.lo >>> 0, 4);
    return b;
  }
}

// ---------------------------------------------------------------------------
// Combining the CRCs of consecutive pieces into the CRC of their concatenation (a multipart
// upload's FULL_OBJECT checksum), as zlib's crc32_combine does: crc(A‖B) = crc(A)·x^(8·|B|) mod P
// xor crc(B). Polynomials are in reflected form, as these CRCs are computed; BigInt is fine here
// (a few thousand operations per part, once per completion).

const CRC_POLY: Partial<Record<ChecksumAlgorithm, { width: bigint; poly: bigint }>> = {
  CRC32: { width: 32n, poly: 0xedb88320n },
  CRC32C: { width: 32n, poly: 0x82f63b78n },
  CRC64NVME: { width: 64n, poly: 0x9a6c9329ac4bc9b5n },
};

function multModP(a: bigint, b: bigint, width: bigint, poly: bigint): bigint {
  let m = 1n << (width - 1n);
  let p = 0n;
  let x = b;
  for (;;) {
    if (a & m) {
      p ^= x;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    x = x & 1n ? (x >> 1n) ^ poly : x >> 1n;
  }
  return p;
}

/** x^(8·n) mod P, by squaring: x^(2^k) for each bit k of 8·n. */
function xPow8n(n: number, width: bigint, poly: bigint): bigint {
  let p = 1n << (width - 1n); // x^0
  let sq = 1n << (width - 2n); // x^1
  let e = BigInt(n) * 8n;
  while (e > 0n) {
    if (e & 1n) p = multModP(sq, p, width, poly);
    sq = multModP(sq, sq, width, poly);
    e >>= 1n;
  }
  return p;
}

/** Whether `alg` is a CRC, whose values of pieces combine into that of the whole (FULL_OBJECT checksums). */
export function isCrc(alg: ChecksumAlgorithm): boolean {
  return CRC_POLY[alg] !== undefined;
}

/** The CRC (raw big-endian digest) of A‖B from those of A and B and the length of B. */
export function combineCrc(alg: ChecksumAlgorithm, a: Buffer, b: Buffer, lengthB: number): Buffer {
  const c = CRC_POLY[alg];
  if (!c) throw new TypeError(`${alg} is not a CRC`);
  const bytes = Number(c.width / 8n);
  const ra = BigInt(`0x${a.toString('hex')}`);
  const rb = BigInt(`0x${b.toString('hex')}`);
  const v = multModP(xPow8n(lengthB, c.width, c.poly), ra, c.width, c.poly) ^ rb;
  return Buffer.from(v.toString(16).padStart(bytes * 2, '0'), 'hex');
}
