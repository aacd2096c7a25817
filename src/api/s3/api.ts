import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate } from '../common/signature/index.ts';
import { S3Error } from '../common/s3_error.ts';
import { decodeUtf8Component } from '../common/uri.ts';
import { sendContinue } from '../common/http.ts';
import { keyPerms } from '../../model/key.ts';
import { keyLookup, partNumberParam, refuseSse, type S3Services, type ReqCtx } from './context.ts';
import {
  handleListBuckets,
  handleCreateBucket,
  handleHeadBucket,
  handleDeleteBucket,
  handleGetLocation,
  handleGetVersioning,
} from './bucket.ts';
import { handlePutObject } from './put.ts';
import { handleGetObject } from './get.ts';
import { handleDeleteObject, handleDeleteObjects } from './delete.ts';
import { handleListObjects, handleListUploads, handleListVersions } from './list.ts';
import {
  handleCreateUpload,
  handleUploadPart,
  handleCompleteUpload,
  handleAbortUpload,
  handleListParts,
} from './multipart.ts';
import { handleCopyObject, handleUploadPartCopy } from './copy.ts';
import { handleGetWebsite, handlePutWebsite, handleDeleteWebsite } from './website.ts';
import { handleGetLifecycle, handlePutLifecycle, handleDeleteLifecycle } from './lifecycle.ts';
import { handlePostObject } from './post_object.ts';
import { addCorsHeaders, handlePreflight, handleGetCors, handlePutCors, handleDeleteCors } from './cors.ts';

type Need = 'none' | 'read' | 'write' | 'owner';
type Route = { name: string; need: Need; run: (ctx: ReqCtx) => Promise<void> | void };

/** Splits a request into bucket name and object key (path-style, or vhost-style under root_domain). */
export function parseTarget(
  path: string,
  host: string | undefined,
  rootDomain: string | undefined,
): { bucket?: string; key?: string } {
  const decoded = decodeUtf8Component(path, 'the request path');
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (rootDomain) {
    const suffix = rootDomain.startsWith('.') ? rootDomain : `.${rootDomain}`;
    if (hostname.endsWith(suffix) && hostname.length > suffix.length) {
      const key = decoded.slice(1);
      return { bucket: hostname.slice(0, -suffix.length), key: key === '' ? undefined : key };
    }
  }
  const rest = decoded.slice(1);
  if (rest === '') return {};
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: rest };
  const key = rest.slice(slash + 1);
  return { bucket: rest.slice(0, slash), key: key === '' ? undefined : key };
}

/** Operations that would take SSE headers; until encryption exists they refuse them (never store plaintext). */
const SSE_OPERATIONS = new Set([
  'PutObject',
  'GetObject',
  'HeadObject',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
]);

// A bad partNumber is refused before anything is read (body or copy source).
function checkingPartNumber(run: Route['run']): Route['run'] {
  return (c) => {
    partNumberParam(c.query);
    return run(c);
  };
}

