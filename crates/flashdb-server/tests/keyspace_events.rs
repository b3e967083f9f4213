//! Keyspace notifications against the real Redis 7: the same writes, with a subscriber to
//! `__key*__:*` on each server, must produce the same messages in the same order, for
//! every event class. Expiry, `new` and `keymiss` events, and the flags' parsing, are
//! checked on FlashDB alone where their timing cannot be lined up with Redis.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::real_redis::{split, RedisServer};
use common::{read_reply, Raw, TestServer};

/// Everything the subscriber has received by now, as text.
fn drain(sub: &mut Raw) -> String {
    std::thread::sleep(Duration::from_millis(300));
    sub.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = sub.stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).replace("\r\n", " ")
}

fn events_match(flags: &str, script: &[&str]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let ports = [redis.port, flash.port];
    let mut subs: Vec<Raw> = Vec::new();
    let mut writers: Vec<Raw> = Vec::new();
    for port in ports {
        let mut w = Raw::connect(port);
        assert_eq!(w.call(&["FLUSHALL"]), "+OK\r\n");
        assert_eq!(
            w.call(&["CONFIG", "SET", "notify-keyspace-events", flags]),
            "+OK\r\n"
        );
        let mut s = Raw::connect(port);
        s.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
        read_reply(&mut s.stream);
        subs.push(s);
        writers.push(w);
    }
    let mut differences = Vec::new();
    for cmd in script {
        let args = split(cmd);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let replies: Vec<Vec<u8>> = writers
            .iter_mut()
            .map(|w| {
                w.cmd(&refs);
                read_reply(&mut w.stream)
            })
            .collect();
        if replies[0] != replies[1] {
            differences.push(format!(
                "{cmd}: redis {:?}, flashdb {:?}",
                String::from_utf8_lossy(&replies[0]),
                String::from_utf8_lossy(&replies[1])
            ));
        }
    }
    let want = drain(&mut subs[0]);
    let got = drain(&mut subs[1]);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert!(!want.is_empty(), "Redis published nothing");
    if want != got {
        // Show where the message streams part.
        let w: Vec<&str> = want.split("*4 ").collect();
        let g: Vec<&str> = got.split("*4 ").collect();
        let at = w
            .iter()
            .zip(&g)
            .position(|(a, b)| a != b)
            .unwrap_or(w.len().min(g.len()));
        panic!(
            "events differ at message {at}:\n  redis:   {:?}\n  flashdb: {:?}",
            &w[at..w.len().min(at + 4)],
            &g[at..g.len().min(at + 4)]
        );
    }
}

