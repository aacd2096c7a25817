import { lwwNext } from '../../util/crdt.ts';
import type { RoutingRule, WebsiteConfig, WebsiteRedirect } from '../../model/bucket.ts';
import { S3Error } from '../common/s3_error.ts';
import { toXml, xmlChild, xmlChildren, xmlChildText, type XmlElement } from '../common/xml.ts';
import { readXmlBody, sendEmpty, sendXml, type BucketCtx } from './context.ts';

const defined = <T extends object>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

/** GetBucketWebsite: the configuration as it was written. */
export function handleGetWebsite(ctx: BucketCtx): void {
  const w = ctx.bucket.website.v;
  if (!w) throw new S3Error('NoSuchWebsiteConfiguration', 'The specified bucket does not have a website configuration');
  const redirect = (r: WebsiteRedirect) =>
    defined({
      HostName: r.hostName,
      Protocol: r.protocol,
      ReplaceKeyPrefixWith: r.replaceKeyPrefixWith,
      ReplaceKeyWith: r.replaceKeyWith,
      HttpRedirectCode: r.httpRedirectCode,
    });
  const body = w.redirectAll
    ? { RedirectAllRequestsTo: defined({ HostName: w.redirectAll.hostName, Protocol: w.redirectAll.protocol }) }
    : {
        IndexDocument: { Suffix: w.index },
        ...(w.errorDocument ? { ErrorDocument: { Key: w.errorDocument } } : {}),
        ...(w.routingRules?.length
          ? {
              RoutingRules: {
                RoutingRule: w.routingRules.map((r) => ({
                  ...(r.keyPrefixEquals !== undefined || r.httpErrorCodeReturnedEquals !== undefined
                    ? {
                        Condition: defined({
                          KeyPrefixEquals: r.keyPrefixEquals,
                          HttpErrorCodeReturnedEquals: r.httpErrorCodeReturnedEquals,
                        }),
                      }
                    : {}),
                  Redirect: redirect(r.redirect),
                })),
              },
            }
          : {}),
      };
  sendXml(ctx.res, 200, toXml('WebsiteConfiguration', body));
}

function protocol(el: XmlElement): 'http' | 'https' | undefined {
  const p = xmlChildText(el, 'Protocol');
  if (p === undefined) return undefined;
  if (p !== 'http' && p !== 'https')
    throw new S3Error('InvalidRequest', `Invalid protocol, protocol can be http or https. Given: ${p}`);
  return p;
}

function parseRoutingRule(r: XmlElement): RoutingRule {
  const cond = xmlChild(r, 'Condition');
  const red = xmlChild(r, 'Redirect');
  if (!red) throw new S3Error('MalformedXML', 'a RoutingRule needs a Redirect');
  const redirect: WebsiteRedirect = {};
  const host = xmlChildText(red, 'HostName');
  const proto = protocol(red);
  const prefixWith = xmlChildText(red, 'ReplaceKeyPrefixWith');
  const keyWith = xmlChildText(red, 'ReplaceKeyWith');
  const code = xmlChildText(red, 'HttpRedirectCode');
  if (host !== undefined) redirect.hostName = host;
  if (proto !== undefined) redirect.protocol = proto;
  if (prefixWith !== undefined) redirect.replaceKeyPrefixWith = prefixWith;
  if (keyWith !== undefined) redirect.replaceKeyWith = keyWith;
  if (code !== undefined) redirect.httpRedirectCode = code;
  if (Object.keys(redirect).length === 0)
    throw new S3Error('InvalidRequest', 'The provided Redirect must contain at least one of the redirect elements');
  if (redirect.replaceKeyPrefixWith !== undefined && redirect.replaceKeyWith !== undefined)
    throw new S3Error('InvalidRequest', 'You can only define ReplaceKeyPrefix or ReplaceKey but not both.');
  if (redirect.httpRedirectCode !== undefined && !/^3\d\d$/.test(redirect.httpRedirectCode))
    throw new S3Error(
      'InvalidRequest',
      `The provided HTTP redirect code (${redirect.httpRedirectCode}) is not valid. Valid codes are 3XX except 300.`,
    );
  if (redirect.httpRedirectCode === '300')
    throw new S3Error(
      'InvalidRequest',
      'The provided HTTP redirect code (300) is not valid. Valid codes are 3XX except 300.',
    );
  const rule: RoutingRule = { redirect };
  if (cond) {
    const prefix = xmlChildText(cond, 'KeyPrefixEquals');
    const errorCode = xmlChildText(cond, 'HttpErrorCodeReturnedEquals');
    if (prefix === undefined && errorCode === undefined)
      throw new S3Error(
        'InvalidRequest',
        "Condition cannot be empty. To redirect all requests without a condition, the condition element shouldn't be present.",
      );
    if (errorCode !== undefined && !/^[45]\d\d$/.test(errorCode))
      throw new S3Error(
        'InvalidRequest',
        `The provided HTTP error code (${errorCode}) is not valid. Valid codes are 4XX or 5XX.`,
      );
    if (prefix !== undefined) rule.keyPrefixEquals = prefix;
    if (errorCode !== undefined) rule.httpErrorCodeReturnedEquals = errorCode;
  }
  return rule;
}

