// An image with its detected faces drawn on it: box, five landmarks and a label per face.

import { h } from './dom.js';

const COLOURS = { match: '#1a7f37', nomatch: '#b42318', neutral: '#0b63ce' };

/**
 * A canvas showing `image` (a File or Blob) at its natural size (CSS scales it down), with `faces`:
 * [{box: [x1, y1, x2, y2], landmarks: [[x, y] x5], label?, tone?: 'match' | 'nomatch' | 'neutral'}].
 * Coordinates are the service's: pixels of the image after its EXIF orientation, as the browser shows it too.
 */
export async function faceCanvas(image, faces = []) {
  const bitmap = await createImageBitmap(image);
  const canvas = h('canvas', { class: 'photo', width: bitmap.width, height: bitmap.height });
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const unit = Math.max(2, Math.round(Math.max(bitmap.width, bitmap.height) / 250));
  for (const face of faces) {
    const colour = COLOURS[face.tone || 'neutral'];
    const [x1, y1, x2, y2] = face.box;
    ctx.lineWidth = unit;
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.fillStyle = '#ffd400';
    for (const [x, y] of face.landmarks) {
      ctx.beginPath();
      ctx.arc(x, y, unit * 1.4, 0, 2 * Math.PI);
      ctx.fill();
    }
    if (face.label) {
      ctx.font = `600 ${unit * 7}px system-ui, sans-serif`;
      const width = ctx.measureText(face.label).width + unit * 4;
      const top = Math.max(0, y1 - unit * 10);
      ctx.fillStyle = colour;
      ctx.fillRect(x1 - unit / 2, top, width, unit * 10);
      ctx.fillStyle = '#fff';
      ctx.fillText(face.label, x1 + unit * 1.5, top + unit * 7.5);
    }
  }
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `${faces.length} face(s) marked`);
  return canvas;
}
