import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ABSENT, checkHistory, type Write } from './history.ts';

const w = (id: number, value: string, start: number, end: number, outcome: Write['outcome'] = 'ok'): Write => ({
  id,
  key: 'k',
  values: [value],
  start,
  end,
  outcome,
  what: `put ${id}`,
});
const r = (value: string, start: number, end: number) => ({ key: 'k', value, start, end, what: 'get' });

test('a read of the last acknowledged write, or of a concurrent one, is allowed', () => {
  const writes = [w(1, 'a', 0, 10), w(2, 'b', 5, 20)];
  assert.deepEqual(checkHistory(writes, [r('a', 12, 13), r('b', 12, 13), r('b', 30, 31)]), []);
});

test('a stale read (a write wholly in between superseded it) is a violation', () => {
  const writes = [w(1, 'a', 0, 10), w(2, 'b', 11, 20)];
  assert.equal(checkHistory(writes, [r('a', 25, 26)]).length, 1);
  assert.equal(checkHistory(writes, [r(ABSENT, 25, 26)]).length, 1, 'an acknowledged write lost');
});

test('a value nobody wrote, or written by a refused write, is a violation', () => {
  assert.equal(checkHistory([w(1, 'a', 0, 10)], [r('z', 20, 21)]).length, 1);
  assert.equal(checkHistory([w(1, 'a', 0, 10, 'failed')], [r('a', 20, 21)]).length, 1);
  assert.deepEqual(checkHistory([w(1, 'a', 0, 10, 'unknown')], [r('a', 20, 21)]), []);
});

test('a read cannot see a write that started after it ended', () => {
  assert.equal(checkHistory([w(1, 'a', 10, 20)], [r('a', 0, 5)]).length, 1);
  assert.deepEqual(checkHistory([w(1, 'a', 10, 20)], [r(ABSENT, 0, 15)]), []);
});
