// What the torture test's clients do: a fast-check scenario of operations per worker over a
// small key space (collisions on purpose), with bodies that are often identical or share
// blocks, and the code that runs one operation against a node and records what it saw.

import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '../integration/harness.ts';
import { ABSENT, type Outcome, type Read, type Value, type Write } from './history.ts';

const MiB = 1 << 20;

/** The key space: spaces at either end, unicode, %, +, <, &, numeric-looking, 1024 bytes. */
export const KEYS = ['k', 'k ', ' k', 'a/b', 'a/c d', 'a/ü%+<&>', '1e3', '0012', 'é'.repeat(512)];
/** Sizes around the inline threshold (3 KiB) and block boundaries (1 MiB). */
export const SIZES = [0, 1, 100, 3071, 3072, 3073, MiB - 1, MiB, MiB + 1, 2 * MiB + 17, 3 * MiB + 512 * 1024];
const PREFIXES = ['', 'a/', 'k', ' ', 'é'];
const PART1 = 5 * MiB;

/** A body: a prefix of one of four tapes made of shared 1 MiB chunks (so objects share blocks). */
export interface BodySpec {
  seed: number;
  size: number;
}

export type Op =
  | { t: 'put'; key: number; body: BodySpec; via: 'sdk' | 'stream' | 'presigned' | 'raw'; cond?: PutCondition }
  | { t: 'get'; key: number; range?: [number, number] }
  | { t: 'head'; key: number }
  | { t: 'delete'; key: number }
  | { t: 'deleteMany'; keys: number[] }
  | { t: 'copy'; from: number; to: number }
  | {
      t: 'mpu';
      key: number;
      parts: BodySpec[];
      reversed: boolean;
      retry?: { part: number; same: boolean };
      copyFirstFrom?: number;
      abort: boolean;
    }
  | { t: 'list'; prefix: number; delimiter: boolean }
  // By version id: one that a write returned (versioned buckets), or `null`.
  | { t: 'getVersion'; pick: number }
  | { t: 'deleteVersion'; pick: number }
  | { t: 'listVersions' };

/** How the scenario's bucket keeps versions: never versioned, versioning enabled, or suspended from the start. */
export type Versioning = 'off' | 'enabled' | 'suspended';

/** A conditional PUT (SDK only): If-None-Match: *, or If-Match the ETag of some body (which may be current). */
export type PutCondition = { t: 'absent' } | { t: 'match'; body: BodySpec };

/** A kill of node `node` once `afterOps` operations have been started, for `downMs`. */
export interface Fault {
  afterOps: number;
  node: number;
  downMs: number;
}

export interface Scenario {
  versioning: Versioning;
  workers: Op[][];
  faults: Fault[];
}

const key = fc.nat({ max: KEYS.length - 1 });
const body: fc.Arbitrary<BodySpec> = fc.record({ seed: fc.nat({ max: 3 }), size: fc.constantFrom(...SIZES) });
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('put' as const),
      key,
      body,
      via: fc.constantFrom('sdk' as const, 'stream' as const, 'presigned' as const, 'raw' as const),
      cond: fc.option(
        fc.oneof(
          fc.constant({ t: 'absent' as const }),
          body.map((b): PutCondition => ({ t: 'match', body: b })),
        ),
        { nil: undefined, freq: 3 },
      ),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('get' as const), key }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('get' as const),
      key,
      range: fc.tuple(fc.nat({ max: 4 * MiB }), fc.nat({ max: 2 * MiB })),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('head' as const), key }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), key }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('deleteMany' as const),
      keys: fc.uniqueArray(key, { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('copy' as const), from: key, to: key }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        t: fc.constant('mpu' as const),
        key,
        parts: fc.oneof(
          body.map((p): BodySpec[] => [p]),
          fc.tuple(fc.nat({ max: 3 }), body).map(([s, p]): BodySpec[] => [{ seed: s, size: PART1 }, p]),
        ),
        reversed: fc.boolean(),
        retry: fc.option(fc.record({ part: fc.nat({ max: 1 }), same: fc.boolean() }), { nil: undefined }),
        copyFirstFrom: fc.option(key, { nil: undefined, freq: 4 }),
        abort: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 4, arbitrary: fc.constant(false) }),
      },
      { requiredKeys: ['t', 'key', 'parts', 'reversed', 'abort'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('list' as const),
      prefix: fc.nat({ max: PREFIXES.length - 1 }),
      delimiter: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('getVersion' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('deleteVersion' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('listVersions' as const) }) },
);

