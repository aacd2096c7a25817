// Messages between hash_pool.ts and its workers (hash_worker.ts), checked where they arrive.

/** Main thread → worker. */
export type HashRequest =
  /**
   * SHA-256 of `data`; with a session, `data` also feeds that session's MD5. `back`: `data`'s
   * buffer was transferred, and the reply transfers it back.
   */
  | { op: 'block'; id: number; data: Uint8Array; session?: number; back?: boolean }
  /** The MD5 of everything a session was fed; the session ends. */
  | { op: 'digest'; id: number; session: number }
  /** Ends a session without a digest (the upload failed). */
  | { op: 'drop'; id: number; session: number };

/** Worker → main thread. */
export type HashReply = { id: number; hash: Uint8Array; data?: Uint8Array } | { id: number; error: string };

const isObject = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

/** Whether a message is a HashRequest. */
export function isHashRequest(m: unknown): m is HashRequest {
  if (!isObject(m) || typeof m.id !== 'number') return false;
  if (m.op === 'block')
    return (
      m.data instanceof Uint8Array &&
      (m.session === undefined || typeof m.session === 'number') &&
      (m.back === undefined || typeof m.back === 'boolean')
    );
  return (m.op === 'digest' || m.op === 'drop') && typeof m.session === 'number';
}

/** Whether a message is a HashReply. */
export function isHashReply(m: unknown): m is HashReply {
  if (!isObject(m) || typeof m.id !== 'number') return false;
  return (
    (m.hash instanceof Uint8Array && (m.data === undefined || m.data instanceof Uint8Array)) ||
    typeof m.error === 'string'
  );
}
