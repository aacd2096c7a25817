/** The S3 router (src/api/s3/router.ts): every endpoint from method, path, query and headers, with its authorization. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { S3Error } from '../../../src/api/common/s3_error.ts';
import {
  authorization,
  parseEndpoint,
  parseTarget,
  type Authorization,
  type S3Endpoint,
} from '../../../src/api/s3/router.ts';

const UPLOAD = '0123456789abcdef0123456789abcdef';
const uploadId = Buffer.from(UPLOAD, 'hex');

/** [method, url, headers, expected endpoint, expected authorization] */
const ROWS: [string, string, Record<string, string>, S3Endpoint, Authorization][] = [
  ['GET', '/', {}, { kind: 'ListBuckets' }, 'none'],
  ['PUT', '/b', {}, { kind: 'CreateBucket', bucket: 'b' }, 'none'],
  ['HEAD', '/b', {}, { kind: 'HeadBucket', bucket: 'b' }, 'read'],
  ['DELETE', '/b', {}, { kind: 'DeleteBucket', bucket: 'b' }, 'owner'],
  ['GET', '/b?location', {}, { kind: 'GetBucketLocation', bucket: 'b' }, 'read'],
  ['GET', '/b?versioning', {}, { kind: 'GetBucketVersioning', bucket: 'b' }, 'read'],
  ['PUT', '/b?versioning', {}, { kind: 'PutBucketVersioning', bucket: 'b' }, 'owner'],
  ['GET', '/b', {}, { kind: 'ListObjects', bucket: 'b' }, 'read'],
  ['GET', '/b/', {}, { kind: 'ListObjects', bucket: 'b' }, 'read'],
  ['GET', '/b?list-type=2&prefix=a', {}, { kind: 'ListObjectsV2', bucket: 'b' }, 'read'],
  ['GET', '/b?versions', {}, { kind: 'ListObjectVersions', bucket: 'b' }, 'read'],
  ['GET', '/b?uploads', {}, { kind: 'ListMultipartUploads', bucket: 'b' }, 'read'],
  ['POST', '/b?delete', {}, { kind: 'DeleteObjects', bucket: 'b' }, 'write'],
  ['GET', '/b?website', {}, { kind: 'GetBucketWebsite', bucket: 'b' }, 'read'],
  ['PUT', '/b?website', {}, { kind: 'PutBucketWebsite', bucket: 'b' }, 'owner'],
  ['DELETE', '/b?website', {}, { kind: 'DeleteBucketWebsite', bucket: 'b' }, 'owner'],
  ['GET', '/b?cors', {}, { kind: 'GetBucketCors', bucket: 'b' }, 'read'],
  ['PUT', '/b?cors', {}, { kind: 'PutBucketCors', bucket: 'b' }, 'owner'],
  ['DELETE', '/b?cors', {}, { kind: 'DeleteBucketCors', bucket: 'b' }, 'owner'],
  ['GET', '/b?lifecycle', {}, { kind: 'GetBucketLifecycleConfiguration', bucket: 'b' }, 'read'],
  ['PUT', '/b?lifecycle', {}, { kind: 'PutBucketLifecycleConfiguration', bucket: 'b' }, 'owner'],
  ['DELETE', '/b?lifecycle', {}, { kind: 'DeleteBucketLifecycle', bucket: 'b' }, 'owner'],
  ['GET', '/b?acl', {}, { kind: 'GetBucketAcl', bucket: 'b' }, 'read'],
  ['PUT', '/b?acl', {}, { kind: 'PutBucketAcl', bucket: 'b' }, 'owner'],
  ['GET', '/b/k?acl', {}, { kind: 'GetObjectAcl', bucket: 'b', key: 'k' }, 'read'],
  ['GET', '/b/k?attributes', {}, { kind: 'GetObjectAttributes', bucket: 'b', key: 'k' }, 'read'],
  ['PUT', '/b/k?acl', {}, { kind: 'PutObjectAcl', bucket: 'b', key: 'k' }, 'write'],
  ['PUT', '/b/k', {}, { kind: 'PutObject', bucket: 'b', key: 'k' }, 'write'],
  ['PUT', '/b/a/b%20c', { 'x-amz-copy-source': 'b/k' }, { kind: 'CopyObject', bucket: 'b', key: 'a/b c' }, 'write'],
  ['DELETE', '/b/k', {}, { kind: 'DeleteObject', bucket: 'b', key: 'k' }, 'write'],
  ['GET', '/b/k', {}, { kind: 'GetObject', bucket: 'b', key: 'k', partNumber: undefined }, 'read'],
  ['GET', '/b/k?partNumber=2', {}, { kind: 'GetObject', bucket: 'b', key: 'k', partNumber: 2 }, 'read'],
  ['HEAD', '/b/k', {}, { kind: 'HeadObject', bucket: 'b', key: 'k', partNumber: undefined }, 'read'],
  ['POST', '/b/k?uploads', {}, { kind: 'CreateMultipartUpload', bucket: 'b', key: 'k' }, 'write'],
  ['GET', `/b/k?uploadId=${UPLOAD}`, {}, { kind: 'ListParts', bucket: 'b', key: 'k', uploadId }, 'read'],
  [
    'POST',
    `/b/k?uploadId=${UPLOAD}`,
    {},
    { kind: 'CompleteMultipartUpload', bucket: 'b', key: 'k', uploadId },
    'write',
  ],
  ['DELETE', `/b/k?uploadId=${UPLOAD}`, {}, { kind: 'AbortMultipartUpload', bucket: 'b', key: 'k', uploadId }, 'write'],
  [
    'PUT',
    `/b/k?partNumber=3&uploadId=${UPLOAD}`,
    {},
    { kind: 'UploadPart', bucket: 'b', key: 'k', uploadId, partNumber: 3 },
    'write',
  ],
  [
    'PUT',
    `/b/k?partNumber=10000&uploadId=${UPLOAD}`,
    { 'x-amz-copy-source': '/b/src' },
    { kind: 'UploadPartCopy', bucket: 'b', key: 'k', uploadId, partNumber: 10000 },
    'write',
  ],
  ['GET', '/b?tagging', {}, { kind: 'GetBucketTagging', bucket: 'b' }, 'read'],
  ['PUT', '/b?tagging', {}, { kind: 'PutBucketTagging', bucket: 'b' }, 'owner'],
  ['DELETE', '/b?tagging', {}, { kind: 'DeleteBucketTagging', bucket: 'b' }, 'owner'],
  ['GET', '/b/k?tagging', {}, { kind: 'GetObjectTagging', bucket: 'b', key: 'k' }, 'read'],
  ['PUT', '/b/k?tagging', {}, { kind: 'PutObjectTagging', bucket: 'b', key: 'k' }, 'write'],
  ['DELETE', '/b/k?tagging', {}, { kind: 'DeleteObjectTagging', bucket: 'b', key: 'k' }, 'write'],
  ['GET', '/b?object-lock', {}, { kind: 'GetObjectLockConfiguration', bucket: 'b' }, 'read'],
  ['PUT', '/b?object-lock', {}, { kind: 'PutObjectLockConfiguration', bucket: 'b' }, 'owner'],
  ['GET', '/b/k?retention', {}, { kind: 'GetObjectRetention', bucket: 'b', key: 'k' }, 'read'],
  ['PUT', '/b/k?retention', {}, { kind: 'PutObjectRetention', bucket: 'b', key: 'k' }, 'write'],
  ['GET', '/b/k?legal-hold', {}, { kind: 'GetObjectLegalHold', bucket: 'b', key: 'k' }, 'read'],
  ['PUT', '/b/k?legal-hold', {}, { kind: 'PutObjectLegalHold', bucket: 'b', key: 'k' }, 'write'],
];

