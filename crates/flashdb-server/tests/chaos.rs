//! Fault injection on a group of three real `flashdb` processes. Clients run registers
//! (`GET`, `SET`, `INCRBY`), append-only lists (`RPUSH`, `LRANGE`) and work queues
//! (`QPUSH`, `QRESERVE` with a short lease, `QACK`) against random nodes while a nemesis
//! kills nodes with SIGKILL and restarts them, pauses them with SIGSTOP, partitions the
//! network, hands leadership over (`FAILOVER`), and removes a member and adds it back
//! (`FLASHDB.GROUP REMOVE`, `ADD`). Each node runs in a Linux network namespace of its
//! own, and a partition drops packets silently: one node cut off from the others both
//! ways (clients still reach it), the traffic to one node only, or the link between two
//! nodes (each still reaches the third, which bridges them). One fault at a time.
//! Afterwards:
//!
//! - each register's history must be linearizable (Wing–Gong/Lowe search);
//! - each list must hold every acknowledged element exactly once, nothing that was never
//!   pushed, acknowledged elements in the order of their acknowledgements, and every read
//!   of it must have been a prefix of its final contents (a lost or reordered element
//!   shows as a read that is not);
//! - each queue must have lost no acknowledged push, acknowledged no message twice, and
//!   hold nothing acknowledged and nothing never pushed.
//!
//! `FLASHDB_CHAOS_SECS` sets how long the faults run (20 s by default, what CI runs);
//! `scripts/chaos.sh --minutes N` runs long schedules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::group::Group;
use common::Rng;
use flashdb_testkit::linearizability::{
    check_with_budget, drop_unobserved_writes, KvInput, KvOutput, KvRegister, Operation, Outcome,
};

const CLIENTS: u64 = 6;
const REGISTERS: u64 = 16;
/// Clients move to fresh keys every this often, so that each key's history stays small
/// enough to search however long the run: the search is exponential in the operations
/// that overlap, and one whose outcome is unknown overlaps everything after it.
const KEY_GENERATION: Duration = Duration::from_secs(5);
const LISTS: u64 = 3;
/// Work queues, for the whole run.
const QUEUES: u64 = 2;
/// The lease of a reserved message: short, so that a consumer's lost acknowledgement is
/// redelivered within the run.
const LEASE_MS: u64 = 2000;

fn run_secs() -> u64 {
    std::env::var("FLASHDB_CHAOS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// One `RPUSH` (`ret` `None`: outcome unknown) or one read of a whole list.
#[derive(Debug, Clone)]
enum ListOp {
    Push {
        element: String,
        call: u64,
        ret: Option<u64>,
    },
    Read {
        items: Vec<String>,
    },
}

/// What became of one queue operation: `Some(true)` done, `Some(false)` answered "not
/// done" (an acknowledgement of a message no longer leased), `None` unknown.
type Outcome3 = Option<bool>;

/// The queue operations of the run, by payload (payloads are unique).
#[derive(Default)]
struct QueueOps {
    /// Each `QPUSH`'s outcome.
    pushed: HashMap<String, Outcome3>,
    /// Each `QACK`'s outcome, for the payload of the message it acknowledged.
    acks: HashMap<String, Vec<Outcome3>>,
}

#[derive(Default)]
struct Histories {
    registers: BTreeMap<String, Vec<Operation<KvInput, KvOutput>>>,
    lists: BTreeMap<String, Vec<ListOp>>,
    queues: BTreeMap<String, QueueOps>,
    /// Writes answered `-LOADING` (refused before they ran, so left out of the
    /// histories), kept to tell, if a check fails, whether one of them took effect.
    refused: Vec<String>,
}

/// How a reply or its absence settles an operation.
enum Reply {
    Value(redis::Value),
    /// Refused before it ran (`-LOADING`): no effect.
    Refused,
    /// Unknown: the connection broke, or the group could not say (`-TRYAGAIN`,
    /// `-CLUSTERDOWN`).
    Unknown,
}

fn send(c: &mut redis::Connection, args: &[String]) -> Reply {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a);
    }
    match cmd.query::<redis::Value>(c) {
        Ok(v) => Reply::Value(v),
        Err(e) if e.code() == Some("LOADING") => Reply::Refused,
        Err(e) if e.kind() == redis::ErrorKind::ResponseError && e.code().is_none() => {
            panic!("unexpected error reply to {args:?}: {e}")
        }
        Err(_) => Reply::Unknown,
    }
}