/** PutBucketWebsite: index and error documents, routing rules, or a redirect of every request. */
export async function handlePutWebsite(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  const conf = await readXmlBody(ctx, 'WebsiteConfiguration', { maxBytes: 64 * 1024 });
  const all = xmlChild(conf, 'RedirectAllRequestsTo');
  let website: WebsiteConfig;
  if (all) {
    if (xmlChild(conf, 'IndexDocument') || xmlChild(conf, 'ErrorDocument') || xmlChild(conf, 'RoutingRules'))
      throw new S3Error(
        'InvalidArgument',
        'RedirectAllRequestsTo cannot be provided in conjunction with other Routing/Redirect configurations.',
      );
    const hostName = xmlChildText(all, 'HostName');
    if (!hostName) throw new S3Error('InvalidArgument', 'RedirectAllRequestsTo needs a HostName');
    const proto = protocol(all);
    website = {
      index: 'index.html',
      errorDocument: null,
      redirectAll: proto ? { hostName, protocol: proto } : { hostName },
    };
  } else {
    // The suffix and the error document's key are used exactly as written, spaces included.
    const index = xmlChild(conf, 'IndexDocument');
    const suffix = index && xmlChildText(index, 'Suffix');
    if (suffix === undefined || suffix === '' || suffix.includes('/'))
      throw new S3Error('InvalidArgument', 'IndexDocument.Suffix must be a non-empty name without a slash');
    const errorDoc = xmlChild(conf, 'ErrorDocument');
    const errorKey = errorDoc && xmlChildText(errorDoc, 'Key');
    if (errorDoc && !errorKey) throw new S3Error('InvalidArgument', 'ErrorDocument.Key must be a key');
    const rules = xmlChild(conf, 'RoutingRules');
    const routing = rules ? xmlChildren(rules, 'RoutingRule').map(parseRoutingRule) : [];
    if (routing.length > 50)
      throw new S3Error('InvalidArgument', 'a website configuration holds at most 50 routing rules');
    website = { index: suffix, errorDocument: errorKey ?? null, ...(routing.length ? { routingRules: routing } : {}) };
  }
  await ctx.svc.model.bucket.insert({ ...bucket, website: lwwNext(bucket.website, website) });
  sendEmpty(ctx.res, 200);
}

/** DeleteBucketWebsite. */
export async function handleDeleteWebsite(ctx: BucketCtx): Promise<void> {
  const { bucket } = ctx;
  await ctx.svc.model.bucket.insert({ ...bucket, website: lwwNext(bucket.website, null) });
  sendEmpty(ctx.res, 204);
}
