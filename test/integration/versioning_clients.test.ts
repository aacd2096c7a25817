/**
 * Real clients on a versioned bucket (issue 10): restic backs up, prunes (its deletes become
 * delete markers) and restores; rclone lists old versions with --s3-versions and reads the bucket
 * as it was with --s3-version-at.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { ListObjectVersionsCommand, PutBucketVersioningCommand, type S3Client } from '@aws-sdk/client-s3';
import { run, useNode, waitFor } from './harness.ts';

const RCLONE = '/usr/bin/rclone';
const RESTIC = '/usr/bin/restic';
const BUCKET = 'backups';

describe('versioned bucket with restic and rclone', () => {
  const node = useNode(BUCKET);
  let s3: S3Client;
  let work: string;
  before(async () => {
    s3 = node.s3;
    work = mkdtempSync(join(tmpdir(), 'garage-vclients-'));
    await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const versions = async (Prefix: string) => {
    const r = await s3.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix }));
    return { versions: r.Versions ?? [], markers: r.DeleteMarkers ?? [] };
  };

  it('restic: init, two backups, forget --prune, check --read-data, restore; what it deleted stays as versions', async () => {
    const dir = join(work, 'src');
    mkdirSync(join(dir, 'a'), { recursive: true });
    writeFileSync(join(dir, 'a', 'one.txt'), 'first\n');
    writeFileSync(join(dir, 'rand.bin'), randomBytes(3 * 1024 * 1024));
    const env = {
      AWS_ACCESS_KEY_ID: node.keyId,
      AWS_SECRET_ACCESS_KEY: node.secret,
      AWS_DEFAULT_REGION: 'garage',
      RESTIC_REPOSITORY: `s3:${node.g.endpoint}/${BUCKET}/restic`,
      RESTIC_PASSWORD: 'correct horse battery staple',
      RESTIC_CACHE_DIR: join(work, 'restic-cache'),
    };
    const restic = async (...args: string[]) => {
      const r = await run(RESTIC, args, { env });
      assert.equal(r.code, 0, `restic ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await restic('init');
    await restic('backup', dir);
    writeFileSync(join(dir, 'a', 'one.txt'), 'second\n');
    writeFileSync(join(dir, 'rand.bin'), randomBytes(2 * 1024 * 1024));
    await restic('backup', dir);
    await restic('forget', '--keep-last', '1', '--prune');
    await restic('check', '--read-data');
    const out = join(work, 'restored');
    await restic('restore', 'latest', '--target', out);
    assert.equal(readFileSync(join(out, dir, 'a', 'one.txt'), 'utf8'), 'second\n');
    assert.ok(readFileSync(join(out, dir, 'rand.bin')).equals(readFileSync(join(dir, 'rand.bin'))));
    // The snapshot restic forgot, its locks and pruned packs: deleted, yet still there as versions.
    const { versions: vs, markers } = await versions('restic/');
    assert.ok(markers.length > 0, 'restic deletes leave delete markers');
    const snapshots = vs.filter((v) => v.Key?.startsWith('restic/snapshots/'));
    assert.equal(snapshots.length, 2, 'both snapshot files are kept as versions');
    const forgotten = markers.filter((m) => m.Key?.startsWith('restic/snapshots/'));
    assert.equal(forgotten.length, 1, 'the forgotten snapshot is behind a delete marker');
    assert.equal(snapshots.find((v) => v.Key === forgotten[0]!.Key)?.IsLatest, false);
  });

  it('rclone: --s3-versions lists old versions, --s3-version-at reads the bucket as it was', async () => {
    const dir = join(work, 'rc');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'doc.txt'), 'version one');
    writeFileSync(join(dir, 'gone.txt'), 'deleted later');
    const env = {
      RCLONE_CONFIG_G_TYPE: 's3',
      RCLONE_CONFIG_G_PROVIDER: 'Other',
      RCLONE_CONFIG_G_ACCESS_KEY_ID: node.keyId,
      RCLONE_CONFIG_G_SECRET_ACCESS_KEY: node.secret,
      RCLONE_CONFIG_G_ENDPOINT: node.g.endpoint,
      RCLONE_CONFIG_G_REGION: 'garage',
      RCLONE_CONFIG_G_FORCE_PATH_STYLE: 'true',
      RCLONE_CONFIG: '/dev/null',
      AWS_CA_BUNDLE: '',
    };
    const rclone = async (...args: string[]) => {
      const r = await run(RCLONE, args, { env });
      assert.equal(r.code, 0, `rclone ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    await rclone('copy', dir, `g:${BUCKET}/rc`);
    // --s3-version-at has a resolution of a second: the second state starts in a later one.
    const between = new Date(Date.now() + 1000);
    await waitFor('a second to pass', () => Date.now() > between.getTime() + 1000, 5000);
    writeFileSync(join(dir, 'doc.txt'), 'version two, longer');
    await rclone('copy', dir, `g:${BUCKET}/rc`);
    await rclone('delete', `g:${BUCKET}/rc/gone.txt`);
    const now = await rclone('ls', `g:${BUCKET}/rc`);
    assert.match(now, /^\s*19 doc\.txt$/m);
    assert.doesNotMatch(now, /gone\.txt/);
    const all = await rclone('ls', '--s3-versions', `g:${BUCKET}/rc`);
    assert.match(all, /^\s*19 doc\.txt$/m);
    assert.match(all, /^\s*11 doc-v\d{4}-\d\d-\d\d-\d{6}-\d{3}\.txt$/m, all);
    assert.match(all, /^\s*13 gone-v\d{4}-\d\d-\d\d-\d{6}-\d{3}\.txt$/m, all);
    const then = join(work, 'rc-then');
    await rclone('copy', '--s3-version-at', between.toISOString(), `g:${BUCKET}/rc`, then);
    assert.equal(readFileSync(join(then, 'doc.txt'), 'utf8'), 'version one');
    assert.equal(readFileSync(join(then, 'gone.txt'), 'utf8'), 'deleted later');
  });
});
