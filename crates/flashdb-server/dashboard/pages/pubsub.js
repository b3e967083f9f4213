// Pub/Sub: subscribe to channels and patterns over the event socket and watch messages
// arrive; publish.

import { el, events, fill, num, run, say } from '../lib.js';

const KEEP = 500;

export default function pubsub(main) {
  const kind = el('select', { id: 'sub-kind', 'aria-label': 'Channel or pattern' },
    el('option', { value: 'channel' }, 'channel'), el('option', { value: 'pattern' }, 'pattern'));
  const name = el('input', { id: 'sub-name', 'aria-label': 'Channel or pattern name', placeholder: 'news.*' });
  const subs = el('ul', { id: 'subscriptions' });
  const log = el('div', { class: 'scroll messages' });
  const tbody = el('tbody', { id: 'messages' });
  log.append(el('table', {}, el('thead', {}, el('tr', {}, ['Time', 'Channel', 'Pattern', 'Message'].map((h) => el('th', { scope: 'col' }, h)))), tbody));
  const channel = el('input', { id: 'pub-channel', 'aria-label': 'Channel to publish to', placeholder: 'news.tech' });
  const message = el('input', { id: 'pub-message', 'aria-label': 'Message' });
  const pubStatus = el('span', { role: 'status', id: 'pub-status' });
  const active = new Map(); // topic -> undo

  const subForm = el('form', { class: 'row' }, kind, name, el('button', { type: 'submit', class: 'primary' }, 'Subscribe'));
  const pubForm = el('form', { class: 'row' }, channel, message, el('button', { type: 'submit' }, 'Publish'), pubStatus);
  fill(main, el('h1', {}, 'Pub/Sub'),
    el('h2', {}, 'Subscribe'), subForm, subs,
    el('h2', {}, 'Publish'), pubForm,
    el('h2', {}, 'Messages'), log);

  function received(d) {
    tbody.prepend(el('tr', {},
      el('td', {}, new Date().toLocaleTimeString()),
      el('td', { class: 'mono' }, String(d.channel)),
      el('td', { class: 'mono' }, d.pattern === undefined ? '' : String(d.pattern)),
      el('td', { class: 'mono' }, String(d.message))));
    while (tbody.children.length > KEEP) tbody.lastChild.remove();
  }

  function listSubs() {
    subs.replaceChildren(...[...active.keys()].map((t) => el('li', {}, el('span', { class: 'mono' }, t), ' ',
      el('button', { type: 'button', 'aria-label': `Unsubscribe ${t}`, onclick: () => { active.get(t)(); active.delete(t); listSubs(); } }, 'Unsubscribe'))));
  }

  subForm.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!name.value) return;
    const topic = `${kind.value}:${name.value}`;
    if (!active.has(topic)) active.set(topic, events.on(topic, received));
    name.value = '';
    listSubs();
  });
  pubForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!channel.value) return;
    try {
      const n = await run(['PUBLISH', channel.value, message.value]);
      say(pubStatus, true, `Delivered to ${num(n)} subscribers.`);
    } catch (err) {
      say(pubStatus, false, err.message);
    }
  });
  return () => { for (const undo of active.values()) undo(); };
}
