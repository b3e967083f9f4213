// Console: runs any command (several lines run as one pipeline), with history (up and
// down), completion (Tab) and the syntax of the command being typed, from COMMAND DOCS.

import { el, fill, pipeline, run, tokenize, dbSelect } from '../lib.js';
import { renderReply } from '../render.js';

const HISTORY_KEY = 'flashdb.console.history';
let docs = null; // name -> doc, loaded once per tab

async function loadDocs() {
  if (docs) return docs;
  try {
    const r = await run(['COMMAND', 'DOCS']);
    docs = new Map(Object.entries(r instanceof Map ? Object.fromEntries(r) : r || {}));
  } catch {
    docs = new Map();
  }
  return docs;
}

/** Redis's syntax line of an argument list. */
function syntax(args = []) {
  return args.map((a) => {
    let s;
    if (a.type === 'oneof') s = (a.arguments || []).map((x) => syntax([x])).join(' | ');
    else if (a.type === 'block') s = syntax(a.arguments || []);
    else if (a.type === 'pure-token') s = a.token;
    else s = (a.token ? a.token + ' ' : '') + a.name;
    const flags = a.flags || [];
    if (flags.includes('multiple')) s += ` [${a.type === 'pure-token' ? a.token : a.name} ...]`;
    if (a.type === 'oneof' || a.type === 'block') s = flags.includes('optional') ? `[${s}]` : `<${s}>`;
    else if (flags.includes('optional')) s = `[${s}]`;
    return s;
  }).join(' ');
}

export default function consolePage(main) {
  const out = el('div', { class: 'console-out', id: 'console-out', role: 'log', 'aria-live': 'polite' });
  const input = el('textarea', {
    id: 'console-input', rows: 1, spellcheck: 'false', autocomplete: 'off',
    'aria-label': 'Command (Enter runs, Shift+Enter adds a line; several lines run as a pipeline)',
    placeholder: 'SET greeting hello',
  });
  const hint = el('div', { class: 'hint', id: 'console-hint' });
  const db = dbSelect('console-db');
  const runButton = el('button', { type: 'button', class: 'primary' }, 'Run');
  const history = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
  let pos = history.length;

  fill(main,
    el('h1', {}, 'Console'),
    out,
    hint,
    el('div', { class: 'console-in' }, input, el('div', { class: 'stack' }, db, runButton)),
    el('p', { class: 'muted' }, 'Tab completes a command name. Up and down walk the history. Commands that need a connection of their own (SUBSCRIBE, MULTI, SELECT…) are not available here: use the Pub/Sub page, or the database menu.'));

  async function execute() {
    const text = input.value.trim();
    if (!text) return;
    history.push(text);
    while (history.length > 200) history.shift();
    localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
    pos = history.length;
    input.value = '';
    hint.textContent = '';
    const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
    const commands = [];
    for (const line of lines) {
      try {
        commands.push(tokenize(line));
      } catch (e) {
        out.append(el('div', { class: 'entry' }, el('div', { class: 'cmd mono' }, '> ' + line), el('div', { class: 'error' }, '(error) ' + e.message)));
        return;
      }
    }
    let replies;
    try {
      replies = await pipeline(commands, Number(db.value));
    } catch (e) {
      out.append(el('div', { class: 'entry error' }, e.message));
      return;
    }
    replies.forEach((r, i) => {
      out.append(el('div', { class: 'entry' },
        el('div', { class: 'cmd mono' }, '> ' + lines[i]),
        r.error !== undefined ? el('div', { class: 'error' }, '(error) ' + r.error) : el('div', { class: 'reply' }, renderReply(r.result))));
    });
    out.scrollTop = out.scrollHeight;
  }

  async function showHint() {
    const words = input.value.split('\n').pop().trim().split(/\s+/);
    const name = (words[0] || '').toLowerCase();
    if (!name) { hint.textContent = ''; return; }
    const d = (await loadDocs()).get(name);
    hint.textContent = d ? `${name.toUpperCase()} ${syntax(d.arguments)} — ${d.summary || ''}` : '';
  }

  async function complete() {
    const lines = input.value.split('\n');
    const last = lines.pop();
    if (/\s/.test(last.trim())) return;
    const prefix = last.trim().toLowerCase();
    const names = [...(await loadDocs()).keys()].filter((n) => n.startsWith(prefix) && !n.includes('|')).sort();
    if (names.length === 1) {
      lines.push(names[0].toUpperCase() + ' ');
      input.value = lines.join('\n');
      showHint();
    } else if (names.length > 1) {
      hint.textContent = names.slice(0, 30).map((n) => n.toUpperCase()).join('  ') + (names.length > 30 ? '  …' : '');
    }
  }

  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      execute();
    } else if (e.key === 'Tab' && !e.shiftKey && input.value.trim() && !/\s$/.test(input.value)) {
      e.preventDefault();
      complete();
    } else if (e.key === 'ArrowUp' && !input.value.slice(0, input.selectionStart).includes('\n') && pos > 0) {
      e.preventDefault();
      input.value = history[--pos];
    } else if (e.key === 'ArrowDown' && !input.value.slice(input.selectionEnd).includes('\n') && pos < history.length) {
      e.preventDefault();
      pos += 1;
      input.value = pos < history.length ? history[pos] : '';
    }
  });
  input.addEventListener('input', showHint);
  runButton.addEventListener('click', execute);
  input.focus();
}
