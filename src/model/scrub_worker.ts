import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.ts';
import { Periodic } from '../util/background.ts';
import { errorMessage } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { Workers } from '../util/background.ts';
import type { Repair } from './repair.ts';

/**
 * Scrubs every local block about once every `everyMs` (default 25 days), slowly, so bit rot
 * is found and repaired from the other replicas before it can spread. The time of the last
 * full scrub is kept in `metadata_dir/scrub_last`, so restarts do not reset the schedule.
 */
export interface ScrubOptions {
  repair: Repair;
  workers: Workers;
  logger: Logger;
  /** Period between full scrubs (default 25 days). */
  everyMs?: number;
  /** How often to look whether one is due (default hourly). */
  checkMs?: number;
}

export class ScrubWorker {
  readonly o: ScrubOptions;
  readonly #file: string;
  #periodic: Periodic | undefined;

  constructor(metadataDir: string, o: ScrubOptions) {
    this.o = o;
    this.#file = join(metadataDir, 'scrub_last');
  }

  async #last(): Promise<number> {
    try {
      return Number((await readFile(this.#file, 'utf8')).trim()) || 0;
    } catch {
      return 0;
    }
  }

  /** Scrubs now if the last full scrub is older than the period. */
  async tick(): Promise<void> {
    const every = this.o.everyMs ?? 25 * 86_400_000;
    const last = await this.#last();
    if (last === 0) {
      // A new node starts its clock instead of scrubbing at once.
      await writeFileAtomic(this.#file, String(Date.now()), false);
      return;
    }
    if (Date.now() - last < every) return;
    this.o.workers.report('scrub', { state: 'running' });
    const result = await this.o.repair.scrub();
    await writeFileAtomic(this.#file, String(Date.now()), false);
    this.o.workers.report('scrub', { state: 'idle', lastResult: result, lastRun: new Date().toISOString() });
    this.o.logger.info({ result }, 'scheduled scrub finished');
  }

  start(): void {
    this.o.workers.register('scrub', 'reads every local block about once every 25 days and repairs corrupt ones');
    this.#periodic = new Periodic(
      this.o.checkMs ?? 3600_000,
      () => this.tick(),
      (e) => this.o.logger.warn({ err: errorMessage(e) }, 'scheduled scrub failed'),
    );
  }

  stop(): void {
    this.#periodic?.stop();
  }
}
