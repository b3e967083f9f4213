// Shared by every page: the API client (credentials as the HTTP Bearer), commands by
// pipeline, DOM building that only ever sets text (a string from the server is never
// parsed as markup), the event socket, and formats.

const TOKEN_KEY = 'flashdb.token';

/** The credentials of this tab: "password" or "user:password". */
export const auth = {
  get token() { return sessionStorage.getItem(TOKEN_KEY) || ''; },
  set(token) {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An answer of the API that is not a success: status, code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API; a 401 sends the page to the login form. */
export async function api(path, { method = 'GET', body } = {}) {
  const headers = {};
  if (auth.token) headers.Authorization = 'Bearer ' + auth.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    if (res.status === 401) window.dispatchEvent(new Event('flashdb:login'));
    throw new ApiError(res.status, err.code || String(res.status), err.message || res.statusText);
  }
  return data;
}

/** A key or value given as bytes (base64) rather than text. */
export class Bin {
  constructor(b64) { this.b64 = b64; }
}

function toB64(text) {
  const bytes = new TextEncoder().encode(text);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Bytes of a base64 string. */
export function fromB64(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** How bytes read: their text when they are UTF-8, else escapes as redis-cli shows them. */
export function bytesText(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let s = '';
    for (const b of bytes) {
      s += b >= 32 && b < 127 && b !== 92 ? String.fromCharCode(b) : '\\x' + b.toString(16).padStart(2, '0');
    }
    return s;
  }
}

/** Turns a reply's strings back into `Bin` when the reply came base64-encoded. */
function decodeReply(v, b64) {
  if (!b64) return v;
  if (typeof v === 'string') return new Bin(v);
  if (Array.isArray(v)) return v.map((x) => decodeReply(x, true));
  if (v && typeof v === 'object') {
    if ('error' in v && Object.keys(v).length === 1) return v;
    const o = new Map();
    for (const [k, x] of Object.entries(v)) o.set(bytesText(fromB64(k)), decodeReply(x, true));
    return o;
  }
  return v;
}

/** A command's text for display. */
export function shown(arg) {
  return arg instanceof Bin ? bytesText(fromB64(arg.b64)) : String(arg);
}

/**
 * Runs commands in order on one session (`POST /api/v1/pipeline`); resolves to one
 * `{result}` or `{error}` per command. Arguments are strings or `Bin`.
 */
export async function pipeline(commands, db = 0) {
  const binary = commands.some((c) => c.some((a) => a instanceof Bin));
  const body = {
    db,
    commands: binary
      ? commands.map((c) => c.map((a) => (a instanceof Bin ? a.b64 : toB64(String(a)))))
      : commands.map((c) => c.map(String)),
  };
  if (binary) body.encoding = 'base64';
  const data = await api('/api/v1/pipeline', { method: 'POST', body });
  return data.replies.map((r) => (r.error !== undefined
    ? { error: r.error }
    : { result: decodeReply(r.result, r.encoding === 'base64'), binary: r.encoding === 'base64' }));
}

/** Runs one command; its error reply becomes a thrown `ApiError` with code `COMMAND`. */
export async function run(args, db = 0) {
  const [r] = await pipeline([args], db);
  if (r.error !== undefined) throw new ApiError(200, 'COMMAND', r.error);
  return r.result;
}

/**
 * Builds an element. `attrs` sets properties (`class`, `on*` handlers, others as
 * attributes); children are nodes or strings, which become text nodes.
 */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'value') e.value = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  append(e, children);
  return e;
}

