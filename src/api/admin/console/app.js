// The web console: a single page on the admin API v2 (bearer token kept in session storage,
// never in a URL) and, for the object browser, the S3 API through the admin listener's /s3/
// prefix, signed here with a key the operator picks. Text from the server is only ever set
// as text (no innerHTML), so object keys and names cannot inject markup.

import { signRequest, uriEncode } from './sigv4.js';

const GET_OPS = new Set([
  'GetClusterStatus',
  'GetClusterHealth',
  'GetClusterStatistics',
  'GetClusterLayout',
  'GetClusterLayoutHistory',
  'ListAdminTokens',
  'GetAdminTokenInfo',
  'GetCurrentAdminTokenInfo',
  'ListKeys',
  'GetKeyInfo',
  'ListBuckets',
  'GetBucketInfo',
  'InspectObject',
  'GetNodeInfo',
  'GetNodeStatistics',
  'ListBlockErrors',
]);

const $ = (id) => document.getElementById(id);
let config = { s3Region: 'garage', s3Prefix: '/s3' };

/** Builds an element: attributes (on* are listeners), then children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function toast(text, error = false) {
  const t = h('div', { class: error ? 'error' : '' }, text);
  $('toast').append(t);
  setTimeout(() => t.remove(), error ? 8000 : 3000);
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const token = () => sessionStorage.getItem('garage-admin-token');

/** Calls an admin API operation. */
async function api(op, { query, body } = {}) {
  const q = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined))}` : '';
  const method = GET_OPS.has(op) ? 'GET' : 'POST';
  const r = await fetch(`/v2/${op}${q}`, {
    method,
    headers: {
      authorization: `Bearer ${token()}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? (method === 'POST' ? '{}' : undefined) : JSON.stringify(body),
  });
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new ApiError(r.status, data?.code ?? 'Error', data?.message ?? `${op}: HTTP ${r.status}`);
  return data;
}

/** Runs an action from a button or form, reporting its failure. */
function act(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    try {
      await fn(ev);
    } catch (e) {
      toast(e.message, true);
      console.warn(e);
    }
  };
}

