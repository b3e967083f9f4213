//! A script is atomic: a crash keeps all of its writes or none (they are logged as one
//! record), `SCRIPT KILL` stops a script that has not written, `-BUSY` answers others
//! once it has run past `busy-reply-threshold`, and one that has written can only be
//! ended by `SHUTDOWN NOSAVE`, which keeps none of its writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{temp_dir, TestServer};

/// Writes 500 keys `b<n>:<i>` (none declared) per script call.
const BATCH: &str = "for i = 1, 500 do redis.call('set', ARGV[1] .. i, i) end return 1";

#[test]
fn a_crash_keeps_all_of_a_script_or_none() {
    let dir = temp_dir("script-crash");
    let mut server = TestServer::start_in(&dir, &["--appendfsync", "always"], &[]);
    let sha = {
        let mut c = server.raw();
        let reply = c.call(&["SCRIPT", "LOAD", BATCH]);
        reply.lines().nth(1).unwrap().to_string()
    };
    // Scripts stream in on their own connection while the server is killed.
    let port = server.port;
    let writer = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut acked = 0u32;
        let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return acked;
        };
        let mut reply = [0u8; 4];
        for n in 0..100_000u32 {
            let arg = format!("b{n}:");
            let req = format!(
                "*4\r\n$7\r\nEVALSHA\r\n$40\r\n{sha}\r\n$1\r\n0\r\n${}\r\n{arg}\r\n",
                arg.len()
            );
            if c.write_all(req.as_bytes()).is_err() || c.read_exact(&mut reply).is_err() {
                break;
            }
            assert_eq!(&reply, b":1\r\n");
            acked = n + 1;
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(700));
    server.kill9();
    let acked = writer.join().unwrap();
    assert!(acked > 0, "no script was acknowledged before the kill");
    drop(server);
    let server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    let count_batch = |c: &mut common::Raw, n: u32| -> usize {
        let reply = c.call(&[
            "EVAL",
            "return #redis.call('keys', ARGV[1])",
            "0",
            &format!("b{n}:*"),
        ]);
        reply.trim_start_matches(':').trim().parse().unwrap()
    };
    for n in 0..acked {
        assert_eq!(
            count_batch(&mut c, n),
            500,
            "acknowledged script {n} lost writes"
        );
    }
    // The script running at the kill, if any: all of it or none.
    let partial = count_batch(&mut c, acked);
    assert!(
        partial == 0 || partial == 500,
        "script {acked} left {partial} of 500 writes"
    );
    assert_eq!(count_batch(&mut c, acked + 1), 0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn busy_kill_and_unkillable_scripts() {
    let dir = temp_dir("script-busy");
    let mut server = TestServer::start_in(&dir, &[], &[]);
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
    assert_eq!(
        admin.call(&["CONFIG", "SET", "busy-reply-threshold", "200"]),
        "+OK\r\n"
    );
    admin.call(&["SET", "held", "1"]);

    // A script that never writes and never ends: others get -BUSY, SCRIPT KILL ends it,
    // even though its loop catches errors with pcall.
    let port = server.port;
    let looping = std::thread::spawn(move || {
        let mut c = common::Raw::connect(port);
        c.call(&[
            "EVAL",
            "local n = redis.call('get', KEYS[1]) while true do pcall(function() while true do end end) end",
            "1",
            "held",
        ])
    });
    wait_for("-BUSY", || {
        admin.call(&["GET", "held"]).starts_with("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.")
    });
    assert!(admin.call(&["FUNCTION", "KILL"]).starts_with('-'));
    assert_eq!(admin.call(&["SCRIPT", "KILL"]), "+OK\r\n");
    let reply = looping.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script killed by user with SCRIPT KILL... script: ")
            && reply.ends_with(", on @user_script:1.\r\n"),
        "{reply}"
    );
    assert_eq!(admin.call(&["GET", "held"]), "$1\r\n1\r\n");

    // One that wrote cannot be killed; SHUTDOWN NOSAVE ends the server, and none of the
    // script's writes survive.
    let mut writing = common::Raw::connect(port);
    // Its reply never comes: the server ends first.
    writing.cmd(&[
        b"EVAL",
        b"redis.call('set', 'partial', 'x') while true do end",
        b"0",
    ]);
    wait_for("-BUSY", || {
        admin.call(&["GET", "held"]).starts_with("-BUSY")
    });
    assert!(admin.call(&["SCRIPT", "KILL"]).starts_with(
        "-UNKILLABLE Sorry the script already executed write commands against the dataset."
    ));
    // Nor does this one's: the connection closes.
    admin.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
    wait_for("the server to exit", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    server.kill9();
    drop(server);
    let server = TestServer::start_in(&dir, &[], &[]);
    let mut c = server.raw();
    assert_eq!(c.call(&["EXISTS", "partial"]), ":0\r\n");
    assert_eq!(c.call(&["GET", "held"]), "$1\r\n1\r\n");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
