//! Stream commands against the real Redis 7: same requests, byte-identical replies and
//! error texts (in RESP2 and RESP3), approximate trimming that removes what Redis's
//! removes, blocking `XREAD`, and streams surviving a crash and `DUMP`/`RESTORE`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::real_redis::{run_script, split, RedisServer};
use common::{dump, read_reply, temp_dir, Raw, TestServer};

#[test]
fn xadd_ids_options_and_errors_match_redis() {
    run_script(&[
        "FLUSHALL",
        "XADD s 1-1 a 1 b 2",
        "XADD s 1-* c 3",
        "XADD s 1-1 x y",
        "XADD s 0-0 x y",
        "XADD s 0-* x y",
        "XADD s 5 x y",
        "XADD s 5-0 x y",
        "XADD s 4-* x y",
        "XADD s 18446744073709551615-18446744073709551615 x y",
        "XADD s 6-0 x",
        "XADD s 6-0",
        "XADD s",
        "XADD s bad-id f v",
        "XADD s 1-x f v",
        "XADD s -1 f v",
        "XADD s + f v",
        "XADD s - f v",
        "XADD s NOMKSTREAM 7-0 f v",
        "XADD nostream NOMKSTREAM 1-1 f v",
        "EXISTS nostream",
        "XADD s MAXLEN 2 MINID 1 8-0 f v",
        "XADD s LIMIT 10 8-0 f v",
        "XADD s MAXLEN 2 LIMIT 10 8-0 f v",
        "XADD s MAXLEN -1 8-0 f v",
        "XADD s MAXLEN x 8-0 f v",
        "XADD s MAXLEN ~ 2 LIMIT -1 8-0 f v",
        "XADD s MINID bad 8-0 f v",
        "XADD s MAXLEN = 3 8-0 f v",
        "XRANGE s - +",
        "XADD s MINID 7 9-0 f v",
        "XRANGE s - +",
        "XLEN s",
        "SET str x",
        "XADD str 1-1 f v",
        "XLEN str",
        "XLEN nokey",
        "XADD e 1-1 f v",
        "XADD e MAXLEN 0 2-1 f v",
        "XLEN e",
        "EXISTS e",
        "TYPE e",
        "OBJECT ENCODING e",
        "XRANGE e - +",
        "XADD e 2-1 f v",
        "XADD e 2-2 f v",
    ]);
}

#[test]
fn ranges_deletes_trims_and_setid_match_redis() {
    let mut script: Vec<String> = vec!["FLUSHALL".into()];
    for i in 1..=12 {
        script.push(format!("XADD s {i}-0 field{} value{i} n {i}", i % 3));
    }
    for cmd in [
        "XRANGE s - +",
        "XRANGE s 3 5",
        "XRANGE s 3-0 5-0",
        // Parts of an id read as strtoull reads them: white space and `+` first.
        "XRANGE s {sp}3 +1-0",
        "XRANGE s 3-{sp}1 +",
        "XRANGE s 3{sp} +",
        "XRANGE s +{sp}3 +",
        "XRANGE s (3-0 (5-0",
        "XRANGE s (3 +",
        "XRANGE s - (1",
        "XRANGE s (0-0 3",
        "XRANGE s (18446744073709551615-18446744073709551615 +",
        "XRANGE s - (0-0",
        "XRANGE s ( +",
        "XRANGE s 5 3",
        "XRANGE s - + COUNT 2",
        "XRANGE s - + COUNT 0",
        "XRANGE s - + COUNT -1",
        "XRANGE s - + COUNT x",
        "XRANGE s - + COUNT",
        "XRANGE s - + BOGUS 1",
        "XRANGE s x +",
        "XRANGE nokey - +",
        "XRANGE nokey - + COUNT 0",
        "XREVRANGE s + -",
        "XREVRANGE s 5 3",
        "XREVRANGE s (5 (3",
        "XREVRANGE s + - COUNT 3",
        "XDEL s 2-0 2-0 4 99-0",
        "XDEL s 1-0 bad",
        "XDEL nokey bad",
        "XDEL s - +",
        "XRANGE s - +",
        "XLEN s",
        "XTRIM s MAXLEN 8",
        "XTRIM s MAXLEN = 6",
        "XTRIM s MINID 9",
        "XTRIM s MINID = 9",
        "XTRIM s",
        "XTRIM s MAXLEN",
        "XTRIM s BOGUS 1",
        "XTRIM s MAXLEN 1 LIMIT 1",
        "XTRIM s MAXLEN ~ 1 LIMIT 1",
        "XTRIM s MAXLEN 1 MINID 1",
        "XTRIM nokey MAXLEN 1",
        "XRANGE s - +",
        "XSETID s 1-0",
        "XSETID s 20-0",
        "XSETID s 19-0",
        "XSETID s 21-0 ENTRIESADDED 1",
        "XSETID s 21-0 ENTRIESADDED 100 MAXDELETEDID 3-0",
        "XSETID s 21-0 MAXDELETEDID 30-0",
        "XSETID s 21-0 ENTRIESADDED -1",
        "XSETID s 21-0 BOGUS",
        "XSETID s bad",
        "XSETID nokey 1-0",
        "XADD s 21-0 f v",
        "XADD s 21-1 f v",
        // The radix tree's figures are Redis's own structure's: `!` compares nothing
        // there (see `xinfo_stream_matches_redis_but_for_its_tree`).
        "!XINFO STREAM s",
        "!XINFO STREAM s FULL",
        "!XINFO STREAM s FULL COUNT 1",
        "XINFO STREAM s FULL COUNT x",
        "XINFO STREAM s BOGUS",
        "XINFO STREAM nokey",
        "XINFO GROUPS s",
        "XINFO CONSUMERS s g",
        "XINFO HELP",
        "XINFO",
    ] {
        script.push(cmd.into());
    }
    let refs: Vec<&str> = script.iter().map(String::as_str).collect();
    run_script(&refs);
}

