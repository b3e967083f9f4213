//! `maxmemory`: under write load memory stays under the limit for every eviction policy,
//! each policy evicts the keys Redis's would, `noeviction` refuses writes with Redis's
//! `-OOM` (checked against the real Redis 7), evictions are logged so that a restart
//! after a crash has exactly the keys that were left, and evicted keys are announced and
//! break `WATCH` as any deletion does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::real_redis::{run_script, RedisServer};
use common::{dump, read_reply, temp_dir, Raw, TestServer};
use redis::Commands;

/// The limit the load tests run under: well above an idle server's own memory (about
/// 2 MB), well below what they write.
const LIMIT: u64 = 24 * 1024 * 1024;

fn info_u64(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let text: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    let prefix = format!("{field}:");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

/// Writes `n` keys `prefix:i` of 1 KiB in pipelined batches (with a TTL of `ttl_s`
/// seconds when given), checking after each batch that memory is under the limit.
/// Returns the highest `used_memory` seen.
fn fill(c: &mut redis::Connection, prefix: &str, n: usize, ttl_s: Option<u64>) -> u64 {
    let mut highest = 0;
    for batch in (0..n).collect::<Vec<_>>().chunks(200) {
        write_batch(c, prefix, batch[0]..batch[0] + batch.len(), ttl_s);
        // What the limit counts: the allocator's bytes, less the key slots that
        // evictions emptied for new keys.
        let used = info_u64(c, "memory", "used_memory")
            - info_u64(c, "memory", "mem_not_counted_for_evict");
        highest = highest.max(used);
        // Each write may take memory over the limit by its own size, but the next one
        // evicts first: a batch ends at most a few writes (and buffers) above it.
        assert!(
            used < LIMIT + LIMIT / 20,
            "counted memory {used} after writing {prefix}:{} (maxmemory {LIMIT})",
            batch[0]
        );
    }
    highest
}

fn start(policy: &str) -> (TestServer, redis::Connection) {
    let server = TestServer::start_with(&[
        "--maxmemory",
        &LIMIT.to_string(),
        "--maxmemory-policy",
        policy,
    ]);
    let c = server.client();
    (server, c)
}

fn exists(c: &mut redis::Connection, key: &str) -> bool {
    c.exists(key).unwrap()
}

#[test]
fn allkeys_policies_keep_memory_under_the_limit() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let (_server, mut c) = start(policy);
        // Three times the limit's worth of 1 KiB values.
        fill(&mut c, "k", 3 * LIMIT as usize / 1024, None);
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        let left: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        assert!(evicted > 0, "{policy}: nothing evicted");
        assert_eq!(
            left + evicted,
            3 * LIMIT / 1024,
            "{policy}: every key is either there or evicted"
        );
        // Most of the memory still holds data: eviction stops once under the limit.
        assert!(
            left * 1024 > LIMIT / 3,
            "{policy}: only {left} keys left of 1 KiB each"
        );
        let reported: String = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query::<Vec<String>>(&mut c)
            .unwrap()
            .remove(1);
        assert_eq!(reported, policy);
    }
}

