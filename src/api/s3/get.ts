import { expirationHeader } from './lifecycle.ts';
import type { LifecycleRule } from '../../model/bucket.ts';
import { Readable } from 'node:stream';
import type { Model } from '../../model/garage.ts';
import { parseGroupKey } from '../../model/version.ts';
import { visibleVersion, type ObjectMeta } from '../../model/object.ts';
import { S3Error } from '../common/s3_error.ts';
import { checkHeader, metadataToHeader, sendableHeader } from '../common/http.ts';
import { BlockError, errorMessage } from '../../util/errors.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpDate, sendEmpty, type ReqCtx, type ObjectCtx, type S3Services } from './context.ts';
import { checksumHeaders } from './put.ts';
import { openWith, requestKey, sseHeaders, type BlockCipher } from './sse_c.ts';
import { tagCountHeader } from './tagging.ts';
import { checkedVersionId, readVersion, versionHeaders } from './versioning.ts';
import { lockHeaders } from './object_lock.ts';
import type { BucketEntry } from '../../model/bucket.ts';

/** A block of an object at its absolute offset. */
export interface ObjectBlock {
  offset: number;
  hash: Buffer;
  size: number;
}

/** The ordered blocks of a version (for multipart versions, only the parts chosen on completion). */
export async function versionBlocks(model: Model, uuid: Buffer): Promise<ObjectBlock[]> {
  const rows = await model.version.getRange(uuid, {});
  const header = rows.find((r) => r.sk.length === 0);
  const chosen = header?.header?.parts;
  const groups = rows
    .filter((r) => r.sk.length > 0 && !r.deleted)
    .map((r) => ({ ...parseGroupKey(r.sk), blocks: r.blocks }));
  const out: ObjectBlock[] = [];
  const order = chosen ?? [[0, 0, -1] as [number, number, number]];
  let base = 0;
  for (const [part, partTs] of order) {
    const mine = groups.filter((g) => g.part === part && g.partTs === partTs).sort((a, b) => a.seq - b.seq);
    let partSize = 0;
    for (const g of mine)
      for (const [off, hash, size] of g.blocks) {
        out.push({ offset: base + off, hash, size });
        partSize = Math.max(partSize, off + size);
      }
    base += partSize;
  }
  out.sort((a, b) => a.offset - b.offset);
  return out;
}

/** Throws unless the blocks cover [0, size) exactly, so a GET never promises bytes it lacks. */
export function checkCoverage(blocks: ObjectBlock[], size: number): void {
  let at = 0;
  for (const b of blocks) {
    if (b.offset !== at) break;
    at += b.size;
  }
  if (at !== size) throw new BlockError(`object data is incomplete: blocks cover ${at} of ${size} bytes`);
}

/**
 * Streams bytes [start, end) of an object, fetching the next block while the current one is
 * sent. `first`, if given, is the first wanted block, already fetched (so that a missing block
 * fails the request before any header is sent); `cipher` opens the blocks of an SSE-C object.
 */
export function streamBlocks(
  model: Model,
  blocks: ObjectBlock[],
  start: number,
  end: number,
  first?: Buffer,
  cipher?: BlockCipher,
): Readable {
  const wanted = wantedBlocks(blocks, start, end);
  let i = 0;
  let next: Promise<Buffer> | undefined = first ? Promise.resolve(first) : undefined;
  const fetch = (k: number) => model.blocks.get(wanted[k]!.hash);
  return new Readable({
    highWaterMark: 1,
    objectMode: false,
    async read() {
      try {
        if (i >= wanted.length) {
          this.push(null);
          return;
        }
        const cur = next ?? fetch(i);
        next = i + 1 < wanted.length ? fetch(i + 1) : undefined;
        next?.catch(() => undefined);
        const b = wanted[i]!;
        let data = cipher ? cipher.open(await cur) : await cur;
        if (data.length !== b.size)
          throw new BlockError(`block ${b.hash.toString('hex')} has size ${data.length}, expected ${b.size}`);
        const from = Math.max(0, start - b.offset);
        const to = Math.min(b.size, end - b.offset);
        if (from > 0 || to < b.size) data = data.subarray(from, to);
        i++;
        this.push(data);
      } catch (e) {
        this.destroy(e instanceof Error ? e : new Error(String(e)));
      }
    },
  });
}

/** The blocks holding some of the bytes [start, end). */
function wantedBlocks(blocks: ObjectBlock[], start: number, end: number): ObjectBlock[] {
  return blocks.filter((b) => b.offset + b.size > start && b.offset < end);
}

/** Parses a Range header against an object size; undefined means the whole object. */
export function parseRange(h: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!h) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined; // S3 ignores unparseable ranges
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0)
      throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { ActualObjectSize: String(size) });
    start = Math.max(0, size - n);
    end = size;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
    if (m[2] !== '' && Number(m[2]) < start) return undefined;
  }
  if (start >= size)
    throw new S3Error('InvalidRange', 'The requested range is not satisfiable', { ActualObjectSize: String(size) });
  return { start, end };
}