/** Scenarios of `workers` workers doing `ops` operations each, with up to `kills` node kills. */
export function scenarioArb(o: { workers: number; ops: number; kills: number; nodes: number }): fc.Arbitrary<Scenario> {
  return fc.record({
    versioning: fc.constantFrom('off' as const, 'enabled' as const, 'suspended' as const),
    workers: fc.array(fc.array(op, { minLength: 1, maxLength: o.ops }), { minLength: o.workers, maxLength: o.workers }),
    faults: fc.array(
      fc.record({
        afterOps: fc.nat({ max: o.workers * o.ops }),
        node: fc.nat({ max: o.nodes - 1 }),
        downMs: fc.integer({ min: 200, max: 2000 }),
      }),
      { maxLength: o.kills },
    ),
  });
}

// ---- bodies ----

const chunks: Buffer[] = [];
for (let c = 0; c < 4; c++) {
  const b = Buffer.alloc(MiB);
  if (c === 0) {
    // Compressible: zstd keeps it compressed on disk.
    for (let i = 0; i < MiB; i += 64)
      b.write(`line ${i.toString(16).padStart(8, '0')} of the compressible chunk..\n`.slice(0, 64), i);
  } else {
    let x = createHash('sha256').update(`chunk ${c}`).digest();
    for (let i = 0; i < MiB; i += 32) {
      x.copy(b, i);
      x = createHash('sha256').update(x).digest();
    }
  }
  chunks.push(b);
}
const tapes = [0, 1, 2, 3].map((s) => Buffer.concat([0, 1, 0, 2, 0, 3].map((k) => chunks[k === 0 ? s : (s + k) % 4]!)));

/** The bytes of a body. */
export function bodyBytes(b: BodySpec): Buffer {
  return tapes[b.seed]!.subarray(0, b.size);
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

// ---- running operations ----

/** Where a worker sends its requests, and what it learns. */
export interface Target {
  bucket: string;
  /** One client per node; an operation picks one. */
  clients: S3Client[];
  endpoints: string[];
  credentials: { accessKeyId: string; secretAccessKey: string };
  now: () => number;
  /** Everything recorded so far. */
  writes: Write[];
  reads: Read[];
  /** Content (as a function, to keep memory low) of every value that may be stored. */
  contents: Map<Value, () => Buffer>;
  /** Failures that are violations by themselves (a hang, a 500, a corrupt body …). */
  problems: string[];
  /** Whether some node was down at some point during [start, end]. */
  faultDuring: (start: number, end: number) => boolean;
  timeoutMs: number;
  versioning: Versioning;
  /** Versions with their own id that an acknowledged write returned (versioning enabled). */
  versions: VersionRec[];
  /** Deletes by version id, as they ended. */
  versionDeletes: { id: string; start: number; end: number; outcome: Outcome }[];
}

/** A version a write acknowledged: its key, id and value (ABSENT for a delete marker). */
export interface VersionRec {
  key: string;
  id: string;
  value: Value;
  end: number;
}

/** Records a version id a write answered, where the bucket gives versions ids of their own. */
function learn(t: Target, key: string, id: string | undefined, value: Value): void {
  if (t.versioning === 'enabled' && id && id !== 'null') t.versions.push({ key, id, value, end: t.now() });
}
/** Whether a delete of version `id` may have happened before `time` (it started before, and was not refused). */
function maybeDeleted(t: Target, id: string, time: number): boolean {
  return t.versionDeletes.some((d) => d.id === id && d.outcome !== 'failed' && d.start < time);
}
/** Whether a delete of version `id` was acknowledged before `time`. */
function deletedBefore(t: Target, id: string, time: number): boolean {
  return t.versionDeletes.some((d) => d.id === id && d.outcome === 'ok' && d.end < time);
}
/** The placeholder values of a delete by id, resolved at the end (see resolveVersionDeletes). */
const ANY_VERSION = '<any version>';

function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('$metadata' in e)) return undefined;
  const m = e.$metadata;
  return typeof m === 'object' && m !== null && 'httpStatusCode' in m && typeof m.httpStatusCode === 'number'
    ? m.httpStatusCode
    : undefined;
}
function outcomeOf(status: number | undefined): Outcome {
  return status !== undefined && status >= 400 && status < 500 ? 'failed' : 'unknown';
}

