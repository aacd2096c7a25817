import { handleGetVersioning, handlePutVersioning } from './versioning.ts';
import {
  handleGetObjectLegalHold,
  handleGetObjectLockConfig,
  handleGetObjectRetention,
  handlePutObjectLegalHold,
  handlePutObjectLockConfig,
  handlePutObjectRetention,
} from './object_lock.ts';
import { handleGetObjectAttributes } from './attributes.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticate } from '../common/signature/index.ts';
import { S3Error } from '../common/s3_error.ts';
import { sendContinue } from '../common/http.ts';
import { keyPerms } from '../../model/key.ts';
import {
  keyLookup,
  refuseManagedSse,
  type BucketCtx,
  type ObjectCtx,
  type ReqCtx,
  type S3Services,
} from './context.ts';
import { ACL_ENDPOINTS, authorization, parseEndpoint, parseTarget, SSE_ENDPOINTS, type S3Endpoint } from './router.ts';
import { handleGetBucketAcl, handleGetObjectAcl, handlePutBucketAcl, handlePutObjectAcl, refuseGrants } from './acl.ts';
import {
  handleListBuckets,
  handleCreateBucket,
  handleHeadBucket,
  handleDeleteBucket,
  handleGetLocation,
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
import {
  handleDeleteBucketTagging,
  handleDeleteObjectTagging,
  handleGetBucketTagging,
  handleGetObjectTagging,
  handlePutBucketTagging,
  handlePutObjectTagging,
} from './tagging.ts';
import { addCorsHeaders, handlePreflight, handleGetCors, handlePutCors, handleDeleteCors } from './cors.ts';

/** Runs the handler of an endpoint on an existing bucket whose permission was checked. */
function dispatch(
  ep: Exclude<S3Endpoint, { kind: 'ListBuckets' | 'CreateBucket' }>,
  c: BucketCtx,
): Promise<void> | void {
  const o = (key: string): ObjectCtx => ({ ...c, objectKey: key });
  switch (ep.kind) {
    case 'HeadBucket':
      return handleHeadBucket(c);
    case 'DeleteBucket':
      return handleDeleteBucket(c);
    case 'GetBucketLocation':
      return handleGetLocation(c);
    case 'GetBucketVersioning':
      return handleGetVersioning(c);
    case 'PutBucketVersioning':
      return handlePutVersioning(c);
    case 'GetObjectLockConfiguration':
      return handleGetObjectLockConfig(c);
    case 'PutObjectLockConfiguration':
      return handlePutObjectLockConfig(c);
    case 'ListObjects':
      return handleListObjects(c, false);
    case 'ListObjectsV2':
      return handleListObjects(c, true);
    case 'ListObjectVersions':
      return handleListVersions(c);
    case 'ListMultipartUploads':
      return handleListUploads(c);
    case 'DeleteObjects':
      return handleDeleteObjects(c);
    case 'GetBucketWebsite':
      return handleGetWebsite(c);
    case 'PutBucketWebsite':
      return handlePutWebsite(c);
    case 'DeleteBucketWebsite':
      return handleDeleteWebsite(c);
    case 'GetBucketCors':
      return handleGetCors(c);
    case 'PutBucketCors':
      return handlePutCors(c);
    case 'DeleteBucketCors':
      return handleDeleteCors(c);
    case 'GetBucketLifecycleConfiguration':
      return handleGetLifecycle(c);
    case 'PutBucketLifecycleConfiguration':
      return handlePutLifecycle(c);
    case 'DeleteBucketLifecycle':
      return handleDeleteLifecycle(c);
    case 'GetBucketAcl':
      return handleGetBucketAcl(c);
    case 'PutBucketAcl':
      return handlePutBucketAcl(c);
    case 'GetBucketTagging':
      return handleGetBucketTagging(c);
    case 'PutBucketTagging':
      return handlePutBucketTagging(c);
    case 'DeleteBucketTagging':
      return handleDeleteBucketTagging(c);
    case 'GetObjectRetention':
      return handleGetObjectRetention(o(ep.key));
    case 'PutObjectRetention':
      return handlePutObjectRetention(o(ep.key));
    case 'GetObjectLegalHold':
      return handleGetObjectLegalHold(o(ep.key));
    case 'PutObjectLegalHold':
      return handlePutObjectLegalHold(o(ep.key));
    case 'GetObjectTagging':
      return handleGetObjectTagging(o(ep.key));
    case 'PutObjectTagging':
      return handlePutObjectTagging(o(ep.key));
    case 'DeleteObjectTagging':
      return handleDeleteObjectTagging(o(ep.key));
    case 'GetObjectAcl':
      return handleGetObjectAcl(o(ep.key));
    case 'PutObjectAcl':
      return handlePutObjectAcl(o(ep.key));
    case 'PutObject':
      return handlePutObject(o(ep.key));
    case 'CopyObject':
      return handleCopyObject(o(ep.key));
    case 'DeleteObject':
      return handleDeleteObject(o(ep.key));
    case 'CreateMultipartUpload':
      return handleCreateUpload(o(ep.key));
    case 'GetObject':
    case 'HeadObject':
      return handleGetObject(o(ep.key), ep.kind === 'HeadObject', ep.partNumber);
    case 'GetObjectAttributes':
      return handleGetObjectAttributes(o(ep.key));
    case 'ListParts':
      return handleListParts(o(ep.key), ep.uploadId);
    case 'CompleteMultipartUpload':
      return handleCompleteUpload(o(ep.key), ep.uploadId);
    case 'AbortMultipartUpload':
      return handleAbortUpload(o(ep.key), ep.uploadId);
    case 'UploadPart':
      return handleUploadPart(o(ep.key), ep.uploadId, ep.partNumber);
    case 'UploadPartCopy':
      return handleUploadPartCopy(o(ep.key), ep.uploadId, ep.partNumber);
    default:
      return ep satisfies never;
  }
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
      handlePreflight(
        req,
        res,
        target.bucket !== undefined ? svc.helpers.localBucketByAlias(target.bucket) : undefined,
      );
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
    // A browser must be able to read an error too (a refused signature, a missing key): the
    // bucket's CORS rules apply from here, found by its global alias on this node alone.
    if (req.headers.origin !== undefined && target.bucket !== undefined)
      addCorsHeaders(req, res, svc.helpers.localBucketByAlias(target.bucket));
    const keys = keyLookup(svc);
    const auth = await authenticate(
      { method, url, headers: req.headers, headersDistinct: req.headersDistinct },
      { region: svc.region, lookup: keys.lookup },
    );
    const key = keys.found();
    if (!key) throw new S3Error('InvalidAccessKeyId', `the access key ${auth.accessKeyId} does not exist`);

    const ep = parseEndpoint(method, target, query, req.headers);
    endpoint = ep.kind;
    const rctx: ReqCtx = {
      svc,
      req,
      res,
      requestId: ctx.requestId,
      expectContinue: ctx.expectContinue,
      auth,
      key,
      query,
    };
    if (ep.kind === 'ListBuckets') return handleListBuckets(rctx);
    const id = await svc.helpers.resolveBucket(ep.bucket, key);
    const bucket = id ? await svc.helpers.getBucket(id) : undefined;
    addCorsHeaders(req, res, bucket);
    if (ep.kind === 'CreateBucket') {
      refuseGrants(req.headers);
      return handleCreateBucket(rctx, ep.bucket, bucket);
    }
    if (!bucket) throw new S3Error('NoSuchBucket', `bucket '${ep.bucket}' does not exist`);
    const need = authorization(ep);
    if (need !== 'none' && !keyPerms(key, bucket.id.toString('hex'))[need])
      throw new S3Error('AccessDenied', `key ${key.id} has no ${need} permission on bucket '${ep.bucket}'`);
    if (SSE_ENDPOINTS.has(ep.kind)) refuseManagedSse(Object.keys(req.headers));
    if (ACL_ENDPOINTS.has(ep.kind)) refuseGrants(req.headers);
    svc.logger.debug({ op: ep.kind, bucket: ep.bucket, key: target.key, keyId: key.id }, 'S3 request');
    await dispatch(ep, { ...rctx, bucketName: ep.bucket, bucket });
  };
}