function append(e, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Empties `node` and fills it with `children`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A table: headings and rows of cells (nodes or text). */
export function table(headings, rows, caption) {
  return el('table', {},
    caption ? el('caption', { class: 'muted' }, caption) : null,
    el('thead', {}, el('tr', {}, headings.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

/** Shows an outcome in a status line: green when `ok`, red otherwise. */
export function say(node, ok, text) {
  node.className = ok ? 'ok' : 'error';
  node.textContent = text;
}

let databases = null; // the server's `databases`, asked once per tab

/**
 * A database menu (`db 0` ... `db N-1`), with as many databases as the server has
 * (`CONFIG GET databases`; 16, Redis's default, until it answers or if it cannot).
 */
export function dbSelect(id) {
  const select = el('select', { id, 'aria-label': 'Database' }, el('option', { value: '0' }, 'db 0'));
  const fill = (n) => {
    const current = select.value;
    select.replaceChildren(...[...Array(n).keys()].map((i) => el('option', { value: String(i) }, 'db ' + i)));
    select.value = Number(current) < n ? current : '0';
  };
  fill(16);
  databases ??= run(['CONFIG', 'GET', 'databases'])
    .then((r) => Number(r instanceof Map ? r.get('databases') : Array.isArray(r) ? r[1] : r.databases) || 16)
    .catch(() => 16);
  databases.then((n) => { if (n !== 16) fill(n); });
  return select;
}

/** Asks a yes/no question in a modal dialog; resolves to the answer. */
export function confirmDialog(question, yes = 'Delete') {
  return new Promise((resolve) => {
    const d = el('dialog', { 'aria-label': 'Confirm' },
      el('p', {}, question),
      el('div', { class: 'row' },
        el('button', { type: 'button', class: 'danger', 'data-answer': 'yes', onclick: () => d.close('yes') }, yes),
        el('button', { type: 'button', onclick: () => d.close('no') }, 'Cancel')));
    d.addEventListener('close', () => { d.remove(); resolve(d.returnValue === 'yes'); });
    document.body.append(d);
    d.showModal();
  });
}

/** Bytes as 1.2 MB. */
export function bytes(n) {
  if (!Number.isFinite(n)) return '-';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}

/** A number with thousands separators. */
export function num(n, digits = 0) {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '-';
}

/** Milliseconds as "3.2 s", "5 min", "2 h". */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60_000) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 3_600_000) return Math.round(ms / 60_000) + ' min';
  return (ms / 3_600_000).toFixed(1) + ' h';
}

/**
 * Splits a command line as redis-cli does: spaces separate arguments; "double" quotes
 * take \n \t \" \\ \xHH escapes, 'single' quotes only \'. Throws on an open quote.
 */
export function tokenize(line) {
  const out = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i++;
    if (i >= line.length) break;
    let cur = '';
    if (line[i] === '"' || line[i] === "'") {
      const q = line[i++];
      let closed = false;
      while (i < line.length) {
        const c = line[i];
        if (c === '\\' && q === '"' && i + 1 < line.length) {
          const n = line[i + 1];
          if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(line.slice(i + 2, i + 4))) {
            cur += String.fromCharCode(parseInt(line.slice(i + 2, i + 4), 16));
            i += 4;
            continue;
          }
          cur += { n: '\n', r: '\r', t: '\t', b: '\b', a: '\x07' }[n] ?? n;
          i += 2;
        } else if (c === '\\' && q === "'" && line[i + 1] === "'") {
          cur += "'"; i += 2;
        } else if (c === q) {
          closed = true; i++; break;
        } else {
          cur += c; i++;
        }
      }
      if (!closed) throw new Error('unbalanced quotes');
      if (i < line.length && !/\s/.test(line[i])) throw new Error('closing quote must be followed by a space');
    } else {
      while (i < line.length && !/\s/.test(line[i])) cur += line[i++];
    }
    out.push(cur);
  }
  return out;
}

/**
 * The event socket (`/api/v1/ws`), one per tab, shared by the pages: `on(topic, fn)`
 * subscribes (topic `stats`, `channel:NAME`, `pattern:GLOB`) and returns the function
 * that undoes it. It reconnects after a drop, and resubscribes.
 */
export const events = (() => {
  const handlers = new Map(); // topic -> Set(fn)
  let ws = null;
  let retry = 500;
  let timer = null;
  const send = (msg) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg)); };
  function connect() {
    if (ws || handlers.size === 0) return;
    const url = new URL('/api/v1/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (auth.token) url.searchParams.set('token', auth.token);
    ws = new WebSocket(url);
    ws.onopen = () => { retry = 500; send({ subscribe: [...handlers.keys()] }); };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === 'stats') dispatch('stats', msg.data);
      else if (msg.type === 'message') {
        const d = msg.data;
        dispatch(d.pattern !== undefined ? 'pattern:' + d.pattern : 'channel:' + d.channel, d);
      }
    };
    ws.onclose = () => {
      ws = null;
      if (handlers.size && !timer) {
        timer = setTimeout(() => { timer = null; connect(); }, retry);
        retry = Math.min(retry * 2, 10_000);
      }
    };
  }
  function dispatch(topic, data) {
    for (const fn of handlers.get(topic) || []) {
      try { fn(data); } catch (e) { console.warn(e); }
    }
  }
  return {
    on(topic, fn) {
      if (!handlers.has(topic)) {
        handlers.set(topic, new Set());
        send({ subscribe: [topic] });
      }
      handlers.get(topic).add(fn);
      connect();
      return () => {
        const set = handlers.get(topic);
        if (!set) return;
        set.delete(fn);
        if (set.size === 0) {
          handlers.delete(topic);
          send({ unsubscribe: [topic] });
        }
      };
    },
    /** Drops the socket (after a logout), to reconnect with new credentials. */
    reset() {
      if (ws) { ws.onclose = null; ws.close(); ws = null; }
      connect();
    },
  };
})();
