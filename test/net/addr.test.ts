import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatHostPort, parseHostPort, parsePeerAddr } from '../../src/net/addr.ts';

const ID = 'ab'.repeat(32);

test('parseHostPort handles names, IPv4 and bracketed IPv6', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:3901'), { host: '127.0.0.1', port: 3901 });
  assert.deepEqual(parseHostPort('[::]:3901'), { host: '::', port: 3901 });
  assert.deepEqual(parseHostPort('node1.example:0'), { host: 'node1.example', port: 0 });
  assert.throws(() => parseHostPort('::1:3901'), /\[addr\]:port/);
  assert.throws(() => parseHostPort('host'), /host:port/);
  assert.throws(() => parseHostPort('host:99999'), /out of range/);
  assert.throws(() => parseHostPort('host:abc'), /not a number/);
  assert.throws(() => parseHostPort('[nope]:1'), /not an IPv6/);
  assert.equal(formatHostPort('::1', 5), '[::1]:5');
  assert.equal(formatHostPort('10.0.0.1', 5), '10.0.0.1:5');
});

test('parsePeerAddr gives clear errors', () => {
  assert.deepEqual(parsePeerAddr(`${ID.toUpperCase()}@[::1]:3901`), { id: ID, addr: '[::1]:3901' });
  assert.deepEqual(parsePeerAddr(`${ID}@10.0.0.1:3901`), { id: ID, addr: '10.0.0.1:3901' });
  assert.throws(() => parsePeerAddr('10.0.0.1:3901'), /expected <node id>@<host>:<port>/);
  assert.throws(() => parsePeerAddr(`${ID.slice(2)}@10.0.0.1:3901`), /64 hex characters, got 62/);
  assert.throws(() => parsePeerAddr(`${'zz'.repeat(32)}@10.0.0.1:3901`), /non-hex/);
  assert.throws(() => parsePeerAddr(`${ID}@10.0.0.1`), /host:port/);
  assert.throws(() => parsePeerAddr(`${ID}@10.0.0.1:0`), /port 0/);
});