fn connect(group: &Mutex<Group>, rng: &mut Rng) -> Option<redis::Connection> {
    let (host, port) = {
        let g = group.lock().unwrap();
        let id = rng.below(3) + 1;
        g.addr(id)?
    };
    let client = redis::Client::open(format!("redis://{host}:{port}/")).ok()?;
    let c = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    c.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    Some(c)
}

fn client(
    id: u64,
    group: Arc<Mutex<Group>>,
    origin: Instant,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Histories>>,
) {
    let mut rng = Rng::new(id + 1);
    let mut conn: Option<redis::Connection> = None;
    let mut n = 0u64;
    let now = || origin.elapsed().as_nanos() as u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            conn = connect(&group, &mut rng);
            if conn.is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        n += 1;
        let pick = rng.below(12);
        if pick >= 9 {
            let queue = format!("queue:{}", rng.below(QUEUES));
            if queue_op(c, id, n, pick == 9, &queue, &out) {
                conn = None;
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        if pick < 7 {
            let generation = origin.elapsed().as_secs() / KEY_GENERATION.as_secs();
            let key = format!("reg:{generation}:{}", rng.below(REGISTERS));
            let (input, args) = match pick {
                0..=3 => (KvInput::Get(key.clone()), vec!["GET".into(), key.clone()]),
                4 | 5 => {
                    let v = (id * 1_000_000 + n).to_string();
                    (
                        KvInput::Set(key.clone(), v.clone()),
                        vec!["SET".into(), key.clone(), v],
                    )
                }
                _ => (
                    KvInput::IncrBy(key.clone(), 1),
                    vec!["INCRBY".into(), key.clone(), "1".into()],
                ),
            };
            let call = now();
            let reply = send(c, &args);
            let ret = now();
            let output = match reply {
                Reply::Refused => {
                    if !matches!(input, KvInput::Get(_)) {
                        out.lock()
                            .unwrap()
                            .refused
                            .push(format!("{input:?} at {call}"));
                    }
                    continue;
                }
                Reply::Unknown => {
                    conn = None;
                    // Give the group a moment: a burst of operations of unknown outcome
                    // says nothing more than one, and each makes the check harder.
                    std::thread::sleep(Duration::from_millis(50));
                    if matches!(input, KvInput::Get(_)) {
                        continue;
                    }
                    None
                }
                Reply::Value(redis::Value::Nil) => Some(KvOutput::Value(None)),
                Reply::Value(redis::Value::BulkString(b)) => {
                    Some(KvOutput::Value(Some(String::from_utf8(b).unwrap())))
                }
                Reply::Value(redis::Value::Okay) => Some(KvOutput::Ok),
                Reply::Value(redis::Value::Int(i)) => Some(KvOutput::Int(i)),
                Reply::Value(other) => panic!("unexpected reply {other:?} to {args:?}"),
            };
            out.lock()
                .unwrap()
                .registers
                .entry(key)
                .or_default()
                .push(Operation {
                    call,
                    ret: output.as_ref().map(|_| ret),
                    input,
                    output,
                });
        } else {
            let generation = origin.elapsed().as_secs() / KEY_GENERATION.as_secs();
            let key = format!("list:{generation}:{}", rng.below(LISTS));
            if pick == 7 {
                match send(c, &["LRANGE".into(), key.clone(), "0".into(), "-1".into()]) {
                    Reply::Value(redis::Value::Array(items)) => {
                        let items = items
                            .into_iter()
                            .map(|v| match v {
                                redis::Value::BulkString(b) => String::from_utf8(b).unwrap(),
                                other => panic!("LRANGE item {other:?}"),
                            })
                            .collect();
                        out.lock()
                            .unwrap()
                            .lists
                            .entry(key)
                            .or_default()
                            .push(ListOp::Read { items });
                    }
                    Reply::Value(other) => panic!("LRANGE answered {other:?}"),
                    Reply::Refused => {}
                    Reply::Unknown => conn = None,
                }
            } else {
                let element = format!("c{id}-{n}");
                let call = now();
                let reply = send(c, &["RPUSH".into(), key.clone(), element.clone()]);
                let ret = now();
                let ret = match reply {
                    Reply::Value(redis::Value::Int(_)) => Some(ret),
                    Reply::Value(other) => panic!("RPUSH answered {other:?}"),
                    Reply::Refused => continue,
                    Reply::Unknown => {
                        conn = None;
                        std::thread::sleep(Duration::from_millis(50));
                        None
                    }
                };
                out.lock()
                    .unwrap()
                    .lists
                    .entry(key)
                    .or_default()
                    .push(ListOp::Push { element, call, ret });
            }
        }
    }
}

/// One queue operation: a `QPUSH` of a new payload, or a `QRESERVE` and the `QACK` of what
/// it leased. Returns true if the connection must be dropped (an outcome was unknown).
fn queue_op(
    c: &mut redis::Connection,
    id: u64,
    n: u64,
    push: bool,
    queue: &str,
    out: &Mutex<Histories>,
) -> bool {
    let outcome = |reply: &Reply| -> Outcome3 {
        match reply {
            Reply::Value(redis::Value::Int(i)) => Some(*i > 0),
            Reply::Value(other) => panic!("queue command answered {other:?}"),
            Reply::Refused => Some(false),
            Reply::Unknown => None,
        }
    };
    if push {
        let payload = format!("m{id}-{n}");
        let reply = send(c, &["QPUSH".into(), queue.into(), payload.clone()]);
        let o = outcome(&reply);
        let mut h = out.lock().unwrap();
        h.queues
            .entry(queue.into())
            .or_default()
            .pushed
            .insert(payload, o);
        return o.is_none();
    }
    let reply = send(
        c,
        &[
            "QRESERVE".into(),
            queue.into(),
            "LEASE".into(),
            LEASE_MS.to_string(),
        ],
    );
    let (msg_id, payload) = match reply {
        Reply::Value(redis::Value::Array(parts)) => {
            // One message: [id, payload, deliveries], possibly nested in an array of one.
            let flat = match parts.as_slice() {
                [redis::Value::Array(inner)] => inner.clone(),
                _ => parts,
            };
            match flat.as_slice() {
                [redis::Value::BulkString(i), redis::Value::BulkString(p), ..] => (
                    String::from_utf8(i.clone()).unwrap(),
                    String::from_utf8(p.clone()).unwrap(),
                ),
                [] => return false,
                other => panic!("QRESERVE answered {other:?}"),
            }
        }
        Reply::Value(redis::Value::Nil) => return false,
        Reply::Value(other) => panic!("QRESERVE answered {other:?}"),
        Reply::Refused => return false,
        // A lease nobody knows of ends, and the message is delivered again.
        Reply::Unknown => return true,
    };
    let reply = send(c, &["QACK".into(), queue.into(), msg_id]);
    let o = outcome(&reply);
    out.lock()
        .unwrap()
        .queues
        .entry(queue.into())
        .or_default()
        .acks
        .entry(payload)
        .or_default()
        .push(o);
    o.is_none()
}

/// After the run, every queue's messages (all ready once the leases have ended), checked
/// against what was pushed and acknowledged: no acknowledged push lost, no message
/// acknowledged twice, nothing acknowledged still there, nothing there never pushed.
fn check_queues(queues: &BTreeMap<String, QueueOps>, remaining: &HashMap<String, Vec<String>>) {
    for (queue, ops) in queues {
        let left: HashSet<&str> = remaining
            .get(queue)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for p in &left {
            assert!(ops.pushed.contains_key(*p), "{queue}: {p} was never pushed");
        }
        for (payload, acks) in &ops.acks {
            let done = acks.iter().filter(|a| **a == Some(true)).count();
            assert!(
                done <= 1,
                "{queue}: {payload} was acknowledged {done} times: {acks:?}"
            );
            if done == 1 {
                assert!(
                    !left.contains(payload.as_str()),
                    "{queue}: {payload} was acknowledged, and is still in the queue"
                );
            }
        }
        for (payload, pushed) in &ops.pushed {
            if *pushed != Some(true) || left.contains(payload.as_str()) {
                continue;
            }
            let acks = ops.acks.get(payload).map(Vec::as_slice).unwrap_or(&[]);
            assert!(
                acks.iter().any(|a| *a != Some(false)),
                "{queue}: {payload} was pushed, never acknowledged, and is gone: {acks:?}"
            );
        }
    }
}

/// Sends an operator's command to node `id` (running or not); its reply, if any.
fn admin(group: &Mutex<Group>, id: u64, args: &[&str]) -> Option<String> {
    let (host, port) = group.lock().unwrap().addr(id)?;
    let mut c = common::Raw::connect_to(&host, port);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(70)))
        .ok()?;
    c.try_call(args)
}

