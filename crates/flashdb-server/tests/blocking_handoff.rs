//! Blocking hand-off exactly as Redis 7: a client blocked on a key is served inside the
//! command (or transaction) that made the key ready, before any other command runs, in
//! the order clients blocked, and only if the key still holds the right type with data;
//! RENAME, MOVE, COPY and SWAPDB wake blocked clients. Each scenario runs against the
//! real Redis and FlashDB, and every client's replies must be identical.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::real_redis::{split, RedisServer};
use common::{encode, read_reply, try_read_reply, Raw, TestServer};

/// One step: which client, and the commands it sends in one write (`None`: read the
/// number of replies given instead of sending).
enum Step {
    Send(usize, &'static [&'static str]),
    Read(usize, usize),
    /// Expect nothing to arrive for this client for a moment.
    Quiet(usize),
    Pause,
}

use Step::*;

fn run(port: u16, clients: usize, steps: &[Step]) -> Vec<String> {
    let mut conns: Vec<Raw> = (0..clients).map(|_| Raw::connect(port)).collect();
    let mut log = Vec::new();
    for step in steps {
        match step {
            Send(c, cmds) => {
                let mut bytes = Vec::new();
                for cmd in *cmds {
                    let args = split(cmd);
                    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                    bytes.extend(encode(&refs));
                }
                conns[*c].send(&bytes);
            }
            Read(c, n) => {
                for _ in 0..*n {
                    let r = read_reply(&mut conns[*c].stream);
                    log.push(format!("client {c}: {}", String::from_utf8_lossy(&r)));
                }
            }
            Quiet(c) => {
                let s = &mut conns[*c].stream;
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let got = try_read_reply(s).ok();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                log.push(format!(
                    "client {c} quiet: {:?}",
                    got.map(|r| String::from_utf8_lossy(&r).into_owned())
                ));
            }
            Pause => std::thread::sleep(Duration::from_millis(150)),
        }
    }
    log
}

fn same_as_redis(clients: usize, steps: &[Step]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let want = run(redis.port, clients, steps);
    let got = run(flash.port, clients, steps);
    assert_eq!(got, want);
}

#[test]
fn a_pop_right_after_the_push_finds_the_element_already_handed_over() {
    same_as_redis(
        2,
        &[
            Send(0, &["BLPOP k 5"]),
            Pause,
            Send(1, &["RPUSH k x", "LPOP k"]),
            Read(1, 2),
            Read(0, 1),
            Send(0, &["BZPOPMIN z 5"]),
            Pause,
            Send(1, &["ZADD z 1 a", "ZPOPMIN z"]),
            Read(1, 2),
            Read(0, 1),
        ],
    );
}

#[test]
fn a_key_that_ends_the_transaction_as_another_type_keeps_the_client_blocked() {
    same_as_redis(
        2,
        &[
            Send(0, &["BLPOP k 5"]),
            Pause,
            Send(1, &["MULTI", "RPUSH k x", "DEL k", "SET k str", "EXEC"]),
            Read(1, 5),
            Quiet(0),
            Send(1, &["DEL k", "RPUSH k y"]),
            Read(1, 2),
            Read(0, 1),
            // Pushed and popped in one transaction: nothing to hand over.
            Send(0, &["BLPOP k 5"]),
            Pause,
            Send(1, &["MULTI", "RPUSH k a", "LPOP k", "EXEC"]),
            Read(1, 4),
            Quiet(0),
            Send(1, &["RPUSH k b"]),
            Read(1, 1),
            Read(0, 1),
        ],
    );
}

#[test]
fn clients_are_served_in_the_order_they_blocked_and_chains_follow() {
    same_as_redis(
        4,
        &[
            Send(0, &["BLPOP k 5"]),
            Pause,
            Send(1, &["BRPOP k other 5"]),
            Pause,
            Send(2, &["RPUSH k x y z"]),
            Read(2, 1),
            Read(0, 1),
            Read(1, 1),
            Send(2, &["LRANGE k 0 -1"]),
            Read(2, 1),
            // BLMOVE hands its element on to a client blocked on the destination.
            Send(0, &["BLMOVE src dst LEFT RIGHT 5"]),
            Pause,
            Send(1, &["BLPOP dst 5"]),
            Pause,
            Send(3, &["RPUSH src v", "EXISTS dst", "EXISTS src"]),
            Read(3, 3),
            Read(0, 1),
            Read(1, 1),
        ],
    );
}

#[test]
fn rename_move_copy_and_swapdb_wake_blocked_clients() {
    same_as_redis(
        2,
        &[
            Send(0, &["BLPOP k 5"]),
            Pause,
            Send(1, &["RPUSH src a b", "RENAME src k", "LRANGE k 0 -1"]),
            Read(1, 3),
            Read(0, 1),
            Send(0, &["BLPOP k2 5"]),
            Pause,
            Send(1, &["SELECT 1", "RPUSH k2 c", "MOVE k2 0", "SELECT 0"]),
            Read(1, 4),
            Read(0, 1),
            Send(0, &["BZPOPMAX k3 5"]),
            Pause,
            Send(1, &["ZADD zs 1 m 2 n", "COPY zs k3", "ZRANGE k3 0 -1"]),
            Read(1, 3),
            Read(0, 1),
            Send(0, &["BLPOP k4 5"]),
            Pause,
            Send(
                1,
                &[
                    "SELECT 1",
                    "RPUSH k4 d",
                    "SWAPDB 0 1",
                    "SELECT 0",
                    "EXISTS k4",
                ],
            ),
            Read(1, 5),
            Read(0, 1),
            // A rename of another type leaves the client blocked.
            Send(0, &["BLPOP k5 1"]),
            Pause,
            Send(1, &["SET s str", "RENAME s k5"]),
            Read(1, 2),
            Read(0, 1),
        ],
    );
}
