/** What `garage worker list` shows of one background worker. */
export interface WorkerInfo {
  name: string;
  description: string;
  status: Record<string, string | number>;
  lastActivity?: number;
}

/** A tunable of a worker (`garage worker get/set`): read and written as text. */
export interface WorkerVariable {
  get(): string;
  /** Throws a GarageError naming what was expected when the value is invalid. */
  set(value: string): void;
}

/** The registry of background workers of a node (resync, scrub, queues, gc, …). */
export class Workers {
  readonly #workers = new Map<string, WorkerInfo>();
  readonly #vars = new Map<string, WorkerVariable>();

  /** Declares a variable. */
  defineVariable(name: string, v: WorkerVariable): void {
    this.#vars.set(name, v);
  }

  /** Every variable, by name. */
  variables(): Map<string, WorkerVariable> {
    return new Map([...this.#vars].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

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
