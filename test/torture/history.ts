// The torture test's model: a history of timed operations per key, and the check that every
// observation is one of the values that could be current given the start and end of every
// acknowledged write (a per-key linearizability check on a register).

/** The value of a key: an object's ETag (unquoted), or ABSENT. */
export type Value = string;
export const ABSENT = '<absent>';

/**
 * How a write ended. `ok`: acknowledged. `failed`: refused with a clean 4xx (no effect).
 * `unknown`: 5xx, a cut connection or a killed node: it may or may not have taken effect.
 */
export type Outcome = 'ok' | 'failed' | 'unknown';

/** A write of a key: PUT, DELETE, copy, multipart completion. */
export interface Write {
  id: number;
  key: string;
  /** The values it may have written (one, or for a copy whose answer was lost, the source's). */
  values: Value[];
  start: number;
  end: number;
  outcome: Outcome;
  what: string;
}

/** An observation of a key: GET, HEAD, or its presence or absence in a listing. */
export interface Read {
  key: string;
  value: Value;
  start: number;
  end: number;
  what: string;
}

/** One violation of the model, with the operations that show it. */
export interface Violation {
  message: string;
  read: Read;
  writes: Write[];
}

const INITIAL: Omit<Write, 'key'> = {
  id: -1,
  values: [ABSENT],
  start: -Infinity,
  end: -Infinity,
  outcome: 'ok',
  what: 'initial state',
};

/**
 * Checks each read against the writes of its key: some write that may have written the value
 * read must have started before the read ended, and no acknowledged write may lie wholly
 * between that write's end and the read's start (it would have superseded it).
 */
export function checkHistory(writes: Write[], reads: Read[]): Violation[] {
  const byKey = new Map<string, Write[]>();
  for (const w of writes) {
    let l = byKey.get(w.key);
    if (!l) {
      l = [];
      byKey.set(w.key, l);
    }
    l.push(w);
  }
  const out: Violation[] = [];
  for (const r of reads) {
    const ws = [{ ...INITIAL, key: r.key }, ...(byKey.get(r.key) ?? [])];
    const acked = ws.filter((w) => w.outcome === 'ok');
    const explains = (w: Write) =>
      w.outcome !== 'failed' &&
      w.values.includes(r.value) &&
      w.start < r.end &&
      !acked.some((w2) => w2 !== w && w2.start > w.end && w2.end < r.start);
    if (!ws.some(explains)) {
      const relevant = ws.filter((w) => w.start < r.end).slice(-8);
      out.push({
        message: `${r.what} of ${JSON.stringify(r.key)} saw ${r.value}, which no write could have left current`,
        read: r,
        writes: relevant,
      });
    }
  }
  return out;
}

/** A readable account of a violation. */
export function describeViolation(v: Violation, t0: number): string {
  const t = (x: number) => (Number.isFinite(x) ? `${(x - t0).toFixed(1)}ms` : '-inf');
  const lines = [v.message, `  read  [${t(v.read.start)}, ${t(v.read.end)}] ${v.read.what} -> ${v.read.value}`];
  for (const w of v.writes)
    lines.push(`  write [${t(w.start)}, ${t(w.end)}] ${w.what} (${w.outcome}) -> ${w.values.join(' | ')}`);
  return lines.join('\n');
}
