// Verify: are the faces in two images the same person? Each image with its face drawn and its aligned crop.

import { api } from '../api.js';
import { faceCanvas } from '../draw.js';
import { h, notice, num, show } from '../dom.js';
import { imagePicker } from '../picker.js';
import { errorNotice, strictnessSelect } from '../widgets.js';

const SIDES = ['a', 'b'];

export default function verifyPage() {
  const chosen = {};
  const panes = {};
  const result = h('section', { class: 'verdict', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', disabled: true }, 'Compare');
  const strictness = strictnessSelect();

  for (const side of SIDES) {
    const view = h('div', { class: 'view' });
    const picker = imagePicker({
      label: `Image ${side.toUpperCase()}`,
      name: `image_${side}`,
      onpick: async ([file]) => {
        chosen[side] = file;
        button.disabled = !(chosen.a && chosen.b);
        show(result);
        show(view, await faceCanvas(file));
      },
    });
    panes[side] = { view, crop: h('div', { class: 'aligned' }) };
    panes[side].el = h('div', { class: 'pane' }, picker.el, view, panes[side].crop);
  }

  async function compare(event) {
    event.preventDefault();
    const form = new FormData();
    for (const side of SIDES) form.append(`image_${side}`, chosen[side]);
    form.append('return_crops', 'true');
    if (strictness.value) form.append('far', strictness.value);
    button.disabled = true;
    show(result, notice('info', 'Comparing…'));
    try {
      const answer = await api('/verify', { method: 'POST', form });
      for (const side of SIDES) {
        const face = answer[`face_${side}`];
        const tone = answer.match === null ? 'neutral' : answer.match ? 'match' : 'nomatch';
        show(panes[side].view, await faceCanvas(chosen[side], [{ ...face, tone }]));
        show(panes[side].crop, h('img', { class: 'crop', src: answer[`crop_${side}`], alt: `aligned crop of image ${side.toUpperCase()}` }),
          h('span', { class: 'hint' }, `aligned crop, 112×96: what the model compares (detection score ${num(face.score)})`));
      }
      show(result, verdict(answer));
    } catch (error) {
      show(result, errorNotice(error)); // the message names the image at fault (image_a or image_b)
      const side = (error.details.field || '').replace('image_', '');
      if (panes[side]) show(panes[side].crop);
    } finally {
      button.disabled = false;
    }
  }

  return h('form', { class: 'page', onsubmit: compare },
    h('h1', {}, 'Verify'),
    h('p', { class: 'lead' }, 'Are the faces in these two images the same person? Each image’s largest face is compared.'),
    h('div', { class: 'pair' }, panes.a.el, panes.b.el),
    h('div', { class: 'actions' }, h('label', {}, 'Strictness ', strictness), button),
    result);
}

function verdict(answer) {
  const score = num(answer.score);
  if (answer.match === null) {
    return notice('info', h('strong', {}, 'No decision. '),
      `Score ${score}; the model ${answer.model} has no calibrated threshold.`);
  }
  const threshold = num(answer.threshold);
  const words = answer.match
    ? [h('strong', {}, 'Same person. '), `Score ${score} is at or above the threshold ${threshold}.`]
    : [h('strong', {}, 'Different people. '), `Score ${score} is below the threshold ${threshold}.`];
  const strictness = answer.far === null
    ? 'a threshold sent with the request'
    : `the threshold that accepts about 1 impostor in ${Math.round(1 / answer.far).toLocaleString('en')}`;
  return notice(answer.match ? 'ok' : 'bad', ...words,
    h('span', { class: 'hint' }, ` Cosine similarity of the two aligned faces ${num(answer.similarity)}, from −1 to 1; ` +
      `the score corrects it for how much each face resembles faces in general. At ${strictness}; model ${answer.model}.`));
}
