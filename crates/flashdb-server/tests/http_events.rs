//! The WebSocket event stream at `/api/v1/ws`, over real WebSocket connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::TestServer;
use futures_util::{SinkExt, StreamExt};
use redis::Commands;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer) -> Ws {
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", s.http_port);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON message, within 10 s.
async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a message within 10 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

/// The next message of type `kind`, skipping others.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = next(ws).await;
        if v["type"] == json!(kind) {
            return v;
        }
    }
}

/// The next message that is not a `stats` one.
async fn next_besides_stats(ws: &mut Ws) -> Value {
    loop {
        let v = next(ws).await;
        if v["type"] != json!("stats") {
            return v;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_get_keyspace_events_messages_and_stats() {
    let s = TestServer::start();
    let mut ws = connect(&s).await;
    send(
        &mut ws,
        json!({"subscribe": ["keyspace", "channel:news", "pattern:log.*"]}),
    )
    .await;
    let ack = next(&mut ws).await;
    assert_eq!(
        ack,
        json!({"type": "subscribed", "data": {"subscriptions": ["channel:news", "keyspace", "pattern:log.*"]}})
    );
    let mut conn = s.client();
    // Keyspace events come without notify-keyspace-events being configured...
    let _: () = conn.set("k", "v").unwrap();
    let _: () = conn.rpush("l", "a").unwrap();
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "keyspace", "data": {"db": 0, "event": "set", "key": "k"}})
    );
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "keyspace", "data": {"db": 0, "event": "rpush", "key": "l"}})
    );
    // ...and RESP subscribers to keyspace channels still get nothing, as configured.
    let cfg: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut conn)
        .unwrap();
    assert_eq!(cfg[1], "");
    let n: i64 = conn.publish("news", "hello").unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "message", "data": {"channel": "news", "message": "hello"}})
    );
    let _: i64 = conn.publish("log.error", "disk").unwrap();
    assert_eq!(
        next(&mut ws).await,
        json!({"type": "message", "data": {"channel": "log.error", "pattern": "log.*", "message": "disk"}})
    );
    let _: i64 = conn.publish("other", "x").unwrap();
    // Expiry events arrive too, with the database.
    let _: () = redis::cmd("SELECT").arg(2).query(&mut conn).unwrap();
    let _: () = redis::cmd("SET")
        .arg("gone")
        .arg("1")
        .arg("PX")
        .arg(50)
        .query(&mut conn)
        .unwrap();
    assert_eq!(
        next(&mut ws).await["data"],
        json!({"db": 2, "event": "set", "key": "gone"})
    );
    assert_eq!(
        next(&mut ws).await["data"],
        json!({"db": 2, "event": "expire", "key": "gone"})
    );
    assert_eq!(
        next(&mut ws).await["data"],
        json!({"db": 2, "event": "expired", "key": "gone"})
    );
    // Stats once a second.
    send(
        &mut ws,
        json!({"subscribe": ["stats"], "unsubscribe": ["keyspace"]}),
    )
    .await;
    let ack = next_of(&mut ws, "subscribed").await;
    assert_eq!(
        ack["data"]["subscriptions"],
        json!(["channel:news", "pattern:log.*", "stats"])
    );
    let stats = next_of(&mut ws, "stats").await;
    assert_eq!(stats["data"]["success"], json!(true));
    assert!(stats["data"]["info"]["server"]["uptime_in_seconds"].is_number());
    // Unsubscribed from the keyspace: this write sends nothing (checked below, as only
    // stats may come between here and the next answers).
    let _: () = conn.set("quiet", "1").unwrap();
    // Bad requests are answered in the stream, and the stream goes on.
    send(&mut ws, json!({"subscribe": ["nonsense"]})).await;
    let err = next_besides_stats(&mut ws).await;
    assert_eq!(err["type"], json!("error"), "{err}");
    assert_eq!(err["data"]["code"], json!("INVALID_REQUEST"));
    let ack = next_besides_stats(&mut ws).await;
    assert_eq!(
        ack["data"]["subscriptions"],
        json!(["channel:news", "pattern:log.*", "stats"])
    );
    ws.send(Message::Text("not json".into())).await.unwrap();
    let err = next_besides_stats(&mut ws).await;
    assert_eq!(
        (err["type"].clone(), err["data"]["code"].clone()),
        (json!("error"), json!("INVALID_REQUEST"))
    );
    let _: i64 = conn.publish("news", "still here").unwrap();
    let msg = next_besides_stats(&mut ws).await;
    assert_eq!(
        msg,
        json!({"type": "message", "data": {"channel": "news", "message": "still here"}})
    );
    ws.close(None).await.unwrap();
    // With the last keyspace listener gone, PUBSUB shows no leftover subscription.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let numpat: i64 = redis::cmd("PUBSUB").arg("NUMPAT").query(&mut conn).unwrap();
    assert_eq!(numpat, 0);
}

