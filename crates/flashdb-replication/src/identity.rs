//! Which group a node belongs to, checked on every Raft message: a node of one group
//! never takes entries, votes or snapshots from another (a peer list typed wrong, a data
//! directory copied from elsewhere), and says so in its answer.
//!
//! The node that forms a group draws its id; a node that has none (a new node, or one
//! whose group has not formed yet) takes the id of the first group that reaches it, and
//! keeps it from then on.

use std::path::Path;

use parking_lot::RwLock;

use crate::meta_file::{GroupId, GroupIdFile, MetaFileError};

/// The HTTP header that carries the sender's group id on the group port.
pub const GROUP_HEADER: &str = "flashdb-group";

/// A node's group id, and the file that keeps it.
#[derive(Debug)]
pub struct Identity {
    file: GroupIdFile,
    id: RwLock<Option<GroupId>>,
}

/// A message from a node that is not of this node's group.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The sender belongs to another group.
    #[error("this node belongs to group {mine}, not to group {theirs}")]
    OtherGroup {
        /// This node's group.
        mine: GroupId,
        /// The sender's.
        theirs: GroupId,
    },
    /// The sender has no group, and this node has one.
    #[error("this node belongs to group {mine}; the sender belongs to none")]
    NoGroup {
        /// This node's group.
        mine: GroupId,
    },
    /// The id could not be saved.
    #[error("cannot keep the group id: {0}")]
    Io(#[from] MetaFileError),
}

impl Identity {
    /// The identity kept in `dir` (none yet on a new node).
    pub fn open(dir: &Path) -> Result<Identity, MetaFileError> {
        let file = GroupIdFile::new(dir);
        let id = file.load()?;
        Ok(Identity {
            file,
            id: RwLock::new(id),
        })
    }

    /// `req` carrying this node's group id (if it has one yet), as every message to
    /// another node's group port must.
    pub fn tag(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.get() {
            Some(group) => req.header(GROUP_HEADER, group.0),
            None => req,
        }
    }

    /// This node's group id, if it has one yet.
    pub fn get(&self) -> Option<GroupId> {
        self.id.read().clone()
    }

    /// The group id for a group this node forms: a new one, saved, unless it has one.
    pub fn form(&self) -> Result<GroupId, MetaFileError> {
        let mut id = self.id.write();
        if let Some(existing) = &*id {
            return Ok(existing.clone());
        }
        let new = GroupId::random();
        self.file.save(&new)?;
        *id = Some(new.clone());
        Ok(new)
    }

    /// Whether a message from a node of group `theirs` may be taken; a node with no
    /// group yet joins `theirs` (saved before the message is taken).
    pub fn admit(&self, theirs: Option<&GroupId>) -> Result<(), Refusal> {
        if let Some(mine) = &*self.id.read() {
            return match theirs {
                Some(t) if t == mine => Ok(()),
                Some(t) => Err(Refusal::OtherGroup {
                    mine: mine.clone(),
                    theirs: t.clone(),
                }),
                None => Err(Refusal::NoGroup { mine: mine.clone() }),
            };
        }
        let Some(theirs) = theirs else {
            return Ok(());
        };
        let mut id = self.id.write();
        match &*id {
            Some(mine) if mine == theirs => Ok(()),
            Some(mine) => Err(Refusal::OtherGroup {
                mine: mine.clone(),
                theirs: theirs.clone(),
            }),
            None => {
                self.file.save(theirs)?;
                tracing::info!(group = %theirs, "joined group");
                *id = Some(theirs.clone());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_node_joins_the_first_group_and_refuses_others() {
        let dir = std::env::temp_dir().join(format!("fdb-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let me = Identity::open(&dir).unwrap();
        assert_eq!(me.get(), None);
        me.admit(None).unwrap();
        let a = GroupId("a".repeat(32));
        let b = GroupId("b".repeat(32));
        me.admit(Some(&a)).unwrap();
        assert_eq!(me.get(), Some(a.clone()));
        me.admit(Some(&a)).unwrap();
        assert!(matches!(
            me.admit(Some(&b)),
            Err(Refusal::OtherGroup { .. })
        ));
        assert!(matches!(me.admit(None), Err(Refusal::NoGroup { .. })));
        // Kept across restarts.
        let again = Identity::open(&dir).unwrap();
        assert_eq!(again.get(), Some(a.clone()));
        assert_eq!(again.form().unwrap(), a);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
