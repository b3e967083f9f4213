//! Crash test: writers hammer the real server (`appendfsync always`) while it is killed
//! with SIGKILL at random moments; after every restart each acknowledged write must be
//! there. A small snapshot threshold makes snapshots happen in the middle of the load, so
//! recovery is exercised from snapshot + log as well as from the log alone.
//!
//! Besides strings, each writer keeps a list (pushes and blocking pops), a hash, a set, a
//! sorted set (adds, increments, pops) and a `SUNIONSTORE` result, and after every crash
//! each of them must be exactly what the acknowledged writes made it. A second test kills
//! the server under transactions that span shards, and checks that each is recovered
//! whole or not at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{temp_dir, Raw, TestServer};

const WRITERS: usize = 6;
const ROUNDS: usize = 8;

/// What one writer saw acknowledged: counter value, last string set, and keys it set with a
/// TTL (and when they expire).
#[derive(Default, Clone)]
struct Acked {
    counter: i64,
    in_flight_counter: bool,
    value: Option<String>,
    in_flight_value: Option<String>,
    expiring: Vec<(String, u64)>,
    appended: String,
    in_flight_append: Option<String>,
    colls: Colls,
    /// The collections as they are if the write in flight at the crash was applied.
    in_flight_colls: Option<Colls>,
}

/// One writer's collections, as its acknowledged writes made them.
#[derive(Default, Clone, PartialEq, Debug)]
struct Colls {
    list: VecDeque<String>,
    hash: BTreeMap<String, String>,
    set: BTreeSet<String>,
    zset: BTreeMap<String, i64>,
    union: BTreeSet<String>,
}

impl Colls {
    /// Reads writer `id`'s collections from the server.
    fn read(c: &mut redis::Connection, id: usize) -> Colls {
        use redis::Commands;
        let list: Vec<String> = c.lrange(format!("list:{id}"), 0, -1).unwrap();
        let zset: Vec<(String, i64)> = c.zrange_withscores(format!("zset:{id}"), 0, -1).unwrap();
        Colls {
            list: list.into(),
            hash: c.hgetall(format!("hash:{id}")).unwrap(),
            set: c.smembers(format!("set:{id}")).unwrap(),
            zset: zset.into_iter().collect(),
            union: c.smembers(format!("union:{id}")).unwrap(),
        }
    }
}