let nextWriteId = 0;

/** A hang, or a 5xx while every node was up, is a violation; other failures are the faults' doing. */
function reportFailure(t: Target, what: string, start: number, e: unknown): void {
  const st = statusOf(e);
  const end = t.now();
  const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
  if (timedOut && !t.faultDuring(start, end)) t.problems.push(`${what}: no answer within ${t.timeoutMs} ms (a hang)`);
  else if (st !== undefined && st >= 500 && !t.faultDuring(start, end))
    t.problems.push(`${what}: ${st} ${errName(e)} with every node up`);
}

type Recorder = (
  k: string,
  values: Value[],
  what: string,
) => { w: Write; done: (outcome: Outcome, values2?: Value[]) => void };

/** Runs one operation through node `node` and records it. */
export async function runOp(t: Target, o: Op, node: number): Promise<void> {
  const s3 = t.clients[node]!;
  const signal = () => AbortSignal.timeout(t.timeoutMs);
  const write = (k: string, values: Value[], what: string) => {
    const w: Write = {
      id: nextWriteId++,
      key: k,
      values,
      start: t.now(),
      end: Infinity,
      outcome: 'unknown',
      what: `${what} via node ${node}`,
    };
    return {
      w,
      done: (outcome: Outcome, values2?: Value[]) => {
        w.end = t.now();
        w.outcome = outcome;
        if (values2) w.values = values2;
        t.writes.push(w);
      },
    };
  };
  const fail = (what: string, start: number, e: unknown) => reportFailure(t, what, start, e);
  switch (o.t) {
    case 'put': {
      const k = KEYS[o.key]!;
      const data = bodyBytes(o.body);
      const etag = md5(data);
      t.contents.set(etag, () => bodyBytes(o.body));
      const cond =
        o.cond && (o.via === 'sdk' || o.via === 'stream')
          ? o.cond.t === 'absent'
            ? { IfNoneMatch: '*' }
            : { IfMatch: `"${md5(bodyBytes(o.cond.body))}"` }
          : undefined;
      const rec = write(k, [etag], `put ${o.via} ${data.length} B${cond ? ` ${JSON.stringify(cond)}` : ''}`);
      try {
        const got = await putVia(t, s3, node, o.via, k, data, signal(), cond);
        if (got.etag !== etag)
          t.problems.push(`put of ${JSON.stringify(k)} answered ETag ${got.etag}, expected ${etag}`);
        rec.done('ok');
        learn(t, k, got.versionId, etag);
      } catch (e) {
        rec.done(outcomeOf(statusOf(e) ?? httpStatus(e)));
        fail(rec.w.what, rec.w.start, e);
      }
      return;
    }
    case 'get':
    case 'head': {
      const k = KEYS[o.key]!;
      const start = t.now();
      const what = `${o.t}${o.t === 'get' && o.range ? ` range ${o.range[0]}+${o.range[1]}` : ''} via node ${node}`;
      try {
        if (o.t === 'head') {
          const r = await s3.send(new HeadObjectCommand({ Bucket: t.bucket, Key: k }), { abortSignal: signal() });
          t.reads.push({ key: k, value: unquote(r.ETag), start, end: t.now(), what });
          return;
        }
        const range = o.range ? `bytes=${o.range[0]}-${o.range[0] + o.range[1]}` : undefined;
        const r = await s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: k, Range: range }), {
          abortSignal: signal(),
        });
        const bytes = Buffer.from(await r.Body!.transformToByteArray());
        const value = unquote(r.ETag);
        t.reads.push({ key: k, value, start, end: t.now(), what });
        const content = t.contents.get(value)?.();
        if (!content) t.problems.push(`${what} of ${JSON.stringify(k)}: ETag ${value} is no content any client wrote`);
        else {
          const from = o.range ? o.range[0] : 0;
          const to = o.range ? Math.min(content.length, o.range[0] + o.range[1] + 1) : content.length;
          if (!bytes.equals(content.subarray(from, to)))
            t.problems.push(
              `${what} of ${JSON.stringify(k)}: ${bytes.length} bytes that are not those of ETag ${value} [${from}, ${to})`,
            );
        }
      } catch (e) {
        const st = statusOf(e);
        if (st === 404) t.reads.push({ key: k, value: ABSENT, start, end: t.now(), what });
        else if (st === 416) {
          // Range past the end: the object exists with a size ≤ range start; nothing to compare.
        } else fail(what, start, e);
      }
      return;
    }
    case 'delete': {
      const k = KEYS[o.key]!;
      const rec = write(k, [ABSENT], 'delete');
      try {
        const r = await s3.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: k }), { abortSignal: signal() });
        rec.done('ok');
        learn(t, k, r.VersionId, ABSENT);
      } catch (e) {
        rec.done(outcomeOf(statusOf(e)));
        fail(rec.w.what, rec.w.start, e);
      }
      return;
    }
    case 'deleteMany': {
      const keys = o.keys.map((i) => KEYS[i]!);
      const recs = keys.map((k) =>
        write(k, [ABSENT], `delete-objects [${keys.map((x) => JSON.stringify(x)).join(', ')}]`),
      );
      try {
        const r = await s3.send(
          new DeleteObjectsCommand({ Bucket: t.bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
          { abortSignal: signal() },
        );
        const deleted = new Set((r.Deleted ?? []).map((d) => d.Key));
        for (const d of r.Deleted ?? [])
          if (!keys.includes(d.Key ?? ''))
            t.problems.push(`DeleteObjects reported ${JSON.stringify(d.Key)} deleted, which was not asked for`);
        for (const [i, k] of keys.entries()) recs[i]!.done(deleted.has(k) ? 'ok' : 'unknown');
        for (const d of r.Deleted ?? []) learn(t, d.Key ?? '', d.DeleteMarkerVersionId, ABSENT);
      } catch (e) {
        for (const rec of recs) rec.done(outcomeOf(statusOf(e)));
        fail(recs[0]!.w.what, recs[0]!.w.start, e);
      }
      return;
    }
    case 'copy': {
      const from = KEYS[o.from]!;
      const to = KEYS[o.to]!;
      const rec = write(to, [], `copy from ${JSON.stringify(from)}`);
      try {
        const r = await s3.send(
          new CopyObjectCommand({
            Bucket: t.bucket,
            Key: to,
            CopySource: `${t.bucket}/${encodeURIComponent(from)}`,
            MetadataDirective: from === to ? 'REPLACE' : undefined,
          }),
          { abortSignal: signal() },
        );
        rec.done('ok', [unquote(r.CopyObjectResult?.ETag)]);
        learn(t, to, r.VersionId, unquote(r.CopyObjectResult?.ETag));
      } catch (e) {
        // Until resolved (see resolveCopies): any value the source had may have been copied.
        rec.w.what += ` (source ${from})`;
        rec.done(outcomeOf(statusOf(e)), [`<copy of ${from}>`]);
        fail(rec.w.what, rec.w.start, e);
      }
      return;
    }
    case 'mpu':
      return runMultipart(t, s3, node, o, signal);
    case 'getVersion':
      return getVersion(t, s3, node, o.pick, signal);
    case 'deleteVersion':
      return deleteVersion(t, s3, o.pick, signal, write);
    case 'listVersions':
      return listVersions(t, s3, node, signal);
    case 'list': {
      const prefix = PREFIXES[o.prefix]!;
      const start = t.now();
      const what = `list prefix ${JSON.stringify(prefix)}${o.delimiter ? ' delimiter /' : ''} via node ${node}`;
      try {
        const r = await s3.send(
          new ListObjectsV2Command({
            Bucket: t.bucket,
            Prefix: prefix,
            Delimiter: o.delimiter ? '/' : undefined,
            MaxKeys: 1000,
          }),
          { abortSignal: signal() },
        );
        const end = t.now();
        const seen = new Map((r.Contents ?? []).map((c) => [c.Key ?? '', c]));
        const rolled = (r.CommonPrefixes ?? []).map((c) => c.Prefix ?? '');
        for (const k of seen.keys())
          if (!KEYS.includes(k)) t.problems.push(`${what}: lists ${JSON.stringify(k)}, a key no client wrote`);
        for (const k of KEYS) {
          if (!k.startsWith(prefix) || rolled.some((p) => k.startsWith(p))) continue;
          const c = seen.get(k);
          const value = c ? unquote(c.ETag) : ABSENT;
          t.reads.push({ key: k, value, start, end, what });
          const content = c ? t.contents.get(value)?.() : undefined;
          if (c && content && content.length !== c.Size)
            t.problems.push(
              `${what}: ${JSON.stringify(k)} listed with size ${c.Size}, its content has ${content.length}`,
            );
        }
      } catch (e) {
        fail(what, start, e);
      }
      return;
    }
  }
}

