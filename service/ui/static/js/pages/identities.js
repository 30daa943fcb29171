// Identities: search and page through them, create, rename, delete; enrol images and manage an identity's faces.

import { api, query } from '../api.js';
import { h, notice, num, show } from '../dom.js';
import { imagePicker } from '../picker.js';
import { errorNotice, pager, storedCrop } from '../widgets.js';

const PAGE = 20;
const FACES_PAGE = 60;

export default function identitiesPage(selected) {
  const state = { offset: 0, name: '' };
  const table = h('div', { class: 'listing' });
  const detail = h('section', { class: 'detail', 'aria-live': 'polite' });

  async function load() {
    try {
      const page = await api(`/identities${query({ offset: state.offset, limit: PAGE, name: state.name })}`);
      show(table, page.items.length ? h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'External id'), h('th', { class: 'num' }, 'Faces'),
          h('th', { class: 'num' }, 'Id'))),
        h('tbody', {}, page.items.map((identity) => h('tr', { class: String(identity.id) === selected ? 'selected' : '' },
          h('td', {}, h('a', { href: `#identities/${identity.id}` }, identity.name)),
          h('td', {}, identity.external_id || ''),
          h('td', { class: 'num' }, identity.faces),
          h('td', { class: 'num' }, identity.id))))) : h('p', { class: 'hint' }, state.name ? 'No identity has that in its name.' : 'No identity yet: create one below.'),
      pager(page, (offset) => { state.offset = offset; load(); }));
    } catch (error) {
      show(table, errorNotice(error));
    }
  }

  let typing;
  const search = h('input', { type: 'search', placeholder: 'Search by name', 'aria-label': 'search by name', oninput: () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.name = search.value.trim(); state.offset = 0; load(); }, 250);
  } });

  const newName = h('input', { name: 'name', required: true, maxlength: 255, placeholder: 'Name' });
  const newExternal = h('input', { name: 'external_id', maxlength: 255, placeholder: 'External id (optional)' });
  const created = h('div');
  const create = h('form', { class: 'inline admin-only', onsubmit: async (event) => {
    event.preventDefault();
    try {
      const identity = await api('/identities', { method: 'POST', json: { name: newName.value, external_id: newExternal.value || null } });
      newName.value = newExternal.value = '';
      show(created);
      location.hash = `#identities/${identity.id}`;
    } catch (error) {
      show(created, errorNotice(error));
    }
  } }, newName, newExternal, h('button', { type: 'submit' }, 'Create identity'));

  load();
  if (selected) showIdentity(detail, selected);
  else show(detail, h('p', { class: 'hint' }, 'Choose an identity to rename it, delete it, enrol images or manage its faces.'));

  return h('div', { class: 'page' },
    h('h1', {}, 'Identities'),
    h('div', { class: 'split' },
      h('section', {}, search, table, h('h2', { class: 'admin-only' }, 'New identity'), create, created,
        h('p', { class: 'hint client-only' }, 'A client key can search and look; creating, renaming, deleting and enrolling need an admin key.')),
      detail));
}

async function showIdentity(panel, id) {
  let identity;
  try {
    identity = await api(`/identities/${id}`);
  } catch (error) {
    show(panel, errorNotice(error));
    return;
  }
  const faces = h('div', { class: 'faces' });
  const message = h('div', { 'aria-live': 'polite' });
  const loadFaces = () => showFaces(faces, identity);

  const name = h('input', { name: 'name', value: identity.name, required: true, maxlength: 255, 'aria-label': 'name' });
  const rename = h('form', { class: 'inline admin-only', onsubmit: async (event) => {
    event.preventDefault();
    try {
      identity = await api(`/identities/${id}`, { method: 'PATCH', json: { name: name.value } });
      title.textContent = identity.name;
      show(message, notice('ok', `Renamed to ${identity.name}.`));
    } catch (error) {
      show(message, errorNotice(error));
    }
  } }, name, h('button', { type: 'submit' }, 'Rename'));

  const remove = h('button', { type: 'button', class: 'danger admin-only', onclick: async () => {
    const count = faces.dataset.total || 'all';
    if (!window.confirm(`Delete ${identity.name} and ${count} enrolled face(s)? This cannot be undone.`)) return;
    try {
      await api(`/identities/${id}`, { method: 'DELETE' });
      location.hash = '#identities';
    } catch (error) {
      show(message, errorNotice(error));
    }
  } }, 'Delete identity');

  const title = h('h2', {}, identity.name);
  show(panel,
    h('div', { class: 'heading' }, title, remove),
    h('p', { class: 'hint' }, `Identity ${identity.id}`, identity.external_id ? ` · external id ${identity.external_id}` : ''),
    rename, message,
    enrolForm(identity, loadFaces),
    h('h3', {}, 'Enrolled faces'), faces);
  loadFaces();
}

