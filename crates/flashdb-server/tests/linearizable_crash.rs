//! Crash test: the history of concurrent `GET`, `SET` and `INCRBY` on a few keys, across a
//! SIGKILL and a restart of the real server (`appendfsync always`), must be linearizable:
//! checked with the Wing–Gong/Lowe search of `flashdb_testkit::linearizability`.
//!
//! An operation in flight at the kill has an unknown outcome: it may or may not have
//! happened. Anything else, such as a read that saw a value which is gone after the
//! restart, or an acknowledged write lost, is an anomaly. The log writer holds each batch
//! 10 ms (the `wal-write-pause` failpoint), so that the kill always finds writes in memory
//! that never reached the disk.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{temp_dir, Rng, TestServer};
use flashdb_testkit::linearizability::{
    check_partitioned, KvInput, KvOutput, KvRegister, Operation,
};

const KEYS: u64 = 3;
const CLIENTS: u64 = 6;
const ENV: &[(&str, &str)] = &[("FLASHDB_FAILPOINTS", "wal-write-pause=10")];

type History = Arc<Mutex<Vec<Operation<KvInput, KvOutput>>>>;

/// Runs random operations against `port` until `until` or until the server goes away,
/// recording each in `history` (one whose reply never came with an unknown outcome).
fn client(port: u16, seed: u64, origin: Instant, until: Instant, history: History) {
    let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = c.get_connection().unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rng = Rng::new(seed);
    let mut n = 0;
    while Instant::now() < until {
        let key = format!("lin:{}", rng.below(KEYS));
        n += 1;
        let input = match rng.below(4) {
            0 | 1 => KvInput::Get(key),
            // Distinct values, so that a read names the write it saw.
            2 => KvInput::Set(key, format!("{}", seed * 1_000_000 + n)),
            _ => KvInput::IncrBy(key, 1),
        };
        let call = origin.elapsed().as_nanos() as u64;
        let reply: redis::RedisResult<redis::Value> = match &input {
            KvInput::Get(k) => redis::cmd("GET").arg(k).query(&mut c),
            KvInput::Set(k, v) => redis::cmd("SET").arg(k).arg(v).query(&mut c),
            KvInput::IncrBy(k, d) => redis::cmd("INCRBY").arg(k).arg(*d).query(&mut c),
        };
        let ret = origin.elapsed().as_nanos() as u64;
        let output = match reply {
            Ok(redis::Value::Nil) => Some(KvOutput::Value(None)),
            Ok(redis::Value::BulkString(b)) => {
                Some(KvOutput::Value(Some(String::from_utf8(b).unwrap())))
            }
            Ok(redis::Value::Okay) => Some(KvOutput::Ok),
            Ok(redis::Value::Int(i)) => Some(KvOutput::Int(i)),
            Ok(other) => panic!("unexpected reply {other:?} to {input:?}"),
            Err(e) if e.kind() == redis::ErrorKind::ResponseError => Some(KvOutput::Error),
            Err(_) => None,
        };
        let broken = output.is_none();
        history.lock().unwrap().push(Operation {
            call,
            ret: output.as_ref().map(|_| ret),
            input,
            output,
        });
        if broken {
            return;
        }
    }
}

/// Runs `CLIENTS` clients against `port` for `run`; returns once all have stopped.
fn phase(
    port: u16,
    first_seed: u64,
    origin: Instant,
    run: Duration,
    history: &History,
) -> Vec<std::thread::JoinHandle<()>> {
    let until = Instant::now() + run;
    (0..CLIENTS)
        .map(|i| {
            let h = history.clone();
            std::thread::spawn(move || client(port, first_seed + i, origin, until, h))
        })
        .collect()
}

#[test]
fn a_history_across_a_crash_is_linearizable() {
    let dir = temp_dir("linearizable");
    let args = ["--appendfsync", "always"];
    let origin = Instant::now();
    let history: History = Arc::default();

    let mut server = TestServer::start_in(&dir, &args, ENV);
    let clients = phase(server.port, 1, origin, Duration::from_secs(30), &history);
    std::thread::sleep(Duration::from_millis(700));
    server.kill9();
    for c in clients {
        c.join().unwrap();
    }

    let server = TestServer::start_in(&dir, &args, ENV);
    let clients = phase(
        server.port,
        100,
        origin,
        Duration::from_millis(700),
        &history,
    );
    for c in clients {
        c.join().unwrap();
    }
    drop(server);

    let history = history.lock().unwrap();
    let in_flight = history.iter().filter(|o| o.ret.is_none()).count();
    let writes = history
        .iter()
        .filter(|o| o.ret.is_some() && !matches!(o.input, KvInput::Get(_)))
        .count();
    // A history too thin to mean anything would pass for nothing.
    assert!(
        writes >= 30 && in_flight >= 1,
        "{} operations, {writes} acknowledged writes, {in_flight} in flight at the kill",
        history.len()
    );
    if let Err((key, outcome)) = check_partitioned(&KvRegister, &history, |i| i.key().to_string()) {
        let mut ops: Vec<_> = history.iter().filter(|o| o.input.key() == key).collect();
        ops.sort_by_key(|o| o.call);
        let lines: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
        panic!("{key}: {outcome:?}\n{}", lines.join("\n"));
    }
}
