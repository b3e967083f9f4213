//! `flashdb-cli` against the real server: one-shot commands in each output form, exit
//! codes, authentication, databases, `--pipe`, `--scan`, and a server that is down.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use flashdb_testkit::{server_binary, Server};

const CLI: &str = env!("CARGO_BIN_EXE_flashdb-cli");

fn server(extra: &[&str]) -> Server {
    Server::start(&server_binary(Path::new(CLI)), extra)
}

/// Runs the CLI with `args` (and `stdin`); returns exit code, stdout, stderr.
fn cli(port: u16, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(CLI)
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn one_shot_commands_print_as_redis_cli_does() {
    let s = server(&[]);
    let p = s.port;
    assert_eq!(
        cli(p, &["SET", "greeting", "hello world"], b""),
        (0, "OK\n".into(), String::new())
    );
    // Piped output is raw; --no-raw gives the terminal form.
    assert_eq!(cli(p, &["GET", "greeting"], b"").1, "hello world\n");
    assert_eq!(
        cli(p, &["--no-raw", "GET", "greeting"], b"").1,
        "\"hello world\"\n"
    );
    assert_eq!(cli(p, &["--no-raw", "GET", "missing"], b"").1, "(nil)\n");
    assert_eq!(
        cli(p, &["--no-raw", "RPUSH", "l", "a", "b"], b"").1,
        "(integer) 2\n"
    );
    assert_eq!(
        cli(p, &["--no-raw", "LRANGE", "l", "0", "-1"], b"").1,
        "1) \"a\"\n2) \"b\"\n"
    );
    assert_eq!(cli(p, &["LRANGE", "l", "0", "-1"], b"").1, "a\nb\n");
    // JSON, with RESP3 maps as objects.
    cli(p, &["HSET", "h", "f", "v"], b"");
    assert_eq!(
        cli(p, &["--json", "HGETALL", "h"], b"").1,
        "{\"f\":\"v\"}\n"
    );
    assert_eq!(
        cli(p, &["--json", "LRANGE", "l", "0", "-1"], b"").1,
        "[\"a\",\"b\"]\n"
    );
    // An error reply: printed, and exit code 1.
    let (code, out, _) = cli(p, &["--no-raw", "INCR", "greeting"], b"");
    assert_eq!(
        (code, out.as_str()),
        (1, "(error) ERR value is not an integer or out of range\n")
    );
    let (code, out, _) = cli(p, &["--json", "NOPE"], b"");
    assert_eq!(code, 1);
    assert!(
        out.starts_with("{\"error\":\"ERR unknown command 'NOPE'"),
        "{out}"
    );
    // -n selects a database; -x reads the last argument from standard input; -r repeats.
    cli(p, &["-n", "4", "SET", "k", "in4"], b"");
    assert_eq!(cli(p, &["GET", "k"], b"").1, "\n");
    assert_eq!(cli(p, &["-n", "4", "GET", "k"], b"").1, "in4\n");
    cli(p, &["-x", "SET", "fromstdin"], b"line1\nline2");
    assert_eq!(cli(p, &["GET", "fromstdin"], b"").1, "line1\nline2\n");
    assert_eq!(cli(p, &["-r", "3", "INCR", "counter"], b"").1, "1\n2\n3\n");
}

#[test]
fn passwords_and_unreachable_servers_fail_clearly() {
    let s = server(&["--requirepass", "pw"]);
    let (code, out, _) = cli(s.port, &["--no-raw", "PING"], b"");
    assert_eq!(
        (code, out.as_str()),
        (1, "(error) NOAUTH Authentication required.\n")
    );
    assert_eq!(
        cli(s.port, &["-a", "pw", "PING"], b""),
        (0, "PONG\n".into(), String::new())
    );
    let (code, _, err) = cli(s.port, &["-a", "wrong", "PING"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("AUTH failed"), "{err}");
    drop(s);
    let (code, _, err) = cli(1, &["PING"], b"");
    assert_eq!(code, 1);
    assert!(err.contains("Could not connect to 127.0.0.1:1"), "{err}");
}

#[test]
fn pipe_loads_text_and_resp_and_counts_errors() {
    let s = server(&[]);
    let p = s.port;
    let mut text = String::new();
    for i in 0..5000 {
        text.push_str(&format!("SET key:{i} \"value {i}\"\n"));
    }
    text.push_str("INCR key:1\n");
    let (code, out, _) = cli(p, &["--pipe"], text.as_bytes());
    assert_eq!(code, 1, "one command failed");
    assert_eq!(out, "All data transferred. errors: 1, replies: 5001\n");
    assert_eq!(cli(p, &["DBSIZE"], b"").1, "5000\n");
    assert_eq!(cli(p, &["GET", "key:4999"], b"").1, "value 4999\n");
    // RESP input, as redis-cli --pipe takes it.
    let resp = b"*3\r\n$3\r\nSET\r\n$4\r\nresp\r\n$2\r\nok\r\n*2\r\n$4\r\nINCR\r\n$3\r\nctr\r\n";
    assert_eq!(
        cli(p, &["--pipe"], resp),
        (
            0,
            "All data transferred. errors: 0, replies: 2\n".into(),
            String::new()
        )
    );
    assert_eq!(cli(p, &["GET", "resp"], b"").1, "ok\n");
    let (code, _, err) = cli(p, &["--pipe"], b"*2\r\n$3\r\nGET\r\n");
    assert_eq!(code, 1);
    assert!(err.contains("ends inside a request"), "{err}");
    // --scan lists every matching key, across SCAN pages.
    let (code, out, _) = cli(p, &["--scan", "--pattern", "key:1*"], b"");
    assert_eq!(code, 0);
    let mut keys: Vec<&str> = out.lines().collect();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        1111,
        "key:1, key:10..19, key:100..199, key:1000..1999"
    );
    let (_, out, _) = cli(p, &["--scan", "--type", "string", "--pattern", "resp"], b"");
    assert_eq!(out, "resp\n");
}

/// `help`, `help COMMAND`, `help @group` and `help CONTAINER`, as redis-cli prints them,
/// from the server's COMMAND DOCS.
#[test]
fn help_shows_commands_and_groups_from_the_server() {
    let s = server(&[]);
    let p = s.port;
    let (code, out, _) = cli(p, &["help", "HSET"], b"");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "\n  HSET key field value [field value ...]\n  summary: Creates or modifies the value of a field in a hash.\n  since: 2.0.0\n  group: hash\n\n"
    );
    for (cmd, synopsis) in [
        ("set", "SET key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|KEEPTTL]"),
        ("zadd", "ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]"),
        ("zunionstore", "ZUNIONSTORE destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE SUM|MIN|MAX]"),
        ("xread", "XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]"),
        ("geoadd", "GEOADD key [NX|XX] [CH] longitude latitude member [longitude latitude member ...]"),
    ] {
        let (_, out, _) = cli(p, &["help", cmd], b"");
        assert_eq!(out.lines().nth(1), Some(format!("  {synopsis}").as_str()), "{out}");
    }
    let (_, out, _) = cli(p, &["help", "@hash"], b"");
    assert!(
        out.contains("\n  HSET key field value") && out.contains("\n  HGETALL key\n"),
        "{out}"
    );
    assert!(!out.contains("group:") && !out.contains("  SET "), "{out}");
    let (_, out, _) = cli(p, &["help", "config"], b"");
    assert!(
        out.contains("  CONFIG GET parameter [parameter ...]\n"),
        "{out}"
    );
    assert!(out.contains("  CONFIG REWRITE"), "{out}");
    let (code, out, _) = cli(p, &["help"], b"");
    assert_eq!(code, 0);
    assert!(
        out.contains("\"help @<group>\" to get a list of commands in <group>"),
        "{out}"
    );
}