function route(
  method: string,
  q: URLSearchParams,
  hasBucket: boolean,
  hasKey: boolean,
  headers: IncomingMessage['headers'],
): Route {
  const has = (p: string) => q.has(p);
  if (!hasBucket) {
    if (method === 'GET') return { name: 'ListBuckets', need: 'none', run: handleListBuckets };
    throw new S3Error('MethodNotAllowed', `${method} is not allowed on the service`);
  }
  if (!hasKey) {
    switch (method) {
      case 'GET':
        if (has('location')) return { name: 'GetBucketLocation', need: 'read', run: handleGetLocation };
        if (has('versioning')) return { name: 'GetBucketVersioning', need: 'read', run: handleGetVersioning };
        if (has('uploads')) return { name: 'ListMultipartUploads', need: 'read', run: handleListUploads };
        if (has('versions')) return { name: 'ListObjectVersions', need: 'read', run: handleListVersions };
        if (has('website')) return { name: 'GetBucketWebsite', need: 'read', run: handleGetWebsite };
        if (has('cors')) return { name: 'GetBucketCors', need: 'read', run: handleGetCors };
        if (has('lifecycle')) return { name: 'GetBucketLifecycleConfiguration', need: 'read', run: handleGetLifecycle };
        for (const p of [
          'policy',
          'acl',
          'tagging',
          'encryption',
          'logging',
          'notification',
          'replication',
          'object-lock',
          'ownershipControls',
          'publicAccessBlock',
          'accelerate',
          'requestPayment',
          'analytics',
          'inventory',
          'metrics',
          'intelligent-tiering',
        ]) {
          if (has(p)) throw new S3Error('NotImplemented', `GET ?${p} is not implemented`);
        }
        if (q.get('list-type') === '2')
          return { name: 'ListObjectsV2', need: 'read', run: (c) => handleListObjects(c, true) };
        return { name: 'ListObjects', need: 'read', run: (c) => handleListObjects(c, false) };
      case 'HEAD':
        return { name: 'HeadBucket', need: 'read', run: handleHeadBucket };
      case 'PUT':
        if (has('website')) return { name: 'PutBucketWebsite', need: 'owner', run: handlePutWebsite };
        if (has('cors')) return { name: 'PutBucketCors', need: 'owner', run: handlePutCors };
        if (has('lifecycle'))
          return { name: 'PutBucketLifecycleConfiguration', need: 'owner', run: handlePutLifecycle };
        if ([...q.keys()].length > 0)
          throw new S3Error('NotImplemented', `PUT ?${[...q.keys()][0]} on a bucket is not implemented`);
        return { name: 'CreateBucket', need: 'none', run: handleCreateBucket };
      case 'DELETE':
        if (has('website')) return { name: 'DeleteBucketWebsite', need: 'owner', run: handleDeleteWebsite };
        if (has('cors')) return { name: 'DeleteBucketCors', need: 'owner', run: handleDeleteCors };
        if (has('lifecycle')) return { name: 'DeleteBucketLifecycle', need: 'owner', run: handleDeleteLifecycle };
        if ([...q.keys()].length > 0)
          throw new S3Error('NotImplemented', `DELETE ?${[...q.keys()][0]} on a bucket is not implemented`);
        return { name: 'DeleteBucket', need: 'owner', run: handleDeleteBucket };
      case 'POST':
        if (has('delete')) return { name: 'DeleteObjects', need: 'write', run: handleDeleteObjects };
        throw new S3Error('NotImplemented', 'POST on a bucket is only implemented for ?delete');
    }
    throw new S3Error('MethodNotAllowed', `${method} is not allowed on a bucket`);
  }
  switch (method) {
    case 'GET':
      if (has('uploadId')) return { name: 'ListParts', need: 'read', run: handleListParts };
      if (has('tagging') || has('acl') || has('retention') || has('legal-hold') || has('attributes') || has('torrent'))
        throw new S3Error('NotImplemented', 'this object sub-resource is not implemented');
      return { name: 'GetObject', need: 'read', run: checkingPartNumber((c) => handleGetObject(c, false)) };
    case 'HEAD':
      return { name: 'HeadObject', need: 'read', run: checkingPartNumber((c) => handleGetObject(c, true)) };
    case 'PUT':
      if (has('partNumber') && has('uploadId')) {
        return headers['x-amz-copy-source'] !== undefined
          ? { name: 'UploadPartCopy', need: 'write', run: checkingPartNumber(handleUploadPartCopy) }
          : { name: 'UploadPart', need: 'write', run: checkingPartNumber(handleUploadPart) };
      }
      if (has('tagging') || has('acl') || has('retention') || has('legal-hold'))
        throw new S3Error('NotImplemented', 'this object sub-resource is not implemented');
      if (headers['x-amz-copy-source'] !== undefined)
        return { name: 'CopyObject', need: 'write', run: handleCopyObject };
      return { name: 'PutObject', need: 'write', run: handlePutObject };
    case 'DELETE':
      if (has('uploadId')) return { name: 'AbortMultipartUpload', need: 'write', run: handleAbortUpload };
      return { name: 'DeleteObject', need: 'write', run: handleDeleteObject };
    case 'POST':
      if (has('uploads')) return { name: 'CreateMultipartUpload', need: 'write', run: handleCreateUpload };
      if (has('uploadId')) return { name: 'CompleteMultipartUpload', need: 'write', run: handleCompleteUpload };
      throw new S3Error('NotImplemented', 'POST on an object is only implemented for multipart uploads');
  }
  throw new S3Error('MethodNotAllowed', `${method} is not allowed on an object`);
}