const bytes = (n) => {
  if (n === null || n === undefined) return '';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${u[i]}`;
};
const short = (id) => (id ? id.slice(0, 16) : '');
const table = (head, rows) =>
  h(
    'table',
    {},
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c) => h('td', {}, c)),
        ),
      ),
    ),
  );
const badge = (text, cls = text) => h('span', { class: `badge ${cls}` }, text);

// ---------------------------------------------------------------- plots (inline SVG)

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Horizontal bars: used and total per node. */
function barChart(items) {
  const w = 600;
  const row = 26;
  const el = svg('svg', { width: w, height: row * items.length + 10, role: 'img', 'aria-label': 'storage per node' });
  items.forEach((it, i) => {
    const y = i * row + 4;
    const frac = it.total ? (it.total - it.avail) / it.total : 0;
    el.append(
      svg('text', { x: 0, y: y + 14 }, it.label),
      svg('rect', { x: 150, y, width: 260, height: 16, fill: '#dde1e7' }),
      svg('rect', { x: 150, y, width: Math.max(1, 260 * frac), height: 16, fill: '#e8590c' }),
      svg('text', { x: 418, y: y + 13 }, `${bytes(it.total - it.avail)} / ${bytes(it.total)}`),
    );
  });
  return el;
}

/** A line chart of per-minute counts. */
function lineChart(series) {
  const w = 520;
  const ht = 160;
  const pad = 30;
  const el = svg('svg', { width: w, height: ht + 20, role: 'img', 'aria-label': 'requests per minute' });
  const max = Math.ceil(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const t0 = Math.min(...series.flatMap((s) => s.points.map((p) => p[0])), Date.now() - 3600_000);
  const t1 = Date.now();
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - pad - 10);
  const y = (v) => ht - (v / max) * (ht - 10);
  el.append(
    svg('line', { x1: pad, y1: ht, x2: w - 10, y2: ht, stroke: '#dde1e7' }),
    svg('text', { x: 0, y: 12 }, String(max)),
    svg('text', { x: 0, y: ht }, '0'),
    svg('text', { x: pad, y: ht + 16 }, '1 hour ago'),
    svg('text', { x: w - 40, y: ht + 16 }, 'now'),
  );
  series.forEach((s, i) => {
    if (s.points.length)
      el.append(
        svg('polyline', {
          fill: 'none',
          stroke: s.color,
          'stroke-width': 2,
          points: s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        }),
      );
    el.append(svg('text', { x: w - 160 + i * 80, y: 12, fill: s.color }, s.name));
  });
  return el;
}

// ---------------------------------------------------------------- pages

async function clusterPage() {
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

async function layoutPage() {
  const [layout, status, history] = await Promise.all([
    api('GetClusterLayout'),
    api('GetClusterStatus'),
    api('GetClusterLayoutHistory'),
  ]);
  const preview = h('div');
  const form = h(
    'form',
    {
      class: 'inline',
      onsubmit: act(async (ev) => {
        const f = new FormData(ev.target);
        const gateway = f.get('gateway') === 'on';
        const cap = Number(f.get('capacity')) * 1e9;
        await api('UpdateClusterLayout', {
          body: {
            roles: [
              {
                id: f.get('node'),
                zone: f.get('zone'),
                capacity: gateway ? null : cap,
                tags: String(f.get('tags') || '')
                  .split(',')
                  .map((t) => t.trim())
                  .filter(Boolean),
              },
            ],
          },
        });
        toast('Role change staged');
        route();
      }),
    },
    h(
      'label',
      {},
      'Node',
      h(
        'select',
        { name: 'node', required: true },
        status.nodes.map((n) => h('option', { value: n.id }, `${short(n.id)} ${n.hostname ?? ''}`)),
      ),
    ),
    h('label', {}, 'Zone', h('input', { name: 'zone', required: true, placeholder: 'dc1' })),
    h(
      'label',
      {},
      'Capacity (GB)',
      h('input', { name: 'capacity', type: 'number', min: '0.001', step: 'any', value: '100' }),
    ),
    h('label', {}, 'Tags', h('input', { name: 'tags', placeholder: 'a,b' })),
    h('label', { class: 'check' }, h('input', { name: 'gateway', type: 'checkbox' }), 'gateway'),
    h('button', { type: 'submit' }, 'Stage assignment'),
  );
  return [
    h(
      'section',
      {},
      h('h2', {}, `Current layout: version ${layout.version}`),
      h(
        'p',
        {},
        `Zone redundancy: ${layout.parameters.zoneRedundancy === 'maximum' ? 'maximum' : layout.parameters.zoneRedundancy.atLeast}; partition size ${bytes(layout.partitionSize)}; live versions ${history.versions.map((v) => `${v.version} (${v.status})`).join(', ')}`,
      ),
      table(
        ['ID', 'Zone', 'Tags', 'Capacity', 'Usable', 'Partitions', ''],
        layout.roles.map((r) => [
          h('span', { class: 'mono', title: r.id }, short(r.id)),
          r.zone,
          r.tags.join(', '),
          r.capacity === null ? 'gateway' : bytes(r.capacity),
          bytes(r.usableCapacity),
          r.storedPartitions ?? '',
          h(
            'button',
            {
              class: 'danger',
              onclick: act(async () => {
                await api('UpdateClusterLayout', { body: { roles: [{ id: r.id, remove: true }] } });
                toast('Removal staged');
                route();
              }),
            },
            'Remove',
          ),
        ]),
      ),
    ),
    h(
      'section',
      {},
      h('h2', {}, 'Staged changes'),
      layout.stagedRoleChanges.length
        ? table(
            ['ID', 'Change'],
            layout.stagedRoleChanges.map((c) => [
              h('span', { class: 'mono' }, short(c.id)),
              c.remove
                ? 'remove'
                : `zone ${c.zone}, ${c.capacity === null ? 'gateway' : bytes(c.capacity)}${c.tags.length ? `, tags ${c.tags.join(',')}` : ''}`,
            ]),
          )
        : h('p', {}, 'None.'),
      form,
      h(
        'div',
        { class: 'inline' },
        h(
          'button',
          {
            onclick: act(async () => {
              const p = await api('PreviewClusterLayoutChanges', {});
              preview.replaceChildren(
                p.error ? h('p', { class: 'error' }, p.error) : h('pre', {}, p.message.join('\n')),
              );
            }),
          },
          'Preview',
        ),
        ' ',
        h(
          'button',
          {
            onclick: act(async () => {
              const r = await api('ApplyClusterLayout', { body: { version: layout.version + 1 } });
              toast(`Layout version ${r.layout.version} applied`);
              route();
            }),
          },
          'Apply',
        ),
        ' ',
        h(
          'button',
          {
            class: 'danger',
            onclick: act(async () => {
              await api('RevertClusterLayout', {});
              toast('Staged changes dropped');
              route();
            }),
          },
          'Revert',
        ),
      ),
      preview,
    ),
  ];
}

async function bucketsPage() {
  const list = await api('ListBuckets');
  const infos = await Promise.all(list.map((b) => api('GetBucketInfo', { query: { id: b.id } })));
  const create = h(
    'form',
    {
      class: 'inline',
      onsubmit: act(async (ev) => {
        const name = new FormData(ev.target).get('name');
        await api('CreateBucket', { body: { globalAlias: name } });
        toast(`Bucket ${name} created`);
        route();
      }),
    },
    h(
      'label',
      {},
      'New bucket',
      h('input', {
        name: 'name',
        required: true,
        pattern: '[a-z0-9][a-z0-9.\\-]{1,61}[a-z0-9]',
        placeholder: 'my-bucket',
      }),
    ),
    h('button', { type: 'submit' }, 'Create bucket'),
  );
  return [
    h(
      'section',
      {},
      h('h2', {}, 'Buckets'),
      create,
      table(
        ['Name', 'ID', 'Objects', 'Size', 'Website', 'Keys', ''],
        infos.map((b) => [
          h('a', { href: `#bucket/${b.id}` }, b.globalAliases.join(', ') || '(no global alias)'),
          h('span', { class: 'mono' }, short(b.id)),
          b.objects,
          bytes(b.bytes),
          b.websiteAccess ? 'yes' : 'no',
          b.keys.map((k) => k.name).join(', '),
          h(
            'button',
            {
              class: 'danger',
              onclick: act(async () => {
                if (!confirm(`Delete bucket ${b.globalAliases[0] ?? b.id}?`)) return;
                await api('DeleteBucket', { query: { id: b.id } });
                toast('Bucket deleted');
                route();
              }),
            },
            'Delete',
          ),
        ]),
      ),
    ),
  ];
}

