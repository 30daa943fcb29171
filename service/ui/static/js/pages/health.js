// Gallery health: RegularFace's separability (Sep) over the enrolled identities, confusable pairs, stray faces.

import { api, query } from '../api.js';
import { h, notice, num, show, simBar } from '../dom.js';
import { errorNotice, identityLink, pager, storedCrop } from '../widgets.js';

const PAGE = 25;

export default function healthPage() {
  const body = h('div', { 'aria-live': 'polite' }, notice('info', 'Measuring the gallery…'));
  const load = async (offset = 0) => {
    try {
      show(body, report(await api(`/gallery/separability${query({ offset, limit: PAGE, pairs: 10, strays: 50 })}`), load));
    } catch (error) {
      show(body, errorNotice(error));
    }
  };
  load();
  return h('div', { class: 'page' },
    h('div', { class: 'heading' }, h('h1', {}, 'Gallery health'), h('button', { type: 'button', class: 'quiet', onclick: () => load() }, 'Measure again')),
    h('p', { class: 'lead' },
      'Each identity’s centre is the mean of its enrolled faces. Its separability Sep is the cosine to the nearest ',
      'other identity’s centre (RegularFace’s measure): the higher it is, the more easily the two are confused.'),
    body);
}

function report(health, load) {
  const threshold = health.identify_threshold;
  if (!health.sep) {
    return notice('info', `${health.identities} identity with faces (${health.faces} faces): separability needs at least two.`);
  }
  return [
    h('div', { class: 'stats' },
      stat('Sep, mean over identities', `${num(health.sep.mean)} ± ${num(health.sep.std)}`),
      stat('identities with faces', health.identities),
      stat('enrolled faces', health.faces),
      stat('identify threshold (an identity of 1 face, in a gallery this size)', num(threshold)),
      stat('faces to check', health.strays_total)),
    h('h2', {}, 'Faces closer to another identity than to their own'),
    health.strays.length
      ? h('div', {},
        h('p', { class: 'hint' }, 'Likely mis-enrolments: each face is nearer another identity’s centre than its own identity’s centre (computed without it).'),
        h('ol', { class: 'rows' }, health.strays.map((stray) => h('li', { class: 'stray' },
          storedCrop(stray.identity.id, stray.face_id, `face ${stray.face_id}`),
          h('span', {}, `Face ${stray.face_id} of `, identityLink(stray.identity), ` is nearer `, identityLink(stray.nearest),
            ` (${num(stray.cosine)}) than its own identity (${num(stray.own_cosine)}).`)))))
      : notice('ok', 'Every face is nearer its own identity than any other (identities with a single face are not checked).'),
    h('h2', {}, 'Most confusable pairs'),
    h('ol', { class: 'rows' }, health.pairs.map((pair) => h('li', { class: 'pair-row' },
      storedCrop(pair.identity_a.id, pair.face_a, `face of ${pair.identity_a.name}`),
      storedCrop(pair.identity_b.id, pair.face_b, `face of ${pair.identity_b.name}`),
      h('span', {}, identityLink(pair.identity_a), ' and ', identityLink(pair.identity_b),
        `: cosine of the centres ${num(pair.cosine)}; of their closest faces (shown) ${num(pair.face_similarity)}`,
        threshold !== null && pair.face_score >= threshold
          ? h('strong', { class: 'warn-text' }, ' — a face of one is above the identify threshold for a 1-face identity: identify could confuse them')
          : '.'),
      simBar(pair.face_score, threshold, 'score of the closest faces')))),
    h('h2', {}, 'Each identity’s nearest other identity'),
    h('table', {},
      h('thead', {}, h('tr', {}, h('th', {}, 'Identity'), h('th', { class: 'num' }, 'Faces'), h('th', {}, 'Nearest other identity'), h('th', {}, 'Sep (cosine)'))),
      h('tbody', {}, health.neighbours.items.map((row) => h('tr', {},
        h('td', {}, identityLink(row.identity)), h('td', { class: 'num' }, row.faces), h('td', {}, identityLink(row.nearest)),
        h('td', {}, simBar(row.cosine, null), ' ', num(row.cosine)))))),
    pager(health.neighbours, load),
  ];
}

const stat = (label, value) => h('div', { class: 'stat' }, h('span', { class: 'value' }, value), h('span', { class: 'label' }, label));