/** Evaluates If-Match / If-None-Match / If-(Un)Modified-Since; throws 412 or 304. */
export function checkConditions(headers: ReqCtx['req']['headers'], etag: string, lastModified: number): void {
  const quoted = `"${etag}"`;
  const matches = (list: string) =>
    list
      .split(',')
      .map((s) => s.trim())
      .some((t) => t === '*' || t === quoted || t === etag || t === `W/${quoted}`);
  const secs = Math.floor(lastModified / 1000) * 1000;
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  const ims = headers['if-modified-since'];
  const ius = headers['if-unmodified-since'];
  if (ifMatch !== undefined && !matches(ifMatch))
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: 'If-Match',
    });
  if (ifMatch === undefined && ius !== undefined && !Number.isNaN(Date.parse(ius)) && secs > Date.parse(ius))
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: 'If-Unmodified-Since',
    });
  if (ifNoneMatch !== undefined && matches(ifNoneMatch)) throw new S3Error('NotModified', 'Not Modified');
  if (ifNoneMatch === undefined && ims !== undefined && !Number.isNaN(Date.parse(ims)) && secs <= Date.parse(ims))
    throw new S3Error('NotModified', 'Not Modified');
}

/** Response headers describing an object version. */
export function objectHeaders(meta: ObjectMeta, ts: number): Record<string, string> {
  const h: Record<string, string> = { etag: `"${meta.etag}"`, 'last-modified': httpDate(ts), 'accept-ranges': 'bytes' };
  // Objects stored before header values were validated must stay readable.
  for (const [k, stored] of meta.headers) {
    const v = k.startsWith('x-amz-meta-') ? metadataToHeader(stored) : stored;
    if (sendableHeader(k, v)) h[k] = v;
  }
  if (meta.parts) h['x-amz-mp-parts-count'] = String(meta.parts);
  return { ...h, ...tagCountHeader(meta) };
}

/** Where and how to serve an object (shared by the S3 API and the website endpoint). */
export interface ServeTarget {
  model: Model;
  logger: S3Services['logger'];
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  head: boolean;
  /** Status for a full response (the website endpoint serves error documents with 404). */
  status?: number;
  /** GetObject/HeadObject `?partNumber=N`: serve that part of a multipart object (1 for others). */
  partNumber?: number;
  /** The bucket's lifecycle rules, for `x-amz-expiration` (the S3 API; the website endpoint sends none). */
  lifecycle?: LifecycleRule[] | null;
  /** The website endpoint: an object with `x-amz-website-redirect-location` answers a 301 there. */
  followRedirectLocation?: boolean;
  /** The version to serve (GetObject `versionId`); the current one without. */
  versionId?: string;
}

// The byte range of part `n` of a version, and its checksum headers: from the parts chosen at
// completion for a multipart object; a single-part object has one part, the whole of it.
async function partRange(
  model: Model,
  uuid: Buffer,
  meta: ObjectMeta,
  n: number,
): Promise<{ range?: { start: number; end: number }; checksum: Record<string, string> }> {
  const unsatisfiable = () =>
    new S3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', {
      PartNumberRequested: String(n),
      ActualPartCount: String(meta.parts ?? 1),
    });
  if (!meta.parts) {
    if (n !== 1) throw unsatisfiable();
    // No range can name an empty body.
    return {
      range: meta.size > 0 ? { start: 0, end: meta.size } : undefined,
      checksum: checksumHeaders(meta.checksum),
    };
  }
  const parts = (await model.version.get(uuid, Buffer.alloc(0)))?.header?.parts;
  if (!parts) throw new S3Error('ServiceUnavailable', 'the parts of this object are not readable right now; retry');
  let start = 0;
  for (const [part, , size, sum] of [...parts].sort((a, b) => a[0] - b[0])) {
    // A part's own checksum is of its bytes alone: the full-object kind.
    const alg = meta.checksum?.algorithm.toLowerCase();
    if (part === n)
      return { range: { start, end: start + size }, checksum: alg && sum ? { [`x-amz-checksum-${alg}`]: sum } : {} };
    start += size;
  }
  throw unsatisfiable();
}