/** A GET by version id: a version some write returned (versioning enabled), else `null`. */
async function getVersion(
  t: Target,
  s3: S3Client,
  node: number,
  pick: number,
  signal: () => AbortSignal,
): Promise<void> {
  const rec = t.versioning === 'enabled' ? t.versions[pick % Math.max(1, t.versions.length)] : undefined;
  if (t.versioning === 'enabled' && !rec) return;
  const k = rec ? rec.key : KEYS[pick % KEYS.length]!;
  const id = rec ? rec.id : 'null';
  const start = t.now();
  const what = `get version ${id.slice(0, 8)} of ${JSON.stringify(k)} via node ${node}`;
  try {
    const r = await s3.send(new GetObjectCommand({ Bucket: t.bucket, Key: k, VersionId: id }), {
      abortSignal: signal(),
    });
    const bytes = Buffer.from(await r.Body!.transformToByteArray());
    const value = unquote(r.ETag);
    const content = t.contents.get(value)?.();
    if (!content || !bytes.equals(content)) t.problems.push(`${what}: bytes that are not those of ETag ${value}`);
    // A bucket never versioned names no version in answers, as S3 does; otherwise the id asked for.
    const answered = t.versioning === 'off' ? undefined : id;
    if (r.VersionId !== answered) t.problems.push(`${what}: answered version ${r.VersionId}`);
    if (!rec) {
      t.reads.push({ key: k, value, start, end: t.now(), what });
      return;
    }
    if (value !== rec.value) t.problems.push(`${what}: ETag ${value}, the version was written as ${rec.value}`);
    if (deletedBefore(t, id, start)) t.problems.push(`${what}: served after its delete was acknowledged`);
  } catch (e) {
    const st = statusOf(e);
    const end = t.now();
    if (st === 404 && !rec) t.reads.push({ key: k, value: ABSENT, start, end, what });
    else if (st === 404 && rec && !maybeDeleted(t, id, end))
      t.problems.push(`${what}: 404, yet the version was acknowledged and never deleted (a lost version)`);
    else if (st === 405 && rec && rec.value !== ABSENT)
      t.problems.push(`${what}: 405 (a delete marker), yet the version is an object`);
    else if (st === 405 && !rec) t.reads.push({ key: k, value: ABSENT, start, end, what });
    else if (st !== 404 && st !== 405) reportFailure(t, what, start, e);
  }
}

