//! Replay determinism: after a randomized workload over every string, key and expiry
//! command (bitmaps, HyperLogLogs, geo and SORT ... STORE included) and the writes of hashes, lists, sets, sorted sets (random pops included) and
//! queues (leases, delays, acknowledgements and dead letters included),
//! some of it inside `MULTI`/`EXEC`, the state recovered after SIGKILL (snapshot taken
//! mid-way + log) and after a
//! clean restart (snapshot only) equals the state before, key by key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{dump, temp_dir, TestServer};

const DATABASES: usize = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_command(
    r: &mut Rng,
    ids: &[(String, String)],
    leased: &[(String, String)],
) -> Vec<String> {
    let key = |r: &mut Rng| format!("k{}", r.below(25));
    let val = |r: &mut Rng| match r.below(4) {
        0 => r.below(1000).to_string(),
        1 => format!("{}.{}", r.below(100), r.below(100)),
        2 => "x".repeat(r.below(60) as usize),
        _ => format!("v{}", r.below(1_000_000)),
    };
    let far = || {
        (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 86_400)
            .to_string()
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Collections live mostly on their own keys (with some overlap), so that each type
    // survives the workload and wrong-type writes still happen.
    let ck = |r: &mut Rng| {
        format!(
            "{}{}",
            ["h", "l", "s", "z", "q", "k"][r.below(6) as usize],
            r.below(8)
        )
    };
    let m = |r: &mut Rng| format!("m{}", r.below(40));
    let n = |r: &mut Rng| r.below(100).to_string();
    // Leases and delays are either over before the state is compared (1 ms) or last
    // beyond the test (an hour), so that the comparison does not race with them.
    let ms = |r: &mut Rng| if r.below(2) == 0 { "1" } else { "3600000" };
    // A recent message id with its queue (mostly; sometimes another queue's).
    let pick = |r: &mut Rng, ids: &[(String, String)]| -> (String, String) {
        let recent = &ids[ids.len().saturating_sub(8)..];
        match recent.get(r.below(recent.len().max(1) as u64) as usize) {
            Some((k, id)) if r.below(8) != 0 => (k.clone(), id.clone()),
            Some((_, id)) => (ck(r), id.clone()),
            None => (ck(r), "1-00000000".to_string()),
        }
    };
    let id = |r: &mut Rng| pick(r, ids);
    // Streams live on x0..x3, with auto ids (the clock) and explicit ones.
    let xk = |r: &mut Rng| format!("x{}", r.below(4));
    let grp = |r: &mut Rng| format!("g{}", r.below(2));
    let cons = |r: &mut Rng| format!("c{}", r.below(3));
    match r.below(99) {
        93 => s(&["XGROUP", "CREATE", &xk(r), &grp(r), "0", "MKSTREAM"]),
        94 => s(&[
            "XREADGROUP",
            "GROUP",
            &grp(r),
            &cons(r),
            "COUNT",
            &r.below(5).to_string(),
            "STREAMS",
            &xk(r),
            [">", "0"][r.below(2) as usize],
        ]),
        95 => s(&["XACK", &xk(r), &grp(r), &format!("{}-0", r.below(3000))]),
        96 => s(&[
            "XAUTOCLAIM",
            &xk(r),
            &grp(r),
            &cons(r),
            "0",
            "0",
            "COUNT",
            "3",
        ]),
        97 => s(&[
            "XCLAIM",
            &xk(r),
            &grp(r),
            &cons(r),
            "0",
            &format!("{}-0", r.below(3000)),
            "FORCE",
        ]),
        98 => s(&["XGROUP", "DELCONSUMER", &xk(r), &grp(r), &cons(r)]),
        87 => s(&["XADD", &xk(r), "*", "f", &val(r), "g", &n(r)]),
        88 => s(&[
            "XADD",
            &xk(r),
            "MAXLEN",
            ["~", "="][r.below(2) as usize],
            &r.below(150).to_string(),
            "*",
            "f",
            &val(r),
        ]),
        89 => s(&["XDEL", &xk(r), &format!("{}-0", r.below(2000))]),
        90 => s(&[
            "XTRIM",
            &xk(r),
            ["MAXLEN", "MINID"][r.below(2) as usize],
            ["~", "="][r.below(2) as usize],
            &r.below(200).to_string(),
        ]),
        91 => s(&[
            "XADD",
            &xk(r),
            &format!("{}-*", r.below(3000)),
            &m(r),
            &val(r),
        ]),
        92 => s(&["XSETID", &xk(r), "99999999999999-0"]),
        86 => s(&[
            "SORT",
            &ck(r),
            "ALPHA",
            "DESC",
            "LIMIT",
            "0",
            "5",
            "STORE",
            &ck(r),
        ]),
        84 => s(&[
            "GEOADD",
            &ck(r),
            &format!("{}.{}", r.below(360) as i64 - 180, r.below(1000)),
            &format!("{}.{}", r.below(160) as i64 - 80, r.below(1000)),
            &m(r),
        ]),
        85 => s(&[
            "GEOSEARCHSTORE",
            &ck(r),
            &ck(r),
            "FROMLONLAT",
            "0",
            "0",
            "BYRADIUS",
            "20000",
            "km",
            "STOREDIST",
        ]),
        80 => {
            let mut c = s(&["PFADD", &format!("p{}", r.below(4))]);
            for _ in 0..r.below(300) {
                c.push(format!("e{}", r.below(100_000)));
            }
            c
        }
        81 => s(&["PFCOUNT", &format!("p{}", r.below(4))]),
        82 => s(&[
            "PFMERGE",
            &format!("p{}", r.below(4)),
            &format!("p{}", r.below(4)),
            &key(r),
        ]),
        83 => s(&["PFDEBUG", "TODENSE", &format!("p{}", r.below(4))]),
        76 => s(&[
            "SETBIT",
            &key(r),
            &r.below(300).to_string(),
            &r.below(2).to_string(),
        ]),
        77 => s(&[
            "BITFIELD",
            &key(r),
            "OVERFLOW",
            ["WRAP", "SAT", "FAIL"][r.below(3) as usize],
            "INCRBY",
            "i12",
            &format!("#{}", r.below(20)),
            &(r.below(4000) as i64 - 2000).to_string(),
            "SET",
            "u5",
            &r.below(200).to_string(),
            &r.below(40).to_string(),
        ]),
        78 => s(&[
            "BITOP",
            ["AND", "OR", "XOR"][r.below(3) as usize],
            &key(r),
            &key(r),
            &key(r),
        ]),
        79 => s(&["BITOP", "NOT", &key(r), &key(r)]),
        58 => s(&["QPUSH", &ck(r), &val(r), &val(r)]),
        59 => s(&[
            "QADD",
            &ck(r),
            "PRIORITY",
            &r.below(256).to_string(),
            &val(r),
        ]),
        60 => s(&["QADD", &ck(r), "DELAY", ms(r), &val(r)]),
        61 => s(&["QRESERVE", &ck(r), "COUNT", "2", "LEASE", ms(r)]),
        62 => s(&["QRESERVE", &ck(r)]),
        63 => s(&["QPOP", &ck(r), "COUNT", &n(r)]),
        64 => {
            let (k, a) = id(r);
            s(&["QACK", &k, &a, &id(r).1])
        }
        69 | 70 => s(&["QPUSH", &format!("q{}", r.below(3)), &val(r)]),
        71 | 72 => s(&["QRESERVE", &format!("q{}", r.below(3)), "LEASE", "3600000"]),
        65 | 68 | 73..=75 => {
            let (k, a) = pick(r, leased);
            s(&["QNACK", &k, &a, "DELAY", ms(r)])
        }
        66 if r.below(2) == 0 => {
            let (k, a) = id(r);
            s(&["QTOUCH", &k, &a, ms(r)])
        }
        66 => s(&[
            "QCONFIG",
            &ck(r),
            "MAXATTEMPTS",
            &r.below(3).to_string(),
            "DEADLETTER",
            &ck(r),
            "LEASE",
            ms(r),
        ]),
        67 => s(&["BQPOP", &ck(r), &ck(r), "0.001"]),
        30 => s(&["HSET", &ck(r), &m(r), &val(r), &m(r), &val(r)]),
        31 => s(&["HDEL", &ck(r), &m(r), &m(r)]),
        32 => s(&["HINCRBY", &ck(r), &m(r), &n(r)]),
        33 => s(&[
            "HINCRBYFLOAT",
            &ck(r),
            &m(r),
            &format!("{}.{}", r.below(9), r.below(99)),
        ]),
        34 => s(&["HSETNX", &ck(r), &m(r), &val(r)]),
        35 => s(&["RPUSH", &ck(r), &val(r), &val(r)]),
        36 => s(&["LPUSH", &ck(r), &val(r)]),
        37 => s(&["LPOP", &ck(r), "2"]),
        38 => s(&["RPOP", &ck(r)]),
        39 => s(&["LMOVE", &ck(r), &ck(r), "LEFT", "RIGHT"]),
        40 => s(&["LSET", &ck(r), "0", &val(r)]),
        41 => s(&["LINSERT", &ck(r), "BEFORE", &val(r), &val(r)]),
        42 => s(&["LREM", &ck(r), "-1", &val(r)]),
        43 => s(&["LTRIM", &ck(r), "1", "-2"]),
        44 => s(&["SADD", &ck(r), &m(r), &n(r), &m(r)]),
        45 => s(&["SREM", &ck(r), &m(r), &n(r)]),
        46 => s(&["SPOP", &ck(r), "2"]),
        47 => s(&["SMOVE", &ck(r), &ck(r), &m(r)]),
        48 => s(&["SUNIONSTORE", &ck(r), &ck(r), &ck(r)]),
        49 => s(&["SINTERSTORE", &ck(r), &ck(r), &ck(r)]),
        50 => s(&[
            "ZADD",
            &ck(r),
            &n(r),
            &m(r),
            &format!("{}.5", r.below(9)),
            &m(r),
        ]),
        51 => s(&["ZINCRBY", &ck(r), "1.25", &m(r)]),
        52 => s(&["ZREM", &ck(r), &m(r)]),
        53 => s(&["ZPOPMIN", &ck(r), "2"]),
        54 => s(&["ZREMRANGEBYSCORE", &ck(r), "10", "(40"]),
        55 => s(&[
            "ZUNIONSTORE",
            &ck(r),
            "2",
            &ck(r),
            &ck(r),
            "WEIGHTS",
            "2",
            "0.5",
        ]),
        56 => s(&["ZRANGESTORE", &ck(r), &ck(r), "0", "5"]),
        57 => s(&["BLPOP", &ck(r), &ck(r), "0.001"]),
        0..=2 => s(&["SET", &key(r), &val(r)]),
        3 => s(&["SET", &key(r), &val(r), "EX", "7200"]),
        4 => s(&["SET", &key(r), &val(r), "KEEPTTL", "XX"]),
        5 => s(&["SETNX", &key(r), &val(r)]),
        6 => s(&["SETEX", &key(r), "5000", &val(r)]),
        7 => s(&["APPEND", &key(r), &val(r)]),
        8 => s(&["SETRANGE", &key(r), &r.below(40).to_string(), &val(r)]),
        9 => s(&["INCR", &key(r)]),
        10 => s(&[
            "INCRBY",
            &key(r),
            &(r.below(2000) as i64 - 1000).to_string(),
        ]),
        11 => s(&[
            "INCRBYFLOAT",
            &key(r),
            &format!("{}.{}", r.below(10), r.below(1000)),
        ]),
        12 => s(&["GETSET", &key(r), &val(r)]),
        13 => s(&["GETDEL", &key(r)]),
        14 => s(&["GETEX", &key(r), "EX", "9000"]),
        15 => s(&["GETEX", &key(r), "PERSIST"]),
        16 => s(&["MSET", &key(r), &val(r), &key(r), &val(r)]),
        17 => s(&["MSETNX", &key(r), &val(r), &key(r), &val(r)]),
        18 => s(&["DEL", &key(r), &key(r)]),
        19 => s(&["RENAME", &key(r), &key(r)]),
        20 => s(&["RENAMENX", &key(r), &key(r)]),
        21 => s(&[
            "COPY",
            &key(r),
            &key(r),
            "DB",
            &r.below(DATABASES as u64).to_string(),
            "REPLACE",
        ]),
        22 => s(&["MOVE", &key(r), &r.below(DATABASES as u64).to_string()]),
        23 => s(&["EXPIRE", &key(r), "10000"]),
        24 => s(&["PEXPIREAT", &key(r), &format!("{}000", far())]),
        25 => s(&["PERSIST", &key(r)]),
        26 => s(&["SELECT", &r.below(DATABASES as u64).to_string()]),
        27 => s(&["EXPIRE", &key(r), "20000", "GT"]),
        28 if r.below(10) == 0 => s(&[
            "SWAPDB",
            &r.below(DATABASES as u64).to_string(),
            &r.below(DATABASES as u64).to_string(),
        ]),
        28 => s(&["UNLINK", &key(r)]),
        _ if r.below(20) == 0 => s(&["FLUSHDB"]),
        _ => s(&["SET", &key(r), &val(r)]),
    }
}

#[test]
fn recovered_state_equals_the_state_before_the_crash() {
    let dir = temp_dir("determinism");
    let db = DATABASES.to_string();
    let mut s = TestServer::start_in(&dir, &["--databases", &db], &[]);
    let mut c = s.raw();
    let mut r = Rng(0x9E3779B97F4A7C15);
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut nacked = 0;
    let mut leased: Vec<(String, String)> = Vec::new();
    for i in 0..8000 {
        if i == 4000 {
            assert_eq!(c.call(&["BGSAVE"]), "+Background saving started\r\n");
        }
        // Every 40th step runs a few commands as one transaction (logged as one record).
        let in_tx = i % 40 == 7;
        if in_tx {
            assert_eq!(c.call(&["MULTI"]), "+OK\r\n");
        }
        for _ in 0..if in_tx { 1 + r.below(4) } else { 1 } {
            let cmd = random_command(&mut r, &ids, &leased);
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            let reply = c.call(&args);
            // Message ids handed out, for later acknowledgements.
            if cmd[0] == "QADD" && reply.starts_with('$') {
                let id = reply.split("\r\n").nth(1).unwrap_or_default();
                ids.push((cmd[1].clone(), id.to_string()));
            }
            if cmd[0] == "QNACK" && reply == ":1\r\n" {
                nacked += 1;
            }
            if cmd[0] == "QRESERVE" {
                let lines: Vec<&str> = reply.split("\r\n").collect();
                for (i, l) in lines.iter().enumerate() {
                    if *l == "*3" {
                        ids.push((cmd[1].clone(), lines[i + 2].to_string()));
                        leased.push((cmd[1].clone(), lines[i + 2].to_string()));
                    }
                }
            }
            assert!(!reply.starts_with("-ERR Protocol"), "{cmd:?}: {reply}");
            if in_tx {
                assert_eq!(reply, "+QUEUED\r\n", "{cmd:?}");
            }
        }
        if in_tx {
            let reply = c.call(&["EXEC"]);
            assert!(
                reply.starts_with('*') && !reply.starts_with("*-1"),
                "{reply}"
            );
        }
    }
    assert!(nacked > 10, "only {nacked} messages were given back");
    let before = dump(s.port, DATABASES);
    assert!(
        before.len() > 20,
        "the workload must leave data behind: {}",
        before.len()
    );
    for t in ["+string", "+hash", "+list", "+set", "+zset", "+queue"] {
        assert!(
            before.iter().any(|l| l.contains(t)),
            "the workload must leave a {t} behind"
        );
    }
    drop(c);
    s.kill9();

    let mut s = TestServer::start_in(&dir, &["--databases", &db], &[]);
    let after_crash = dump(s.port, DATABASES);
    assert_eq!(
        after_crash, before,
        "state after SIGKILL + recovery differs"
    );
    let info = s.raw().call(&["INFO", "persistence"]);
    assert!(
        info.contains("flashdb_snapshot_seq:") && !info.contains("flashdb_snapshot_seq:0\r\n"),
        "a snapshot was used: {info}"
    );
    assert_eq!(s.terminate(), Some(0));

    // A clean shutdown writes a final snapshot; recovery from it alone gives the same state.
    let s = TestServer::start_in(&dir, &["--databases", &db], &[]);
    assert_eq!(
        dump(s.port, DATABASES),
        before,
        "state after clean restart differs"
    );
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
