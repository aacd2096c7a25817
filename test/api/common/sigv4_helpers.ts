// Test helpers: a real AWS signer (@smithy/signature-v4) and an independent
// aws-chunked encoder written from the AWS documentation.

import { createHash, createHmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthResult, KeyLookup, RequestHead } from '../../../src/api/common/signature/index.ts';
import { authenticate } from '../../../src/api/common/signature/index.ts';

export const AK = 'GK31c2f218a2e44f485b94239e';
export const SK = 'b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835';
export const REGION = 'garage';
export const HOST = 'localhost:3900';
export const lookup: KeyLookup = async (id) => (id === AK ? { secretKey: SK } : null);

/** node:crypto-backed hash for the smithy signer. */
export class NodeSha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuf(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

function toBuf(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** A smithy signer configured like the S3 client (no double path encoding). */
export function signer(
  opts: { region?: string; secret?: string; accessKey?: string; applyChecksum?: boolean } = {},
): SignatureV4 {
  return new SignatureV4({
    applyChecksum: opts.applyChecksum ?? true,
    credentials: { accessKeyId: opts.accessKey ?? AK, secretAccessKey: opts.secret ?? SK },
    region: opts.region ?? REGION,
    service: 's3',
    sha256: NodeSha256,
    uriEscapePath: false,
  });
}

/** Percent-encodes like the AWS SDK's extendedEncodeURIComponent. */
export function sdkEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Path of an object key as the S3 client sends it: each segment encoded, '/' kept. */
export function keyPath(bucket: string, key: string): string {
  return `/${sdkEncode(bucket)}/${key.split('/').map(sdkEncode).join('/')}`;
}

/** Serialises a smithy query object as the SDK does. */
export function queryString(q: HttpRequest['query']): string {
  const parts: string[] = [];
  for (const k of Object.keys(q ?? {}).sort()) {
    const v = q![k];
    if (v === null || v === undefined) parts.push(sdkEncode(k));
    else if (Array.isArray(v)) for (const x of v) parts.push(`${sdkEncode(k)}=${sdkEncode(x)}`);
    else parts.push(`${sdkEncode(k)}=${sdkEncode(v)}`);
  }
  return parts.join('&');
}

/** Converts a signed smithy request into what our server would see. */
export function toHead(req: HttpRequest): RequestHead {
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  const qs = queryString(req.query);
  return { method: req.method, url: req.path + (qs ? `?${qs}` : ''), headers };
}

/** Builds an unsigned smithy request. */
export function request(
  method: string,
  path: string,
  opts: { query?: Record<string, string | string[]>; headers?: Record<string, string>; body?: unknown } = {},
): HttpRequest {
  return {
    method,
    protocol: 'http:',
    hostname: 'localhost',
    port: 3900,
    path,
    query: opts.query ?? {},
    headers: { host: HOST, ...(opts.headers ?? {}) },
    body: opts.body,
  };
}

/** Signs with the smithy signer (header auth) and returns the server-side head. */
export async function signHead(
  req: HttpRequest,
  opts: { date?: Date; region?: string; secret?: string; accessKey?: string } = {},
): Promise<RequestHead> {
  const signed = await signer(opts).sign(req, { signingDate: opts.date ?? new Date() });
  return toHead(signed);
}

/** Presigns with the smithy signer and returns the server-side head. */
export async function presignHead(
  req: HttpRequest,
  opts: { date?: Date; expiresIn?: number; region?: string } = {},
): Promise<RequestHead> {
  req.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  const signed = await signer(opts).presign(req, {
    signingDate: opts.date ?? new Date(),
    expiresIn: opts.expiresIn ?? 900,
  });
  return toHead(signed);
}

/** authenticate() with the test key store. */
export function auth(head: RequestHead, now?: Date): Promise<AuthResult> {
  return authenticate(head, { region: REGION, lookup, now });
}

// ---------------------------------------------------------------------------
// aws-chunked encoder (independent of the code under test).

export function hmacHex(key: Buffer, s: string): string {
  return createHmac('sha256', key).update(s).digest('hex');
}
export function sha256hex(d: string | Buffer): string {
  return createHash('sha256').update(d).digest('hex');
}
export function signingKey(secret: string, date: string, region: string): Buffer {
  let k: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
  for (const p of [region, 's3', 'aws4_request']) k = createHmac('sha256', k).update(p).digest();
  return k;
}

export interface ChunkedOpts {
  chunkSize: number;
  /** Signed chunks: seed signature, x-amz-date, secret, region. */
  signed?: { seed: string; amzDate: string; secret?: string; region?: string };
  trailers?: [string, string][];
  /** Corrupt the signature of chunk number i (0-based). */
  badChunkSig?: number;
  badTrailerSig?: boolean;
  omitFinalCrlf?: boolean;
}

/** Encodes `data` with aws-chunked framing, signed or not, with optional trailers. */
export function encodeChunked(data: Buffer, o: ChunkedOpts): Buffer {
  const out: Buffer[] = [];
  const s = o.signed;
  const key = s ? signingKey(s.secret ?? SK, s.amzDate.slice(0, 8), s.region ?? REGION) : undefined;
  const scope = s ? `${s.amzDate.slice(0, 8)}/${s.region ?? REGION}/s3/aws4_request` : '';
  let prev = s?.seed ?? '';
  let idx = 0;
  const sign = (piece: Buffer): string => {
    let sig = hmacHex(
      key!,
      ['AWS4-HMAC-SHA256-PAYLOAD', s!.amzDate, scope, prev, sha256hex(''), sha256hex(piece)].join('\n'),
    );
    if (o.badChunkSig === idx) sig = sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    idx++;
    prev = sig;
    return sig;
  };
  for (let off = 0; off < data.length; off += o.chunkSize) {
    const piece = data.subarray(off, off + o.chunkSize);
    out.push(
      Buffer.from(`${piece.length.toString(16)}${s ? `;chunk-signature=${sign(piece)}` : ''}\r\n`),
      piece,
      Buffer.from('\r\n'),
    );
  }
  out.push(Buffer.from(`0${s ? `;chunk-signature=${sign(Buffer.alloc(0))}` : ''}\r\n`));
  if (o.trailers) {
    let canonical = '';
    for (const [n, v] of o.trailers) {
      out.push(Buffer.from(`${n}:${v}\r\n`));
      canonical += `${n}:${v}\n`;
    }
    if (s) {
      let sig = hmacHex(key!, ['AWS4-HMAC-SHA256-TRAILER', s.amzDate, scope, prev, sha256hex(canonical)].join('\n'));
      if (o.badTrailerSig) sig = sig.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      out.push(Buffer.from(`x-amz-trailer-signature:${sig}\r\n`));
    }
  }
  if (!o.omitFinalCrlf) out.push(Buffer.from('\r\n'));
  return Buffer.concat(out);
}

/** A readable that yields `data` in pieces of `piece` bytes (to exercise split framing). */
export function pieces(data: Buffer, piece: number): Readable {
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += piece) parts.push(data.subarray(off, off + piece));
  return Readable.from(parts, { objectMode: false });
}

/** Reads a stream whole. */
export async function collect(s: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