async function bucketPage(id) {
  const [b, keys] = await Promise.all([api('GetBucketInfo', { query: { id } }), api('ListKeys')]);
  const perm = (f) => ({
    read: f.get('read') === 'on',
    write: f.get('write') === 'on',
    owner: f.get('owner') === 'on',
  });
  return [
    h(
      'section',
      {},
      h('h2', {}, `Bucket ${b.globalAliases[0] ?? b.id}`),
      table(
        ['ID', 'Created', 'Objects', 'Size', 'Unfinished uploads'],
        [[h('span', { class: 'mono' }, b.id), b.created, b.objects, bytes(b.bytes), b.unfinishedMultipartUploads]],
      ),
    ),
    h(
      'div',
      { class: 'grid' },
      h(
        'section',
        {},
        h('h2', {}, 'Aliases'),
        h(
          'ul',
          {},
          b.globalAliases.map((a) =>
            h(
              'li',
              {},
              a,
              ' ',
              h(
                'button',
                {
                  class: 'link',
                  onclick: act(async () => {
                    await api('RemoveBucketAlias', { body: { bucketId: id, globalAlias: a } });
                    route();
                  }),
                },
                'remove',
              ),
            ),
          ),
        ),
        h(
          'form',
          {
            class: 'inline',
            onsubmit: act(async (ev) => {
              await api('AddBucketAlias', {
                body: { bucketId: id, globalAlias: new FormData(ev.target).get('alias') },
              });
              route();
            }),
          },
          h('label', {}, 'Global alias', h('input', { name: 'alias', required: true })),
          h('button', { type: 'submit' }, 'Add alias'),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, 'Quotas'),
        h(
          'form',
          {
            class: 'inline',
            onsubmit: act(async (ev) => {
              const f = new FormData(ev.target);
              const size = f.get('maxSize');
              const objects = f.get('maxObjects');
              await api('UpdateBucket', {
                query: { id },
                body: {
                  quotas: {
                    maxSize: size ? Math.round(Number(size) * 1e9) : null,
                    maxObjects: objects ? Number(objects) : null,
                  },
                },
              });
              toast('Quotas updated');
              route();
            }),
          },
          h(
            'label',
            {},
            'Max size (GB)',
            h('input', {
              name: 'maxSize',
              type: 'number',
              step: 'any',
              min: '0',
              value: b.quotas.maxSize === null ? '' : b.quotas.maxSize / 1e9,
            }),
          ),
          h(
            'label',
            {},
            'Max objects',
            h('input', { name: 'maxObjects', type: 'number', min: '0', value: b.quotas.maxObjects ?? '' }),
          ),
          h('button', { type: 'submit' }, 'Save quotas'),
        ),
      ),
      h(
        'section',
        {},
        h('h2', {}, 'Website'),
        h(
          'form',
          {
            class: 'inline',
            onsubmit: act(async (ev) => {
              const f = new FormData(ev.target);
              const enabled = f.get('enabled') === 'on';
              await api('UpdateBucket', {
                query: { id },
                body: {
                  websiteAccess: {
                    enabled,
                    indexDocument: f.get('index') || 'index.html',
                    errorDocument: f.get('error') || null,
                  },
                },
              });
              toast(enabled ? 'Website enabled' : 'Website disabled');
              route();
            }),
          },
          h(
            'label',
            { class: 'check' },
            h('input', { name: 'enabled', type: 'checkbox', checked: b.websiteAccess }),
            'serve as a website',
          ),
          h(
            'label',
            {},
            'Index document',
            h('input', { name: 'index', value: b.websiteConfig?.indexDocument ?? 'index.html' }),
          ),
          h('label', {}, 'Error document', h('input', { name: 'error', value: b.websiteConfig?.errorDocument ?? '' })),
          h('button', { type: 'submit' }, 'Save website'),
        ),
      ),
    ),
    h(
      'section',
      {},
      h('h2', {}, 'Key permissions'),
      table(
        ['Key', 'Name', 'Read', 'Write', 'Owner', ''],
        b.keys.map((k) => [
          h('span', { class: 'mono' }, k.accessKeyId),
          k.name,
          k.permissions.read ? '✓' : '',
          k.permissions.write ? '✓' : '',
          k.permissions.owner ? '✓' : '',
          h(
            'button',
            {
              class: 'danger',
              onclick: act(async () => {
                await api('DenyBucketKey', {
                  body: {
                    bucketId: id,
                    accessKeyId: k.accessKeyId,
                    permissions: { read: true, write: true, owner: true },
                  },
                });
                route();
              }),
            },
            'Revoke',
          ),
        ]),
      ),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: act(async (ev) => {
            const f = new FormData(ev.target);
            await api('AllowBucketKey', { body: { bucketId: id, accessKeyId: f.get('key'), permissions: perm(f) } });
            toast('Permissions granted');
            route();
          }),
        },
        h(
          'label',
          {},
          'Key',
          h(
            'select',
            { name: 'key', required: true },
            keys.map((k) => h('option', { value: k.id }, `${k.name} (${k.id})`)),
          ),
        ),
        ['read', 'write', 'owner'].map((p) =>
          h('label', { class: 'check' }, h('input', { name: p, type: 'checkbox', checked: p !== 'owner' }), p),
        ),
        h('button', { type: 'submit' }, 'Allow'),
      ),
    ),
  ];
}