/// Injects one fault at a time until `deadline`; returns what it did.
fn nemesis(group: &Mutex<Group>, deadline: Instant) -> Vec<String> {
    let mut rng = Rng(0xDEAD_BEEF);
    let mut log = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300 + rng.below(700)));
        let id = rng.below(3) + 1;
        let hold = Duration::from_millis(500 + rng.below(1500));
        match rng.below(8) {
            0 | 1 => {
                // Kill the leader half the time, any node otherwise.
                let victim = if rng.below(2) == 0 {
                    group.lock().unwrap().leader().unwrap_or(id)
                } else {
                    id
                };
                group.lock().unwrap().kill(victim);
                log.push(format!("kill -9 node {victim} for {hold:?}"));
                std::thread::sleep(hold);
                group.lock().unwrap().start_node(victim);
            }
            2 => {
                group.lock().unwrap().pause(id, true);
                log.push(format!("SIGSTOP node {id} for {hold:?}"));
                std::thread::sleep(hold);
                group.lock().unwrap().pause(id, false);
            }
            3 => {
                group.lock().unwrap().cut(id, true);
                log.push(format!("drop the traffic to node {id} for {hold:?}"));
                std::thread::sleep(hold);
                group.lock().unwrap().cut(id, false);
            }
            4 | 5 => {
                // The leader half the time: a leader cut off from the others, which
                // clients still reach, while a new one is elected on the other side.
                let victim = if rng.below(2) == 0 {
                    group.lock().unwrap().leader().unwrap_or(id)
                } else {
                    id
                };
                let others: Vec<u64> = (1..=3).filter(|o| *o != victim).collect();
                let bridge = rng.below(2) == 0;
                let links: Vec<(u64, u64)> = if bridge {
                    // Non-transitive: the two others lose each other, not `victim`.
                    vec![(others[0], others[1])]
                } else {
                    others.iter().map(|o| (victim, *o)).collect()
                };
                for (a, b) in &links {
                    group.lock().unwrap().partition(*a, *b, true);
                }
                log.push(if bridge {
                    format!("partition {links:?}, node {victim} bridging, for {hold:?}")
                } else {
                    format!("isolate node {victim} both ways for {hold:?}")
                });
                std::thread::sleep(hold);
                for (a, b) in &links {
                    group.lock().unwrap().partition(*a, *b, false);
                }
            }
            6 => {
                // A planned hand-over, asked of any node.
                let reply = admin(group, id, &["FAILOVER", "TIMEOUT", "5000"]);
                log.push(format!("FAILOVER through node {id}: {reply:?}"));
                std::thread::sleep(hold);
            }
            _ => {
                // A member removed and, a moment later, added back with its data.
                let leader = group.lock().unwrap().leader();
                let Some(leader) = leader.filter(|l| *l != id) else {
                    continue;
                };
                let removed = admin(group, leader, &["FLASHDB.GROUP", "REMOVE", &id.to_string()]);
                log.push(format!("remove node {id} for {hold:?}: {removed:?}"));
                std::thread::sleep(hold);
                let addr = group.lock().unwrap().raft_addr(id);
                let until = Instant::now() + Duration::from_secs(60);
                loop {
                    let via = rng.below(3) + 1;
                    let added = admin(
                        group,
                        via,
                        &["FLASHDB.GROUP", "ADD", &id.to_string(), &addr],
                    );
                    let already = format!("-ERR node {id} is already a voter");
                    if added
                        .as_deref()
                        .is_some_and(|r| r == "+OK\r\n" || r.starts_with(&already))
                    {
                        break;
                    }
                    assert!(
                        Instant::now() < until,
                        "node {id} could not be added back: {added:?}"
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    log
}

fn check_lists(lists: &BTreeMap<String, Vec<ListOp>>, finals: &HashMap<String, Vec<String>>) {
    for (key, ops) in lists {
        let fin = finals.get(key).cloned().unwrap_or_default();
        let pos: HashMap<&str, usize> = fin
            .iter()
            .enumerate()
            .map(|(i, e)| (e.as_str(), i))
            .collect();
        assert_eq!(
            pos.len(),
            fin.len(),
            "{key}: an element appears twice: {fin:?}"
        );
        let pushed: HashSet<&str> = ops
            .iter()
            .filter_map(|o| match o {
                ListOp::Push { element, .. } => Some(element.as_str()),
                ListOp::Read { .. } => None,
            })
            .collect();
        for e in &fin {
            assert!(pushed.contains(e.as_str()), "{key}: {e} was never pushed");
        }
        let mut acked: Vec<(u64, u64, &str)> = Vec::new();
        for o in ops {
            match o {
                ListOp::Push {
                    element,
                    call,
                    ret: Some(ret),
                } => {
                    assert!(
                        pos.contains_key(element.as_str()),
                        "{key}: acknowledged {element} is lost"
                    );
                    acked.push((*call, *ret, element));
                }
                ListOp::Push { ret: None, .. } => {}
                ListOp::Read { items } => {
                    assert!(
                        items.len() <= fin.len() && fin[..items.len()] == items[..],
                        "{key}: a read {items:?} is not a prefix of the final list {fin:?}"
                    );
                }
            }
        }
        for a in &acked {
            for b in &acked {
                if a.1 < b.0 {
                    assert!(
                        pos[a.2] < pos[b.2],
                        "{key}: {} was acknowledged before {} was pushed, but comes after it",
                        a.2,
                        b.2
                    );
                }
            }
        }
    }
}

#[test]
fn registers_lists_and_queues_stay_correct_under_faults() {
    let group = Arc::new(Mutex::new(Group::start_in_namespaces(3)));
    let origin = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let out = Arc::new(Mutex::new(Histories::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (g, s, o) = (group.clone(), stop.clone(), out.clone());
            std::thread::spawn(move || client(id, g, origin, s, o))
        })
        .collect();
    let faults = nemesis(&group, Instant::now() + Duration::from_secs(run_secs()));
    // Healed: let the clients work against a whole group for a moment.
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let g = group.lock().unwrap();
    let leader = g.wait_leader();
    let mut c = g.raw(leader);
    let mut finals = HashMap::new();
    let mut out = out.lock().unwrap();
    let keys: Vec<String> = out.lists.keys().cloned().collect();
    for key in keys {
        let raw = c.call(&["LRANGE", &key, "0", "-1"]);
        let items: Vec<String> = raw
            .split("\r\n")
            .skip(1)
            .filter(|s| !s.is_empty() && !s.starts_with('$'))
            .map(String::from)
            .collect();
        finals.insert(key, items);
    }
    let total: usize = out.registers.values().map(Vec::len).sum();
    let pushes: usize = out.lists.values().map(Vec::len).sum();
    eprintln!(
        "chaos: {} faults, {total} register operations, {pushes} list operations\nfaults: {faults:?}",
        faults.len()
    );
    assert!(
        total > 100 && pushes > 20,
        "too little work to check: {total} and {pushes}"
    );
    check_lists(&out.lists, &finals);
    // Once the leases have ended, every message not acknowledged is ready again.
    std::thread::sleep(Duration::from_millis(LEASE_MS + 500));
    let mut q = g.node(leader).client();
    let mut remaining = HashMap::new();
    for queue in out.queues.keys() {
        let peeked: redis::Value = redis::cmd("QPEEK")
            .arg(queue)
            .arg("COUNT")
            .arg(1_000_000)
            .query(&mut q)
            .unwrap();
        let mut payloads = Vec::new();
        if let redis::Value::Array(msgs) = peeked {
            // QPEEK answers the payloads.
            for m in msgs {
                match m {
                    redis::Value::BulkString(p) => payloads.push(String::from_utf8(p).unwrap()),
                    other => panic!("QPEEK message {other:?}"),
                }
            }
        }
        remaining.insert(queue.clone(), payloads);
    }
    check_queues(&out.queues, &remaining);
    let queued: usize = out.queues.values().map(|q| q.pushed.len()).sum();
    let acked: usize = out.queues.values().map(|q| q.acks.len()).sum();
    eprintln!("chaos: {queued} messages pushed, {acked} reserved and acknowledged");
    // Where each value was written, to tell, if a check fails, whether a value read in
    // one register was written to another.
    let mut written: HashMap<String, Vec<String>> = HashMap::new();
    for (key, ops) in &out.registers {
        for o in ops {
            if let KvInput::Set(_, v) = &o.input {
                written
                    .entry(v.clone())
                    .or_default()
                    .push(format!("{key}: {o:?}"));
            }
        }
    }
    for (key, ops) in std::mem::take(&mut out.registers) {
        let pruned = drop_unobserved_writes(ops.clone());
        let mut verdict = check_with_budget(&KvRegister, &pruned, 100_000_000);
        if verdict != Outcome::Linearizable {
            // The pruning only makes the search cheaper: the whole history decides.
            verdict = check_with_budget(&KvRegister, &ops, 100_000_000);
        }
        if verdict != Outcome::Linearizable {
            let mut ops = ops;
            ops.sort_by_key(|o| o.call);
            let mut lines: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
            let refused: Vec<&String> = out
                .refused
                .iter()
                .filter(|r| r.contains(&format!("{key:?}")))
                .collect();
            lines.push(format!("writes to {key} answered -LOADING: {refused:?}"));
            let own: HashSet<&str> = ops
                .iter()
                .filter_map(|o| match &o.input {
                    KvInput::Set(_, v) => Some(v.as_str()),
                    _ => None,
                })
                .collect();
            for o in &ops {
                if let Some(KvOutput::Value(Some(v))) = &o.output {
                    if !own.contains(v.as_str()) {
                        // A number read may be one written plus increments.
                        let bases: Vec<String> = match v.parse::<i64>() {
                            Ok(n) => (1..=5).map(|k| (n - k).to_string()).collect(),
                            Err(_) => Vec::new(),
                        };
                        let near: Vec<&String> = bases
                            .iter()
                            .filter_map(|b| written.get(b))
                            .flatten()
                            .collect();
                        lines.push(format!(
                            "{v}, read here, was written elsewhere: {:?}; a number up to 5 below it was written: {near:?}",
                            written.get(v)
                        ));
                    }
                }
            }
            let path = std::env::temp_dir().join(format!("flashdb-chaos-{key}.txt"));
            let _ = std::fs::write(&path, lines.join("\n"));
            panic!(
                "{key}: {verdict:?} (its history is in {})\nfaults: {faults:?}\n{}",
                path.display(),
                lines.join("\n")
            );
        }
    }
}
