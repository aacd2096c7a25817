import { lwwNext } from '../../util/crdt.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BucketEntry, CorsRule } from '../../model/bucket.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChildren, xmlChildToken, xmlText, type XmlElement } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx } from './context.ts';

const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD'];

/** The values of the children `name`, exactly as written (origins and headers keep their spaces). */
function values(rule: XmlElement, name: string): string[] {
  return xmlChildren(rule, name).map(xmlText);
}

// S3 allows one '*' wildcard in origins and allowed headers.
function wildcardMatch(pattern: string, value: string): boolean {
  if (pattern === '*') return true;
  const i = pattern.indexOf('*');
  if (i < 0) return pattern === value;
  return (
    value.length >= pattern.length - 1 && value.startsWith(pattern.slice(0, i)) && value.endsWith(pattern.slice(i + 1))
  );
}

/** The first rule allowing this origin, method and request headers. */
export function findCorsRule(
  rules: CorsRule[] | null,
  origin: string,
  method: string,
  requestHeaders: string[],
): CorsRule | undefined {
  return (rules ?? []).find(
    (r) =>
      r.allowedOrigins.some((o) => wildcardMatch(o, origin)) &&
      r.allowedMethods.includes(method) &&
      requestHeaders.every((h) => r.allowedHeaders.some((a) => wildcardMatch(a.toLowerCase(), h.toLowerCase()))),
  );
}

/**
 * Adds the CORS headers of the first rule matching the origin and method to a response
 * (actual, non-preflight requests, errors included), as S3 does; none when no rule matches.
 * A bucket with rules answers `Vary` on the CORS request headers whether or not one matched,
 * so that a cache never serves one origin's answer to another.
 */
export function addCorsHeaders(req: IncomingMessage, res: ServerResponse, bucket: BucketEntry | undefined): void {
  const origin = req.headers.origin;
  if (!origin || !bucket?.cors.v) return;
  res.setHeader('vary', 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method');
  for (const h of CORS_HEADERS) res.removeHeader(h);
  const rule = findCorsRule(bucket.cors.v, origin, req.method ?? 'GET', []);
  if (!rule) return;
  const any = rule.allowedOrigins.includes('*');
  res.setHeader('access-control-allow-origin', any ? '*' : origin);
  if (!any) res.setHeader('access-control-allow-credentials', 'true');
  res.setHeader('access-control-allow-methods', rule.allowedMethods.join(', '));
  if (rule.exposeHeaders.length) res.setHeader('access-control-expose-headers', rule.exposeHeaders.join(', '));
  if (rule.maxAgeSeconds !== null) res.setHeader('access-control-max-age', String(rule.maxAgeSeconds));
}

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-expose-headers',
  'access-control-max-age',
];

/** Answers a CORS preflight (OPTIONS) from the bucket's rules; no authentication, as browsers send none. */
export function handlePreflight(req: IncomingMessage, res: ServerResponse, bucket: BucketEntry | undefined): void {
  const origin = req.headers.origin;
  const method = req.headers['access-control-request-method'];
  if (!origin || typeof method !== 'string')
    throw new S3Error('InvalidRequest', 'A CORS preflight needs Origin and Access-Control-Request-Method headers');
  const requested = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
  const rule = bucket ? findCorsRule(bucket.cors.v, origin, method.toUpperCase(), requested) : undefined;
  if (!rule)
    throw new S3Error(
      'AccessDenied',
      "CORSResponse: This CORS request is not allowed. This is usually because the evaluation of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
    );
  res.statusCode = 200;
  const any = rule.allowedOrigins.includes('*');
  res.setHeader('access-control-allow-origin', any ? '*' : origin);
  if (!any) res.setHeader('access-control-allow-credentials', 'true');
  res.setHeader('access-control-allow-methods', rule.allowedMethods.join(', '));
  if (requested.length) res.setHeader('access-control-allow-headers', requested.join(', '));
  if (rule.exposeHeaders.length) res.setHeader('access-control-expose-headers', rule.exposeHeaders.join(', '));
  if (rule.maxAgeSeconds !== null) res.setHeader('access-control-max-age', String(rule.maxAgeSeconds));
  res.setHeader('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
  res.setHeader('content-length', 0);
  res.end();
}

/** GetBucketCors. */
export function handleGetCors(ctx: BucketCtx): void {
  const rules = ctx.bucket.cors.v;
  if (!rules) throw new S3Error('NoSuchCORSConfiguration', 'The CORS configuration does not exist');
  sendXml(
    ctx.res,
    200,
    toXml('CORSConfiguration', {
      CORSRule: rules.map((r) => ({
        AllowedOrigin: r.allowedOrigins,
        AllowedMethod: r.allowedMethods,
        AllowedHeader: r.allowedHeaders,
        ExposeHeader: r.exposeHeaders,
        ...(r.maxAgeSeconds !== null ? { MaxAgeSeconds: r.maxAgeSeconds } : {}),
      })),
    }),
  );
}

/** PutBucketCors. */
export async function handlePutCors(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const conf = await readXmlBody(ctx, 'CORSConfiguration', { maxBytes: 64 * 1024 });
  const raw = xmlChildren(conf, 'CORSRule');
  if (raw.length === 0 || raw.length > 100)
    throw new S3Error('MalformedXML', 'a CORSConfiguration holds 1 to 100 CORSRule elements');
  const rules: CorsRule[] = raw.map((r) => {
    const maxAge = xmlChildToken(r, 'MaxAgeSeconds');
    if (maxAge !== undefined && !/^[0-9]{1,9}$/.test(maxAge))
      throw new S3Error('MalformedXML', 'MaxAgeSeconds must be a non-negative integer');
    const rule: CorsRule = {
      allowedOrigins: values(r, 'AllowedOrigin'),
      allowedMethods: values(r, 'AllowedMethod').map((m) => m.toUpperCase()),
      allowedHeaders: values(r, 'AllowedHeader'),
      exposeHeaders: values(r, 'ExposeHeader'),
      maxAgeSeconds: maxAge === undefined ? null : Number(maxAge),
    };
    if (rule.allowedOrigins.length === 0 || rule.allowedMethods.length === 0)
      throw new S3Error('MalformedXML', 'each CORSRule needs AllowedOrigin and AllowedMethod');
    const bad = rule.allowedMethods.find((m) => !METHODS.includes(m));
    if (bad)
      throw new S3Error('InvalidRequest', `Found unsupported HTTP method in CORS config. Unsupported method is ${bad}`);
    return rule;
  });
  await ctx.svc.model.bucket.insert({ ...bucket, cors: lwwNext(bucket.cors, rules) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketCors. */
export async function handleDeleteCors(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  await ctx.svc.model.bucket.insert({ ...bucket, cors: lwwNext(bucket.cors, null) });
  sendEmpty(ctx.res, 204);
}
