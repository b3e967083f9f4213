//! Time travel: the value a key had right after a given leaf of the ledger
//! (`LEDGER GETAT key index`). The records that shaped it are found through the key
//! index, following renames, moves and copies back to their sources; their entries for
//! those keys are applied, in order, to an empty scratch keyspace, the same `apply` that
//! recovery uses, and the key is read there. Nothing of the live data set is touched.

use std::collections::{BTreeSet, HashSet};

use flashdb_core::codec::decode_entries;
use flashdb_core::log_entry::Touches;
use flashdb_core::value::Value;
use flashdb_core::Keyspace;
use flashdb_storage::ledger::Ledger;

use crate::connection::ConnState;
use crate::server::Server;

/// Most records one time-travel read replays.
const MAX_RECORDS: usize = 1_000_000;

/// Whether an entry changes one of the `tracked` key names (or whole databases).
fn relevant(t: Touches<'_>, tracked: &HashSet<Vec<u8>>) -> bool {
    match t {
        Touches::Key(_, k) => tracked.contains(k),
        Touches::Two((_, a), (_, b)) => tracked.contains(a) || tracked.contains(b),
        Touches::Db(_) | Touches::Swap(..) | Touches::All => true,
        Touches::Nothing => false,
    }
}

/// The value of `key` in database `db` right after leaf `index`, in a scratch keyspace
/// rebuilt from the ledger's records (`None`: no such key then). History from before
/// the ledger's first leaf is not there: such a key reads as if created at its first
/// change in the ledger.
pub fn value_at(
    server: &Server,
    l: &Ledger,
    db: u32,
    key: &[u8],
    index: u64,
) -> Result<Option<Value>, String> {
    let upto = l.base() + index;
    let mut tracked: HashSet<Vec<u8>> = HashSet::from([key.to_vec()]);
    let mut pending: BTreeSet<u64> = server
        .ledger_index
        .candidates(key, usize::MAX)
        .into_iter()
        .filter(|s| *s <= upto && *s >= l.base())
        .collect();
    let mut records: Vec<(u64, Vec<u8>)> = Vec::new();
    // Newest first, so that a rename into a tracked key brings in its source's older
    // records before they are passed.
    while let Some(seq) = pending.pop_last() {
        if records.len() >= MAX_RECORDS {
            return Err(format!(
                "ERR this key's history has more than {MAX_RECORDS} records to replay"
            ));
        }
        let Some((_, payload)) = l
            .record(seq - l.base())
            .map_err(|e| format!("ERR ledger: {e}"))?
        else {
            continue;
        };
        {
            let entries = decode_entries(&payload).map_err(|e| format!("ERR ledger: {e}"))?;
            for e in &entries {
                if let Touches::Two((_, from), (_, to)) = e.touches() {
                    if tracked.contains(to) && !tracked.contains(from) {
                        tracked.insert(from.to_vec());
                        pending.extend(
                            server
                                .ledger_index
                                .candidates(from, usize::MAX)
                                .into_iter()
                                .filter(|s| *s < seq && *s >= l.base()),
                        );
                    }
                }
            }
        }
        records.push((seq, payload));
    }
    let scratch = Keyspace::new(server.config.databases);
    for (_, payload) in records.iter().rev() {
        let entries = decode_entries(payload).map_err(|e| format!("ERR ledger: {e}"))?;
        for e in entries.iter().filter(|e| relevant(e.touches(), &tracked)) {
            // A change to a key whose earlier history is not in the ledger (it predates
            // the first leaf) may not apply; what can be applied still is.
            let _ = flashdb_core::replay::apply(&scratch, e);
        }
    }
    let mut locked = scratch.replay_lock(&[key]);
    Ok(locked
        .find(db as usize, key)
        .map(|slot| locked.entry(slot).value.clone()))
}

/// Writes a value as `LEDGER GETAT` answers it: its type, and the value as the type's
/// own read command would give it (strings as `GET`, hashes as `HGETALL`, lists as
/// `LRANGE 0 -1`, sets as `SMEMBERS`, sorted sets as `ZRANGE 0 -1 WITHSCORES`; queues
/// and streams by their size only).
pub fn write_value(st: &mut ConnState, v: &Value) {
    st.out.map(2);
    st.out.bulk(b"type");
    match v {
        Value::Str(s) => {
            st.out.bulk(b"string");
            st.out.bulk(b"value");
            st.out.bulk(s.as_slice());
        }
        Value::Hash(h) => {
            st.out.bulk(b"hash");
            st.out.bulk(b"value");
            st.out.map(h.len());
            for (f, val) in h.iter() {
                st.out.bulk(f);
                st.out.bulk(val);
            }
        }
        Value::List(list) => {
            st.out.bulk(b"list");
            st.out.bulk(b"value");
            st.out.array(list.len());
            for item in list.iter() {
                st.out.bulk(item);
            }
        }
        Value::Set(set) => {
            st.out.bulk(b"set");
            st.out.bulk(b"value");
            st.out.array(set.len());
            for m in set.iter() {
                st.out.bulk(&m);
            }
        }
        Value::ZSet(z) => {
            st.out.bulk(b"zset");
            st.out.bulk(b"value");
            st.out.array(z.len() * 2);
            for (m, score) in z.iter() {
                st.out.bulk(m);
                st.out.double(score);
            }
        }
        Value::Queue(_) => {
            st.out.bulk(b"queue");
            st.out.bulk(b"value");
            st.out.null();
        }
        Value::Stream(_) => {
            st.out.bulk(b"stream");
            st.out.bulk(b"value");
            st.out.null();
        }
    }
}