/// `XINFO STREAM` agrees with Redis on everything but the radix tree's figures.
#[test]
fn xinfo_stream_matches_redis_but_for_its_tree() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut out = Vec::new();
    for port in [redis.port, flash.port] {
        let mut c = Raw::connect(port);
        for i in 1..=5 {
            c.call(&[
                "XADD",
                "s",
                &format!("{i}-1"),
                "f",
                "v",
                "g",
                &i.to_string(),
            ]);
        }
        c.call(&["XDEL", "s", "1-1"]);
        let mut replies = Vec::new();
        for args in [
            &["XINFO", "STREAM", "s"][..],
            &["XINFO", "STREAM", "s", "FULL"],
        ] {
            let reply = c.call(args);
            // Drop the two figures after `radix-tree-keys` and `radix-tree-nodes`.
            let lines: Vec<&str> = reply.split("\r\n").collect();
            let kept: Vec<&str> = lines
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < 2 || !lines[i - 2].starts_with("radix-tree-"))
                .map(|(_, l)| *l)
                .collect();
            replies.push(kept.join("\r\n"));
        }
        out.push(replies);
    }
    assert_eq!(out[0], out[1]);
}

#[test]
fn approximate_trimming_removes_what_redis_removes() {
    let mut script: Vec<String> = vec!["FLUSHALL".into()];
    for i in 1..=350 {
        script.push(format!("XADD s {i}-0 f v"));
    }
    for cmd in [
        "XTRIM s MAXLEN ~ 320",
        "XTRIM s MAXLEN ~ 200",
        "XLEN s",
        "XTRIM s MINID ~ 260",
        "XLEN s",
        "XTRIM s MAXLEN ~ 0 LIMIT 50",
        "XTRIM s MAXLEN ~ 0 LIMIT 100",
        "XLEN s",
        "XADD s MAXLEN ~ 10 351-0 f v",
        "XLEN s",
        "XRANGE s - + COUNT 3",
    ] {
        script.push(cmd.into());
    }
    let refs: Vec<&str> = script.iter().map(String::as_str).collect();
    run_script(&refs);
}