/** A DELETE by version id; for the register check, a write that may leave any earlier value current. */
async function deleteVersion(
  t: Target,
  s3: S3Client,
  pick: number,
  signal: () => AbortSignal,
  write: Recorder,
): Promise<void> {
  const rec = t.versioning === 'enabled' ? t.versions[pick % Math.max(1, t.versions.length)] : undefined;
  if (t.versioning === 'enabled' && !rec) return;
  const k = rec ? rec.key : KEYS[pick % KEYS.length]!;
  const id = rec ? rec.id : 'null';
  // Without versioning (or suspended from the start) the null version is all a key has: deleting
  // it leaves the key absent, a write like DELETE. With versions, which one becomes current depends.
  const w = write(k, [rec ? ANY_VERSION : ABSENT], `delete version ${id.slice(0, 8)}`);
  const d = { id, start: w.w.start, end: Infinity, outcome: 'unknown' as Outcome };
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: k, VersionId: id }), { abortSignal: signal() });
    d.outcome = 'ok';
  } catch (e) {
    d.outcome = outcomeOf(statusOf(e));
    reportFailure(t, w.w.what, w.w.start, e);
  } finally {
    d.end = t.now();
    t.versionDeletes.push(d);
    w.done(rec ? (d.outcome === 'failed' ? 'failed' : 'unknown') : d.outcome);
  }
}

