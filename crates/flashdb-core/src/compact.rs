//! A byte string that stores short contents inline.
//!
//! Most keys and many values are short (`user:1000`, `42`). Keeping up to 22 bytes inside the
//! 24-byte value itself saves a heap allocation and its allocator overhead per key, which is
//! most of the memory of a keyspace of small strings.

use std::fmt;

/// Longest contents stored without a heap allocation.
pub const INLINE_CAP: usize = 22;

/// An owned byte string, inline when short, boxed otherwise. 24 bytes either way.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactBytes {
    /// Contents of at most [`INLINE_CAP`] bytes.
    Inline {
        /// Number of bytes of `buf` in use.
        len: u8,
        /// The bytes; those past `len` are zero.
        buf: [u8; INLINE_CAP],
    },
    /// Longer contents on the heap, with no spare capacity.
    Heap(Box<[u8]>),
}

impl CompactBytes {
    /// Copies `s`.
    pub fn new(s: &[u8]) -> Self {
        if s.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            buf[..s.len()].copy_from_slice(s);
            CompactBytes::Inline {
                len: s.len() as u8,
                buf,
            }
        } else {
            CompactBytes::Heap(s.into())
        }
    }

    /// Takes ownership of `v` without copying when it is long.
    pub fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE_CAP {
            Self::new(&v)
        } else {
            CompactBytes::Heap(v.into_boxed_slice())
        }
    }

    /// The contents.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            CompactBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            CompactBytes::Heap(b) => b,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        match self {
            CompactBytes::Inline { len, .. } => usize::from(*len),
            CompactBytes::Heap(b) => b.len(),
        }
    }

    /// Whether the contents are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The contents, for edits in place that keep the length (`SETBIT`, `BITFIELD`).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            CompactBytes::Inline { len, buf } => &mut buf[..usize::from(*len)],
            CompactBytes::Heap(b) => b,
        }
    }

    /// Zero-pads the contents to at least `len` bytes (Redis's `sdsgrowzero`).
    pub fn grow_zeroed(&mut self, len: usize) {
        if self.len() < len {
            let mut v = std::mem::replace(self, CompactBytes::new(b"")).into_vec();
            v.resize(len, 0);
            *self = CompactBytes::from_vec(v);
        }
    }

    /// The contents as an owned vector, for in-place edits (`APPEND`, `SETRANGE`).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            CompactBytes::Inline { len, buf } => buf[..usize::from(len)].to_vec(),
            CompactBytes::Heap(b) => b.into_vec(),
        }
    }
}

impl fmt::Debug for CompactBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_round_trip() {
        assert_eq!(std::mem::size_of::<CompactBytes>(), 24);
        for len in [0usize, 1, 21, 22, 23, 100] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let c = CompactBytes::new(&data);
            assert_eq!(c.as_slice(), &data[..]);
            assert_eq!(c.len(), len);
            assert_eq!(CompactBytes::from_vec(data.clone()).as_slice(), &data[..]);
            assert_eq!(c.clone().into_vec(), data);
            assert_eq!(matches!(c, CompactBytes::Inline { .. }), len <= INLINE_CAP);
        }
    }
}
