import './quiet_logs.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NetApp } from '../../src/net/netapp.ts';
import { RemoteError } from '../../src/net/rpc_types.ts';
import { NetError } from '../../src/util/errors.ts';
import { consume, generator, nextEvent, startNode, waitFor, type TestNode } from './helpers.ts';

/** Two connected nodes: `b` dialed `a`. */
async function pair(): Promise<{ a: TestNode; b: TestNode; close: () => Promise<void> }> {
  const a = await startNode();
  const b = await startNode();
  await b.app.connect(a.app.id, a.addr);
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.app.close(), b.app.close()]);
    },
  };
}

function registerCommon(app: NetApp): void {
  app.register('echo', async (from, body) => ({ body: { from, body } }));
  app.register('fail', async () => {
    throw new TypeError('boom');
  });
  app.register('sink', async (_from, _body, stream) => ({ body: await consume(stream!) }));
  app.register('source', async (_from, body) => {
    const g = generator(body as number);
    return { body: null, stream: g.stream };
  });
  app.register('pipe', async (_from, _body, stream) => ({ body: 'echoing', stream: stream! }));
}

test('RPC round trip: msgpack bodies with Buffers, caller id, both directions on one connection', async () => {
  const { a, b, close } = await pair();
  try {
    registerCommon(a.app);
    registerCommon(b.app);
    const body = {
      buf: Buffer.from([1, 2, 3]),
      n: 5,
      s: 'x',
      nested: [null, true, -1.5],
      big: Buffer.alloc(3 * 1024 * 1024, 9),
    };
    const r = await b.app.call(a.app.id, 'echo', body);
    assert.deepEqual(r.body, { from: b.app.id, body });
    assert.ok(Buffer.isBuffer((r.body as { body: { buf: unknown } }).body.buf));
    assert.equal(r.stream, undefined);
    const back = await a.app.call(b.app.id, 'echo', 'hi', { priority: 'high' });
    assert.deepEqual(back.body, { from: a.app.id, body: 'hi' });
    assert.equal(a.app.connectionCount(), 1);
    assert.equal(b.app.connectionCount(), 1);
    assert.deepEqual(a.app.connectedPeers(), [b.app.id]);
    // Many concurrent calls are multiplexed and each gets its own answer.
    const many = await Promise.all(Array.from({ length: 500 }, (_, i) => b.app.call(a.app.id, 'echo', i)));
    for (const [i, m] of many.entries()) assert.equal((m.body as { body: number }).body, i);
  } finally {
    await close();
  }
});

test('remote errors, unknown endpoints and unconnected peers are NetErrors with the remote message', async () => {
  const { a, b, close } = await pair();
  try {
    registerCommon(a.app);
    await assert.rejects(b.app.call(a.app.id, 'fail', null), (e: unknown) => {
      assert.ok(e instanceof RemoteError && e instanceof NetError);
      assert.equal(e.message, 'boom');
      assert.equal(e.remoteName, 'TypeError');
      return true;
    });
    await assert.rejects(
      b.app.call(a.app.id, 'nope', null),
      (e: unknown) => e instanceof NetError && /unknown endpoint nope/.test(e.message),
    );
    await assert.rejects(
      b.app.call('cd'.repeat(32), 'echo', null),
      (e: unknown) => e instanceof NetError && /not connected/.test(e.message),
    );
    // The connection is still fine afterwards.
    assert.equal((await b.app.call(a.app.id, 'echo', 1)).body !== undefined, true);
  } finally {
    await close();
  }
});

test('connect is idempotent; simultaneous dials from both sides settle on one connection', async () => {
  for (let round = 0; round < 4; round++) {
    const a = await startNode();
    const b = await startNode();
    try {
      let aEvents = 0;
      let bEvents = 0;
      a.app.on('peer-connected', () => aEvents++);
      b.app.on('peer-connected', () => bEvents++);
      registerCommon(a.app);
      registerCommon(b.app);
      await Promise.all([
        a.app.connect(b.app.id, b.addr),
        b.app.connect(a.app.id, a.addr),
        a.app.connect(b.app.id, b.addr),
        b.app.connect(a.app.id, a.addr),
      ]);
      // Calls work at once, even while a duplicate is being retired.
      await Promise.all([a.app.call(b.app.id, 'echo', 1), b.app.call(a.app.id, 'echo', 2)]);
      await waitFor(
        () => a.app.connectionCount() === 1 && b.app.connectionCount() === 1,
        3000,
        'duplicate connection to close',
      );
      assert.equal(aEvents, 1);
      assert.equal(bEvents, 1);
      assert.ok(a.app.isConnected(b.app.id) && b.app.isConnected(a.app.id));
      await Promise.all([a.app.call(b.app.id, 'echo', 1), b.app.call(a.app.id, 'echo', 2)]);
      await b.app.connect(a.app.id, a.addr);
      assert.equal(b.app.connectionCount(), 1);
    } finally {
      await Promise.all([a.app.close(), b.app.close()]);
    }
  }
});

