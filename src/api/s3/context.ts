import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthResult, VerifiedBody } from '../common/signature/index.ts';
import { verifiedBody } from '../common/signature/index.ts';
import { S3Error } from '../common/s3_error.ts';
import { checksumAlgorithmFromHeader } from '../common/checksum.ts';
import { XmlParser, xmlRoot, type XmlElement, type XmlLimits } from '../common/xml.ts';
import { checkHeader, metadataFromHeader, sendContinue } from '../common/http.ts';
import type { Model } from '../../model/garage.ts';
import type { ModelHelpers } from '../../model/helpers.ts';
import { keyExpired, type KeyEntry } from '../../model/key.ts';
import type { BucketEntry } from '../../model/bucket.ts';
import type { Logger } from '../../util/log.ts';
import { managedSseName } from './sse_c.ts';

/** Settings and services the S3 handlers use. */
export interface S3Services {
  model: Model;
  helpers: ModelHelpers;
  region: string;
  rootDomain?: string;
  blockSize: number;
  logger: Logger;
  /** Time allowed for a PostObject's form fields before the file part (default 30 s). */
  postFormTimeoutMs?: number;
  /** Records each request (endpoint, status, duration). */
  observe?: (endpoint: string, status: number, seconds: number) => void;
}

/** Everything a handler knows about the request it serves. */
export interface ReqCtx {
  svc: S3Services;
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  expectContinue: boolean;
  auth: AuthResult;
  key: KeyEntry;
  query: URLSearchParams;
}

/** A request on an existing bucket, on which the key's permission was checked. */
export interface BucketCtx extends ReqCtx {
  bucketName: string;
  bucket: BucketEntry;
}

/** A request on an object of an existing bucket. */
export interface ObjectCtx extends BucketCtx {
  objectKey: string;
}

/** A key lookup for signature checks that remembers the live key entry it found. */
export function keyLookup(svc: Pick<S3Services, 'model'>): {
  lookup: (id: string) => Promise<{ secretKey: string } | null>;
  found: () => KeyEntry | undefined;
} {
  let found: KeyEntry | undefined;
  return {
    lookup: async (id) => {
      const k = await svc.model.key.get(Buffer.from(id), Buffer.alloc(0));
      // An expired key is refused as an unknown one: it no longer authenticates anything.
      if (!k || k.deleted || keyExpired(k)) return null;
      found = k;
      return { secretKey: k.secret };
    },
    found: () => found,
  };
}

/** The request body, verified against signature and checksums as it streams. */
export function requestBody(ctx: ReqCtx, opts: BodyOptions = {}): VerifiedBody {
  if (ctx.expectContinue) sendContinue(ctx.res);
  const headers = opts.objectChecksumHeaders
    ? Object.fromEntries(Object.entries(ctx.req.headers).filter(([k]) => !checksumAlgorithmFromHeader(k)))
    : ctx.req.headers;
  const body = verifiedBody(
    ctx.req,
    { method: ctx.req.method ?? 'GET', url: ctx.req.url ?? '/', headers, headersDistinct: ctx.req.headersDistinct },
    ctx.auth,
  );
  // The stream reports the same failure; this only keeps an unobserved rejection from crashing the process.
  body.done.catch(() => undefined);
  return body;
}

/**
 * A query parameter that must be plain decimal digits (no sign, exponent, hex or whitespace, which
 * Number() would accept) within [min, max]; undefined when absent.
 */
export function decimalParam(
  q: URLSearchParams,
  name: string,
  min: number,
  max: number,
  message?: string,
): number | undefined {
  return decimalValue(q.get(name) ?? undefined, name, min, max, message);
}

/** Like decimalParam, for a value read elsewhere (a header). */
export function decimalValue(
  v: string | string[] | undefined,
  name: string,
  min: number,
  max: number,
  message?: string,
): number | undefined {
  if (v === undefined) return undefined;
  if (Array.isArray(v)) throw new S3Error('InvalidArgument', `${name} given twice`, { ArgumentName: name });
  const n = /^[0-9]{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new S3Error('InvalidArgument', message ?? `${name} must be an integer between ${min} and ${max}`, {
      ArgumentName: name,
      ArgumentValue: v.slice(0, 100),
    });
  }
  return n;
}

