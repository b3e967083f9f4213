//! Eviction under `maxmemory`: which key goes when memory runs out, chosen as Redis
//! chooses it.
//!
//! Redis approximates LRU, LFU and "soonest TTL" by sampling: each round samples
//! `maxmemory-samples` keys, files the best candidates in a pool of 16 that lives from one
//! eviction to the next, and evicts the best key of the pool. Here a round samples the keys
//! of one shard picked at random (every database it holds), which over 256 shards is as
//! good as sampling the whole keyspace, and takes one shard lock at a time.
//!
//! An evicted key is deleted as a command deletes it: the deletion is logged (recovery and
//! replicas reproduce it), clients watching it see it change, and an `evicted` keyspace
//! event is published.

use super::*;

/// A `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never evict: writes that may grow memory fail with `-OOM`.
    NoEviction,
    /// The least recently used of sampled keys.
    AllKeysLru,
    /// The least frequently used of sampled keys.
    AllKeysLfu,
    /// Any key.
    AllKeysRandom,
    /// The least recently used of sampled keys that have a TTL.
    VolatileLru,
    /// The least frequently used of sampled keys that have a TTL.
    VolatileLfu,
    /// Any key that has a TTL.
    VolatileRandom,
    /// The sampled key with a TTL that expires soonest.
    VolatileTtl,
}

impl Policy {
    /// Every policy, in the order Redis's documentation lists them.
    pub const ALL: [Policy; 8] = [
        Policy::VolatileLru,
        Policy::VolatileLfu,
        Policy::VolatileRandom,
        Policy::VolatileTtl,
        Policy::AllKeysLru,
        Policy::AllKeysLfu,
        Policy::AllKeysRandom,
        Policy::NoEviction,
    ];

    /// The policy named `name` as `CONFIG SET maxmemory-policy` takes it (any case).
    pub fn parse(name: &str) -> Option<Policy> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The policy's name in Redis's configuration.
    pub fn name(self) -> &'static str {
        match self {
            Policy::NoEviction => "noeviction",
            Policy::AllKeysLru => "allkeys-lru",
            Policy::AllKeysLfu => "allkeys-lfu",
            Policy::AllKeysRandom => "allkeys-random",
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
        }
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    /// Whether the policy ranks keys by access frequency (the LFU counter is then kept).
    pub fn lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    fn random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }
}

/// Candidates kept between evictions, as Redis's `EVPOOL_SIZE`.
const POOL_SIZE: usize = 16;

/// Sampling rounds one eviction makes before it gives up finding a key that still exists.
const MAX_ROUNDS: usize = 64;

/// A sampled key that may be evicted.
#[derive(Debug)]
struct Candidate {
    /// Higher is evicted first: idle seconds, 255 minus the LFU counter, or the time
    /// left before expiry subtracted from `u64::MAX`.
    score: u64,
    db: usize,
    key: Vec<u8>,
}

/// The eviction pool: the best candidates seen so far, worst first.
#[derive(Debug, Default)]
pub(super) struct Pool {
    candidates: Vec<Candidate>,
}

impl Pool {
    /// Files a candidate, keeping the [`POOL_SIZE`] best; a key already filed is
    /// rescored.
    fn offer(&mut self, c: Candidate) {
        if let Some(i) = self
            .candidates
            .iter()
            .position(|o| o.db == c.db && o.key == c.key)
        {
            self.candidates.remove(i);
        }
        let at = self.candidates.partition_point(|o| o.score <= c.score);
        if self.candidates.len() == POOL_SIZE {
            if at == 0 {
                return;
            }
            self.candidates.remove(0);
            self.candidates.insert(at - 1, c);
        } else {
            self.candidates.insert(at, c);
        }
    }
}

