// Conditional-write claims (model/object_claim.ts) on three in-process nodes: what a replica
// grants, and that of concurrent conditional writers at most one completes.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { putObjectStream } from '../../src/api/s3/put.ts';
import { visibleVersion } from '../../src/model/object.ts';
import { CLAIM_LEASE_MS } from '../../src/model/object_claim.ts';
import { S3Error } from '../../src/api/common/s3_error.ts';
import { MemCluster } from '../support/mem_cluster.ts';

const bucketId = Buffer.alloc(32, 9);

describe('conditional-write claims on three in-process nodes', () => {
  let c: MemCluster;
  before(async () => {
    c = new MemCluster(3, { gcDelayMs: 50 });
    await c.start();
  });
  after(() => c.stop());

  it('a replica grants one live claim per key, only while the version is uploading and the condition holds', async () => {
    const m = c.nodes[0]!.model;
    const [u1, u2] = [randomBytes(16), randomBytes(16)];
    const key = 'votes';
    await m.object.insert({
      bucketId,
      key,
      versions: [u1, u2].map((uuid, i) => ({
        uuid,
        ts: 1000 + i,
        state: { t: 'uploading', multipart: true, headers: [] },
      })),
    });
    const absent = { t: 'absent' } as const;
    assert.equal(await m.claims.vote(bucketId, key, randomBytes(16), absent), 'conflict', 'an unknown version');
    assert.equal(await m.claims.vote(bucketId, key, u1, { t: 'etag', etags: ['*'] }), 'missing');
    const now = Date.now();
    assert.equal(await m.claims.vote(bucketId, key, u1, absent, now), 'granted');
    assert.equal(await m.claims.vote(bucketId, key, u1, absent, now), 'granted', 'a retry of the holder');
    assert.equal(await m.claims.vote(bucketId, key, u2, absent, now + 1), 'conflict');
    assert.equal(await m.claims.vote(bucketId, key, u2, absent, now + CLAIM_LEASE_MS), 'granted', 'a lapsed claim');
    await m.claims.release(bucketId, key, u1);
    assert.equal(
      await m.claims.vote(bucketId, key, u1, absent, now + CLAIM_LEASE_MS),
      'conflict',
      'not u2’s to release',
    );
    await m.claims.release(bucketId, key, u2);
    assert.equal(await m.claims.vote(bucketId, key, u1, absent), 'granted');
    await m.claims.release(bucketId, key, u1);
  });

  it('concurrent If-None-Match writers through different nodes: at most one completes, never a loser', async () => {
    for (let round = 0; round < 20; round++) {
      const key = `race/${round}`;
      const writers = round % 2 ? 3 : 2;
      const bodies = Array.from({ length: writers }, () => randomBytes(round % 4 < 2 ? 200 : 10_000));
      const results = await Promise.allSettled(
        bodies.map((b, i) =>
          putObjectStream({ model: c.nodes[i % 3]!.model, blockSize: 4096 }, bucketId, key, [], Readable.from([b]), {
            cond: { t: 'absent' },
          }),
        ),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      for (const r of results)
        if (r.status === 'rejected')
          assert.ok(
            r.reason instanceof S3Error && ['PreconditionFailed', 'ConditionalRequestConflict'].includes(r.reason.code),
            String(r.reason),
          );
      if (writers === 2) assert.equal(won.length, 1, `round ${round}`);
      else assert.ok(won.length <= 1, `round ${round}`);
      for (const n of c.nodes) {
        const v = visibleVersion(await n.model.object.get(bucketId, Buffer.from(key)));
        if (won.length === 0) assert.equal(v, undefined);
        else {
          const w = results[won[0]!]!;
          assert.equal(v?.state.data.meta.etag, w.status === 'fulfilled' ? w.value.etag : '', `round ${round}`);
        }
      }
    }
  });
});
