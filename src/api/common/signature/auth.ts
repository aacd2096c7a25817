// SigV4 request authentication: Authorization header or presigned query.

import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../s3_error.ts';
import { canonicalPath, canonicalQuery, decodeQueryComponent, splitQuery, type RawParam } from './encoding.ts';
import {
  ALGORITHM,
  EMPTY_SHA256_HEX,
  SigningContext,
  deriveSigningKey,
  sha256Hex,
  signatureMatches,
} from './signing.ts';
import type { AuthResult, KeyLookup, PayloadMode, RequestHead } from './types.ts';

/** Largest accepted clock difference for header auth, and for presigned URLs dated in the future. */
export const MAX_SKEW_MS = 15 * 60_000;
/** Longest validity of a presigned URL (seconds). */
export const MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600;

type AuthErrorCode = 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError';

/** The authentication material of a request, whichever way it was sent. */
interface Credentials {
  presigned: boolean;
  errCode: AuthErrorCode;
  /** Prefix of error messages about the auth material, as AWS words them. */
  errPrefix: string;
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  terminator: string;
  signedHeadersRaw: string;
  signature: string;
  amzDate: string;
  timeMs: number;
  expiresSec?: number;
  payloadHash: string;
  /** x-amz-content-sha256 was not sent at all (payloadHash is then UNSIGNED-PAYLOAD). */
  payloadAbsent: boolean;
  /** Query parameters covered by the canonical query (all but X-Amz-Signature when presigned). */
  canonicalParams: RawParam[];
  queryHeaders: Record<string, string>;
}

const AMZ_DATE_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const HEADER_NAME_RE = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const HEX64_RE = /^[0-9a-fA-F]{64}$/;
const PRESIGN_PARAMS = [
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-date',
  'x-amz-expires',
  'x-amz-signedheaders',
  'x-amz-signature',
];
const CREDENTIAL_FORMAT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".';

/** Parses an X-Amz-Date (ISO 8601 basic, UTC) to epoch milliseconds; NaN if malformed. */
export function parseAmzDate(s: string): number {
  const m = AMZ_DATE_RE.exec(s);
  if (!m) return NaN;
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC silently rolls over (month 13, second 61…); a real date round-trips.
  return new Date(t).getUTCDate() === d && mo >= 1 && mo <= 12 && h < 24 && mi < 60 && se < 60 ? t : NaN;
}

/** Formats epoch milliseconds as an X-Amz-Date. */
export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** A header's value as one string (repeated headers joined with ','); undefined if absent. */
export function headerString(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : String(v);
}

function splitTarget(url: string): { path: string; rawQuery: string } {
  let target = url;
  // Absolute-form request targets (proxies): keep only the path and query.
  const scheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?]*/.exec(target);
  if (scheme) target = target.slice(scheme[0].length) || '/';
  const hash = target.indexOf('#');
  if (hash >= 0) target = target.slice(0, hash);
  const q = target.indexOf('?');
  return q < 0 ? { path: target, rawQuery: '' } : { path: target.slice(0, q), rawQuery: target.slice(q + 1) };
}

function parseCredential(
  value: string,
  errCode: AuthErrorCode,
  errPrefix: string,
): Pick<Credentials, 'accessKeyId' | 'shortDate' | 'region' | 'service' | 'terminator'> {
  const parts = value.split('/');
  if (parts.length !== 5 || parts[0] === '' || !/^\d{8}$/.test(parts[1]!) || parts[2] === '' || parts[3] === '') {
    throw new S3Error(errCode, `${errPrefix} the Credential is mal-formed; ${CREDENTIAL_FORMAT}`);
  }
  const [accessKeyId, shortDate, region, service, terminator] = parts as [string, string, string, string, string];
  return { accessKeyId, shortDate, region, service, terminator };
}

function payloadHashOf(headers: IncomingHttpHeaders): string {
  return headerString(headers, 'x-amz-content-sha256')?.trim() ?? 'UNSIGNED-PAYLOAD';
}