impl Keyspace {
    /// Evicts one key chosen by `policy`, ranking `samples` sampled keys per round;
    /// returns an estimate of the memory the key held, or `None` when no key may be
    /// evicted under the policy (none at all, or none with a TTL for a `volatile-*` one).
    ///
    /// Called without any shard lock held: it takes them one at a time.
    pub fn evict_one(&self, policy: Policy, samples: usize) -> Option<usize> {
        if policy == Policy::NoEviction {
            return None;
        }
        let samples = samples.clamp(1, 64);
        let mut rng = rand::thread_rng();
        if policy.random() {
            for _ in 0..MAX_ROUNDS {
                let mut picked = None;
                let found = self.visit_candidate_shard(&mut rng, policy, |s, rng| {
                    let dbs = &s.dbs;
                    let start = rng.gen_range(0..dbs.len());
                    picked = (0..dbs.len())
                        .map(|k| (start + k) % dbs.len())
                        .find_map(|db| {
                            let d = &dbs[db];
                            let idx = if policy.volatile() {
                                d.random_volatile(rng)?
                            } else {
                                d.random_slot(rng)?
                            };
                            Some((db, d.entry(idx).key.as_slice().to_vec()))
                        });
                });
                if !found {
                    return None;
                }
                if let Some((db, key)) = picked {
                    if let Some(freed) = self.evict_key(policy, db, &key) {
                        return Some(freed);
                    }
                }
            }
            return None;
        }
        let mut pool = self.evict_pool.lock();
        for _ in 0..MAX_ROUNDS {
            let clock = self.lru_clock();
            let found = self.visit_candidate_shard(&mut rng, policy, |s, rng| {
                for (db, d) in s.dbs.iter().enumerate() {
                    for _ in 0..samples {
                        let idx = if policy.volatile() {
                            d.random_volatile(rng)
                        } else {
                            d.random_slot(rng)
                        };
                        let Some(idx) = idx else { break };
                        let e = d.entry(idx);
                        pool.offer(Candidate {
                            score: score(self, policy, e, clock),
                            db,
                            key: e.key.as_slice().to_vec(),
                        });
                    }
                }
            });
            if !found {
                pool.candidates.clear();
                return None;
            }
            // The best first; a key deleted or changed since it was filed is skipped.
            while let Some(c) = pool.candidates.pop() {
                if let Some(freed) = self.evict_key(policy, c.db, &c.key) {
                    return Some(freed);
                }
            }
        }
        None
    }

    /// Calls `f` on a shard holding a key the policy may evict, found from a random
    /// shard on; false when there is none anywhere.
    fn visit_candidate_shard(
        &self,
        rng: &mut rand::rngs::ThreadRng,
        policy: Policy,
        mut f: impl FnMut(&Shard, &mut rand::rngs::ThreadRng),
    ) -> bool {
        let start = rng.gen_range(0..SHARD_COUNT);
        for k in 0..SHARD_COUNT {
            let s = self.shards[(start + k) % SHARD_COUNT].lock();
            let has = s.dbs.iter().any(|d| {
                if policy.volatile() {
                    d.volatile_len() > 0
                } else {
                    !d.is_empty()
                }
            });
            if has {
                f(&s, rng);
                return true;
            }
        }
        false
    }

    /// Deletes `key` of `db` if it is still there and the policy may evict it; returns
    /// the memory it held.
    fn evict_key(&self, policy: Policy, db: usize, key: &[u8]) -> Option<usize> {
        let removed;
        {
            let mut l = self.lock(&[key]);
            l.cmd = "evict";
            let s = l.find(db, key)?;
            if policy.volatile() && l.entry(s).expire_at == 0 {
                return None;
            }
            removed = l.remove(s);
            let pos = s.pos;
            let shard = &mut l.guards[pos].1;
            shard.stats.evicted += 1;
            if self.watching() {
                shard.touch_watched(db, key);
            }
            if l.logging() {
                let del = LogEntry::Del { db: db as u32, key };
                encode_entry(&del, l.effects());
            }
            l.notify(notify::EVICTED, "evicted", db, key);
        }
        // Freed after the lock is released: a large collection takes a while.
        let freed = crate::memory::usage(&removed, 5);
        drop(removed);
        Some(freed)
    }
}

