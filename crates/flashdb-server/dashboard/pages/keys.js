// Key explorer: SCAN with a pattern and a type filter, a page at a time (a bounded
// number of SCAN calls per page, so millions of keys never freeze the page), and a view
// and editor for each type, with TTL, rename and delete.

import { Bin, bytesText, confirmDialog, el, fill, fromB64, num, pipeline, run, shown, table, dbSelect, say } from '../lib.js';
import { renderReply } from '../render.js';

const TYPES = ['', 'string', 'hash', 'list', 'set', 'zset', 'queue', 'stream'];
const PAGE = 100;
/** SCAN calls one "more" may make before it shows what it found. */
const SCANS_PER_PAGE = 50;

/** The text of a reply string (a `Bin` when the reply was binary). */
const text = (v) => (v instanceof Bin ? bytesText(fromB64(v.b64)) : v === null || v === undefined ? '' : String(v));

export default function keys(main) {
  const pattern = el('input', { id: 'keys-pattern', placeholder: '*', 'aria-label': 'Pattern', value: '*' });
  const type = el('select', { id: 'keys-type', 'aria-label': 'Type' },
    TYPES.map((t) => el('option', { value: t }, t || 'any type')));
  const db = dbSelect('keys-db');
  const scanButton = el('button', { type: 'submit', class: 'primary', id: 'keys-scan' }, 'Scan');
  const list = el('ul', { class: 'keylist', id: 'keys-list', 'aria-label': 'Keys' });
  const more = el('button', { type: 'button', id: 'keys-more', hidden: true }, 'More');
  const status = el('p', { class: 'muted', id: 'keys-status', 'aria-live': 'polite' });
  const detail = el('section', { class: 'panel', id: 'key-detail', 'aria-live': 'polite' },
    el('p', { class: 'muted' }, 'Choose a key.'));
  let cursor = '0';
  let found = 0;
  let generation = 0;
  let selected = null;

  const form = el('form', { class: 'row', role: 'search' }, pattern, type, db, scanButton);
  fill(main,
    el('h1', {}, 'Keys'),
    form,
    el('div', { class: 'split' },
      el('div', {}, status, el('div', { class: 'scroll' }, list), el('div', { class: 'row' }, more)),
      detail));

  const dbn = () => Number(db.value);

  async function scanMore(gen) {
    more.disabled = true;
    let batch = 0;
    for (let i = 0; i < SCANS_PER_PAGE && batch < PAGE; i++) {
      const args = ['SCAN', cursor, 'MATCH', pattern.value || '*', 'COUNT', '1000'];
      if (type.value) args.push('TYPE', type.value);
      let r;
      try {
        r = await run(args, dbn());
      } catch (e) {
        say(status, false, e.message);
        return;
      }
      if (gen !== generation) return;
      cursor = text(r[0]);
      for (const k of r[1]) {
        list.append(el('li', {}, el('button', {
          type: 'button', 'aria-selected': 'false', onclick: (ev) => select(k, ev.currentTarget),
        }, shown(k))));
        batch++;
        found++;
      }
      if (cursor === '0') break;
    }
    status.className = 'muted';
    status.textContent = `${num(found)} keys${cursor === '0' ? '' : ' so far'}`;
    more.hidden = cursor === '0';
    more.disabled = false;
  }

  function scan() {
    generation++;
    cursor = '0';
    found = 0;
    list.replaceChildren();
    fill(detail, el('p', { class: 'muted' }, 'Choose a key.'));
    scanMore(generation);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); scan(); });
  more.addEventListener('click', () => scanMore(generation));

  async function select(key, button) {
    for (const b of list.querySelectorAll('button[aria-selected="true"]')) b.setAttribute('aria-selected', 'false');
    if (button) button.setAttribute('aria-selected', 'true');
    selected = key;
    await show(key);
  }

  async function show(key) {
    const [t, ttl] = await pipeline([['TYPE', key], ['PTTL', key]], dbn());
    if (selected !== key) return;
    const kind = text(t.result);
    if (kind === 'none') {
      fill(detail, el('p', { class: 'muted' }, 'This key no longer exists.'));
      return;
    }
    const body = el('div', { id: 'key-body' });
    fill(detail,
      el('h2', { class: 'mono', id: 'key-name' }, shown(key)),
      el('p', {}, el('span', { class: 'tag', id: 'key-type' }, kind), ' ', ttlText(ttl.result)),
      actions(key, ttl.result),
      body);
    const views = { string: stringView, hash: hashView, list: listView, set: setView, zset: zsetView, queue: queueView, stream: streamView };
    await (views[kind] || otherView)(key, body);
  }

  function ttlText(ms) {
    if (ms === -1) return 'no expiry';
    return `expires in ${num(ms / 1000, 1)} s`;
  }

  function actions(key, ttl) {
    const ttlInput = el('input', { type: 'number', min: '1', id: 'key-ttl', 'aria-label': 'TTL in seconds', value: ttl > 0 ? String(Math.ceil(ttl / 1000)) : '' });
    const newName = el('input', { id: 'key-newname', 'aria-label': 'New name', value: shown(key) });
    const msg = el('span', { role: 'status' });
    const act = async (args, after) => {
      try {
        await run(args, dbn());
        say(msg, true, 'Done.');
        if (after) await after();
      } catch (e) {
        say(msg, false, e.message);
      }
    };
    return el('div', { class: 'stack' },
      el('div', { class: 'row' },
        ttlInput,
        el('button', { type: 'button', onclick: () => ttlInput.value && act(['EXPIRE', key, ttlInput.value], () => show(key)) }, 'Set TTL'),
        el('button', { type: 'button', onclick: () => act(['PERSIST', key], () => show(key)) }, 'Remove TTL')),
      el('div', { class: 'row' },
        newName,
        el('button', { type: 'button', onclick: () => act(['RENAMENX', key, newName.value], () => { selected = newName.value; return show(newName.value); }) }, 'Rename'),
        el('button', {
          type: 'button', class: 'danger', id: 'key-delete',
          onclick: async () => {
            if (!(await confirmDialog(`Delete the key "${shown(key)}"?`))) return;
            await act(['UNLINK', key], () => {
              for (const b of list.querySelectorAll('button[aria-selected="true"]')) b.closest('li').remove();
              fill(detail, el('p', { class: 'muted' }, 'Deleted.'));
            });
          },
        }, 'Delete')),
      msg);
  }

  /** A paged table: `load(page)` resolves to {rows, more}. */
  function paged(container, headings, load) {
    let page = 0;
    const nav = el('div', { class: 'row' });
    const holder = el('div', { class: 'scroll' });
    container.append(holder, nav);
    async function go(p) {
      const { rows, more: hasMore } = await load(p);
      page = p;
      fill(holder, rows.length ? table(headings, rows) : el('p', { class: 'muted' }, 'Empty.'));
      fill(nav,
        el('button', { type: 'button', disabled: page === 0, onclick: () => go(page - 1) }, 'Previous'),
        el('span', { class: 'muted' }, 'page ' + (page + 1)),
        el('button', { type: 'button', disabled: !hasMore, onclick: () => go(page + 1) }, 'Next'));
    }
    go(0);
    return { reload: () => go(page) };
  }

  function editor(label, value, save) {
    const input = el('input', { value: text(value), 'aria-label': label });
    const cell = el('span', { class: 'row' }, input,
      el('button', { type: 'button', onclick: () => save(input.value) }, 'Save'));
    return cell;
  }

  async function mutate(args, key) {
    try {
      await run(args, dbn());
    } catch (e) {
      detail.append(el('p', { class: 'error' }, e.message));
      return;
    }
    await show(key);
  }

  async function stringView(key, body) {
    const v = await run(['GET', key], dbn());
    if (v instanceof Bin) {
      body.append(renderReply(v), el('p', { class: 'muted' }, 'Binary value: shown, not editable here.'));
      return;
    }
    const area = el('textarea', { id: 'string-value', rows: 6, 'aria-label': 'Value', value: text(v) });
    area.style.width = '100%';
    body.append(renderReply(v), area,
      el('div', { class: 'row' }, el('button', { type: 'button', class: 'primary', onclick: () => mutate(['SET', key, area.value, 'KEEPTTL'], key) }, 'Save')));
  }

  async function hashView(key, body) {
    const len = await run(['HLEN', key], dbn());
    body.append(el('p', { class: 'muted' }, `${num(len)} fields`));
    const cursors = ['0'];
    paged(body, ['Field', 'Value', ''], async (p) => {
      const r = await run(['HSCAN', key, cursors[p], 'COUNT', String(PAGE)], dbn());
      cursors[p + 1] = text(r[0]);
      const items = r[1];
      const rows = [];
      for (let i = 0; i + 1 < items.length; i += 2) {
        const f = items[i];
        const valueCell = el('span', {}, text(items[i + 1]));
        rows.push([text(f), valueCell, el('span', { class: 'row' },
          el('button', {
            type: 'button', 'aria-label': `Edit field ${text(f)}`,
            onclick: () => fill(valueCell, editor(`New value of ${text(f)}`, items[i + 1], (v) => mutate(['HSET', key, f, v], key))),
          }, 'Edit'),
          el('button', { type: 'button', class: 'danger', 'aria-label': `Delete field ${text(f)}`, onclick: () => mutate(['HDEL', key, f], key) }, 'Delete'))]);
      }
      return { rows, more: cursors[p + 1] !== '0' };
    });
    const field = el('input', { placeholder: 'field', 'aria-label': 'New field' });
    const value = el('input', { placeholder: 'value', 'aria-label': 'New field value' });
    body.append(el('div', { class: 'row' }, field, value,
      el('button', { type: 'button', onclick: () => field.value && mutate(['HSET', key, field.value, value.value], key) }, 'Add field')));
  }

  async function listView(key, body) {
    const len = await run(['LLEN', key], dbn());
    body.append(el('p', { class: 'muted' }, `${num(len)} elements`));
    paged(body, ['Index', 'Value', ''], async (p) => {
      const start = p * PAGE;
      const r = await run(['LRANGE', key, String(start), String(start + PAGE - 1)], dbn());
      const rows = r.map((v, i) => {
        const cell = el('span', {}, text(v));
        return [String(start + i), cell, el('button', {
          type: 'button', 'aria-label': `Edit element ${start + i}`,
          onclick: () => fill(cell, editor(`New value of element ${start + i}`, v, (nv) => mutate(['LSET', key, String(start + i), nv], key))),
        }, 'Edit')];
      });
      return { rows, more: start + PAGE < len };
    });
    const value = el('input', { placeholder: 'value', 'aria-label': 'Value to append' });
    body.append(el('div', { class: 'row' }, value,
      el('button', { type: 'button', onclick: () => mutate(['RPUSH', key, value.value], key) }, 'Append')));
  }

  async function setView(key, body) {
    const len = await run(['SCARD', key], dbn());
    body.append(el('p', { class: 'muted' }, `${num(len)} members`));
    const cursors = ['0'];
    paged(body, ['Member', ''], async (p) => {
      const r = await run(['SSCAN', key, cursors[p], 'COUNT', String(PAGE)], dbn());
      cursors[p + 1] = text(r[0]);
      const rows = r[1].map((m) => [text(m), el('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${text(m)}`, onclick: () => mutate(['SREM', key, m], key) }, 'Remove')]);
      return { rows, more: cursors[p + 1] !== '0' };
    });
    const value = el('input', { placeholder: 'member', 'aria-label': 'Member to add' });
    body.append(el('div', { class: 'row' }, value,
      el('button', { type: 'button', onclick: () => mutate(['SADD', key, value.value], key) }, 'Add')));
  }

  async function zsetView(key, body) {
    const len = await run(['ZCARD', key], dbn());
    body.append(el('p', { class: 'muted' }, `${num(len)} members, by score`));
    paged(body, ['Member', 'Score', ''], async (p) => {
      const start = p * PAGE;
      const r = await run(['ZRANGE', key, String(start), String(start + PAGE - 1), 'WITHSCORES'], dbn());
      const pairs = r.length && Array.isArray(r[0]) ? r : [];
      const rows = pairs.map(([m, s]) => {
        const cell = el('span', {}, String(s));
        return [text(m), cell, el('span', { class: 'row' },
          el('button', {
            type: 'button', 'aria-label': `Edit score of ${text(m)}`,
            onclick: () => fill(cell, editor(`New score of ${text(m)}`, String(s), (v) => mutate(['ZADD', key, v, m], key))),
          }, 'Edit'),
          el('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${text(m)}`, onclick: () => mutate(['ZREM', key, m], key) }, 'Remove'))];
      });
      return { rows, more: start + PAGE < len };
    });
    const member = el('input', { placeholder: 'member', 'aria-label': 'Member to add' });
    const score = el('input', { placeholder: 'score', 'aria-label': 'Its score', type: 'number', step: 'any' });
    body.append(el('div', { class: 'row' }, member, score,
      el('button', { type: 'button', onclick: () => score.value && mutate(['ZADD', key, score.value, member.value], key) }, 'Add')));
  }

  async function queueView(key, body) {
    const [info, peek] = await pipeline([['QINFO', key], ['QPEEK', key, 'COUNT', '20']], dbn());
    const message = el('input', { placeholder: 'message', 'aria-label': 'Message to push' });
    body.append(el('h2', {}, 'Queue'), renderReply(info.result),
      el('h2', {}, 'Next ready messages'), peek.error ? el('p', { class: 'error' }, peek.error) : renderReply(peek.result),
      el('div', { class: 'row' }, message,
        el('button', { type: 'button', onclick: () => mutate(['QPUSH', key, message.value], key) }, 'Push')),
      el('p', {}, el('a', { href: '#/queues' }, 'Queues page')));
  }

  async function streamView(key, body) {
    const len = await run(['XLEN', key], dbn());
    body.append(el('p', { class: 'muted' }, `${num(len)} entries`));
    const starts = ['-'];
    paged(body, ['ID', 'Fields', ''], async (p) => {
      const r = await run(['XRANGE', key, starts[p], '+', 'COUNT', String(PAGE)], dbn());
      const rows = r.map(([id, fields]) => [text(id), renderReply(Array.isArray(fields)
        ? fields.reduce((m, x, i, a) => (i % 2 ? m : m.set(text(x), a[i + 1])), new Map()) : fields),
      el('button', { type: 'button', class: 'danger', 'aria-label': `Delete entry ${text(id)}`, onclick: () => mutate(['XDEL', key, id], key) }, 'Delete')]);
      if (r.length) starts[p + 1] = '(' + text(r[r.length - 1][0]);
      return { rows, more: r.length === PAGE };
    });
    const field = el('input', { placeholder: 'field', 'aria-label': 'Field of the new entry' });
    const value = el('input', { placeholder: 'value', 'aria-label': 'Value of the new entry' });
    body.append(el('div', { class: 'row' }, field, value,
      el('button', { type: 'button', onclick: () => field.value && mutate(['XADD', key, '*', field.value, value.value], key) }, 'Add entry')));
  }

  async function otherView(key, body) {
    body.append(el('p', { class: 'muted' }, 'No view for this type yet: use the console.'));
  }

  scan();
}
