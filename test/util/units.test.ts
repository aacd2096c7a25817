import { it } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, isoDate } from '../../src/util/units.ts';

it('reads durations as humantime writes them, and nothing else', () => {
  assert.equal(durationMs('6h'), 6 * 3600e3);
  assert.equal(durationMs('1d 12h'), 36 * 3600e3);
  assert.equal(durationMs('90min'), 90 * 60e3);
  assert.equal(durationMs('30 d'), 30 * 86400e3);
  assert.equal(durationMs('0s'), 0);
  for (const bad of ['', 'soon', '6', 'h', '5 parsecs', '1d-2h']) assert.equal(durationMs(bad), undefined, bad);
  assert.equal(isoDate(0), '1970-01-01T00:00:00.000Z');
});