/// How strongly `e` should be evicted under `policy` (higher first).
fn score(ks: &Keyspace, policy: Policy, e: &Entry, clock: u32) -> u64 {
    let idle = clock.saturating_sub(e.lru);
    match policy {
        Policy::AllKeysLfu | Policy::VolatileLfu => {
            // The counter as it would read now, after its decay (`lfu-decay-time`).
            255 - u64::from(ks.lfu_decayed(e.freq, idle))
        }
        Policy::VolatileTtl => u64::MAX - e.expire_at,
        _ => u64::from(idle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(score: u64, key: &str) -> Candidate {
        Candidate {
            score,
            db: 0,
            key: key.as_bytes().to_vec(),
        }
    }

    #[test]
    fn pool_keeps_the_best_sixteen_worst_first() {
        let mut p = Pool::default();
        for i in 0..40u64 {
            p.offer(cand((i * 7) % 40, &format!("k{i}")));
        }
        let scores: Vec<u64> = p.candidates.iter().map(|c| c.score).collect();
        assert_eq!(scores, (24..40).collect::<Vec<_>>());
        // A key filed again is rescored, not duplicated.
        p.offer(cand(100, "k0"));
        p.offer(cand(101, "k0"));
        assert_eq!(p.candidates.iter().filter(|c| c.key == b"k0").count(), 1);
        assert_eq!(p.candidates.last().map(|c| c.score), Some(101));
        assert_eq!(p.candidates.len(), POOL_SIZE);
    }

    #[test]
    fn policies_parse_by_redis_name() {
        for p in Policy::ALL {
            assert_eq!(Policy::parse(p.name()), Some(p));
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllKeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    fn filled(n: usize, ttl_every: usize) -> Keyspace {
        let ks = Keyspace::new(2);
        for i in 0..n {
            let key = format!("key:{i}");
            let mut l = ks.lock(&[key.as_bytes()]);
            let ttl = if ttl_every != 0 && i % ttl_every == 0 {
                Ttl::At(unix_ms() + 1_000_000 + i as u64)
            } else {
                Ttl::Clear
            };
            l.set(
                i % 2,
                key.as_bytes(),
                Value::Str(CompactBytes::new(b"v")),
                ttl,
            );
        }
        ks
    }

    #[test]
    fn volatile_policies_evict_only_keys_with_a_ttl() {
        for policy in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let ks = filled(300, 3);
            let mut n = 0;
            while ks.evict_one(policy, 5).is_some() {
                n += 1;
            }
            assert_eq!(n, 100, "{policy:?}");
            let counts = ks.db_counts();
            assert_eq!(counts.iter().map(|c| c.0).sum::<usize>(), 200);
            assert_eq!(counts.iter().map(|c| c.1).sum::<usize>(), 0);
            assert_eq!(ks.stats().evicted, 100);
        }
    }

    #[test]
    fn allkeys_policies_empty_the_keyspace() {
        for policy in [
            Policy::AllKeysLru,
            Policy::AllKeysLfu,
            Policy::AllKeysRandom,
        ] {
            let ks = filled(200, 0);
            let mut n = 0;
            while ks.evict_one(policy, 5).is_some() {
                n += 1;
            }
            assert_eq!(n, 200, "{policy:?}");
            assert_eq!(ks.dbsize(0) + ks.dbsize(1), 0);
        }
        assert_eq!(filled(10, 0).evict_one(Policy::NoEviction, 5), None);
    }

    #[test]
    fn volatile_ttl_prefers_the_soonest_expiry() {
        let ks = filled(20_000, 1);
        // Key i expires at base + i. Each eviction ranks at least 20 sampled keys, so it
        // takes one of the soonest tenth with probability 1 - 0.9^20 = 0.88; at random it
        // would be 0.1. Fewer than 10 of 20 is 5 standard deviations below 0.88.
        for _ in 0..20 {
            assert!(ks.evict_one(Policy::VolatileTtl, 10).is_some());
        }
        let soonest_gone = (0..2_000)
            .filter(|i| ks.dbs_contain(i % 2, format!("key:{i}").as_bytes()) == 0)
            .count();
        assert!(soonest_gone >= 10, "{soonest_gone}");
    }

    impl Keyspace {
        fn dbs_contain(&self, db: usize, key: &[u8]) -> usize {
            let mut l = self.lock(&[key]);
            usize::from(l.find(db, key).is_some())
        }
    }
}
