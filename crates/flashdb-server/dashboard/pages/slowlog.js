// Slow log and latency: the slowest commands, the latency monitor's events, and each
// command's latency distribution.

import { api, el, fill, num, run, table, say } from '../lib.js';

/** The latency at or below which `q` of the calls ran, from a cumulative histogram. */
function percentile(hist, calls, q) {
  const want = calls * q;
  for (const [us, n] of hist) if (n >= want) return us;
  return hist.length ? hist[hist.length - 1][0] : NaN;
}

export default function slowlog(main) {
  const slow = el('div', { id: 'slowlog' });
  const latency = el('div', { id: 'latency-events' });
  const commands = el('div', { id: 'latency-commands' });
  const status = el('p', { role: 'status' });
  fill(main, el('h1', {}, 'Slow log and latency'), status,
    el('h2', {}, 'Slow log'), slow,
    el('div', { class: 'row' },
      el('button', { type: 'button', onclick: () => reset(['SLOWLOG', 'RESET']) }, 'Reset the slow log'),
      el('button', { type: 'button', onclick: () => reset(['LATENCY', 'RESET']) }, 'Reset latency events')),
    el('h2', {}, 'Latency monitor'), latency,
    el('h2', {}, 'Latency by command (µs, from the histograms)'), commands);

  async function reset(args) {
    try { await run(args); say(status, true, 'Reset.'); } catch (e) { say(status, false, e.message); }
    load();
  }

  async function load() {
    try {
      const s = await api('/api/v1/slowlog?count=128');
      fill(slow,
        el('p', { class: 'muted' }, `${num(s.len)} entries; commands slower than ${num(s.slower_than_us)} µs are kept (slowlog-log-slower-than), at most ${num(s.max_len)}.`),
        s.entries.length ? el('div', { class: 'scroll' }, table(['Id', 'When', 'Duration (µs)', 'Command', 'Client'],
          s.entries.map((e) => [String(e.id), new Date(e.timestamp * 1000).toLocaleString(), num(e.duration_us),
            el('span', { class: 'mono' }, e.args.join(' ')), `${e.client_addr} ${e.client_name}`]))) : null);
      const l = await api('/api/v1/latency');
      fill(latency, l.threshold_ms === 0
        ? el('p', { class: 'muted' }, 'The latency monitor is off (latency-monitor-threshold 0): set it on the Settings page.')
        : l.events.length
          ? table(['Event', 'Latest', 'Latest (ms)', 'Worst (ms)'], l.events.map((e) => [e.event, new Date(e.latest_time * 1000).toLocaleString(), num(e.latest_ms), num(e.max_ms)]))
          : el('p', { class: 'muted' }, `No event over ${l.threshold_ms} ms.`));
      const rows = l.commands.filter((c) => c.calls > 0).sort((a, b) => b.calls - a.calls).slice(0, 50)
        .map((c) => [c.command, num(c.calls), num(percentile(c.histogram_usec, c.calls, 0.5)), num(percentile(c.histogram_usec, c.calls, 0.99)), num(percentile(c.histogram_usec, c.calls, 0.999))]);
      fill(commands, rows.length ? el('div', { class: 'scroll' }, table(['Command', 'Calls', 'p50 ≤', 'p99 ≤', 'p99.9 ≤'], rows)) : el('p', { class: 'muted' }, 'No commands yet.'));
    } catch (e) {
      say(status, false, e.message);
    }
  }
  load();
}