async function keysPage() {
  const keys = await api('ListKeys');
  const secretBox = h('div');
  return [
    h(
      'section',
      {},
      h('h2', {}, 'Access keys'),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: act(async (ev) => {
            const f = new FormData(ev.target);
            const days = Number(f.get('days'));
            const k = await api('CreateKey', {
              body: {
                name: f.get('name'),
                allow: { createBucket: f.get('createBucket') === 'on' },
                expiration: days > 0 ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
              },
            });
            await route();
            $('secret-box').replaceChildren(
              h(
                'div',
                { class: 'secret' },
                h('strong', {}, 'Shown once: '),
                `Access key ID `,
                h('code', { id: 'new-key-id' }, k.accessKeyId),
                ' secret ',
                h('code', { id: 'new-key-secret' }, k.secretAccessKey),
              ),
            );
          }),
        },
        h('label', {}, 'Name', h('input', { name: 'name', required: true, placeholder: 'my-app' })),
        h('label', {}, 'Expires in (days, empty: never)', h('input', { name: 'days', type: 'number', min: '1' })),
        h('label', { class: 'check' }, h('input', { name: 'createBucket', type: 'checkbox' }), 'may create buckets'),
        h('button', { type: 'submit' }, 'Create key'),
      ),
      h('div', { id: 'secret-box' }, secretBox),
      table(
        ['ID', 'Name', 'Created', 'Expiration', ''],
        keys.map((k) => [
          h('a', { href: `#key/${k.id}`, class: 'mono' }, k.id),
          k.name,
          k.created?.slice(0, 10) ?? '',
          k.expired ? badge('expired', 'down') : (k.expiration ?? 'never'),
          h(
            'button',
            {
              class: 'danger',
              onclick: act(async () => {
                if (!confirm(`Delete key ${k.name}?`)) return;
                await api('DeleteKey', { query: { id: k.id } });
                toast('Key deleted');
                route();
              }),
            },
            'Delete',
          ),
        ]),
      ),
    ),
  ];
}

