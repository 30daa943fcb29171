// Pieces several pages show: an error in words, a stored face crop, a pager.

import { cropUrl } from './api.js';
import { h, notice } from './dom.js';

/** An API or network error as a notice: the message, then the code. */
export function errorNotice(error) {
  const code = error.code ? h('code', {}, error.code) : null;
  const text = error.code === 'unauthorized' ? `${error.message} — enter a key at the top right.` : error.message;
  return notice('error', text, ' ', code);
}

/** An <img> of a stored aligned crop, filled in when it arrives. */
export function storedCrop(identityId, faceId, alt) {
  const img = h('img', { class: 'crop', alt, width: 96, height: 112, loading: 'lazy' });
  cropUrl(identityId, faceId).then(
    (src) => { img.src = src; },
    () => { img.replaceWith(h('span', { class: 'crop missing', title: 'no stored crop' }, 'no crop')); },
  );
  return img;
}

/** "1–20 of 57" with previous / next buttons; `go(offset)` is called with the new offset. */
export function pager(page, go) {
  const first = page.total ? page.offset + 1 : 0;
  const last = Math.min(page.offset + page.items.length, page.total);
  return h('div', { class: 'pager' },
    h('button', { type: 'button', disabled: page.offset === 0, onclick: () => go(Math.max(0, page.offset - page.limit)) }, '‹ Previous'),
    h('span', {}, `${first}–${last} of ${page.total}`),
    h('button', { type: 'button', disabled: last >= page.total, onclick: () => go(page.offset + page.limit) }, 'Next ›'));
}

/** A link to an identity's page in the console. */
export const identityLink = (identity) => h('a', { href: `#identities/${identity.id}` }, identity.name);

/** How strict a decision is: the model's default false-accept rate, or one the user names (sent as `far`). */
export function strictnessSelect() {
  return h('select', { name: 'far' },
    h('option', { value: '' }, 'the model’s default'),
    ...[['0.01', '100'], ['0.001', '1,000'], ['0.0001', '10,000']].map(([far, n]) =>
      h('option', { value: far }, `about 1 impostor in ${n} accepted`)));
}
