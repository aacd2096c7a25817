/** Stored rows are checked when decoded: from this node's disk or from a peer, a malformed one is refused. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { encodeVersioned } from '../../src/util/codec.ts';
import { GarageError } from '../../src/util/errors.ts';
import { objectSchema } from '../../src/model/object.ts';
import { keySchema, newKey } from '../../src/model/key.ts';
import { bucketSchema, newBucket } from '../../src/model/bucket.ts';

const hooks = { versionGone: () => undefined, countsChanged: () => undefined };

it('decodes what it encodes, and refuses rows of the wrong shape with the table named', () => {
  const schema = objectSchema(hooks);
  const e = {
    bucketId: Buffer.alloc(32, 1),
    key: 'a/b',
    versions: [
      {
        uuid: Buffer.alloc(16, 2),
        ts: 5,
        state: {
          t: 'complete' as const,
          data: {
            t: 'inline' as const,
            meta: { size: 1, etag: 'e', headers: [['content-type', 'x']] as [string, string][] },
            bytes: Buffer.from('x'),
          },
        },
      },
    ],
  };
  assert.deepEqual(schema.decode(schema.encode(e)), e);
  for (const bad of [
    [Buffer.alloc(32), 42, []],
    [Buffer.alloc(32), 'k', [[Buffer.alloc(16), 1, { t: 'exploded' }]]],
    [Buffer.alloc(32), 'k', [[Buffer.alloc(16), 1, { t: 'complete', data: { t: 'inline', meta: { size: 'big' } } }]]],
    'not a row',
  ])
    assert.throws(
      () => schema.decode(encodeVersioned(1, bad)),
      (err: unknown) => err instanceof GarageError && /malformed object row/.test(err.message),
      JSON.stringify(bad),
    );
  const b = newBucket(Buffer.alloc(32, 3));
  assert.deepEqual(bucketSchema.decode(bucketSchema.encode(b)), b);
});

it('reads access keys stored before creation dates and expiry existed (format 1)', () => {
  const k = newKey('old', `GK${'a'.repeat(24)}`, 'b'.repeat(64));
  const v1 = encodeVersioned(1, [k.id, k.secret, false, k.name, k.allowCreateBucket, k.buckets, k.localAliases]);
  const d = keySchema.decode(v1);
  assert.equal(d.created, 0);
  assert.deepEqual(d.expiration, { ts: 0, v: null });
  assert.equal(d.secret, k.secret);
  assert.deepEqual(keySchema.decode(keySchema.encode(k)), k);
});

it('reads buckets stored before bucket tagging (ten fields) with an empty tag set', () => {
  const b = newBucket(Buffer.alloc(32, 4));
  const old = encodeVersioned(1, [
    b.id,
    b.deleted,
    b.created,
    b.aliases,
    b.localAliases,
    b.keys,
    b.website,
    b.quotas,
    b.cors,
    b.lifecycle,
  ]);
  assert.deepEqual(bucketSchema.decode(old).tags, { ts: 0, v: [] });
  const tagged = { ...b, tags: { ts: 9, v: [['team', 'x']] as [string, string][] } };
  assert.deepEqual(bucketSchema.decode(bucketSchema.encode(tagged)).tags, tagged.tags);
});
