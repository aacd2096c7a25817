import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { encodeVersioned, decodeRow, zBytes } from '../util/codec.ts';
import { mergeLww, zLww, type Lww } from '../util/crdt.ts';
import type { TableSchema } from '../table/schema.ts';

/**
 * An admin API token made by an operator (the tokens of the configuration are not stored).
 * The secret is never stored: only its SHA-256 (it is 32 random bytes, so no stretching is
 * needed), so a copy of the metadata does not hand out admin access.
 */
export interface AdminTokenEntry {
  /** 24 hex characters; the token a client sends is `<id>.<secret>`. */
  id: string;
  secretHash: Buffer;
  deleted: boolean;
  created: number;
  name: Lww<string>;
  /** ms since epoch; null: never expires. */
  expiration: Lww<number | null>;
  /** Operation names this token may call, or `*`. */
  scope: Lww<string[]>;
}

/** A new token; the secret string to give to the operator is returned beside the entry. */
export function newAdminToken(name: string, scope: string[], expiration: number | null): [AdminTokenEntry, string] {
  const id = randomBytes(12).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const now = Date.now();
  const entry: AdminTokenEntry = {
    id,
    secretHash: hashSecret(secret),
    deleted: false,
    created: now,
    name: { ts: now, v: name },
    expiration: { ts: now, v: expiration },
    scope: { ts: now, v: scope },
  };
  return [entry, `${id}.${secret}`];
}

function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** Whether `secret` is the token's secret (constant time). */
export function tokenSecretMatches(e: AdminTokenEntry, secret: string): boolean {
  const h = hashSecret(secret);
  return h.length === e.secretHash.length && timingSafeEqual(h, e.secretHash);
}

/** Whether a token has expired. */
export function tokenExpired(e: AdminTokenEntry, now = Date.now()): boolean {
  return e.expiration.v !== null && e.expiration.v <= now;
}

type Row = [string, Buffer, boolean, number, Lww<string>, Lww<number | null>, Lww<string[]>];

const zRow: z.ZodType<Row> = z.tuple([
  z.string(),
  zBytes,
  z.boolean(),
  z.number(),
  zLww(z.string()),
  zLww(z.number().nullable()),
  zLww(z.array(z.string())),
]);

export const adminTokenSchema: TableSchema<AdminTokenEntry> = {
  name: 'admin_token',
  replication: 'full',
  partitionKey: (e) => Buffer.from(e.id),
  sortKey: () => Buffer.alloc(0),
  encode: (e) =>
    encodeVersioned(1, [e.id, e.secretHash, e.deleted, e.created, e.name, e.expiration, e.scope] satisfies Row),
  decode: (b) => {
    const [id, secretHash, deleted, created, name, expiration, scope] = decodeRow(1, b, 'admin_token', zRow);
    return { id, secretHash, deleted, created, name, expiration, scope };
  },
  merge: (a, b) => {
    const deleted = a.deleted || b.deleted;
    return {
      id: a.id,
      // A deleted token keeps no secret: it can never authenticate again.
      secretHash: deleted ? Buffer.alloc(0) : a.secretHash.length ? a.secretHash : b.secretHash,
      deleted,
      created: Math.min(a.created, b.created),
      name: mergeLww(a.name, b.name),
      expiration: mergeLww(a.expiration, b.expiration),
      scope: mergeLww(a.scope, b.scope),
    };
  },
  isTombstone: (e) => e.deleted,
};
