//! Pub/sub through the real server: replies and errors against the real Redis 7, delivery
//! to channel, pattern and shard-channel subscribers, RESP3 push frames next to ordinary
//! commands, clean-up when a subscriber leaves, and the output-buffer limit that
//! disconnects a subscriber that stops reading.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::real_redis::run_script;
use common::{read_reply, Raw, TestServer};

#[test]
fn pubsub_replies_match_redis() {
    run_script(&[
        "PUBLISH nobody hello",
        "SPUBLISH nobody hello",
        "PUBSUB NUMPAT",
        "PUBSUB NUMSUB a b",
        "PUBSUB SHARDNUMSUB a",
        "PUBSUB CHANNELS",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB CHANNELS a b",
        "PUBSUB NOSUCH",
        "PUBSUB HELP",
        "PUBLISH onlyone",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "SUBSCRIBE",
        "SUBSCRIBE news",
        "SUBSCRIBE news",
        "PSUBSCRIBE n*",
        "SSUBSCRIBE shard",
        "PUBSUB NUMSUB news",
        "PING",
        "PING hello",
        "GET k",
        "CONFIG GET maxclients",
        "MULTI",
        "UNSUBSCRIBE other",
        "UNSUBSCRIBE news",
        "PUNSUBSCRIBE n*",
        "SUNSUBSCRIBE shard",
        "GET k",
        "PING",
        "CONFIG SET client-output-buffer-limit pubsub{sp}1mb{sp}256kb{sp}10",
        "CONFIG GET client-output-buffer-limit",
        "CONFIG SET client-output-buffer-limit pubsub{sp}1mb{sp}256kb",
        "CONFIG SET client-output-buffer-limit nosuch{sp}1{sp}1{sp}1",
        "CONFIG SET client-output-buffer-limit pubsub{sp}x{sp}1{sp}1",
        "CONFIG GET client-output-buffer-limit",
    ]);
}

fn subscribed(port: u16, cmd: &[&[u8]], replies: usize) -> Raw {
    let mut c = Raw::connect(port);
    c.cmd(cmd);
    for _ in 0..replies {
        read_reply(&mut c.stream);
    }
    c
}

