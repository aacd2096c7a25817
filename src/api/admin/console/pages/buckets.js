// Buckets: the list, and one bucket (aliases, quotas, website, key permissions).

import { act, api, bytes, h, refresh, short, table, toast } from '../lib.js';

export async function bucketsPage() {
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
        refresh();
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

export async function bucketPage(id) {
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
                    refresh();
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
              refresh();
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
              refresh();
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
              refresh();
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
                refresh();
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
            refresh();
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
