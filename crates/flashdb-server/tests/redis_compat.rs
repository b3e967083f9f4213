//! Differential tests: the same requests go to Redis 7 (Debian's `redis-server`, which
//! `.ci/run` installs) and to FlashDB, and the raw reply bytes must be identical.
//! Missing `redis-server` is a failure, not a skip: these tests are the proof of
//! "same replies, same error strings".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use common::{read_reply, Raw, TestServer};

struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        // Ports below the kernel's ephemeral range (32768+), so that servers binding port 0
        // (every FlashDB under test) never take the port between our probe and Redis's bind,
        // and a probe connection can never connect to itself (TCP self-connect).
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20_000 + (std::process::id() % 500) as u16 * 20;
        for _ in 0..20 {
            let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 20;
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed for the compatibility tests (apt-get install redis-server)");
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if is_redis_with_pid(port, child.id()) {
                    return RedisServer { child, port };
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }
}

/// Whether the server answering on `port` is the `redis-server` we started, by its pid.
/// A bare successful connect proves nothing: on a machine whose ephemeral port range covers
/// `port`, the probe can connect to itself (TCP simultaneous open), or reach another test's
/// server that took the port before Redis bound it; either way Redis then fails to bind
/// and exits, and the test later meets "connection refused" (seen once in CI).
fn is_redis_with_pid(port: u16, pid: u32) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.contains(&want) {
            return true;
        }
        // The INFO payload ends in CRLF, and its bulk string adds one more.
        if text.ends_with("\r\n\r\n") || got.len() > 64 * 1024 {
            break;
        }
    }
    false
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn split(cmd: &str) -> Vec<Vec<u8>> {
    // Arguments separated by spaces; `\x00`-style escapes are not needed by the scripts, but
    // `{sp}` stands for a space inside an argument and `{empty}` for an empty argument.
    cmd.split(' ')
        .map(|a| match a {
            "{empty}" => Vec::new(),
            a => a
                .replace("{sp}", " ")
                .replace("{crlf}", "\r\n")
                .into_bytes(),
        })
        .collect()
}

/// The elements of a flat array reply of bulk strings, sorted, joined by newlines.
fn sorted_elements(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap_or_default().to_string();
    let mut items: Vec<&str> = lines.skip(1).step_by(2).filter(|s| !s.is_empty()).collect();
    items.sort_unstable();
    format!("{header}\n{}", items.join("\n")).into_bytes()
}