test('local dispatch: calling our own id skips the network with the same semantics', async () => {
  const a = await startNode();
  try {
    registerCommon(a.app);
    const buf = Buffer.from('abc');
    const r = await a.app.call(a.app.id, 'echo', { buf });
    const got = r.body as { from: string; body: { buf: Buffer } };
    assert.equal(got.from, a.app.id);
    assert.deepEqual(got.body.buf, buf);
    assert.notEqual(got.body.buf, buf, 'bodies are copied, as over the network');
    await assert.rejects(
      a.app.call(a.app.id, 'fail', null),
      (e: unknown) => e instanceof RemoteError && e.message === 'boom' && e.remoteName === 'TypeError',
    );
    await assert.rejects(a.app.call(a.app.id, 'nope', null), /unknown endpoint nope/);
    const g = generator(5 * 1024 * 1024 + 17);
    const s = await a.app.call(a.app.id, 'sink', null, { stream: g.stream });
    assert.deepEqual(s.body, { bytes: 5 * 1024 * 1024 + 17, hash: g.hash() });
    const src = await a.app.call(a.app.id, 'source', 3 * 1024 * 1024);
    assert.equal((await consume(src.stream!)).bytes, 3 * 1024 * 1024);
    let aborted = false;
    a.app.register(
      'hang',
      (_f, _b, _s, signal) =>
        new Promise(() =>
          signal.addEventListener('abort', () => {
            aborted = true;
          }),
        ),
    );
    await assert.rejects(
      a.app.call(a.app.id, 'hang', null, { timeoutMs: 100 }),
      (e: unknown) => e instanceof NetError && /timed out/.test(e.message),
    );
    assert.ok(aborted);
  } finally {
    await a.app.close();
  }
});

test('attached streams both ways: large transfers arrive intact', async () => {
  const { a, b, close } = await pair();
  try {
    registerCommon(a.app);
    const up = generator(48 * 1024 * 1024 + 12345, 100_000);
    const r = await b.app.call(a.app.id, 'sink', null, { stream: up.stream });
    assert.deepEqual(r.body, { bytes: 48 * 1024 * 1024 + 12345, hash: up.hash() });
    const down = await b.app.call(a.app.id, 'source', 48 * 1024 * 1024 + 1);
    const got = await consume(down.stream!);
    assert.equal(got.bytes, 48 * 1024 * 1024 + 1);
    // Request stream piped straight back as the response stream.
    const e = generator(8 * 1024 * 1024);
    const echoed = await b.app.call(a.app.id, 'pipe', null, { stream: e.stream });
    assert.equal(echoed.body, 'echoing');
    assert.deepEqual(await consume(echoed.stream!), { bytes: 8 * 1024 * 1024, hash: e.hash() });
    // A handler answering with a stream without reading the request stream:
    // once its answer is out, the caller's source is released.
    a.app.register('ignore-req', async () => ({ body: null, stream: generator(1024 * 1024).stream }));
    const ignored = generator(64 * 1024 * 1024);
    const ig = await b.app.call(a.app.id, 'ignore-req', null, { stream: ignored.stream });
    assert.equal((await consume(ig.stream!)).bytes, 1024 * 1024);
    await waitFor(() => ignored.destroyed(), 2000, 'unread request source to be released');
    assert.ok(ignored.produced() < 8 * 1024 * 1024);
    // Empty streams too.
    const empty = await b.app.call(a.app.id, 'sink', null, { stream: Readable.from([]) });
    assert.equal((empty.body as { bytes: number }).bytes, 0);
  } finally {
    await close();
  }
});

test('back-pressure on request streams: a slow callee stops the caller reading its source', async () => {
  const { a, b, close } = await pair();
  try {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const handlerStarted = new Promise<void>((r) => {
      started = r;
    });
    a.app.register('slow-sink', async (_f, _b, stream) => {
      started();
      await gate;
      return { body: await consume(stream!) };
    });
    const total = 64 * 1024 * 1024;
    const g = generator(total);
    const call = b.app.call(a.app.id, 'slow-sink', null, { stream: g.stream });
    await handlerStarted;
    await sleep(300);
    const producedWhileStalled = g.produced();
    // Window (1 MiB) + scheduler queue + a few stream buffers: nowhere near 64 MiB.
    assert.ok(
      producedWhileStalled < 4 * 1024 * 1024,
      `produced ${producedWhileStalled} bytes while the consumer was stalled`,
    );
    await sleep(100);
    assert.equal(g.produced(), producedWhileStalled, 'the producer stays stopped');
    release();
    assert.deepEqual((await call).body, { bytes: total, hash: g.hash() });
  } finally {
    await close();
  }
});

