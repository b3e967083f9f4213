// Cluster: the replication group as this node sees it (nodes, roles, term, lag, the
// leader); add and remove a node.

import { api, confirmDialog, el, fill, num, table, say } from '../lib.js';

export default function cluster(main) {
  const body = el('div', { id: 'cluster' });
  const status = el('p', { role: 'status', id: 'cluster-status' });
  const id = el('input', { type: 'number', min: '1', 'aria-label': 'New node id', placeholder: 'id' });
  const addr = el('input', { 'aria-label': 'New node group address', placeholder: 'host:raft-port' });
  const add = el('form', { class: 'row', hidden: true }, id, addr, el('button', { type: 'submit' }, 'Add node'));
  const addTitle = el('h2', { hidden: true }, 'Add a node');
  fill(main, el('h1', {}, 'Cluster'), status, body, addTitle, add);
  let timer = null;
  add.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('/api/v1/cluster/nodes', { method: 'POST', body: { id: Number(id.value), raft_addr: addr.value } });
      say(status, true, `Node ${id.value} added.`);
    } catch (err) { say(status, false, err.message); }
    load();
  });

  /** Shows the group; a periodic refresh (`force` false) leaves the table alone while
   * the keyboard focus is in it. */
  async function load(force = true) {
    let c;
    try { c = await api('/api/v1/cluster'); } catch (e) { say(status, false, e.message); return; }
    if (c.mode !== 'group') {
      fill(body, el('p', { class: 'muted' }, 'This server is a single node, not in a replication group. Start nodes with --peers to form one (docs/replication.md).'));
      return;
    }
    const leader = c.members.find((m) => m.leader);
    const rows = c.members.map((m) => [String(m.id), m.raft_addr, m.resp_addr || '-',
      m.leader ? 'leader' : m.role, m.id === c.node_id ? 'this node' : '',
      leader && m.match_index !== null && m.match_index !== undefined ? num(Math.max(0, c.commit_index - m.match_index)) : '-',
      m.leader ? '' : el('button', { type: 'button', class: 'danger', 'aria-label': `Remove node ${m.id}`, onclick: () => remove(m.id) }, 'Remove')]);
    add.hidden = false;
    addTitle.hidden = false;
    if (!force && body.contains(document.activeElement)) return;
    fill(body,
      el('p', {}, `Group ${c.group_id || '-'}, term ${num(c.term)}, leader ${c.leader_id ?? 'none'}, commit index ${num(c.commit_index)}, applied ${num(c.applied_index)}.`),
      table(['Node', 'Group address', 'RESP address', 'Role', '', 'Lag (entries)', ''], rows));
  }

  async function remove(id) {
    if (!(await confirmDialog(`Remove node ${id} from the group?`, 'Remove'))) return;
    try {
      await api(`/api/v1/cluster/nodes/${id}`, { method: 'DELETE' });
      say(status, true, `Node ${id} removed.`);
    } catch (e) { say(status, false, e.message); }
    load();
  }

  const tick = () => { if (!document.hidden) load(false); };
  load();
  timer = setInterval(tick, 2000);
  return () => clearInterval(timer);
}
