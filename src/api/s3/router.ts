// Which S3 operation a request is: parsed once from method, path, query and headers into a
// discriminated union that carries what routing learnt, so handlers never re-parse the query.

import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../common/s3_error.ts';
import { decodeUtf8Component, vhostBucket } from '../common/uri.ts';
import { partNumberParam } from './context.ts';

/** Splits a request into bucket name and object key (path-style, or vhost-style under root_domain). */
export function parseTarget(
  path: string,
  host: string | undefined,
  rootDomain: string | undefined,
): { bucket?: string; key?: string } {
  const decoded = decodeUtf8Component(path, 'the request path');
  const vhost = vhostBucket(host, rootDomain);
  if (vhost !== undefined) {
    const key = decoded.slice(1);
    return { bucket: vhost, key: key === '' ? undefined : key };
  }
  const rest = decoded.slice(1);
  if (rest === '') return {};
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: rest };
  const key = rest.slice(slash + 1);
  return { bucket: rest.slice(0, slash), key: key === '' ? undefined : key };
}

type BucketOp =
  | 'HeadBucket'
  | 'DeleteBucket'
  | 'GetBucketLocation'
  | 'GetBucketVersioning'
  | 'PutBucketVersioning'
  | 'GetObjectLockConfiguration'
  | 'PutObjectLockConfiguration'
  | 'ListObjects'
  | 'ListObjectsV2'
  | 'ListObjectVersions'
  | 'ListMultipartUploads'
  | 'DeleteObjects'
  | 'GetBucketWebsite'
  | 'PutBucketWebsite'
  | 'DeleteBucketWebsite'
  | 'GetBucketCors'
  | 'PutBucketCors'
  | 'DeleteBucketCors'
  | 'GetBucketLifecycleConfiguration'
  | 'PutBucketLifecycleConfiguration'
  | 'DeleteBucketLifecycle'
  | 'GetBucketAcl'
  | 'PutBucketAcl'
  | 'GetBucketTagging'
  | 'PutBucketTagging'
  | 'DeleteBucketTagging';

type ObjectOp =
  | 'PutObject'
  | 'CopyObject'
  | 'DeleteObject'
  | 'CreateMultipartUpload'
  | 'GetObjectAcl'
  | 'PutObjectAcl'
  | 'GetObjectAttributes'
  | 'GetObjectTagging'
  | 'PutObjectTagging'
  | 'DeleteObjectTagging'
  | 'GetObjectRetention'
  | 'PutObjectRetention'
  | 'GetObjectLegalHold'
  | 'PutObjectLegalHold';

/** An S3 operation and what routing learnt about it. */
export type S3Endpoint =
  | { kind: 'ListBuckets' }
  | { kind: 'CreateBucket'; bucket: string }
  | { kind: BucketOp; bucket: string }
  | { kind: ObjectOp; bucket: string; key: string }
  | { kind: 'GetObject' | 'HeadObject'; bucket: string; key: string; partNumber: number | undefined }
  | {
      kind: 'ListParts' | 'CompleteMultipartUpload' | 'AbortMultipartUpload';
      bucket: string;
      key: string;
      uploadId: Buffer;
    }
  | { kind: 'UploadPart' | 'UploadPartCopy'; bucket: string; key: string; uploadId: Buffer; partNumber: number };

/** What a key needs on the request's bucket: nothing (the operation checks), read, write or owner. */
export type Authorization = 'none' | 'read' | 'write' | 'owner';