function fromHeader(head: RequestHead, authz: string, params: RawParam[]): Credentials {
  const errCode = 'AuthorizationHeaderMalformed';
  const errPrefix = 'The authorization header is malformed;';
  const sp = authz.indexOf(' ');
  const scheme = sp < 0 ? authz : authz.slice(0, sp);
  if (scheme !== ALGORITHM) {
    if (scheme === 'AWS' || scheme === 'AWS4-ECDSA-P256-SHA256') {
      throw new S3Error(
        'InvalidRequest',
        'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.',
      );
    }
    throw new S3Error('InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization' });
  }
  const fields = new Map<string, string>();
  for (const part of authz.slice(sp + 1).split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq).trim();
    if (eq < 0 || fields.has(name))
      throw new S3Error(errCode, `${errPrefix} the authorization component "${p}" is malformed.`);
    fields.set(name, p.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeadersRaw = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeadersRaw || !signature) {
    throw new S3Error(
      errCode,
      `${errPrefix} the authorization header requires three components: Credential, SignedHeaders, and Signature.`,
    );
  }
  const cred = parseCredential(credential, errCode, errPrefix);

  let amzDate = headerString(head.headers, 'x-amz-date')?.trim();
  let timeMs = amzDate !== undefined ? parseAmzDate(amzDate) : NaN;
  if (amzDate === undefined) {
    // AWS accepts the HTTP Date header when x-amz-date is absent.
    const date = headerString(head.headers, 'date');
    timeMs = date !== undefined ? Date.parse(date) : NaN;
    if (!Number.isNaN(timeMs)) amzDate = formatAmzDate(timeMs);
  }
  if (amzDate === undefined || Number.isNaN(timeMs)) {
    throw new S3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  return {
    presigned: false,
    errCode,
    errPrefix,
    ...cred,
    signedHeadersRaw,
    signature,
    amzDate,
    timeMs,
    payloadHash: payloadHashOf(head.headers),
    payloadAbsent: head.headers['x-amz-content-sha256'] === undefined,
    canonicalParams: params,
    queryHeaders: {},
  };
}

