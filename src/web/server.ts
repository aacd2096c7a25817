import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Model } from '../model/garage.ts';
import type { ModelHelpers } from '../model/helpers.ts';
import type { Logger } from '../util/log.ts';
import { S3Error } from '../api/common/s3_error.ts';
import { vhostBucket } from '../api/common/uri.ts';
import { sendHtmlPage } from '../api/common/http.ts';
import { serveObject } from '../api/s3/get.ts';
import { visibleVersion } from '../model/object.ts';
import { addCorsHeaders, handlePreflight } from '../api/s3/cors.ts';
import type { RoutingRule } from '../model/bucket.ts';

/** Settings of the static website endpoint (`[s3_web]`). */
export interface WebServices {
  model: Model;
  helpers: ModelHelpers;
  logger: Logger;
  /** Suffix of `<bucket><root_domain>` host names. */
  rootDomain?: string;
  /** Default index document when the bucket's own configuration names none. */
  index: string;
}

/** The bucket name a Host header designates: `<bucket><root_domain>`, else the whole host name. */
export function bucketFromHost(host: string | undefined, rootDomain: string | undefined): string | undefined {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  return hostname === '' ? undefined : (vhostBucket(hostname, rootDomain) ?? hostname);
}

/**
 * Serves buckets that have website access: `index` for paths ending in `/`, a redirect to
 * `path/` when only `path/index` exists, the bucket's error document (status 404) otherwise.
 */
export function webHandler(svc: WebServices) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const head = method === 'HEAD';
    res.setHeader('server', 'garage');
    if (method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS') {
      res.setHeader('allow', 'GET, HEAD');
      sendHtmlPage(res, 405, 'Method not allowed', false);
      return;
    }
    const name = bucketFromHost(req.headers.host, svc.rootDomain);
    const id = name ? await svc.helpers.resolveBucket(name) : undefined;
    const bucket = id ? await svc.helpers.getBucket(id) : undefined;
    const website = bucket?.website.v;
    if (!bucket || !website) {
      sendHtmlPage(res, 404, `No website is configured for ${name ?? 'this host'}.`, head);
      return;
    }
    if (method === 'OPTIONS') {
      handlePreflight(req, res, bucket);
      return;
    }
    addCorsHeaders(req, res, bucket);
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    if (website.redirectAll) {
      const { hostName, protocol } = website.redirectAll;
      return redirect(res, '301', `${protocol ?? requestProtocol(req)}://${hostName}${url}`);
    }
    let path: string;
    try {
      path = decodeURIComponent(qi >= 0 ? url.slice(0, qi) : url);
    } catch {
      sendHtmlPage(res, 400, 'Invalid URL encoding', head);
      return;
    }
    const index = website.index || svc.index;
    const requested = path.slice(1);
    const rules = website.routingRules ?? [];
    // Rules without an error condition apply before the object is looked up.
    const before = rules.find((r) => r.httpErrorCodeReturnedEquals === undefined && matchesPrefix(r, requested));
    if (before) return redirect(res, before.redirect.httpRedirectCode ?? '301', redirectUrl(req, before, requested));
    const key = path.endsWith('/') ? `${requested}${index}` : requested;
    const target = {
      model: svc.model,
      logger: svc.logger,
      req,
      res,
      query: new URLSearchParams(),
      head,
      followRedirectLocation: true,
    };
    try {
      await serveObject(target, bucket, key);
      return;
    } catch (e) {
      if (!(e instanceof S3Error) || e.code !== 'NoSuchKey') throw e;
    }
    const onError = rules.find((r) => r.httpErrorCodeReturnedEquals === '404' && matchesPrefix(r, requested));
    if (onError) return redirect(res, onError.redirect.httpRedirectCode ?? '301', redirectUrl(req, onError, requested));
    if (!path.endsWith('/')) {
      const dirIndex = await svc.model.object.get(bucket.id, Buffer.from(`${key}/${index}`));
      if (visibleVersion(dirIndex)) {
        res.statusCode = 302;
        res.setHeader('location', `${encodeURI(path)}/`);
        res.setHeader('content-length', 0);
        res.end();
        return;
      }
    }
    if (website.errorDocument) {
      try {
        await serveObject({ ...target, status: 404 }, bucket, website.errorDocument);
        return;
      } catch (e) {
        if (!(e instanceof S3Error) || e.code !== 'NoSuchKey') throw e;
      }
    }
    sendHtmlPage(res, 404, 'Not found', head);
  };
}

function matchesPrefix(r: RoutingRule, key: string): boolean {
  return r.keyPrefixEquals === undefined || key.startsWith(r.keyPrefixEquals);
}

// The scheme the client used: a reverse proxy in front says so in X-Forwarded-Proto.
function requestProtocol(req: IncomingMessage): 'http' | 'https' {
  const fwd = req.headers['x-forwarded-proto'];
  return fwd === 'https' ? 'https' : 'http';
}

/** Where a routing rule sends a request for `key`: each part it leaves out is the request's own. */
function redirectUrl(req: IncomingMessage, r: RoutingRule, key: string): string {
  const to = r.redirect;
  let newKey = key;
  if (to.replaceKeyWith !== undefined) newKey = to.replaceKeyWith;
  else if (to.replaceKeyPrefixWith !== undefined)
    newKey = to.replaceKeyPrefixWith + key.slice((r.keyPrefixEquals ?? '').length);
  const host = to.hostName ?? req.headers.host ?? '';
  return `${to.protocol ?? requestProtocol(req)}://${host}/${encodeURI(newKey)}`;
}

function redirect(res: ServerResponse, code: string, location: string): void {
  res.statusCode = Number(code);
  res.setHeader('location', location);
  res.setHeader('content-length', 0);
  res.end();
}
