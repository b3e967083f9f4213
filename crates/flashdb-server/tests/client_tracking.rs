//! Client-side caching (`CLIENT TRACKING`): the same scenarios run against the real
//! Redis 7 and FlashDB, with several connections each, and every reply and invalidation
//! message must be byte for byte the same: the default mode, `NOLOOP`, `OPTIN`/`OPTOUT`
//! with `CLIENT CACHING`, `BCAST` with prefixes, `REDIRECT` to a RESP2 subscriber and to a
//! connection that went away, flushes, expiry, and the options' errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::real_redis::{run_script, split, RedisServer};
use common::{read_reply, Raw, TestServer};

/// One step of a scenario.
enum Step {
    /// Connection `n` sends a command and reads its reply.
    Cmd(usize, &'static str),
    /// Like `Cmd`, but the reply differs by nature (`HELLO`'s server fields): only its
    /// first byte is compared.
    Loose(usize, &'static str),
    /// Connection `n` reads one more frame: a push, or a redirected message.
    Read(usize),
    /// Connection `n` closes.
    Close(usize),
    /// Waits, for active expiry.
    Sleep(u64),
}
use Step::*;

/// Runs `steps` on a server with `conns` connections; returns what each step read, with
/// client ids written as `{id:n}` (ids differ between the servers). Commands name
/// connection `n`'s id as `{id:n}`.
fn transcript(port: u16, conns: usize, steps: &[Step]) -> Vec<String> {
    let mut c: Vec<Option<Raw>> = (0..conns).map(|_| Some(Raw::connect(port))).collect();
    let ids: Vec<String> = c
        .iter_mut()
        .map(|r| {
            let reply = r.as_mut().unwrap().call(&["CLIENT", "ID"]);
            reply.trim_start_matches(':').trim_end().to_string()
        })
        .collect();
    // Integer replies only (a line of its own), not text that happens to end in one.
    let normalize = |text: String| {
        let mut text = format!("\r\n{text}");
        for (n, id) in ids.iter().enumerate() {
            text = text.replace(&format!("\r\n:{id}\r\n"), &format!("\r\n:{{id:{n}}}\r\n"));
        }
        text.split_off(2)
    };
    let mut out = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let (n, line) = match step {
            Cmd(n, template) | Loose(n, template) => {
                let mut cmd = template.to_string();
                for (k, id) in ids.iter().enumerate() {
                    cmd = cmd.replace(&format!("{{id:{k}}}"), id);
                }
                let args = split(&cmd);
                let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                let conn = c[*n].as_mut().unwrap();
                conn.cmd(&refs);
                let reply = read_reply(&mut conn.stream);
                let mut text = String::from_utf8_lossy(&reply).into_owned();
                if matches!(step, Loose(..)) {
                    text.truncate(1);
                }
                (*n, format!("{template} -> {}", normalize(text)))
            }
            Read(n) => {
                let conn = c[*n].as_mut().unwrap();
                let reply = read_reply(&mut conn.stream);
                (
                    *n,
                    format!(
                        "read -> {}",
                        normalize(String::from_utf8_lossy(&reply).into_owned())
                    ),
                )
            }
            Close(n) => {
                c[*n] = None;
                // The server notices the close before the next step.
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                continue;
            }
        };
        out.push(format!("{i}: [{n}] {line}"));
    }
    out
}

fn same_as_redis(conns: usize, steps: &[Step]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let want = transcript(redis.port, conns, steps);
    let got = transcript(flash.port, conns, steps);
    let diff: Vec<String> = want
        .iter()
        .zip(&got)
        .filter(|(w, g)| w != g)
        .map(|(w, g)| format!("redis:   {w:?}\nflashdb: {g:?}"))
        .collect();
    assert!(diff.is_empty(), "{}", diff.join("\n"));
    if std::env::var_os("SHOW_TRANSCRIPT").is_some() {
        eprintln!("{}", got.join("\n"));
    }
    assert_eq!(want.len(), got.len());
}

#[test]
fn default_mode_invalidates_what_was_read() {
    same_as_redis(
        2,
        &[
            Loose(0, "HELLO 3"),
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "GET a"),
            Cmd(1, "SET a 1"),
            Read(0),
            // Forgotten once invalidated: a second write tells nothing.
            Cmd(1, "SET a 2"),
            Cmd(0, "PING"),
            Cmd(0, "MGET b c a"),
            Cmd(1, "MSET c 1 b 2"),
            Read(0),
            Read(0),
            Cmd(1, "DEL a"),
            Read(0),
            // Keys are names, whatever the database.
            Cmd(0, "GET d"),
            Cmd(1, "SELECT 1"),
            Cmd(1, "SET d x"),
            Read(0),
            // Its own writes too, after the reply.
            Cmd(0, "HGETALL h"),
            Cmd(0, "HSET h f v"),
            Read(0),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "CLIENT GETREDIR"),
            Cmd(0, "CLIENT TRACKING off"),
            Cmd(0, "GET a"),
            Cmd(1, "SET a 3"),
            Cmd(0, "PING"),
            Cmd(0, "CLIENT TRACKINGINFO"),
        ],
    );
}

