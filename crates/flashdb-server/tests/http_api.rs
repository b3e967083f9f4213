//! The HTTP API over real HTTP connections to the real binary: every route's success and
//! error shapes, base64 round trips, authentication, health, statistics and metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use redis::Commands;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Sends a request; returns status, the `X-Request-Id` header and the JSON body.
async fn call(
    c: &Client,
    method: Method,
    url: &str,
    body: Option<&str>,
) -> (StatusCode, String, Value) {
    let mut req = c.request(method, url);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let id = res
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{url}: content-type {ct:?}, body {text}"
    );
    (status, id, serde_json::from_str(&text).unwrap())
}

/// Asserts the error format: status, code, and the request id of the header.
fn assert_error(got: &(StatusCode, String, Value), status: StatusCode, code: &str) {
    let (st, id, body) = got;
    assert_eq!(*st, status, "{body}");
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["error"]["code"], json!(code), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["details"].is_object(), "{body}");
    assert!(!id.is_empty());
    assert_eq!(
        body["request_id"],
        json!(id),
        "the error names the request's id"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_routes_store_and_read_every_type() {
    let s = TestServer::start();
    let c = client();
    let base = s.http();
    let key = |k: &str| format!("{base}/api/v1/key/{k}");

    let r = call(
        &c,
        Method::PUT,
        &key("greeting"),
        Some(r#"{"value": "héllo", "ttl_ms": 100000}"#),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.2);
    assert_eq!(
        r.2,
        json!({"success": true, "key": "greeting", "type": "string"})
    );
    let r = call(&c, Method::GET, &key("greeting"), None).await;
    assert_eq!(r.2["value"], json!("héllo"));
    assert_eq!(r.2["type"], json!("string"));
    let ttl = r.2["ttl_ms"].as_u64().unwrap();
    assert!(ttl > 90_000 && ttl <= 100_000, "{ttl}");

    // Each collection type, replacing whatever the key held.
    let bodies = [
        (
            "h",
            r#"{"type": "hash", "value": {"a": "1", "b": "two"}}"#,
            json!({"a": "1", "b": "two"}),
        ),
        (
            "l",
            r#"{"type": "list", "value": ["x", "y", "x"]}"#,
            json!(["x", "y", "x"]),
        ),
        (
            "z",
            r#"{"type": "zset", "value": [{"member": "m2", "score": 2}, {"member": "m1", "score": 1.5}]}"#,
            json!([{"member": "m1", "score": 1.5}, {"member": "m2", "score": 2.0}]),
        ),
    ];
    for (k, body, value) in bodies {
        let r = call(&c, Method::PUT, &key(k), Some(body)).await;
        assert_eq!(r.0, StatusCode::OK, "{}", r.2);
        let r = call(&c, Method::GET, &key(k), None).await;
        assert_eq!(r.2["value"], value, "{k}");
        assert_eq!(r.2["ttl_ms"], Value::Null);
    }
    let r = call(
        &c,
        Method::PUT,
        &key("s"),
        Some(r#"{"type": "set", "value": ["b", "a", "b"], "ttl_ms": 5000}"#),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK);
    let r = call(&c, Method::GET, &key("s"), None).await;
    let mut members: Vec<String> = serde_json::from_value(r.2["value"].clone()).unwrap();
    members.sort();
    assert_eq!(members, ["a", "b"]);
    assert!(r.2["ttl_ms"].as_u64().unwrap() <= 5000);

    // What HTTP wrote, RESP reads, and the other way round.
    let mut conn = s.client();
    let h: Vec<(String, String)> = redis::cmd("HGETALL").arg("h").query(&mut conn).unwrap();
    assert_eq!(h.len(), 2);
    let l: Vec<String> = conn.lrange("l", 0, -1).unwrap();
    assert_eq!(l, ["x", "y", "x"]);
    let _: () = conn.rpush("l", "z").unwrap();
    let r = call(&c, Method::GET, &key("l"), None).await;
    assert_eq!(r.2["value"], json!(["x", "y", "x", "z"]));
    // A PUT of another type replaces the old value wholly.
    call(
        &c,
        Method::PUT,
        &key("l"),
        Some(r#"{"type": "hash", "value": {"k": "v"}}"#),
    )
    .await;
    let t: String = redis::cmd("TYPE").arg("l").query(&mut conn).unwrap();
    assert_eq!(t, "hash");

    // Queues show their QINFO figures.
    let _: String = redis::cmd("QADD")
        .arg("jobs")
        .arg("j")
        .query(&mut conn)
        .unwrap();
    let r = call(&c, Method::GET, &key("jobs"), None).await;
    assert_eq!(r.2["type"], json!("queue"));
    assert_eq!(r.2["value"]["ready"], json!(1));
    assert_eq!(r.2["value"]["lease_ms"], json!(30000));

    // Streams show their length and first entries, field-value pairs in order.
    for (id, f, v) in [("1-1", "a", "1"), ("2-0", "b", "2")] {
        let _: String = redis::cmd("XADD")
            .arg("events")
            .arg(id)
            .arg(f)
            .arg(v)
            .query(&mut conn)
            .unwrap();
    }
    let r = call(&c, Method::GET, &key("events"), None).await;
    assert_eq!(r.2["type"], json!("stream"));
    assert_eq!(
        r.2["value"],
        json!({"length": 2, "entries": [
            {"id": "1-1", "fields": [["a", "1"]]},
            {"id": "2-0", "fields": [["b", "2"]]},
        ]})
    );

    // Deleting: 200 once, then 404.
    let r = call(&c, Method::DELETE, &key("h"), None).await;
    assert_eq!(r.2, json!({"success": true, "key": "h", "deleted": true}));
    let r = call(&c, Method::DELETE, &key("h"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "KEY_NOT_FOUND");
    let r = call(&c, Method::GET, &key("h"), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "KEY_NOT_FOUND");

    // Another database.
    call(
        &c,
        Method::PUT,
        &format!("{}?db=3", key("d")),
        Some(r#"{"value": "in3"}"#),
    )
    .await;
    let _: () = redis::cmd("SELECT").arg(3).query(&mut conn).unwrap();
    let v: String = conn.get("d").unwrap();
    assert_eq!(v, "in3");
    let r = call(&c, Method::GET, &format!("{}?db=99", key("d")), None).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_that_are_not_utf8_travel_as_base64() {
    let s = TestServer::start();
    let c = client();
    let base = s.http();
    let mut conn = s.client();
    // A binary key in the path (percent-encoded) and a binary value sent as base64.
    let r = call(
        &c,
        Method::PUT,
        &format!("{base}/api/v1/key/bin%FF"),
        Some(r#"{"value": "AP8Q", "encoding": "base64"}"#),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK, "{}", r.2);
    let v: Vec<u8> = conn.get(b"bin\xff".as_slice()).unwrap();
    assert_eq!(v, [0x00, 0xff, 0x10]);
    let r = call(&c, Method::GET, &format!("{base}/api/v1/key/bin%FF"), None).await;
    assert_eq!(r.2["encoding"], json!("base64"));
    assert_eq!(r.2["value"], json!("AP8Q"));
    assert_eq!(r.2["key"], json!("Ymlu/w=="));
    // A hash with one binary field: every string of the answer is base64.
    let _: () = conn.hset("hb", b"f\xfe".as_slice(), "plain").unwrap();
    let r = call(&c, Method::GET, &format!("{base}/api/v1/key/hb"), None).await;
    assert_eq!(r.2["encoding"], json!("base64"));
    assert_eq!(r.2["value"], json!({"Zv4=": "cGxhaW4="}));
    // Text stays text.
    let _: () = conn.set("t", "plain").unwrap();
    let r = call(&c, Method::GET, &format!("{base}/api/v1/key/t"), None).await;
    assert_eq!(r.2.get("encoding"), None);
    // Execute, both ways.
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/v1/execute"),
        Some(r#"{"command": ["U0VU", "azE=", "/w=="], "encoding": "base64"}"#),
    )
    .await;
    assert_eq!(r.2["result"], json!("OK"));
    let v: Vec<u8> = conn.get("k1").unwrap();
    assert_eq!(v, [0xff]);
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/v1/execute"),
        Some(r#"{"command": ["GET", "k1"]}"#),
    )
    .await;
    assert_eq!(
        r.2,
        json!({"success": true, "result": "/w==", "encoding": "base64"})
    );
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/v1/execute"),
        Some(r#"{"command": ["GET"], "encoding": "base64"}"#),
    )
    .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    // Scanning a page with a binary key.
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/v1/keys?pattern=bin*"),
        None,
    )
    .await;
    assert_eq!(
        r.2,
        json!({"success": true, "keys": ["Ymlu/w=="], "cursor": "0", "encoding": "base64"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_answers_as_a_resp_client_is_answered() {
    let s = TestServer::start();
    let c = client();
    let url = format!("{}/api/v1/execute", s.http());
    let exec = |body: &'static str| {
        let c = c.clone();
        let url = url.clone();
        async move { call(&c, Method::POST, &url, Some(body)).await }
    };
    assert_eq!(
        exec(r#"{"command": ["SET", "n", 41]}"#).await.2,
        json!({"success": true, "result": "OK"})
    );
    assert_eq!(
        exec(r#"{"command": ["INCR", "n"]}"#).await.2["result"],
        json!(42)
    );
    assert_eq!(
        exec(r#"{"command": ["GET", "missing"]}"#).await.2["result"],
        Value::Null
    );
    exec(r#"{"command": ["HSET", "h", "a", "1", "b", "2"]}"#).await;
    // RESP3 maps become objects, sets arrays, doubles numbers.
    assert_eq!(
        exec(r#"{"command": ["HGETALL", "h"]}"#).await.2["result"],
        json!({"a": "1", "b": "2"})
    );
    exec(r#"{"command": ["ZADD", "z", "1.5", "m"]}"#).await;
    assert_eq!(
        exec(r#"{"command": ["ZSCORE", "z", "m"]}"#).await.2["result"],
        json!(1.5)
    );
    // Scripts and functions run like any command.
    assert_eq!(
        exec(r#"{"command": ["EVAL", "redis.call('set', KEYS[1], ARGV[1]); return {redis.call('get', KEYS[1]), 7}", "1", "scripted", "v"]}"#)
            .await
            .2["result"],
        json!(["v", 7])
    );
    assert_eq!(
        exec(r##"{"command": ["FUNCTION", "LOAD", "#!lua name=web\nredis.register_function('echo', function(keys, args) return args[1] end)"]}"##)
            .await
            .2["result"],
        json!("web")
    );
    assert_eq!(
        exec(r#"{"command": ["FCALL", "echo", "0", "hi"]}"#).await.2["result"],
        json!("hi")
    );
    assert_eq!(
        exec(r#"{"command": ["ZRANGE", "z", 0, -1, "WITHSCORES"]}"#)
            .await
            .2["result"],
        json!([["m", 1.5]])
    );
    exec(r#"{"command": ["SADD", "s", "only"]}"#).await;
    assert_eq!(
        exec(r#"{"command": ["SMEMBERS", "s"]}"#).await.2["result"],
        json!(["only"])
    );
    // Error replies: COMMAND_ERROR with Redis's message, word for word.
    let r = exec(r#"{"command": ["INCR", "h"]}"#).await;
    assert_error(&r, StatusCode::CONFLICT, "COMMAND_ERROR");
    assert_eq!(
        r.2["error"]["message"],
        json!("WRONGTYPE Operation against a key holding the wrong kind of value")
    );
    let r = exec(r#"{"command": ["GET"]}"#).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "COMMAND_ERROR");
    assert_eq!(
        r.2["error"]["message"],
        json!("ERR wrong number of arguments for 'get' command")
    );
    let r = exec(r#"{"command": ["NOPE", "x"]}"#).await;
    assert_eq!(
        r.2["error"]["message"],
        json!("ERR unknown command 'NOPE', with args beginning with: 'x' ")
    );
    // Connection-bound commands are refused with a pointer.
    for cmd in ["SUBSCRIBE", "MULTI", "SELECT", "MONITOR"] {
        let body = format!(r#"{{"command": ["{cmd}", "1"]}}"#);
        let r = call(&c, Method::POST, &url, Some(&body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "COMMAND_NOT_ALLOWED");
    }
    let r = exec(r#"{"command": []}"#).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let r = exec(r#"{"command": [["nested"]]}"#).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    // The database field.
    exec(r#"{"command": ["SET", "where", "db5"], "db": 5}"#).await;
    assert_eq!(
        exec(r#"{"command": ["GET", "where"]}"#).await.2["result"],
        Value::Null
    );
    assert_eq!(
        exec(r#"{"command": ["GET", "where"], "db": 5}"#).await.2["result"],
        json!("db5")
    );
    // Commands over HTTP count in the statistics like any.
    let r = exec(r#"{"command": ["INFO", "commandstats"]}"#).await;
    assert!(
        r.2["result"]
            .as_str()
            .unwrap()
            .contains("cmdstat_incr:calls=2"),
        "{}",
        r.2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_scanned_a_page_at_a_time() {
    let s = TestServer::start();
    let c = client();
    let mut conn = s.client();
    let mut pipe = redis::pipe();
    for i in 0..2500 {
        pipe.set(format!("user:{i}"), i).ignore();
    }
    pipe.hset("hash:1", "f", "v").ignore();
    let _: () = pipe.query(&mut conn).unwrap();
    let mut seen = std::collections::HashSet::new();
    let mut cursor = "0".to_string();
    let mut pages = 0;
    loop {
        let url = format!(
            "{}/api/v1/keys?pattern=user:*&count=1000&cursor={cursor}",
            s.http()
        );
        let (st, _, body) = call(&c, Method::GET, &url, None).await;
        assert_eq!(st, StatusCode::OK, "{body}");
        pages += 1;
        let keys = body["keys"].as_array().unwrap();
        assert!(keys.len() <= 2000, "a page is bounded: {}", keys.len());
        for k in keys {
            let k = k.as_str().unwrap();
            assert!(k.starts_with("user:"));
            seen.insert(k.to_string());
        }
        cursor = body["cursor"].as_str().unwrap().to_string();
        if cursor == "0" {
            break;
        }
        assert!(pages < 100, "the scan ends");
    }
    assert_eq!(seen.len(), 2500);
    assert!(pages >= 2, "2,500 keys take more than one page of 1,000");
    let r = call(
        &c,
        Method::GET,
        &format!("{}/api/v1/keys?type=hash&count=1000", s.http()),
        None,
    )
    .await;
    let mut keys: Vec<String> = Vec::new();
    let mut body = r.2;
    loop {
        keys.extend(
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap().to_string()),
        );
        if body["cursor"] == json!("0") {
            break;
        }
        let url = format!(
            "{}/api/v1/keys?type=hash&count=1000&cursor={}",
            s.http(),
            body["cursor"].as_str().unwrap()
        );
        body = call(&c, Method::GET, &url, None).await.2;
    }
    assert_eq!(keys, ["hash:1"]);
    for bad in [
        "count=1001",
        "count=0",
        "count=x",
        "cursor=abc",
        "cursor=-1",
        "unknown=1",
    ] {
        let r = call(
            &c,
            Method::GET,
            &format!("{}/api/v1/keys?{bad}", s.http()),
            None,
        )
        .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_the_error_format() {
    let s = TestServer::start_with(&["--http-max-body", "1kb"]);
    let c = client();
    let base = s.http();
    let key = format!("{base}/api/v1/key/k");
    // Each bad body is refused with a 400 and its code; nothing is stored.
    let bad_bodies: &[(&str, &str)] = &[
        ("{\"value\": ", "INVALID_JSON"),
        ("[1, 2]", "INVALID_REQUEST"),
        (r#"{"value": "v", "ttl": 5}"#, "INVALID_REQUEST"),
        (r#"{"value": "v", "ttl_ms": "soon"}"#, "INVALID_REQUEST"),
        (r#"{"value": "v", "ttl_ms": 0}"#, "INVALID_REQUEST"),
        (r#"{"value": "v", "ttl_ms": -5}"#, "INVALID_REQUEST"),
        (r#"{"type": "hash", "value": ["x"]}"#, "INVALID_REQUEST"),
        (r#"{"type": "list", "value": []}"#, "INVALID_REQUEST"),
        (
            r#"{"type": "zset", "value": [{"member": "m", "score": "x"}]}"#,
            "INVALID_REQUEST",
        ),
        (r#"{"type": "blob", "value": "x"}"#, "INVALID_REQUEST"),
        (
            r#"{"value": "***", "encoding": "base64"}"#,
            "INVALID_REQUEST",
        ),
        (r#"{"value": "x", "encoding": "rot13"}"#, "INVALID_REQUEST"),
    ];
    for (body, code) in bad_bodies {
        let r = call(&c, Method::PUT, &key, Some(body)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, code);
    }
    // Too large: 413, with nothing stored.
    let big = format!(r#"{{"value": "{}"}}"#, "x".repeat(2048));
    assert_error(
        &call(&c, Method::PUT, &key, Some(&big)).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    );
    let mut conn = s.client();
    let exists: i64 = conn.exists("k").unwrap();
    assert_eq!(exists, 0);
    // Unknown routes and wrong methods.
    assert_error(
        &call(&c, Method::GET, &format!("{base}/api/v1/nothing"), None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &call(&c, Method::GET, &format!("{base}/nothing"), None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_error(
        &call(&c, Method::POST, &format!("{base}/api/v1/stats"), None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    assert_error(
        &call(&c, Method::PATCH, &key, Some("{}")).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    );
    // Wrong types conflict.
    let _: () = conn.rpush("list", "a").unwrap();
    assert_error(
        &call(
            &c,
            Method::POST,
            &format!("{base}/api/v1/queues/list/enqueue"),
            Some(r#"{"value": "x"}"#),
        )
        .await,
        StatusCode::CONFLICT,
        "WRONG_TYPE",
    );
    // A client's request id is kept when it is sane, and replaced when it is not.
    let res = c
        .get(format!("{base}/api/v1/nothing"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-42");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["request_id"], json!("trace-42"));
    let res = c
        .get(format!("{base}/api/v1/nothing"))
        .header("x-request-id", "bad id")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id");
}

#[tokio::test(flavor = "multi_thread")]
async fn queue_routes_serve_both_apis() {
    let s = TestServer::start();
    let c = client();
    let base = s.http();
    let q = |path: &str| format!("{base}/api/v1/queues/{path}");
    let r = call(
        &c,
        Method::POST,
        &q("jobs/enqueue"),
        Some(r#"{"value": "first"}"#),
    )
    .await;
    assert_eq!(r.2["success"], json!(true));
    assert_eq!(r.2["queue"], json!("jobs"));
    assert_eq!(r.2["value"], json!("first"));
    assert_eq!(r.2["size"], json!(1));
    let first_id = r.2["id"].as_str().unwrap().to_string();
    let r = call(
        &c,
        Method::POST,
        &q("jobs/enqueue"),
        Some(r#"{"value": "urgent", "priority": 9}"#),
    )
    .await;
    assert_eq!(r.2["size"], json!(2));
    call(
        &c,
        Method::POST,
        &q("jobs/enqueue"),
        Some(r#"{"value": "later", "delay_ms": 60000}"#),
    )
    .await;
    assert_eq!(
        call(&c, Method::GET, &q("jobs/size"), None).await.2,
        json!({"success": true, "queue": "jobs", "size": 2})
    );
    assert_eq!(
        call(&c, Method::GET, &q("jobs/peek"), None).await.2,
        json!({"success": true, "queue": "jobs", "value": "urgent"})
    );
    // Reserve with a lease: the answer carries the id; ack deletes it.
    let r = call(
        &c,
        Method::POST,
        &q("jobs/dequeue"),
        Some(r#"{"lease_ms": 60000}"#),
    )
    .await;
    assert_eq!(r.2["value"], json!("urgent"));
    assert_eq!(r.2["deliveries"], json!(1));
    let urgent_id = r.2["id"].as_str().unwrap().to_string();
    let info = call(&c, Method::GET, &q("jobs"), None).await.2;
    assert_eq!(
        (
            info["info"]["ready"].clone(),
            info["info"]["leased"].clone(),
            info["info"]["delayed"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    let r = call(
        &c,
        Method::POST,
        &q("jobs/ack"),
        Some(&format!(r#"{{"ids": ["{urgent_id}", "999-00000000"]}}"#)),
    )
    .await;
    assert_eq!(r.2, json!({"success": true, "queue": "jobs", "count": 1}));
    // Reserve, nack: back in the queue with its delivery count.
    let r = call(
        &c,
        Method::POST,
        &q("jobs/dequeue"),
        Some(r#"{"lease_ms": 60000}"#),
    )
    .await;
    assert_eq!(r.2["id"], json!(first_id));
    let r = call(
        &c,
        Method::POST,
        &q("jobs/nack"),
        Some(&format!(r#"{{"ids": ["{first_id}"]}}"#)),
    )
    .await;
    assert_eq!(r.2["count"], json!(1));
    let r = call(
        &c,
        Method::POST,
        &q("jobs/dequeue"),
        Some(r#"{"lease_ms": 1000}"#),
    )
    .await;
    assert_eq!(
        (r.2["value"].clone(), r.2["deliveries"].clone()),
        (json!("first"), json!(2))
    );
    // Bad ids and bodies.
    assert_error(
        &call(&c, Method::POST, &q("jobs/ack"), Some(r#"{"ids": []}"#)).await,
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
    );
    assert_error(
        &call(
            &c,
            Method::POST,
            &q("jobs/ack"),
            Some(r#"{"ids": ["nonsense"]}"#),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "COMMAND_ERROR",
    );
    assert_error(
        &call(
            &c,
            Method::POST,
            &q("jobs/enqueue"),
            Some(r#"{"value": "x", "priority": 256}"#),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
    );
    assert_error(
        &call(&c, Method::POST, &q("jobs/enqueue"), Some(r#"{}"#)).await,
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
    );
    assert_error(
        &call(
            &c,
            Method::POST,
            &q("jobs/dequeue"),
            Some(r#"{"wait_ms": 99999999}"#),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_REQUEST",
    );
    // A pop with nothing ready answers a null value.
    let r = call(&c, Method::POST, &q("empty/dequeue"), None).await;
    assert_eq!(
        r.2,
        json!({"success": true, "queue": "empty", "value": null})
    );
    // Long polling: a dequeue that waits is served by a push over RESP.
    let url = q("waiting/dequeue");
    let waiter = {
        let c = c.clone();
        tokio::spawn(
            async move { call(&c, Method::POST, &url, Some(r#"{"wait_ms": 10000}"#)).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut conn = s.client();
    let _: i64 = redis::cmd("QPUSH")
        .arg("waiting")
        .arg("pushed")
        .query(&mut conn)
        .unwrap();
    let r = waiter.await.unwrap();
    assert_eq!(r.2["value"], json!("pushed"));
    // Listing: a page of queues with their sizes.
    let r = call(&c, Method::GET, &format!("{base}/api/v1/queues"), None).await;
    let names: Vec<&str> = r.2["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["jobs", "waiting"], "{}", r.2);
    assert_eq!(r.2["cursor"], json!("0"));
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/v1/queues?count=1"),
        None,
    )
    .await;
    assert_eq!(r.2["count"], json!(1));
    let next = r.2["cursor"].as_str().unwrap().to_string();
    assert_ne!(next, "0");
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/v1/queues?count=1&cursor={next}"),
        None,
    )
    .await;
    assert_eq!(r.2["queues"][0]["name"], json!("waiting"));
    // Deleting: only a queue, 404 when there is none.
    let r = call(&c, Method::DELETE, &q("jobs"), None).await;
    assert_eq!(r.2, json!({"success": true, "queue": "jobs"}));
    assert_error(
        &call(&c, Method::DELETE, &q("jobs"), None).await,
        StatusCode::NOT_FOUND,
        "QUEUE_NOT_FOUND",
    );
    let _: () = conn.set("plain", "x").unwrap();
    assert_error(
        &call(&c, Method::DELETE, &q("plain"), None).await,
        StatusCode::CONFLICT,
        "WRONG_TYPE",
    );
    let v: String = conn.get("plain").unwrap();
    assert_eq!(v, "x", "a key of another type is not deleted");
}

/// The original store's routes keep their response shapes (seed 004).
#[tokio::test(flavor = "multi_thread")]
async fn legacy_routes_keep_their_shapes() {
    let s = TestServer::start();
    let c = client();
    let base = s.http();
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/kv/myKey"),
        Some(r#"{"value": "newValue"}"#),
    )
    .await;
    assert_eq!(
        r.2,
        json!({"success": true, "key": "myKey", "value": "newValue"})
    );
    let r = call(&c, Method::GET, &format!("{base}/api/kv/myKey"), None).await;
    assert_eq!(
        r.2,
        json!({"success": true, "key": "myKey", "value": "newValue"})
    );
    let r = call(&c, Method::GET, &format!("{base}/api/kv"), None).await;
    assert_eq!(r.2, json!({"success": true, "data": {"myKey": "newValue"}}));
    let r = call(&c, Method::DELETE, &format!("{base}/api/kv/myKey"), None).await;
    assert_eq!(r.2, json!({"success": true, "key": "myKey"}));
    assert_error(
        &call(&c, Method::GET, &format!("{base}/api/kv/myKey"), None).await,
        StatusCode::NOT_FOUND,
        "KEY_NOT_FOUND",
    );

    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/queue/myQueue/enqueue"),
        Some(r#"{"value": "item1"}"#),
    )
    .await;
    assert_eq!(
        (
            r.2["success"].clone(),
            r.2["queue"].clone(),
            r.2["value"].clone(),
            r.2["size"].clone()
        ),
        (json!(true), json!("myQueue"), json!("item1"), json!(1))
    );
    call(
        &c,
        Method::POST,
        &format!("{base}/api/queue/myQueue/enqueue"),
        Some(r#"{"value": {"n": 2}}"#),
    )
    .await;
    let r = call(&c, Method::GET, &format!("{base}/api/queue"), None).await;
    assert_eq!(
        r.2,
        json!({"success": true, "queues": ["myQueue"], "count": 1})
    );
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/queue/myQueue/size"),
        None,
    )
    .await;
    assert_eq!(r.2, json!({"success": true, "queue": "myQueue", "size": 2}));
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/queue/myQueue/peek"),
        None,
    )
    .await;
    assert_eq!(
        r.2,
        json!({"success": true, "queue": "myQueue", "value": "item1"})
    );
    // A bare POST, as the original clients send it.
    let res = c
        .post(format!("{base}/api/queue/myQueue/dequeue"))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": true, "queue": "myQueue", "value": "item1"})
    );
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/queue/myQueue/dequeue"),
        None,
    )
    .await;
    assert_eq!(
        r.2["value"],
        json!("{\"n\":2}"),
        "JSON values are stored as their text"
    );
    let r = call(
        &c,
        Method::DELETE,
        &format!("{base}/api/queue/myQueue"),
        None,
    )
    .await;
    assert_eq!(r.2, json!({"success": true, "queue": "myQueue"}));
    let r = call(&c, Method::DELETE, &format!("{base}/api/queue/never"), None).await;
    assert_eq!(r.2, json!({"success": true, "queue": "never"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_guards_every_route_but_health() {
    let s = TestServer::start_with(&["--requirepass", "s3cret"]);
    let c = client();
    let base = s.http();
    let r = call(&c, Method::GET, &format!("{base}/api/v1/stats"), None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
    let res = c
        .get(format!("{base}/api/v1/stats"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key("www-authenticate"));
    let res = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = c
        .get(format!("{base}/api/v1/stats"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = c
        .post(format!("{base}/api/v1/execute"))
        .basic_auth("default", Some("s3cret"))
        .body(r#"{"command": ["PING"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"success": true, "result": "PONG"})
    );
    for path in ["/api/v1/healthz", "/api/v1/readyz"] {
        let res = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_waits_for_recovery() {
    let dir = common::temp_dir("http-ready");
    let s = TestServer::spawn_in(
        &dir,
        &["--log-level", "info"],
        &[("FLASHDB_FAILPOINTS", "recovery-pause=1500")],
    );
    let c = client();
    let base = s.http();
    let live = call(&c, Method::GET, &format!("{base}/api/v1/healthz"), None).await;
    assert_eq!(live.2, json!({"success": true, "status": "ok"}));
    let r = call(&c, Method::GET, &format!("{base}/api/v1/readyz"), None).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "LOADING");
    let r = call(
        &c,
        Method::PUT,
        &format!("{base}/api/v1/key/k"),
        Some(r#"{"value": "v"}"#),
    )
    .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "LOADING");
    assert!(
        !s.log_text().contains("ready to accept connections"),
        "ready is not claimed while loading: {}",
        s.log_text()
    );
    s.wait_ready();
    let r = call(&c, Method::GET, &format!("{base}/api/v1/readyz"), None).await;
    assert_eq!(r.2, json!({"success": true, "status": "ready"}));
    assert!(
        s.log_text().contains("ready to accept connections"),
        "{}",
        s.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_and_metrics_report_the_server() {
    let s = TestServer::start();
    let c = client();
    let base = s.http();
    let mut conn = s.client();
    for i in 0..10 {
        let _: () = conn.set(format!("k{i}"), i).unwrap();
    }
    let _: () = conn.set_ex("ttl", 1, 100).unwrap();
    let _: String = redis::cmd("QADD")
        .arg("q")
        .arg("m")
        .query(&mut conn)
        .unwrap();
    let r = call(&c, Method::GET, &format!("{base}/api/v1/stats"), None).await;
    assert_eq!(r.2["keys"], json!(12));
    assert_eq!(r.2["ready"], json!(true));
    assert!(r.2["clients"].as_u64().unwrap() >= 1);
    assert!(r.2["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(r.2["info"]["keyspace"]["db0"]["keys"], json!(12));
    assert_eq!(r.2["info"]["keyspace"]["db0"]["expires"], json!(1));
    assert_eq!(r.2["info"]["server"]["redis_version"], json!("7.0.15"));
    assert_eq!(r.2["persistence"]["loading"], json!(0));

    let res = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = res.text().await.unwrap();
    // Every sample line is `name{labels} number`, and every name has its TYPE.
    let mut typed = std::collections::HashSet::new();
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.insert(rest.split(' ').next().unwrap().to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let name = series.split('{').next().unwrap();
        let base_name = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            typed.contains(name) || typed.contains(base_name),
            "no TYPE for {name}"
        );
        assert!(name.starts_with("flashdb_"), "{name}");
        samples.insert(series.to_string(), v);
    }
    assert_eq!(
        samples["flashdb_commands_total{command=\"set\",result=\"ok\"}"],
        10.0
    );
    assert_eq!(samples["flashdb_keys{db=\"0\"}"], 12.0);
    assert_eq!(samples["flashdb_keys_with_expiry{db=\"0\"}"], 1.0);
    assert_eq!(samples["flashdb_queues"], 1.0);
    assert_eq!(
        samples["flashdb_queue_messages{db=\"0\",queue=\"q\",state=\"ready\"}"],
        1.0
    );
    assert!(samples["flashdb_command_duration_seconds_count"] >= 12.0);
    assert_eq!(
        samples["flashdb_command_duration_seconds_count"],
        samples["flashdb_command_duration_seconds_bucket{le=\"+Inf\"}"]
    );
    assert!(
        samples["flashdb_log_fsync_duration_seconds_count"] >= 1.0,
        "appendfsync always fsyncs"
    );
    assert!(samples["flashdb_log_written_bytes_total"] > 0.0);
    assert!(samples.contains_key("flashdb_snapshot_age_seconds"));
    assert!(samples["flashdb_connected_clients"] >= 1.0);
    // A queue that goes away leaves the metrics.
    let _: i64 = conn.del("q").unwrap();
    let text = c
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("flashdb_queues 0\n"), "{text}");
    assert!(!text.contains("queue=\"q\""));
}

/// A write acknowledged over HTTP is on disk: it survives SIGKILL right after the answer.
#[tokio::test(flavor = "multi_thread")]
async fn http_writes_survive_a_crash() {
    let dir = common::temp_dir("http-crash");
    let mut s = TestServer::start_in(&dir, &[], &[]);
    let c = client();
    let base = s.http();
    for i in 0..20 {
        let r = call(
            &c,
            Method::PUT,
            &format!("{base}/api/v1/key/k{i}"),
            Some(&format!(r#"{{"value": "v{i}"}}"#)),
        )
        .await;
        assert_eq!(r.0, StatusCode::OK);
    }
    call(
        &c,
        Method::PUT,
        &format!("{base}/api/v1/key/h"),
        Some(r#"{"type": "hash", "value": {"f": "v"}}"#),
    )
    .await;
    let r = call(
        &c,
        Method::POST,
        &format!("{base}/api/v1/queues/q/enqueue"),
        Some(r#"{"value": "m"}"#),
    )
    .await;
    assert_eq!(r.0, StatusCode::OK);
    s.kill9();
    let s = TestServer::start_in(&dir, &[], &[]);
    let base = s.http();
    for i in 0..20 {
        let r = call(&c, Method::GET, &format!("{base}/api/v1/key/k{i}"), None).await;
        assert_eq!(r.2["value"], json!(format!("v{i}")));
    }
    let r = call(&c, Method::GET, &format!("{base}/api/v1/key/h"), None).await;
    assert_eq!(r.2["value"], json!({"f": "v"}));
    let r = call(
        &c,
        Method::GET,
        &format!("{base}/api/v1/queues/q/size"),
        None,
    )
    .await;
    assert_eq!(r.2["size"], json!(1));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One raw HTTP/1.1 request; the status code of the answer.
fn raw_status(port: u16, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    // Up to the end of the status line and headers (an upgraded WebSocket stays open).
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("{text:?}"))
}

/// DNS rebinding and cross-site requests: a `Host` the server does not answer to, or an
/// `Origin` of another site, is refused (403) before anything runs; IP addresses,
/// localhost, the health checks and `--http-allowed-hosts` are answered.
#[test]
fn foreign_hosts_and_origins_are_refused() {
    let s = TestServer::start_with(&["--http-allowed-hosts", "db.internal, Cache.Example"]);
    let p = s.http_port;
    let get = |host: &str, path: &str| {
        raw_status(
            p,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(get("evil.example", "/api/v1/stats"), 403);
    assert_eq!(get("evil.example:8080", "/api/v1/keys"), 403);
    assert_eq!(get("evil.example", "/api/v1/healthz"), 200);
    for host in [
        "127.0.0.1",
        "localhost:1234",
        "[::1]:80",
        "db.internal",
        "cache.example:9",
    ] {
        assert_eq!(get(host, "/api/v1/stats"), 200, "{host}");
    }
    let post = |origin: &str, key: &str| {
        let body = format!("{{\"command\": [\"SET\", \"{key}\", \"1\"]}}");
        raw_status(
            p,
            &format!(
                "POST /api/v1/execute HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nOrigin: {origin}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
    };
    assert_eq!(post("http://evil.example", "csrf"), 403);
    assert_eq!(post("null", "csrf2"), 403);
    assert_eq!(post(&format!("http://127.0.0.1:{p}"), "same-origin"), 200);
    assert_eq!(post("https://db.internal", "allowed-origin"), 200);
    let mut c = s.raw();
    assert_eq!(c.call(&["EXISTS", "csrf", "csrf2"]), ":0\r\n");
    assert_eq!(
        c.call(&["EXISTS", "same-origin", "allowed-origin"]),
        ":2\r\n"
    );
    // A WebSocket opened by a page of another site.
    let ws = |origin: &str| {
        raw_status(
            p,
            &format!("GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
        )
    };
    assert_eq!(ws("http://evil.example"), 403);
    assert_eq!(ws(&format!("http://localhost:{p}")), 101);
}

/// Slow and oversized HTTP clients: a declared body over `--http-max-body` is refused at
/// once, a client that never finishes its headers is cut off, and connections past
/// `--http-max-connections` are closed, while the RESP port and a new HTTP client (once
/// one leaves) are still served.
#[test]
fn slow_and_oversized_http_clients_are_cut_off() {
    use std::io::{Read, Write};
    let s = TestServer::start_with(&["--http-max-connections", "4"]);
    let p = s.http_port;
    let started = std::time::Instant::now();
    let status = raw_status(
        p,
        "PUT /api/v1/key/big HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{\"value\": \"",
    );
    assert_eq!(status, 413);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));

    // Four connections that stop in the middle of their headers take every slot (each
    // one is checked to be held open: a slot of the connection above may take a moment
    // to be given back, and a connection over the cap is closed at once)...
    let mut stalled: Vec<std::net::TcpStream> = Vec::new();
    while stalled.len() < 4 {
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        let mut c = std::net::TcpStream::connect(("127.0.0.1", p)).unwrap();
        c.write_all(b"GET /api/v1/stats HTTP/1.1\r\nHost: 127")
            .unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let mut probe = [0u8; 16];
        match c.read(&mut probe) {
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                stalled.push(c)
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
    // ...so a fifth is closed at once, without an answer.
    let mut fifth = std::net::TcpStream::connect(("127.0.0.1", p)).unwrap();
    fifth
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = fifth.write_all(b"GET /api/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut buf = [0u8; 64];
    let got = fifth.read(&mut buf);
    assert!(
        matches!(got, Ok(0) | Err(_)),
        "{got:?} {:?}",
        String::from_utf8_lossy(&buf)
    );
    // RESP is not affected.
    assert_eq!(s.raw().call(&["PING"]), "+PONG\r\n");
    // The stalled clients are cut off by the header timeout (10 s), and their slots serve
    // new clients again.
    for c in &mut stalled {
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(
            !String::from_utf8_lossy(&rest).contains("200 OK"),
            "a request whose headers never ended was answered"
        );
    }
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    let mut ok = false;
    for _ in 0..50 {
        if raw_status(
            p,
            "GET /api/v1/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        ) == 200
        {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ok, "slots were not given back");
}

/// Wrong passwords over HTTP count as over RESP: after 20 from one address, its
/// requests with a password are answered `429` with `Retry-After`, unchecked, the right
/// password included, and RESP `AUTH` from that address is refused too.
#[test]
fn repeated_wrong_passwords_over_http_are_refused() {
    let s = TestServer::start_with(&["--requirepass", "s3cret"]);
    let p = s.http_port;
    let get = |token: &str| {
        raw_status(
            p,
            &format!("GET /api/v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"),
        )
    };
    assert_eq!(get("s3cret"), 200);
    for i in 0..20 {
        assert_eq!(get(&format!("guess{i}")), 401, "guess {i}");
    }
    assert_eq!(get("guess-after"), 429);
    assert_eq!(get("s3cret"), 429);
    let mut c = s.raw();
    assert!(c
        .call(&["AUTH", "s3cret"])
        .starts_with("-ERR too many wrong passwords from this address"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_runs_commands_in_order_and_answers_each_in_place() {
    let server = TestServer::start();
    let c = client();
    let url = format!("{}/api/v1/pipeline", server.http());
    let body = json!({"commands": [
        ["SET", "p", "1"],
        ["INCR", "p"],
        ["HSET", "p", "f", "v"],
        ["GET", "p"],
        ["SUBSCRIBE", "ch"],
        ["GET", "nothing"],
        [],
    ]});
    let got = call(&c, Method::POST, &url, Some(&body.to_string())).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.2);
    let replies = got.2["replies"].as_array().unwrap().clone();
    assert_eq!(replies.len(), 7);
    assert_eq!(replies[0], json!({"result": "OK"}));
    assert_eq!(replies[1], json!({"result": 2}));
    assert_eq!(
        replies[2],
        json!({"error": "WRONGTYPE Operation against a key holding the wrong kind of value"})
    );
    // Later commands see the earlier ones' writes, and run after an error.
    assert_eq!(replies[3], json!({"result": "2"}));
    assert!(
        replies[4]["error"]
            .as_str()
            .unwrap()
            .starts_with("ERR SUBSCRIBE needs a connection of its own"),
        "{}",
        replies[4]
    );
    assert_eq!(replies[5], json!({"result": null}));
    assert_eq!(replies[6], json!({"error": "ERR empty command"}));
    // Arguments may come base64-encoded (SET bin \xff, GET bin, GET p); a binary reply
    // comes base64-encoded, that reply alone.
    let body = json!({"commands": [["U0VU", "Ymlu", "/w=="], ["R0VU", "Ymlu"], ["R0VU", "cA=="]], "encoding": "base64"});
    let got = call(&c, Method::POST, &url, Some(&body.to_string())).await;
    assert_eq!(
        got.2["replies"][1],
        json!({"result": "/w==", "encoding": "base64"}),
        "{}",
        got.2
    );
    assert_eq!(got.2["replies"][2], json!({"result": "2"}), "{}", got.2);
    // Bounds: no commands, or more than 1,000, is a bad request.
    let none = call(&c, Method::POST, &url, Some(r#"{"commands": []}"#)).await;
    assert_error(&none, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
    let many = json!({"commands": vec![vec!["PING"]; 1001]});
    let many = call(&c, Method::POST, &url, Some(&many.to_string())).await;
    assert_error(&many, StatusCode::BAD_REQUEST, "INVALID_REQUEST");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_auth_route_says_whether_credentials_log_in_without_failing() {
    let server = TestServer::start_with(&["--requirepass", "s3cret"]);
    let c = client();
    let url = format!("{}/api/v1/auth", server.http());
    let ask = |token: Option<&str>| {
        let mut req = c.get(&url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (st, body) = ask(None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        body,
        json!({"success": true, "authenticated": false, "user": null, "required": true})
    );
    let (st, body) = ask(Some("wrong")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["authenticated"], json!(false));
    let (_, body) = ask(Some("s3cret")).await;
    assert_eq!(body["authenticated"], json!(true));
    assert_eq!(body["user"], json!("default"));
    // A wrong password asked this way is still a failed login: logged, and counted
    // towards the limit on wrong passwords.
    let mut r = server.client();
    let log: Vec<Vec<redis::Value>> = redis::cmd("AUTH")
        .arg("s3cret")
        .query::<()>(&mut r)
        .and_then(|_| redis::cmd("ACL").arg("LOG").query(&mut r))
        .unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_is_served_without_credentials_with_its_security_headers() {
    let server = TestServer::start_with(&["--requirepass", "s3cret"]);
    let c = client();
    let page = c.get(server.http() + "/").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let etag = headers["etag"].to_str().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("/ui/app.js"), "{html}");
    let js = c.get(server.http() + "/ui/app.js").send().await.unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    // A browser's current copy is not sent again.
    let again = c
        .get(server.http() + "/")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let missing = call(&c, Method::GET, &(server.http() + "/ui/nope.js"), None).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
    // The API itself still asks for the password.
    let stats = call(&c, Method::GET, &(server.http() + "/api/v1/stats"), None).await;
    assert_error(&stats, StatusCode::UNAUTHORIZED, "UNAUTHORIZED");
}
