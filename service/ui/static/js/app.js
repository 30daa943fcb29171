// The console's shell: the API key bar and the page router (#page or #page/argument).

import { api, apiKey, ApiError, clearCrops } from './api.js';
import { show } from './dom.js';
import health from './pages/health.js';
import identify from './pages/identify.js';
import identities from './pages/identities.js';
import keys from './pages/keys.js';
import verify from './pages/verify.js';

const PAGES = { verify, identify, identities, health, keys };
const main = document.getElementById('page');
const keyInput = document.getElementById('key-input');
const keyStatus = document.getElementById('key-status');

/** Which role the key has: 'admin' (may list keys), 'client', 'none' (auth off), or null with an error. */
async function describeKey() {
  try {
    await api('/keys');
    return apiKey.get() ? 'admin' : 'none';
  } catch (error) {
    if (error instanceof ApiError && error.code === 'forbidden') return 'client';
    throw error;
  }
}

async function refreshKeyStatus() {
  const key = apiKey.get();
  keyInput.value = key;
  keyStatus.className = '';
  try {
    const role = await describeKey();
    keyStatus.textContent = role === 'none' ? 'the service asks for no key' : `${role} key`;
    keyStatus.classList.add('good');
    document.body.dataset.role = role;
  } catch (error) {
    keyStatus.textContent = key ? 'key not accepted' : 'enter a key';
    keyStatus.classList.add('bad');
    document.body.dataset.role = '';
  }
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  apiKey.set(keyInput.value);
  clearCrops();
  refreshKeyStatus().then(route);
});
document.getElementById('key-forget').addEventListener('click', () => {
  apiKey.set('');
  clearCrops();
  refreshKeyStatus().then(route);
});
window.addEventListener('facever:unauthorized', () => {
  keyStatus.textContent = apiKey.get() ? 'key not accepted' : 'enter a key';
  keyStatus.className = 'bad';
  keyInput.focus();
});

function route() {
  const [name, argument] = (location.hash.slice(1) || 'verify').split('/');
  const page = PAGES[name] || verify;
  for (const link of document.querySelectorAll('#nav a')) {
    link.toggleAttribute('aria-current', link.getAttribute('href') === `#${name}`);
  }
  show(main, page(argument ? decodeURIComponent(argument) : undefined));
  document.title = `${document.querySelector('#nav a[aria-current]')?.textContent || 'Verify'} · facever`;
}

window.addEventListener('hashchange', route);
refreshKeyStatus();
route();
