/** The admin endpoint's request schema: what the CLI sends is accepted, anything else refused. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { adminRequestSchema } from '../../src/rpc/admin_protocol.ts';

it('accepts the requests the CLI sends, nested all-nodes included', () => {
  for (const req of [
    { op: 'status' },
    { op: 'layout-assign', nodes: ['abc'], zone: 'dc1', capacity: 1e9, tags: ['a'] },
    { op: 'layout-config', zoneRedundancy: 'maximum' },
    { op: 'bucket-set-quotas', bucket: 'b', maxSize: null, maxObjects: 10 },
    { op: 'all-nodes', req: { op: 'repair', what: 'block-rc' } },
  ])
    assert.equal(adminRequestSchema.safeParse(req).success, true, JSON.stringify(req));
});

it('refuses malformed requests: unknown op, missing or mistyped fields, bad nested request', () => {
  for (const req of [
    null,
    'status',
    { op: 'format-disk' },
    { op: 'bucket-info' },
    { op: 'bucket-info', name: 3 },
    { op: 'repair', what: 'everything' },
    { op: 'layout-apply', version: -1 },
    { op: 'all-nodes', req: { op: 'all-nodes', req: { op: 'nope' } } },
  ])
    assert.equal(adminRequestSchema.safeParse(req).success, false, JSON.stringify(req));
});
