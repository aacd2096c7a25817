/**
 * Per-connection send scheduling and per-stream flow control.
 *
 * - `Scheduler` owns the socket's write side. Control frames go first; then
 *   queues of the highest priority with something to send, taking one frame
 *   per queue in turn (round-robin), so a bulk stream cannot starve a small
 *   call, and a `background` transfer never delays a `high` one by more than
 *   the frame (≤ 64 KiB) already being written. Frames are written only while
 *   the socket accepts them, so little is buffered below us.
 * - `InStream` is the receiving end of an attached byte stream: a Readable
 *   that grants credit to the sender as its consumer reads.
 * - `OutSender` pumps a local Readable into frames, never ahead of the credit
 *   the receiver granted, so a slow consumer stops the producer at the source.
 */
import { Readable, type Writable } from 'node:stream';
import { NetError } from '../util/errors.ts';
import { FIN, header, MAX_PAYLOAD_BYTES } from './wire.ts';

/** Priority levels as scheduler indexes: 0 = high, 1 = normal, 2 = background. */
export const PRIORITY_LEVELS = 3;

/** Bytes a sender may queue in the scheduler beyond what the socket took. */
const QUEUE_LIMIT_BYTES = 256 * 1024;

/** Ordered frames of one call direction, scheduled at one priority. */
export class SendQueue {
  readonly prio: number;
  heads: Buffer[] = [];
  bodies: (Buffer | undefined)[] = [];
  bytes = 0;
  /** Frames of this queue written to the socket so far. */
  sent = 0;
  inReady = false;
  dropped = false;
  /** Called after a frame of this queue was written (wakes its producer). */
  onSent: (() => void) | undefined;

  constructor(prio: number) {
    this.prio = prio;
  }

  /** True when a producer may add more without exceeding the queue limit. */
  hasRoom(): boolean {
    return this.bytes < QUEUE_LIMIT_BYTES;
  }
}

/** Writes frames to a socket by priority, round-robin within a priority. */
export class Scheduler {
  private readonly socket: Writable;
  private control: Buffer[] = [];
  private readonly ready: SendQueue[][] = [];
  private blocked = false;
  private flushing = false;
  private dead = false;
  /** Called when everything queued has been handed to the socket. */
  onIdle: (() => void) | undefined;

  constructor(socket: Writable) {
    this.socket = socket;
    for (let i = 0; i < PRIORITY_LEVELS; i++) this.ready.push([]);
    socket.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** Queues a connection-level frame ahead of all call frames. */
  sendControl(f: Buffer): void {
    if (this.dead) return;
    this.control.push(f);
    this.flush();
  }

  /** Appends a frame (header + optional payload view) to a call queue. */
  enqueue(q: SendQueue, head: Buffer, body?: Buffer): void {
    if (this.dead || q.dropped) return;
    q.heads.push(head);
    q.bodies.push(body);
    q.bytes += head.length + (body ? body.length : 0);
    if (!q.inReady) {
      q.inReady = true;
      this.ready[q.prio]!.push(q);
    }
    this.flush();
  }

  /** Discards the unsent frames of a queue (its call was cancelled). */
  drop(q: SendQueue): void {
    q.dropped = true;
    q.heads = [];
    q.bodies = [];
    q.bytes = 0;
    // Removal from `ready` is lazy: flush skips empty queues.
  }

  /** True when nothing is waiting to be written. */
  idle(): boolean {
    if (this.control.length) return false;
    return this.ready.every((level) => level.every((q) => q.heads.length === 0));
  }

  /** Stops writing for good (connection closed). */
  kill(): void {
    this.dead = true;
    this.control = [];
    for (const level of this.ready) {
      for (const q of level) this.drop(q);
      level.length = 0;
    }
  }

  private next(): { head: Buffer; body?: Buffer | undefined; q: SendQueue | undefined } | undefined {
    const c = this.control.shift();
    if (c) return { head: c, q: undefined };
    for (const level of this.ready) {
      while (level.length) {
        const q = level.shift()!;
        const head = q.heads.shift();
        if (!head) {
          q.inReady = false;
          continue;
        }
        const body = q.bodies.shift();
        q.bytes -= head.length + (body ? body.length : 0);
        q.sent++;
        // Back of the line: the next frame of this priority comes from another queue.
        if (q.heads.length) level.push(q);
        else q.inReady = false;
        return { head, body, q };
      }
    }
    return undefined;
  }

  /** Writes frames until the socket pushes back or nothing is left. */
  flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.blocked && !this.dead) {
        const n = this.next();
        if (!n) break;
        if (n.body?.length) {
          // One writev for header + payload, without copying the payload here.
          this.socket.cork();
          this.socket.write(n.head);
          if (!this.socket.write(n.body)) this.blocked = true;
          this.socket.uncork();
        } else if (!this.socket.write(n.head)) this.blocked = true;
        n.q?.onSent?.();
      }
    } finally {
      this.flushing = false;
    }
    if (!this.blocked && !this.dead && this.onIdle && this.idle()) this.onIdle();
  }
}

/** Options of the receiving end of an attached stream. */
export interface InStreamOptions {
  /** Bytes the sender may send beyond what our consumer has read. */
  window: number;
  /** Sends a credit increment to the sender. */
  grant: (bytes: number) => void;
  /** The consumer dropped the stream before its end: tell the sender to stop. */
  onAbandon: () => void;
  /** Fail the stream when the sender has credit yet sends nothing for this long (0 = never). */
  idleTimeoutMs: number;
}

