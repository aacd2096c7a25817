// Access keys and admin tokens.

import { $, act, api, badge, h, refresh, short, table, toast } from '../lib.js';

export async function keysPage() {
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
            await refresh();
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
                refresh();
              }),
            },
            'Delete',
          ),
        ]),
      ),
    ),
  ];
}

export async function keyPage(id) {
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
              refresh();
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
              refresh();
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

export async function tokensPage() {
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
            await refresh();
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
                    refresh();
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