/// Sends one collection write whose effect on the model is `apply` (which also returns
/// the reply the write must get); records it as in flight until it is acknowledged.
/// Returns false when the server is gone.
fn coll_write(
    c: &mut Raw,
    acked: &Mutex<Acked>,
    args: &[&str],
    apply: impl FnOnce(&mut Colls) -> String,
) -> bool {
    let mut next = acked.lock().unwrap().colls.clone();
    let want = apply(&mut next);
    acked.lock().unwrap().in_flight_colls = Some(next.clone());
    match c.try_call(args) {
        Some(reply) if !reply.is_empty() => {
            assert_eq!(reply, want, "{args:?}");
            let mut a = acked.lock().unwrap();
            a.colls = next;
            a.in_flight_colls = None;
            true
        }
        _ => false,
    }
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// One round of collection writes of writer `id`, iteration `i`.
fn coll_writes(c: &mut Raw, acked: &Mutex<Acked>, id: usize, i: u64) -> bool {
    let (list, hash, set, zset) = (
        format!("list:{id}"),
        format!("hash:{id}"),
        format!("set:{id}"),
        format!("zset:{id}"),
    );
    let item = format!("e{i}");
    let ok = coll_write(c, acked, &["RPUSH", &list, &item], |m| {
        m.list.push_back(item.clone());
        format!(":{}\r\n", m.list.len())
    });
    if !ok {
        return false;
    }
    if i.is_multiple_of(3) {
        // The list is never empty here, so BLPOP pops at once, through the blocking path.
        let ok = coll_write(c, acked, &["BLPOP", &list, "1"], |m| {
            let front = m.list.pop_front().unwrap();
            format!("*2\r\n{}{}", bulk(&list), bulk(&front))
        });
        if !ok {
            return false;
        }
    }
    let (field, value) = (format!("f{}", i % 50), format!("{i}"));
    let ok = coll_write(c, acked, &["HSET", &hash, &field, &value], |m| {
        let new = m.hash.insert(field.clone(), value.clone()).is_none();
        format!(":{}\r\n", u8::from(new))
    });
    if !ok {
        return false;
    }
    let member = format!("{}", i % 64);
    let ok = if i.is_multiple_of(4) {
        coll_write(c, acked, &["SREM", &set, &member], |m| {
            format!(":{}\r\n", u8::from(m.set.remove(&member)))
        })
    } else {
        coll_write(c, acked, &["SADD", &set, &member], |m| {
            format!(":{}\r\n", u8::from(m.set.insert(member.clone())))
        })
    };
    if !ok {
        return false;
    }
    let zmember = format!("m{}", i % 40);
    let ok = if i.is_multiple_of(5) {
        coll_write(c, acked, &["ZPOPMIN", &zset], |m| {
            let min = m.zset.iter().min_by_key(|(k, v)| (**v, (*k).clone()));
            let Some((k, v)) = min.map(|(k, v)| (k.clone(), *v)) else {
                return "*0\r\n".to_string();
            };
            m.zset.remove(&k);
            format!("*2\r\n{}{}", bulk(&k), bulk(&v.to_string()))
        })
    } else {
        coll_write(c, acked, &["ZINCRBY", &zset, "3", &zmember], |m| {
            let v = m.zset.entry(zmember.clone()).or_insert(0);
            *v += 3;
            bulk(&v.to_string())
        })
    };
    if !ok {
        return false;
    }
    if i.is_multiple_of(7) {
        let union = format!("union:{id}");
        return coll_write(c, acked, &["SUNIONSTORE", &union, &set], |m| {
            m.union = m.set.clone();
            format!(":{}\r\n", m.union.len())
        });
    }
    true
}

fn writer(
    port: u16,
    id: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    start_counter: i64,
    start_append: String,
) {
    let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = Raw { stream };
    let mut n = start_counter;
    let mut appended = start_append;
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let counter_key = format!("counter:{id}");
        acked.lock().unwrap().in_flight_counter = true;
        let r = c.try_call(&["INCR", &counter_key]);
        match r {
            Some(reply) if reply.starts_with(':') => {
                n += 1;
                assert_eq!(reply, format!(":{n}\r\n"));
                let mut a = acked.lock().unwrap();
                a.counter = n;
                a.in_flight_counter = false;
            }
            _ => return,
        }
        let value = format!("v{id}-{i}");
        acked.lock().unwrap().in_flight_value = Some(value.clone());
        match c.try_call(&["SET", &format!("str:{id}"), &value]) {
            Some(reply) if reply == "+OK\r\n" => {
                let mut a = acked.lock().unwrap();
                a.value = Some(value);
                a.in_flight_value = None;
            }
            _ => return,
        }
        let piece = format!("{i},");
        acked.lock().unwrap().in_flight_append = Some(piece.clone());
        match c.try_call(&["APPEND", &format!("log:{id}"), &piece]) {
            Some(reply) if reply.starts_with(':') => {
                appended.push_str(&piece);
                let mut a = acked.lock().unwrap();
                a.appended = appended.clone();
                a.in_flight_append = None;
            }
            _ => return,
        }
        if !coll_writes(&mut c, &acked, id, i) {
            return;
        }
        if i.is_multiple_of(10) {
            let key = format!("ttl:{id}:{n}");
            match c.try_call(&["SET", &key, "x", "EX", "3600"]) {
                Some(reply) if reply == "+OK\r\n" => {
                    let at = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_millis() as u64
                        + 3_600_000;
                    acked.lock().unwrap().expiring.push((key, at));
                }
                _ => return,
            }
        }
    }
}

