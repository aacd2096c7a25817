// The web console: a single page on the admin API v2 (bearer token kept in session storage,
// never in a URL) and, for the object browser, the S3 API through the admin listener's /s3/
// prefix, signed in the page with a key the operator picks. Text from the server is only ever
// set as text (no innerHTML), so object keys and names cannot inject markup.

import { $, ApiError, api, h, loadConfig, setRouter, toast, token } from './lib.js';
import { clusterPage } from './pages/cluster.js';
import { layoutPage } from './pages/layout.js';
import { bucketPage, bucketsPage } from './pages/buckets.js';
import { keyPage, keysPage, tokensPage } from './pages/keys.js';
import { workersPage } from './pages/workers.js';
import { objectsPage } from './pages/objects.js';

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

// Each render gets a number: a slow page that finishes after the operator moved on is dropped.
let renders = 0;

async function route() {
  if (!token()) return showSignIn();
  const mine = ++renders;
  const [page, arg] = (location.hash.slice(1) || 'cluster').split('/');
  const fn = PAGES[page] ?? clusterPage;
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.getAttribute('href') === `#${page}`);
  try {
    const content = await fn(arg && decodeURIComponent(arg));
    if (mine !== renders) return;
    $('main').replaceChildren(...content);
  } catch (e) {
    if (mine !== renders) return;
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
        'Give an admin token: the admin_token of the configuration (npm start keeps one in ' +
          'garage-data/admin_token), or one made with garage admin-token create.',
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
setRouter(route);
await loadConfig();
if (token()) $('nav').hidden = false;
route();
