// The dashboard's shell: the pages, hash routing (#/console ...), login and logout, the
// light and dark themes.

import { api, auth, el, events, fill } from './lib.js';
import * as history from './history.js';
import overview from './pages/overview.js';
import consolePage from './pages/console.js';
import keys from './pages/keys.js';
import queues from './pages/queues.js';
import pubsub from './pages/pubsub.js';
import slowlog from './pages/slowlog.js';
import settings from './pages/settings.js';
import cluster from './pages/cluster.js';
import login from './pages/login.js';

const PAGES = [
  ['overview', 'Overview', overview],
  ['console', 'Console', consolePage],
  ['keys', 'Keys', keys],
  ['queues', 'Queues', queues],
  ['pubsub', 'Pub/Sub', pubsub],
  ['slowlog', 'Slow log', slowlog],
  ['settings', 'Settings', settings],
  ['cluster', 'Cluster', cluster],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const logoutButton = document.getElementById('logout');
let cleanup = null;
let session = null; // {user, required} once logged in

function theme(next) {
  const saved = next || localStorage.getItem('flashdb.theme')
    || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = saved;
  if (next) localStorage.setItem('flashdb.theme', next);
  window.dispatchEvent(new Event('flashdb:theme'));
}

document.getElementById('theme').addEventListener('click', () => {
  theme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark');
});

logoutButton.addEventListener('click', () => {
  auth.set('');
  session = null;
  history.stop();
  events.reset();
  location.hash = '#/login';
  route();
});

window.addEventListener('flashdb:login', () => {
  if (location.hash !== '#/login') {
    session = null;
    location.hash = '#/login';
  }
});

/** Asks the server who these credentials log in as (200 either way). */
async function check() {
  const r = await api('/api/v1/auth');
  session = r.authenticated ? { user: r.user, required: r.required } : null;
  return r;
}

async function route() {
  if (cleanup) { try { cleanup(); } catch (e) { console.warn(e); } cleanup = null; }
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || 'overview';
  if (!session) {
    try { await check(); } catch (e) { fill(main, el('p', { class: 'error' }, 'The server did not answer: ' + e.message)); return; }
  }
  if (!session || name === 'login') {
    if (session && name === 'login') { location.hash = '#/overview'; return; }
    nav.replaceChildren();
    who.textContent = '';
    logoutButton.hidden = true;
    fill(main);
    cleanup = login(main, {
      async loggedIn(token) {
        auth.set(token);
        const r = await check();
        if (!r.authenticated) { auth.set(''); return false; }
        events.reset();
        if (location.hash === '#/overview') route();
        else location.hash = '#/overview';
        return true;
      },
    });
    return;
  }
  history.start();
  who.textContent = session.required ? 'as ' + session.user : '';
  logoutButton.hidden = !session.required;
  nav.replaceChildren(...PAGES.map(([id, label]) => el('a', {
    href: '#/' + id, 'aria-current': id === name ? 'page' : null,
  }, label)));
  const page = PAGES.find(([id]) => id === name) || PAGES[0];
  document.title = page[1] + ' · FlashDB';
  fill(main);
  main.dataset.page = page[0];
  cleanup = page[2](main) || null;
}

theme();
window.addEventListener('hashchange', route);
route();