const AUTHORIZATION: Record<S3Endpoint['kind'], Authorization> = {
  ListBuckets: 'none',
  CreateBucket: 'none',
  HeadBucket: 'read',
  DeleteBucket: 'owner',
  GetBucketLocation: 'read',
  GetBucketVersioning: 'read',
  PutBucketVersioning: 'owner',
  GetObjectLockConfiguration: 'read',
  PutObjectLockConfiguration: 'owner',
  GetObjectRetention: 'read',
  PutObjectRetention: 'write',
  GetObjectLegalHold: 'read',
  PutObjectLegalHold: 'write',
  ListObjects: 'read',
  ListObjectsV2: 'read',
  ListObjectVersions: 'read',
  ListMultipartUploads: 'read',
  DeleteObjects: 'write',
  GetBucketWebsite: 'read',
  PutBucketWebsite: 'owner',
  DeleteBucketWebsite: 'owner',
  GetBucketCors: 'read',
  PutBucketCors: 'owner',
  DeleteBucketCors: 'owner',
  GetBucketLifecycleConfiguration: 'read',
  PutBucketLifecycleConfiguration: 'owner',
  DeleteBucketLifecycle: 'owner',
  GetBucketAcl: 'read',
  PutBucketAcl: 'owner',
  GetBucketTagging: 'read',
  PutBucketTagging: 'owner',
  DeleteBucketTagging: 'owner',
  GetObjectTagging: 'read',
  PutObjectTagging: 'write',
  DeleteObjectTagging: 'write',
  GetObjectAcl: 'read',
  GetObjectAttributes: 'read',
  PutObjectAcl: 'write',
  PutObject: 'write',
  CopyObject: 'write',
  DeleteObject: 'write',
  CreateMultipartUpload: 'write',
  GetObject: 'read',
  HeadObject: 'read',
  ListParts: 'read',
  CompleteMultipartUpload: 'write',
  AbortMultipartUpload: 'write',
  UploadPart: 'write',
  UploadPartCopy: 'write',
};

/** The permission an endpoint needs on its bucket. */
export function authorization(ep: S3Endpoint): Authorization {
  return AUTHORIZATION[ep.kind];
}

/** Object writes that take `x-amz-acl` / `x-amz-grant-*` (CreateBucket too): grants beyond the owner's are refused. */
export const ACL_ENDPOINTS: ReadonlySet<S3Endpoint['kind']> = new Set([
  'PutObject',
  'CopyObject',
  'CreateMultipartUpload',
]);

/** Operations that take SSE headers: SSE-C is honoured, SSE-S3 and SSE-KMS refused (never store plaintext). */
export const SSE_ENDPOINTS: ReadonlySet<S3Endpoint['kind']> = new Set([
  'PutObject',
  'CompleteMultipartUpload',
  'GetObject',
  'GetObjectAttributes',
  'HeadObject',
  'CopyObject',
  'CreateMultipartUpload',
  'UploadPart',
  'UploadPartCopy',
]);

const BUCKET_GET_UNSUPPORTED = [
  'policy',
  'encryption',
  'logging',
  'notification',
  'replication',
  'ownershipControls',
  'publicAccessBlock',
  'accelerate',
  'requestPayment',
  'analytics',
  'inventory',
  'metrics',
  'intelligent-tiering',
];
/** S3's message for an upload id it does not know. */
export const NO_SUCH_UPLOAD =
  'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.';

function uploadIdParam(q: URLSearchParams): Buffer {
  const id = q.get('uploadId') ?? '';
  if (!/^[0-9a-f]{32}$/.test(id)) throw new S3Error('NoSuchUpload', NO_SUCH_UPLOAD);
  return Buffer.from(id, 'hex');
}

function requiredPartNumber(q: URLSearchParams): number {
  const n = partNumberParam(q);
  if (n === undefined) throw new S3Error('InvalidArgument', 'partNumber is required', { ArgumentName: 'partNumber' });
  return n;
}

/**
 * The endpoint of a request (PostObject and OPTIONS are told apart before, as they are
 * authenticated differently); an operation we do not implement is refused, never guessed.
 */
