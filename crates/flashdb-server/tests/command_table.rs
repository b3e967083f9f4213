//! FlashDB's command table against Redis 7.0's: `COMMAND LIST` holds every Redis command
//! but those named below (each with the issue that brings it, or why it is refused), and
//! every command both have agrees on its arity and ACL categories (`COMMAND INFO`).
//! Redis's list is checked into `tests/data/redis-7.0-commands.txt`, and checked against
//! the real Redis here too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::real_redis::RedisServer;
use common::{read_reply, Raw, TestServer};

/// Redis 7.0 commands FlashDB does not have yet, and why.
const NOT_YET: &[(&str, &str)] = &[
    (
        "asking",
        "Redis Cluster: a replication group is not a cluster",
    ),
    (
        "cluster",
        "Redis Cluster: a replication group is not a cluster",
    ),
    ("migrate", "Redis Cluster resharding"),
    ("module", "modules: FlashDB loads no Redis modules"),
    (
        "psync",
        "Redis's replication protocol: FlashDB replicates with Raft",
    ),
    (
        "replconf",
        "Redis's replication protocol: FlashDB replicates with Raft",
    ),
    (
        "restore-asking",
        "Redis Cluster: a replication group is not a cluster",
    ),
    (
        "sync",
        "Redis's replication protocol: FlashDB replicates with Raft",
    ),
];

/// Commands whose arity differs on purpose: `ZRANK`/`ZREVRANK` take Redis 7.2's
/// `WITHSCORE`.
const ARITY_DIFFERS: &[&str] = &["zrank", "zrevrank"];

/// Commands whose `COMMAND INFO` differs from Redis 7.0's, and why.
const INFO_DIFFERS: &[(&str, &str)] = &[
    ("zrank", "takes WITHSCORE (Redis 7.2), so its arity is -3"),
    (
        "zrevrank",
        "takes WITHSCORE (Redis 7.2), so its arity is -3",
    ),
];

fn lines(reply: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(reply)
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with(['*', '$', ':']))
        .map(str::to_string)
        .collect()
}

fn command_list(c: &mut Raw) -> BTreeSet<String> {
    c.cmd(&[b"COMMAND", b"LIST"]);
    lines(&read_reply(&mut c.stream)).into_iter().collect()
}

/// Arity and sorted ACL categories from `COMMAND INFO name`.
fn arity_and_categories(c: &mut Raw, name: &str) -> (String, Vec<String>) {
    c.cmd(&[b"COMMAND", b"INFO", name.as_bytes()]);
    let reply = String::from_utf8_lossy(&read_reply(&mut c.stream)).into_owned();
    let arity = reply
        .split("\r\n")
        .find(|l| l.starts_with(':'))
        .unwrap_or_default()
        .to_string();
    // The categories are the reply's `+@...` lines before any subcommand's entry.
    let own = reply
        .split("\r\n*")
        .take(4)
        .collect::<Vec<_>>()
        .join("\r\n*");
    let mut cats: Vec<String> = own
        .split("\r\n")
        .filter(|l| l.starts_with("+@"))
        .map(str::to_string)
        .collect();
    cats.sort();
    (arity, cats)
}

#[test]
fn every_redis_command_is_present_but_those_named_with_their_reason() {
    let listed: BTreeSet<String> = include_str!("data/redis-7.0-commands.txt")
        .lines()
        .map(str::to_string)
        .collect();
    let redis = RedisServer::start();
    let mut r = Raw::connect(redis.port);
    assert_eq!(
        command_list(&mut r),
        listed,
        "the checked-in list is Redis 7.0's"
    );
    let server = TestServer::start();
    let mut f = server.raw();
    let ours = command_list(&mut f);
    let not_yet: BTreeSet<&str> = NOT_YET.iter().map(|(c, _)| *c).collect();
    let missing: BTreeSet<&str> = listed
        .iter()
        .filter(|c| !ours.contains(*c))
        // A missing container's subcommands are covered by the container's entry.
        .filter(|c| {
            !c.split_once('|')
                .is_some_and(|(parent, _)| not_yet.contains(parent))
        })
        .map(String::as_str)
        .collect();
    assert_eq!(missing, not_yet, "update NOT_YET when a command lands");
}

