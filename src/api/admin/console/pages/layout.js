// Layout: current roles, staged changes, assign / remove / preview / apply / revert.

import { act, api, bytes, h, refresh, short, table, toast } from '../lib.js';

export async function layoutPage() {
  const [layout, status, history] = await Promise.all([
    api('GetClusterLayout'),
    api('GetClusterStatus'),
    api('GetClusterLayoutHistory'),
  ]);
  const zr = layout.parameters.zoneRedundancy;
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
        refresh();
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
        `Zone redundancy: ${zr === 'maximum' ? 'maximum' : zr.atLeast}; partition size ${bytes(layout.partitionSize)}; ` +
          `live versions ${history.versions.map((v) => `${v.version} (${v.status})`).join(', ')}`,
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
                refresh();
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
              refresh();
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
              refresh();
            }),
          },
          'Revert',
        ),
      ),
      preview,
    ),
  ];
}
