import { lwwNext } from '../../util/crdt.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildText } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx } from './context.ts';

/** GetBucketWebsite. */
export function handleGetWebsite(ctx: BucketCtx): void {
  const w = ctx.bucket.website.v;
  if (!w) throw new S3Error('NoSuchWebsiteConfiguration', 'The specified bucket does not have a website configuration');
  sendXml(
    ctx.res,
    200,
    toXml('WebsiteConfiguration', {
      IndexDocument: { Suffix: w.index },
      ...(w.errorDocument ? { ErrorDocument: { Key: w.errorDocument } } : {}),
    }),
  );
}

/** PutBucketWebsite: the index suffix and the error document (redirects are not supported). */
export async function handlePutWebsite(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const conf = await readXmlBody(ctx, 'WebsiteConfiguration', { maxBytes: 64 * 1024 });
  if (xmlChild(conf, 'RedirectAllRequestsTo') || xmlChild(conf, 'RoutingRules'))
    throw new S3Error('NotImplemented', 'website redirects and routing rules are not supported');
  // The suffix and the error document's key are used exactly as written, spaces included.
  const index = xmlChild(conf, 'IndexDocument');
  const suffix = index && xmlChildText(index, 'Suffix');
  if (suffix === undefined || suffix === '' || suffix.includes('/'))
    throw new S3Error('InvalidArgument', 'IndexDocument.Suffix must be a non-empty name without a slash');
  const errorDoc = xmlChild(conf, 'ErrorDocument');
  const errorKey = errorDoc && xmlChildText(errorDoc, 'Key');
  if (errorDoc && !errorKey) throw new S3Error('InvalidArgument', 'ErrorDocument.Key must be a key');
  await ctx.svc.model.bucket.insert({
    ...bucket,
    website: lwwNext(bucket.website, { index: suffix, errorDocument: errorKey ?? null }),
  });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketWebsite. */
export async function handleDeleteWebsite(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  await ctx.svc.model.bucket.insert({ ...bucket, website: lwwNext(bucket.website, null) });
  sendEmpty(ctx.res, 204);
}
