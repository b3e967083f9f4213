//! What openraft's suite does not cover: the Raft log read back from the write-ahead log
//! after a restart (entries, truncations, purges, commit point, vote), entries applied to
//! the keyspace (and a leader's own entries not applied twice), and a snapshot carried
//! from one node's state machine to another's with its data and metadata.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_core::codec::encode_entry;
use flashdb_core::compact::CompactBytes;
use flashdb_core::keyspace::Ttl;
use flashdb_core::log_entry::{LogEntry, LogSink};
use flashdb_core::value::Value;
use flashdb_core::Keyspace;
use flashdb_replication::meta_file::VoteFile;
use flashdb_replication::types::{Entry, LogId};
use flashdb_replication::{
    decode_meta, Local, LogRecovery, LogStore, Origin, Proposal, StateMachine,
};
use flashdb_storage::{recover, FsyncPolicy, Wal, WalConfig};
use openraft::storage::{
    RaftLogReader, RaftLogStorage, RaftLogStorageExt, RaftSnapshotBuilder, RaftStateMachine,
};
use openraft::{CommittedLeaderId, EntryPayload, Vote};

fn temp_dir(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flashdb-raft-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn set_effects(key: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::new();
    encode_entry(
        &LogEntry::Set {
            db: 0,
            key: key.as_bytes(),
            value: value.as_bytes(),
            ttl: Ttl::Clear,
        },
        &mut out,
    );
    out
}

fn normal(term: u64, index: u64, origin: Origin, local_seq: u64, key: &str, value: &str) -> Entry {
    Entry {
        log_id: id(term, index),
        payload: EntryPayload::Normal(Proposal {
            origin,
            items: vec![flashdb_replication::types::Item {
                local_seq,
                effects: set_effects(key, value).into(),
            }],
        }),
    }
}

/// Opens `dir` as a node does at start-up: recovery reads the records back into the log.
fn open_log(dir: &Path) -> LogStore {
    let mut rebuilt = LogRecovery::new();
    let report = recover(dir, &mut |_, _| Ok(()), &mut |seq, payload| {
        rebuilt.on_record(seq, payload).map_err(|e| e.to_string())
    })
    .unwrap();
    let wal = Wal::open(
        WalConfig {
            dir: dir.to_path_buf(),
            segment_size: 1 << 20,
            fsync: FsyncPolicy::Always,
            archive: false,
            gather: false,
        },
        report.last_seq,
        report.segments,
        report.end_offset,
    )
    .unwrap();
    rebuilt.open(Arc::new(wal), VoteFile::new(dir)).unwrap()
}

#[derive(Debug)]
struct NoProposals;

impl LogSink for NoProposals {
    fn append(&self, _payload: &[u8]) -> u64 {
        unreachable!("these tests run no commands")
    }
    fn last_seq(&self) -> u64 {
        0
    }
    fn durable_seq(&self) -> u64 {
        0
    }
}

fn keyspace() -> Arc<Keyspace> {
    let ks = Arc::new(Keyspace::new(16));
    ks.set_log_sink(Box::new(NoProposals));
    ks
}

fn get(ks: &Keyspace, key: &str) -> Option<String> {
    let mut l = ks.lock(&[key.as_bytes()]);
    let s = l.find(0, key.as_bytes())?;
    match &l.entry(s).value {
        Value::Str(v) => Some(String::from_utf8(v.as_slice().to_vec()).unwrap()),
        other => panic!("{key} holds {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_log_comes_back_after_a_restart() {
    let dir = temp_dir("restart");
    let other = Origin {
        node: 2,
        incarnation: 7,
    };
    {
        let mut log = open_log(&dir);
        log.blocking_append((1..=5).map(|i| normal(1, i, other, i, &format!("k{i}"), "v")))
            .await
            .unwrap();
        // A new leader's log wins from index 4 on.
        log.truncate(id(1, 4)).await.unwrap();
        log.blocking_append([blank(2, 4), normal(2, 5, other, 9, "k5", "w")])
            .await
            .unwrap();
        log.save_vote(&Vote::new_committed(2, 1)).await.unwrap();
        log.save_committed(Some(id(2, 4))).await.unwrap();
        // A commit point is recorded with the entries appended after it: this one is,
        log.blocking_append([normal(2, 6, other, 10, "k6", "v")])
            .await
            .unwrap();
        // and this one, with nothing appended after it, is not (it costs no write).
        log.save_committed(Some(id(2, 6))).await.unwrap();
        log.purge(id(1, 2)).await.unwrap();
        log.wal().close();
    }
    let mut log = open_log(&dir);
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(id(1, 2)));
    assert_eq!(state.last_log_id, Some(id(2, 6)));
    let entries = log.try_get_log_entries(0..100).await.unwrap();
    let ids: Vec<LogId> = entries.iter().map(|e| e.log_id).collect();
    assert_eq!(ids, vec![id(1, 3), id(2, 4), id(2, 5), id(2, 6)]);
    match &entries[2].payload {
        EntryPayload::Normal(p) => {
            assert_eq!(
                (p.origin, p.items.len(), p.items[0].local_seq),
                (other, 1, 9)
            );
            assert_eq!(p.items[0].effects, set_effects("k5", "w"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new_committed(2, 1))
    );
    assert_eq!(log.read_committed().await.unwrap(), Some(id(2, 4)));
    log.wal().close();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_apply_once_and_a_snapshot_carries_data_and_metadata() {
    let dir_a = temp_dir("sm-a");
    let dir_b = temp_dir("sm-b");
    let log_a = open_log(&dir_a);
    let log_b = open_log(&dir_b);
    let local = Arc::new(Local::new(1));
    let ks_a = keyspace();
    let mut sm_a = StateMachine::new(ks_a.clone(), &dir_a, log_a.clone(), local.clone(), None);

    // Another node's entry is applied; this process's own entry was executed in memory
    // when it was proposed (the test leaves it out of memory to show it is not applied
    // again), and applying it only marks it committed.
    let other = Origin {
        node: 2,
        incarnation: 1,
    };
    let mine = local.origin();
    let seq = local.next_seq();
    assert_eq!(local.committed(), 0);
    sm_a.apply([
        blank(1, 1),
        normal(1, 2, other, 1, "a", "1"),
        normal(1, 3, mine, seq, "mine", "x"),
        normal(1, 4, other, 2, "b", "2"),
    ])
    .await
    .unwrap();
    assert_eq!(get(&ks_a, "a").as_deref(), Some("1"));
    assert_eq!(get(&ks_a, "b").as_deref(), Some("2"));
    assert_eq!(
        get(&ks_a, "mine"),
        None,
        "an own entry is not applied twice"
    );
    assert_eq!(local.committed(), seq);
    assert_eq!(sm_a.last_applied(), Some(id(1, 4)));

    let snap = sm_a.build_snapshot().await.unwrap();
    assert_eq!(snap.meta.last_log_id, Some(id(1, 4)));

    // Another node receives it.
    let ks_b = keyspace();
    let local_b = Arc::new(Local::new(2));
    let mut sm_b = StateMachine::new(ks_b.clone(), &dir_b, log_b.clone(), local_b.clone(), None);
    let before = local_b.origin();
    let mut incoming = sm_b.begin_receiving_snapshot().await.unwrap();
    let mut sent = snap.snapshot;
    {
        use tokio::io::AsyncSeekExt;
        sent.seek(std::io::SeekFrom::Start(0)).await.unwrap();
        tokio::io::copy(&mut *sent, &mut *incoming).await.unwrap();
    }
    sm_b.install_snapshot(&snap.meta, incoming).await.unwrap();
    assert_eq!(get(&ks_b, "a").as_deref(), Some("1"));
    assert_eq!(get(&ks_b, "b").as_deref(), Some("2"));
    assert_eq!(ks_b.dbsize(0), 2);
    let (applied, _) = sm_b.applied_state().await.unwrap();
    assert_eq!(applied, Some(id(1, 4)));
    assert_ne!(local_b.origin(), before, "new memory, new incarnation");

    // The installed file is the node's snapshot, with its metadata, for the next start.
    let files = flashdb_storage::snapshot::list_snapshots(&dir_b).unwrap();
    assert_eq!(files.len(), 1);
    let info = flashdb_storage::snapshot::read_snapshot(&files[0].1, None).unwrap();
    let meta = decode_meta(&info.meta.unwrap()).unwrap();
    assert_eq!(meta, snap.meta);

    log_a.wal().close();
    log_b.wal().close();
    std::fs::remove_dir_all(&dir_a).unwrap();
    std::fs::remove_dir_all(&dir_b).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_proposal_missing_from_the_log_is_refused_and_memory_rebuilt() {
    let dir = temp_dir("gap");
    let mut log = open_log(&dir);
    let local = Arc::new(Local::new(1));
    let ks = keyspace();
    let mut sm = StateMachine::new(ks.clone(), &dir, log.clone(), local.clone(), None);
    let mine = local.origin();
    let (s1, s2, s3) = (local.next_seq(), local.next_seq(), local.next_seq());
    // This node executed three writes (its memory has all three), but the second never
    // reached the log: the third comes back with a gap before it.
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        ks.lock(&[k.as_bytes()]).set(
            0,
            k.as_bytes(),
            Value::Str(CompactBytes::new(v.as_bytes())),
            Ttl::Clear,
        );
    }
    let entries = vec![
        normal(1, 1, mine, s1, "a", "1"),
        normal(1, 2, mine, s3, "c", "3"),
    ];
    log.blocking_append(entries.clone()).await.unwrap();
    sm.apply(entries).await.unwrap();
    assert!(
        local.wait_committed(s2).await.is_err(),
        "the lost write is refused"
    );
    // Memory holds what the log holds, nothing of the lost write.
    assert_eq!(get(&ks, "a").as_deref(), Some("1"));
    assert_eq!(get(&ks, "b"), None);
    assert_eq!(get(&ks, "c").as_deref(), Some("3"));
    assert_ne!(local.origin(), mine, "new memory, new incarnation");
    log.wal().close();
    std::fs::remove_dir_all(&dir).unwrap();
}
