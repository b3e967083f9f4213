//! Differential tests: the same requests go to Redis 7 (Debian's `redis-server`, which
//! `.ci/run` installs) and to FlashDB, and the raw reply bytes must be identical.
//! Missing `redis-server` is a failure, not a skip: these tests are the proof of
//! "same replies, same error strings".

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::{run_script, RedisServer};
use common::{read_reply, Raw, TestServer};

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
        "OBJECT FREQ missing",
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
