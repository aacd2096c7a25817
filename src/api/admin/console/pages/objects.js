// The object browser: S3 requests signed in the page with a key the operator picks.

import { $, act, api, bytes, config, h, refresh, table, toast } from '../lib.js';
import { signRequest, uriEncode } from '../sigv4.js';

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

export async function objectsPage() {
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
        refresh();
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
            refresh();
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
          refresh();
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
            refresh();
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
            refresh();
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
                  refresh();
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
                    refresh();
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
