import { lwwNext } from '../../table/crdt.ts';
import { S3Error } from '../common/s3_error.ts';
import { parseXml, toXml } from '../common/xml.ts';
import { readSmallBody, requireBucket, sendEmpty, sendXml, type ReqCtx } from './context.ts';

/** GetBucketWebsite. */
export function handleGetWebsite(ctx: ReqCtx): void {
  const w = requireBucket(ctx).website.v;
  if (!w) throw new S3Error('NoSuchWebsiteConfiguration', 'The specified bucket does not have a website configuration');
  sendXml(ctx.res, 200, toXml('WebsiteConfiguration', { IndexDocument: { Suffix: w.index }, ...(w.errorDocument ? { ErrorDocument: { Key: w.errorDocument } } : {}) }));
}

/** PutBucketWebsite: the index suffix and the error document (redirects are not supported). */
export async function handlePutWebsite(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  const doc = parseXml((await readSmallBody(ctx)).toString('utf8'));
  const conf = doc.WebsiteConfiguration as { IndexDocument?: { Suffix?: unknown }; ErrorDocument?: { Key?: unknown }; RedirectAllRequestsTo?: unknown; RoutingRules?: unknown } | undefined;
  if (!conf || typeof conf !== 'object') throw new S3Error('MalformedXML', 'expected a <WebsiteConfiguration> document');
  if (conf.RedirectAllRequestsTo !== undefined || conf.RoutingRules !== undefined) throw new S3Error('NotImplemented', 'website redirects and routing rules are not supported');
  const suffix = conf.IndexDocument?.Suffix;
  if (typeof suffix !== 'string' || suffix === '' || suffix.includes('/')) throw new S3Error('InvalidArgument', 'IndexDocument.Suffix must be a non-empty name without a slash');
  const errorKey = conf.ErrorDocument?.Key;
  if (errorKey !== undefined && typeof errorKey !== 'string') throw new S3Error('InvalidArgument', 'ErrorDocument.Key must be a key');
  await ctx.svc.model.bucket.insert({ ...bucket, website: lwwNext(bucket.website, { index: suffix, errorDocument: errorKey ?? null }) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketWebsite. */
export async function handleDeleteWebsite(ctx: ReqCtx): Promise<void> {
  const bucket = requireBucket(ctx);
  await ctx.svc.model.bucket.insert({ ...bucket, website: lwwNext(bucket.website, null) });
  sendEmpty(ctx.res, 204);
}
