// Cluster: health, nodes, storage per node, request rates.

import { api, badge, bytes, h, short, table, token } from '../lib.js';
import { barChart, lineChart } from '../charts.js';

export async function clusterPage() {
  const [health, status, history] = await Promise.all([
    api('GetClusterHealth'),
    api('GetClusterStatus'),
    fetch('/ui/history.json', { headers: { authorization: `Bearer ${token()}` } }).then((r) => (r.ok ? r.json() : [])),
  ]);
  const now = Date.now();
  const perMinute = (key) =>
    history.slice(1).map((p, i) => [p.t, Math.max(0, p[key] - history[i][key]) / ((p.t - history[i].t) / 60_000 || 1)]);
  return [
    h(
      'section',
      {},
      h('h2', {}, 'Health ', badge(health.status)),
      table(
        ['Nodes connected', 'Known nodes', 'Storage nodes up', 'Partitions with quorum', 'Partitions all ok'],
        [
          [
            health.connectedNodes,
            health.knownNodes,
            `${health.storageNodesOk} / ${health.storageNodes}`,
            `${health.partitionsQuorum} / ${health.partitions}`,
            `${health.partitionsAllOk} / ${health.partitions}`,
          ],
        ],
      ),
    ),
    h(
      'section',
      {},
      h('h2', {}, `Nodes (layout version ${status.layoutVersion})`),
      table(
        ['ID', 'Hostname', 'Address', 'Zone', 'Capacity', 'Status', 'Data available'],
        status.nodes.map((n) => [
          h('span', { class: 'mono', title: n.id }, short(n.id)),
          n.hostname ?? '?',
          n.addr ?? '',
          n.role?.zone ?? 'no role',
          n.role ? (n.role.capacity === null ? 'gateway' : bytes(n.role.capacity)) : '',
          n.isUp
            ? badge('up')
            : badge(n.lastSeenSecsAgo === null ? 'down' : `down (seen ${n.lastSeenSecsAgo}s ago)`, 'down'),
          n.dataPartition ? `${bytes(n.dataPartition.available)} of ${bytes(n.dataPartition.total)}` : '',
        ]),
      ),
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        {},
        h('h2', {}, 'Storage used per node'),
        barChart(
          status.nodes
            .filter((n) => n.dataPartition)
            .map((n) => ({
              label: `${short(n.id)} ${n.hostname ?? ''}`.slice(0, 22),
              avail: n.dataPartition.available,
              total: n.dataPartition.total,
            })),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, 'S3 requests and errors per minute (this node, last hour)'),
        lineChart([
          { name: 'requests', color: '#1c7ed6', points: perMinute('requests') },
          { name: 'errors', color: '#c92a2a', points: perMinute('errors') },
        ]),
        h('p', { class: 'muted' }, `${history.length} samples; updated ${new Date(now).toLocaleTimeString()}`),
      ),
    ),
  ];
}