async function keyPage(id) {
  const k = await api('GetKeyInfo', { query: { id } });
  return [
    h(
      'section',
      {},
      h('h2', {}, `Key ${k.name}`),
      table(
        ['ID', 'Created', 'Expiration', 'May create buckets'],
        [
          [
            h('span', { class: 'mono' }, k.accessKeyId),
            k.created ?? '',
            k.expiration ?? 'never',
            k.permissions.createBucket ? 'yes' : 'no',
          ],
        ],
      ),
      h(
        'div',
        { class: 'inline' },
        h(
          'button',
          {
            onclick: act(async () => {
              await api('UpdateKey', {
                query: { id },
                body: k.permissions.createBucket ? { deny: { createBucket: true } } : { allow: { createBucket: true } },
              });
              route();
            }),
          },
          k.permissions.createBucket ? 'Deny bucket creation' : 'Allow bucket creation',
        ),
        ' ',
        h(
          'button',
          {
            onclick: act(async () => {
              await api('UpdateKey', { query: { id }, body: { neverExpires: true } });
              route();
            }),
          },
          'Never expire',
        ),
      ),
      h('h2', {}, 'Buckets'),
      table(
        ['Bucket', 'Aliases', 'Read', 'Write', 'Owner'],
        k.buckets.map((b) => [
          h('a', { href: `#bucket/${b.id}`, class: 'mono' }, short(b.id)),
          [...b.globalAliases, ...b.localAliases].join(', '),
          b.permissions.read ? '✓' : '',
          b.permissions.write ? '✓' : '',
          b.permissions.owner ? '✓' : '',
        ]),
      ),
    ),
  ];
}