#[test]
fn xread_matches_redis_in_both_protocols() {
    for hello in ["HELLO 2", "HELLO 3"] {
        run_script(&[
            "FLUSHALL",
            // The HELLO reply names the server: its content is not compared.
            &format!("!{hello}"),
            "XADD a 1-1 f 1",
            "XADD a 2-1 f 2",
            "XADD b 1-1 g 1",
            "XREAD STREAMS a b 0 0",
            "XREAD COUNT 1 STREAMS a b 0 0",
            "XREAD STREAMS a b 1-1 1-1",
            "XREAD STREAMS a b $ $",
            "XREAD STREAMS a nokey 0 0",
            "XREAD STREAMS a 2",
            "XREAD STREAMS a",
            "XREAD STREAMS a b 0",
            "XREAD STREAMS a >",
            "XREAD STREAMS a bad",
            "XREAD COUNT x STREAMS a 0",
            "XREAD COUNT -1 STREAMS a 0",
            "XREAD BLOCK -1 STREAMS a 0",
            "XREAD BLOCK x STREAMS a 0",
            "XREAD BLOCK 10 STREAMS a $",
            "XREAD BOGUS 1 STREAMS a 0",
            "XREAD GROUP g c STREAMS a 0",
            "XREAD NOACK STREAMS a 0",
            "XREAD COUNT 1",
            "SET str x",
            "XREAD STREAMS str 0",
            "MULTI",
            "XREAD BLOCK 0 STREAMS a $",
            "EXEC",
        ]);
    }
}

/// A blocked `XREAD` is answered with the entries added after it blocked (`$`), and
/// every client blocked on the stream gets them, as in Redis.
#[test]
fn blocked_xread_gets_new_entries() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut results = Vec::new();
    for port in [redis.port, flash.port] {
        let mut writer = Raw::connect(port);
        writer.call(&["XADD", "s", "1-1", "old", "x"]);
        let mut readers: Vec<Raw> = (0..2).map(|_| Raw::connect(port)).collect();
        for r in readers.iter_mut() {
            let args = split("XREAD BLOCK 5000 STREAMS s $");
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            r.cmd(&refs);
        }
        std::thread::sleep(Duration::from_millis(200));
        writer.call(&["XADD", "s", "2-1", "new", "y"]);
        let mut got: Vec<String> = readers
            .iter_mut()
            .map(|r| String::from_utf8_lossy(&read_reply(&mut r.stream)).into_owned())
            .collect();
        // One that times out gets a null.
        let mut late = Raw::connect(port);
        got.push(late.call(&["XREAD", "BLOCK", "100", "STREAMS", "s", "$"]));
        results.push(got);
    }
    assert_eq!(results[0], results[1]);
    assert!(results[1][0].contains("new"), "{:?}", results[1]);
}

