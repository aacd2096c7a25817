import { z } from 'zod';

/** Last-writer-wins register: the higher timestamp wins; ties break on the value's encoding. */
export interface Lww<T> {
  ts: number;
  v: T;
}

/** A timestamp for a new write that supersedes `prev`, even if our clock is behind. */
export function nextTs(prev?: number): number {
  const now = Date.now();
  return prev === undefined ? now : Math.max(now, prev + 1);
}

/** A new value for a register, superseding its current one. */
export function lwwNext<T>(cur: Lww<T>, v: T): Lww<T> {
  return { ts: nextTs(cur.ts), v };
}

/** Merges two LWW registers deterministically. */
export function mergeLww<T>(a: Lww<T>, b: Lww<T>): Lww<T> {
  if (a.ts !== b.ts) return a.ts > b.ts ? a : b;
  const ja = JSON.stringify(a.v) ?? '';
  const jb = JSON.stringify(b.v) ?? '';
  return ja >= jb ? a : b;
}

/** A map of LWW registers, stored as pairs sorted by key so its encoding is canonical. */
export type LwwMap<T> = [string, Lww<T>][];

/** Merges two LWW maps key by key. */
export function mergeLwwMap<T>(a: LwwMap<T>, b: LwwMap<T>): LwwMap<T> {
  const m = new Map<string, Lww<T>>(a);
  for (const [k, v] of b) {
    const cur = m.get(k);
    m.set(k, cur ? mergeLww(cur, v) : v);
  }
  return [...m.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

/** Reads one key of an LWW map. */
export function lwwGet<T>(m: LwwMap<T>, k: string): Lww<T> | undefined {
  for (const [key, v] of m) if (key === k) return v;
  return undefined;
}

/** Returns a copy of the map with key k set to v at a timestamp that supersedes the current one. */
export function lwwSet<T>(m: LwwMap<T>, k: string, v: T): LwwMap<T> {
  const cur = lwwGet(m, k);
  return mergeLwwMap(m, [[k, { ts: nextTs(cur?.ts), v }]]);
}

/** The schema of a stored LWW register. */
export function zLww<T>(v: z.ZodType<T>): z.ZodType<Lww<T>> {
  return z.object({ ts: z.number(), v });
}

/** The schema of a stored LWW map. */
export function zLwwMap<T>(v: z.ZodType<T>): z.ZodType<LwwMap<T>> {
  return z.array(z.tuple([z.string(), zLww(v)]));
}
