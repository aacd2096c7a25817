// Hashing off the main thread. MD5 (the ETag) and SHA-256 (the block id, checked again on
// every read) of large blocks cost more main-thread time than anything else on the large-object
// path (2.5 ms per MiB together here), so blocks of 64 KiB and more are hashed by a few worker
// threads while the main thread goes on with I/O; smaller ones inline, where a message would
// cost more than the hash. Workers start on first use, so an idle node runs none.
import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { isHashReply, type HashRequest } from './hash_messages.ts';

/** Below this many bytes a block is hashed inline. */
export const OFFLOAD_MIN = 64 * 1024;

/** A hash, and the hashed buffer when it was handed over (the caller's view of it is then empty). */
export interface Hashed {
  hash: Buffer;
  data: Buffer;
}

type Answer = { hash: Buffer; data?: Buffer };
type Waiter = { resolve(a: Answer): void; reject(e: Error): void };

const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

// Distributive, so each variant keeps its own fields once the id is left out.
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

class HashWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Waiter>();
  #nextId = 0;
  #dead: Error | undefined;

  constructor(onDeath: (w: HashWorker) => void) {
    this.#worker = new Worker(new URL('./hash_worker.ts', import.meta.url));
    this.#worker.unref();
    this.#worker.on('message', (m: unknown) => {
      if (!isHashReply(m)) return this.#die(new Error('hash worker: malformed reply'), onDeath);
      const w = this.#pending.get(m.id);
      if (!w) return;
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) this.#worker.unref();
      if ('error' in m) w.reject(new Error(`hash worker: ${m.error}`));
      else w.resolve({ hash: toBuffer(m.hash), ...(m.data ? { data: toBuffer(m.data) } : {}) });
    });
    this.#worker.on('error', (e) => this.#die(e, onDeath));
    this.#worker.on('exit', (code) => this.#die(new Error(`hash worker exited with code ${code}`), onDeath));
  }

  #die(e: Error, onDeath: (w: HashWorker) => void): void {
    if (this.#dead) return;
    this.#dead = e;
    onDeath(this);
    for (const w of this.#pending.values()) w.reject(e);
    this.#pending.clear();
    void this.#worker.terminate();
  }

  /** Sends a request that gets no answer (dropped when the worker is gone). */
  post(req: Unnumbered<HashRequest>): void {
    if (!this.#dead) this.#worker.postMessage({ ...req, id: this.#nextId++ });
  }

  /**
   * Sends a request; resolves with the hash it answers. A block request with `take` hands the
   * buffer over when it owns its memory (no copy) and gets it back with the answer.
   */
  send(req: Unnumbered<HashRequest>, take = false): Promise<Answer> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    let msg: HashRequest = { ...req, id };
    let transfer: ArrayBuffer[] = [];
    if (req.op === 'block') {
      const data = req.data;
      const mem = data.buffer;
      // Handed over only when the view is its whole memory: nothing else goes along.
      if (take && mem instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === mem.byteLength) {
        msg = { ...req, id, back: true };
        transfer = [mem];
      } else if (data.byteLength * 2 < mem.byteLength) {
        // A view into a much larger buffer (a frame of an RPC message) would be copied whole.
        msg = { ...req, id, data: Buffer.from(data) };
      }
    }
    return new Promise<Answer>((resolve, reject) => {
      if (this.#pending.size === 0) this.#worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(msg, transfer);
    });
  }
}

/** A few hashing workers, started on demand, used in turn. */
export class HashPool {
  readonly size: number;
  readonly #workers: HashWorker[] = [];
  #turn = 0;
  #session = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    this.size = size;
  }

  /** The next worker in turn (started if the pool is not full yet). */
  pick(): HashWorker {
    if (this.#workers.length < this.size) {
      const w = new HashWorker((dead) => {
        const i = this.#workers.indexOf(dead);
        if (i >= 0) this.#workers.splice(i, 1);
      });
      this.#workers.push(w);
      return w;
    }
    return this.#workers[this.#turn++ % this.#workers.length]!;
  }

  /** A new MD5 session number. */
  session(): number {
    return this.#session++;
  }

  /** SHA-256 of a buffer. */
  async sha256(data: Buffer): Promise<Buffer> {
    if (data.length < OFFLOAD_MIN) return createHash('sha256').update(data).digest();
    return (await this.pick().send({ op: 'block', data })).hash;
  }

  /** SHA-256 of a buffer the caller hands over: from then on it must use the returned `data` only. */
  async sha256Taking(data: Buffer): Promise<Hashed> {
    if (data.length < OFFLOAD_MIN) return { hash: createHash('sha256').update(data).digest(), data };
    const a = await this.pick().send({ op: 'block', data }, true);
    return { hash: a.hash, data: a.data ?? data };
  }

  /** Hashes a stream of blocks: SHA-256 of each, MD5 of them all in order. */
  stream(): StreamHasher {
    return new StreamHasher(this);
  }
}

/**
 * The hashes of an upload: `block` gives each block's SHA-256 and feeds the MD5, which
 * `digest` ends. An upload whose first block is small (a small object, or a small block
 * size) is hashed inline throughout; otherwise on one worker, which keeps the order.
 */
export class StreamHasher {
  readonly #pool: HashPool;
  #local: Hash | undefined;
  #remote: { worker: HashWorker; session: number } | undefined;

  constructor(pool: HashPool) {
    this.#pool = pool;
  }

  /**
   * SHA-256 of a block, which also feeds the MD5. With `take` (memory nobody else holds) the
   * block is handed over: from then on the caller must use the returned `data` only.
   */
  async block(data: Buffer, take: boolean): Promise<Hashed> {
    if (!this.#local && !this.#remote && data.length >= OFFLOAD_MIN)
      this.#remote = { worker: this.#pool.pick(), session: this.#pool.session() };
    if (this.#remote) {
      const a = await this.#remote.worker.send({ op: 'block', data, session: this.#remote.session }, take);
      return { hash: a.hash, data: a.data ?? data };
    }
    this.#local ??= createHash('md5');
    this.#local.update(data);
    return { hash: createHash('sha256').update(data).digest(), data };
  }

  /** The MD5 of every block fed so far; ends the hasher. */
  async digest(): Promise<Buffer> {
    if (this.#remote) return (await this.#remote.worker.send({ op: 'digest', session: this.#remote.session })).hash;
    return (this.#local ?? createHash('md5')).digest();
  }

  /** Ends the hasher without a digest (the upload failed). */
  drop(): void {
    this.#remote?.worker.post({ op: 'drop', session: this.#remote.session });
  }
}

/** The process's hash pool. */
export const hashPool = new HashPool();
