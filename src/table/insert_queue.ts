// Deferred inserts: a cascade hook cannot wait for a quorum inside its transaction, so it
// queues the write in a persistent tree (same transaction: it survives a crash), and a worker
// sends it with quorum, retrying until the replicas take it.

import type { Db, Tree, Tx } from '../db/db.ts';
import type { Workers } from '../util/background.ts';
import { errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { TableSchema } from './schema.ts';

/** The persistent insert queue of one table and the worker that drains it. */
export class InsertQueue<E> {
  readonly tree: Tree;
  readonly #db: Db;
  readonly #schema: TableSchema<E>;
  readonly #send: (entries: E[]) => Promise<void>;
  readonly #logger: Logger;
  readonly #workers: Workers | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(o: {
    db: Db;
    schema: TableSchema<E>;
    /** Writes entries with quorum (Table.insertMany). */
    send: (entries: E[]) => Promise<void>;
    logger: Logger;
    workers?: Workers;
  }) {
    this.#db = o.db;
    this.#schema = o.schema;
    this.#send = o.send;
    this.#logger = o.logger;
    this.#workers = o.workers;
    this.tree = o.db.tree(`table:${o.schema.name}:insert_queue`);
  }

  /** Queues an insert under `key` in an open transaction (merged with one already queued). */
  add(tx: Tx, key: Buffer, e: E): void {
    const prev = tx.get(this.tree, key);
    const merged = prev ? this.#schema.merge(this.#schema.decode(prev), e) : e;
    tx.put(this.tree, key, this.#schema.encode(merged));
    // The transaction commits a little later: wake the worker after that.
    const wake = this.#wake;
    if (wake) setTimeout(wake, 20);
  }

  /** Starts the worker that drains the queue. */
  start(): void {
    const name = `${this.#schema.name} queue`;
    this.#workers?.register(name, 'sends deferred table inserts');
    void this.#run(name);
  }

  async #run(name: string): Promise<void> {
    let backoff = 1000;
    while (!this.#stopped) {
      const batch = [...this.tree.range({ limit: 100 })];
      if (batch.length === 0) {
        await new Promise<void>((r) => {
          this.#wake = r;
          this.#timer = setTimeout(r, 1000);
        });
        this.#wake = undefined;
        clearTimeout(this.#timer);
        continue;
      }
      try {
        await this.#send(batch.map(([, v]) => this.#schema.decode(v)));
        // Only what was sent: an entry merged meanwhile stays queued for the next batch.
        await this.#db.transaction((tx) => {
          for (const [k, v] of batch) if (tx.get(this.tree, k)?.equals(v)) tx.remove(this.tree, k);
        });
        backoff = 1000;
        this.#workers?.report(name, { queueLength: this.tree.count() });
      } catch (e) {
        this.#logger.warn({ table: this.#schema.name, err: errorMessage(e) }, 'deferred insert failed; will retry');
        this.#workers?.report(name, { lastError: errorMessage(e) });
        await new Promise((r) => (this.#timer = setTimeout(r, backoff)));
        // Capped low: once the replicas are back, cascades (deletions freeing blocks) resume soon.
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Stops the worker. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#wake?.();
  }
}
