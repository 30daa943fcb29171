// Small DOM helpers: build elements, format numbers, show a message.

/** h('div', {class: 'x', onclick: fn}, child, ...) -> an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name in el && typeof value !== 'string') el[name] = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** A similarity or cosine as people read it: three decimals. */
export const num = (value) => (value === null || value === undefined ? '–' : Number(value).toFixed(3));

/** A notice box: kind is 'error', 'warn', 'ok' or 'info'. */
export const notice = (kind, ...children) => h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...children);

/** Replace an element's content. */
export function show(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** A bar 0..1 for a cosine in [-1, 1], with a tick at the threshold. */
export function simBar(value, threshold, label = 'cosine') {
  const pct = (v) => `${Math.max(0, Math.min(1, (v + 1) / 2)) * 100}%`;
  return h('span', { class: 'bar', title: `${label} ${num(value)}` },
    h('span', { class: 'fill', style: `width:${pct(value)}` }),
    threshold === null || threshold === undefined ? null : h('span', { class: 'tick', style: `left:${pct(threshold)}` }));
}