/// Redis 7.0 and FlashDB side by side, with a connection to each and the commands (and
/// subcommands) both have.
struct Both {
    _redis: RedisServer,
    _server: TestServer,
    r: Raw,
    f: Raw,
    shared: Vec<String>,
}

fn both() -> Both {
    let redis = RedisServer::start();
    let server = TestServer::start();
    let r = Raw::connect(redis.port);
    let mut f = server.raw();
    let ours = command_list(&mut f);
    let shared = include_str!("data/redis-7.0-commands.txt")
        .lines()
        .filter(|c| ours.contains(*c))
        .map(str::to_string)
        .collect();
    Both {
        _redis: redis,
        _server: server,
        r,
        f,
        shared,
    }
}

#[test]
fn shared_commands_agree_on_arity_and_acl_categories() {
    // Bound, not `..`: the servers must live to the end of the test.
    let Both {
        _redis,
        _server,
        mut r,
        mut f,
        shared,
    } = both();
    let mut diffs = Vec::new();
    let mut checked = 0;
    for name in &shared {
        let want = arity_and_categories(&mut r, name);
        let got = arity_and_categories(&mut f, name);
        // A container's entry nests its subcommands, which are compared one by one.
        let container = want.1.is_empty() || name == "client" || name == "command";
        if want.0 != got.0 && !ARITY_DIFFERS.contains(&name.as_str()) {
            diffs.push(format!("{name}: arity {} vs {}", want.0, got.0));
        }
        if want.1 != got.1 && !container {
            diffs.push(format!("{name}: categories {:?} vs {:?}", want.1, got.1));
        }
        checked += 1;
    }
    assert!(checked > 250, "{checked} commands compared");
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn command_getkeys_finds_counted_and_keyword_keys_as_redis() {
    common::real_redis::run_script(&[
        "COMMAND GETKEYS zunion 2 a b",
        "COMMAND GETKEYS zunion 3 a b",
        "COMMAND GETKEYS zunion x a b",
        "COMMAND GETKEYS zunionstore d 2 a b",
        "COMMAND GETKEYS zinterstore d 1 a WEIGHTS 2",
        "COMMAND GETKEYS blmpop 0 2 a b LEFT",
        "COMMAND GETKEYS bzmpop 0 1 z MIN",
        "COMMAND GETKEYS lmpop 2 a b LEFT",
        "COMMAND GETKEYS sintercard 2 a b LIMIT 1",
        "COMMAND GETKEYS zintercard 1 a",
        "COMMAND GETKEYS zdiff 2 a b WITHSCORES",
        "COMMAND GETKEYS sort k",
        "COMMAND GETKEYS sort k LIMIT 0 1 STORE d",
        "COMMAND GETKEYS sort_ro k",
        "COMMAND GETKEYS georadius g 1 2 3 km STORE d",
        "COMMAND GETKEYS georadius g 1 2 3 km STOREDIST d",
        "COMMAND GETKEYS georadius g 1 2 3 km",
        "COMMAND GETKEYS georadiusbymember g store 3 km",
        "COMMAND GETKEYS georadiusbymember g m 3 km STORE d",
        "COMMAND GETKEYS mset a 1 b 2",
        "COMMAND GETKEYS get k",
        "COMMAND GETKEYS ping",
        "COMMAND GETKEYS nosuchcommand a",
    ]);
}

#[test]
fn command_getkeysandflags_reports_redis_key_flags() {
    common::real_redis::run_script(&[
        "COMMAND GETKEYSANDFLAGS set a b",
        "COMMAND GETKEYSANDFLAGS set a b GET",
        "COMMAND GETKEYSANDFLAGS set a b get EX 10",
        "COMMAND GETKEYSANDFLAGS get k",
        "COMMAND GETKEYSANDFLAGS del a b c",
        "COMMAND GETKEYSANDFLAGS mset a 1 b 2",
        "COMMAND GETKEYSANDFLAGS lmove a b LEFT RIGHT",
        "COMMAND GETKEYSANDFLAGS rename a b",
        "COMMAND GETKEYSANDFLAGS copy a b",
        "COMMAND GETKEYSANDFLAGS zunionstore d 2 a b",
        "COMMAND GETKEYSANDFLAGS zunionstore d 0 a b",
        "COMMAND GETKEYSANDFLAGS zunionstore d x a b",
        "COMMAND GETKEYSANDFLAGS zinterstore d 1 a WEIGHTS 2",
        "COMMAND GETKEYSANDFLAGS blmpop 0 2 a b LEFT",
        "COMMAND GETKEYSANDFLAGS lmpop 2 a b LEFT",
        "COMMAND GETKEYSANDFLAGS sintercard 2 a b LIMIT 1",
        "COMMAND GETKEYSANDFLAGS bitfield k GET u8 0",
        "COMMAND GETKEYSANDFLAGS bitfield k GET u8 0 OVERFLOW SAT GET u8 1",
        "COMMAND GETKEYSANDFLAGS bitfield k SET u8 0 1",
        "COMMAND GETKEYSANDFLAGS bitfield k INCRBY u8 0 1",
        "COMMAND GETKEYSANDFLAGS bitfield_ro k GET u8 0",
        "COMMAND GETKEYSANDFLAGS bitop AND d a b",
        "COMMAND GETKEYSANDFLAGS sort k",
        "COMMAND GETKEYSANDFLAGS sort k STORE d",
        "COMMAND GETKEYSANDFLAGS georadius g 1 2 3 km STORE d",
        "COMMAND GETKEYSANDFLAGS georadius g 1 2 3 km STOREDIST d",
        "COMMAND GETKEYSANDFLAGS georadius g 1 2 3 km",
        "COMMAND GETKEYSANDFLAGS geosearchstore d s FROMMEMBER m BYRADIUS 1 km",
        "COMMAND GETKEYSANDFLAGS pfmerge d a b",
        "COMMAND GETKEYSANDFLAGS pfcount a b",
        "COMMAND GETKEYSANDFLAGS smove a b m",
        "COMMAND GETKEYSANDFLAGS getdel k",
        "COMMAND GETKEYSANDFLAGS getex k PERSIST",
        "COMMAND GETKEYSANDFLAGS hset h f v",
        "COMMAND GETKEYSANDFLAGS restore k 0 payload",
        "COMMAND GETKEYSANDFLAGS object encoding k",
        "COMMAND GETKEYSANDFLAGS memory usage k",
        "COMMAND GETKEYSANDFLAGS ping",
        "COMMAND GETKEYSANDFLAGS get",
        "COMMAND GETKEYSANDFLAGS nosuchcommand a",
    ]);
}

/// `COMMAND INFO` answers as Redis 7.0 for every command both have: arity, flags, key
/// positions, ACL categories, tips and key specifications, byte for byte in RESP3 (sets
/// where Redis has sets). A container's subcommands are compared one by one: Redis lists
/// them in its hash table's order. Commands whose entries differ for a reason are listed
/// in `INFO_DIFFERS`.
#[test]
fn command_info_matches_redis_byte_for_byte() {
    // Bound, not `..`: the servers must live to the end of the test.
    let Both {
        _redis,
        _server,
        mut r,
        mut f,
        shared,
    } = both();
    r.call(&["HELLO", "3"]);
    f.call(&["HELLO", "3"]);
    let containers: BTreeSet<&str> = shared
        .iter()
        .filter_map(|c| c.split_once('|').map(|(p, _)| p))
        .collect();
    let mut diffs = Vec::new();
    let mut same = 0;
    for name in &shared {
        let mut want = r.call(&["COMMAND", "INFO", name]);
        let mut got = f.call(&["COMMAND", "INFO", name]);
        if containers.contains(name.as_str()) {
            // Up to its subcommands, which are compared one by one.
            let cut = |s: &mut String| {
                if let Some(i) = s[10..].find("*10\r\n").map(|i| i + 10) {
                    s.truncate(i);
                    if let Some(header) = s[..s.len() - 2].rfind("\r\n") {
                        s.truncate(header + 2);
                    }
                }
            };
            cut(&mut want);
            cut(&mut got);
        }
        if want == got {
            same += 1;
        } else if !INFO_DIFFERS.iter().any(|(n, _)| n == name) {
            diffs.push(format!("{name}:\n  redis:   {want:?}\n  flashdb: {got:?}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(same > 250, "only {same} commands compared equal");
}
