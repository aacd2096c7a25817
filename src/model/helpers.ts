import { randomBytes } from 'node:crypto';
import { AdminError, AdminNotFoundError, BucketNotEmptyError } from '../util/errors.ts';
import { lwwGet, lwwSet } from '../util/crdt.ts';
import type { Model } from './garage.ts';
import { newBucket, validBucketName, type BucketEntry, type Perms } from './bucket.ts';
import { newKey, type KeyEntry } from './key.ts';

const EMPTY = Buffer.alloc(0);

/** Bucket and key operations shared by the S3 API and the admin CLI. */
export class ModelHelpers {
  readonly m: Model;
  constructor(m: Model) {
    this.m = m;
  }

  /** Resolves a bucket name: the key's local alias first, then the global alias. */
  async resolveBucket(name: string, key?: KeyEntry): Promise<Buffer | undefined> {
    if (key) {
      const local = lwwGet(key.localAliases, name)?.v;
      if (local) return Buffer.from(local, 'hex');
    }
    const alias = await this.m.bucketAlias.get(Buffer.from(name), EMPTY);
    return alias?.bucket.v ?? undefined;
  }

  /**
   * A live bucket by global alias from this node's rows alone, no RPC: what requests not yet
   * authenticated (CORS preflights, CORS headers on errors) may look up. Bucket and alias
   * tables are on every node; a row written a moment ago may not be here yet.
   */
  localBucketByAlias(name: string): BucketEntry | undefined {
    const id = this.m.bucketAlias.getLocal(Buffer.from(name), EMPTY)?.bucket.v;
    const b = id ? this.m.bucket.getLocal(id, EMPTY) : undefined;
    return b && !b.deleted ? b : undefined;
  }

  /** A live bucket by id. */
  async getBucket(id: Buffer): Promise<BucketEntry | undefined> {
    const b = await this.m.bucket.get(id, EMPTY);
    return b && !b.deleted ? b : undefined;
  }