/**
 * ListObjectVersions of the whole bucket: its IsLatest entries are reads of each key; with
 * versioning, every acknowledged version not deleted must be there, with its value, and no
 * version whose delete was acknowledged.
 */
export async function listVersions(t: Target, s3: S3Client, node: number, signal: () => AbortSignal): Promise<void> {
  const start = t.now();
  const what = `list versions via node ${node}`;
  const listed = new Map<string, { key: string; value: Value; latest: boolean; size?: number }>();
  const perKey = new Map<string, number>();
  try {
    let KeyMarker: string | undefined;
    let VersionIdMarker: string | undefined;
    for (let page = 0; page < 50; page++) {
      const r = await s3.send(new ListObjectVersionsCommand({ Bucket: t.bucket, KeyMarker, VersionIdMarker }), {
        abortSignal: signal(),
      });
      const entries = [
        ...(r.Versions ?? []).map((v) => ({ ...v, value: unquote(v.ETag) })),
        ...(r.DeleteMarkers ?? []).map((v) => ({ ...v, value: ABSENT, Size: undefined })),
      ];
      for (const v of entries) {
        const key = v.Key ?? '';
        const id = v.VersionId ?? '';
        if (listed.has(`${key}\0${id}`)) t.problems.push(`${what}: ${JSON.stringify(key)} ${id} listed twice`);
        listed.set(`${key}\0${id}`, { key, value: v.value, latest: v.IsLatest === true, size: v.Size });
        perKey.set(key, (perKey.get(key) ?? 0) + 1);
      }
      if (!r.IsTruncated) break;
      KeyMarker = r.NextKeyMarker;
      VersionIdMarker = r.NextVersionIdMarker;
    }
  } catch (e) {
    reportFailure(t, what, start, e);
    return;
  }
  const end = t.now();
  const latest = new Map<string, Value>();
  for (const [k, e] of listed) {
    const id = k.split('\0')[1]!;
    if (!KEYS.includes(e.key)) t.problems.push(`${what}: lists ${JSON.stringify(e.key)}, a key no client wrote`);
    if (e.latest) {
      if (latest.has(e.key)) t.problems.push(`${what}: two versions of ${JSON.stringify(e.key)} are IsLatest`);
      latest.set(e.key, e.value);
    }
    const content = e.value === ABSENT ? undefined : t.contents.get(e.value)?.();
    if (e.value !== ABSENT && !content) t.problems.push(`${what}: ETag ${e.value} is no content any client wrote`);
    if (content && e.size !== content.length)
      t.problems.push(
        `${what}: ${JSON.stringify(e.key)} listed with size ${e.size}, its content has ${content.length}`,
      );
    if (t.versioning !== 'enabled') {
      if (id !== 'null') t.problems.push(`${what}: version ${id} in a bucket that never gave ids`);
      continue;
    }
    const rec = t.versions.find((r) => r.id === id);
    if (rec && (rec.key !== e.key || rec.value !== e.value))
      t.problems.push(
        `${what}: version ${id} listed as ${e.value} of ${JSON.stringify(e.key)}, written as ${rec.value}`,
      );
    if (rec && deletedBefore(t, id, start))
      t.problems.push(`${what}: version ${id} listed after its delete was acknowledged`);
  }
  for (const k of KEYS) {
    if ((perKey.get(k) ?? 0) > 0 && !latest.has(k))
      t.problems.push(`${what}: no version of ${JSON.stringify(k)} is IsLatest`);
    if (t.versioning !== 'enabled' && (perKey.get(k) ?? 0) > 1)
      t.problems.push(`${what}: ${JSON.stringify(k)} has ${perKey.get(k)} versions in a bucket without version ids`);
    t.reads.push({ key: k, value: latest.get(k) ?? ABSENT, start, end, what });
  }
  if (t.versioning === 'enabled')
    for (const r of t.versions)
      if (r.end < start && !maybeDeleted(t, r.id, end) && !listed.has(`${r.key}\0${r.id}`))
        t.problems.push(
          `${what}: version ${r.id} (${r.value}) of ${JSON.stringify(r.key)} is missing, yet it was acknowledged and never deleted`,
        );
}

