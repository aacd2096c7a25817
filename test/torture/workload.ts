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
  | { t: 'list'; prefix: number; delimiter: boolean };

/** A conditional PUT (SDK only): If-None-Match: *, or If-Match the ETag of some body (which may be current). */
export type PutCondition = { t: 'absent' } | { t: 'match'; body: BodySpec };

/** A kill of node `node` once `afterOps` operations have been started, for `downMs`. */
export interface Fault {
  afterOps: number;
  node: number;
  downMs: number;
}

export interface Scenario {
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
);

/** Scenarios of `workers` workers doing `ops` operations each, with up to `kills` node kills. */
export function scenarioArb(o: { workers: number; ops: number; kills: number; nodes: number }): fc.Arbitrary<Scenario> {
  return fc.record({
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
}

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
  const fail = (what: string, start: number, e: unknown) => {
    const st = statusOf(e);
    const end = t.now();
    const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
    if (timedOut && !t.faultDuring(start, end)) t.problems.push(`${what}: no answer within ${t.timeoutMs} ms (a hang)`);
    else if (st !== undefined && st >= 500 && !t.faultDuring(start, end))
      t.problems.push(`${what}: ${st} ${errName(e)} with every node up`);
  };
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
        if (got !== etag) t.problems.push(`put of ${JSON.stringify(k)} answered ETag ${got}, expected ${etag}`);
        rec.done('ok');
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
        await s3.send(new DeleteObjectCommand({ Bucket: t.bucket, Key: k }), { abortSignal: signal() });
        rec.done('ok');
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
): Promise<string> {
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
    return unquote(r.ETag);
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
          ? res(unquote(String(r.headers.etag ?? '')))
          : rej(new HttpStatusError(r.statusCode ?? 0, Buffer.concat(parts).toString())),
      );
      r.on('error', rej);
    });
    req.on('error', rej);
    req.end(data);
  });
}
