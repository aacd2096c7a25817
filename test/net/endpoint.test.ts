import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { call, endpoint, serve, zBuf, type RpcTransport } from '../../src/net/endpoint.ts';
import type { RpcHandler } from '../../src/net/rpc_types.ts';

/** A transport that calls its own handlers (what a loopback call does). */
function loopback(): RpcTransport {
  const handlers = new Map<string, RpcHandler>();
  return {
    id: 'a'.repeat(64),
    register: (name, h) => void handlers.set(name, h),
    call: async (_to, name, body) => {
      const h = handlers.get(name);
      if (!h) throw new Error(`no handler for ${name}`);
      return h('b'.repeat(64), body, undefined, new AbortController().signal);
    },
  };
}

const ECHO = endpoint('test/echo', z.object({ hash: zBuf, n: z.number().int() }), z.object({ n: z.number() }));

test('a typed endpoint gives the handler a checked request and the caller a checked answer', async () => {
  const rpc = loopback();
  serve(rpc, ECHO, async (_from, m) => ({ n: m.n + m.hash.length }));
  const r = await call(rpc, 'x', ECHO, { hash: Buffer.alloc(32), n: 1 });
  assert.equal(r.body.n, 33);
});

test('a malformed request from a peer is refused with a clear error, and the handler never runs', async () => {
  const rpc = loopback();
  let ran = false;
  serve(rpc, ECHO, async () => {
    ran = true;
    return { n: 0 };
  });
  await assert.rejects(
    rpc.call('x', ECHO.name, { hash: 'not bytes', n: 1.5 }),
    /malformed test\/echo request from bbbbbbbbbbbbbbbb: .*hash/,
  );
  assert.equal(ran, false);
});

test('a malformed answer is refused at the caller', async () => {
  const rpc = loopback();
  rpc.register(ECHO.name, async () => ({ body: { n: 'three' } }));
  await assert.rejects(call(rpc, 'x', ECHO, { hash: Buffer.alloc(1), n: 1 }), /malformed answer to test\/echo/);
});
