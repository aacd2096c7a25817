// Background workers and blocks with resync errors, on every node.

import { act, api, h, refresh, short, table, toast } from '../lib.js';

export async function workersPage() {
  const [workers, errors] = await Promise.all([
    api('ListWorkers', { query: { node: '*' }, body: {} }),
    api('ListBlockErrors', { query: { node: '*' } }),
  ]);
  const rows = Object.entries(workers.success).flatMap(([node, ws]) =>
    ws.map((w) => [
      h('span', { class: 'mono' }, short(node)),
      w.name,
      typeof w.state === 'string' ? w.state : 'throttled',
      w.errors,
      w.freeform.slice(1).join(' '),
    ]),
  );
  const errRows = Object.entries(errors.success).flatMap(([node, es]) =>
    es.map((e) => [
      h('span', { class: 'mono' }, short(node)),
      h('span', { class: 'mono' }, e.blockHash),
      e.refcount,
      e.errorCount,
      `${e.lastTrySecsAgo}s ago`,
      h(
        'button',
        {
          onclick: act(async () => {
            await api('RetryBlockResync', { query: { node }, body: { blockHashes: [e.blockHash] } });
            toast('Retry queued');
            refresh();
          }),
        },
        'Retry now',
      ),
    ]),
  );
  return [
    h('section', {}, h('h2', {}, 'Background workers'), table(['Node', 'Worker', 'State', 'Errors', 'Status'], rows)),
    h(
      'section',
      {},
      h('h2', {}, 'Blocks with resync errors'),
      errRows.length
        ? table(['Node', 'Block', 'Refcount', 'Tries', 'Last try', ''], errRows)
        : h('p', { class: 'ok' }, 'None: every block resynced.'),
      Object.keys(errors.error).length
        ? h('p', { class: 'error' }, `Unreachable: ${Object.keys(errors.error).map(short).join(', ')}`)
        : '',
    ),
  ];
}
