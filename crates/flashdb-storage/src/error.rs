//! Storage errors. Each names the file and, where it applies, the byte offset, so that an
//! operator knows what is damaged and where (and can run `flashdb check`).

use std::path::PathBuf;

use thiserror::Error;

/// Something went wrong reading or writing the data directory.
#[derive(Debug, Error)]
pub enum StorageError {
    /// An operating-system error on a file or directory.
    #[error("I/O error on {path}: {error}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error (part of the message, so that it is not printed twice in a chain).
        error: std::io::Error,
    },
    /// A file whose header is not FlashDB's, or of a format version this build cannot read.
    #[error("{path}: {reason}")]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A damaged log record that is not the torn tail of the last segment.
    #[error("corrupt log record in {path} at offset {offset}: {reason} (run `flashdb check --dir DIR` to inspect, `--repair` to cut the log there)")]
    CorruptRecord {
        /// The segment.
        path: PathBuf,
        /// Offset of the record.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A damaged snapshot with no usable older one.
    #[error("corrupt snapshot {path} at offset {offset}: {reason}")]
    CorruptSnapshot {
        /// The snapshot.
        path: PathBuf,
        /// Offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Log records are missing between the snapshot (or the start) and the segments present.
    #[error("missing log records: expected sequence {expected}, but {path} starts at {found}")]
    Gap {
        /// The first segment after the gap.
        path: PathBuf,
        /// The sequence number that should come next.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// Another process holds the data directory.
    #[error("data directory {dir} is in use by another FlashDB server (lock held on {lock}); stop it first or use another --dir")]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The log refused a write after an earlier write or fsync error.
    #[error("{0}")]
    Poisoned(String),
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> StorageError {
        StorageError::Io {
            path: path.into(),
            error: source,
        }
    }
}
