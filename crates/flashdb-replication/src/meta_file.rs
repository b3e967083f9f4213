//! A node's small metadata files, each replaced whole and durably: the vote
//! (`raft-vote.json`) and the id of the group the node belongs to (`raft-group.json`).
//!
//! A file is written to a temporary file, fsynced, renamed into place and the directory
//! fsynced, so that a crash leaves the old contents or the new. These change only at
//! elections and when a node first joins a group, so this costs nothing in the steady
//! state, and they never sit in a log segment that a purge deletes.

use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use flashdb_storage::segment::sync_dir;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::types::Vote;

/// The file holding a node's vote.
pub const VOTE_FILE: &str = "raft-vote.json";
/// The file holding the id of a node's group.
pub const GROUP_FILE: &str = "raft-group.json";

/// One metadata file of a data directory, holding a `T` as JSON.
#[derive(Debug)]
pub struct MetaFile<T> {
    dir: PathBuf,
    name: &'static str,
    /// What a reader loses when the file is unreadable, for the error message.
    loss: &'static str,
    _holds: PhantomData<fn() -> T>,
}

impl<T> Clone for MetaFile<T> {
    fn clone(&self) -> Self {
        MetaFile {
            dir: self.dir.clone(),
            name: self.name,
            loss: self.loss,
            _holds: PhantomData,
        }
    }
}

/// The vote file of a data directory.
pub type VoteFile = MetaFile<Vote>;
/// The group id file of a data directory.
pub type GroupIdFile = MetaFile<GroupId>;

/// Which group a node belongs to: drawn at random by the node that forms the group, and
/// learned by every node that joins it. Nodes refuse Raft traffic from another group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupId(pub String);

impl GroupId {
    /// A new, random group id.
    pub fn random() -> GroupId {
        GroupId(format!("{:032x}", rand::random::<u128>()))
    }
}

impl std::fmt::Display for GroupId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A metadata file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetaFileError {
    /// An I/O error on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file holds something else than it should.
    #[error("{path}: unreadable ({reason}); {loss}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// What the node cannot know without it.
        loss: &'static str,
    },
}

impl MetaFile<Vote> {
    /// The vote file of `dir`.
    pub fn new(dir: &Path) -> VoteFile {
        MetaFile::named(dir, VOTE_FILE, "the node cannot know whom it voted for")
    }
}

impl MetaFile<GroupId> {
    /// The group id file of `dir`.
    pub fn new(dir: &Path) -> GroupIdFile {
        MetaFile::named(
            dir,
            GROUP_FILE,
            "the node cannot know which group it belongs to",
        )
    }
}

impl<T: Serialize + DeserializeOwned> MetaFile<T> {
    fn named(dir: &Path, name: &'static str, loss: &'static str) -> MetaFile<T> {
        MetaFile {
            dir: dir.to_path_buf(),
            name,
            loss,
            _holds: PhantomData,
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(self.name)
    }

    /// What was saved last, or `None` if nothing ever was.
    pub fn load(&self) -> Result<Option<T>, MetaFileError> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(MetaFileError::Io { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| MetaFileError::Corrupt {
                path,
                reason: e.to_string(),
                loss: self.loss,
            })
    }

    /// Saves `value` durably.
    pub fn save(&self, value: &T) -> Result<(), MetaFileError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{}.tmp", self.name));
        let io = |source, path: &Path| MetaFileError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(value).map_err(|e| MetaFileError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
            loss: self.loss,
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(e, &tmp))?;
        f.write_all(&json).map_err(|e| io(e, &tmp))?;
        f.sync_all().map_err(|e| io(e, &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| io(e, &path))?;
        sync_dir(&self.dir).map_err(|e| MetaFileError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_vote_is_loaded_back_and_garbage_is_an_error() {
        let dir = std::env::temp_dir().join(format!("fdb-vote-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = VoteFile::new(&dir);
        assert!(f.load().unwrap().is_none());
        let v = Vote::new(3, 2);
        f.save(&v).unwrap();
        assert_eq!(f.load().unwrap(), Some(v));
        let v2 = Vote::new_committed(4, 1);
        f.save(&v2).unwrap();
        assert_eq!(f.load().unwrap(), Some(v2));
        std::fs::write(dir.join(VOTE_FILE), b"{not json").unwrap();
        assert!(matches!(f.load(), Err(MetaFileError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_group_id_is_kept_and_two_random_ids_differ() {
        let dir = std::env::temp_dir().join(format!("fdb-group-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = GroupIdFile::new(&dir);
        assert!(f.load().unwrap().is_none());
        let id = GroupId::random();
        assert_ne!(id, GroupId::random());
        assert_eq!(id.0.len(), 32);
        f.save(&id).unwrap();
        assert_eq!(f.load().unwrap(), Some(id));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
