//! FlashDB's storage: the write-ahead log (segments, records, group commit), snapshot
//! files, start-up recovery, the data-directory lock, and offline check and repair.
//!
//! It knows bytes, files and fsync, not what a record means: payloads are encoded and
//! decoded by the engine. The layout of a data directory is documented in `docs/storage.md`.

mod check;
mod durable;
mod error;
pub mod failpoint;
pub mod histogram;
pub mod ledger;
mod lock;
mod prefill;
pub mod record;
mod recovery;
pub mod segment;
pub mod snapshot;
mod wal;

pub use check::{check, CheckReport};
pub use durable::WaitDurable;
pub use error::StorageError;
pub use histogram::Histogram;
pub use lock::DirLock;
pub use recovery::{recover, RecordSink, RecoveryReport};
pub use snapshot::{SnapshotInfo, SnapshotWriter};
pub use wal::{defer_wakeups_on_this_thread, FsyncPolicy, Wal, WalConfig, WalStats};
