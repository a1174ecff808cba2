// Building the page from data, for the alert panel, the signals console and
// their shared sign-in (session.js).
//
// Everything rendered from server data goes through textContent and
// createElement; never innerHTML.

/** $ returns the element with the given id, or null. */
export const $ = (id) => document.getElementById(id);

/**
 * h creates an element: props set attributes ('class' the class name, 'text'
 * the text content; null, undefined and false are left out, true is an empty
 * attribute) and kids are appended as nodes or as text.
 */
export function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false || kid === '') continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * svgIcon draws a 24×24 line icon from path data, hidden from assistive
 * technology: the control it sits in carries the name.
 */
export function svgIcon(paths, cls = 'icon') {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of paths) {
    const p = document.createElementNS(SVG_NS, 'path');
    p.setAttribute('d', d);
    svg.append(p);
  }
  return svg;
}

/** str turns a value from the server into text: null and undefined are ''. */
export const str = (v) => (typeof v === 'string' ? v : v === null || v === undefined ? '' : String(v));

/** capitalize upper-cases the first letter of str(s). */
export function capitalize(s) {
  s = str(s);
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