/** Every version a write returned, read by id (at quiescence): none may be lost or changed. */
export async function checkAllVersions(t: Target, s3: S3Client): Promise<void> {
  for (let i = 0; i < t.versions.length; i++) await getVersion(t, s3, 0, i, () => AbortSignal.timeout(t.timeoutMs));
}

/** Gives deletes by id the values they may have left current: any value of their key, or none. */
export function resolveVersionDeletes(writes: Write[]): void {
  for (const w of writes) {
    if (w.values[0] !== ANY_VERSION) continue;
    w.values = [ABSENT, ...new Set(writes.filter((x) => x.key === w.key && x !== w).flatMap((x) => x.values))];
  }
}

async function runMultipart(
  t: Target,
  s3: S3Client,
  node: number,
  o: Extract<Op, { t: 'mpu' }>,
  signal: () => AbortSignal,
): Promise<void> {
  const k = KEYS[o.key]!;
  const start = t.now();
  const what = `multipart ${o.parts.map((p) => p.size).join('+')} B${o.abort ? ' (aborted)' : ''} via node ${node}`;
  let uploadId: string | undefined;
  try {
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: t.bucket, Key: k }), { abortSignal: signal() });
    uploadId = c.UploadId!;
    const parts: { n: number; etag: string; content: () => Buffer }[] = [];
    const order = o.parts.map((_, i) => i);
    if (o.reversed) order.reverse();
    for (const i of order) {
      const n = i + 1;
      const spec = o.parts[i]!;
      if (i === 0 && o.copyFirstFrom !== undefined && spec.size !== PART1) {
        // The part's bytes are whatever the source holds now (if anything).
        const src = KEYS[o.copyFirstFrom]!;
        try {
          const r = await s3.send(
            new UploadPartCopyCommand({
              Bucket: t.bucket,
              Key: k,
              UploadId: uploadId,
              PartNumber: n,
              CopySource: `${t.bucket}/${encodeURIComponent(src)}`,
            }),
            { abortSignal: signal() },
          );
          const etag = unquote(r.CopyPartResult?.ETag);
          const content = t.contents.get(etag);
          if (!content)
            t.problems.push(
              `UploadPartCopy from ${JSON.stringify(src)} copied content of MD5 ${etag}, which no client wrote`,
            );
          else {
            parts.push({ n, etag, content });
            continue;
          }
        } catch (e) {
          if (statusOf(e) !== 404) throw e;
        }
      }
      const data = bodyBytes(spec);
      let etag = unquote(
        (
          await s3.send(
            new UploadPartCommand({ Bucket: t.bucket, Key: k, UploadId: uploadId, PartNumber: n, Body: data }),
            { abortSignal: signal() },
          )
        ).ETag,
      );
      let content = () => bodyBytes(spec);
      if (o.retry && o.retry.part === i) {
        const again = o.retry.same ? spec : { seed: (spec.seed + 1) % 4, size: spec.size };
        etag = unquote(
          (
            await s3.send(
              new UploadPartCommand({
                Bucket: t.bucket,
                Key: k,
                UploadId: uploadId,
                PartNumber: n,
                Body: bodyBytes(again),
              }),
              { abortSignal: signal() },
            )
          ).ETag,
        );
        content = () => bodyBytes(again);
      }
      parts.push({ n, etag, content });
    }
    parts.sort((a, b) => a.n - b.n);
    for (const p of parts) t.contents.set(p.etag, p.content);
    if (o.abort) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: t.bucket, Key: k, UploadId: uploadId }), {
        abortSignal: signal(),
      });
      return;
    }
    const expected = `${createHash('md5')
      .update(Buffer.concat(parts.map((p) => Buffer.from(p.etag, 'hex'))))
      .digest('hex')}-${parts.length}`;
    const whole = () => Buffer.concat(parts.map((p) => p.content()));
    t.contents.set(expected, whole);
    // UploadPartCopy of this object answers the MD5 of its bytes, not its multipart ETag.
    t.contents.set(md5(whole()), whole);
    const w: Write = {
      id: nextWriteId++,
      key: k,
      values: [expected],
      start: t.now(),
      end: Infinity,
      outcome: 'unknown',
      what: `complete ${what}`,
    };
    try {
      const r = await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: t.bucket,
          Key: k,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.n, ETag: `"${p.etag}"` })) },
        }),
        { abortSignal: signal() },
      );
      if (unquote(r.ETag) !== expected)
        t.problems.push(`CompleteMultipartUpload answered ETag ${r.ETag}, expected ${expected}`);
      w.outcome = 'ok';
      learn(t, k, r.VersionId, expected);
    } catch (e) {
      w.outcome = outcomeOf(statusOf(e));
      throw e;
    } finally {
      w.end = t.now();
      t.writes.push(w);
    }
  } catch (e) {
    const st = statusOf(e);
    const end = t.now();
    if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError') && !t.faultDuring(start, end))
      t.problems.push(`${what}: no answer within ${t.timeoutMs} ms (a hang)`);
    else if (st !== undefined && st >= 500 && !t.faultDuring(start, end))
      t.problems.push(`${what}: ${st} ${errName(e)} with every node up`);
    else if (st !== undefined && st >= 400 && st < 500) t.problems.push(`${what}: refused with ${st} ${errName(e)}`);
  }
}