async function tokensPage() {
  const tokens = await api('ListAdminTokens');
  return [
    h(
      'section',
      {},
      h('h2', {}, 'Admin tokens'),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: act(async (ev) => {
            const f = new FormData(ev.target);
            const days = Number(f.get('days'));
            const t = await api('CreateAdminToken', {
              body: {
                name: f.get('name'),
                scope: String(f.get('scope') || '*')
                  .split(',')
                  .map((s) => s.trim()),
                expiration: days > 0 ? new Date(Date.now() + days * 86_400_000).toISOString() : null,
              },
            });
            await route();
            $('token-secret').replaceChildren(
              h('div', { class: 'secret' }, h('strong', {}, 'Shown once: '), h('code', {}, t.secretToken)),
            );
          }),
        },
        h('label', {}, 'Name', h('input', { name: 'name', required: true })),
        h('label', {}, 'Scope (operations, or *)', h('input', { name: 'scope', value: '*' })),
        h('label', {}, 'Expires in (days)', h('input', { name: 'days', type: 'number', min: '1' })),
        h('button', { type: 'submit' }, 'Create token'),
      ),
      h('div', { id: 'token-secret' }),
      table(
        ['ID', 'Name', 'Scope', 'Expiration', ''],
        tokens.map((t) => [
          h('span', { class: 'mono' }, t.id ?? '(configuration)'),
          t.name,
          t.scope.join(', '),
          t.expired ? badge('expired', 'down') : (t.expiration ?? 'never'),
          t.id
            ? h(
                'button',
                {
                  class: 'danger',
                  onclick: act(async () => {
                    await api('DeleteAdminToken', { query: { id: t.id } });
                    route();
                  }),
                },
                'Delete',
              )
            : '',
        ]),
      ),
    ),
  ];
}