/// Small keys free almost nothing but their table slot when evicted: eviction must stop
/// once the slots it emptied make room, not go on until the tables themselves shrink
/// (which they never do), leaving the keyspace nearly empty.
#[test]
fn small_keys_are_evicted_only_as_far_as_needed() {
    let (_server, mut c) = start("allkeys-random");
    let mut written = 0usize;
    let mut peak = 0u64;
    let mut after_first_eviction = None;
    while written < 2_000_000 {
        let mut p = redis::pipe();
        for i in written..written + 5000 {
            p.cmd("SET").arg(format!("s:{i}")).arg("x").ignore();
        }
        let () = p.query(&mut c).unwrap();
        written += 5000;
        let n: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        peak = peak.max(n);
        if info_u64(&mut c, "stats", "evicted_keys") > 0 {
            let done = after_first_eviction.get_or_insert(written);
            if written >= *done + 200_000 {
                break;
            }
        }
    }
    assert!(
        after_first_eviction.is_some(),
        "{written} small keys evicted nothing"
    );
    let left: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert!(
        left * 10 > peak * 9,
        "{left} keys left of the {peak} that fitted before evictions began"
    );
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let (_server, mut c) = start(policy);
        fill(&mut c, "keep", 2000, None);
        fill(&mut c, "tmp", 3 * LIMIT as usize / 1024, Some(10_000));
        assert!(info_u64(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        for i in 0..2000 {
            assert!(
                exists(&mut c, &format!("keep:{i}")),
                "{policy}: keep:{i}, which has no TTL, was evicted"
            );
        }
        // With no key left that may go, writes are refused.
        let _: () = redis::cmd("PERSIST").arg("none").query(&mut c).unwrap();
        let volatile_left: Vec<String> = c.keys("tmp:*").unwrap();
        for k in &volatile_left {
            let _: i64 = c.persist(k).unwrap();
        }
        let big = vec![b'x'; 4 * LIMIT as usize];
        let err = c.set::<_, _, ()>("big", &big).unwrap_err();
        assert_eq!(err.code(), Some("OOM"), "{policy}: {err}");
        let err = c.set::<_, _, ()>("small", 1).unwrap_err();
        assert_eq!(err.code(), Some("OOM"), "{policy}: {err}");
    }
}

/// Writes keys `prefix:i` for `i` in `range`, of 1 KiB, in one pipeline (with a TTL of
/// `ttl_s` seconds when given).
fn write_batch(
    c: &mut redis::Connection,
    prefix: &str,
    range: std::ops::Range<usize>,
    ttl_s: Option<u64>,
) {
    let value = vec![b'v'; 1024];
    let mut p = redis::pipe();
    for i in range {
        let key = format!("{prefix}:{i}");
        match ttl_s {
            Some(t) => p.cmd("SET").arg(&key).arg(&value).arg("EX").arg(t).ignore(),
            None => p.cmd("SET").arg(&key).arg(&value).ignore(),
        };
    }
    let () = p.query(c).unwrap();
}

/// Writes keys `prefix:i` of 1 KiB until at least `target` keys were evicted in all.
fn fill_until_evicted(c: &mut redis::Connection, prefix: &str, ttl_s: Option<u64>, target: u64) {
    let mut written = 0;
    while info_u64(c, "stats", "evicted_keys") < target {
        write_batch(c, prefix, written..written + 100, ttl_s);
        written += 100;
        assert!(written < 1_000_000, "nothing is evicted");
    }
}

/// How many of `prefix:i` for `i` in `0..n` by `step` are left.
fn count_left(c: &mut redis::Connection, prefix: &str, n: usize, step: usize) -> u64 {
    (0..n)
        .step_by(step)
        .filter(|i| exists(c, &format!("{prefix}:{i}")))
        .count() as u64
}

/// Reads every even `old:*` key `times` times.
fn read_even(c: &mut redis::Connection, n: usize, times: usize) {
    for _ in 0..times {
        let mut p = redis::pipe();
        for i in (0..n).step_by(2) {
            p.cmd("GET").arg(format!("old:{i}")).ignore();
        }
        let () = p.query(c).unwrap();
    }
}

/// Checks that of `evicted` evictions, fewer than a tenth fell on the `hit` keys the
/// policy ranks last. They are a third or more of the keys in these tests, so random
/// eviction would hit them three times as often or more.
fn assert_spared(what: &str, hit: u64, evicted: u64) {
    assert!(
        hit * 10 < evicted,
        "{what}: {hit} of {evicted} evictions fell on keys the policy should keep"
    );
}

/// Writes `old:*` keys (half the limit's worth), lets `touch` read the even ones, then
/// writes new keys until about half of the unread ones could have gone, and checks that
/// the read ones were spared.
fn keeps_read_keys(policy: &str, touch: impl FnOnce(&mut redis::Connection, usize)) {
    let (_server, mut c) = start(policy);
    let n = LIMIT as usize / 1024 / 2;
    fill(&mut c, "old", n, None);
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    touch(&mut c, n);
    fill_until_evicted(&mut c, "new", None, n as u64 / 4);
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    let hot_lost = n as u64 / 2 - count_left(&mut c, "old", n, 2);
    assert_spared(policy, hot_lost, evicted);
}

#[test]
fn lru_keeps_recently_read_keys() {
    keeps_read_keys("allkeys-lru", |c, n| {
        // Idle times are counted in seconds, as Redis's clock counts them.
        std::thread::sleep(Duration::from_millis(2100));
        read_even(c, n, 1);
    });
}

#[test]
fn lfu_keeps_often_read_keys() {
    keeps_read_keys("allkeys-lfu", |c, n| read_even(c, n, 30));
}

#[test]
fn volatile_ttl_evicts_the_soonest_to_expire_first() {
    let (_server, mut c) = start("volatile-ttl");
    let n = LIMIT as usize / 1024 / 2;
    fill(&mut c, "late", n, Some(100_000));
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    fill_until_evicted(&mut c, "soon", Some(1_000), n as u64 / 4);
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    let late_lost = n as u64 - count_left(&mut c, "late", n, 1);
    assert_spared("volatile-ttl", late_lost, evicted);
}

#[test]
fn noeviction_refuses_writes_as_redis_does() {
    run_script(&[
        "FLUSHALL",
        "SET a 1",
        "RPUSH l x",
        "CONFIG SET maxmemory 1",
        "SET b 2",
        "INCR n",
        "RPUSH l y",
        "GET a",
        "LRANGE l 0 -1",
        "PING",
        "DEL l",
        "EXPIRE a 100",
        "MULTI",
        "GET a",
        "EXEC",
        "MULTI",
        "DISCARD",
        "CONFIG SET maxmemory-samples 0",
        "CONFIG SET maxmemory-eviction-tenacity 101",
        "CONFIG SET maxmemory-policy lru",
        "CONFIG GET maxmemory",
        "CONFIG SET maxmemory 0",
        "SET b 2",
        "CONFIG GET maxmemory-policy",
    ]);
}

/// An `EXEC` whose transaction may grow memory is refused when memory is over the limit
/// and nothing can be evicted; one that only reads runs.
#[test]
fn exec_is_refused_when_its_transaction_may_grow_memory() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    for port in [redis.port, flash.port] {
        let mut c = Raw::connect(port);
        let mut admin = Raw::connect(port);
        assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
        assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
        assert_eq!(c.call(&["SET", "b", "2"]), "+QUEUED\r\n");
        assert_eq!(admin.call(&["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
        assert_eq!(
            c.call(&["EXEC"]),
            "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n",
            "port {port}"
        );
        // The transaction is over.
        assert_eq!(
            c.call(&["EXEC"]),
            "-ERR EXEC without MULTI\r\n",
            "port {port}"
        );
        assert_eq!(admin.call(&["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
        assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
        assert_eq!(c.call(&["GET", "a"]), "+QUEUED\r\n");
        assert_eq!(admin.call(&["CONFIG", "SET", "maxmemory", "1"]), "+OK\r\n");
        assert_eq!(c.call(&["EXEC"]), "*1\r\n$1\r\n1\r\n", "port {port}");
        assert_eq!(c.call(&["GET", "b"]), "$-1\r\n", "port {port}");
    }
}

#[test]
fn an_evicted_key_is_announced_and_breaks_watch() {
    let server = TestServer::start();
    let mut c = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Ee")
        .query(&mut c)
        .unwrap();
    let mut sub = server.raw();
    sub.call(&["SUBSCRIBE", "__keyevent@0__:evicted"]);
    let _: () = c.set("watched", "v").unwrap();
    let mut w = server.raw();
    assert_eq!(w.call(&["WATCH", "watched"]), "+OK\r\n");
    assert_eq!(w.call(&["MULTI"]), "+OK\r\n");
    assert_eq!(w.call(&["PING"]), "+QUEUED\r\n");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("allkeys-random")
        .query(&mut c)
        .unwrap();
    // The only key goes, then memory is still over the limit: PING does not need any.
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1")
        .query(&mut c)
        .unwrap();
    let pong: String = redis::cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    let msg = String::from_utf8_lossy(&read_reply(&mut sub.stream)).into_owned();
    assert_eq!(
        msg,
        "*3\r\n$7\r\nmessage\r\n$22\r\n__keyevent@0__:evicted\r\n$7\r\nwatched\r\n"
    );
    assert_eq!(w.call(&["EXEC"]), "*-1\r\n");
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 1);
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn evictions_are_logged_and_a_crash_keeps_what_was_left() {
    let dir = temp_dir("maxmemory-crash");
    let limit = LIMIT.to_string();
    let args = [
        "--maxmemory",
        limit.as_str(),
        "--maxmemory-policy",
        "allkeys-random",
    ];
    let mut server = TestServer::start_in(&dir, &args, &[]);
    let mut c = server.client();
    fill(&mut c, "k", 2 * LIMIT as usize / 1024, None);
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 0);
    let before = dump(server.port, 1);
    server.kill9();
    drop(server);
    // Restarted without a limit: what it holds is what the log says, nothing evicted
    // again.
    let server = TestServer::start_in(&dir, &[], &[]);
    let after = dump(server.port, 1);
    assert_eq!(before.len(), after.len());
    assert!(before == after, "the state after recovery differs");
    let mut c = server.client();
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_settings_are_refused_at_start() {
    for (args, why) in [
        (&["--maxmemory", "lots"][..], "--maxmemory: invalid size"),
        (
            &["--maxmemory-policy", "lru"][..],
            "maxmemory-policy must be one of",
        ),
    ] {
        let (code, _out, err) = common::run_flashdb(args, &[]);
        assert_ne!(code, Some(0), "{args:?}");
        assert!(err.contains(why), "{args:?}: {err}");
    }
}
