//! `client-output-buffer-limit normal`: a client whose unread replies pass the hard
//! limit, or stay past the soft limit for its seconds, is closed, so that a client that
//! never reads cannot grow the server's memory without bound. No limit by default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::TestServer;

/// Sends `n` pipelined `GET big` in one write, waits, then reads until the server closes
/// the connection or stops sending; returns the bytes read and whether it was closed.
fn flood(server: &TestServer, n: usize, wait: Duration) -> (usize, bool) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(&b"GET big\r\n".repeat(n)).unwrap();
    std::thread::sleep(wait);
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (total, true),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (total, true),
            Err(_) => return (total, false),
        }
    }
}

#[test]
fn clients_past_the_normal_limits_are_closed_and_others_are_not() {
    let server = TestServer::start();
    let mut c = server.raw();
    let value = "x".repeat(100_000);
    c.call(&["SET", "big", &value]);
    let reply = "$100000\r\n".len() + 100_000 + 2;
    // No limit by default: all 100 replies arrive.
    let (got, closed) = flood(&server, 100, Duration::from_millis(100));
    assert_eq!((got, closed), (100 * reply, false));
    assert_eq!(
        c.call(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "normal 1mb 0 0"
        ]),
        "+OK\r\n"
    );
    assert!(c
        .call(&["CONFIG", "GET", "client-output-buffer-limit"])
        .contains("normal 1048576 0 0"));
    // Hard: 10 MB of replies in one batch close the client, and nothing is sent.
    let (got, closed) = flood(&server, 100, Duration::from_millis(100));
    assert!(closed, "closed past the hard limit");
    assert_eq!(got, 0);
    // Below it, a client is served.
    let (got, closed) = flood(&server, 5, Duration::from_millis(100));
    assert_eq!((got, closed), (5 * reply, false));
    // Soft: 50 MB left unread for more than a second close the client.
    c.call(&[
        "CONFIG",
        "SET",
        "client-output-buffer-limit",
        "normal 0 1mb 1",
    ]);
    let (got, closed) = flood(&server, 500, Duration::from_secs(3));
    assert!(closed, "closed past the soft limit");
    assert!(got < 500 * reply, "{got}");
    // The server is fine.
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
}
