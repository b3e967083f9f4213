//! openraft's own test suite for storage implementations, run against the real log store
//! (over a write-ahead log in a temporary directory) and the real state machine (over a
//! keyspace): appends, reads, truncation, purging, votes, membership, applied state and
//! snapshot transfer, as openraft expects them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flashdb_core::log_entry::LogSink;
use flashdb_core::Keyspace;
use flashdb_replication::meta_file::VoteFile;
use flashdb_replication::types::StorageError;
use flashdb_replication::{Local, LogRecovery, LogStore, StateMachine, TypeConfig};
use flashdb_storage::{FsyncPolicy, Wal, WalConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageIOError};

/// Removes the test's directory when the test is done with it.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The keyspace's log sink: these tests never execute commands, so nothing is proposed.
#[derive(Debug)]
struct NoProposals(Arc<Local>);

impl LogSink for NoProposals {
    fn append(&self, _payload: &[u8]) -> u64 {
        unreachable!("the storage suite runs no commands")
    }
    fn last_seq(&self) -> u64 {
        self.0.last_proposed()
    }
    fn durable_seq(&self) -> u64 {
        self.0.committed()
    }
}

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, Dir> for Builder {
    async fn build(&self) -> Result<(Dir, LogStore, StateMachine), StorageError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flashdb-raft-suite-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let io = |e: String| StorageError::IO {
            source: StorageIOError::write(AnyError::error(e)),
        };
        let wal = Wal::open(
            WalConfig {
                dir: dir.clone(),
                segment_size: 1 << 20,
                fsync: FsyncPolicy::Always,
                archive: false,
                gather: false,
            },
            0,
            Vec::new(),
            None,
        )
        .map_err(|e| io(e.to_string()))?;
        let log = LogRecovery::new()
            .open(Arc::new(wal), VoteFile::new(&dir))
            .map_err(|e| io(e.to_string()))?;
        let local = Arc::new(Local::new(1));
        let ks = Arc::new(Keyspace::new(16));
        ks.set_log_sink(Box::new(NoProposals(local.clone())));
        let sm = StateMachine::new(ks, &dir, log.clone(), local, None);
        Ok((Dir(dir), log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}