/// How many snapshot files `dir` holds.
fn snapshot_count(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn acknowledged_writes_survive_sigkill_under_load() {
    let dir = temp_dir("crash");
    let mut acked: Vec<Arc<Mutex<Acked>>> = (0..WRITERS)
        .map(|_| Arc::new(Mutex::new(Acked::default())))
        .collect();
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    for round in 0..ROUNDS {
        let mut server = TestServer::start_in(
            &dir,
            &["--snapshot-threshold", "64kb", "--wal-segment-size", "64kb"],
            &[],
        );
        // Everything acknowledged before the previous crash must be here.
        verify(server.port, &acked, round);
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..WRITERS)
            .map(|id| {
                let (stop, a) = (stop.clone(), acked[id].clone());
                let (start, app) = {
                    let g = a.lock().unwrap();
                    (g.counter, g.appended.clone())
                };
                let port = server.port;
                std::thread::spawn(move || writer(port, id, stop, a, start, app))
            })
            .collect();
        // Progress before the kill, not time: on a slow or busy machine a fixed time may
        // see only a few writes, and no snapshot (the first round waits for one, so that
        // recovery across a snapshot is always tested).
        let done = || -> i64 { acked.iter().map(|a| a.lock().unwrap().counter).sum() };
        let from = done();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline
            && (done() - from < (WRITERS * 6) as i64 || (round == 0 && snapshot_count(&dir) == 0))
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(seed % 400));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        // Writes in flight at the kill may or may not have reached the disk; read their
        // fate from the recovered server, so that later rounds compare against the truth.
        let server = TestServer::start_in(&dir, &[], &[]);
        let mut c = server.raw();
        let mut rc = server.client();
        for (id, a) in acked.iter_mut().enumerate() {
            let mut g = a.lock().unwrap();
            let got = c.call(&["GET", &format!("counter:{id}")]);
            let now: i64 = got
                .split("\r\n")
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(
                now == g.counter || (g.in_flight_counter && now == g.counter + 1),
                "round {round} writer {id}: counter {now}, acknowledged {}",
                g.counter
            );
            g.counter = now;
            g.in_flight_counter = false;
            let v = c.call(&["GET", &format!("str:{id}")]);
            if let Some(in_flight) = g.in_flight_value.take() {
                if v.contains(&in_flight) {
                    g.value = Some(in_flight);
                }
            }
            let app = c.call(&["GET", &format!("log:{id}")]);
            let app = app.split("\r\n").nth(1).unwrap_or("").to_string();
            if let Some(p) = g.in_flight_append.take() {
                if app == format!("{}{p}", g.appended) {
                    g.appended = app.clone();
                }
            }
            assert_eq!(
                app, g.appended,
                "round {round} writer {id}: appended log differs"
            );
            let colls = Colls::read(&mut rc, id);
            if g.in_flight_colls.take().as_ref() == Some(&colls) {
                g.colls = colls.clone();
            }
            assert_eq!(
                colls, g.colls,
                "round {round} writer {id}: collections differ"
            );
        }
        drop(server);
    }
    let server = TestServer::start_in(&dir, &[], &[]);
    verify(server.port, &acked, ROUNDS);
    // Every collection type was written and survived to the end.
    let mut rc = server.client();
    let types: BTreeSet<String> = (0..WRITERS)
        .flat_map(|id| {
            ["list", "hash", "set", "zset", "union"].map(|k| {
                redis::cmd("TYPE")
                    .arg(format!("{k}:{id}"))
                    .query::<String>(&mut rc)
                    .unwrap()
            })
        })
        .collect();
    assert_eq!(
        types,
        ["hash", "list", "set", "zset"].map(String::from).into(),
        "not every collection type was exercised"
    );
    // The test proves something only if the writers got far and snapshots were taken.
    let total: i64 = acked.iter().map(|a| a.lock().unwrap().counter).sum();
    assert!(
        total > (ROUNDS * WRITERS * 5) as i64,
        "only {total} acknowledged increments"
    );
    assert!(
        snapshot_count(&dir) >= 1,
        "no snapshot was written during the load"
    );
    let info = server.raw().call(&["INFO", "persistence"]);
    assert!(info.contains("flashdb_persistence:on"), "{info}");
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn verify(port: u16, acked: &[Arc<Mutex<Acked>>], round: usize) {
    let mut c = Raw::connect(port);
    let mut rc = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let mut expiring: HashMap<String, u64> = HashMap::new();
    for (id, a) in acked.iter().enumerate() {
        let g = a.lock().unwrap().clone();
        assert_eq!(
            Colls::read(&mut rc, id),
            g.colls,
            "round {round} writer {id}: collections differ"
        );
        if g.counter > 0 {
            assert_eq!(
                c.call(&["GET", &format!("counter:{id}")]),
                format!("${}\r\n{}\r\n", g.counter.to_string().len(), g.counter),
                "round {round}"
            );
        }
        if let Some(v) = &g.value {
            assert_eq!(
                c.call(&["GET", &format!("str:{id}")]),
                format!("${}\r\n{v}\r\n", v.len()),
                "round {round}"
            );
        }
        for (k, at) in g.expiring {
            expiring.insert(k, at);
        }
    }
    for (k, at) in expiring {
        let got = c.call(&["PEXPIRETIME", &k]);
        let t: u64 = got
            .trim_start_matches(':')
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("round {round}: {k} lost ({got:?})"));
        // The TTL was set relative to the server's clock just before the client's.
        assert!(
            t <= at && at - t < 60_000,
            "round {round}: {k} expires at {t}, expected about {at}"
        );
    }
}