/** The partNumber query parameter (1..10000), if present. */
export function partNumberParam(q: URLSearchParams): number | undefined {
  return decimalParam(q, 'partNumber', 1, 10000, 'Part number must be an integer between 1 and 10000, inclusive');
}

/**
 * Refuses a request (or PostObject form) asking for SSE-S3 or SSE-KMS: only SSE-C is built, and
 * a request for encryption must never be served without it.
 */
export function refuseManagedSse(names: Iterable<string>): void {
  const name = managedSseName(names);
  if (name !== undefined)
    throw new S3Error(
      'NotImplemented',
      `Server-side encryption with S3- or KMS-managed keys (SSE-S3, SSE-KMS) is not implemented, only SSE-C: the request was refused because of ${name.slice(0, 100)} rather than stored without encryption`,
    );
}

/**
 * How a request body is verified. `objectChecksumHeaders`: the x-amz-checksum-* headers are about
 * the object, not this body (CompleteMultipartUpload), so they are not checked against it.
 */
export interface BodyOptions {
  objectChecksumHeaders?: boolean;
}

/**
 * Reads a request's XML document, parsing it as it streams, and checks its root element. A body
 * declared larger than the limit is refused before any of it is read (no 100 Continue), and a
 * malformed or over-limit one as soon as its first offending bytes arrive.
 */
export async function readXmlBody(
  ctx: ReqCtx,
  root: string,
  limits: XmlLimits,
  opts: BodyOptions = {},
): Promise<XmlElement> {
  const doc = await readOptionalXmlBody(ctx, root, limits, opts);
  if (!doc)
    throw new S3Error(
      'MalformedXML',
      `The XML you provided was not well-formed or did not validate against our published schema: expected a <${root}> document, got an empty body`,
    );
  return doc;
}

/** Like readXmlBody, for requests whose document is optional: undefined for an empty body. */
export async function readOptionalXmlBody(
  ctx: ReqCtx,
  root: string,
  limits: XmlLimits,
  opts: BodyOptions = {},
): Promise<XmlElement | undefined> {
  const declared = Number(ctx.req.headers['x-amz-decoded-content-length'] ?? ctx.req.headers['content-length'] ?? 0);
  if (declared > limits.maxBytes)
    throw new S3Error(
      'MaxMessageLengthExceeded',
      `Your request was too big: this request's XML body may have at most ${limits.maxBytes} bytes`,
    );
  const body = requestBody(ctx, opts);
  const parser = new XmlParser(limits);
  let bytes = 0;
  for await (const c of body.stream as AsyncIterable<Buffer>) {
    bytes += c.length;
    parser.write(c);
  }
  const doc = bytes === 0 ? undefined : parser.end();
  // Nothing is acted on before the body's signature and checksums are verified.
  await body.done;
  return doc && xmlRoot(doc, root);
}

/** Sends an XML document. */
export function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/xml');
  res.setHeader('content-length', Buffer.byteLength(xml));
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(xml);
}

/** Sends an empty response. */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (status !== 204 && status !== 304) res.setHeader('content-length', 0);
  res.end();
}

export { isoDate } from '../../util/units.ts';

/** Formats a millisecond timestamp as an HTTP date. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Request headers stored with an object and sent back with it (besides x-amz-meta-*). */
export const STORED_HEADERS = [
  'content-type',
  'cache-control',
  'content-disposition',
  'content-encoding',
  'content-language',
  'expires',
  'x-amz-website-redirect-location',
];

export function storedHeaders(h: IncomingMessage['headers']): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    const keep = k.startsWith('x-amz-meta-') || STORED_HEADERS.includes(k);
    if (!keep) continue;
    const value = Array.isArray(v) ? v.join(',') : v;
    checkHeader(k, k, value);
    if (k === 'x-amz-website-redirect-location' && !/^(\/|https?:\/\/)/.test(value))
      throw new S3Error(
        'InvalidArgument',
        "The website redirect location must have a prefix of 'http://' or 'https://' or '/'.",
      );
    out.push([k, k.startsWith('x-amz-meta-') ? metadataFromHeader(value) : value]);
  }
  if (!out.some(([k]) => k === 'content-type')) out.push(['content-type', 'binary/octet-stream']);
  return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}
