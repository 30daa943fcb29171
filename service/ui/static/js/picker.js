// Choosing an image: a file picker, drag and drop, or the camera where the browser allows it.

import { h } from './dom.js';

const canFilm = () => Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.isSecureContext);

/**
 * An image chooser. `onpick(files)` gets the chosen File(s); `multiple` allows several (no camera then).
 * Returns {el, clear()}.
 */
export function imagePicker({ label, multiple = false, onpick, name = 'image' }) {
  const input = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp,image/bmp', multiple, name,
    onchange: () => input.files.length && onpick([...input.files]) });
  const zone = h('label', { class: 'drop' },
    h('strong', {}, label),
    h('span', {}, multiple ? 'Drop images here or choose files' : 'Drop an image here or choose a file'),
    input);
  zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    const files = [...event.dataTransfer.files].filter((file) => file.type.startsWith('image/'));
    if (files.length) onpick(multiple ? files : files.slice(0, 1));
  });
  const el = h('div', { class: 'picker' }, zone);
  if (!multiple && canFilm()) el.append(cameraButton((file) => onpick([file])));
  return { el, clear: () => { input.value = ''; } };
}

function cameraButton(onphoto) {
  const area = h('div', { class: 'camera' });
  let stream = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    stream = null;
    area.replaceChildren(start);
  };
  const start = h('button', { type: 'button', class: 'quiet', onclick: async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: true });
    } catch (error) {
      area.replaceChildren(start, h('span', { class: 'hint' }, ` camera unavailable: ${error.message}`));
      return;
    }
    const video = h('video', { autoplay: true, playsInline: true, muted: true });
    video.srcObject = stream;
    const take = h('button', { type: 'button', onclick: () => {
      const canvas = h('canvas', { width: video.videoWidth, height: video.videoHeight });
      canvas.getContext('2d').drawImage(video, 0, 0);
      canvas.toBlob((blob) => {
        stop();
        onphoto(new File([blob], 'camera.jpg', { type: 'image/jpeg' }));
      }, 'image/jpeg', 0.92);
    } }, 'Take photo');
    area.replaceChildren(video, take, h('button', { type: 'button', class: 'quiet', onclick: stop }, 'Cancel'));
  } }, 'Use the camera');
  area.append(start);
  return area;
}