fn run_script(script: &[&str]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut r = Raw::connect(redis.port);
    let mut f = flash.raw();
    let mut failures = Vec::new();
    for cmd in script {
        // A leading `~` marks a command whose array reply has no defined order.
        let (unordered, cmd) = match cmd.strip_prefix('~') {
            Some(c) => (true, c),
            None => (false, *cmd),
        };
        let args = split(cmd);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        r.cmd(&refs);
        f.cmd(&refs);
        let mut want = read_reply(&mut r.stream);
        let mut got = read_reply(&mut f.stream);
        if unordered {
            want = sorted_elements(&want);
            got = sorted_elements(&got);
        }
        if want != got {
            failures.push(format!(
                "{cmd}\n    redis:   {:?}\n    flashdb: {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn string_commands_match_redis() {
    run_script(&[
        "FLUSHALL",
        "GET missing",
        "SET k v",
        "GET k",
        "SET k v2 NX",
        "SET k v3 XX",
        "GET k",
        "SET k2 v XX",
        "SET k v4 GET",
        "SET newk v GET",
        "SET k v NX XX",
        "SET k v EX 10 PX 100",
        "SET k v EX 10 KEEPTTL",
        "SET k v EX 0",
        "SET k v EX -5",
        "SET k v EX abc",
        "SET k v PX 9223372036854775807",
        "SET k v EX 9223372036854775807",
        "SET k v BADOPT",
        "SET k v EX",
        "SET k v NX GET",
        "SET k v EX 100",
        "TTL k",
        "SET k v KEEPTTL",
        "TTL k",
        "SET k v",
        "TTL k",
        "SETNX k x",
        "SETNX k9 x",
        "SETEX k 0 v",
        "SETEX k abc v",
        "SETEX k 100 v",
        "TTL k",
        "PSETEX k 100000 v",
        "PSETEX k -1 v",
        "MSET a 1 b 2 c 3",
        "MSET a 1 b",
        "MGET a b c missing",
        "MSETNX a 1 z 2",
        "MSETNX y 1 z 2",
        "MGET y z",
        "GETSET a 10",
        "GETSET nothere 1",
        "GETDEL a",
        "GETDEL a",
        "GETEX b",
        "GETEX b EX 100",
        "TTL b",
        "GETEX b PERSIST",
        "TTL b",
        "GETEX b EX 10 PX 10",
        "GETEX b FOO",
        "GETEX missing EX 10",
        "GETEX b EX -1",
        "APPEND s hello",
        "APPEND s {sp}world",
        "GET s",
        "STRLEN s",
        "STRLEN missing",
        "GETRANGE s 0 4",
        "GETRANGE s -5 -1",
        "GETRANGE s 5 1",
        "GETRANGE s -1 -5",
        "GETRANGE s 0 1000",
        "GETRANGE s -100 2",
        "GETRANGE missing 0 10",
        "GETRANGE s a b",
        "SUBSTR s 0 2",
        "SETRANGE s 6 Redis",
        "GET s",
        "SETRANGE s -1 x",
        "SETRANGE s abc x",
        "SETRANGE pad 5 x",
        "GET pad",
        "SETRANGE empty 5 {empty}",
        "EXISTS empty",
        "SETRANGE s 0 {empty}",
        "SETRANGE s 536870911 x",
        "SETRANGE s 536870912 x",
        "SET n 10",
        "INCR n",
        "INCRBY n 5",
        "DECR n",
        "DECRBY n 3",
        "INCRBY n abc",
        "INCRBY n 1.5",
        "DECRBY n -9223372036854775808",
        "SET n 9223372036854775807",
        "INCR n",
        "SET n -9223372036854775808",
        "DECR n",
        "SET n {sp}1",
        "INCR n",
        "SET n 1.0",
        "INCR n",
        "SET n 01",
        "INCR n",
        "INCR newcounter",
        "SET f 10.50",
        "INCRBYFLOAT f 0.1",
        "INCRBYFLOAT f -5",
        "INCRBYFLOAT f 5.0e3",
        "SET f 1e20",
        "INCRBYFLOAT f 1",
        "SET f 0x1.8p1",
        "INCRBYFLOAT f 0x10",
        "SET f 123456789.123456789",
        "INCRBYFLOAT f 0.000000001",
        "INCRBYFLOAT f 1e",
        "INCRBYFLOAT f -infinity",
        "SET f 1.7976931348623157e308",
        "INCRBYFLOAT f 1",
        "SET f 5.0e3",
        "INCRBYFLOAT f -5000",
        "INCRBYFLOAT f abc",
        "INCRBYFLOAT f inf",
        "INCRBYFLOAT f nan",
        "SET f 3.0",
        "INCRBYFLOAT f 0",
        "INCRBYFLOAT newfloat 2.5",
        "SET f abc",
        "INCRBYFLOAT f 1",
        "SET l1 ohmytext",
        "SET l2 mynewtext",
        "LCS l1 l2",
        "LCS l1 l2 LEN",
        "LCS l1 l2 IDX",
        "LCS l1 l2 IDX MINMATCHLEN 4",
        "LCS l1 l2 IDX MINMATCHLEN 4 WITHMATCHLEN",
        "LCS l1 l2 LEN IDX",
        "LCS l1 l2 FOO",
        "LCS l1 missing",
        "LCS missing1 missing2 LEN",
        "SET k1 {empty}",
        "GET k1",
        "GET",
        "SET k",
        "GETRANGE k 1",
        "MGET",
    ]);
}

#[test]
fn key_and_expiry_commands_match_redis() {
    run_script(&[
        "FLUSHALL",
        "SET a 1",
        "SET b 2",
        "DEL a b c",
        "DEL a",
        "UNLINK x",
        "SET a 1",
        "EXISTS a a b",
        "TYPE a",
        "TYPE nope",
        "RENAME a b",
        "GET b",
        "RENAME a c",
        "RENAME b b",
        "RENAMENX b b",
        "SET c 3",
        "RENAMENX b c",
        "RENAMENX b d",
        "TOUCH d c zz",
        "COPY d e",
        "COPY d e",
        "COPY d e REPLACE",
        "COPY d d",
        "COPY d e DB 1",
        "COPY d e DB 99",
        "COPY d e DB abc",
        "COPY d e FOO",
        "COPY nokey e",
        "SELECT 1",
        "GET e",
        "SELECT 0",
        "SELECT 16",
        "SELECT -1",
        "SELECT abc",
        "MOVE d 1",
        "MOVE d 1",
        "MOVE c 0",
        "MOVE c 16",
        "MOVE c abc",
        "SET c 1",
        "SELECT 1",
        "SET c 2",
        "SELECT 0",
        "MOVE c 1",
        "SWAPDB 0 1",
        "GET c",
        "SWAPDB 0 1",
        "SWAPDB 0 99",
        "SWAPDB a 1",
        "SWAPDB 0 b",
        "DBSIZE",
        "FLUSHDB FOO",
        "FLUSHDB ASYNC",
        "DBSIZE",
        "SET x 1",
        "EXPIRE x 100",
        "TTL x",
        "PTTL nokey",
        "TTL nokey",
        "EXPIRE nokey 10",
        "PERSIST x",
        "PERSIST x",
        "TTL x",
        "EXPIRE x 100 NX",
        "EXPIRE x 200 NX",
        "EXPIRE x 50 XX",
        "TTL x",
        "EXPIRE x 10 GT",
        "EXPIRE x 100 GT",
        "EXPIRE x 500 LT",
        "EXPIRE x 20 LT",
        "TTL x",
        "EXPIRE x 10 NX XX",
        "EXPIRE x 10 GT LT",
        "EXPIRE x 10 FOO",
        "EXPIRE x abc",
        "EXPIRE x 9223372036854775807",
        "PEXPIRE x 9223372036854775807",
        "EXPIREAT x 9223372036854775807",
        "PERSIST x",
        "EXPIRE x 10 XX",
        "EXPIRE x 10 GT",
        "EXPIRE x 10 LT",
        "PERSIST x",
        "EXPIREAT x 4102444800",
        "EXPIRETIME x",
        "PEXPIRETIME x",
        "PEXPIREAT x 4102444800123",
        "PEXPIRETIME x",
        "EXPIRETIME x",
        "EXPIRETIME nokey",
        "SET y 1",
        "EXPIRETIME y",
        "PEXPIRETIME y",
        "EXPIRE y 0",
        "EXISTS y",
        "SET y 1",
        "EXPIRE y -10",
        "GET y",
        "SET y 1",
        "PEXPIREAT y 1",
        "GET y",
        "SET z 1",
        "OBJECT ENCODING z",
        "SET z abc",
        "OBJECT ENCODING z",
        "SET z 12345678901234567890123",
        "OBJECT ENCODING z",
        "APPEND z x",
        "OBJECT ENCODING z",
        "SET z aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "OBJECT ENCODING z",
        "OBJECT ENCODING missing",
        "OBJECT FREQ z",
        "OBJECT FOO z",
        "OBJECT",
        "OBJECT HELP",
        "OBJECT ENCODING",
        "~KEYS *",
        "FLUSHALL",
        "MSET user:1 a user:2 b other c h\\*llo d hello e",
        "KEYS nomatch*",
        "~KEYS user:?",
        "KEYS h[a-e]llo",
        "KEYS h\\*llo",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT abc",
        "SCAN abc",
        "SCAN 0 FOO bar",
        "SCAN 0 MATCH",
        "RANDOMKEY FOO",
        "FLUSHALL SYNC",
        "RANDOMKEY",
        "SCAN 0",
        "KEYS *",
        "DBSIZE",
    ]);
}

#[test]
fn connection_and_server_commands_match_redis() {
    run_script(&[
        "PING",
        "PING hello",
        "PING a b",
        "ECHO hi",
        "ECHO",
        "NOSUCHCOMMAND a b",
        "nosuchcommand",
        "CONFIG",
        "CONFIG FOO",
        "CONFIG SET",
        "CONFIG SET maxclients",
        "CONFIG SET nosuchparam 1",
        "CONFIG GET maxclients",
        "CONFIG GET proto-max-bulk-len",
        "CONFIG GET client-query-buffer-limit",
        "CONFIG GET nosuchparam",
        "CONFIG SET hz 20",
        "CONFIG GET hz",
        "CONFIG SET proto-max-bulk-len 2mb",
        "CONFIG GET proto-max-bulk-len",
        "CONFIG SET proto-max-bulk-len 536870912",
        "CONFIG RESETSTAT",
        "CLIENT SETNAME my{sp}name",
        "CLIENT SETNAME myname",
        "CLIENT GETNAME",
        "CLIENT SETNAME {empty}",
        "CLIENT GETNAME",
        "CLIENT FOO",
        "CLIENT",
        "CLIENT KILL 1.2.3.4:5",
        "CLIENT KILL ID",
        "CLIENT KILL ID 99999",
        "CLIENT LIST TYPE foo",
        "CLIENT REPLY FOO",
        "CLIENT LIST TYPE master",
        "COMMAND INFO nosuchcmd",
        "COMMAND GETKEYS",
        "COMMAND GETKEYS nosuch a",
        "COMMAND GETKEYS get",
        "COMMAND GETKEYS get a",
        "COMMAND GETKEYS mset a 1 b 2",
        "COMMAND GETKEYS ping",
        "COMMAND FOO",
        "SHUTDOWN ABORT",
        "SHUTDOWN FOO",
        "AUTH foo",
        "AUTH default anything",
        "AUTH a b c",
        "HELLO 4",
        "HELLO abc",
        "HELLO 2 FOO",
        "HELLO 3 SETNAME bad{sp}name",
        "TIME a",
        "DBSIZE x",
        "SELECT",
    ]);
}

#[test]
fn resp3_replies_match_redis() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    for port in [redis.port, flash.port] {
        let mut c = Raw::connect(port);
        // HELLO's own reply carries a client id and version that differ; check its shape.
        let hello = c.call(&["HELLO", "3"]);
        assert!(
            hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
            "{hello}"
        );
        assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    }
    let mut r = Raw::connect(redis.port);
    let mut f = flash.raw();
    r.call(&["HELLO", "3"]);
    f.call(&["HELLO", "3"]);
    for cmd in [
        vec!["GET", "nokey"],
        vec!["SET", "k", "v"],
        vec!["MGET", "k", "nokey"],
        vec!["SET", "l1", "ohmytext"],
        vec!["SET", "l2", "mynewtext"],
        vec!["LCS", "l1", "l2", "IDX", "WITHMATCHLEN"],
        vec!["CONFIG", "GET", "maxclients"],
        vec!["SET", "x", "1", "NX"],
        vec!["INCRBYFLOAT", "f", "1.5"],
        vec!["COMMAND", "GETKEYS", "get", "a"],
        vec!["OBJECT", "ENCODING", "nokey"],
    ] {
        let want = r.call(&cmd);
        let got = f.call(&cmd);
        assert_eq!(got, want, "{cmd:?}");
    }
}

/// Protocol errors: same error text, and the connection is closed afterwards.
#[test]
fn protocol_errors_match_redis() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let cases: &[&[u8]] = &[
        b"*abc\r\n",
        b"*3000000000\r\n",
        b"*1\r\nx\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$abc\r\n",
        b"*1\r\n$600000000\r\n",
        b"set a \"b\r\n",
        b"set a 'b\r\n",
        b"set a \"b\"c\r\n",
    ];
    for case in cases {
        let mut replies = Vec::new();
        for port in [redis.port, flash.port] {
            let mut c = Raw::connect(port);
            c.send(case);
            let reply = read_reply(&mut c.stream);
            assert!(
                c.is_closed(),
                "connection must be closed after {:?}",
                String::from_utf8_lossy(case)
            );
            replies.push(String::from_utf8_lossy(&reply).into_owned());
        }
        assert_eq!(
            replies[1],
            replies[0],
            "{:?}",
            String::from_utf8_lossy(case)
        );
    }
}

/// Inline commands, as telnet sends them, including quoting rules.
#[test]
fn inline_commands_match_redis() {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let input: &[u8] = b"SET greeting \"hello world\"\r\nGET greeting\r\n\r\nSET q 'it\\'s'\r\nGET q\nSET hex \"\\x41\\n\"\r\nGET hex\r\n  PING  \r\nECHO \"\"\r\n";
    let mut outs = Vec::new();
    for port in [redis.port, flash.port] {
        let mut c = Raw::connect(port);
        c.send(input);
        let mut all = Vec::new();
        for _ in 0..8 {
            all.extend(read_reply(&mut c.stream));
        }
        outs.push(String::from_utf8_lossy(&all).into_owned());
    }
    assert_eq!(outs[1], outs[0]);
    assert!(outs[1].contains("$11\r\nhello world\r\n"));
}
