import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

/** The additional checksum algorithms of S3. */
export type ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';
export const CHECKSUM_ALGORITHMS: ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

/** An incremental checksum. */
export interface Checksummer {
  update(data: Buffer): void;
  digest(): Buffer;
}

// Slicing-by-8 tables for the reflected CRC-32C polynomial 0x82F63B78.
const C32C = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) for (let s = 1; s < 8; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n]! >>> 8) ^ t[t[(s - 1) * 256 + n]! & 0xff]!;
  return t;
})();

function crc32c(data: Buffer, prev: number): number {
  let c = ~prev;
  let i = 0;
  const n = data.length;
  const t = C32C;
  for (; i + 8 <= n; i += 8) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]!
      ^ t[768 + data[i + 4]!]! ^ t[512 + data[i + 5]!]! ^ t[256 + data[i + 6]!]! ^ t[data[i + 7]!]!;
  }
  for (; i < n; i++) c = (c >>> 8) ^ t[(c ^ data[i]!) & 0xff]!;
  return ~c >>> 0;
}

// CRC-64/NVME (reflected polynomial 0x9A6C9329AC4BC9B5), as two 32-bit halves to avoid BigInt in the loop.
const C64 = (() => {
  const lo = new Uint32Array(256);
  const hi = new Uint32Array(256);
  const polyLo = 0xac4bc9b5;
  const polyHi = 0x9a6c9329;
  for (let n = 0; n < 256; n++) {
    let l = n;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | (h << 31)) >>> 0;
      h = h >>> 1;
      if (bit) {
        l = (l ^ polyLo) >>> 0;
        h = (h ^ polyHi) >>> 0;
      }
    }
    lo[n] = l;
    hi[n] = h;
  }
  return { lo, hi };
})();

class Crc64Nvme implements Checksummer {
  #lo = 0xffffffff;
  #hi = 0xffffffff;
  update(data: Buffer): void {
    let l = this.#lo;
    let h = this.#hi;
    const { lo, hi } = C64;
    for (let i = 0; i < data.length; i++) {
      const idx = (l ^ data[i]!) & 0xff;
      l = ((l >>> 8) | (h << 24)) ^ lo[idx]!;
      h = (h >>> 8) ^ hi[idx]!;
    }
    this.#lo = l >>> 0;
    this.#hi = h >>> 0;
  }
  digest(): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(~this.#hi >>> 0, 0);
    b.writeUInt32BE(~this.#lo >>> 0, 4);
    return b;
  }
}

/** Creates an incremental checksum for an S3 algorithm. */
export function createChecksum(alg: ChecksumAlgorithm): Checksummer {
  switch (alg) {
    case 'CRC32': {
      let c = 0;
      return { update: (d) => void (c = crc32(d, c)), digest: () => { const b = Buffer.alloc(4); b.writeUInt32BE(c >>> 0); return b; } };
    }
    case 'CRC32C': {
      let c = 0;
      return { update: (d) => void (c = crc32c(d, c)), digest: () => { const b = Buffer.alloc(4); b.writeUInt32BE(c >>> 0); return b; } };
    }
    case 'CRC64NVME':
      return new Crc64Nvme();
    case 'SHA1':
    case 'SHA256': {
      const h = createHash(alg === 'SHA1' ? 'sha1' : 'sha256');
      return { update: (d) => void h.update(d), digest: () => h.digest() };
    }
  }
}

/** Parses an algorithm name as S3 headers spell it (case-insensitive). */
export function parseChecksumAlgorithm(s: string): ChecksumAlgorithm | undefined {
  const u = s.toUpperCase();
  return (CHECKSUM_ALGORITHMS as string[]).includes(u) ? (u as ChecksumAlgorithm) : undefined;
}