/** Sends a visible object (Range, conditional headers, response-* overrides); NoSuchKey if none. */
export async function serveObject(t: ServeTarget, bucket: BucketEntry, key: string, attempt = 0): Promise<void> {
  const { model, req, res } = t;
  const entry = await model.object.get(bucket.id, Buffer.from(key));
  const v = readVersion(bucket, entry, t.versionId);
  const { meta } = v.state.data;
  const location = t.followRedirectLocation
    ? meta.headers.find(([k]) => k === 'x-amz-website-redirect-location')?.[1]
    : undefined;
  if (location) {
    res.statusCode = 301;
    res.setHeader('location', location);
    res.setHeader('content-length', 0);
    res.end();
    return;
  }
  // SSE-C: nothing of the object, not even whether a condition holds, without its key.
  const sse = requestKey(req.headers);
  const cipher = openWith(meta.encryption, sse);
  const headers = {
    ...objectHeaders(meta, v.ts),
    ...sseHeaders(sse),
    ...versionHeaders(bucket, v),
    ...lockHeaders(meta),
  };
  const expiration = expirationHeader(t.lifecycle ?? null, key, meta.size, v.ts, meta.tags?.v);
  if (expiration) headers['x-amz-expiration'] = expiration;
  try {
    checkConditions(req.headers, meta.etag, v.ts);
  } catch (e) {
    if (e instanceof S3Error && e.code === 'NotModified') {
      sendEmpty(res, 304, { etag: headers.etag!, 'last-modified': headers['last-modified']! });
      return;
    }
    throw e;
  }
  if (t.partNumber !== undefined && req.headers.range !== undefined)
    throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
  const part = t.partNumber !== undefined ? await partRange(model, v.uuid, meta, t.partNumber) : undefined;
  const range = part ? part.range : t.status === undefined ? parseRange(req.headers.range, meta.size) : undefined;
  const start = range?.start ?? 0;
  const end = range?.end ?? meta.size;
  // Before any header: the blocks must cover the object, and the first one must be readable.
  // A failure here is a clean 5xx the client can retry, not a body cut short.
  let blocks: ObjectBlock[] = [];
  let first: Buffer | undefined;
  let inline: Buffer | undefined;
  if (v.state.data.t === 'inline' && !t.head) {
    inline = cipher ? cipher.open(v.state.data.bytes) : v.state.data.bytes;
  }
  if (v.state.data.t === 'blocks' && !t.head) {
    blocks = await versionBlocks(model, v.uuid);
    try {
      checkCoverage(blocks, meta.size);
      const w = wantedBlocks(blocks, start, end)[0];
      if (w) first = await model.blocks.get(w.hash);
    } catch (e) {
      // The version read may have been superseded (and its rows freed) since: then the object
      // is served again as it now is. Nothing is sent yet, so the client sees one clean answer.
      const now = visibleVersion(await model.object.get(bucket.id, Buffer.from(key)));
      if (attempt < 3 && t.versionId === undefined && !now?.uuid.equals(v.uuid))
        return serveObject(t, bucket, key, attempt + 1);
      t.logger.error({ key, version: v.uuid.toString('hex'), err: errorMessage(e) }, 'GET: object data unreadable');
      throw e;
    }
  }
  for (const [param, header] of [
    ['response-content-type', 'content-type'],
    ['response-content-disposition', 'content-disposition'],
    ['response-cache-control', 'cache-control'],
    ['response-content-encoding', 'content-encoding'],
    ['response-content-language', 'content-language'],
    ['response-expires', 'expires'],
  ] as const) {
    const val = t.query.get(param);
    if (val !== null) checkHeader(param, header, val);
    if (val !== null) headers[header] = val;
  }
  for (const [k, val] of Object.entries(headers)) res.setHeader(k, val);
  if (String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED') {
    // A range has no checksum; a part has its own.
    const sums = part ? part.checksum : range ? {} : checksumHeaders(meta.checksum);
    for (const [k, val] of Object.entries(sums)) res.setHeader(k, val);
  }
  if (range) res.setHeader('content-range', `bytes ${start}-${end - 1}/${meta.size}`);
  res.setHeader('content-length', end - start);
  res.statusCode = range ? 206 : (t.status ?? 200);
  if (t.head) {
    res.end();
    return;
  }
  if (v.state.data.t === 'inline') {
    res.end(inline?.subarray(start, end));
    return;
  }
  const stream = streamBlocks(model, blocks, start, end, first, cipher);
  await new Promise<void>((resolve) => {
    stream.on('error', (e) => {
      // Headers are out: the only honest signal left is to cut the connection at once, so
      // the client sees a truncated body instead of waiting for bytes that will never come.
      t.logger.error({ key, version: v.uuid.toString('hex'), err: e.message }, 'GET failed mid-stream');
      res.destroy(e);
      resolve();
    });
    res.on('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
}

/** GetObject and HeadObject. */
export async function handleGetObject(ctx: ObjectCtx, head: boolean, partNumber: number | undefined): Promise<void> {
  const { model, logger } = ctx.svc;
  await serveObject(
    {
      model,
      logger,
      req: ctx.req,
      res: ctx.res,
      query: ctx.query,
      head,
      partNumber,
      lifecycle: ctx.bucket.lifecycle.v,
      versionId: checkedVersionId(ctx.query.get('versionId')),
    },
    ctx.bucket,
    ctx.objectKey,
  );
}