/** The receiving end of an attached byte stream, with credit-based flow control. */
export class InStream extends Readable {
  private received = 0;
  private granted: number;
  private readonly opts: InStreamOptions;
  /** The sender's FIN (or error) arrived: nothing more will come. */
  finished = false;
  private quiet = false;
  private lastActivity = Date.now();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(opts: InStreamOptions) {
    // The buffer holds at most one window (credit bounds it); say so to Readable.
    super({ highWaterMark: opts.window });
    this.opts = opts;
    this.granted = opts.window;
    this.armIdle(opts.idleTimeoutMs);
  }

  override _read(): void {
    this.maybeGrant();
  }

  // Consumption is observed where it happens: in read() (paused mode, async
  // iteration, and flowing mode, which reads through read()) and right after a
  // push (flowing mode may hand the chunk to 'data' listeners without
  // buffering). _read alone is not enough: Readable calls it before taking the
  // data out of the buffer, and not again until the next push.
  override read(size?: number): unknown {
    const chunk: unknown = super.read(size);
    this.maybeGrant();
    return chunk;
  }

  /** Grants credit for what the consumer took, in batches; never lets a waiting consumer starve. */
  private maybeGrant(): void {
    if (this.finished) return;
    const consumed = this.received - this.readableLength;
    const target = consumed + this.opts.window;
    const inc = target - this.granted;
    const outstanding = this.granted - this.received;
    if (inc > 0 && (inc >= this.opts.window / 8 || outstanding < this.opts.window / 4)) {
      this.granted = target;
      this.lastActivity = Date.now();
      this.opts.grant(inc);
    }
  }

  /** Delivers a data frame from the sender; throws NetError if the sender exceeded its credit. */
  deliver(data: Buffer, fin: boolean): void {
    if (this.finished || this.destroyed) return;
    this.received += data.length;
    // Throwing kills the connection: the peer broke flow control.
    if (this.received > this.granted) throw new NetError('protocol error: peer sent more stream data than granted');
    this.lastActivity = Date.now();
    if (fin) {
      this.finished = true;
      this.clearIdle();
      if (data.length) this.push(data);
      this.push(null);
    } else if (data.length) {
      this.push(data);
      this.maybeGrant();
    }
  }

  /** Fails the stream from the transport side (peer error, connection lost, cancel): nothing is sent back. */
  fail(err: Error): void {
    if (this.destroyed) return;
    this.finished = true;
    this.quiet = true;
    this.destroy(err);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.clearIdle();
    if (!this.finished && !this.quiet) {
      this.finished = true;
      this.opts.onAbandon();
    }
    cb(err);
  }

  private armIdle(ms: number): void {
    if (ms <= 0) return;
    this.idleTimer = setTimeout(
      () => {
        this.idleTimer = undefined;
        if (this.finished || this.destroyed) return;
        const idleFor = Date.now() - this.lastActivity;
        const waitingOnSender = this.granted > this.received;
        if (waitingOnSender && idleFor >= this.opts.idleTimeoutMs) {
          this.destroy(new NetError(`attached stream stalled: no data for ${this.opts.idleTimeoutMs} ms`));
        } else {
          this.armIdle(waitingOnSender ? this.opts.idleTimeoutMs - idleFor : this.opts.idleTimeoutMs);
        }
      },
      Math.max(1, ms),
    );
    this.idleTimer.unref();
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** Things an OutSender needs from its connection. */
export interface OutSenderHost {
  enqueue(q: SendQueue, head: Buffer, body?: Buffer): void;
}

/** Pumps a local Readable into DATA frames, within the receiver's credit. */
export class OutSender {
  private credit: number;
  private stopped = false;
  /** Pumping is over (FIN or error frame queued, or stopped). */
  finished = false;
  private waiter: (() => void) | undefined;
  private readonly host: OutSenderHost;
  private readonly q: SendQueue;
  private readonly sid: number;
  private readonly dataKind: number;
  private readonly errKind: number;
  private readonly source: Readable;
  private readonly onDone: () => void;

  constructor(
    host: OutSenderHost,
    q: SendQueue,
    sid: number,
    dataKind: number,
    errKind: number,
    source: Readable,
    initialCredit: number,
    onDone: () => void,
  ) {
    this.host = host;
    this.q = q;
    this.sid = sid;
    this.dataKind = dataKind;
    this.errKind = errKind;
    this.source = source;
    this.credit = initialCredit;
    this.onDone = onDone;
    q.onSent = () => {
      if (q.hasRoom()) this.wake();
    };
  }

  /** Starts pumping in the background. */
  start(): void {
    void this.run();
  }

  /** Adds credit granted by the receiver. */
  addCredit(n: number): void {
    this.credit += n;
    this.wake();
  }

  /** Stops pumping and releases (destroys) the source. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.wake();
    if (!this.source.destroyed) this.source.destroy();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private async run(): Promise<void> {
    try {
      for await (const chunk of this.source) {
        const buf = toBuffer(chunk);
        let off = 0;
        while (off < buf.length) {
          while (!this.stopped && (this.credit <= 0 || !this.q.hasRoom())) {
            await new Promise<void>((resolve) => {
              this.waiter = resolve;
            });
          }
          if (this.stopped) return;
          const n = Math.min(buf.length - off, this.credit, MAX_PAYLOAD_BYTES);
          this.host.enqueue(this.q, header(this.dataKind, this.sid, n), buf.subarray(off, off + n));
          this.credit -= n;
          off += n;
        }
        if (this.stopped) return;
      }
      if (!this.stopped) this.host.enqueue(this.q, header(this.dataKind | FIN, this.sid, 0));
    } catch (e) {
      if (!this.stopped) {
        const msg = Buffer.from(e instanceof Error ? e.message : String(e));
        this.host.enqueue(this.q, header(this.errKind | FIN, this.sid, msg.length), msg);
      }
    } finally {
      this.finished = true;
      this.q.onSent = undefined;
      this.onDone();
    }
  }
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new NetError('attached streams carry bytes (Buffer, Uint8Array or string chunks)');
}