/** The S3 API endpoint: authenticates, resolves the bucket, checks permissions, dispatches. */
export function s3Handler(svc: S3Services) {
  return async (
    req: IncomingMessage,
    res: ServerResponse,
    ctx: { requestId: string; expectContinue: boolean },
  ): Promise<void> => {
    res.setHeader('x-amz-request-id', ctx.requestId);
    res.setHeader('server', 'garage');
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi >= 0 ? url.slice(0, qi) : url;
    const query = new URLSearchParams(qi >= 0 ? url.slice(qi + 1) : '');
    const method = req.method ?? 'GET';
    const t0 = performance.now();
    let endpoint = 'Unknown';
    if (svc.observe) res.on('finish', () => svc.observe!(endpoint, res.statusCode, (performance.now() - t0) / 1000));
    const target = parseTarget(path, req.headers.host, svc.rootDomain);
    if (method === 'OPTIONS') {
      endpoint = 'Options';
      const id = target.bucket !== undefined ? await svc.helpers.resolveBucket(target.bucket) : undefined;
      handlePreflight(req, res, id ? await svc.helpers.getBucket(id) : undefined);
      return;
    }
    if (
      method === 'POST' &&
      target.bucket !== undefined &&
      target.key === undefined &&
      !query.has('delete') &&
      /^multipart\/form-data/i.test(req.headers['content-type'] ?? '')
    ) {
      endpoint = 'PostObject';
      // The credentials are inside the form: the body must be read to authenticate.
      if (ctx.expectContinue) sendContinue(res);
      await handlePostObject(svc, req, res, target.bucket);
      return;
    }
    const r = route(method, query, target.bucket !== undefined, target.key !== undefined, req.headers);
    endpoint = r.name;

    const keys = keyLookup(svc);
    const auth = await authenticate(
      { method, url, headers: req.headers, headersDistinct: req.headersDistinct },
      { region: svc.region, lookup: keys.lookup },
    );
    const key = keys.found();
    if (!key) throw new S3Error('InvalidAccessKeyId', `the access key ${auth.accessKeyId} does not exist`);

    const rctx: ReqCtx = {
      svc,
      req,
      res,
      requestId: ctx.requestId,
      expectContinue: ctx.expectContinue,
      auth,
      key,
      query,
      bucketName: target.bucket,
      objectKey: target.key,
    };
    if (target.bucket !== undefined) {
      const id = await svc.helpers.resolveBucket(target.bucket, key);
      rctx.bucket = id ? await svc.helpers.getBucket(id) : undefined;
      if (r.need !== 'none') {
        if (!rctx.bucket) throw new S3Error('NoSuchBucket', `bucket '${target.bucket}' does not exist`);
        const p = keyPerms(key, rctx.bucket.id.toString('hex'));
        if (!p[r.need])
          throw new S3Error('AccessDenied', `key ${key.id} has no ${r.need} permission on bucket '${target.bucket}'`);
      }
    }
    if (SSE_OPERATIONS.has(r.name)) refuseSse(Object.keys(req.headers));
    addCorsHeaders(req, res, rctx.bucket);
    svc.logger.debug({ op: r.name, bucket: target.bucket, key: target.key, keyId: key.id }, 'S3 request');
    await r.run(rctx);
  };
}
