// ACLs (AWS SDK v3): the owner's FULL_CONTROL is read back; `private` is accepted; any grant
// beyond the owner is refused with NotImplemented and changes nothing.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  HeadObjectCommand,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Error, useNode } from './harness.ts';

const BUCKET = 'acl';

describe('ACLs', () => {
  let s3: S3Client;
  let keyId: string;

  const node = useNode(BUCKET);
  before(async () => {
    ({ s3, keyId } = node);
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'o', Body: 'x' }));
  });

  it('GetBucketAcl and GetObjectAcl give the owner FULL_CONTROL', async () => {
    for (const r of [
      await s3.send(new GetBucketAclCommand({ Bucket: BUCKET })),
      await s3.send(new GetObjectAclCommand({ Bucket: BUCKET, Key: 'o' })),
    ]) {
      assert.equal(r.Owner?.ID, keyId);
      assert.equal(r.Grants?.length, 1);
      assert.equal(r.Grants![0]!.Permission, 'FULL_CONTROL');
      assert.equal(r.Grants![0]!.Grantee?.ID, keyId);
      assert.equal(r.Grants![0]!.Grantee?.Type, 'CanonicalUser');
    }
    await s3Error(s3.send(new GetObjectAclCommand({ Bucket: BUCKET, Key: 'missing' })), 'NoSuchKey', 404);
  });

  it('private and bucket-owner-full-control are accepted, on writes and as PutBucketAcl/PutObjectAcl', async () => {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'p', Body: 'y', ACL: 'private' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'q', Body: 'y', ACL: 'bucket-owner-full-control' }));
    await s3.send(new PutBucketAclCommand({ Bucket: BUCKET, ACL: 'private' }));
    await s3.send(new PutObjectAclCommand({ Bucket: BUCKET, Key: 'o', ACL: 'private' }));
    const owner = { ID: keyId };
    await s3.send(
      new PutObjectAclCommand({
        Bucket: BUCKET,
        Key: 'o',
        AccessControlPolicy: {
          Owner: owner,
          Grants: [{ Grantee: { Type: 'CanonicalUser', ID: keyId }, Permission: 'FULL_CONTROL' }],
        },
      }),
    );
  });

  it('public grants are refused with 501 NotImplemented and nothing is written', async () => {
    await s3Error(
      s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'pub', Body: 'z', ACL: 'public-read' })),
      'NotImplemented',
      501,
    );
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'pub' })), 'NotFound', 404);
    await s3Error(
      s3.send(new PutBucketAclCommand({ Bucket: BUCKET, ACL: 'public-read-write' })),
      'NotImplemented',
      501,
    );
    await s3Error(
      s3.send(
        new PutObjectAclCommand({
          Bucket: BUCKET,
          Key: 'o',
          GrantRead: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"',
        }),
      ),
      'NotImplemented',
      501,
    );
    await s3Error(
      s3.send(
        new PutBucketAclCommand({
          Bucket: BUCKET,
          AccessControlPolicy: {
            Owner: { ID: keyId },
            Grants: [
              {
                Grantee: { Type: 'Group', URI: 'http://acs.amazonaws.com/groups/global/AllUsers' },
                Permission: 'READ',
              },
            ],
          },
        }),
      ),
      'NotImplemented',
      501,
    );
    await s3Error(
      s3.send(new CreateBucketCommand({ Bucket: 'acl-public', ACL: 'public-read' })),
      'NotImplemented',
      501,
    );
  });
});
