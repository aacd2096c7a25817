// What every page of the console uses: the admin API client, DOM building, messages, formats.

export const $ = (id) => document.getElementById(id);
/** The console's settings, from /ui/config.json (loadConfig): S3 region and prefix, operations called with GET. */
export const config = { s3Region: 'garage', s3Prefix: '/s3', getOps: [] };

/** Builds an element: attributes (on* are listeners), then children (strings become text). */
export function h(tag, attrs = {}, ...children) {
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

export function toast(text, error = false) {
  const t = h('div', { class: error ? 'error' : '' }, text);
  $('toast').append(t);
  setTimeout(() => t.remove(), error ? 8000 : 3000);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = () => sessionStorage.getItem('garage-admin-token');

/** Calls an admin API operation. */
export async function api(op, { query, body } = {}) {
  const q = query ? `?${new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined))}` : '';
  const method = config.getOps.includes(op) ? 'GET' : 'POST';
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
export function act(fn) {
  return async (ev) => {
    ev?.preventDefault?.();
    try {
      await fn(ev);
    } catch (e) {
      toast(e.message, true);
    }
  };
}

export const bytes = (n) => {
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
export const short = (id) => (id ? id.slice(0, 16) : '');
export const table = (head, rows) =>
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
export const badge = (text, cls = text) => h('span', { class: `badge ${cls}` }, text);

/** Loads the console's settings. */
export async function loadConfig() {
  Object.assign(config, await fetch('/ui/config.json').then((r) => r.json()));
}

let router = async () => undefined;

/** Sets what renders the current page (app.js). */
export function setRouter(fn) {
  router = fn;
}

/** Renders the current page again (after a change); resolves once it is on screen. */
export function refresh() {
  return router();
}