/// Transactions that move amounts between accounts in different shards, and record each
/// transfer in a per-writer counter and journal, killed with SIGKILL at random moments.
/// After every restart the accounts still hold their constant total, each writer's
/// counter equals its journal's length (a transaction is all there or not at all), and
/// no acknowledged transaction is lost.
#[test]
fn transactions_survive_sigkill_whole_or_not_at_all() {
    const ACCOUNTS: usize = 16;
    const TX_WRITERS: usize = 4;
    let dir = temp_dir("crash-tx");
    let accounts: Vec<String> = (0..ACCOUNTS).map(|i| format!("acct:{i}")).collect();
    let total = 1000 * ACCOUNTS as i64;
    {
        let server = TestServer::start_in(&dir, &[], &[]);
        let mut c = server.raw();
        for a in &accounts {
            assert_eq!(c.call(&["SET", a, "1000"]), "+OK\r\n");
        }
    }
    // Per writer: acknowledged transactions, and whether one was in flight at the kill.
    let acked: Vec<Arc<Mutex<(i64, bool)>>> = (0..TX_WRITERS)
        .map(|_| Arc::new(Mutex::new((0, false))))
        .collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut committed = 0;
    // Six rounds of load and a kill, then a last check of the final state.
    for round in 0..7 {
        let mut server = TestServer::start_in(
            &dir,
            &["--snapshot-threshold", "64kb", "--wal-segment-size", "64kb"],
            &[],
        );
        let mut c = server.raw();
        let mut mget = vec!["MGET"];
        mget.extend(accounts.iter().map(String::as_str));
        let sum: i64 = c
            .call(&mget)
            .lines()
            .filter(|l| !l.starts_with('$') && !l.starts_with('*'))
            .map(|l| l.parse::<i64>().unwrap())
            .sum();
        assert_eq!(sum, total, "round {round}: the accounts' total changed");
        for (w, a) in acked.iter().enumerate() {
            let mut g = a.lock().unwrap();
            let count: i64 = c
                .call(&["GET", &format!("txcount:{w}")])
                .lines()
                .nth(1)
                .map_or(0, |l| l.parse().unwrap());
            let journal = c.call(&["LLEN", &format!("journal:{w}")]);
            assert_eq!(
                journal,
                format!(":{count}\r\n"),
                "round {round} writer {w}: half a transaction"
            );
            assert!(
                count == g.0 || (g.1 && count == g.0 + 1),
                "round {round} writer {w}: {count} transactions, {} acknowledged",
                g.0
            );
            *g = (count, false);
        }
        if round == 6 {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let handles: Vec<_> = (0..TX_WRITERS)
            .map(|w| {
                let (stop, a, accounts) = (stop.clone(), acked[w].clone(), accounts.clone());
                let port = server.port;
                std::thread::spawn(move || {
                    let Ok(mut c) = std::panic::catch_unwind(|| Raw::connect(port)) else {
                        return;
                    };
                    let mut i = a.lock().unwrap().0 as usize;
                    while !stop.load(Ordering::Relaxed) {
                        let from = &accounts[(i * 5 + w) % ACCOUNTS];
                        let to = &accounts[(i * 11 + 3 * w + 1) % ACCOUNTS];
                        let amount = (i % 7 + 1).to_string();
                        a.lock().unwrap().1 = true;
                        let replies = [
                            c.try_call(&["MULTI"]),
                            c.try_call(&["DECRBY", from, &amount]),
                            c.try_call(&["INCRBY", to, &amount]),
                            c.try_call(&["INCR", &format!("txcount:{w}")]),
                            c.try_call(&["RPUSH", &format!("journal:{w}"), &i.to_string()]),
                            c.try_call(&["EXEC"]),
                        ];
                        match &replies[5] {
                            Some(r) if r.starts_with("*4\r\n") => {
                                *a.lock().unwrap() = (i as i64 + 1, false);
                                i += 1;
                            }
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(150 + seed % 300));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        committed = acked.iter().map(|a| a.lock().unwrap().0).sum::<i64>();
    }
    // The test proves something only if many transactions were acknowledged.
    assert!(
        committed > 100,
        "only {committed} transactions acknowledged"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What the queue clients of [`queue_messages_survive_sigkill_exactly`] know.
#[derive(Default)]
struct QueueModel {
    /// Every payload a producer sent, acknowledged or not.
    sent: BTreeSet<String>,
    /// Payloads in the queues as far as acknowledged replies tell.
    present: BTreeSet<String>,
    /// Payloads whose removal (`QACK`, `QPOP`) was sent but not answered.
    maybe_gone: BTreeSet<String>,
    /// Pushes sent but not answered.
    maybe_pushed: BTreeSet<String>,
    /// Payloads whose removal was acknowledged (a consumer may acknowledge a message
    /// before its producer has read the reply to its push).
    gone: BTreeSet<String>,
    /// `QPOP`s sent but not answered.
    pops_in_flight: usize,
    /// Acknowledged removals.
    removed: u64,
}

/// Every payload of `queue`, after its leases and delays have ended (all are ready).
fn queue_contents(c: &mut Raw, queue: &str) -> Vec<String> {
    let reply = c.call(&["QPEEK", queue, "COUNT", "1000000"]);
    reply
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('*') && !l.starts_with('$'))
        .map(str::to_string)
        .collect()
}

/// Producers push with priorities and short delays; consumers reserve with a short lease
/// and mostly acknowledge, sometimes give back (`QNACK`, which after four deliveries moves
/// a message to the dead-letter queue), sometimes drop their lease, sometimes `QPOP`; the
/// server is killed at random moments. After each restart, once every lease has ended:
/// every acknowledged push is there (in the queue or its dead-letter queue), no popped or
/// acknowledged message is, nothing is there twice, and nothing is left leased.
#[test]
fn queue_messages_survive_sigkill_exactly() {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    let dir = temp_dir("crash-queue");
    let model = Arc::new(Mutex::new(QueueModel::default()));
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut redelivered = 0;
    for round in 0..7 {
        let mut server = TestServer::start_in(
            &dir,
            &["--snapshot-threshold", "64kb", "--wal-segment-size", "64kb"],
            &[],
        );
        let mut c = server.raw();
        if round == 0 {
            let r = c.call(&[
                "QCONFIG",
                "jobs",
                "MAXATTEMPTS",
                "4",
                "DEADLETTER",
                "jobs-dead",
            ]);
            assert_eq!(r, "+OK\r\n");
        } else {
            // Every lease (300 ms) and delay (50 ms) taken before the kill has ended.
            std::thread::sleep(Duration::from_millis(400));
            for _ in 0..4 {
                c.call(&["QLEN", "jobs"]);
            }
            let info = c.call(&["QINFO", "jobs"]);
            assert!(
                info.contains("$6\r\nleased\r\n:0\r\n") && info.contains("$7\r\ndelayed\r\n:0\r\n"),
                "round {round}: leases or delays left after they ended: {info}"
            );
            let mut found = queue_contents(&mut c, "jobs");
            found.extend(queue_contents(&mut c, "jobs-dead"));
            let set: BTreeSet<String> = found.iter().cloned().collect();
            assert_eq!(
                set.len(),
                found.len(),
                "round {round}: a message is there twice"
            );
            let mut m = model.lock().unwrap();
            for p in &set {
                assert!(m.sent.contains(p), "round {round}: {p} was never sent");
                assert!(
                    !m.gone.contains(p),
                    "round {round}: {p} came back after being acknowledged or popped"
                );
            }
            // A `QPOP` whose reply never came may have taken one message, which no one
            // can name beforehand; nothing else may be missing.
            let lost: Vec<&String> = m
                .present
                .iter()
                .filter(|p| !set.contains(*p) && !m.maybe_gone.contains(*p))
                .collect();
            assert!(
                lost.len() <= m.pops_in_flight,
                "round {round}: acknowledged pushes lost: {lost:?} ({} pops in flight)",
                m.pops_in_flight
            );
            m.present = set;
            m.pops_in_flight = 0;
            m.maybe_gone.clear();
            m.maybe_pushed.clear();
        }
        if round == 6 {
            break;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for w in 0..PRODUCERS {
            let (stop, model, next) = (stop.clone(), model.clone(), next.clone());
            let port = server.port;
            handles.push(std::thread::spawn(move || {
                let Ok(mut c) = std::panic::catch_unwind(|| Raw::connect(port)) else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let p = format!("m{i}");
                    {
                        let mut m = model.lock().unwrap();
                        m.sent.insert(p.clone());
                        m.maybe_pushed.insert(p.clone());
                    }
                    let prio = (i % 3).to_string();
                    let delay = if i % 5 == 0 { "50" } else { "0" };
                    let args = ["QADD", "jobs", "PRIORITY", &prio, "DELAY", delay, &p];
                    match c.try_call(&args) {
                        Some(r) if r.starts_with('$') => {
                            let mut m = model.lock().unwrap();
                            m.maybe_pushed.remove(&p);
                            if !m.gone.contains(&p) {
                                m.present.insert(p);
                            }
                        }
                        Some(r) => panic!("producer {w}: {r}"),
                        None => return,
                    }
                }
            }));
        }
        let mut redeliveries = Vec::new();
        for w in 0..CONSUMERS {
            let (stop, model) = (stop.clone(), model.clone());
            let port = server.port;
            let (tx, rx) = std::sync::mpsc::channel();
            redeliveries.push(rx);
            handles.push(std::thread::spawn(move || {
                let Ok(mut c) = std::panic::catch_unwind(|| Raw::connect(port)) else {
                    return;
                };
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if n.is_multiple_of(7) {
                        model.lock().unwrap().pops_in_flight += 1;
                        let Some(r) = c.try_call(&["QPOP", "jobs"]) else {
                            return;
                        };
                        model.lock().unwrap().pops_in_flight -= 1;
                        // A pop in flight may have taken anything; only a reply tells what.
                        if let Some(p) = r.split("\r\n").nth(1).filter(|_| r.starts_with('$')) {
                            let mut m = model.lock().unwrap();
                            m.present.remove(p);
                            m.gone.insert(p.to_string());
                            m.removed += 1;
                        }
                        continue;
                    }
                    let Some(r) = c.try_call(&[
                        "QRESERVE", "jobs", "COUNT", "2", "LEASE", "300", "BLOCK", "50",
                    ]) else {
                        return;
                    };
                    let lines: Vec<&str> = r.split("\r\n").collect();
                    let taken: Vec<(String, String, u64)> = lines
                        .iter()
                        .enumerate()
                        .filter(|(_, l)| **l == "*3")
                        .map(|(i, _)| {
                            let d = lines[i + 5].trim_start_matches(':').parse().unwrap();
                            (lines[i + 2].to_string(), lines[i + 4].to_string(), d)
                        })
                        .collect();
                    for (id, p, deliveries) in taken {
                        if deliveries > 1 {
                            let _ = tx.send(());
                        }
                        match (n + deliveries) % 10 {
                            0 => {
                                let Some(r) = c.try_call(&["QNACK", "jobs", &id]) else {
                                    return;
                                };
                                assert_eq!(r, ":1\r\n", "consumer {w}: nack of {id}");
                            }
                            // The lease is left to end.
                            1 => {}
                            _ => {
                                model.lock().unwrap().maybe_gone.insert(p.clone());
                                let Some(r) = c.try_call(&["QACK", "jobs", &id]) else {
                                    return;
                                };
                                assert_eq!(r, ":1\r\n", "consumer {w}: ack of {id}");
                                let mut m = model.lock().unwrap();
                                m.maybe_gone.remove(&p);
                                m.present.remove(&p);
                                m.gone.insert(p);
                                m.removed += 1;
                            }
                        }
                    }
                }
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 400));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
        redelivered += redeliveries
            .iter()
            .map(|r| r.try_iter().count())
            .sum::<usize>();
    }
    let m = model.lock().unwrap();
    assert!(m.removed > 200, "only {} removals acknowledged", m.removed);
    assert!(m.sent.len() > 500, "only {} messages sent", m.sent.len());
    assert!(redelivered > 0, "no message was ever redelivered");
    drop(m);
    std::fs::remove_dir_all(&dir).unwrap();
}