/** Gives copies whose answer was lost the values their source may have had during the copy. */
export function resolveCopies(writes: Write[]): void {
  for (const w of writes) {
    const m = /^<copy of (.*)>$/s.exec(w.values[0] ?? '');
    if (!m) continue;
    const src = m[1]!;
    const vals = new Set(
      writes.filter((x) => x.key === src && x.start < w.end && x.outcome !== 'failed').flatMap((x) => x.values),
    );
    vals.delete(ABSENT);
    w.values = [...vals];
  }
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/"/g, '');
}
function errName(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e);
}
class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, body: string) {
    super(`HTTP ${status}: ${body.slice(0, 300)}`);
    this.status = status;
  }
}
function httpStatus(e: unknown): number | undefined {
  return e instanceof HttpStatusError ? e.status : undefined;
}

async function putVia(
  t: Target,
  s3: S3Client,
  node: number,
  via: 'sdk' | 'stream' | 'presigned' | 'raw',
  k: string,
  data: Buffer,
  signal: AbortSignal,
  cond?: { IfNoneMatch?: string; IfMatch?: string },
): Promise<{ etag: string; versionId?: string }> {
  if (via === 'sdk' || via === 'stream') {
    // A stream body makes the SDK send aws-chunked with a trailing checksum.
    const Body =
      via === 'sdk'
        ? data
        : Readable.from(data.length ? [data.subarray(0, data.length >> 1), data.subarray(data.length >> 1)] : []);
    const r = await s3.send(
      new PutObjectCommand({ Bucket: t.bucket, Key: k, Body, ContentLength: data.length, ...cond }),
      {
        abortSignal: signal,
      },
    );
    return { etag: unquote(r.ETag), versionId: r.VersionId };
  }
  const url = new URL(`${t.endpoints[node]}/${t.bucket}/${encodeURIComponent(k)}`);
  let headers: Record<string, string> = { 'content-length': String(data.length) };
  let target = url;
  if (via === 'presigned') {
    target = new URL(await getSignedUrl(s3, new PutObjectCommand({ Bucket: t.bucket, Key: k }), { expiresIn: 600 }));
  } else {
    const signer = new SignatureV4({
      service: 's3',
      region: 'garage',
      credentials: t.credentials,
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: true,
    });
    const sha = createHash('sha256').update(data).digest('hex');
    const signed = await signer.sign({
      method: 'PUT',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { host: url.host, 'content-length': String(data.length), 'x-amz-content-sha256': sha },
    });
    headers = Object.fromEntries(Object.entries(signed.headers).map(([a, b]) => [a, String(b)]));
  }
  return new Promise((res, rej) => {
    const req = request(target, { method: 'PUT', headers, signal }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (c: Buffer) => parts.push(c));
      r.on('end', () =>
        (r.statusCode ?? 0) === 200
          ? res({ etag: unquote(String(r.headers.etag ?? '')), versionId: r.headers['x-amz-version-id']?.toString() })
          : rej(new HttpStatusError(r.statusCode ?? 0, Buffer.concat(parts).toString())),
      );
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(data);
  });
}