#[test]
fn noloop_optin_and_optout() {
    same_as_redis(
        2,
        &[
            Loose(0, "HELLO 3"),
            Cmd(0, "CLIENT TRACKING on NOLOOP"),
            Cmd(0, "GET a"),
            Cmd(0, "SET a 1"),
            Cmd(0, "PING"),
            Cmd(0, "GET a"),
            Cmd(1, "SET a 2"),
            Read(0),
            Cmd(0, "CLIENT TRACKING off"),
            Cmd(0, "CLIENT TRACKING on OPTIN"),
            Cmd(0, "GET a"),
            Cmd(1, "SET a 3"),
            Cmd(0, "PING"),
            Cmd(0, "CLIENT CACHING yes"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "GET a"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(1, "SET a 4"),
            Read(0),
            // In a transaction, CACHING covers every read of it.
            Cmd(0, "CLIENT CACHING yes"),
            Cmd(0, "MULTI"),
            Cmd(0, "GET x"),
            Cmd(0, "GET y"),
            Cmd(0, "EXEC"),
            Cmd(1, "SET y 1"),
            Read(0),
            Cmd(1, "SET x 1"),
            Read(0),
            Cmd(0, "CLIENT TRACKING on OPTOUT"),
            Cmd(0, "CLIENT TRACKING off"),
            Cmd(0, "CLIENT TRACKING on OPTOUT"),
            Cmd(0, "CLIENT CACHING no"),
            Cmd(0, "GET b"),
            Cmd(1, "SET b 1"),
            Cmd(0, "GET c"),
            Cmd(1, "SET c 1"),
            Read(0),
            Cmd(0, "CLIENT CACHING yes"),
        ],
    );
}

#[test]
fn bcast_sends_every_change_under_the_prefixes() {
    same_as_redis(
        2,
        &[
            Loose(0, "HELLO 3"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX user: PREFIX job:"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            // One message per prefix with the keys one command changed.
            Cmd(1, "MSET user:1 a other x user:2 b"),
            Read(0),
            Cmd(1, "SET job:7 x"),
            Read(0),
            Cmd(1, "SET nothing y"),
            Cmd(0, "PING"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX user:x"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX a PREFIX ab"),
            Cmd(0, "CLIENT TRACKING on PREFIX z"),
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "CLIENT TRACKING on BCAST PREFIX acct:"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(1, "SET acct:1 x"),
            Read(0),
            Cmd(0, "CLIENT TRACKING off"),
            // BCAST with no prefix: every key; NOLOOP: not its own.
            Cmd(0, "CLIENT TRACKING on BCAST NOLOOP"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "SET mine 1"),
            Cmd(1, "SET theirs 1"),
            Read(0),
            Cmd(0, "FLUSHALL"),
            Read(0),
        ],
    );
}

#[test]
fn redirect_to_a_resp2_subscriber_and_to_a_client_gone() {
    same_as_redis(
        4,
        &[
            Cmd(2, "SUBSCRIBE __redis__:invalidate"),
            Cmd(0, "CLIENT TRACKING on REDIRECT {id:2}"),
            Cmd(0, "CLIENT GETREDIR"),
            Cmd(0, "CLIENT TRACKINGINFO"),
            Cmd(0, "GET a"),
            Cmd(1, "SET a 1"),
            Read(2),
            Cmd(1, "FLUSHALL"),
            Read(2),
            // A RESP3 client whose target went away is told so.
            Loose(3, "HELLO 3"),
            Cmd(3, "CLIENT TRACKING on REDIRECT {id:2}"),
            Cmd(3, "GET b"),
            Close(2),
            Cmd(1, "SET b 1"),
            Read(3),
            Cmd(3, "CLIENT TRACKINGINFO"),
            Cmd(0, "CLIENT TRACKING on REDIRECT {id:1} REDIRECT {id:1}"),
        ],
    );
}

#[test]
fn expiry_invalidates() {
    same_as_redis(
        2,
        &[
            Loose(0, "HELLO 3"),
            Cmd(1, "SET k v PX 100"),
            Cmd(0, "CLIENT TRACKING on"),
            Cmd(0, "GET k"),
            Sleep(400),
            Read(0),
        ],
    );
}

#[test]
fn options_and_errors_match_redis() {
    run_script(&[
        "CLIENT TRACKING",
        "CLIENT TRACKING maybe",
        "CLIENT TRACKING on redirect",
        "CLIENT TRACKING on redirect 999999",
        "CLIENT TRACKING on redirect x",
        "CLIENT TRACKING on redirect 0",
        "CLIENT TRACKING on prefix a",
        "CLIENT TRACKING on bcast optin",
        "CLIENT TRACKING on optin optout",
        "CLIENT TRACKING on bogus",
        "CLIENT TRACKING off bogus",
        "CLIENT TRACKING on bcast prefix a prefix ab",
        "CLIENT TRACKING on bcast prefix ab prefix a",
        "CLIENT GETREDIR",
        "CLIENT TRACKINGINFO",
        "CLIENT CACHING yes",
        "CLIENT CACHING maybe",
        "CLIENT TRACKING on",
        "CLIENT TRACKINGINFO",
        "CLIENT GETREDIR",
        "CLIENT CACHING yes",
        "CLIENT CACHING no",
        "CLIENT CACHING maybe",
        "CLIENT TRACKING on bcast",
        "CLIENT TRACKING on optin",
        "CLIENT TRACKINGINFO",
        "CLIENT CACHING no",
        "CLIENT CACHING yes",
        "CLIENT TRACKING on optout",
        "CLIENT TRACKING off",
        "CLIENT TRACKING on optout noloop",
        "CLIENT TRACKINGINFO",
        "CLIENT CACHING no",
        "CLIENT TRACKINGINFO",
        "CLIENT TRACKING off",
        "CLIENT TRACKINGINFO",
        "CLIENT TRACKING on bcast prefix b prefix c",
        "CLIENT TRACKING on bcast prefix bb",
        "CLIENT TRACKING on bcast prefix a",
        "CLIENT TRACKINGINFO",
        "RESET",
        "CLIENT TRACKINGINFO",
        "CLIENT CACHING",
        "CLIENT GETREDIR x",
    ]);
}

/// The table is bounded by `tracking-table-max-keys`: past it, keys are forgotten and
/// their clients told as if they had changed. (Which key goes is random in Redis, so this
/// is not compared with it.)
#[test]
fn the_key_table_is_bounded_and_reported() {
    let server = TestServer::start();
    let mut c = server.raw();
    let mut admin = server.raw();
    c.call(&["HELLO", "3"]);
    assert_eq!(c.call(&["CLIENT", "TRACKING", "on"]), "+OK\r\n");
    for k in ["a", "b", "c"] {
        assert_eq!(c.call(&["GET", k]), "_\r\n");
    }
    let info = admin.call(&["INFO", "all"]);
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    assert!(info.contains("tracking_total_keys:3\r\n"), "{info}");
    assert!(info.contains("tracking_total_items:3\r\n"), "{info}");
    let list = admin.call(&["CLIENT", "LIST"]);
    assert!(list.contains("flags=t "), "{list}");
    assert_eq!(
        admin.call(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        "+OK\r\n"
    );
    assert_eq!(c.call(&["GET", "d"]), "_\r\n");
    // Three of the four keys are forgotten, each with an invalidation.
    let mut forgotten = Vec::new();
    for _ in 0..3 {
        let push = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
        assert!(
            push.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n"),
            "{push}"
        );
        forgotten.push(push);
    }
    let info = admin.call(&["INFO", "stats"]);
    assert!(info.contains("tracking_total_keys:1\r\n"), "{info}");
    // The one left is still tracked.
    let left = ["a", "b", "c", "d"]
        .into_iter()
        .find(|k| {
            !forgotten
                .iter()
                .any(|p| p.ends_with(&format!("\r\n{k}\r\n")))
        })
        .unwrap();
    admin.call(&["SET", left, "x"]);
    let push = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
    assert!(push.ends_with(&format!("\r\n{left}\r\n")), "{push}");
    // A closed client stops counting.
    drop(c);
    std::thread::sleep(Duration::from_millis(100));
    let info = admin.call(&["INFO", "clients"]);
    assert!(info.contains("tracking_clients:0\r\n"), "{info}");
}
