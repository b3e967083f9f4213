//! Wire-level behaviour through the real binary: pipelining, framing across reads,
//! binary safety, limits, and clients that misbehave.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{encode, read_reply, TestServer};

#[test]
fn ten_thousand_pipelined_commands_get_ten_thousand_replies_in_order() {
    let server = TestServer::start();
    let mut c = server.raw();
    let mut batch = Vec::new();
    for i in 0..10_000 {
        let key = format!("k{i}");
        let val = format!("v{i}");
        batch.extend(encode(&[b"SET", key.as_bytes(), val.as_bytes()]));
        batch.extend(encode(&[b"GET", key.as_bytes()]));
    }
    c.send(&batch);
    for i in 0..10_000 {
        c.expect(b"+OK\r\n");
        let v = format!("v{i}");
        c.expect(format!("${}\r\n{}\r\n", v.len(), v).as_bytes());
    }
    assert_eq!(c.call(&["DBSIZE"]), ":10000\r\n");
}

#[test]
fn a_request_split_at_every_byte_is_parsed() {
    let server = TestServer::start();
    let mut c = server.raw();
    let req = encode(&[b"SET", b"split", b"hello world"]);
    for chunk in req.chunks(1) {
        c.stream.write_all(chunk).unwrap();
        c.stream.flush().unwrap();
    }
    c.expect(b"+OK\r\n");
    assert_eq!(c.call(&["GET", "split"]), "$11\r\nhello world\r\n");
}

#[test]
fn keys_and_values_are_binary_safe() {
    let server = TestServer::start();
    let mut c = server.raw();
    let key: Vec<u8> = (0u8..=255).collect();
    let val: Vec<u8> = (0u8..=255).rev().chain(b"\r\n\0".iter().copied()).collect();
    c.cmd(&[b"SET", &key, &val]);
    c.expect(b"+OK\r\n");
    c.cmd(&[b"GET", &key]);
    let mut expected = format!("${}\r\n", val.len()).into_bytes();
    expected.extend(&val);
    expected.extend(b"\r\n");
    assert_eq!(read_reply(&mut c.stream), expected);
}

#[test]
fn large_values_round_trip() {
    let server = TestServer::start();
    let mut conn = server.client();
    let big: Vec<u8> = (0..20 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut conn)
        .unwrap();
    let back: Vec<u8> = redis::cmd("GET").arg("big").query(&mut conn).unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big);
    let n: i64 = redis::cmd("APPEND")
        .arg("big")
        .arg("xyz")
        .query(&mut conn)
        .unwrap();
    assert_eq!(n, big.len() as i64 + 3);
}

