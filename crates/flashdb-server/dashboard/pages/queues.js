// Queues: every queue with its ready, leased, delayed and dead-lettered messages, rates
// and the age of the oldest ready message; peek, move dead letters back, purge.

import { api, confirmDialog, duration, el, fill, num, pipeline, run, table, dbSelect, say } from '../lib.js';
import { renderReply } from '../render.js';

/** Moves up to ARGV[1] messages from the dead-letter queue KEYS[1] back to KEYS[2], in
 * one script, so that no message is lost or doubled half-way. */
const REDRIVE = `
local moved = 0
local limit = tonumber(ARGV[1])
while moved < limit do
  local batch = redis.call('QPOP', KEYS[1], 'COUNT', math.min(100, limit - moved))
  if not batch or #batch == 0 then break end
  redis.call('QPUSH', KEYS[2], unpack(batch))
  moved = moved + #batch
end
return moved`;

const POLL_MS = 2000;

function field(info, name) {
  if (info instanceof Map) return info.get(name);
  if (Array.isArray(info)) {
    const i = info.indexOf(name);
    return i >= 0 ? info[i + 1] : undefined;
  }
  return info ? info[name] : undefined;
}

export default function queues(main) {
  const db = dbSelect('queues-db');
  const holder = el('div', { id: 'queues-table' });
  const status = el('p', { role: 'status', id: 'queues-status' });
  const peekBox = el('section', { class: 'panel', id: 'queue-peek', hidden: true });
  fill(main, el('h1', {}, 'Queues'), el('div', { class: 'row' }, db), status, holder, peekBox);
  let previous = new Map(); // name -> {t, pushed, acked}
  let timer = null;
  let stopped = false;

  /** Shows the queues; a periodic refresh (`force` false) leaves the table alone while
   * the keyboard focus is in it. */
  async function load(force) {
    const dbn = Number(db.value);
    const listed = [];
    let cursor = '0';
    do {
      const page = await api(`/api/v1/queues?db=${dbn}&count=500&cursor=${encodeURIComponent(cursor)}`);
      listed.push(...page.queues);
      cursor = page.cursor;
    } while (cursor !== '0' && listed.length < 2000);
    const infos = listed.length ? await pipeline(listed.map((q) => ['QINFO', q.name]), dbn) : [];
    const dead = [...new Set(infos.map((r) => field(r.result, 'dead_letter')).filter((d) => d))];
    const deadLens = dead.length ? await pipeline(dead.map((d) => ['QLEN', d]), dbn) : [];
    const deadLen = new Map(dead.map((d, i) => [d, deadLens[i].result]));
    const now = Date.now();
    const next = new Map();
    const rows = listed.map((q, i) => {
      const info = infos[i].result;
      const pushed = Number(field(info, 'pushed'));
      const acked = Number(field(info, 'acked'));
      const before = previous.get(q.name);
      const secs = before ? (now - before.t) / 1000 : 0;
      // Rates over at least 1.5 s (a refresh right after an action would make one
      // message look like a burst): until then the last rates stay.
      let pushRate = before ? before.pushRate : NaN;
      let ackRate = before ? before.ackRate : NaN;
      if (before && secs >= 1.5) {
        pushRate = (pushed - before.pushed) / secs;
        ackRate = (acked - before.acked) / secs;
      }
      next.set(q.name, before && secs < 1.5 ? before : { t: now, pushed, acked, pushRate, ackRate });
      const dl = field(info, 'dead_letter');
      const waiting = dl ? Number(deadLen.get(dl) || 0) : 0;
      const buttons = el('span', { class: 'row' },
        el('button', { type: 'button', 'aria-label': `Peek ${q.name}`, onclick: () => peek(q.name) }, 'Peek'),
        dl ? el('button', {
          type: 'button', disabled: waiting === 0, 'aria-label': `Move dead letters of ${q.name} back`,
          onclick: () => redrive(dl, q.name, waiting),
        }, 'Move dead letters back') : null,
        el('button', { type: 'button', class: 'danger', 'aria-label': `Purge ${q.name}`, onclick: () => purge(q.name) }, 'Purge'));
      return [q.name, num(q.size), num(q.leased), num(q.delayed),
        dl ? `${num(waiting)} in ${dl} (${num(Number(field(info, 'dead_lettered')))} ever)` : '-',
        Number.isFinite(pushRate) ? num(pushRate, 1) + '/s' : '-',
        Number.isFinite(ackRate) ? num(ackRate, 1) + '/s' : '-',
        Number(q.size) > 0 ? duration(Number(field(info, 'oldest_ready_age_ms'))) : '-',
        buttons];
    });
    previous = next;
    // Someone moving through the table by keyboard keeps their place.
    if (!force && holder.contains(document.activeElement)) return;
    fill(holder, rows.length
      ? el('div', { class: 'scroll' }, table(['Queue', 'Ready', 'Leased', 'Delayed', 'Dead letters', 'Pushed', 'Acked', 'Oldest ready', ''], rows))
      : el('p', { class: 'muted' }, 'No queues in this database.'));
  }

  async function peek(name) {
    peekBox.hidden = false;
    try {
      const r = await run(['QPEEK', name, 'COUNT', '10'], Number(db.value));
      fill(peekBox, el('h2', {}, 'Next ready messages of ' + name), renderReply(r));
    } catch (e) {
      fill(peekBox, el('p', { class: 'error' }, e.message));
    }
  }

  async function redrive(dead, target, count) {
    if (!(await confirmDialog(`Move ${count} messages from ${dead} back to ${target}?`, 'Move'))) return;
    try {
      const moved = await run(['EVAL', REDRIVE, '2', dead, target, String(count)], Number(db.value));
      say(status, true, `Moved ${moved} messages back to ${target}.`);
    } catch (e) {
      say(status, false, e.message);
    }
    await refresh(true);
  }

  async function purge(name) {
    if (!(await confirmDialog(`Purge every message of ${name}?`, 'Purge'))) return;
    try {
      const n = await run(['QPURGE', name], Number(db.value));
      say(status, true, `Purged ${n} messages from ${name}.`);
    } catch (e) {
      say(status, false, e.message);
    }
    await refresh(true);
  }

  async function refresh(force = false) {
    clearTimeout(timer);
    if (stopped) return;
    if (!document.hidden) {
      try { await load(force); } catch (e) { say(status, false, e.message); }
    }
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }

  db.addEventListener('change', () => { previous = new Map(); refresh(true); });
  refresh(true);
  return () => { stopped = true; clearTimeout(timer); };
}