#[test]
fn every_write_announces_what_redis_announces() {
    // `n` and `m` too: new keys and missed reads, in the order Redis announces them.
    events_match(
        "KEAnm",
        &[
            // Strings and generic commands.
            "SET s 1",
            "SET s 2 EX 100",
            "SET s 3 KEEPTTL",
            "SETEX t 100 v",
            "PSETEX t2 100000 v",
            "INCR n",
            "DECRBY n 5",
            "INCRBYFLOAT f 1.5",
            "APPEND s x",
            "SETRANGE s 0 ab",
            "GETSET s new",
            "GETDEL s",
            "GETEX t EX 200",
            "GETEX t PERSIST",
            "MSET m1 1 m2 2",
            "MSETNX m3 3 m4 4",
            "SETNX m1 x",
            "EXPIRE m1 100",
            "PERSIST m1",
            "PEXPIREAT m2 1",
            "RENAME m1 r1",
            "RENAMENX r1 m3",
            "COPY r1 c1",
            "MOVE c1 1",
            "DEL r1 nosuch m3 m4",
            "UNLINK n f",
            // Lists.
            "LPUSH l a b",
            "RPUSH l c",
            "LPUSHX l z",
            "RPUSHX nolist z",
            "LINSERT l BEFORE a x",
            "LSET l 0 y",
            "LREM l 1 x",
            "LTRIM l 0 2",
            "RPOPLPUSH l l2",
            "LMOVE l l2 LEFT RIGHT",
            "LPOP l",
            "RPOP l 5",
            "BLPOP l2 0",
            "BRPOP l2 0",
            "RPUSH l3 a b c",
            "LMPOP 1 l3 RIGHT COUNT 2",
            "BLMOVE l3 l4 LEFT LEFT 0",
            "LPOP nolist",
            // Hashes.
            "HSET h f v g w",
            "HSETNX h x y",
            "HMSET h a 1",
            "HINCRBY h n 1",
            "HINCRBYFLOAT h n 1.5",
            "HDEL h f g x a n nosuch",
            // Sets.
            "SADD s1 a b",
            "SREM s1 a nosuch",
            "SPOP s1",
            "SADD s2 x y",
            "SMOVE s2 s3 x",
            "SINTERSTORE d1 s2 s2",
            "SUNIONSTORE d2 s2 s3",
            "SDIFFSTORE d2 s2 s2",
            "SINTERSTORE d3 nosuch",
            "SPOP s2 5",
            // Sorted sets.
            "ZADD z 1 a 2 b 3 c",
            "ZADD z XX 5 nosuch",
            "ZINCRBY z 1 a",
            "ZADD z INCR 1 b",
            "ZREM z a nosuch",
            "ZPOPMIN z",
            "ZPOPMAX z",
            "ZADD z2 1 a 2 b 3 c 4 d 5 e 6 f",
            "ZREMRANGEBYSCORE z2 1 1",
            "ZREMRANGEBYRANK z2 0 0",
            "ZREMRANGEBYLEX z2 - (a",
            "ZUNIONSTORE zu 1 z2",
            "ZINTERSTORE zi 2 z2 zu",
            "ZDIFFSTORE zd 2 z2 zu",
            "ZRANGESTORE zr z2 0 1",
            "ZMPOP 1 z2 MAX",
            "ZMPOP 1 z2 MIN COUNT 1",
            "BZPOPMIN z2 0",
            "BZPOPMAX z2 0",
            "BZMPOP 0 1 zu MAX COUNT 10",
            // Whole databases announce nothing per key.
            "SWAPDB 0 1",
            // Bitmaps: a write that changes nothing is not announced.
            "SETBIT b 3 1",
            "SETBIT b 3 1",
            "SETBIT b 3 0",
            "GETBIT nob 1",
            "BITCOUNT nob",
            "BITFIELD b SET u8 0 1 SET u8 8 2 GET u8 0",
            "BITFIELD b SET u8 0 1",
            "BITFIELD b OVERFLOW FAIL INCRBY u8 100 1000",
            "BITFIELD b OVERFLOW FAIL INCRBY u8 100 1000",
            "BITOP NOT b2 b",
            "BITOP AND b2 nob",
            // HyperLogLogs: caching a count or changing the form is not announced.
            "PFADD hl a b",
            "PFADD hl a",
            "PFCOUNT hl",
            "PFADD hl2",
            "PFMERGE hl3 hl hl2",
            "PFDEBUG TODENSE hl",
            "SETRANGE hl 20 xyz",
            // Geo: positions are sorted-set adds; stored searches announce themselves.
            "GEOADD geo 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEORADIUS geo 15 37 200 km STORE geo2",
            "GEORADIUS geo 15 37 1 m STORE geo2",
            "GEOSEARCHSTORE geo3 geo FROMMEMBER Palermo BYRADIUS 300 km STOREDIST",
            // SORT ... STORE.
            "RPUSH sl 3 1 2",
            "SORT sl STORE sorted",
            "SORT sl LIMIT 0 0 STORE sorted",
            // Streams and their consumer groups.
            "XADD st 1-1 f v",
            "XADD st MAXLEN 1 2-1 f v",
            "XADD st NOMKSTREAM 3-1 f v",
            "XADD nost NOMKSTREAM 1-1 f v",
            "XDEL st 3-1",
            "XDEL st 9-9",
            "XTRIM st MAXLEN 5",
            "XTRIM st MAXLEN 0",
            "XSETID st 10-0",
            "XGROUP CREATE st g 0",
            "XGROUP CREATE st2 g $ MKSTREAM",
            "XGROUP SETID st g 0",
            "XGROUP CREATECONSUMER st g c1",
            "XGROUP CREATECONSUMER st g c1",
            "XADD st 11-0 f v",
            "XREADGROUP GROUP g c2 STREAMS st >",
            "XACK st g 11-0",
            "XCLAIM st g c3 0 11-0 FORCE",
            "XAUTOCLAIM st g c4 0 0",
            "XGROUP DELCONSUMER st g c1",
            "XGROUP DESTROY st g",
            "XGROUP DESTROY st g",
            "FLUSHDB",
            "FLUSHALL",
            // A transaction announces its commands' events.
            "MULTI",
            "SET tx 1",
            "INCR tx",
            "EXEC",
        ],
    );
}

