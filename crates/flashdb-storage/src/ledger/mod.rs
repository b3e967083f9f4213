//! The ledger: every committed log record is a leaf of an RFC 9162 Merkle tree, so that
//! the history of writes can be proven to clients and checked offline.

pub mod merkle;
pub mod tree;