function fromQuery(head: RequestHead, params: RawParam[]): Credentials {
  const errCode = 'AuthorizationQueryParametersError';
  const auth = new Map<string, string>();
  const queryHeaders: Record<string, string> = {};
  const canonicalParams: RawParam[] = [];
  for (const p of params) {
    const name = decodeQueryComponent(p.rawName).toLowerCase();
    if (name !== 'x-amz-signature') canonicalParams.push(p);
    if (PRESIGN_PARAMS.includes(name)) {
      if (auth.has(name))
        throw new S3Error(errCode, `Query-string authentication parameter ${name} is given more than once.`);
      auth.set(name, decodeQueryComponent(p.rawValue));
    } else if (name.startsWith('x-amz-')) {
      queryHeaders[name] = decodeQueryComponent(p.rawValue);
    }
  }
  if (auth.get('x-amz-algorithm') !== ALGORITHM)
    throw new S3Error(errCode, 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
  const credential = auth.get('x-amz-credential');
  const signedHeadersRaw = auth.get('x-amz-signedheaders');
  const signature = auth.get('x-amz-signature');
  const amzDate = auth.get('x-amz-date');
  const expires = auth.get('x-amz-expires');
  if (!credential || !signedHeadersRaw || !signature || !amzDate || expires === undefined) {
    throw new S3Error(
      errCode,
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  const errPrefix = 'Error parsing the X-Amz-Credential parameter;';
  const cred = parseCredential(credential, errCode, errPrefix);
  const timeMs = parseAmzDate(amzDate);
  if (Number.isNaN(timeMs))
    throw new S3Error(errCode, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  if (!/^\d{1,10}$/.test(expires)) throw new S3Error(errCode, 'X-Amz-Expires should be a number');
  const expiresSec = Number(expires);
  // Out of range is a refusal of the URL, like an expired one: 403, as the clients expect.
  if (expiresSec > MAX_PRESIGNED_EXPIRES)
    throw new S3Error(
      'AccessDenied',
      `X-Amz-Expires must be less than a week (in seconds) that is; ${MAX_PRESIGNED_EXPIRES}`,
    );
  if (expiresSec < 1) throw new S3Error('AccessDenied', 'X-Amz-Expires must be at least 1 second');
  // The S3 presigner hoists x-amz-content-sha256 into the query; otherwise a
  // header may carry it, and by default a presigned payload is unsigned.
  const payloadHash = queryHeaders['x-amz-content-sha256']?.trim() ?? payloadHashOf(head.headers);
  return {
    presigned: true,
    errCode,
    errPrefix,
    ...cred,
    signedHeadersRaw,
    signature,
    amzDate,
    timeMs,
    expiresSec,
    payloadHash,
    // A presigned URL without the parameter is UNSIGNED-PAYLOAD by definition.
    payloadAbsent: false,
    canonicalParams,
    queryHeaders,
  };
}

function payloadModeOf(hash: string): PayloadMode {
  switch (hash) {
    case 'UNSIGNED-PAYLOAD':
      return { kind: 'unsigned' };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD':
      return { kind: 'streaming-signed', trailer: false };
    case 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER':
      return { kind: 'streaming-signed', trailer: true };
    case 'STREAMING-UNSIGNED-PAYLOAD-TRAILER':
      return { kind: 'streaming-unsigned-trailer' };
  }
  if (HEX64_RE.test(hash)) return { kind: 'sha256', hex: hash.toLowerCase() };
  throw new S3Error(
    'InvalidArgument',
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.',
    { ArgumentName: 'x-amz-content-sha256', ArgumentValue: hash.slice(0, 200) },
  );
}

function checkSignedHeaders(c: Credentials, headers: IncomingHttpHeaders): string[] {
  const names = c.signedHeadersRaw.split(';');
  for (const n of names) {
    if (!HEADER_NAME_RE.test(n))
      throw new S3Error(
        c.errCode,
        `${c.errPrefix} SignedHeaders contains an invalid header name '${n.slice(0, 100)}'.`,
      );
  }
  if (!names.includes('host')) throw new S3Error(c.errCode, `${c.errPrefix} the host header must be signed.`);
  // Unsigned x-amz-* headers could change what the request does (copy source,
  // ACL, SSE…) without invalidating the signature. x-amz-content-sha256 is
  // exempt: its value is part of the canonical request whether listed or not.
  const unsigned: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-') && name !== 'x-amz-content-sha256' && !names.includes(name)) unsigned.push(name);
  }
  if (unsigned.length) {
    throw new S3Error('AccessDenied', 'There were headers present in the request which were not signed', {
      HeadersNotSigned: unsigned.join(', '),
    });
  }
  return names;
}

function checkTime(c: Credentials, nowMs: number): void {
  if (c.presigned) {
    if (nowMs > c.timeMs + c.expiresSec! * 1000) {
      throw new S3Error('AccessDenied', 'Request has expired', {
        'X-Amz-Expires': String(c.expiresSec),
        Expires: new Date(c.timeMs + c.expiresSec! * 1000).toISOString(),
        ServerTime: new Date(nowMs).toISOString(),
      });
    }
    // A URL dated far ahead would otherwise outlive the one-week limit.
    if (c.timeMs - nowMs > MAX_SKEW_MS) throw new S3Error('AccessDenied', 'Request is not valid yet');
  } else if (Math.abs(nowMs - c.timeMs) > MAX_SKEW_MS) {
    throw new S3Error(
      'RequestTimeTooSkewed',
      'The difference between the request time and the current time is too large.',
      {
        RequestTime: c.amzDate,
        ServerTime: new Date(nowMs).toISOString(),
        MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
      },
    );
  }
}

function checkScope(
  c: Pick<Credentials, 'errCode' | 'errPrefix' | 'amzDate' | 'shortDate' | 'region' | 'service' | 'terminator'>,
  region: string,
  service: string,
): void {
  if (c.shortDate !== c.amzDate.slice(0, 8)) {
    throw new S3Error(
      c.errCode,
      `${c.errPrefix} Invalid credential date "${c.shortDate}". This date is not the same as X-Amz-Date: "${c.amzDate.slice(0, 8)}".`,
    );
  }
  if (c.region !== region) {
    throw new S3Error(c.errCode, `${c.errPrefix} the region '${c.region}' is wrong; expecting '${region}'`, {
      Region: region,
    });
  }
  if (c.service !== service) {
    throw new S3Error(
      c.errCode,
      `${c.errPrefix} incorrect service "${c.service}". This endpoint belongs to "${service}".`,
    );
  }
  if (c.terminator !== 'aws4_request') {
    throw new S3Error(
      c.errCode,
      `${c.errPrefix} incorrect terminal "${c.terminator}". This endpoint uses "aws4_request".`,
    );
  }
}

function normaliseValue(v: string): string {
  return /\s\s|[\t\r\n]|^\s|\s$/.test(v) ? v.trim().replace(/\s+/g, ' ') : v;
}

function canonicalHeaders(names: readonly string[], head: RequestHead): string {
  let out = '';
  for (const n of names) {
    const distinct = head.headersDistinct?.[n];
    // A signed header the request lacks is taken as empty: the signature then
    // fails unless the client really signed an empty value.
    const v =
      distinct && distinct.length > 1
        ? distinct.map(normaliseValue).join(',')
        : normaliseValue(headerString(head.headers, n) ?? '');
    out += `${n}:${v}\n`;
  }
  return out;
}

/**
 * Authenticates a request signed with SigV4 (Authorization header or presigned
 * query) and returns who signed it and how its payload is protected; throws
 * the S3Error AWS would return otherwise.
 */
export async function authenticate(
  head: RequestHead,
  opts: { region: string; service?: string; lookup: KeyLookup; now?: Date },
): Promise<AuthResult> {
  const service = opts.service ?? 's3';
  const nowMs = (opts.now ?? new Date()).getTime();
  const { path, rawQuery } = splitTarget(head.url);
  const params = splitQuery(rawQuery);
  // An empty Authorization header is no credentials at all (S3 answers AccessDenied for both).
  const rawAuthz = headerString(head.headers, 'authorization');
  const authz = rawAuthz?.trim() === '' ? undefined : rawAuthz;
  const queryNames = new Set(params.map((p) => decodeQueryComponent(p.rawName).toLowerCase()));

  let c: Credentials;
  if (
    queryNames.has('x-amz-algorithm') ||
    (authz === undefined && (queryNames.has('x-amz-credential') || queryNames.has('x-amz-signature')))
  ) {
    if (authz !== undefined) {
      throw new S3Error(
        'InvalidArgument',
        'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
        { ArgumentName: 'Authorization' },
      );
    }
    c = fromQuery(head, params);
  } else if (authz !== undefined) {
    c = fromHeader(head, authz, params);
  } else if (queryNames.has('awsaccesskeyid') && queryNames.has('signature')) {
    throw new S3Error(
      'InvalidRequest',
      'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.',
    );
  } else {
    throw new S3Error('AccessDenied', 'Access Denied');
  }

  const signedHeaders = checkSignedHeaders(c, head.headers);
  checkScope(c, opts.region, service);
  checkTime(c, nowMs);
  // Validate before the key lookup: a malformed value fails fast.
  payloadModeOf(c.payloadHash);

  const key = await opts.lookup(c.accessKeyId);
  if (!key)
    throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: c.accessKeyId,
    });

  const signingKey = deriveSigningKey(key.secretKey, c.shortDate, c.region, c.service);
  const scope = `${c.shortDate}/${c.region}/${c.service}/aws4_request`;
  const ctx = new SigningContext(signingKey, c.amzDate, scope, c.signature.toLowerCase());
  const middle = `\n${canonicalQuery(c.canonicalParams)}\n${canonicalHeaders(signedHeaders, head)}\n${c.signedHeadersRaw}\n`;
  const canonicalOf = (p: string, hash: string) => `${head.method}\n${p}${middle}${hash}`;
  const stsOf = (canonicalRequest: string) => `${ALGORITHM}\n${c.amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;

  const firstPath = canonicalPath(path);
  const canonicalRequest = canonicalOf(firstPath, c.payloadHash);
  const stringToSign = stsOf(canonicalRequest);
  let payload = payloadModeOf(c.payloadHash);
  let ok = signatureMatches(ctx.sign(stringToSign), c.signature);
  if (!ok) {
    // Lenient alternatives, tried only once the canonical form failed:
    // - some clients sign the path exactly as they send it, leaving characters
    //   such as !'()* unescaped (encodeURIComponent does); it decodes to the
    //   same key, so accepting that form grants nothing more;
    // - generic SigV4 signers that send no x-amz-content-sha256 sign the hash
    //   of the payload, which for a body-less request is the empty hash; the
    //   body is then held to that hash.
    const paths = path !== firstPath && path !== '' ? [firstPath, path] : [firstPath];
    const hashes = [c.payloadHash];
    if (c.payloadAbsent) hashes.push(EMPTY_SHA256_HEX);
    search: for (const p of paths) {
      for (const h of hashes) {
        if (p === firstPath && h === c.payloadHash) continue;
        if (signatureMatches(ctx.sign(stsOf(canonicalOf(p, h))), c.signature)) {
          ok = true;
          payload = payloadModeOf(h);
          break search;
        }
      }
    }
    // Node reads header bytes as ISO-8859-1. SDKs that send such a character sign its UTF-8
    // form, which the canonical string above reproduces; clients that send UTF-8 bytes (curl,
    // Go) sign those bytes, which are the canonical string's ISO-8859-1 encoding.
    if (!ok && /[\x80-\xff]/.test(middle)) {
      const raw = Buffer.from(canonicalRequest, 'latin1');
      ok = signatureMatches(ctx.sign(`${ALGORITHM}\n${c.amzDate}\n${scope}\n${sha256Hex(raw)}`), c.signature);
    }
  }
  if (!ok) {
    throw new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      {
        AWSAccessKeyId: c.accessKeyId,
        StringToSign: stringToSign,
        SignatureProvided: c.signature,
        CanonicalRequest: canonicalRequest,
      },
    );
  }
  return {
    accessKeyId: c.accessKeyId,
    payload,
    signing: ctx,
    presigned: c.presigned,
    signedHeaders,
    queryHeaders: c.queryHeaders,
  };
}

/** Form fields of a browser POST upload that carry its SigV4 policy signature. */
export interface PostPolicyFields {
  /** The base64 policy document, exactly as posted. */
  policy: string;
  /** x-amz-algorithm field. */
  algorithm: string;
  /** x-amz-credential field. */
  credential: string;
  /** x-amz-date field. */
  date: string;
  /** x-amz-signature field. */
  signature: string;
}

/**
 * Verifies the signature of a browser POST upload policy (the signed string is
 * the base64 policy itself) and returns the access key that signed it. The
 * policy's own conditions and expiration are for the caller to check.
 */
export async function authenticatePostPolicy(
  f: PostPolicyFields,
  opts: { region: string; service?: string; lookup: KeyLookup },
): Promise<{ accessKeyId: string; amzDate: string }> {
  const errCode = 'InvalidArgument';
  if (f.algorithm !== ALGORITHM)
    throw new S3Error(errCode, 'POST form field x-amz-algorithm must be AWS4-HMAC-SHA256', {
      ArgumentName: 'x-amz-algorithm',
    });
  if (Number.isNaN(parseAmzDate(f.date)))
    throw new S3Error(errCode, 'POST form field x-amz-date is invalid', { ArgumentName: 'x-amz-date' });
  const cred = parseCredential(
    f.credential,
    'AuthorizationQueryParametersError',
    'Error parsing the X-Amz-Credential parameter;',
  );
  checkScope(
    {
      errCode: 'AuthorizationQueryParametersError',
      errPrefix: 'Error parsing the X-Amz-Credential parameter;',
      amzDate: f.date,
      ...cred,
    },
    opts.region,
    opts.service ?? 's3',
  );
  const key = await opts.lookup(cred.accessKeyId);
  if (!key)
    throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: cred.accessKeyId,
    });
  const signingKey = deriveSigningKey(key.secretKey, cred.shortDate, cred.region, cred.service);
  const ctx = new SigningContext(
    signingKey,
    f.date,
    `${cred.shortDate}/${cred.region}/${cred.service}/aws4_request`,
    f.signature,
  );
  if (!signatureMatches(ctx.sign(f.policy), f.signature)) {
    throw new S3Error(
      'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      {
        AWSAccessKeyId: cred.accessKeyId,
        StringToSign: f.policy,
      },
    );
  }
  return { accessKeyId: cred.accessKeyId, amzDate: f.date };
}
