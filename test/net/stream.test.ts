import './quiet_logs.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { Scheduler, SendQueue } from '../../src/net/stream.ts';
import { FrameParser, frame, header, HEADER_BYTES, Kind, MAX_FRAME_BYTES } from '../../src/net/wire.ts';

/** A socket stand-in that takes one write at a time (always "full"), recording frame headers. */
function slowSocket(): { socket: Writable; sids: number[] } {
  const sids: number[] = [];
  const socket = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      // Payloads here are zeros and written apart from headers: any chunk not
      // starting with 0 begins with a header; record its stream id.
      if (chunk.length >= HEADER_BYTES && chunk[0] !== 0) sids.push(chunk.readUInt32BE(1));
      setImmediate(cb);
    },
  });
  return { socket, sids };
}

test('scheduler: control first, then by priority, round-robin within a priority', async () => {
  const { socket, sids } = slowSocket();
  const s = new Scheduler(socket);
  const bg1 = new SendQueue(2);
  const bg2 = new SendQueue(2);
  const hi = new SendQueue(0);
  const body = Buffer.alloc(100);
  // The first frame goes straight to the socket, which then pushes back.
  s.enqueue(bg1, header(Kind.REQ_DATA, 1, 100), body);
  for (let i = 0; i < 3; i++) s.enqueue(bg1, header(Kind.REQ_DATA, 1, 100), body);
  for (let i = 0; i < 3; i++) s.enqueue(bg2, header(Kind.REQ_DATA, 3, 100), body);
  s.enqueue(hi, header(Kind.REQ, 5, 100), body);
  s.enqueue(hi, header(Kind.REQ, 5, 100), body);
  s.sendControl(frame(Kind.REQ_WINDOW, 7, Buffer.alloc(4)));
  while (!s.idle()) await tick();
  await tick();
  assert.deepEqual(sids, [1, 7, 5, 5, 1, 3, 1, 3, 1, 3]);
});

test('scheduler: dropping a queue discards its unsent frames', async () => {
  const { socket, sids } = slowSocket();
  const s = new Scheduler(socket);
  const a = new SendQueue(1);
  const b = new SendQueue(1);
  for (let i = 0; i < 3; i++) s.enqueue(a, header(Kind.REQ, 1, 0));
  for (let i = 0; i < 2; i++) s.enqueue(b, header(Kind.REQ, 3, 0));
  s.drop(a);
  while (!s.idle()) await tick();
  await tick();
  assert.deepEqual(sids, [1, 3, 3]);
  assert.equal(a.sent, 1);
});

test('frame parser reassembles frames split anywhere and rejects oversized ones', () => {
  const frames = [
    frame(Kind.REQ, 1, Buffer.from('hello')),
    frame(Kind.GOAWAY, 0),
    frame(Kind.RESP | 0x80, 2, Buffer.alloc(3000, 7)),
  ];
  const all = Buffer.concat(frames);
  for (const step of [1, 2, 5, 9, 100, all.length]) {
    const got: [number, number, string][] = [];
    const p = new FrameParser((k, sid, payload) => got.push([k, sid, payload.toString('hex')]));
    for (let i = 0; i < all.length; i += step) p.push(all.subarray(i, i + step));
    assert.deepEqual(got, [
      [Kind.REQ, 1, Buffer.from('hello').toString('hex')],
      [Kind.GOAWAY, 0, ''],
      [Kind.RESP | 0x80, 2, Buffer.alloc(3000, 7).toString('hex')],
    ]);
  }
  const p = new FrameParser(() => undefined);
  assert.throws(() => p.push(header(Kind.REQ, 1, MAX_FRAME_BYTES)), /protocol error/);
});