async function workersPage() {
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
            route();
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

// ---------------------------------------------------------------- object browser

const browser = { keyId: sessionStorage.getItem('garage-browser-key') ?? '', bucket: '', prefix: '', secret: '' };

async function s3(method, path, { query = [], headers = {}, body } = {}) {
  if (!browser.secret)
    browser.secret = (await api('GetKeyInfo', { query: { id: browser.keyId, showSecretKey: 'true' } })).secretAccessKey;
  const signed = await signRequest({
    method,
    host: location.host,
    path,
    query,
    headers,
    accessKeyId: browser.keyId,
    secretAccessKey: browser.secret,
    region: config.s3Region,
  });
  // The URL carries the same encoding the signature covers.
  const q = query.length ? `?${query.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&')}` : '';
  const url = `${config.s3Prefix}${uriEncode(path, true)}${q}`;
  return { url, headers: signed, run: () => fetch(url, { method, headers: signed, body }) };
}

async function s3Ok(r) {
  if (r.ok) return r;
  const text = await r.text();
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP ${r.status}`;
  const msg = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? '';
  throw new Error(`${code}: ${msg}`);
}

function upload(file) {
  return new Promise((resolve, reject) => {
    (async () => {
      const key = browser.prefix + file.name;
      const req = await s3('PUT', `/${browser.bucket}/${key}`, {
        headers: { 'content-type': file.type || 'application/octet-stream' },
      });
      const xhr = new XMLHttpRequest();
      const bar = $('upload-progress');
      xhr.open('PUT', req.url);
      for (const [k, v] of Object.entries(req.headers)) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) {
          bar.max = e.total;
          bar.value = e.loaded;
        }
      };
      xhr.upload.onload = () => {
        bar.value = bar.max;
      };
      xhr.onload = () =>
        xhr.status === 200
          ? resolve(key)
          : reject(new Error(`upload failed: HTTP ${xhr.status} ${/<Code>([^<]*)/.exec(xhr.responseText)?.[1] ?? ''}`));
      xhr.onerror = () => reject(new Error('upload failed: network error'));
      xhr.send(file);
    })().catch(reject);
  });
}

async function objectsPage() {
  const keys = await api('ListKeys');
  const picker = h(
    'form',
    {
      class: 'inline',
      onsubmit: act(async (ev) => {
        const f = new FormData(ev.target);
        browser.keyId = String(f.get('key'));
        browser.secret = '';
        browser.bucket = String(f.get('bucket') ?? '');
        browser.prefix = '';
        sessionStorage.setItem('garage-browser-key', browser.keyId);
        route();
      }),
    },
    h(
      'label',
      {},
      'Access key',
      h(
        'select',
        {
          name: 'key',
          id: 'browser-key',
          onchange: act(async (ev) => {
            browser.keyId = ev.target.value;
            browser.secret = '';
            browser.bucket = '';
            route();
          }),
        },
        h('option', { value: '' }, '(pick a key)'),
        keys.map((k) => h('option', { value: k.id, selected: k.id === browser.keyId }, `${k.name} (${k.id})`)),
      ),
    ),
  );
  const out = [
    h(
      'section',
      {},
      h('h2', {}, 'Object browser'),
      h('p', {}, 'Browses through the S3 API with the key picked, signing each request in this page.'),
      picker,
    ),
  ];
  if (!browser.keyId) return out;
  const info = await api('GetKeyInfo', { query: { id: browser.keyId } });
  const names = info.buckets.map((b) => b.globalAliases[0] ?? b.localAliases[0]).filter(Boolean);
  picker.append(
    h(
      'label',
      {},
      'Bucket',
      h(
        'select',
        { name: 'bucket', id: 'browser-bucket' },
        names.map((n) => h('option', { value: n, selected: n === browser.bucket }, n)),
      ),
    ),
    h('button', { type: 'submit', id: 'browser-open' }, 'Open'),
  );
  if (!browser.bucket) return out;
  const list = await (
    await s3('GET', `/${browser.bucket}`, {
      query: [
        ['list-type', '2'],
        ['delimiter', '/'],
        ['prefix', browser.prefix],
      ],
    })
  )
    .run()
    .then(s3Ok);
  const xml = new DOMParser().parseFromString(await list.text(), 'application/xml');
  const text = (el, tag) => el.getElementsByTagName(tag)[0]?.textContent ?? '';
  const prefixes = [...xml.getElementsByTagName('CommonPrefixes')].map((p) => text(p, 'Prefix'));
  const objects = [...xml.getElementsByTagName('Contents')].map((c) => ({
    key: text(c, 'Key'),
    size: Number(text(c, 'Size')),
    modified: text(c, 'LastModified'),
    etag: text(c, 'ETag'),
  }));
  const meta = h('div', { id: 'object-meta' });
  const crumbs = [
    h(
      'button',
      {
        class: 'link',
        onclick: () => {
          browser.prefix = '';
          route();
        },
      },
      browser.bucket,
    ),
  ];
  let acc = '';
  for (const part of browser.prefix.split('/').filter(Boolean)) {
    acc += `${part}/`;
    const p = acc;
    crumbs.push(
      ' / ',
      h(
        'button',
        {
          class: 'link',
          onclick: () => {
            browser.prefix = p;
            route();
          },
        },
        part,
      ),
    );
  }
  out.push(
    h(
      'section',
      {},
      h('h2', {}, 'Location: ', crumbs),
      h(
        'form',
        {
          class: 'inline',
          onsubmit: act(async (ev) => {
            const files = ev.target.elements.file.files;
            for (const f of files) {
              const key = await upload(f);
              toast(`Uploaded ${key}`);
            }
            route();
          }),
        },
        h(
          'label',
          {},
          'Upload files',
          h('input', { type: 'file', name: 'file', id: 'upload-file', multiple: true, required: true }),
        ),
        h('button', { type: 'submit', id: 'upload-button' }, 'Upload'),
        h('progress', { id: 'upload-progress', value: 0, max: 1 }),
      ),
      table(
        ['Name', 'Size', 'Last modified', ''],
        [
          ...prefixes.map((p) => [
            h(
              'button',
              {
                class: 'link',
                onclick: () => {
                  browser.prefix = p;
                  route();
                },
              },
              `📁 ${p.slice(browser.prefix.length)}`,
            ),
            '',
            '',
            '',
          ]),
          ...objects.map((o) => [
            h('span', { class: 'mono object-key' }, o.key.slice(browser.prefix.length)),
            bytes(o.size),
            o.modified,
            h(
              'span',
              {},
              h(
                'button',
                {
                  class: 'link',
                  onclick: act(async () => {
                    const r = await s3Ok(await (await s3('GET', `/${browser.bucket}/${o.key}`)).run());
                    const a = h('a', { href: URL.createObjectURL(await r.blob()), download: o.key.split('/').pop() });
                    document.body.append(a);
                    a.click();
                    a.remove();
                  }),
                },
                'download',
              ),
              ' ',
              h(
                'button',
                {
                  class: 'link',
                  onclick: act(async () => {
                    const r = await s3Ok(await (await s3('HEAD', `/${browser.bucket}/${o.key}`)).run());
                    // Reading the (empty) body ends the request; Chromium otherwise counts it as aborted later.
                    await r.arrayBuffer();
                    meta.replaceChildren(
                      h('h2', {}, o.key),
                      table(
                        ['Header', 'Value'],
                        [...r.headers.entries()].map(([k, v]) => [k, v]),
                      ),
                    );
                  }),
                },
                'metadata',
              ),
              ' ',
              h(
                'button',
                {
                  class: 'link',
                  onclick: act(async () => {
                    if (!confirm(`Delete ${o.key}?`)) return;
                    await s3Ok(await (await s3('DELETE', `/${browser.bucket}/${o.key}`)).run());
                    toast(`Deleted ${o.key}`);
                    route();
                  }),
                },
                'delete',
              ),
            ),
          ]),
        ],
      ),
      objects.length || prefixes.length ? '' : h('p', {}, 'No object here yet.'),
    ),
    meta,
  );
  return out;
}

// ---------------------------------------------------------------- routing and sign-in

const PAGES = {
  cluster: clusterPage,
  layout: layoutPage,
  buckets: bucketsPage,
  bucket: bucketPage,
  keys: keysPage,
  key: keyPage,
  tokens: tokensPage,
  workers: workersPage,
  objects: objectsPage,
};

async function route() {
  if (!token()) return showSignIn();
  const [page, arg] = (location.hash.slice(1) || 'cluster').split('/');
  const fn = PAGES[page] ?? clusterPage;
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.getAttribute('href') === `#${page}`);
  try {
    const content = await fn(arg && decodeURIComponent(arg));
    $('main').replaceChildren(...content);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      sessionStorage.removeItem('garage-admin-token');
      return showSignIn('The token was refused: sign in again.');
    }
    $('main').replaceChildren(h('section', {}, h('p', { class: 'error' }, e.message)));
  }
}