#[test]
fn messages_reach_channel_pattern_and_shard_subscribers() {
    let s = TestServer::start();
    let mut chan = subscribed(s.port, &[b"SUBSCRIBE", b"news", b"sport"], 2);
    let mut pat = subscribed(s.port, &[b"PSUBSCRIBE", b"n*"], 1);
    let mut shard = subscribed(s.port, &[b"SSUBSCRIBE", b"news"], 1);
    let mut resp3 = s.raw();
    assert!(resp3.call(&["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        resp3.call(&["SUBSCRIBE", "news"]),
        ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"
    );
    let mut p = s.raw();
    assert_eq!(p.call(&["PUBLISH", "news", "hello"]), ":3\r\n");
    assert_eq!(p.call(&["SPUBLISH", "news", "sharded"]), ":1\r\n");
    assert_eq!(p.call(&["PUBLISH", "nothing", "x"]), ":1\r\n");
    assert_eq!(p.call(&["PUBLISH", "weather", "x"]), ":0\r\n");
    chan.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    pat.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    pat.expect(b"*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$7\r\nnothing\r\n$1\r\nx\r\n");
    shard.expect(b"*3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$7\r\nsharded\r\n");
    // RESP3: a push frame, and ordinary commands keep working on the connection.
    resp3.expect(b">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    assert_eq!(resp3.call(&["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(resp3.call(&["GET", "k"]), "$1\r\nv\r\n");
    // Order is kept per subscriber.
    for i in 0..100 {
        assert_eq!(p.call(&["PUBLISH", "sport", &i.to_string()]), ":1\r\n");
    }
    for i in 0..100 {
        let m = i.to_string();
        chan.expect(
            format!(
                "*3\r\n$7\r\nmessage\r\n$5\r\nsport\r\n${}\r\n{m}\r\n",
                m.len()
            )
            .as_bytes(),
        );
    }
    // Unsubscribing stops delivery; leaving removes every subscription.
    assert_eq!(
        pat.call(&["PUNSUBSCRIBE", "n*"]),
        "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n"
    );
    assert_eq!(p.call(&["PUBSUB", "NUMPAT"]), ":0\r\n");
    drop(chan);
    drop(resp3);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = p.call(&["PUBSUB", "NUMSUB", "news", "sport"]);
        if r == "*4\r\n$4\r\nnews\r\n:0\r\n$5\r\nsport\r\n:0\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "subscriptions left behind: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(p.call(&["PUBLISH", "news", "x"]), ":0\r\n");
    // RESET ends subscriptions too.
    assert_eq!(shard.call(&["RESET"]), "+RESET\r\n");
    assert_eq!(
        p.call(&["PUBSUB", "SHARDNUMSUB", "news"]),
        "*2\r\n$4\r\nnews\r\n:0\r\n"
    );
}

/// A subscriber that stops reading is disconnected once its unsent messages pass the
/// hard limit; publishers are never held up, and others keep receiving.
#[test]
fn a_subscriber_that_stops_reading_is_disconnected() {
    let s = TestServer::start();
    let mut p = s.raw();
    assert_eq!(
        p.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 256kb 60"
        ]),
        "+OK\r\n"
    );
    let mut slow = subscribed(s.port, &[b"SUBSCRIBE", b"firehose"], 1);
    let mut fast = subscribed(s.port, &[b"SUBSCRIBE", b"firehose"], 1);
    let payload = "x".repeat(16 * 1024);
    // 64 MB in all, far past what the socket buffers and the 1 MB limit hold.
    let mut delivered_to_two = 0;
    for i in 0..4096 {
        let r = p.call(&["PUBLISH", "firehose", &payload]);
        if r == ":2\r\n" {
            delivered_to_two += 1;
        } else {
            assert_eq!(r, ":1\r\n", "message {i}");
        }
        // The fast subscriber keeps up.
        let m = read_reply(&mut fast.stream);
        assert!(m.ends_with(format!("{payload}\r\n").as_bytes()));
    }
    assert!(delivered_to_two > 0 && delivered_to_two < 4096);
    assert_eq!(
        p.call(&["PUBSUB", "NUMSUB", "firehose"]),
        "*2\r\n$8\r\nfirehose\r\n:1\r\n"
    );
    // The slow subscriber's connection was closed: after what was already in flight,
    // reading reaches the end of the stream.
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match slow.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the slow subscriber was not disconnected: {e}"),
        }
    }
    assert!(
        total < 16 << 20,
        "{total} bytes reached the slow subscriber"
    );
}

/// Everything a connection receives within a moment.
fn received(c: &mut Raw) -> Vec<u8> {
    std::thread::sleep(Duration::from_millis(200));
    c.stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = c.stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

#[test]
fn resp3_pushes_arrive_under_client_reply_off_and_skip_as_in_redis() {
    let redis = common::real_redis::RedisServer::start();
    let flash = TestServer::start();
    let mut got = Vec::new();
    for port in [redis.port, flash.port] {
        let mut s = Raw::connect(port);
        let mut p = Raw::connect(port);
        s.send(b"HELLO 3\r\n");
        received(&mut s);
        // Replies are off, but the subscription's confirmation and its messages are
        // pushes, not replies; PING's answer is a reply.
        s.send(b"CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPING\r\n");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(p.call(&["PUBLISH", "ch", "hi"]), ":1\r\n");
        let first = received(&mut s);
        s.send(b"CLIENT REPLY SKIP\r\nUNSUBSCRIBE ch\r\nCLIENT REPLY ON\r\n");
        let second = received(&mut s);
        got.push((first, second));
    }
    assert_eq!(
        String::from_utf8_lossy(&got[0].0),
        ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"
    );
    assert_eq!(
        (
            String::from_utf8_lossy(&got[1].0),
            String::from_utf8_lossy(&got[1].1)
        ),
        (
            String::from_utf8_lossy(&got[0].0),
            String::from_utf8_lossy(&got[0].1)
        ),
        "FlashDB receives what Redis sends"
    );
}
