import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../s3_error.ts';
import { createChecksum, parseChecksumAlgorithm, type ChecksumAlgorithm, type Checksummer } from '../checksum.ts';

/** What authentication needs of a request. */
export interface RequestHead {
  method: string;
  /** Raw path and query as received. */
  url: string;
  headers: IncomingHttpHeaders;
}

export type KeyLookup = (accessKeyId: string) => Promise<{ secretKey: string } | null>;

export type PayloadMode =
  | { kind: 'unsigned' }
  | { kind: 'sha256'; hex: string }
  | { kind: 'streaming-signed'; trailer: boolean }
  | { kind: 'streaming-unsigned-trailer' };

/** What chunk signatures are verified with. */
export interface SigningContext {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
}

export interface AuthResult {
  accessKeyId: string;
  payload: PayloadMode;
  signing: SigningContext;
  presigned: boolean;
}

export interface BodyChecks {
  md5: Buffer;
  sha256?: Buffer;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
  size: number;
}

export interface VerifiedBody {
  stream: Readable;
  done: Promise<BodyChecks>;
}

const ALGO = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60_000;
const EMPTY_SHA256 = createHash('sha256').digest('hex');

const sha256hex = (d: string | Buffer) => createHash('sha256').update(d).digest('hex');
const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();

/** RFC 3986 encoding as SigV4 wants it (unreserved characters kept). */
function uriEncode(s: string, keepSlash: boolean): string {
  let out = encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (keepSlash) out = out.replace(/%2F/g, '/');
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error('InvalidRequest', 'invalid percent-encoding in the request');
  }
}

function canonicalUri(path: string): string {
  return path.split('/').map((seg) => uriEncode(safeDecode(seg), false)).join('/');
}

function parseQuery(q: string): [string, string][] {
  if (!q) return [];
  return q.split('&').filter((p) => p !== '').map((p) => {
    const i = p.indexOf('=');
    return i < 0 ? [safeDecode(p), ''] : [safeDecode(p.slice(0, i)), safeDecode(p.slice(i + 1))];
  });
}

function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

