import { Packr } from 'msgpackr';
import { z } from 'zod';
import { GarageError } from './errors.ts';

// Plain msgpack (no records, no structured clone) so bytes are stable across nodes and versions.
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

/** Encodes a value as msgpack. Callers keep values canonical (arrays, sorted pairs). */
export function pack(value: unknown): Buffer {
  return packr.pack(value);
}

/** Decodes msgpack bytes. */
export function unpack(buf: Buffer): unknown {
  return packr.unpack(buf);
}

/** Encodes a stored entry: one version byte, then msgpack. */
export function encodeVersioned(version: number, value: unknown): Buffer {
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = version;
  body.copy(out, 1);
  return out;
}

/** Decodes a stored entry, checking its version byte. */
export function decodeVersioned(expected: number, buf: Buffer, what: string): unknown {
  if (buf[0] !== expected)
    throw new GarageError(`cannot decode ${what}: stored format version ${buf[0]} (expected ${expected})`);
  return packr.unpack(buf.subarray(1));
}

/** A Buffer (msgpack decodes binary as Buffer). */
export const zBytes = z.instanceof(Buffer);

/**
 * Decodes a stored entry and checks its shape: rows come from this node's disk and from peers
 * (replication, repair), and a malformed one is refused here with a clear error, never
 * trusted deeper down.
 */
export function decodeRow<T>(expected: number, buf: Buffer, what: string, schema: z.ZodType<T>): T {
  const r = schema.safeParse(decodeVersioned(expected, buf, what));
  if (!r.success) throw new GarageError(`malformed ${what} row: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
  return r.data;
}
