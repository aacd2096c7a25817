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
    let path: string;
    try {
      path = decodeURIComponent(qi >= 0 ? url.slice(0, qi) : url);
    } catch {
      sendHtmlPage(res, 400, 'Invalid URL encoding', head);
      return;
    }
    const index = website.index || svc.index;
    const key = path.endsWith('/') ? `${path.slice(1)}${index}` : path.slice(1);
    const target = { model: svc.model, logger: svc.logger, req, res, query: new URLSearchParams(), head };
    try {
      await serveObject(target, bucket.id, key);
      return;
    } catch (e) {
      if (!(e instanceof S3Error) || e.code !== 'NoSuchKey') throw e;
    }
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
        await serveObject({ ...target, status: 404 }, bucket.id, website.errorDocument);
        return;
      } catch (e) {
        if (!(e instanceof S3Error) || e.code !== 'NoSuchKey') throw e;
      }
    }
    sendHtmlPage(res, 404, 'Not found', head);
  };
}
