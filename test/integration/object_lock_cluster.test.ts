/**
 * Object lock on a 3-node cluster (rf 3): a COMPLIANCE-locked version survives every delete path
 * (S3 DeleteObject and DeleteObjects with the bypass header, shortening its retention, lifecycle,
 * S3 DeleteBucket, the CLI's `bucket delete` and `block purge`, the admin API's DeleteBucket and
 * PurgeBlocks) while one node is killed and then restarted; a retention extended while it was down
 * reaches it; after its date the version can be deleted.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  PutBucketLifecycleConfigurationCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { freePort, getBytes, s3Client, s3Error, startCluster, waitFor, type GarageProcess } from './harness.ts';

const ADMIN = 'lock-admin-token';
const BUCKET = 'vault';
const BODY = Buffer.alloc(100_000, 'L');
const DAY = 86_400_000;

describe('object lock on a cluster: no path deletes a COMPLIANCE-locked version before its date', () => {
  let nodes: GarageProcess[] = [];
  let adminPorts: number[] = [];
  let s3: S3Client[] = [];
  /** The version locked for a day: the target of every delete path. */
  let kept = '';
  let keptUntil = new Date(0);
  /** A version locked for a few seconds: deleted once its date passes. */
  let brief = '';
  let briefUntil = new Date(0);

  /** An admin API call to node i: a GET without a body, else a POST of `body` as JSON. */
  const admin = async (i: number, op: string, query: Record<string, string>, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${adminPorts[i]}/v2/${op}?${new URLSearchParams(query)}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json', connection: 'close' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const versionsOf = async (c: S3Client, key: string) =>
    ((await c.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: key }))).Versions ?? [])
      .filter((v) => v.Key === key)
      .map((v) => v.VersionId);
  /** Every refusal a locked version must meet, through the nodes that are up. */
  const refusals = async (up: number[]) => {
    for (const i of up) {
      const c = s3[i]!;
      await s3Error(
        c.send(
          new DeleteObjectCommand({ Bucket: BUCKET, Key: 'kept', VersionId: kept, BypassGovernanceRetention: true }),
        ),
        'AccessDenied',
        403,
      );
      const batch = await c.send(
        new DeleteObjectsCommand({
          Bucket: BUCKET,
          BypassGovernanceRetention: true,
          Delete: { Objects: [{ Key: 'kept', VersionId: kept }] },
        }),
      );
      assert.equal(batch.Errors?.[0]?.Code, 'AccessDenied');
      await s3Error(
        c.send(
          new PutObjectRetentionCommand({
            Bucket: BUCKET,
            Key: 'kept',
            VersionId: kept,
            BypassGovernanceRetention: true,
            Retention: { Mode: 'GOVERNANCE', RetainUntilDate: new Date(Date.now() + 60_000) },
          }),
        ),
        'AccessDenied',
        403,
      );
      await s3Error(c.send(new DeleteBucketCommand({ Bucket: BUCKET })), 'BucketNotEmpty', 409);
    }
    const g = nodes[up[0]!]!;
    const del = await g.cli('bucket', 'delete', '--yes', BUCKET);
    assert.notEqual(del.code, 0, del.stdout);
    const info = JSON.parse(await g.cliOk('bucket', 'inspect-object', BUCKET, 'kept')) as {
      versions: { uuid: string; blocks: { hash: string }[] }[];
    };
    const hashes = [...new Set(info.versions.flatMap((v) => v.blocks.map((b) => b.hash)))];
    assert.ok(hashes.length > 0, 'the locked version has blocks');
    const purge = await g.cli('block', 'purge', '--yes', ...hashes);
    assert.notEqual(purge.code, 0, purge.stdout);
    assert.match(purge.stderr, /object lock/);
    const bucketId = (
      JSON.parse((await admin(up[0]!, 'GetBucketInfo', { globalAlias: BUCKET })).text) as { id: string }
    ).id;
    assert.equal((await admin(up[0]!, 'DeleteBucket', { id: bucketId }, {})).status, 409);
    const purged = await admin(up[0]!, 'PurgeBlocks', { node: 'self' }, hashes);
    assert.match(purged.text, /object lock/);
    for (const i of up) {
      assert.ok((await versionsOf(s3[i]!, 'kept')).includes(kept), `node ${i} lists the locked version`);
      assert.deepEqual(
        Buffer.from(
          await (
            await s3[i]!.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'kept', VersionId: kept }))
          ).Body!.transformToByteArray(),
        ),
        BODY,
      );
    }
  };

  before(async () => {
    adminPorts = [await freePort(), await freePort(), await freePort()];
    const c = await startCluster(
      [
        { zone: 'a', capacity: 1 },
        { zone: 'b', capacity: 1 },
        { zone: 'c', capacity: 1 },
      ],
      {
        bucket: 'plain',
        env: { GARAGE_LIFECYCLE_DAY_MS: '1000', GARAGE_LIFECYCLE_INTERVAL_MS: '300' },
        extra: (i) => `[admin]\napi_bind_addr = "127.0.0.1:${adminPorts[i]}"\nadmin_token = "${ADMIN}"\n`,
      },
    );
    nodes = c.nodes;
    s3 = nodes.map((n) => s3Client(n, c.keyId, c.secret));
    await nodes[0]!.cliOk('key', 'allow', '--create-bucket', c.keyId);
    await s3[0]!.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }));
    await waitFor('the locked bucket on every node', async () => {
      for (const n of nodes) if ((await n.cli('bucket', 'info', BUCKET)).code !== 0) return false;
      return true;
    });
  });
  after(async () => {
    for (const c of s3) c.destroy();
    await Promise.all(nodes.map((n) => n.destroy()));
  });

  it('survives S3, lifecycle, CLI and admin API deletes, with a node killed and restarted in the middle', async () => {
    keptUntil = new Date(Date.now() + DAY);
    kept = (
      await s3[0]!.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'kept',
          Body: BODY,
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: keptUntil,
        }),
      )
    ).VersionId!;
    briefUntil = new Date(Date.now() + 8000);
    brief = (
      await s3[1]!.send(
        new PutObjectCommand({
          Bucket: BUCKET,
          Key: 'brief',
          Body: BODY,
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: briefUntil,
        }),
      )
    ).VersionId!;
    await s3Error(
      s3[2]!.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'brief', VersionId: brief })),
      'AccessDenied',
      403,
    );
    await refusals([0, 1, 2]);

    await nodes[2]!.kill('SIGKILL');
    // While node 2 is down: the locked version is made noncurrent under a lifecycle rule that
    // expires noncurrent versions after a (1 s) day; an unlocked one beside it shows the rule ran.
    await s3[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'kept', Body: 'newer' }));
    const plainOld = (await s3[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'unlocked', Body: 'a' })))
      .VersionId;
    await s3[0]!.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'unlocked', Body: 'b' }));
    await s3[0]!.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: BUCKET,
        LifecycleConfiguration: {
          Rules: [
            { ID: 'nc', Status: 'Enabled', Filter: { Prefix: '' }, NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
          ],
        },
      }),
    );
    await waitFor(
      'lifecycle to expire the unlocked noncurrent version',
      async () => !(await versionsOf(s3[0]!, 'unlocked')).includes(plainOld),
    );
    // Extending is allowed, and must reach node 2 once it is back.
    keptUntil = new Date(keptUntil.getTime() + DAY);
    await s3[1]!.send(
      new PutObjectRetentionCommand({
        Bucket: BUCKET,
        Key: 'kept',
        VersionId: kept,
        Retention: { Mode: 'COMPLIANCE', RetainUntilDate: keptUntil },
      }),
    );
    await refusals([0, 1]);

    await nodes[2]!.start();
    await waitFor('node 2 to answer S3 again', async () => (await versionsOf(s3[2]!, 'kept')).includes(kept));
    const r = await s3[2]!.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key: 'kept', VersionId: kept }));
    assert.equal(r.Retention?.Mode, 'COMPLIANCE');
    assert.equal(r.Retention?.RetainUntilDate?.getTime(), keptUntil.getTime());
    await refusals([2, 0]);
    assert.deepEqual(await getBytes(s3[2]!, BUCKET, 'kept'), Buffer.from('newer'));
  });

  it('once its date has passed, the briefly locked version can be deleted', async () => {
    await waitFor('the brief retention to lapse', () => Date.now() > briefUntil.getTime() + 100, 60_000);
    await s3[2]!.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'brief', VersionId: brief }));
    await s3Error(
      s3[0]!.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'brief', VersionId: brief })),
      'NoSuchVersion',
      404,
    );
    assert.deepEqual(await versionsOf(s3[1]!, 'brief'), []);
  });
});
