import type { Model } from './garage.ts';
import type { Logger } from '../util/log.ts';
import { errorMessage } from '../util/errors.ts';
import { Periodic } from '../util/background.ts';

/**
 * Aborts single-PUT versions left `uploading` by a crash (a client's PutObject never lasts
 * a day), so the cascade frees the blocks they wrote. Multipart uploads are left to the client.
 */
export class StaleUploadCleaner {
  readonly model: Model;
  readonly log: Logger;
  readonly maxAgeMs: number;
  #periodic: Periodic | undefined;

  constructor(model: Model, log: Logger, maxAgeMs = 24 * 3600_000) {
    this.model = model;
    this.log = log;
    this.maxAgeMs = maxAgeMs;
  }

  /** Scans this node's object rows once; returns how many versions were aborted. */
  async pass(): Promise<number> {
    const limit = Date.now() - this.maxAgeMs;
    let aborted = 0;
    for (const o of this.model.object.scanLocal()) {
      const stale = o.versions.filter((x) => x.state.t === 'uploading' && !x.state.multipart && x.ts < limit);
      if (stale.length === 0) continue;
      await this.model.object.insert({
        ...o,
        versions: stale.map((x) => ({ ...x, state: { t: 'aborted' as const } })),
      });
      aborted += stale.length;
    }
    this.model.workers.report('stale uploads', { lastPass: new Date().toISOString(), aborted });
    return aborted;
  }

  /** Runs a pass every hour. */
  start(intervalMs = 3600_000): void {
    this.model.workers.register('stale uploads', 'aborts single PUTs interrupted by a crash');
    this.#periodic = new Periodic(
      intervalMs,
      () => this.pass(),
      (e) => this.log.warn({ err: errorMessage(e) }, 'stale upload cleanup failed'),
    );
  }

  stop(): void {
    this.#periodic?.stop();
  }
}