/** [method, url, headers, S3 error code] */
const REFUSED: [string, string, Record<string, string>, string][] = [
  ['PUT', '/', {}, 'MethodNotAllowed'],
  ['PATCH', '/b', {}, 'MethodNotAllowed'],
  ['PATCH', '/b/k', {}, 'MethodNotAllowed'],
  ['GET', '/b?policy', {}, 'NotImplemented'],
  ['DELETE', '/b?object-lock', {}, 'NotImplemented'],
  ['DELETE', '/b?policy', {}, 'NotImplemented'],
  ['POST', '/b', {}, 'NotImplemented'],
  ['GET', '/b/k?torrent', {}, 'NotImplemented'],
  ['POST', '/b/k', {}, 'NotImplemented'],
  ['GET', '/b/k?partNumber=0', {}, 'InvalidArgument'],
  ['GET', '/b/k?partNumber=1e3', {}, 'InvalidArgument'],
  ['PUT', `/b/k?partNumber=10001&uploadId=${UPLOAD}`, {}, 'InvalidArgument'],
  ['PUT', `/b/k?partNumber=&uploadId=${UPLOAD}`, {}, 'InvalidArgument'],
  ['PUT', '/b/k?partNumber=1&uploadId=nothex', {}, 'NoSuchUpload'],
  ['DELETE', '/b/k?uploadId=', {}, 'NoSuchUpload'],
];

function parse(method: string, url: string, headers: Record<string, string>, rootDomain?: string): S3Endpoint {
  const [path, query = ''] = url.split('?') as [string, string?];
  const target = parseTarget(path, headers.host, rootDomain);
  return parseEndpoint(method, target, new URLSearchParams(query), headers);
}

describe('S3 router', () => {
  it('parses every endpoint with what it carries and the authorization it needs', () => {
    for (const [method, url, headers, want, need] of ROWS) {
      const ep = parse(method, url, headers);
      assert.deepEqual(ep, want, `${method} ${url}`);
      assert.equal(authorization(ep), need, `${method} ${url}`);
    }
  });

  it('covers every endpoint kind', () => {
    const kinds = new Set(ROWS.map((r) => r[3].kind));
    assert.equal(kinds.size, 49);
  });

  it('refuses what it does not implement, and bad part numbers and upload ids, with the S3 error', () => {
    for (const [method, url, headers, code] of REFUSED) {
      assert.throws(
        () => parse(method, url, headers),
        (e: unknown) => e instanceof S3Error && e.code === code,
        `${method} ${url} → ${code}`,
      );
    }
  });

  it('takes the bucket from the Host under root_domain (vhost style), else from the path', () => {
    assert.deepEqual(parse('GET', '/k%2Fx', { host: 'pics.s3.example.org:3900' }, '.s3.example.org'), {
      kind: 'GetObject',
      bucket: 'pics',
      key: 'k/x',
      partNumber: undefined,
    });
    assert.deepEqual(parse('GET', '/', { host: 'pics.s3.example.org' }, 's3.example.org'), {
      kind: 'ListObjects',
      bucket: 'pics',
    });
    assert.deepEqual(parse('GET', '/pics/k', { host: 's3.example.org' }, '.s3.example.org'), {
      kind: 'GetObject',
      bucket: 'pics',
      key: 'k',
      partNumber: undefined,
    });
  });

  it('keeps keys byte for byte (spaces, trailing slashes, encoded characters)', () => {
    for (const key of [' k', 'k ', 'a/', 'a//b', 'ü%+<&>', '0012']) {
      const ep = parse('PUT', `/b/${encodeURIComponent(key).replace(/%2F/g, '/')}`, {});
      assert.deepEqual(ep, { kind: 'PutObject', bucket: 'b', key });
    }
  });
});
