/**
 * Object lock (issue 10) with the AWS SDK on one node: buckets created with object lock (and so
 * versioned, for good), Put/GetObjectLockConfiguration with a default retention, retention and
 * legal hold on PutObject, multipart and CopyObject and through their own calls, the headers
 * GET and HEAD answer, deletes by id refused while a lock holds (GOVERNANCE bypassed by the
 * bucket's owner only), and S3's error codes.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  PutObjectLegalHoldCommand,
  PutObjectLockConfigurationCommand,
  PutObjectRetentionCommand,
  UploadPartCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { RawS3, s3Error, useNode, xmlErrorCode } from './harness.ts';

describe('object lock', () => {
  const node = useNode('plain');
  let s3: S3Client;
  /** A key with write permission on the lock buckets, but not owner: it may not bypass GOVERNANCE. */
  let writer: S3Client;
  const hour = () => new Date(Date.now() + 3600_000);
  before(async () => {
    s3 = node.s3;
    await node.g.cliOk('key', 'allow', '--create-bucket', node.keyId);
    for (const Bucket of ['locked', 'locked-default'])
      await s3.send(new CreateBucketCommand({ Bucket, ObjectLockEnabledForBucket: true }));
    const out = await node.g.cliOk('key', 'new', '--name', 'writer');
    const keyId = /Key ID: (GK\w+)/.exec(out)![1]!;
    const secret = /Secret key: (\w+)/.exec(out)![1]!;
    await node.g.cliOk('bucket', 'allow', '--read', '--write', 'locked', '--key', keyId);
    writer = new S3Client({
      endpoint: node.g.endpoint,
      region: 'garage',
      forcePathStyle: true,
      credentials: { accessKeyId: keyId, secretAccessKey: secret },
      maxAttempts: 1,
    });
  });

  it('a bucket created with object lock is versioned for good and reports its configuration', async () => {
    const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'locked' }));
    assert.equal(conf.ObjectLockConfiguration?.ObjectLockEnabled, 'Enabled');
    assert.equal(conf.ObjectLockConfiguration?.Rule, undefined);
    await s3Error(
      s3.send(new PutBucketVersioningCommand({ Bucket: 'locked', VersioningConfiguration: { Status: 'Suspended' } })),
      'InvalidBucketState',
      409,
    );
    await s3Error(
      s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'plain' })),
      'ObjectLockConfigurationNotFoundError',
      404,
    );
    // Object lock on an unversioned bucket, or a retention in a bucket without it: refused.
    await s3Error(
      s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: 'plain',
          ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' },
        }),
      ),
      'InvalidBucketState',
      409,
    );
    await s3Error(
      s3.send(
        new PutObjectCommand({
          Bucket: 'plain',
          Key: 'k',
          Body: 'x',
          ObjectLockMode: 'GOVERNANCE',
          ObjectLockRetainUntilDate: hour(),
        }),
      ),
      'InvalidRequest',
      400,
    );
  });

  it('the default retention applies to new versions; an explicit one overrides it', async () => {
    await s3.send(
      new PutObjectLockConfigurationCommand({
        Bucket: 'locked-default',
        ObjectLockConfiguration: {
          ObjectLockEnabled: 'Enabled',
          Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 2 } },
        },
      }),
    );
    const conf = await s3.send(new GetObjectLockConfigurationCommand({ Bucket: 'locked-default' }));
    assert.deepEqual(conf.ObjectLockConfiguration?.Rule?.DefaultRetention, { Mode: 'GOVERNANCE', Days: 2 });
    const v = await s3.send(new PutObjectCommand({ Bucket: 'locked-default', Key: 'd', Body: 'x' }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'locked-default', Key: 'd', VersionId: v.VersionId }));
    assert.equal(head.ObjectLockMode, 'GOVERNANCE');
    const days = (head.ObjectLockRetainUntilDate!.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 1.99 && days <= 2, `retained for ${days} days`);
    const until = hour();
    const c = await s3.send(
      new PutObjectCommand({
        Bucket: 'locked-default',
        Key: 'c',
        Body: 'x',
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: until,
      }),
    );
    const r = await s3.send(
      new GetObjectRetentionCommand({ Bucket: 'locked-default', Key: 'c', VersionId: c.VersionId }),
    );
    assert.equal(r.Retention?.Mode, 'COMPLIANCE');
    assert.equal(r.Retention?.RetainUntilDate?.getTime(), until.getTime());
    await s3Error(
      s3.send(
        new PutObjectLockConfigurationCommand({
          Bucket: 'locked-default',
          ObjectLockConfiguration: {
            ObjectLockEnabled: 'Enabled',
            Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 0 } },
          },
        }),
      ),
      'InvalidArgument',
      400,
    );
  });

  it('COMPLIANCE: no delete by id, no shortening, no change of mode, bypass or not; a delete marker is fine', async () => {
    const until = hour();
    const v = await s3.send(
      new PutObjectCommand({
        Bucket: 'locked',
        Key: 'c',
        Body: 'keep me',
        ObjectLockMode: 'COMPLIANCE',
        ObjectLockRetainUntilDate: until,
      }),
    );
    const id = v.VersionId!;
    await s3Error(s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'c', VersionId: id })), 'AccessDenied', 403);
    await s3Error(
      s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'c', VersionId: id, BypassGovernanceRetention: true })),
      'AccessDenied',
      403,
    );
    const many = await s3.send(
      new DeleteObjectsCommand({ Bucket: 'locked', Delete: { Objects: [{ Key: 'c', VersionId: id }] } }),
    );
    assert.deepEqual(
      many.Errors?.map((e) => e.Code),
      ['AccessDenied'],
    );
    for (const Retention of [
      { Mode: 'COMPLIANCE' as const, RetainUntilDate: new Date(until.getTime() - 60_000) },
      { Mode: 'GOVERNANCE' as const, RetainUntilDate: new Date(until.getTime() + 60_000) },
    ])
      await s3Error(
        s3.send(
          new PutObjectRetentionCommand({
            Bucket: 'locked',
            Key: 'c',
            VersionId: id,
            Retention,
            BypassGovernanceRetention: true,
          }),
        ),
        'AccessDenied',
        403,
      );
    // Extending it is allowed.
    const later = new Date(until.getTime() + 3600_000);
    await s3.send(
      new PutObjectRetentionCommand({
        Bucket: 'locked',
        Key: 'c',
        VersionId: id,
        Retention: { Mode: 'COMPLIANCE', RetainUntilDate: later },
      }),
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'locked', Key: 'c', VersionId: id }));
    assert.equal(head.ObjectLockRetainUntilDate?.getTime(), later.getTime());
    // A delete without an id writes a marker; the version stays.
    const m = await s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'c' }));
    assert.equal(m.DeleteMarker, true);
    await s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'c', VersionId: m.VersionId }));
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'locked', Key: 'c' }))).VersionId, id);
  });

  it('GOVERNANCE: deletes and shortening need x-amz-bypass-governance-retention from a key that owns the bucket', async () => {
    const v = await s3.send(
      new PutObjectCommand({
        Bucket: 'locked',
        Key: 'g',
        Body: 'x',
        ObjectLockMode: 'GOVERNANCE',
        ObjectLockRetainUntilDate: hour(),
      }),
    );
    const id = v.VersionId!;
    await s3Error(s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'g', VersionId: id })), 'AccessDenied', 403);
    await s3Error(
      writer.send(
        new DeleteObjectCommand({ Bucket: 'locked', Key: 'g', VersionId: id, BypassGovernanceRetention: true }),
      ),
      'AccessDenied',
      403,
    );
    await s3Error(
      writer.send(new PutObjectRetentionCommand({ Bucket: 'locked', Key: 'g', VersionId: id, Retention: {} })),
      'AccessDenied',
      403,
    );
    await s3.send(
      new DeleteObjectCommand({ Bucket: 'locked', Key: 'g', VersionId: id, BypassGovernanceRetention: true }),
    );
    await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'locked', Key: 'g', VersionId: id })), 'NotFound', 404);
  });

  it('legal hold: on PutObject, multipart and CopyObject, or set later; a held version cannot be deleted until released', async () => {
    const put = await s3.send(
      new PutObjectCommand({ Bucket: 'locked', Key: 'h', Body: 'held', ObjectLockLegalHoldStatus: 'ON' }),
    );
    const up = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: 'locked', Key: 'mp', ObjectLockLegalHoldStatus: 'ON' }),
    );
    const part = await s3.send(
      new UploadPartCommand({ Bucket: 'locked', Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: 'parts' }),
    );
    const mp = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'locked',
        Key: 'mp',
        UploadId: up.UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    const copy = await s3.send(
      new CopyObjectCommand({ Bucket: 'locked', Key: 'cp', CopySource: 'locked/h', ObjectLockLegalHoldStatus: 'ON' }),
    );
    // A copy does not inherit its source's lock.
    const plainCopy = await s3.send(new CopyObjectCommand({ Bucket: 'locked', Key: 'cp2', CopySource: 'locked/h' }));
    assert.equal(
      (await s3.send(new HeadObjectCommand({ Bucket: 'locked', Key: 'cp2' }))).ObjectLockLegalHoldStatus,
      undefined,
    );
    await s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'cp2', VersionId: plainCopy.VersionId }));
    for (const [Key, VersionId] of [
      ['h', put.VersionId],
      ['mp', mp.VersionId],
      ['cp', copy.VersionId],
    ] as const) {
      assert.equal((await s3.send(new HeadObjectCommand({ Bucket: 'locked', Key }))).ObjectLockLegalHoldStatus, 'ON');
      assert.equal(
        (await s3.send(new GetObjectLegalHoldCommand({ Bucket: 'locked', Key, VersionId }))).LegalHold?.Status,
        'ON',
      );
      await s3Error(
        s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key, VersionId, BypassGovernanceRetention: true })),
        'AccessDenied',
        403,
      );
      await s3.send(new PutObjectLegalHoldCommand({ Bucket: 'locked', Key, VersionId, LegalHold: { Status: 'OFF' } }));
      await s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key, VersionId }));
    }
    const v = await s3.send(new PutObjectCommand({ Bucket: 'locked', Key: 'later', Body: 'x' }));
    await s3Error(
      s3.send(new GetObjectLegalHoldCommand({ Bucket: 'locked', Key: 'later' })),
      'NoSuchObjectLockConfiguration',
      404,
    );
    await s3.send(new PutObjectLegalHoldCommand({ Bucket: 'locked', Key: 'later', LegalHold: { Status: 'ON' } }));
    await s3Error(
      s3.send(new DeleteObjectCommand({ Bucket: 'locked', Key: 'later', VersionId: v.VersionId })),
      'AccessDenied',
      403,
    );
  });

  it('malformed lock headers and documents get S3 errors', async () => {
    const raw = new RawS3(node.g, node.keyId, node.secret);
    const past = new Date(Date.now() - 1000).toISOString();
    const rows: [Record<string, string>, string][] = [
      [{ 'x-amz-object-lock-mode': 'COMPLIANCE' }, 'InvalidArgument'],
      [{ 'x-amz-object-lock-retain-until-date': hour().toISOString() }, 'InvalidArgument'],
      [{ 'x-amz-object-lock-mode': 'COMPLIANCE', 'x-amz-object-lock-retain-until-date': past }, 'InvalidArgument'],
      [
        { 'x-amz-object-lock-mode': 'FOREVER', 'x-amz-object-lock-retain-until-date': hour().toISOString() },
        'InvalidArgument',
      ],
      [{ 'x-amz-object-lock-mode': 'GOVERNANCE', 'x-amz-object-lock-retain-until-date': 'soon' }, 'InvalidArgument'],
      [{ 'x-amz-object-lock-legal-hold': 'MAYBE' }, 'InvalidArgument'],
    ];
    for (const [headers, code] of rows) {
      const r = await raw.send('PUT', '/locked/x', {}, headers, Buffer.from('x'));
      assert.equal(r.status, 400, JSON.stringify(headers));
      assert.equal(xmlErrorCode(r.body), code, JSON.stringify(headers));
    }
    const doc = (xml: string) => Buffer.from(xml);
    for (const [query, body] of [
      [{ retention: '' }, doc('<Retention><Mode>COMPLIANCE</Mode></Retention>')],
      [
        { retention: '' },
        doc('<Retention><Mode>X</Mode><RetainUntilDate>2099-01-01T00:00:00Z</RetainUntilDate></Retention>'),
      ],
      [{ 'legal-hold': '' }, doc('<LegalHold><Status>on</Status></LegalHold>')],
      [{ 'legal-hold': '' }, doc('<LegalHold>')],
    ] as const) {
      const r = await raw.send('PUT', '/locked/later', query, {}, body);
      assert.equal(r.status, 400, body.toString());
    }
    await s3Error(s3.send(new GetObjectRetentionCommand({ Bucket: 'locked', Key: 'nothing-here' })), 'NoSuchKey', 404);
  });
});
