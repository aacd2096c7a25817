/** The admin API's request schemas: what Garage's clients send is accepted, anything else refused. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { CLUSTER_REQUESTS, LOCAL_REQUESTS, isAdminOp, isLocalOp } from '../../src/admin/api.ts';

it('accepts the requests of the contract', () => {
  const ok: [keyof typeof CLUSTER_REQUESTS, unknown][] = [
    ['GetClusterStatus', {}],
    [
      'UpdateClusterLayout',
      {
        body: {
          roles: [
            { id: 'ab', zone: 'dc1', capacity: 1e9, tags: ['a'] },
            { id: 'cd', remove: true },
          ],
        },
      },
    ],
    ['UpdateClusterLayout', { body: { parameters: { zoneRedundancy: 'maximum' } } }],
    ['UpdateClusterLayout', { body: { parameters: { zoneRedundancy: { atLeast: 2 } } } }],
    ['UpdateBucket', { id: 'x', body: { quotas: { maxSize: null, maxObjects: 10 } } }],
    [
      'CreateBucket',
      { body: { globalAlias: 'b', localAlias: { accessKeyId: 'GK1', alias: 'l', allow: { read: true } } } },
    ],
    ['AddBucketAlias', { body: { bucketId: 'x', globalAlias: 'y' } }],
    ['AddBucketAlias', { body: { bucketId: 'x', localAlias: 'y', accessKeyId: 'GK1' } }],
    ['CreateKey', { body: { name: 'k', expiration: '2030-01-01T00:00:00Z' } }],
    ['GetKeyInfo', { search: 'k', showSecretKey: true }],
    ['CreateAdminToken', { body: { name: 't', scope: ['ListBuckets'], neverExpires: true } }],
  ];
  for (const [op, req] of ok)
    assert.equal(CLUSTER_REQUESTS[op].safeParse(req).success, true, `${op} ${JSON.stringify(req)}`);
  assert.equal(LOCAL_REQUESTS.LaunchRepairOperation.safeParse({ repairType: { scrub: 'pause' } }).success, true);
  assert.equal(LOCAL_REQUESTS.RetryBlockResync.safeParse({ blockHashes: ['ab'] }).success, true);
  assert.equal(LOCAL_REQUESTS.PurgeBlocks.safeParse(['ab']).success, true);
});

it('refuses malformed requests: missing or mistyped fields, unknown enum values', () => {
  const bad: [keyof typeof CLUSTER_REQUESTS, unknown][] = [
    ['ApplyClusterLayout', { body: {} }],
    ['ApplyClusterLayout', { body: { version: -1 } }],
    ['UpdateClusterLayout', { body: { parameters: { zoneRedundancy: 'most' } } }],
    ['UpdateBucket', { body: {} }],
    ['UpdateBucket', { id: 'x', body: { quotas: { maxSize: -5 } } }],
    ['CreateKey', { body: { expiration: 'tomorrow' } }],
    ['DeleteKey', {}],
    ['ConnectClusterNodes', { body: 'a@b' }],
  ];
  for (const [op, req] of bad)
    assert.equal(CLUSTER_REQUESTS[op].safeParse(req).success, false, `${op} ${JSON.stringify(req)}`);
  assert.equal(LOCAL_REQUESTS.LaunchRepairOperation.safeParse({ repairType: 'everything' }).success, false);
  assert.equal(LOCAL_REQUESTS.LaunchRepairOperation.safeParse({ repairType: { scrub: 'faster' } }).success, false);
});

it('knows which names are operations and which run on nodes', () => {
  assert.equal(isAdminOp('ListBuckets'), true);
  assert.equal(isAdminOp('toString'), false);
  assert.equal(isAdminOp('FormatDisk'), false);
  assert.equal(isLocalOp('GetNodeInfo'), true);
  assert.equal(isLocalOp('ListBuckets'), false);
});