function sameSig(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Verifies a request's SigV4 signature (header or presigned query); throws the matching S3Error. */
export async function authenticate(head: RequestHead, opts: { region: string; service?: string; lookup: KeyLookup; now?: Date }): Promise<AuthResult> {
  const service = opts.service ?? 's3';
  const now = (opts.now ?? new Date()).getTime();
  const qi = head.url.indexOf('?');
  const path = qi >= 0 ? head.url.slice(0, qi) : head.url;
  const query = parseQuery(qi >= 0 ? head.url.slice(qi + 1) : '');
  const qget = (k: string) => query.find(([n]) => n === k)?.[1];
  const authz = headerValue(head.headers, 'authorization');

  let credential: string;
  let signedHeaders: string[];
  let signature: string;
  let amzDate: string;
  let presigned = false;
  if (authz !== undefined) {
    if (!authz.startsWith(`${ALGO} `)) {
      if (authz.startsWith('AWS ')) throw new S3Error('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256');
      throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed; unsupported algorithm');
    }
    const fields = new Map<string, string>();
    for (const part of authz.slice(ALGO.length + 1).split(',')) {
      const i = part.indexOf('=');
      if (i > 0) fields.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
    }
    const c = fields.get('Credential');
    const sh = fields.get('SignedHeaders');
    const s = fields.get('Signature');
    if (!c || !sh || !s) throw new S3Error('AuthorizationHeaderMalformed', 'The authorization header is malformed; it needs Credential, SignedHeaders and Signature');
    credential = c;
    signedHeaders = sh.split(';');
    signature = s;
    const d = headerValue(head.headers, 'x-amz-date') ?? headerValue(head.headers, 'date');
    if (!d) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    amzDate = d;
    const t = parseAmzDate(d);
    const t2 = Number.isNaN(t) ? Date.parse(d) : t;
    if (Number.isNaN(t2)) throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(now - t2) > MAX_SKEW_MS) throw new S3Error('RequestTimeTooSkewed', 'The difference between the request time and the server\'s time is too large.');
  } else if (qget('X-Amz-Algorithm') !== undefined || qget('X-Amz-Signature') !== undefined) {
    presigned = true;
    if (qget('X-Amz-Algorithm') !== ALGO) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    const c = qget('X-Amz-Credential');
    const sh = qget('X-Amz-SignedHeaders');
    const s = qget('X-Amz-Signature');
    const d = qget('X-Amz-Date');
    const exp = qget('X-Amz-Expires');
    if (!c || !sh || !s || !d || !exp) throw new S3Error('AuthorizationQueryParametersError', 'Query-string authentication requires X-Amz-Credential, X-Amz-SignedHeaders, X-Amz-Signature, X-Amz-Date and X-Amz-Expires');
    credential = c;
    signedHeaders = sh.split(';');
    signature = s;
    amzDate = d;
    const t = parseAmzDate(d);
    const e = Number(exp);
    if (Number.isNaN(t)) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
    if (!Number.isInteger(e) || e < 1 || e > 604800) throw new S3Error('AuthorizationQueryParametersError', 'X-Amz-Expires must be between 1 and 604800 seconds');
    if (now > t + e * 1000) throw new S3Error('AccessDenied', 'Request has expired');
    if (t - now > MAX_SKEW_MS) throw new S3Error('AccessDenied', 'Request is not valid yet');
  } else {
    throw new S3Error('AccessDenied', 'Access Denied: anonymous requests are not allowed; sign requests with AWS Signature Version 4');
  }

  const cparts = credential.split('/');
  if (cparts.length !== 5 || cparts[4] !== 'aws4_request') throw new S3Error('AuthorizationHeaderMalformed', `invalid credential scope '${cparts.slice(1).join('/')}'`);
  const [accessKeyId, date, region, svc] = cparts as [string, string, string, string];
  if (region !== opts.region) throw new S3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${region}' is wrong; expecting '${opts.region}'`, { Region: opts.region });
  if (svc !== service) throw new S3Error('AuthorizationHeaderMalformed', `invalid service '${svc}' in credential scope; expecting '${service}'`);
  if (!amzDate.startsWith(date) && !presigned && parseAmzDate(amzDate)) throw new S3Error('AuthorizationHeaderMalformed', 'credential date does not match x-amz-date');
  if (!signedHeaders.includes('host')) throw new S3Error('AuthorizationHeaderMalformed', 'the host header must be signed');

  const key = await opts.lookup(accessKeyId);
  if (!key) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');

  const contentSha = headerValue(head.headers, 'x-amz-content-sha256');
  let payloadHash: string;
  if (presigned) payloadHash = contentSha ?? 'UNSIGNED-PAYLOAD';
  else payloadHash = contentSha ?? 'UNSIGNED-PAYLOAD';
  let payload: PayloadMode;
  switch (payloadHash) {
    case 'UNSIGNED-PAYLOAD':
      payload = { kind: 'unsigned' };
      break;
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
      payload = { kind: 'streaming-signed', trailer: false };
      break;
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
      payload = { kind: 'streaming-signed', trailer: true };
      break;
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER':
      payload = { kind: 'streaming-unsigned-trailer' };
      break;
    default:
      if (!/^[0-9a-f]{64}$/.test(payloadHash)) throw new S3Error('InvalidArgument', `invalid x-amz-content-sha256 '${payloadHash}'`);
      payload = { kind: 'sha256', hex: payloadHash };
  }

  const canonicalHeaders = signedHeaders.map((h) => {
    const v = headerValue(head.headers, h);
    if (v === undefined) throw new S3Error('AuthorizationHeaderMalformed', `signed header '${h}' is missing from the request`);
    return `${h}:${v.trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  const q = presigned ? query.filter(([k]) => k !== 'X-Amz-Signature') : query;
  const canonicalRequest = [head.method, canonicalUri(path), canonicalQuery(q), canonicalHeaders, signedHeaders.join(';'), payloadHash].join('\n');
  const scope = `${date}/${region}/${svc}/aws4_request`;
  const stringToSign = [ALGO, amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  const sk = signingKey(key.secretKey, date, region, svc);
  const expected = createHmac('sha256', sk).update(stringToSign).digest('hex');
  if (!sameSig(expected, signature)) throw new S3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  return { accessKeyId, payload, presigned, signing: { signingKey: sk, amzDate, scope, seedSignature: signature } };
}

/** Reads request bytes from an async iterator with a small look-ahead buffer (for aws-chunked framing). */
class ByteReader {
  readonly it: AsyncIterator<Buffer>;
  buf: Buffer = Buffer.alloc(0);
  ended = false;
  constructor(src: Readable) {
    this.it = (src as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }
  async fill(): Promise<boolean> {
    if (this.ended) return false;
    const r = await this.it.next();
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, r.value]) : r.value;
    return true;
  }
  /** A line ending in CRLF (without it). */
  async line(max = 4096): Promise<string> {
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.subarray(0, i).toString('latin1');
        this.buf = this.buf.subarray(i + 2);
        return l;
      }
      if (this.buf.length > max) throw new S3Error('InvalidRequest', 'malformed aws-chunked encoding (line too long)');
      if (!(await this.fill())) throw new S3Error('IncompleteBody', 'The request body ended before the aws-chunked encoding was complete');
    }
  }
  /** Up to n bytes (at least one), as they arrive. */
  async take(n: number): Promise<Buffer> {
    if (this.buf.length === 0 && !(await this.fill())) throw new S3Error('IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header');
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return out;
  }
}

/** Decodes and verifies a request body as it streams: the stream only ends cleanly once every check passed. */
export function verifiedBody(body: Readable, head: RequestHead, auth: AuthResult): VerifiedBody {
  const h = head.headers;
  const md5 = createHash('md5');
  const sha = auth.payload.kind === 'sha256' ? createHash('sha256') : undefined;
  const contentMd5 = headerValue(h, 'content-md5');
  if (contentMd5 !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(contentMd5)) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.');

  // Which checksum: a value in a header, announced as a trailer, or only named by the SDK.
  let algorithm: ChecksumAlgorithm | undefined;
  let expectedHeader: string | undefined;
  for (const name of Object.keys(h)) {
    const m = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.exec(name);
    if (m) {
      algorithm = parseChecksumAlgorithm(m[1]!);
      expectedHeader = headerValue(h, name);
    }
  }
  const trailerHeader = headerValue(h, 'x-amz-trailer');
  if (!algorithm && trailerHeader) {
    const m = /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.exec(trailerHeader.trim().toLowerCase());
    if (!m) throw new S3Error('InvalidArgument', `unsupported x-amz-trailer '${trailerHeader}'`);
    algorithm = parseChecksumAlgorithm(m[1]!);
  }
  if (!algorithm) {
    const named = headerValue(h, 'x-amz-sdk-checksum-algorithm');
    if (named) algorithm = parseChecksumAlgorithm(named);
  }
  const checksum: Checksummer | undefined = algorithm ? createChecksum(algorithm) : undefined;
  const decodedLength = headerValue(h, 'x-amz-decoded-content-length');
  const contentLength = headerValue(h, 'content-length');
  const streaming = auth.payload.kind === 'streaming-signed' || auth.payload.kind === 'streaming-unsigned-trailer';
  const expectedSize = streaming ? (decodedLength !== undefined ? Number(decodedLength) : undefined) : contentLength !== undefined ? Number(contentLength) : undefined;

  let size = 0;
  let resolveDone!: (c: BodyChecks) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<BodyChecks>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  const account = (d: Buffer) => {
    size += d.length;
    md5.update(d);
    sha?.update(d);
    checksum?.update(d);
  };
  let trailerValue: string | undefined;
  const sctx = auth.signing;

  async function* plain(): AsyncGenerator<Buffer> {
    for await (const c of body as AsyncIterable<Buffer>) {
      account(c);
      yield c;
    }
  }

  async function* chunked(): AsyncGenerator<Buffer> {
    const r = new ByteReader(body);
    const signed = auth.payload.kind === 'streaming-signed';
    let prev = sctx.seedSignature;
    for (;;) {
      const line = await r.line();
      const [sizeHex, ...ext] = line.split(';');
      if (!/^[0-9a-fA-F]+$/.test(sizeHex ?? '')) throw new S3Error('InvalidRequest', 'malformed aws-chunked encoding (bad chunk size)');
      const n = parseInt(sizeHex!, 16);
      const sigExt = ext.find((e) => e.startsWith('chunk-signature='));
      if (signed && !sigExt) throw new S3Error('SignatureDoesNotMatch', 'missing chunk signature');
      const chunkHash = signed ? createHash('sha256') : undefined;
      let left = n;
      while (left > 0) {
        const d = await r.take(left);
        left -= d.length;
        chunkHash?.update(d);
        account(d);
        yield d;
      }
      if (signed) {
        const sts = ['AWS4-HMAC-SHA256-PAYLOAD', sctx.amzDate, sctx.scope, prev, EMPTY_SHA256, chunkHash!.digest('hex')].join('\n');
        const expect = createHmac('sha256', sctx.signingKey).update(sts).digest('hex');
        const got = sigExt!.slice('chunk-signature='.length);
        if (!sameSig(expect, got)) throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
        prev = got;
      }
      if (n > 0) {
        if ((await r.line()) !== '') throw new S3Error('InvalidRequest', 'malformed aws-chunked encoding (missing CRLF after chunk)');
        continue;
      }
      // Final chunk: optional trailers, then an empty line.
      const hasTrailer = auth.payload.kind === 'streaming-unsigned-trailer' || (auth.payload.kind === 'streaming-signed' && auth.payload.trailer);
      if (!hasTrailer) {
        // Some clients end with CRLF after the last chunk; tolerate either.
        if (r.buf.length || (await r.fill())) await r.line().catch(() => '');
        return;
      }
      const lines: string[] = [];
      let trailerSig: string | undefined;
      for (;;) {
        const l = r.ended && r.buf.length === 0 ? '' : await r.line().catch((e: unknown) => {
          if (e instanceof S3Error && e.code === 'IncompleteBody' && r.buf.length === 0) return '';
          throw e;
        });
        if (l === '') break;
        const i = l.indexOf(':');
        if (i < 0) throw new S3Error('InvalidRequest', 'malformed trailer');
        const name = l.slice(0, i).trim().toLowerCase();
        const value = l.slice(i + 1).trim();
        if (name === 'x-amz-trailer-signature') trailerSig = value;
        else {
          lines.push(`${name}:${value}\n`);
          if (name.startsWith('x-amz-checksum-')) trailerValue = value;
        }
      }
      if (auth.payload.kind === 'streaming-signed') {
        if (!trailerSig) throw new S3Error('SignatureDoesNotMatch', 'missing trailer signature');
        const sts = ['AWS4-HMAC-SHA256-TRAILER', sctx.amzDate, sctx.scope, prev, sha256hex(lines.join(''))].join('\n');
        const expect = createHmac('sha256', sctx.signingKey).update(sts).digest('hex');
        if (!sameSig(expect, trailerSig)) throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.');
      }
      return;
    }
  }

  function finalChecks(): BodyChecks {
    if (expectedSize !== undefined && size !== expectedSize) throw new S3Error('IncompleteBody', `The request body has ${size} bytes, expected ${expectedSize}`);
    const md5d = md5.digest();
    if (contentMd5 !== undefined && md5d.toString('base64') !== contentMd5) throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
    const shad = sha?.digest();
    if (auth.payload.kind === 'sha256' && shad!.toString('hex') !== auth.payload.hex) throw new S3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
    let cs: BodyChecks['checksum'];
    if (checksum && algorithm) {
      const value = checksum.digest().toString('base64');
      const expected = expectedHeader ?? trailerValue;
      if (expected !== undefined && expected !== value) throw new S3Error('BadDigest', `The ${algorithm} checksum you specified did not match what we received.`);
      cs = { algorithm, value };
    }
    return { md5: md5d, sha256: shad, checksum: cs, size };
  }

  async function* all(): AsyncGenerator<Buffer> {
    let aborted = false;
    const onAbort = () => (aborted = true);
    body.once('aborted', onAbort);
    try {
      // Hold back one piece so the stream cannot end before the checks have passed.
      let held: Buffer | undefined;
      for await (const d of streaming ? chunked() : plain()) {
        if (held) yield held;
        held = d;
      }
      // aws-chunked framing proves completeness itself (the zero-size chunk); a plain body must be complete.
      if (aborted || (!streaming && (body as Readable & { complete?: boolean }).complete === false)) throw new S3Error('IncompleteBody', 'The request body ended prematurely');
      const checks = finalChecks();
      if (held) yield held;
      resolveDone(checks);
    } catch (e) {
      const err = e instanceof S3Error ? e : new S3Error('IncompleteBody', `error reading the request body: ${(e as Error).message}`);
      rejectDone(err);
      throw err;
    } finally {
      body.off('aborted', onAbort);
    }
  }
  return { stream: Readable.from(all(), { objectMode: false, highWaterMark: 1 << 20 }), done };
}
