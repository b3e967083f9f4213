//! The random-member commands on large collections, through the real server: samples are
//! distinct members of the collection, popped members are gone, and sampling reaches every
//! member (a sampler stuck on some members fails), on both sampling strategies (random
//! picks for small counts, one pass for large ones).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::TestServer;
use redis::Commands;

const N: usize = 2000;

fn fill(c: &mut redis::Connection) {
    let members: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
    let _: () = redis::cmd("SADD").arg("s").arg(&members).query(c).unwrap();
    let pairs: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.clone(), format!("v{m}")))
        .collect();
    let _: () = c.hset_multiple("h", &pairs).unwrap();
    let scored: Vec<(usize, String)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (i, m.clone()))
        .collect();
    let _: () = c.zadd_multiple("z", &scored).unwrap();
}

fn assert_distinct_members(got: &[String], want_len: usize) {
    assert_eq!(got.len(), want_len);
    let set: BTreeSet<&String> = got.iter().collect();
    assert_eq!(set.len(), want_len, "duplicates in {got:?}");
    for m in got {
        let i: usize = m.strip_prefix('m').unwrap().parse().unwrap();
        assert!(i < N, "{m} is not a member");
    }
}

#[test]
fn samples_are_distinct_members_for_small_and_large_counts() {
    let s = TestServer::start();
    let mut c = s.client();
    fill(&mut c);
    for count in [1usize, 10, 600, 1500, N] {
        let got: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg("s")
            .arg(count)
            .query(&mut c)
            .unwrap();
        assert_distinct_members(&got, count);
        let got: Vec<String> = redis::cmd("HRANDFIELD")
            .arg("h")
            .arg(count)
            .query(&mut c)
            .unwrap();
        assert_distinct_members(&got, count);
        let got: Vec<String> = redis::cmd("ZRANDMEMBER")
            .arg("z")
            .arg(count)
            .query(&mut c)
            .unwrap();
        assert_distinct_members(&got, count);
        // Values and scores go with their own field or member.
        let got: Vec<(String, String)> = redis::cmd("HRANDFIELD")
            .arg("h")
            .arg(count)
            .arg("WITHVALUES")
            .query(&mut c)
            .unwrap();
        assert!(got.iter().all(|(f, v)| *v == format!("v{f}")));
        let got: Vec<(String, usize)> = redis::cmd("ZRANDMEMBER")
            .arg("z")
            .arg(count)
            .arg("WITHSCORES")
            .query(&mut c)
            .unwrap();
        assert!(got.iter().all(|(m, sc)| *m == format!("m{sc}")));
    }
    // Beyond the size: the whole collection.
    let got: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(N + 5)
        .query(&mut c)
        .unwrap();
    assert_distinct_members(&got, N);
}

#[test]
fn sampling_reaches_every_member() {
    let s = TestServer::start();
    let mut c = s.client();
    let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    let _: () = redis::cmd("SADD")
        .arg("small")
        .arg(&members)
        .query(&mut c)
        .unwrap();
    // Count 5 of 100 takes the random-pick path: every member is drawn in 400 calls unless
    // the sampler is biased (a fair one misses one with odds about 1e-7).
    let mut seen = BTreeSet::new();
    for _ in 0..400 {
        let got: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg("small")
            .arg(5)
            .query(&mut c)
            .unwrap();
        assert_distinct_members(&got, 5);
        seen.extend(got);
    }
    assert_eq!(seen.len(), 100);
    // Count 50 of 100 takes the one-pass path.
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        let got: Vec<String> = redis::cmd("SRANDMEMBER")
            .arg("small")
            .arg(50)
            .query(&mut c)
            .unwrap();
        assert_distinct_members(&got, 50);
        for m in got {
            *hits.entry(m).or_default() += 1;
        }
    }
    // Each member is drawn 50 times on average; a fair sampler stays far from 0 or 100.
    assert_eq!(hits.len(), 100);
    assert!(hits.values().all(|&h| (15..=85).contains(&h)), "{hits:?}");
}

#[test]
fn spop_removes_what_it_returns_until_the_set_is_gone() {
    let s = TestServer::start();
    let mut c = s.client();
    fill(&mut c);
    let mut popped = BTreeSet::new();
    // Single pops, a small count (random picks) and a large one (one pass).
    for _ in 0..100 {
        let m: String = c.spop("s").unwrap();
        assert!(popped.insert(m));
    }
    let few: Vec<String> = redis::cmd("SPOP").arg("s").arg(50).query(&mut c).unwrap();
    let many: Vec<String> = redis::cmd("SPOP").arg("s").arg(1500).query(&mut c).unwrap();
    assert_distinct_members(&few, 50);
    assert_distinct_members(&many, 1500);
    for m in few.into_iter().chain(many) {
        assert!(popped.insert(m), "popped twice");
    }
    let card: usize = c.scard("s").unwrap();
    assert_eq!(card, N - popped.len());
    let rest: BTreeSet<String> = c.smembers("s").unwrap();
    assert!(rest.is_disjoint(&popped));
    let last: Vec<String> = redis::cmd("SPOP").arg("s").arg(N).query(&mut c).unwrap();
    assert_eq!(last.len(), card);
    let exists: bool = c.exists("s").unwrap();
    assert!(!exists, "an emptied set is deleted");
}