export function parseEndpoint(
  method: string,
  target: { bucket?: string; key?: string },
  q: URLSearchParams,
  headers: IncomingHttpHeaders,
): S3Endpoint {
  const { bucket, key } = target;
  const has = (p: string) => q.has(p);
  if (bucket === undefined) {
    if (method === 'GET') return { kind: 'ListBuckets' };
    throw new S3Error('MethodNotAllowed', `${method} is not allowed on the service`);
  }
  if (key === undefined) return bucketEndpoint(method, bucket, q);
  const copy = headers['x-amz-copy-source'] !== undefined;
  switch (method) {
    case 'GET':
      if (has('uploadId')) return { kind: 'ListParts', bucket, key, uploadId: uploadIdParam(q) };
      if (has('acl')) return { kind: 'GetObjectAcl', bucket, key };
      if (has('attributes')) return { kind: 'GetObjectAttributes', bucket, key };
      if (has('tagging')) return { kind: 'GetObjectTagging', bucket, key };
      if (has('retention')) return { kind: 'GetObjectRetention', bucket, key };
      if (has('legal-hold')) return { kind: 'GetObjectLegalHold', bucket, key };
      if (has('torrent')) throw new S3Error('NotImplemented', 'this object sub-resource is not implemented');
      return { kind: 'GetObject', bucket, key, partNumber: partNumberParam(q) };
    case 'HEAD':
      return { kind: 'HeadObject', bucket, key, partNumber: partNumberParam(q) };
    case 'PUT':
      if (has('partNumber') && has('uploadId')) {
        const partNumber = requiredPartNumber(q);
        return { kind: copy ? 'UploadPartCopy' : 'UploadPart', bucket, key, uploadId: uploadIdParam(q), partNumber };
      }
      if (has('acl')) return { kind: 'PutObjectAcl', bucket, key };
      if (has('tagging')) return { kind: 'PutObjectTagging', bucket, key };
      if (has('retention')) return { kind: 'PutObjectRetention', bucket, key };
      if (has('legal-hold')) return { kind: 'PutObjectLegalHold', bucket, key };
      return { kind: copy ? 'CopyObject' : 'PutObject', bucket, key };
    case 'DELETE':
      if (has('uploadId')) return { kind: 'AbortMultipartUpload', bucket, key, uploadId: uploadIdParam(q) };
      if (has('tagging')) return { kind: 'DeleteObjectTagging', bucket, key };
      return { kind: 'DeleteObject', bucket, key };
    case 'POST':
      if (has('uploads')) return { kind: 'CreateMultipartUpload', bucket, key };
      if (has('uploadId')) return { kind: 'CompleteMultipartUpload', bucket, key, uploadId: uploadIdParam(q) };
      throw new S3Error('NotImplemented', 'POST on an object is only implemented for multipart uploads');
  }
  throw new S3Error('MethodNotAllowed', `${method} is not allowed on an object`);
}

function bucketEndpoint(method: string, bucket: string, q: URLSearchParams): S3Endpoint {
  const has = (p: string) => q.has(p);
  const first = [...q.keys()][0];
  const b = (kind: BucketOp): S3Endpoint => ({ kind, bucket });
  switch (method) {
    case 'GET':
      if (has('location')) return b('GetBucketLocation');
      if (has('versioning')) return b('GetBucketVersioning');
      if (has('uploads')) return b('ListMultipartUploads');
      if (has('versions')) return b('ListObjectVersions');
      if (has('website')) return b('GetBucketWebsite');
      if (has('cors')) return b('GetBucketCors');
      if (has('lifecycle')) return b('GetBucketLifecycleConfiguration');
      if (has('acl')) return b('GetBucketAcl');
      if (has('tagging')) return b('GetBucketTagging');
      if (has('object-lock')) return b('GetObjectLockConfiguration');
      for (const p of BUCKET_GET_UNSUPPORTED)
        if (has(p)) throw new S3Error('NotImplemented', `GET ?${p} is not implemented`);
      return b(q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects');
    case 'HEAD':
      return b('HeadBucket');
    case 'PUT':
      if (has('website')) return b('PutBucketWebsite');
      if (has('cors')) return b('PutBucketCors');
      if (has('lifecycle')) return b('PutBucketLifecycleConfiguration');
      if (has('acl')) return b('PutBucketAcl');
      if (has('tagging')) return b('PutBucketTagging');
      if (has('versioning')) return b('PutBucketVersioning');
      if (has('object-lock')) return b('PutObjectLockConfiguration');
      if (first !== undefined) throw new S3Error('NotImplemented', `PUT ?${first} on a bucket is not implemented`);
      return { kind: 'CreateBucket', bucket };
    case 'DELETE':
      if (has('website')) return b('DeleteBucketWebsite');
      if (has('cors')) return b('DeleteBucketCors');
      if (has('lifecycle')) return b('DeleteBucketLifecycle');
      if (has('tagging')) return b('DeleteBucketTagging');
      if (first !== undefined) throw new S3Error('NotImplemented', `DELETE ?${first} on a bucket is not implemented`);
      return b('DeleteBucket');
    case 'POST':
      if (has('delete')) return b('DeleteObjects');
      throw new S3Error('NotImplemented', 'POST on a bucket is only implemented for ?delete');
  }
  throw new S3Error('MethodNotAllowed', `${method} is not allowed on a bucket`);
}