  /** Finds a bucket by global alias or by (a unique prefix of) its hex id; errors name the problem. */
  async findBucket(pattern: string): Promise<BucketEntry> {
    const id = await this.resolveBucket(pattern);
    if (id) {
      const b = await this.getBucket(id);
      if (b) return b;
    }
    if (/^[0-9a-f]{2,64}$/.test(pattern)) {
      const matches = (await this.listBuckets()).filter((b) => b.id.toString('hex').startsWith(pattern));
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1)
        throw new AdminError(`bucket id prefix '${pattern}' is ambiguous (${matches.length} buckets match)`);
    }
    throw new AdminNotFoundError('NoSuchBucket', `bucket '${pattern}' not found`);
  }

  /** All live buckets. */
  async listBuckets(): Promise<BucketEntry[]> {
    return (await this.m.bucket.getRangeAll()).filter((b) => !b.deleted);
  }

  /** Global aliases of a bucket that still point to it. */
  globalAliases(b: BucketEntry): string[] {
    return b.aliases.filter(([, v]) => v.v).map(([k]) => k);
  }

  /** Creates a bucket with a global alias (and owner permissions for a key, if given). */
  async createBucket(name: string, owner?: KeyEntry): Promise<BucketEntry> {
    if (!validBucketName(name))
      throw new AdminError(
        `invalid bucket name '${name}': 3-63 characters among a-z, 0-9, '.', '-', starting and ending with a letter or digit`,
      );
    const existing = await this.resolveBucket(name, owner);
    if (existing && (await this.getBucket(existing)))
      throw new AdminError(`bucket '${name}' already exists`, 'BucketAlreadyExists', 409);
    let b = newBucket(randomBytes(32));
    b.aliases = lwwSet(b.aliases, name, true);
    if (owner) b.keys = lwwSet(b.keys, owner.id, { read: true, write: true, owner: true });
    await this.m.bucket.insert(b);
    await this.m.bucketAlias.insert({ name, bucket: { ts: Date.now(), v: b.id } });
    if (owner) await this.setKeyPerms(b, owner.id, { read: true, write: true, owner: true });
    b = (await this.getBucket(b.id)) ?? b;
    return b;
  }

  /**
   * Whether a bucket holds no object version and no delete marker (in-progress multipart uploads
   * are not objects, as in S3).
   */
  async bucketIsEmpty(id: Buffer): Promise<boolean> {
    const rows = await this.m.object.getRange(id, { limit: 1, filter: { versions: true } });
    return rows.length === 0;
  }

  /**
   * Aborts every in-progress multipart upload of a bucket, as AbortMultipartUpload does, so the
   * object → version → block_ref cascade frees their blocks; returns how many were aborted.
   * With `startedBefore` (ms since epoch), only the uploads started before that instant.
   */
  async abortUploads(bucketId: Buffer, startedBefore = Infinity): Promise<number> {
    const page = 1000;
    let aborted = 0;
    let start: Buffer | undefined;
    for (;;) {
      const rows = await this.m.object.getRange(bucketId, { start, limit: page, filter: { uploads: true } });
      const entries = rows.map((o) => ({
        bucketId,
        key: o.key,
        versions: o.versions
          .filter((v) => v.state.t === 'uploading' && v.state.multipart && v.ts < startedBefore)
          .map((v) => ({ ...v, state: { t: 'aborted' as const } })),
      }));
      const some = entries.filter((e) => e.versions.length > 0);
      if (some.length) await this.m.object.insertMany(some);
      aborted += entries.reduce((n, e) => n + e.versions.length, 0);
      if (rows.length < page) return aborted;
      start = Buffer.concat([Buffer.from(rows[rows.length - 1]!.key), Buffer.from([0])]);
    }
  }

  /** Deletes a bucket without visible objects: aborts its unfinished uploads, then drops it and its aliases. */
  async deleteBucket(b: BucketEntry): Promise<void> {
    const name = this.globalAliases(b)[0] ?? b.id.toString('hex');
    if (!(await this.bucketIsEmpty(b.id))) throw new BucketNotEmptyError(`bucket '${name}' is not empty`);
    // Uploads first: should this fail, the bucket stays and a retry finishes the job, whereas a
    // bucket deleted first would leave uploads nobody can reach or abort, their blocks kept forever.
    await this.abortUploads(b.id);
    for (const name of this.globalAliases(b))
      await this.m.bucketAlias.insert({ name, bucket: { ts: Date.now(), v: null } });
    for (const [keyId, p] of b.keys)
      if (p.v.read || p.v.write || p.v.owner)
        await this.setKeyPerms(b, keyId, { read: false, write: false, owner: false }, true);
    await this.m.bucket.insert({ ...newBucket(b.id), created: b.created, deleted: true });
  }

  /** Sets a key's permissions on a bucket, recorded on both sides. */
  async setKeyPerms(b: BucketEntry, keyId: string, perms: Perms, onlyKey = false): Promise<void> {
    const k = await this.m.key.get(Buffer.from(keyId), EMPTY);
    if (!onlyKey) await this.m.bucket.insert({ ...b, keys: lwwSet(b.keys, keyId, perms) });
    if (k && !k.deleted) await this.m.key.insert({ ...k, buckets: lwwSet(k.buckets, b.id.toString('hex'), perms) });
  }

  /** All live keys. */
  async listKeys(): Promise<KeyEntry[]> {
    return (await this.m.key.getRangeAll()).filter((k) => !k.deleted);
  }

  /** Finds a key by (a unique prefix of) its id, or by its exact name. */
  async findKey(pattern: string): Promise<KeyEntry> {
    const keys = await this.listKeys();
    const exact = keys.filter((k) => k.id === pattern);
    if (exact.length === 1) return exact[0]!;
    const matches = keys.filter((k) => k.id.startsWith(pattern) || k.name.v === pattern);
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1)
      throw new AdminError(`key '${pattern}' is ambiguous: ${matches.map((k) => `${k.id} (${k.name.v})`).join(', ')}`);
    throw new AdminNotFoundError('NoSuchAccessKey', `key '${pattern}' not found`);
  }

  /** Creates a key (or imports one with a given id and secret). */
  async createKey(name: string, id?: string, secret?: string): Promise<KeyEntry> {
    if (id !== undefined) {
      if (!/^GK[0-9a-f]{24}$/.test(id))
        throw new AdminError(`invalid key id '${id}': expected GK followed by 24 hex characters`);
      if (!secret || !/^[0-9a-f]{64}$/.test(secret))
        throw new AdminError('invalid secret key: expected 64 hex characters');
      const existing = await this.m.key.get(Buffer.from(id), EMPTY);
      if (existing)
        throw new AdminError(`key ${id} already exists${existing.deleted ? ' (deleted; ids cannot be reused)' : ''}`);
    }
    const k = newKey(name, id, secret);
    await this.m.key.insert(k);
    return k;
  }

  /** Deletes a key and removes its permissions from every bucket. */
  async deleteKey(k: KeyEntry): Promise<void> {
    for (const [bid, p] of k.buckets) {
      if (!(p.v.read || p.v.write || p.v.owner)) continue;
      const b = await this.getBucket(Buffer.from(bid, 'hex'));
      if (b)
        await this.m.bucket.insert({ ...b, keys: lwwSet(b.keys, k.id, { read: false, write: false, owner: false }) });
    }
    await this.m.key.insert({ ...k, deleted: true, secret: '' });
  }
}
