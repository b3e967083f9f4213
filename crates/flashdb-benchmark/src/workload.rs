//! What the load generator sends: the workloads, the key space and its distribution.

use rand::rngs::SmallRng;
use rand::Rng;
use rand_distr::{Distribution, Zipf};

/// The data type a workload exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// `SET` and `GET` of string keys, in the `--ratio` proportion.
    String,
    /// `HSET` and `HGET`: fields of 100 hashes, a field per key number.
    Hash,
    /// `LPUSH` and `RPOP` on lists.
    List,
    /// `SADD` and `SISMEMBER`.
    Set,
    /// `ZADD` and `ZSCORE`.
    Zset,
    /// A work queue: producers `QADD`, consumers `QRESERVE` a batch and `QACK` it.
    Queue,
    /// A stream with a consumer group: producers `XADD`, consumers `XREADGROUP` a batch
    /// and `XACK` it (works against Redis too, for side-by-side runs).
    Stream,
}

impl Workload {
    /// Whether connections split into producers and consumers.
    pub fn producers_and_consumers(self) -> bool {
        matches!(self, Workload::Queue | Workload::Stream)
    }
}

/// How keys are picked from the key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// A few keys hot, most cold (Zipf, exponent `--zipf-exponent`).
    Zipf,
    /// Keys in order, wrapping around (to fill a key space).
    Sequential,
}

/// Picks key numbers.
pub struct KeyPicker {
    keys: u64,
    dist: KeyDistribution,
    zipf: Option<Zipf<f64>>,
    next: u64,
}

impl KeyPicker {
    /// A picker over `keys` keys (at least 1).
    pub fn new(
        keys: u64,
        dist: KeyDistribution,
        exponent: f64,
        start: u64,
    ) -> anyhow::Result<KeyPicker> {
        let keys = keys.max(1);
        let zipf = match dist {
            KeyDistribution::Zipf => Some(
                Zipf::new(keys, exponent)
                    .map_err(|e| anyhow::anyhow!("--zipf-exponent {exponent}: {e}"))?,
            ),
            _ => None,
        };
        Ok(KeyPicker {
            keys,
            dist,
            zipf,
            next: start % keys,
        })
    }

    /// The next key number, below the key space's size.
    pub fn pick(&mut self, rng: &mut SmallRng) -> u64 {
        match (self.dist, &self.zipf) {
            (KeyDistribution::Zipf, Some(z)) => {
                (z.sample(rng) as u64).saturating_sub(1) % self.keys
            }
            (KeyDistribution::Sequential, _) => {
                let k = self.next;
                self.next = (self.next + 1) % self.keys;
                k
            }
            _ => rng.gen_range(0..self.keys),
        }
    }
}

/// The two commands of a read/write workload.
pub fn command_names(w: Workload) -> (&'static str, &'static str) {
    match w {
        Workload::String => ("SET", "GET"),
        Workload::Hash => ("HSET", "HGET"),
        Workload::List => ("LPUSH", "RPOP"),
        Workload::Set => ("SADD", "SISMEMBER"),
        Workload::Zset => ("ZADD", "ZSCORE"),
        Workload::Queue => ("QADD", "QRESERVE"),
        Workload::Stream => ("XADD", "XREADGROUP"),
    }
}

/// Appends one write (`write` true) or read of key number `k` for workload `w`.
pub fn build(w: Workload, write: bool, k: u64, value: &[u8], prefix: &str, out: &mut Vec<u8>) {
    let key = format!("{prefix}{k:012}");
    let member = format!("m{:06}", k % 1_000_000);
    match (w, write) {
        (Workload::String, true) => {
            flashdb_protocol::encode_command(out, &[b"SET", key.as_bytes(), value])
        }
        (Workload::String, false) => {
            flashdb_protocol::encode_command(out, &[b"GET".as_slice(), key.as_bytes()])
        }
        // Hashes, sets and sorted sets: 100 keys, members spread over the key space.
        (Workload::Hash, true) => flashdb_protocol::encode_command(
            out,
            &[
                b"HSET",
                format!("{prefix}h{}", k % 100).as_bytes(),
                member.as_bytes(),
                value,
            ],
        ),
        (Workload::Hash, false) => flashdb_protocol::encode_command(
            out,
            &[
                b"HGET".as_slice(),
                format!("{prefix}h{}", k % 100).as_bytes(),
                member.as_bytes(),
            ],
        ),
        (Workload::List, true) => flashdb_protocol::encode_command(
            out,
            &[b"LPUSH", format!("{prefix}l{}", k % 100).as_bytes(), value],
        ),
        (Workload::List, false) => flashdb_protocol::encode_command(
            out,
            &[
                b"RPOP".as_slice(),
                format!("{prefix}l{}", k % 100).as_bytes(),
            ],
        ),
        (Workload::Set, true) => flashdb_protocol::encode_command(
            out,
            &[
                b"SADD".as_slice(),
                format!("{prefix}s{}", k % 100).as_bytes(),
                member.as_bytes(),
            ],
        ),
        (Workload::Set, false) => flashdb_protocol::encode_command(
            out,
            &[
                b"SISMEMBER".as_slice(),
                format!("{prefix}s{}", k % 100).as_bytes(),
                member.as_bytes(),
            ],
        ),
        (Workload::Zset, true) => flashdb_protocol::encode_command(
            out,
            &[
                b"ZADD".as_slice(),
                format!("{prefix}z{}", k % 100).as_bytes(),
                (k % 1000).to_string().as_bytes(),
                member.as_bytes(),
            ],
        ),
        (Workload::Zset, false) => flashdb_protocol::encode_command(
            out,
            &[
                b"ZSCORE".as_slice(),
                format!("{prefix}z{}", k % 100).as_bytes(),
                member.as_bytes(),
            ],
        ),
        // The queue's and the stream's steps depend on replies: see `conn`.
        (Workload::Queue | Workload::Stream, _) => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn pickers_stay_in_the_key_space() {
        let mut rng = SmallRng::seed_from_u64(1);
        for dist in [
            KeyDistribution::Uniform,
            KeyDistribution::Zipf,
            KeyDistribution::Sequential,
        ] {
            let mut p = KeyPicker::new(1000, dist, 0.99, 0).unwrap();
            for _ in 0..10_000 {
                assert!(p.pick(&mut rng) < 1000);
            }
        }
        // Zipf makes the first keys hot.
        let mut p = KeyPicker::new(1000, KeyDistribution::Zipf, 1.2, 0).unwrap();
        let hot = (0..10_000).filter(|_| p.pick(&mut rng) < 10).count();
        assert!(hot > 3000, "{hot}");
        let mut p = KeyPicker::new(3, KeyDistribution::Sequential, 0.0, 1).unwrap();
        let got: Vec<u64> = (0..4).map(|_| p.pick(&mut rng)).collect();
        assert_eq!(got, [1, 2, 0, 1]);
    }

    #[test]
    fn builds_commands() {
        let mut out = Vec::new();
        build(Workload::String, true, 7, b"abc", "key:", &mut out);
        assert_eq!(
            out,
            b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000007\r\n$3\r\nabc\r\n"
        );
    }
}
