// Keys (admin): list, create and revoke API keys. A new key is shown once.

import { api, apiKey } from '../api.js';
import { h, notice, show } from '../dom.js';
import { errorNotice } from '../widgets.js';

export default function keysPage() {
  const list = h('div');
  const message = h('div', { 'aria-live': 'polite' });

  async function load() {
    try {
      const keys = await api('/keys');
      show(list, h('table', {},
        h('thead', {}, h('tr', {}, ['Id', 'Name', 'Role', 'Starts with', 'Created', 'Status', ''].map((label) => h('th', {}, label)))),
        h('tbody', {}, keys.map((key) => h('tr', { class: key.revoked ? 'revoked' : '' },
          h('td', { class: 'num' }, key.id), h('td', {}, key.name), h('td', {}, key.role), h('td', {}, h('code', {}, `${key.prefix}…`)),
          h('td', {}, new Date(key.created_at).toLocaleString()),
          h('td', {}, key.revoked ? 'revoked' : 'active', apiKey.get().startsWith(key.prefix) ? ' (this browser)' : ''),
          h('td', {}, key.revoked ? '' : h('button', { type: 'button', class: 'danger small', onclick: () => revoke(key) }, 'Revoke')))))));
    } catch (error) {
      show(list, error.code === 'forbidden' ? notice('info', 'Managing keys needs an admin key.') : errorNotice(error));
    }
  }

  async function revoke(key) {
    if (!window.confirm(`Revoke key ${key.id} (${key.name})? Requests with it will be refused from now on.`)) return;
    try {
      await api(`/keys/${key.id}/revoke`, { method: 'POST' });
      show(message, notice('ok', `Key ${key.id} revoked.`));
    } catch (error) {
      show(message, errorNotice(error));
    }
    load();
  }

  const name = h('input', { name: 'name', required: true, maxlength: 255, placeholder: 'Who or what uses it' });
  const role = h('select', { name: 'role' }, h('option', { value: 'client' }, 'client: verify, identify, read'), h('option', { value: 'admin' }, 'admin: everything'));
  const create = h('form', { class: 'inline', onsubmit: async (event) => {
    event.preventDefault();
    try {
      const made = await api('/keys', { method: 'POST', json: { name: name.value, role: role.value } });
      name.value = '';
      const copy = h('button', { type: 'button', class: 'quiet', onclick: () => navigator.clipboard.writeText(made.key).then(() => { copy.textContent = 'Copied'; }) }, 'Copy');
      show(message, notice('ok', h('strong', {}, `New ${made.role} key “${made.name}”: `), h('code', { class: 'secret' }, made.key), ' ', copy,
        h('br'), 'Copy it now: it is not shown again (only its hash is stored).'));
      load();
    } catch (error) {
      show(message, errorNotice(error));
    }
  } }, name, role, h('button', { type: 'submit' }, 'Create key'));

  load();
  return h('div', { class: 'page' },
    h('h1', {}, 'API keys'),
    h('p', { class: 'lead' }, 'Admin keys may do everything; client keys may verify, identify and read the gallery.'),
    create, message, list);
}
