// Overview and monitoring: the figures of the last second, and charts of the last 15
// minutes (operations, top commands, memory, clients, hit ratio, durability), with the
// keys per database and the latency percentiles of the busiest commands.

import { bytes, duration, el, fill, num, table } from '../lib.js';
import { LineChart } from '../chart.js';
import { follow } from '../history.js';

const get = (s, section, field) => Number(((s.info || {})[section] || {})[field] ?? NaN);

/** Per-second rate of a counter between two samples. */
function rate(a, b, f) {
  const dt = (b.t - a.t) / 1000;
  const d = f(b.s) - f(a.s);
  return dt > 0 && d >= 0 ? d / dt : NaN;
}

function calls(s) {
  const out = {};
  for (const [k, v] of Object.entries((s.info || {}).commandstats || {})) out[k.replace(/^cmdstat_/, '')] = v.calls || 0;
  return out;
}

export default function overview(main) {
  const cards = el('div', { class: 'cards', id: 'cards' });
  const charts = {
    ops: new LineChart('Operations per second', (v) => num(v)),
    top: new LineChart('Top commands (calls per second)', (v) => num(v, 1)),
    memory: new LineChart('Memory', bytes),
    clients: new LineChart('Clients', (v) => num(v)),
    hits: new LineChart('Hit ratio (%)', (v) => (Number.isFinite(v) ? num(v, 1) + '%' : '-')),
    fsync: new LineChart('Durability: records per fsync', (v) => num(v, 1)),
    fsyncLatency: new LineChart('Durability: fsync latency (µs, average)', (v) => num(v)),
  };
  charts.ops.canvas.id = 'chart-ops';
  const keyspace = el('div', { id: 'keyspace' });
  const latency = el('div', { id: 'latency' });
  const durability = el('div', { id: 'durability' });
  fill(main,
    el('h1', {}, 'Overview'),
    cards,
    el('div', { class: 'grid' }, Object.values(charts).map((c) => c.node)),
    el('div', { class: 'grid' },
      el('section', { class: 'panel' }, el('h2', {}, 'Keys per database'), keyspace),
      el('section', { class: 'panel' }, el('h2', {}, 'Latency percentiles (µs)'), latency),
      el('section', { class: 'panel' }, el('h2', {}, 'Durability'), durability)));

  function card(label, value) {
    return el('div', { class: 'card' }, el('div', { class: 'label' }, label), el('div', { class: 'value' }, value));
  }

  function update(samples) {
    if (document.hidden || samples.length === 0) return;
    const last = samples[samples.length - 1];
    const s = last.s;
    const pairs = samples.slice(1).map((b, i) => [samples[i], b]);
    const times = pairs.map(([, b]) => b.t);
    const hitRatio = pairs.map(([a, b]) => {
      const h = rate(a, b, (x) => get(x, 'stats', 'keyspace_hits'));
      const m = rate(a, b, (x) => get(x, 'stats', 'keyspace_misses'));
      return h + m > 0 ? (100 * h) / (h + m) : NaN;
    });
    const lastRatio = hitRatio.filter(Number.isFinite).pop();
    fill(cards,
      card('Ops/s', num(s.ops_per_sec)),
      card('Memory', bytes(s.memory_bytes)),
      card('Clients', num(get(s, 'clients', 'connected_clients'))),
      card('Blocked', num(get(s, 'clients', 'blocked_clients'))),
      card('Keys', num(s.keys)),
      card('Hit ratio', lastRatio === undefined ? '-' : num(lastRatio, 1) + '%'),
      card('Uptime', duration(get(s, 'server', 'uptime_in_seconds') * 1000)));

    charts.ops.set(times, [{ name: 'total', values: pairs.map(([, b]) => b.s.ops_per_sec) }]);
    // The busiest commands over the window kept.
    const first = calls(samples[0].s);
    const now = calls(s);
    const top = Object.keys(now).sort((a, b) => (now[b] - (first[b] || 0)) - (now[a] - (first[a] || 0))).slice(0, 5);
    charts.top.set(times, top.map((name) => ({
      name, values: pairs.map(([a, b]) => rate(a, b, (x) => calls(x)[name] || 0)),
    })));
    charts.memory.set(times, [
      { name: 'used', values: pairs.map(([, b]) => b.s.memory_bytes) },
      { name: 'rss', values: pairs.map(([, b]) => get(b.s, 'memory', 'used_memory_rss')) },
    ]);
    charts.clients.set(times, [
      { name: 'connected', values: pairs.map(([, b]) => get(b.s, 'clients', 'connected_clients')) },
      { name: 'blocked', values: pairs.map(([, b]) => get(b.s, 'clients', 'blocked_clients')) },
    ]);
    charts.hits.set(times, [{ name: 'hits', values: hitRatio }]);
    const p = (x, f) => Number((x.persistence || {})[f] ?? NaN);
    charts.fsync.set(times, [{
      name: 'records per fsync',
      values: pairs.map(([a, b]) => {
        const fs = p(b.s, 'flashdb_log_fsyncs') - p(a.s, 'flashdb_log_fsyncs');
        const rec = p(b.s, 'flashdb_log_last_seq') - p(a.s, 'flashdb_log_last_seq');
        return fs > 0 ? rec / fs : NaN;
      }),
    }]);
    charts.fsyncLatency.set(times, [
      { name: 'average', values: pairs.map(([, b]) => p(b.s, 'flashdb_log_fsync_avg_usec')) },
      { name: 'last', values: pairs.map(([, b]) => p(b.s, 'flashdb_log_last_fsync_usec')) },
    ]);

    const ks = (s.info || {}).keyspace || {};
    fill(keyspace, Object.keys(ks).length === 0
      ? el('p', { class: 'muted' }, 'No keys.')
      : table(['Database', 'Keys', 'With expiry', 'Average TTL'],
        Object.entries(ks).map(([db, v]) => [db, num(v.keys), num(v.expires), duration(v.avg_ttl)])));
    const lat = (s.info || {}).latencystats || {};
    const busiest = Object.keys(now).sort((a, b) => now[b] - now[a]).slice(0, 8);
    const rows = busiest.map((c) => [c, lat['latency_percentiles_usec_' + c]]).filter(([, v]) => v);
    fill(latency, rows.length === 0
      ? el('p', { class: 'muted' }, 'No commands yet.')
      : table(['Command', 'p50', 'p99', 'p99.9'], rows.map(([c, v]) => [c, num(v.p50, 1), num(v.p99, 1), num(v['p99.9'], 1)])));
    const per = s.persistence || {};
    const saved = Number(per.rdb_last_save_time || 0);
    fill(durability, table(['', ''], [
      ['Persistence', String(per.flashdb_persistence ?? '-')],
      ['appendfsync', String(per.flashdb_appendfsync ?? '-')],
      ['Log since the last snapshot', bytes(Number(per.flashdb_log_bytes_since_snapshot))],
      ['Log segments', num(Number(per.flashdb_log_segments))],
      ['Last record', num(Number(per.flashdb_log_last_seq))],
      ['Last snapshot', saved && per.flashdb_snapshots ? new Date(saved * 1000).toLocaleString() : 'none yet'],
      ['Log status', per.flashdb_log_error ? String(per.flashdb_log_error) : String(per.aof_last_write_status ?? '-')],
    ]));
  }

  const stop = follow(update);
  const redraw = () => Object.values(charts).forEach((c) => c.draw());
  window.addEventListener('resize', redraw);
  window.addEventListener('flashdb:theme', redraw);
  return () => {
    stop();
    window.removeEventListener('resize', redraw);
    window.removeEventListener('flashdb:theme', redraw);
  };
}
