// Settings: every parameter from CONFIG GET, with what it means, changed with CONFIG SET
// and written to the configuration file with CONFIG REWRITE.

import { el, fill, run, say } from '../lib.js';

/** What the parameters FlashDB acts on mean. Others are Redis's, accepted and kept so
 * that tools and configuration files written for Redis work. */
const MEANING = {
  'acl-pubsub-default': 'Channels a new ACL user may use: allchannels or resetchannels (none).',
  aclfile: 'File of ACL users, loaded at start and by ACL LOAD, written by ACL SAVE.',
  'acllog-max-len': 'Entries ACL LOG keeps.',
  appendfsync: 'When the write-ahead log is fsynced: always (before each reply), everysec, or no.',
  appendonly: 'Whether writes are logged (yes while persistence is on).',
  bind: 'Addresses the server listens on.',
  'busy-reply-threshold': 'Milliseconds a script may run before other clients get BUSY.',
  'lua-time-limit': 'Alias of busy-reply-threshold.',
  'client-output-buffer-limit': 'Output a slow client may hold before it is disconnected, per class.',
  'client-query-buffer-limit': 'Largest request a client may send.',
  databases: 'Number of databases (SELECT 0 to N-1).',
  dir: 'Data directory: write-ahead log and snapshots.',
  'http-allowed-hosts': 'Host names (besides IPs and localhost) the HTTP API answers, against DNS rebinding.',
  'http-max-body': 'Largest HTTP request body.',
  'http-max-connections': 'Most open HTTP connections.',
  'http-port': 'Port of the HTTP API and this dashboard.',
  hz: 'Background task frequency (active expiry).',
  'latency-monitor-threshold': 'Milliseconds from which LATENCY records an event (0: off).',
  'latency-tracking': 'Whether per-command latency histograms are kept.',
  'latency-tracking-info-percentiles': 'Percentiles INFO latencystats reports.',
  'log-format': 'Log lines as text or json.',
  'log-level': 'Log level: error, warn, info, debug or trace.',
  loglevel: 'Redis name of the log level.',
  maxclients: 'Most connected clients.',
  maxmemory: 'Memory limit for the data (0: none); maxmemory-policy decides what happens at it.',
  'maxmemory-policy': 'What happens at maxmemory: noeviction (writes refused) or an eviction policy.',
  'maxmemory-samples': 'Keys sampled per eviction.',
  'notify-keyspace-events': 'Keyspace notifications sent to RESP subscribers (classes, as Redis).',
  persistence: 'Whether data is written to disk at all.',
  port: 'RESP port.',
  'protected-mode': 'Refuse non-loopback clients when no password is set.',
  'proto-max-bulk-len': 'Largest bulk string a client may send.',
  'ratelimit-per-address': 'Commands per second per client address: RATE or RATE/BURST, or off.',
  requirepass: 'Password of the default user.',
  'slowlog-log-slower-than': 'Microseconds from which a command goes to the slow log (negative: off).',
  'slowlog-max-len': 'Entries the slow log keeps.',
  'snapshot-threshold': 'Log bytes since the last snapshot that start a new one.',
  timeout: 'Seconds of idleness after which a client is closed (0: never).',
  'tls-auth-clients': 'Whether TLS clients must present a certificate: yes, no or optional.',
  'tls-ca-cert-file': 'CA certificates client (and peer) certificates must chain to.',
  'tls-cert-file': 'The server certificate (PEM); setting it reloads TLS.',
  'tls-key-file': 'The server key (PEM).',
  'tls-port': 'Port of RESP over TLS (0: none).',
  'tls-protocols': 'TLS versions allowed.',
  'tls-replication': 'Mutual TLS between the nodes of a replication group.',
  'wal-segment-size': 'Size at which the write-ahead log starts a new segment.',
  'idle-spin-us': 'Microseconds a worker spins for new work before sleeping.',
  'tracking-table-max-keys': 'Keys client-side caching tracks before invalidating.',
  'active-expire-effort': 'How hard active expiry works per cycle (1 to 10).',
  'lfu-log-factor': 'LFU counter logarithm factor (allkeys-lfu eviction).',
  'lfu-decay-time': 'Minutes after which an LFU counter decays.',
  'shutdown-timeout': 'Seconds SHUTDOWN waits for followers.',
  'min-replicas-to-write': 'Replicas that must be in sync before writes are accepted.',
};

export default function settings(main) {
  const filter = el('input', { id: 'settings-filter', 'aria-label': 'Filter parameters', placeholder: 'filter' });
  const status = el('p', { role: 'status', id: 'settings-status' });
  const tbody = el('tbody', {});
  fill(main, el('h1', {}, 'Settings'),
    el('div', { class: 'row' }, filter,
      el('button', { type: 'button', onclick: rewrite, title: 'Write the running configuration to the configuration file' }, 'CONFIG REWRITE')),
    status,
    el('div', { class: 'scroll' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Parameter', 'Value', 'Meaning', ''].map((h) => el('th', { scope: 'col' }, h)))),
      tbody)));

  async function rewrite() {
    try { await run(['CONFIG', 'REWRITE']); say(status, true, 'Configuration file rewritten.'); } catch (e) { say(status, false, e.message); }
  }

  async function load() {
    let all;
    try {
      all = await run(['CONFIG', 'GET', '*']);
    } catch (e) { say(status, false, e.message); return; }
    const entries = all instanceof Map ? [...all.entries()] : Array.isArray(all)
      ? all.reduce((acc, x, i, a) => (i % 2 ? acc : [...acc, [x, a[i + 1]]]), []) : Object.entries(all);
    entries.sort(([a], [b]) => (a < b ? -1 : 1));
    tbody.replaceChildren(...entries.map(([name, value]) => {
      const input = el('input', { value: String(value), 'aria-label': `Value of ${name}`, 'data-param': name });
      const save = async () => {
        try {
          await run(['CONFIG', 'SET', name, input.value]);
          say(status, true, `${name} set to ${input.value}.`);
        } catch (e) { say(status, false, e.message); }
      };
      input.addEventListener('keydown', (e) => { if (e.key === 'Enter') save(); });
      return el('tr', { 'data-name': name },
        el('td', { class: 'mono' }, name),
        el('td', {}, input),
        el('td', { class: MEANING[name] ? '' : 'muted' }, MEANING[name] || 'Redis parameter, accepted and kept for compatibility.'),
        el('td', {}, el('button', { type: 'button', onclick: save, 'aria-label': `Set ${name}` }, 'Set')));
    }));
    applyFilter();
  }

  function applyFilter() {
    const f = filter.value.toLowerCase();
    for (const tr of tbody.children) tr.hidden = f !== '' && !tr.dataset.name.includes(f);
  }
  filter.addEventListener('input', applyFilter);
  load();
}