/// Streams are logged: a crash keeps every entry, deletion, trim and id.
#[test]
fn streams_survive_a_crash_and_dump_restore() {
    let dir = temp_dir("stream-crash");
    let mut server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    for i in 1..=300 {
        let reply = c.call(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
        assert!(reply.starts_with('$'), "{reply}");
    }
    c.call(&["XDEL", "s", "7-0", "150-0"]);
    c.call(&["XTRIM", "s", "MAXLEN", "~", "150"]);
    c.call(&["XTRIM", "s", "MINID", "205"]);
    c.call(&["XADD", "s", "MAXLEN", "=", "50", "400-0", "last", "one"]);
    c.call(&[
        "XSETID",
        "s",
        "500-0",
        "ENTRIESADDED",
        "1000",
        "MAXDELETEDID",
        "450-0",
    ]);
    c.call(&["XADD", "empty", "1-1", "f", "v"]);
    c.call(&["XDEL", "empty", "1-1"]);
    let info = c.call(&["XINFO", "STREAM", "s"]);
    let before = dump(server.port, 1);
    c.cmd(&[b"DUMP", b"s"]);
    let dumped = read_reply(&mut c.stream);
    let header_end = dumped.iter().position(|&b| b == b'\n').unwrap() + 1;
    let payload = dumped[header_end..dumped.len() - 2].to_vec();
    server.kill9();
    drop(server);
    let server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(dump(server.port, 1), before);
    assert_eq!(c.call(&["XINFO", "STREAM", "s"]), info);
    assert_eq!(c.call(&["XLEN", "empty"]), ":0\r\n");
    assert_eq!(c.call(&["TYPE", "empty"]), "+stream\r\n");
    // DUMP's payload restores the same stream under another name.
    let mut raw = server.raw();
    raw.cmd(&[b"RESTORE", b"copy", b"0", &payload]);
    assert_eq!(read_reply(&mut raw.stream), b"+OK\r\n");
    assert_eq!(
        c.call(&["XRANGE", "copy", "-", "+"]),
        c.call(&["XRANGE", "s", "-", "+"])
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn consumer_groups_match_redis() {
    let mut script: Vec<String> = vec!["FLUSHALL".into()];
    for i in 1..=6 {
        script.push(format!("XADD s {i}-1 f {i}"));
    }
    for cmd in [
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s late $",
        "XGROUP CREATE s mid 3-1 ENTRIESREAD 3",
        "XGROUP CREATE s bad 0 ENTRIESREAD -2",
        "XGROUP CREATE s bad 0 BOGUS",
        "XGROUP CREATE s bad x",
        "XGROUP CREATE nokey g 0",
        "XGROUP CREATE fresh g $ MKSTREAM",
        "TYPE fresh",
        "XGROUP SETID nokey g 0",
        "XGROUP SETID s nog 0",
        "XGROUP SETID s g 0 BOGUS",
        "XGROUP CREATECONSUMER s nog c",
        "XGROUP DELCONSUMER s nog c",
        "XGROUP DESTROY nokey g",
        "XGROUP BOGUS s g",
        "XGROUP HELP",
        "XINFO GROUPS s",
        "XREADGROUP GROUP g alice COUNT 2 STREAMS s >",
        "XREADGROUP GROUP g bob COUNT 1 NOACK STREAMS s >",
        "XREADGROUP GROUP g bob STREAMS s >",
        "XREADGROUP GROUP g bob STREAMS s >",
        // Nothing new to read: as Redis 7.0, no consumer is made.
        "XREADGROUP GROUP g zed STREAMS s >",
        "XREADGROUP GROUP late lazy BLOCK 1 STREAMS s >",
        "XINFO GROUPS s",
        "XREADGROUP GROUP g alice STREAMS s 0",
        "XREADGROUP GROUP g alice COUNT 1 STREAMS s 1-1",
        "XREADGROUP GROUP g nobody STREAMS s 0",
        "XREADGROUP GROUP nog c STREAMS s >",
        "XREADGROUP GROUP g c STREAMS nokey >",
        "XREADGROUP GROUP g c STREAMS s $",
        "XREADGROUP GROUP g c STREAMS s",
        "XREADGROUP GROUP g STREAMS s >",
        "XREADGROUP STREAMS s >",
        "XREADGROUP GROUP g c STREAMS s bad",
        "XINFO GROUPS s",
        "XPENDING s g",
        "XPENDING s g - + 10 nobody",
        "XPENDING s nog",
        "XPENDING nokey g",
        "XPENDING s g - + x",
        "XPENDING s g x + 10",
        "XPENDING s g IDLE 0 - +",
        "XDEL s 1-1",
        "XREADGROUP GROUP g alice STREAMS s 0",
        "XACK s g 2-1 9-9 2-1",
        "XACK s g bad",
        "XACK s nog 1-1",
        "XACK nokey g 1-1",
        "XPENDING s g",
        "XCLAIM s g carol 0 4-1 5-1 JUSTID",
        "XCLAIM s g carol 0 6-1 RETRYCOUNT 7 TIME 1000",
        "XCLAIM s g carol 0 1-1",
        "XCLAIM s g dave 0 3-1 FORCE JUSTID",
        "XCLAIM s g dave 0 3-1 JUSTID LASTID 9-9",
        "XCLAIM s g dave 0 3-1 BOGUS",
        "XCLAIM s g dave x 3-1",
        "XCLAIM s nog dave 0 3-1",
        "XCLAIM s g dave 0 3-1 IDLE x",
        "XINFO GROUPS s",
        "XAUTOCLAIM s g erin 0 0 COUNT 2 JUSTID",
        "XAUTOCLAIM s g erin 0 0 COUNT 0",
        "XAUTOCLAIM s g erin 0 bad",
        "XAUTOCLAIM s g erin x 0",
        "XAUTOCLAIM s nog erin 0 0",
        "XAUTOCLAIM s g erin 0 0 BOGUS",
        "XPENDING s g",
        "XGROUP CREATECONSUMER s g frank",
        "XGROUP CREATECONSUMER s g frank",
        "XGROUP DELCONSUMER s g erin",
        "XGROUP DELCONSUMER s g nobody",
        "XPENDING s g",
        "XGROUP SETID s g 2-1",
        "XGROUP SETID s g $ ENTRIESREAD 6",
        "XINFO GROUPS s",
        "XGROUP DESTROY s late",
        "XGROUP DESTROY s late",
        "XINFO GROUPS s",
        "XINFO CONSUMERS s nog",
        "XTRIM s MAXLEN 0",
        "XINFO GROUPS s",
        "DEL s",
        "XADD s 1-1 f v",
        "XGROUP CREATE s g 0",
        "XDEL s 1-1",
        "XADD s 2-1 f v",
        "XINFO GROUPS s",
        "XREADGROUP GROUP g c STREAMS s >",
        "XINFO GROUPS s",
    ] {
        script.push(cmd.into());
    }
    let refs: Vec<&str> = script.iter().map(String::as_str).collect();
    run_script(&refs);
}

/// A consumer blocked on `>` gets the next entry added; a second one stays blocked
/// until its own, as in Redis.
#[test]
fn blocked_xreadgroup_gets_new_entries() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut results = Vec::new();
    for port in [redis.port, flash.port] {
        let mut writer = Raw::connect(port);
        writer.call(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut readers: Vec<Raw> = (0..2).map(|_| Raw::connect(port)).collect();
        for (i, r) in readers.iter_mut().enumerate() {
            let cmd = format!("XREADGROUP GROUP g c{i} BLOCK 5000 STREAMS s >");
            let args = split(&cmd);
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            r.cmd(&refs);
            std::thread::sleep(Duration::from_millis(100));
        }
        writer.call(&["XADD", "s", "1-1", "first", "x"]);
        let first = String::from_utf8_lossy(&read_reply(&mut readers[0].stream)).into_owned();
        writer.call(&["XADD", "s", "2-1", "second", "y"]);
        let second = String::from_utf8_lossy(&read_reply(&mut readers[1].stream)).into_owned();
        let pending = writer.call(&["XPENDING", "s", "g"]);
        results.push(vec![first, second, pending]);
    }
    assert_eq!(results[0], results[1]);
}

/// A group's last delivered id, read counter, consumers and pending list are exact
/// after a crash: nothing acknowledged comes back, nothing delivered is lost.
#[test]
fn consumer_groups_survive_a_crash() {
    let dir = temp_dir("stream-groups-crash");
    let mut server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    for i in 1..=50 {
        c.call(&["XADD", "s", &format!("{i}-0"), "job", &i.to_string()]);
    }
    c.call(&["XGROUP", "CREATE", "s", "workers", "0"]);
    c.call(&["XGROUP", "CREATE", "s", "audit", "$"]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w1",
        "COUNT",
        "20",
        "STREAMS",
        "s",
        ">",
    ]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w2",
        "COUNT",
        "10",
        "STREAMS",
        "s",
        ">",
    ]);
    c.call(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w2",
        "COUNT",
        "5",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    c.call(&["XACK", "s", "workers", "1-0", "2-0", "25-0"]);
    c.call(&[
        "XCLAIM",
        "s",
        "workers",
        "w3",
        "0",
        "3-0",
        "4-0",
        "RETRYCOUNT",
        "5",
    ]);
    c.call(&[
        "XAUTOCLAIM",
        "s",
        "workers",
        "w4",
        "0",
        "10-0",
        "COUNT",
        "3",
    ]);
    c.call(&["XREADGROUP", "GROUP", "workers", "w1", "STREAMS", "s", "0"]);
    c.call(&["XGROUP", "DELCONSUMER", "s", "workers", "w2"]);
    c.call(&["XGROUP", "CREATECONSUMER", "s", "audit", "idle"]);
    // Delivery times are in FULL, so it is compared whole.
    let full = c.call(&["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]);
    let pending = c.call(&["XPENDING", "s", "workers"]);
    assert!(full.contains("workers"), "{full}");
    server.kill9();
    drop(server);
    let server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(
        c.call(&["XINFO", "STREAM", "s", "FULL", "COUNT", "0"]),
        full
    );
    assert_eq!(c.call(&["XPENDING", "s", "workers"]), pending);
    // The next read continues where the group was.
    let next = c.call(&[
        "XREADGROUP",
        "GROUP",
        "workers",
        "w1",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    assert!(next.contains("36-0"), "{next}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