test('back-pressure on response streams: a slow caller stops the callee reading its source', async () => {
  const { a, b, close } = await pair();
  try {
    const total = 64 * 1024 * 1024;
    let g: ReturnType<typeof generator> | undefined;
    a.app.register('big-source', async () => {
      g = generator(total);
      return { body: null, stream: g.stream };
    });
    const r = await b.app.call(a.app.id, 'big-source', null);
    await sleep(300);
    const produced = g!.produced();
    assert.ok(produced < 4 * 1024 * 1024, `produced ${produced} bytes while the consumer was stalled`);
    const got = await consume(r.stream!);
    assert.deepEqual(got, { bytes: total, hash: g!.hash() });
  } finally {
    await close();
  }
});

test('priorities: a high-priority call is not held up by a 64 MiB background transfer', async (t) => {
  const { a, b, close } = await pair();
  try {
    registerCommon(a.app);
    a.app.register('ping', async () => ({ body: 'pong' }));
    const total = 64 * 1024 * 1024;
    const g = generator(total);
    const t0 = performance.now();
    let bulkDoneAt = 0;
    const bulk = b.app.call(a.app.id, 'sink', null, { stream: g.stream, priority: 'background' }).then((r) => {
      bulkDoneAt = performance.now();
      return r;
    });
    await waitFor(() => g.produced() >= 4 * 1024 * 1024, 5000, 'bulk transfer to start');
    const lat: number[] = [];
    while (bulkDoneAt === 0 && lat.length < 500) {
      const s = performance.now();
      const r = await b.app.call(a.app.id, 'ping', null, { priority: 'high' });
      assert.equal(r.body, 'pong');
      if (bulkDoneAt === 0) lat.push(performance.now() - s);
    }
    const res = await bulk;
    assert.deepEqual(res.body, { bytes: total, hash: g.hash() });
    const bulkMs = bulkDoneAt - t0;
    lat.sort((x, y) => x - y);
    const p50 = lat[Math.floor(lat.length / 2)] ?? Infinity;
    t.diagnostic(
      `bulk 64 MiB in ${bulkMs.toFixed(0)} ms; ${lat.length} high pings during it, p50 ${p50.toFixed(2)} ms, max ${lat[lat.length - 1]?.toFixed(2)} ms`,
    );
    assert.ok(lat.length >= 3, `only ${lat.length} pings completed before the bulk transfer ended`);
    assert.ok(p50 < Math.max(20, bulkMs / 10), `ping p50 ${p50} ms vs bulk ${bulkMs} ms`);
  } finally {
    await close();
  }
});

test('timeouts cancel the call on both sides and release the streams', async () => {
  const { a, b, close } = await pair();
  try {
    let remoteAborted = false;
    let remoteStreamError: Error | undefined;
    a.app.register('hang', async (_f, _b, stream, signal) => {
      signal.addEventListener('abort', () => {
        remoteAborted = true;
      });
      stream?.on('error', (e) => {
        remoteStreamError = e;
      });
      // Read a little, then stall forever.
      if (stream) for await (const _c of stream) break;
      return new Promise<never>(() => undefined);
    });
    const g = generator(64 * 1024 * 1024);
    const t0 = performance.now();
    await assert.rejects(
      b.app.call(a.app.id, 'hang', null, { timeoutMs: 200 }),
      (e: unknown) => e instanceof NetError && /timed out after 200 ms/.test(e.message),
    );
    const dt = performance.now() - t0;
    assert.ok(dt >= 190 && dt < 1500, `timed out after ${dt} ms`);
    await waitFor(() => remoteAborted, 2000, 'remote handler to be aborted');
    remoteAborted = false;
    await assert.rejects(b.app.call(a.app.id, 'hang', null, { timeoutMs: 200, stream: g.stream }), /timed out/);
    await waitFor(() => g.destroyed(), 2000, 'caller source to be released');
    await waitFor(() => remoteAborted, 2000, 'remote handler to be aborted');
    assert.ok(g.produced() < 8 * 1024 * 1024);
    void remoteStreamError;
    // Nothing lingers: the connection serves new calls.
    a.app.register('ok', async () => ({ body: 1 }));
    assert.equal((await b.app.call(a.app.id, 'ok', null)).body, 1);
  } finally {
    await close();
  }
});

