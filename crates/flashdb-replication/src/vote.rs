//! The node's vote, in its own small file (`raft-vote.json`): written to a temporary
//! file, fsynced, renamed into place and the directory fsynced, so that a crash leaves the
//! old vote or the new one. A vote changes only at elections, so this costs nothing in the
//! steady state, and a vote never sits in a log segment that a purge deletes.

use std::io::Write;
use std::path::{Path, PathBuf};

use flashdb_storage::segment::sync_dir;

use crate::types::Vote;

/// The file holding a node's vote.
pub const VOTE_FILE: &str = "raft-vote.json";

/// Reads and writes the vote file of a data directory.
#[derive(Debug, Clone)]
pub struct VoteFile {
    dir: PathBuf,
}

/// A vote file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum VoteError {
    /// An I/O error on the file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file holds something that is not a vote.
    #[error("{path}: not a vote ({reason}); the node cannot know whom it voted for")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl VoteFile {
    /// The vote file of `dir`.
    pub fn new(dir: &Path) -> VoteFile {
        VoteFile {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(VOTE_FILE)
    }

    /// The vote saved last, or `None` if the node never voted.
    pub fn load(&self) -> Result<Option<Vote>, VoteError> {
        let path = self.path();
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(VoteError::Io { path, source }),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| VoteError::Corrupt {
                path,
                reason: e.to_string(),
            })
    }

    /// Saves `vote` durably.
    pub fn save(&self, vote: &Vote) -> Result<(), VoteError> {
        let path = self.path();
        let tmp = self.dir.join(format!("{VOTE_FILE}.tmp"));
        let io = |source, path: &Path| VoteError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(vote).map_err(|e| VoteError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| io(e, &tmp))?;
        f.write_all(&json).map_err(|e| io(e, &tmp))?;
        f.sync_all().map_err(|e| io(e, &tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(|e| io(e, &path))?;
        sync_dir(&self.dir).map_err(|e| VoteError::Io {
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
        assert!(matches!(f.load(), Err(VoteError::Corrupt { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