#[test]
fn only_the_configured_classes_and_channels_are_published() {
    events_match(
        "El",
        &["SET a 1", "LPUSH l a", "SADD s a", "LPOP l", "DEL a"],
    );
    events_match(
        "Kh$",
        &["SET a 1", "HSET h f v", "LPUSH l a", "HDEL h f", "DEL a"],
    );
}

#[test]
fn expiry_new_keys_and_misses_are_announced() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "KExnm"]),
        "+OK\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "GET", "notify-keyspace-events"]),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$5\r\nxnKEm\r\n"
    );
    let mut sub = s.raw();
    sub.cmd(&[b"PSUBSCRIBE", b"__key*__:*"]);
    read_reply(&mut sub.stream);
    assert_eq!(c.call(&["SET", "k", "v", "PX", "50"]), "+OK\r\n");
    assert_eq!(c.call(&["GET", "missing"]), "$-1\r\n");
    std::thread::sleep(Duration::from_millis(200));
    // Whether active expiry or this read finds it first, it expires exactly once, and
    // the read misses.
    assert_eq!(c.call(&["GET", "k"]), "$-1\r\n");
    let got = drain(&mut sub);
    let pm = |ch: &str, msg: &str| {
        format!(
            "*4 $8 pmessage $10 __key*__:* ${} {ch} ${} {msg} ",
            ch.len(),
            msg.len()
        )
    };
    let want = [
        pm("__keyspace@0__:k", "new"),
        pm("__keyevent@0__:new", "k"),
        pm("__keyspace@0__:missing", "keymiss"),
        pm("__keyevent@0__:keymiss", "missing"),
        pm("__keyspace@0__:k", "expired"),
        pm("__keyevent@0__:expired", "k"),
    ]
    .concat();
    let tail = [
        pm("__keyspace@0__:k", "keymiss"),
        pm("__keyevent@0__:keymiss", "k"),
    ]
    .concat();
    assert_eq!(got, want + &tail);
    // Bad flags are refused with Redis's error; an empty value turns notifications off.
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", "Kq"]),
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
    );
    assert_eq!(
        c.call(&["CONFIG", "SET", "notify-keyspace-events", ""]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["SET", "quiet", "1"]), "+OK\r\n");
    assert_eq!(drain(&mut sub), "");
}

/// `notify_keyspace_events` in the configuration file turns notifications on at start-up.
#[test]
fn the_configuration_file_sets_the_notification_flags() {
    let dir = common::temp_dir("notify-config");
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("flashdb.toml");
    std::fs::write(&conf, "notify_keyspace_events = \"KEA\"\n").unwrap();
    let s = TestServer::start_in(&dir, &["--config", conf.to_str().unwrap()], &[]);
    let mut c = s.raw();
    assert_eq!(
        c.call(&["CONFIG", "GET", "notify-keyspace-events"]),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n"
    );
    let mut sub = s.raw();
    sub.cmd(&[b"SUBSCRIBE", b"__keyevent@0__:set"]);
    read_reply(&mut sub.stream);
    assert_eq!(c.call(&["SET", "a", "1"]), "+OK\r\n");
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$18\r\n__keyevent@0__:set\r\n$1\r\na\r\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
