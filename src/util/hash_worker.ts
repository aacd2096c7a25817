// The worker side of hash_pool.ts: hashes what the main thread sends, in order of arrival, so
// an upload's MD5 (one running hash per session) sees its blocks in order.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { isHashRequest, type HashReply } from './hash_messages.ts';

const sessions = new Map<number, Hash>();
const port = parentPort;
if (!port) throw new Error('hash_worker.ts runs only as a worker thread');

port.on('message', (m: unknown) => {
  if (!isHashRequest(m)) throw new Error('hash worker: malformed request');
  let reply: HashReply;
  try {
    switch (m.op) {
      case 'block': {
        if (m.session !== undefined) {
          let md5 = sessions.get(m.session);
          if (!md5) {
            md5 = createHash('md5');
            sessions.set(m.session, md5);
          }
          md5.update(m.data);
        }
        reply = { id: m.id, hash: createHash('sha256').update(m.data).digest() };
        const mem = m.data.buffer;
        if (m.back && mem instanceof ArrayBuffer) {
          port.postMessage({ ...reply, data: m.data }, [mem]);
          return;
        }
        break;
      }
      case 'digest': {
        const md5 = sessions.get(m.session) ?? createHash('md5');
        sessions.delete(m.session);
        reply = { id: m.id, hash: md5.digest() };
        break;
      }
      case 'drop':
        sessions.delete(m.session);
        return;
    }
  } catch (e) {
    reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
  }
  port.postMessage(reply);
});
