/** What `garage worker list` shows of one background worker. */
export interface WorkerInfo {
  name: string;
  description: string;
  status: Record<string, string | number>;
  lastActivity?: number;
}

/** The registry of background workers of a node (resync, scrub, queues, gc, …). */
export class Workers {
  readonly #workers = new Map<string, WorkerInfo>();

  /** Declares a worker. */
  register(name: string, description: string): void {
    if (!this.#workers.has(name)) this.#workers.set(name, { name, description, status: {} });
  }

  /** Records a worker's latest status. */
  report(name: string, status: Record<string, string | number>): void {
    const w = this.#workers.get(name);
    if (!w) return;
    Object.assign(w.status, status);
    w.lastActivity = Date.now();
  }

  /** All workers, by name. */
  list(): WorkerInfo[] {
    return [...this.#workers.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }
}

/** A task run every `intervalMs` (never two at once) until stopped. */
export class Periodic {
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  /** Starts running `task` every `intervalMs`; `onError` hears its failures. */
  constructor(intervalMs: number, task: () => Promise<unknown>, onError: (e: unknown) => void) {
    const loop = () => {
      this.#timer = setTimeout(() => {
        task()
          .catch(onError)
          .finally(() => {
            if (!this.#stopped) loop();
          });
      }, intervalMs);
    };
    loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
