//! Rate limits per ACL user and per client address, over RESP and HTTP: what runs is
//! counted (an `INCR` per command), refusals name the limit, and nothing refused runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{encode, read_reply, TestServer};

/// Sends `n` `INCR counter` in one pipeline; returns (answered OK, refused) and checks
/// that every refusal names `whose`.
fn burst(c: &mut common::Raw, n: usize, whose: &str) -> (usize, usize) {
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend(encode(&[b"INCR", b"counter"]));
    }
    c.send(&out);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..n {
        let reply = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
        if reply.starts_with(':') {
            ok += 1;
        } else {
            assert!(reply.starts_with("-ERR rate limit of "), "{reply}");
            assert!(reply.contains(whose), "{reply}");
            refused += 1;
        }
    }
    (ok, refused)
}

#[test]
fn a_users_limit_lets_its_burst_through_and_refuses_the_rest() {
    let server = TestServer::start();
    let mut admin = server.raw();
    assert_eq!(
        admin.call(&[
            "ACL",
            "SETUSER",
            "app",
            "on",
            ">pw",
            "~*",
            "+@all",
            "ratelimit=1/10"
        ]),
        "+OK\r\n"
    );
    let list = admin.call(&["ACL", "LIST"]);
    assert!(list.contains("ratelimit=1/10"), "{list}");
    let mut app = server.raw();
    assert_eq!(app.call(&["AUTH", "app", "pw"]), "+OK\r\n");
    let (ok, refused) = burst(
        &mut app,
        50,
        "user 'app' reached (1 commands per second, bursts of 10)",
    );
    // The burst, and perhaps a token that refilled meanwhile.
    assert!((10..=11).contains(&ok), "{ok} ran");
    assert_eq!(ok + refused, 50);
    // What ran is exactly what was answered: refused commands did not run.
    assert_eq!(
        admin.call(&["GET", "counter"]),
        format!("${}\r\n{ok}\r\n", ok.to_string().len())
    );
    // Another connection of the same user shares the bucket.
    let mut again = server.raw();
    assert_eq!(again.call(&["AUTH", "app", "pw"]), "+OK\r\n");
    assert!(again
        .call(&["INCR", "counter"])
        .starts_with("-ERR rate limit"));
    // Tokens come back at the rate.
    std::thread::sleep(Duration::from_millis(2100));
    let (ok2, _) = burst(&mut app, 5, "user 'app'");
    assert!((2..=4).contains(&ok2), "{ok2} ran after two seconds");
    // Other users are not limited; changed at run time.
    assert_eq!(burst(&mut admin, 30, "-").0, 30);
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "app", "noratelimit"]),
        "+OK\r\n"
    );
    assert_eq!(burst(&mut app, 30, "-").0, 30);
    let info = admin.call(&["INFO", "stats"]);
    assert!(info.contains("ratelimit_rejected_user:"), "{info}");
    assert!(!info.contains("ratelimit_rejected_user:0\r\n"), "{info}");
}

#[test]
fn the_per_address_limit_covers_resp_and_http() {
    let server = TestServer::start_with(&["--ratelimit-per-address", "5/5"]);
    let mut a = server.raw();
    // The start-up probe's PING took a token or two of the same address.
    let (ok, refused) = burst(
        &mut a,
        20,
        "this client address reached (5 commands per second, bursts of 5)",
    );
    assert!((3..=6).contains(&ok), "{ok}");
    assert_eq!(ok + refused, 20);
    // Every connection from the address shares it.
    let mut b = server.raw();
    assert!(b.call(&["INCR", "counter"]).starts_with("-ERR rate limit"));
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        a.call(&["GET", "counter"]),
        format!("${}\r\n{ok}\r\n", ok.to_string().len())
    );
    // AUTH and the like still answer.
    assert!(b.call(&["HELLO", "2"]).starts_with("*"));
    // Changed at run time, checked as CONFIG SET checks values.
    assert!(b
        .call(&["CONFIG", "SET", "ratelimit-per-address", "x"])
        .starts_with("-ERR"));
    std::thread::sleep(Duration::from_millis(300));
    let set = b.call(&["CONFIG", "SET", "ratelimit-per-address", "1000/1000"]);
    assert!(
        set == "+OK\r\n" || set.starts_with("-ERR rate limit"),
        "{set}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let set = b.call(&["CONFIG", "SET", "ratelimit-per-address", "1000/1000"]);
    assert_eq!(set, "+OK\r\n");
    assert_eq!(
        b.call(&["CONFIG", "GET", "ratelimit-per-address"]),
        "*2\r\n$21\r\nratelimit-per-address\r\n$9\r\n1000/1000\r\n"
    );
    assert_eq!(burst(&mut a, 200, "-").0, 200);
    assert_eq!(
        b.call(&["CONFIG", "SET", "ratelimit-per-address", "2/2"]),
        "+OK\r\n"
    );
    // HTTP requests count too: 429 with Retry-After.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = format!("{}/api/v1/key/counter", server.http());
    let statuses: Vec<(u16, Option<String>)> = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut out = Vec::new();
        for _ in 0..6 {
            let r = http.get(&url).send().await.unwrap();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or_default().to_string());
            out.push((r.status().as_u16(), retry));
        }
        out
    });
    let limited: Vec<_> = statuses.iter().filter(|(s, _)| *s == 429).collect();
    assert!(limited.len() >= 3, "{statuses:?}");
    assert!(
        limited.iter().all(|(_, r)| r.as_deref() == Some("1")),
        "{statuses:?}"
    );
    let metrics = rt.block_on(async {
        reqwest::get(format!("{}/metrics", server.http()))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    // The metrics request itself may be refused; the counter is then read over RESP.
    if metrics.contains("flashdb_ratelimit_rejected_total") {
        assert!(
            !metrics.contains("flashdb_ratelimit_rejected_total{limit=\"address\"} 0\n"),
            "{metrics}"
        );
    }
    let info = b.call(&["INFO", "stats"]);
    assert!(!info.contains("ratelimit_rejected_address:0\r\n"), "{info}");
}
