// Identify: who, among the enrolled identities, is in this image? Candidates with their stored crops.

import { api } from '../api.js';
import { faceCanvas } from '../draw.js';
import { h, notice, num, show, simBar } from '../dom.js';
import { imagePicker } from '../picker.js';
import { errorNotice, identityLink, storedCrop, strictnessSelect } from '../widgets.js';

export default function identifyPage() {
  let chosen = null;
  const view = h('div', { class: 'view' });
  const answers = h('section', { class: 'answers', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', disabled: true }, 'Identify');
  const topK = h('input', { type: 'number', name: 'top_k', min: 1, max: 100, value: 5 });
  const strictness = strictnessSelect();
  const allFaces = h('input', { type: 'checkbox', name: 'all_faces' });
  const picker = imagePicker({
    label: 'Photo',
    onpick: async ([file]) => {
      chosen = file;
      button.disabled = false;
      show(answers);
      show(view, await faceCanvas(file));
    },
  });

  async function identify(event) {
    event.preventDefault();
    const form = new FormData();
    form.append('image', chosen);
    form.append('top_k', topK.value || '5');
    form.append('all_faces', allFaces.checked ? 'true' : 'false');
    form.append('return_crops', 'true');
    if (strictness.value) form.append('far', strictness.value);
    button.disabled = true;
    show(answers, notice('info', 'Searching the gallery…'));
    try {
      const result = await api('/identify', { method: 'POST', form });
      const faces = result.faces || [result];
      const several = faces.length > 1;
      show(view, await faceCanvas(chosen, faces.map((face, i) => ({
        ...face.face,
        tone: face.match ? 'match' : 'nomatch',
        label: `${several ? `${i + 1}: ` : ''}${face.match ? face.match.identity.name : 'no match'}`,
      }))));
      show(answers, faces.map((face, i) => answer(face, face.threshold, several ? i + 1 : null)));
    } catch (error) {
      show(answers, errorNotice(error));
    } finally {
      button.disabled = false;
    }
  }

  return h('form', { class: 'page', onsubmit: identify },
    h('h1', {}, 'Identify'),
    h('p', { class: 'lead' }, 'Who is this, among the people enrolled? Candidates come best first, one per identity.'),
    h('div', { class: 'pair' },
      h('div', { class: 'pane' }, picker.el, view),
      h('div', { class: 'pane' },
        h('div', { class: 'options' },
          h('label', {}, 'Candidates per face ', topK),
          h('label', {}, 'Strangers matched: ', strictness),
          h('label', {}, allFaces, ' Every face in the image (each gets its own answer)')),
        h('div', { class: 'actions' }, button),
        answers)));
}

function answer(face, threshold, number) {
  const title = number ? `Face ${number}: ` : '';
  const best = face.candidates[0];
  let summary;
  if (face.match) {
    summary = notice('ok', h('strong', {}, `${title}${face.match.identity.name}. `),
      `Score ${num(face.match.score)} is at or above the threshold ${num(threshold)}.`);
  } else if (!best) {
    summary = notice('bad', h('strong', {}, `${title}No match. `), 'The gallery has no enrolled face to compare with.');
  } else if (threshold === null) {
    summary = notice('info', h('strong', {}, `${title}No decision. `), 'The model has no calibrated threshold.');
  } else {
    summary = notice('bad', h('strong', {}, `${title}No match. `),
      `The closest enrolled identity, ${best.identity.name}, scores ${num(best.score)}, under the threshold ` +
      `${num(threshold)}: this person is probably not enrolled (or the photo differs too much from the enrolled ones).`);
  }
  return h('article', { class: 'answer' },
    h('div', { class: 'probe' },
      face.crop ? h('img', { class: 'crop', src: face.crop, alt: 'aligned crop of the face searched for' }) : null,
      summary),
    face.candidates.length ? h('ol', { class: 'candidates' }, face.candidates.map((candidate) => h('li', {
      class: face.match && candidate.identity.id === face.match.identity.id ? 'matched' : '',
    },
    storedCrop(candidate.identity.id, candidate.face_id, `stored face of ${candidate.identity.name}`),
    h('span', { class: 'who' }, identityLink(candidate.identity),
      candidate.identity.external_id ? h('small', {}, ` ${candidate.identity.external_id}`) : null),
    simBar(candidate.score, threshold, 'score'),
    h('span', { class: 'score' }, num(candidate.score))))) : null);
}
