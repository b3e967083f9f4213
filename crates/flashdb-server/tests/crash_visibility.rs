//! Crash test: nothing a client saw is lost. Writers increment counters and readers read
//! them (and a subscriber counts their keyspace events) while the real server
//! (`appendfsync always`) is killed with SIGKILL; after every restart each counter must
//! be at least the highest value any reader saw and any writer was acknowledged, and must
//! have grown by at least the events the subscriber received.
//!
//! The log writer is made to hold each batch 30 ms before writing it (the
//! `wal-write-pause` failpoint), so that at the kill there are always writes that reached
//! memory but never the disk: a server that lets reads see them fails this test at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{temp_dir, TestServer};
use redis::Commands;

const COUNTERS: usize = 4;
const READERS: usize = 4;
const ROUNDS: usize = 3;
const ENV: &[(&str, &str)] = &[("FLASHDB_FAILPOINTS", "wal-write-pause=30")];

fn key(i: usize) -> String {
    format!("visible:{i}")
}

fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let c = client.get_connection().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c
}

/// Raises `seen[i]` to `v`.
fn raise(seen: &Mutex<Vec<i64>>, i: usize, v: i64) {
    let mut s = seen.lock().unwrap();
    s[i] = s[i].max(v);
}

/// The value of counter `key` read with `GET /api/v1/key/{key}` (0 when missing), or
/// `None` once the server is gone.
fn http_get_value(port: u16, key: &str) -> Option<i64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req =
        format!("GET /api/v1/key/{key} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    if head.starts_with("HTTP/1.1 404") {
        return Some(0);
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    Some(v["value"].as_str().unwrap().parse().unwrap())
}

#[test]
fn no_value_a_reader_saw_is_lost_in_a_crash() {
    let dir = temp_dir("visibility");
    let args = ["--appendfsync", "always"];
    let mut server = TestServer::start_in(&dir, &args, ENV);
    let mut before: Vec<i64> = vec![0; COUNTERS];
    for round in 0..ROUNDS {
        let port = server.port;
        let mut c = connect(port);
        let () = redis::cmd("CONFIG")
            .arg(&["SET", "notify-keyspace-events", "K$"])
            .query(&mut c)
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // Highest value read, and highest value acknowledged to a writer, per counter.
        let read = Arc::new(Mutex::new(vec![0i64; COUNTERS]));
        let acked = Arc::new(Mutex::new(vec![0i64; COUNTERS]));
        let events = Arc::new(Mutex::new(vec![0i64; COUNTERS]));

        // The subscriber is listening before any write of this round.
        let (subscribed_tx, subscribed) = std::sync::mpsc::channel();
        let subscriber = {
            let events = events.clone();
            std::thread::spawn(move || {
                let mut sub = connect(port);
                let mut ps = sub.as_pubsub();
                ps.psubscribe("__keyspace@0__:visible:*").unwrap();
                subscribed_tx.send(()).unwrap();
                let prefix = "__keyspace@0__:visible:";
                while let Ok(msg) = ps.get_message() {
                    let channel = msg.get_channel_name().to_string();
                    let i: usize = channel.strip_prefix(prefix).unwrap().parse().unwrap();
                    let event: String = msg.get_payload().unwrap();
                    assert_eq!(event, "incrby");
                    events.lock().unwrap()[i] += 1;
                }
            })
        };

        subscribed.recv().unwrap();
        let mut threads = Vec::new();
        for i in 0..COUNTERS {
            let (stop, acked) = (stop.clone(), acked.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = connect(port);
                while !stop.load(Ordering::Relaxed) {
                    match c.incr::<_, _, i64>(key(i), 1) {
                        Ok(v) => raise(&acked, i, v),
                        Err(_) => return,
                    }
                }
            }));
        }
        for _ in 0..READERS {
            let (stop, read) = (stop.clone(), read.clone());
            threads.push(std::thread::spawn(move || {
                let mut c = connect(port);
                let keys: Vec<String> = (0..COUNTERS).map(key).collect();
                while !stop.load(Ordering::Relaxed) {
                    match c.mget::<_, Vec<Option<i64>>>(&keys) {
                        Ok(values) => {
                            for (i, v) in values.into_iter().enumerate() {
                                raise(&read, i, v.unwrap_or(0));
                            }
                        }
                        Err(_) => return,
                    }
                }
            }));
        }

        // A reader over the HTTP API too.
        {
            let (stop, read) = (stop.clone(), read.clone());
            let http_port = server.http_port;
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..COUNTERS {
                        match http_get_value(http_port, &key(i)) {
                            Some(v) => raise(&read, i, v),
                            None => return,
                        }
                    }
                }
            }));
        }

        std::thread::sleep(Duration::from_millis(400 + 150 * round as u64));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        subscriber.join().unwrap();

        server = TestServer::start_in(&dir, &args, ENV);
        let mut c = connect(server.port);
        let read = read.lock().unwrap().clone();
        let acked = acked.lock().unwrap().clone();
        let events = events.lock().unwrap().clone();
        let mut after = Vec::new();
        for i in 0..COUNTERS {
            let v: Option<i64> = c.get(key(i)).unwrap();
            let v = v.unwrap_or(0);
            assert!(
                v >= read[i],
                "round {round}: {} is {v} after the crash, but a reader saw {}",
                key(i),
                read[i]
            );
            assert!(
                v >= acked[i],
                "round {round}: {} is {v} after the crash, but {} was acknowledged",
                key(i),
                acked[i]
            );
            assert!(
                v >= before[i] + events[i],
                "round {round}: {} is {v} after the crash, but it was {} and a subscriber saw {} increments since",
                key(i),
                before[i],
                events[i]
            );
            after.push(v);
        }
        // The round did something to check: every counter moved and was read.
        let progress: HashMap<usize, i64> =
            (0..COUNTERS).map(|i| (i, after[i] - before[i])).collect();
        assert!(
            progress.values().all(|&d| d > 0) && read.iter().all(|&r| r > 0),
            "round {round}: no progress to check: {progress:?}, reads {read:?}"
        );
        before = after;
    }
}
