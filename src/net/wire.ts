/**
 * Wire format of the node-to-node transport.
 *
 * A connection carries frames: a 9-byte header (kind: u8, stream id: u32 BE,
 * payload length: u32 BE) followed by the payload; a whole frame is at most
 * 64 KiB so that no frame of a bulk transfer holds the line for long. The high
 * bit of `kind` (FIN) marks the last frame of a message or of a byte stream.
 * Stream 0 carries connection-level frames (HELLO, GOAWAY); other ids name one
 * call, chosen by the caller: odd when the caller dialed the connection, even
 * when it accepted it, so both ends can start calls without colliding.
 */
import { Packr } from 'msgpackr';
import { NetError } from '../util/errors.ts';

/** Bump when frames change incompatibly; checked in HELLO. */
export const PROTOCOL_VERSION = 1;
/** Size of a frame header: kind u8, stream id u32, payload length u32. */
export const HEADER_BYTES = 9;
/** Largest frame, header included. */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Largest frame payload. */
export const MAX_PAYLOAD_BYTES = MAX_FRAME_BYTES - HEADER_BYTES;
/** Upper bound of one msgpack message (request or response body), to stop runaway peers. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
/** Kind bit marking the last frame of a message or stream. */
export const FIN = 0x80;

/** Frame kinds (low 7 bits of the kind byte). */
export const Kind = {
  /** Connection setup: msgpack {v, id, window}. Stream 0. */
  HELLO: 1,
  /** "I will start no new call on this connection" (duplicate connection being retired). Stream 0. */
  GOAWAY: 2,
  /** Request message chunk (caller → callee); FIN on the last. */
  REQ: 16,
  /** Request stream bytes (caller → callee); FIN = end of stream. */
  REQ_DATA: 17,
  /** Request stream failed at the source; payload = utf-8 message. */
  REQ_ERR: 18,
  /** Credit for the request stream (callee → caller); payload = u32 bytes. */
  REQ_WINDOW: 19,
  /** Callee no longer wants the request stream (caller → stop reading its source). */
  REQ_STOP: 20,
  /** Caller gave up (timeout, abort, response stream dropped): callee drops everything. */
  CANCEL: 21,
  /** Response message chunk (callee → caller); FIN on the last. */
  RESP: 32,
  /** Response stream bytes (callee → caller); FIN = end of stream. */
  RESP_DATA: 33,
  /** Response stream failed at the source; payload = utf-8 message. */
  RESP_ERR: 34,
  /** Credit for the response stream (caller → callee); payload = u32 bytes. */
  RESP_WINDOW: 35,
} as const;

/** Encodes a frame header. */
export function header(kind: number, sid: number, len: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = kind;
  h.writeUInt32BE(sid, 1);
  h.writeUInt32BE(len, 5);
  return h;
}

/** Encodes a whole small frame (control frames). */
export function frame(kind: number, sid: number, payload?: Buffer): Buffer {
  const len = payload ? payload.length : 0;
  const h = header(kind, sid, len);
  return payload && len ? Buffer.concat([h, payload], HEADER_BYTES + len) : h;
}

/** A u32 payload (window credits). */
export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}

/** Receives raw socket chunks and calls back once per complete frame (payload may be a view). */
export class FrameParser {
  private chunks: Buffer[] = [];
  private total = 0;
  private kind = -1;
  private sid = 0;
  private len = 0;
  private readonly onFrame: (kind: number, sid: number, payload: Buffer) => void;

  /** `onFrame` may throw; the error propagates out of `push`. */
  constructor(onFrame: (kind: number, sid: number, payload: Buffer) => void) {
    this.onFrame = onFrame;
  }

  /** Feeds one chunk read from the socket. */
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.total += chunk.length;
    for (;;) {
      if (this.kind < 0) {
        if (this.total < HEADER_BYTES) return;
        const h = this.take(HEADER_BYTES);
        this.kind = h[0]!;
        this.sid = h.readUInt32BE(1);
        this.len = h.readUInt32BE(5);
        if (this.len > MAX_PAYLOAD_BYTES) throw new NetError(`protocol error: frame of ${this.len} bytes`);
      }
      if (this.total < this.len) return;
      const payload = this.len ? this.take(this.len) : EMPTY;
      const kind = this.kind;
      this.kind = -1;
      this.onFrame(kind, this.sid, payload);
    }
  }

  private take(n: number): Buffer {
    this.total -= n;
    const first = this.chunks[0]!;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    // The frame spans several socket chunks: gather it.
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

// Plain msgpack (no msgpackr records) so each message decodes on its own, with
// no state shared across messages. Buffers round-trip; Maps decode as objects.
const packr = new Packr({ useRecords: false });

/** Encodes a value as msgpack; throws NetError when it cannot be encoded. */
export function encode(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (e) {
    throw new NetError(`cannot encode message: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Decodes a msgpack message; throws NetError on malformed input. */
export function decode(buf: Buffer): unknown {
  try {
    return packr.unpack(buf);
  } catch (e) {
    throw new NetError(`cannot decode message: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Reads the u32 payload of a window frame. */
export function readU32(p: Buffer): number {
  if (p.length !== 4) throw new NetError('protocol error: bad window frame');
  return p.readUInt32BE(0);
}
