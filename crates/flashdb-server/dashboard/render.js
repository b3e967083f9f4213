// Renders a command's reply by its type: tables for maps and arrays of pairs, JSON
// pretty-printed when a string holds JSON, hex for binary strings, errors in red.
// Everything from the server is set as text.

import { Bin, bytesText, el, fromB64 } from './lib.js';

function hex(bytes) {
  const lines = [];
  for (let i = 0; i < bytes.length && i < 4096; i += 16) {
    const row = bytes.slice(i, i + 16);
    const h = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const t = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(i.toString(16).padStart(6, '0') + '  ' + h.padEnd(48) + ' ' + t);
  }
  if (bytes.length > 4096) lines.push(`… ${bytes.length - 4096} more bytes`);
  return lines.join('\n');
}

function isScalar(v) {
  return v === null || typeof v !== 'object' || v instanceof Bin;
}

function jsonOf(s) {
  const t = s.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return undefined;
  try { return JSON.parse(t); } catch { return undefined; }
}

/** A node showing `v`, a reply as `pipeline` gives it. */
export function renderReply(v) {
  if (v === null || v === undefined) return el('span', { class: 'muted' }, '(nil)');
  if (typeof v === 'number') return el('span', { class: 'mono' }, '(integer) ' + v);
  if (typeof v === 'boolean') return el('span', { class: 'mono' }, v ? '(true)' : '(false)');
  if (v instanceof Bin) {
    const bytes = fromB64(v.b64);
    return el('div', {},
      el('span', { class: 'tag' }, `binary, ${bytes.length} bytes`),
      el('pre', { class: 'hex' }, hex(bytes)));
  }
  if (typeof v === 'string') {
    const json = jsonOf(v);
    if (json !== undefined) {
      return el('div', {}, el('span', { class: 'tag' }, 'JSON'), el('pre', {}, JSON.stringify(json, null, 2)));
    }
    return el('pre', { class: 'str' }, '"' + v + '"');
  }
  if (v instanceof Map) return pairsTable([...v.entries()]);
  if (Array.isArray(v)) {
    if (v.length === 0) return el('span', { class: 'muted' }, '(empty array)');
    if (v.every((x) => Array.isArray(x) && x.length === 2 && isScalar(x[0]))) return pairsTable(v);
    return el('ol', { start: 1 }, v.map((x) => el('li', {}, renderReply(x))));
  }
  if (typeof v === 'object') {
    if ('error' in v && Object.keys(v).length === 1) return el('span', { class: 'error' }, '(error) ' + v.error);
    return pairsTable(Object.entries(v));
  }
  return el('span', {}, String(v));
}

function pairsTable(pairs) {
  return el('table', { class: 'reply' },
    el('tbody', {}, pairs.map(([k, x]) => el('tr', {},
      el('th', { scope: 'row' }, k instanceof Bin ? bytesText(fromB64(k.b64)) : String(k)),
      el('td', {}, isScalar(x) && typeof x === 'string' ? x : renderReply(x))))));
}