test('abort signals cancel pending calls and response streams mid-transfer', async () => {
  const { a, b, close } = await pair();
  try {
    let remoteAborted = false;
    a.app.register(
      'hang',
      (_f, _b, _s, signal) =>
        new Promise(() =>
          signal.addEventListener('abort', () => {
            remoteAborted = true;
          }),
        ),
    );
    let g: ReturnType<typeof generator> | undefined;
    a.app.register('big-source', async () => {
      g = generator(1024 * 1024 * 1024);
      return { body: null, stream: g.stream };
    });
    const ac1 = new AbortController();
    const p = b.app.call(a.app.id, 'hang', null, { signal: ac1.signal });
    setTimeout(() => ac1.abort(), 50);
    await assert.rejects(p, (e: unknown) => e instanceof NetError && /aborted/.test(e.message));
    await waitFor(() => remoteAborted, 2000, 'remote handler to see the abort');

    const ac2 = new AbortController();
    const r = await b.app.call(a.app.id, 'big-source', null, { signal: ac2.signal });
    let read = 0;
    const reading = (async () => {
      for await (const c of r.stream!) {
        read += (c as Buffer).length;
        if (read > 4 * 1024 * 1024) ac2.abort();
      }
    })();
    await assert.rejects(reading, NetError);
    await waitFor(() => g!.destroyed(), 2000, 'remote source to be released');
    assert.ok(g!.produced() < 64 * 1024 * 1024);

    // Dropping a response stream early also stops the remote source.
    const r3 = await b.app.call(a.app.id, 'big-source', null);
    for await (const _c of r3.stream!) break;
    await waitFor(() => g!.destroyed(), 2000, 'remote source to be released after the stream was dropped');

    // Already-aborted signal: fails at once.
    await assert.rejects(b.app.call(a.app.id, 'hang', null, { signal: AbortSignal.abort() }), /aborted/);
  } finally {
    await close();
  }
});

test('stream errors at the source reach the other side with their message', async () => {
  const { a, b, close } = await pair();
  try {
    a.app.register('bad-source', async () => {
      let n = 0;
      const s = new Readable({
        read() {
          if (n++ < 10) this.push(Buffer.alloc(10_000));
          else this.destroy(new Error('disk on fire'));
        },
      });
      return { body: null, stream: s };
    });
    let seen: Error | undefined;
    a.app.register('sink', async (_f, _b, stream) => {
      try {
        await consume(stream!);
      } catch (e) {
        seen = e as Error;
      }
      return { body: 'done' };
    });
    const r = await b.app.call(a.app.id, 'bad-source', null);
    await assert.rejects(consume(r.stream!), /disk on fire/);
    const src = new Readable({
      read() {
        this.destroy(new Error('source broke'));
      },
    });
    const r2 = await b.app.call(a.app.id, 'sink', null, { stream: src });
    assert.equal(r2.body, 'done');
    assert.match(String(seen?.message), /source broke/);
  } finally {
    await close();
  }
});

test('a dropped connection fails in-flight calls promptly, on both sides', async () => {
  const { a, b, close } = await pair();
  try {
    let calleeAborted = false;
    a.app.register(
      'hang',
      (_f, _b, _s, signal) =>
        new Promise(() =>
          signal.addEventListener('abort', () => {
            calleeAborted = true;
          }),
        ),
    );
    a.app.register('big-source', async () => ({ body: null, stream: generator(1024 * 1024 * 1024).stream }));
    const pending = b.app.call(a.app.id, 'hang', null, { timeoutMs: 30_000 });
    const r = await b.app.call(a.app.id, 'big-source', null);
    for await (const _c of r.stream!) break;
    const r2 = await b.app.call(a.app.id, 'big-source', null);
    const streamFailed = consume(r2.stream!).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(50);
    const disconnected = nextEvent(b.app, 'peer-disconnected');
    const t0 = performance.now();
    a.app.disconnect(b.app.id);
    await assert.rejects(pending, (e: unknown) => e instanceof NetError && /lost/.test(e.message));
    assert.ok((await streamFailed) instanceof NetError);
    assert.ok(performance.now() - t0 < 1000);
    await disconnected;
    assert.equal(b.app.isConnected(a.app.id), false);
    assert.ok(calleeAborted);
    await assert.rejects(b.app.call(a.app.id, 'hang', null), /not connected/);
    // Reconnecting works.
    await b.app.connect(a.app.id, a.addr);
    a.app.register('ok', async () => ({ body: 1 }));
    assert.equal((await b.app.call(a.app.id, 'ok', null)).body, 1);
    // Closing the remote NetApp entirely fails calls as well.
    const p2 = b.app.call(a.app.id, 'hang', null).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(20);
    await a.app.close();
    assert.ok((await p2) instanceof NetError);
  } finally {
    await close();
  }
});
