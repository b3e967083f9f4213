//! Protected mode, as Redis's: while the default user has no password, a client from
//! another machine gets Redis's `DENIED` explanation and is closed, on the RESP port and
//! the HTTP port alike. The server runs in a network namespace of its own, so that the
//! test's connections come from a non-loopback address (the namespaces' bridge). Needs
//! root, as the replication fault tests do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::netns::Net;
use common::{temp_dir, Raw, TestServer};

/// Everything the server sends on a fresh connection after `request`, until it closes.
fn answer(host: &str, port: u16, request: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect((host, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(request);
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                got.extend_from_slice(&chunk[..n]);
                if got.ends_with(b"\r\n") && !got.starts_with(b"HTTP") {
                    break;
                }
            }
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn clients_from_other_machines_are_denied_without_a_password() {
    let net = Net::create(1);
    let host = net.host(1);
    let dir = temp_dir("protected");
    let spawn = |extra: &[&str]| {
        let s = TestServer::try_spawn_at(&dir, extra, &[], Some((net.namespace(1), &host)))
            .expect("the server starts in its namespace");
        // Recovered (a denied client is answered at once, so this does not wait then).
        s.wait_ready();
        s
    };

    // No password: denied, with Redis's words, on both ports.
    let s = spawn(&[]);
    let reply = answer(&host, s.port, b"PING\r\n");
    assert!(
        reply.starts_with("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user."),
        "{reply}"
    );
    let http = answer(
        &host,
        s.http_port,
        format!("GET /api/v1/stats HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    );
    assert!(
        http.starts_with("HTTP/1.1 403") && http.contains("\"code\":\"DENIED\""),
        "{http}"
    );
    drop(s);

    // With a password, clients from anywhere may authenticate; taking the password away
    // at run time puts protected mode back in force for new clients.
    let s = spawn(&["--requirepass", "pw"]);
    let mut c = Raw::connect_to(&host, s.port);
    assert_eq!(c.call(&["PING"]), "-NOAUTH Authentication required.\r\n");
    assert_eq!(c.call(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(c.call(&["CONFIG", "SET", "requirepass", ""]), "+OK\r\n");
    assert!(answer(&host, s.port, b"PING\r\n").starts_with("-DENIED"));
    // The open connection stays; switching protected mode off lets new clients in.
    assert_eq!(
        c.call(&["CONFIG", "SET", "protected-mode", "no"]),
        "+OK\r\n"
    );
    assert_eq!(answer(&host, s.port, b"PING\r\n"), "+PONG\r\n");
    drop(c);
    drop(s);

    // --protected-mode no from the start.
    let s = spawn(&["--protected-mode", "no"]);
    assert_eq!(answer(&host, s.port, b"PING\r\n"), "+PONG\r\n");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loopback clients are never refused, and the setting is checked as Redis checks it.
#[test]
fn loopback_clients_pass_and_the_setting_is_checked() {
    let s = TestServer::start();
    let mut c = s.raw();
    assert_eq!(c.call(&["PING"]), "+PONG\r\n");
    assert!(c
        .call(&["CONFIG", "GET", "protected-mode"])
        .ends_with("$3\r\nyes\r\n"));
    assert_eq!(
        c.call(&["CONFIG", "SET", "protected-mode", "banana"]),
        "-ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must be 'yes' or 'no'\r\n"
    );
}