/// A client that does not read loses messages, is told how many, and neither slows the
/// server nor makes it hold the backlog.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_reader_loses_messages_and_is_told() {
    let s = TestServer::start();
    let mut ws = connect(&s).await;
    send(&mut ws, json!({"subscribe": ["channel:firehose"]})).await;
    assert_eq!(next(&mut ws).await["type"], json!("subscribed"));
    let mut conn = s.client();
    let used_before: u64 = info_field(&mut conn, "used_memory");
    // 64 MiB published while the client reads nothing.
    let payload = "x".repeat(64 * 1024);
    let started = std::time::Instant::now();
    for _ in 0..1024 {
        let _: i64 = conn.publish("firehose", &payload).unwrap();
    }
    let publishing = started.elapsed();
    assert!(
        publishing < Duration::from_secs(20),
        "publishers were held up: {publishing:?}"
    );
    let used_after: u64 = info_field(&mut conn, "used_memory");
    assert!(
        used_after < used_before + (32 << 20),
        "the backlog of a slow reader is bounded: {used_before} -> {used_after}"
    );
    // Now read the queued messages and the notices of those lost, while small messages
    // keep coming.
    let publisher = tokio::spawn({
        let port = s.port;
        async move {
            let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut conn = c.get_connection().unwrap();
            for _ in 0..400 {
                let _: i64 = conn.publish("firehose", "tail").unwrap();
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
    });
    // Order is kept: a message is either delivered in place or counted in a notice that
    // comes before anything published after it. So once a "tail" arrives, every big
    // message has been delivered or counted.
    let mut received = 0u64;
    let mut dropped = 0u64;
    let mut notices = 0;
    loop {
        let v = next(&mut ws).await;
        match v["type"].as_str() {
            Some("message") if v["data"]["message"] == json!("tail") => break,
            Some("message") => received += 1,
            Some("lagged") => {
                notices += 1;
                let n = v["data"]["dropped"].as_u64().unwrap();
                assert!(n > 0);
                dropped += n;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        notices > 0 && dropped > 0,
        "the client was told of its losses"
    );
    assert!(received < 1024, "some were lost: received {received}");
    assert!(
        received + dropped >= 1024,
        "every message is either delivered or counted: {received} + {dropped}"
    );
    publisher.abort();
    // The server answers RESP promptly throughout.
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
}

fn info_field(conn: &mut redis::Connection, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg("memory").query(conn).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_wants_the_password_too() {
    let s = TestServer::start_with(&["--requirepass", "pw"]);
    let url = format!("ws://127.0.0.1:{}/api/v1/ws", s.http_port);
    let err = tokio_tungstenite::connect_async(url.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?token=pw"))
        .await
        .unwrap();
    send(&mut ws, json!({"subscribe": ["channel:c"]})).await;
    assert_eq!(next(&mut ws).await["type"], json!("subscribed"));
}

/// The statistics are rendered once a second for all clients, not once per client.
#[tokio::test(flavor = "multi_thread")]
async fn clients_share_one_stats_feed() {
    let s = TestServer::start();
    let mut a = connect(&s).await;
    let mut b = connect(&s).await;
    for ws in [&mut a, &mut b] {
        send(ws, json!({"subscribe": ["stats"]})).await;
        assert_eq!(next(ws).await["type"], json!("subscribed"));
    }
    // Line the two streams up on the same tick: the first message that both got.
    let mut from_a = Vec::new();
    for _ in 0..3 {
        from_a.push(next_of(&mut a, "stats").await);
    }
    let mut shared = false;
    for _ in 0..3 {
        let m = next_of(&mut b, "stats").await;
        shared |= from_a.contains(&m);
    }
    assert!(shared, "the two clients got the same rendering of a tick");
}

/// A follower's WebSocket clients get the keyspace events of the group's writes (which
/// the leader runs): of a write sent to the leader and of one sent to the follower and
/// forwarded.
#[tokio::test(flavor = "multi_thread")]
async fn a_followers_websocket_gets_the_keyspace_events_of_the_groups_writes() {
    let g = tokio::task::spawn_blocking(|| common::group::Group::start(3))
        .await
        .unwrap();
    let leader = g.wait_leader();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let mut ws = connect(g.node(follower)).await;
    send(&mut ws, json!({"subscribe": ["keyspace"]})).await;
    assert_eq!(next(&mut ws).await["type"], json!("subscribed"));
    // The follower asks the leader for events as its first client subscribes; until the
    // leader has the request, writes are not tapped. Write until an event arrives.
    let mut on_leader = g.node(leader).client();
    let mut first = None;
    for i in 0..100 {
        let _: () = on_leader.set(format!("probe{i}"), "v").unwrap();
        if let Ok(v) = tokio::time::timeout(Duration::from_millis(100), next(&mut ws)).await {
            first = Some(v);
            break;
        }
    }
    let first = first.expect("an event of a write on the leader within 10 s");
    assert_eq!(first["type"], json!("keyspace"));
    assert_eq!(first["data"]["event"], json!("set"));
    // Events now come in order, each once: one write on the leader, one forwarded by
    // the follower.
    let _: () = on_leader.set("from-leader", "1").unwrap();
    let mut on_follower = g.node(follower).client();
    let _: i64 = on_follower.rpush("from-follower", "x").unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let v = next_besides_stats(&mut ws).await;
        assert_eq!(v["type"], json!("keyspace"), "{v}");
        let key = v["data"]["key"].as_str().unwrap().to_string();
        if key.starts_with("probe") {
            continue; // a late probe
        }
        seen.push((v["data"]["event"].clone(), key, v["data"]["db"].clone()));
    }
    assert_eq!(
        seen,
        vec![
            (json!("set"), "from-leader".to_string(), json!(0)),
            (json!("rpush"), "from-follower".to_string(), json!(0)),
        ]
    );
}

/// The stream runs as the user its token names: channels its ACL rules deny are refused,
/// and the keyspace topic needs every channel.
#[tokio::test(flavor = "multi_thread")]
async fn the_stream_keeps_to_its_users_channels() {
    let s = TestServer::start_with(&["--requirepass", "pw"]);
    let mut admin = s.raw();
    assert_eq!(admin.call(&["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(
        admin.call(&["ACL", "SETUSER", "news", "on", ">npw", "&news:*", "+@all"]),
        "+OK\r\n"
    );
    let url = format!("ws://127.0.0.1:{}/api/v1/ws?token=news:npw", s.http_port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    send(&mut ws, json!({"subscribe": ["channel:other"]})).await;
    let refused = next(&mut ws).await;
    assert_eq!(refused["type"], json!("error"), "{refused}");
    assert_eq!(refused["data"]["code"], json!("NOPERM"), "{refused}");
    assert_eq!(next(&mut ws).await["data"]["subscriptions"], json!([]));
    send(&mut ws, json!({"subscribe": ["keyspace"]})).await;
    assert_eq!(next(&mut ws).await["data"]["code"], json!("NOPERM"));
    assert_eq!(next(&mut ws).await["data"]["subscriptions"], json!([]));
    // A pattern must be one of the user's patterns itself; a channel may match one.
    send(
        &mut ws,
        json!({"subscribe": ["pattern:news:*", "channel:news:1", "pattern:n*"]}),
    )
    .await;
    assert_eq!(next(&mut ws).await["data"]["code"], json!("NOPERM"));
    let subscribed = next(&mut ws).await;
    assert_eq!(
        subscribed["data"]["subscriptions"],
        json!(["channel:news:1", "pattern:news:*"]),
        "{subscribed}"
    );
    assert_eq!(admin.call(&["PUBLISH", "news:1", "hello"]), ":2\r\n");
    let m = next_of(&mut ws, "message").await;
    assert_eq!(m["data"]["message"], json!("hello"), "{m}");
}