function enrolForm(identity, onenrolled) {
  let files = [];
  const chosen = h('ul', { class: 'thumbs' });
  const results = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', disabled: true }, 'Enrol');
  const largest = h('input', { type: 'checkbox', name: 'pick_largest' });
  const picker = imagePicker({ label: 'Enrol images', multiple: true, name: 'images', onpick: (picked) => {
    files = picked.slice(0, 20);
    button.disabled = false;
    button.textContent = `Enrol ${files.length} image${files.length > 1 ? 's' : ''}`;
    show(results);
    show(chosen, files.map((file) => h('li', {}, h('img', { src: URL.createObjectURL(file), alt: file.name }), h('span', {}, file.name))));
  } });

  return h('form', { class: 'enrol admin-only', onsubmit: async (event) => {
    event.preventDefault();
    const form = new FormData();
    for (const file of files) form.append('images', file);
    form.append('pick_largest', largest.checked ? 'true' : 'false');
    button.disabled = true;
    show(results, notice('info', `Enrolling ${files.length} image(s)…`));
    let answer;
    try {
      answer = await api(`/identities/${identity.id}/faces`, { method: 'POST', form });
    } catch (error) {
      answer = error.details.results ? error.details : null; // nothing enrolled: the per-image reasons are in details
      if (!answer) show(results, errorNotice(error));
    }
    button.disabled = false;
    if (answer) {
      show(results, enrolResults(answer, files));
      picker.clear();
      onenrolled();
    }
  } }, picker.el, chosen,
  h('label', { class: 'option' }, largest, ' Photos with several faces: enrol the largest'),
  h('div', { class: 'actions' }, button), results);
}

function enrolResults(answer, files) {
  const kind = answer.enrolled === 0 ? 'error' : answer.rejected ? 'warn' : 'ok';
  return h('div', {},
    notice(kind, `${answer.enrolled} enrolled, ${answer.rejected} rejected.`),
    h('ol', { class: 'results' }, answer.results.map((item) => h('li', { class: item.status },
      h('span', { class: 'file' }, files[item.index] ? files[item.index].name : `image ${item.index + 1}`),
      item.status === 'enrolled'
        ? h('span', {}, `enrolled as face ${item.face_id}`)
        : h('span', {}, 'rejected: ', h('code', {}, item.reason), ` — ${item.message}`),
      item.warning ? h('div', { class: 'notice warn' }, h('strong', {}, 'Check this face: '), item.warning.message) : null))));
}

async function showFaces(grid, identity, offset = 0) {
  let page;
  try {
    page = await api(`/identities/${identity.id}/faces${query({ offset, limit: FACES_PAGE })}`);
  } catch (error) {
    show(grid, errorNotice(error));
    return;
  }
  grid.dataset.total = page.total;
  if (!page.items.length && !offset) {
    show(grid, h('p', { class: 'hint' }, 'No face enrolled yet.'));
    return;
  }
  show(grid,
    page.items.map((face) => h('figure', { class: 'face' },
      storedCrop(identity.id, face.id, `face ${face.id} of ${identity.name}`),
      h('figcaption', {}, `face ${face.id}`, h('br'), h('small', {}, `score ${num(face.score)}`)),
      h('button', { type: 'button', class: 'danger small admin-only', title: `delete face ${face.id}`, onclick: async () => {
        if (!window.confirm(`Delete face ${face.id} of ${identity.name}?`)) return;
        try {
          await api(`/identities/${identity.id}/faces/${face.id}`, { method: 'DELETE' });
          showFaces(grid, identity, offset);
        } catch (error) {
          grid.prepend(errorNotice(error));
        }
      } }, 'Delete'))),
    page.total > FACES_PAGE ? pager(page, (next) => showFaces(grid, identity, next)) : null);
}