function showSignIn(message = '') {
  $('nav').hidden = true;
  const form = h(
    'form',
    {
      id: 'signin-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const t = ev.target.elements.token.value.trim();
        sessionStorage.setItem('garage-admin-token', t);
        try {
          const me = await api('GetCurrentAdminTokenInfo');
          toast(`Signed in with ${me.name}`);
          $('nav').hidden = false;
          route();
        } catch (e) {
          sessionStorage.removeItem('garage-admin-token');
          $('signin-error').textContent =
            e.status === 401 || e.status === 403 ? 'This token is not valid for the console.' : e.message;
        }
      },
    },
    h(
      'label',
      {},
      'Admin token',
      h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true }),
    ),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  $('main').replaceChildren(
    h(
      'section',
      { id: 'signin' },
      h('h2', {}, 'Sign in'),
      h(
        'p',
        {},
        'Give an admin token: the admin_token of the configuration (npm start keeps one in garage-data/admin_token), or one made with garage admin-token create.',
      ),
      form,
      h('p', { id: 'signin-error', class: 'error', role: 'alert' }, message),
    ),
  );
}

$('signout').addEventListener('click', () => {
  sessionStorage.clear();
  location.hash = '';
  showSignIn();
});
window.addEventListener('hashchange', route);
config = await fetch('/ui/config.json').then((r) => r.json());
if (token()) $('nav').hidden = false;
route();