#[test]
fn proto_max_bulk_len_bounds_requests_and_strings() {
    let server = TestServer::start();
    let mut c = server.raw();
    assert_eq!(
        c.call(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["SET", "s", "x"]), "+OK\r\n");
    assert_eq!(
        c.call(&["SETRANGE", "s", "1048576", "x"]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    let big = "y".repeat(1024 * 1024);
    assert_eq!(
        c.call(&["APPEND", "s", &big]),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    // A bulk longer than the limit is a protocol error that closes the connection.
    c.send(b"*2\r\n$3\r\nGET\r\n$1048577\r\n");
    c.expect(b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(c.is_closed());
}

#[test]
fn client_disconnecting_mid_frame_does_not_disturb_others() {
    let server = TestServer::start();
    let mut other = server.raw();
    for partial in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk"[..],
        b"*2\r\n$3\r\nGET\r\n$100000\r\nabc",
        b"SET a b",
    ] {
        let mut c = server.raw();
        c.send(partial);
        drop(c);
    }
    assert_eq!(other.call(&["PING"]), "+PONG\r\n");
    assert_eq!(other.call(&["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn query_buffer_limit_closes_abusive_connection() {
    let server = TestServer::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&["CONFIG", "SET", "client-query-buffer-limit", "1mb"]),
        "+OK\r\n"
    );
    let mut c = server.raw();
    // A bulk string announced at 100 MB (within proto-max-bulk-len) is buffered until the
    // query-buffer limit is hit, then the connection is closed.
    c.send(b"*2\r\n$3\r\nGET\r\n$100000000\r\n");
    let chunk = vec![b'a'; 64 * 1024];
    let mut closed = false;
    for _ in 0..100 {
        if c.stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        closed = c.is_closed();
    }
    assert!(
        closed,
        "connection over the query buffer limit must be closed"
    );
    assert_eq!(admin.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn maxclients_rejects_with_redis_error() {
    let server = TestServer::start_with(&["--maxclients", "3"]);
    let mut a = server.raw();
    // The start-up probe's connection counts until the server has seen it close.
    let start = std::time::Instant::now();
    while !a
        .call(&["INFO", "clients"])
        .contains("connected_clients:1\r\n")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "probe connection never closed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let _b = server.raw();
    let mut c = server.raw();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    let mut d = server.raw();
    let mut buf = Vec::new();
    d.stream.read_to_end(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf),
        "-ERR max number of clients reached\r\n"
    );
    let info = c.call(&["INFO", "stats"]);
    assert!(info.contains("rejected_connections:1"), "{info}");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = TestServer::start_with(&["--timeout", "1"]);
    let mut c = server.raw();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(c.is_closed(), "idle client must be disconnected");
}

#[test]
fn a_thousand_concurrent_connections() {
    let server = TestServer::start();
    let port = server.port;
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                let mut conns: Vec<common::Raw> =
                    (0..100).map(|_| common::Raw::connect(port)).collect();
                for (i, c) in conns.iter_mut().enumerate() {
                    let key = format!("t{t}c{i}");
                    assert_eq!(c.call(&["SET", &key, &key]), "+OK\r\n");
                }
                for (i, c) in conns.iter_mut().enumerate() {
                    let key = format!("t{t}c{i}");
                    assert_eq!(
                        c.call(&["GET", &key]),
                        format!("${}\r\n{key}\r\n", key.len())
                    );
                }
                conns
            })
        })
        .collect();
    let conns: Vec<Vec<common::Raw>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(conns.iter().map(Vec::len).sum::<usize>(), 1000);
    let mut c = server.raw();
    assert_eq!(c.call(&["DBSIZE"]), ":1000\r\n");
    // 1000 held connections and this one (the start-up probe's may take a moment to go).
    let start = std::time::Instant::now();
    loop {
        let info = c.call(&["INFO", "clients"]);
        if info.contains("connected_clients:1001\r\n") {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn garbage_input_never_takes_the_server_down() {
    let server = TestServer::start();
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..200 {
        let mut c = server.raw();
        let len = (seed % 300) as usize;
        let mut junk = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(match seed % 8 {
                0 => b'*',
                1 => b'$',
                2 => b'\r',
                3 => b'\n',
                4 => b'-',
                5 => b'0' + (seed % 10) as u8,
                _ => (seed >> 8) as u8,
            });
        }
        let _ = c.stream.write_all(&junk);
        drop(c);
    }
    let mut c = server.raw();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}

#[test]
fn redis_crate_client_works_end_to_end() {
    let server = TestServer::start();
    let mut conn = server.client();
    let _: () = redis::cmd("SET").arg("a").arg(1).query(&mut conn).unwrap();
    let v: i64 = redis::cmd("INCRBY")
        .arg("a")
        .arg(41)
        .query(&mut conn)
        .unwrap();
    assert_eq!(v, 42);
    let vals: Vec<Option<String>> = redis::cmd("MGET")
        .arg("a")
        .arg("none")
        .query(&mut conn)
        .unwrap();
    assert_eq!(vals, vec![Some("42".to_string()), None]);
    let mut pipe = redis::pipe();
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("p{i}")).arg(i).ignore();
    }
    pipe.cmd("DBSIZE");
    let (n,): (i64,) = pipe.query(&mut conn).unwrap();
    assert_eq!(n, 101);
}

/// An HTTP request sent to the RESP port (what a web page can make a browser send) is cut
/// off at its `POST` line or `Host:` header, as Redis does: the command in its body never
/// runs, and nothing is answered.
#[test]
fn http_requests_are_refused_before_their_body_runs() {
    let s = TestServer::start();
    for request in [
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 23\r\n\r\nSET pwned-post 1\r\n",
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nSET pwned-get 1\r\n",
    ] {
        let mut c = s.raw();
        c.send(request.as_bytes());
        c.stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut c.stream, &mut got);
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains("+OK"), "{request:?}: {text:?}");
    }
    let mut c = s.raw();
    assert_eq!(c.call(&["EXISTS", "pwned-post", "pwned-get"]), ":0\r\n");
    // A key or value that merely contains such words is untouched.
    assert_eq!(c.call(&["SET", "post", "Host:"]), "+OK\r\n");
}
