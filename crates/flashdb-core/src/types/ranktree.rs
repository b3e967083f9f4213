//! The ordered index of a large sorted set: a B+tree of `(score, member)` pairs whose
//! inner nodes count the elements under each child (an order-statistic tree), so rank
//! and by-rank lookups are O(log n), as with the spans of Redis's skiplist.
//!
//! Why a B-tree rather than Redis's skiplist: a skiplist search steps through about
//! 2·log₄(n) nodes scattered over the heap, and each step is a cache miss. Here a search
//! visits log₆₄(n) nodes (three for 100,000 elements), each a binary search over a
//! contiguous array of scores. With a skiplist `ZADD` stayed at 0.91–0.94× Redis;
//! `docs/performance.md` has the figures with this tree.
//!
//! Elements are ordered by score, then by member bytes; scores are never NaN. Inner nodes
//! keep *lower bounds* as separators: separator `k` is at most every key of child `k + 1`
//! and more than every key of children `..=k`. A deletion leaves separators alone (a
//! removed key still bounds correctly), so only splits and merges touch them.

use crate::compact::CompactBytes;

/// Most elements in a leaf. Inserting shifts half a leaf on average (1 KiB), which costs
/// less than the cache misses a deeper tree would add.
const LEAF_CAP: usize = 64;
/// Most children of an inner node.
const INNER_CAP: usize = 64;
/// Below these a node is merged with, or refilled from, a sibling.
const LEAF_MIN: usize = LEAF_CAP / 4;
const INNER_MIN: usize = INNER_CAP / 4;

#[derive(Debug, Clone)]
struct Leaf {
    scores: Vec<f64>,
    members: Vec<CompactBytes>,
}

#[derive(Debug, Clone)]
struct Inner {
    /// `seps[k]` bounds child `k + 1` from below (see the module documentation).
    sep_scores: Vec<f64>,
    sep_members: Vec<CompactBytes>,
    /// Elements under each child.
    counts: Vec<usize>,
    children: Vec<Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf(Leaf),
    Inner(Box<Inner>),
}

/// A split-off right sibling and the separator that bounds it from below.
type Split = (f64, CompactBytes, Node);

/// Whether `(s, m)` orders strictly before `(ks, km)`.
#[inline]
fn before(s: f64, m: &[u8], ks: f64, km: &[u8]) -> bool {
    s < ks || (s == ks && m < km)
}

/// The number of leading keys for which `pred` holds (`pred` is true, then false, along
/// the order): a binary search that reads a member only when scores do not decide.
#[inline]
fn partition(scores: &[f64], members: &[CompactBytes], pred: impl Fn(f64, &[u8]) -> bool) -> usize {
    let (mut lo, mut hi) = (0, scores.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if pred(scores[mid], members[mid].as_slice()) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

impl Leaf {
    fn new() -> Self {
        Leaf {
            scores: Vec::with_capacity(LEAF_CAP + 1),
            members: Vec::with_capacity(LEAF_CAP + 1),
        }
    }

    /// The position of the first key not before `(s, m)`.
    fn lower_bound(&self, s: f64, m: &[u8]) -> usize {
        partition(&self.scores, &self.members, |ks, km| before(ks, km, s, m))
    }

    /// Splits off the elements from `mid` on.
    fn split(&mut self, mid: usize) -> Split {
        let mut right = Leaf::new();
        right.scores.extend(self.scores.drain(mid..));
        right.members.extend(self.members.drain(mid..));
        (right.scores[0], right.members[0].clone(), Node::Leaf(right))
    }
}

impl Inner {
    /// The child whose range holds `(s, m)`: the number of separators at or before it.
    fn child_for(&self, s: f64, m: &[u8]) -> usize {
        partition(&self.sep_scores, &self.sep_members, |ks, km| {
            !before(s, m, ks, km)
        })
    }

    /// Splits off the children from `mid` on (`0 < mid < len`); the separator between
    /// the halves moves up to the caller.
    fn split(&mut self, mid: usize) -> Split {
        let mut right = Inner {
            sep_scores: Vec::with_capacity(INNER_CAP),
            sep_members: Vec::with_capacity(INNER_CAP),
            counts: Vec::with_capacity(INNER_CAP + 1),
            children: Vec::with_capacity(INNER_CAP + 1),
        };
        right.sep_scores.extend(self.sep_scores.drain(mid..));
        right.sep_members.extend(self.sep_members.drain(mid..));
        right.counts.extend(self.counts.drain(mid..));
        right.children.extend(self.children.drain(mid..));
        // Separator `mid - 1` bounded child `mid`, now the right node's first child.
        let (Some(s), Some(m)) = (self.sep_scores.pop(), self.sep_members.pop()) else {
            unreachable!("an inner node that splits has more than two children")
        };
        (s, m, Node::Inner(Box::new(right)))
    }

    /// Inserts the right half of a split of child `i`.
    fn adopt(&mut self, i: usize, (s, m, right): Split) {
        let rc = right.len();
        self.counts[i] -= rc;
        self.counts.insert(i + 1, rc);
        self.sep_scores.insert(i, s);
        self.sep_members.insert(i, m);
        self.children.insert(i + 1, right);
    }

    /// Restores child `i`, which fell below its minimum, by merging it with a sibling,
    /// and splitting the result evenly again if it is over capacity.
    fn rebalance(&mut self, i: usize) {
        if self.children.len() < 2 {
            return;
        }
        let l = if i + 1 < self.children.len() {
            i
        } else {
            i - 1
        };
        let right = self.children.remove(l + 1);
        let rc = self.counts.remove(l + 1);
        let sep_s = self.sep_scores.remove(l);
        let sep_m = self.sep_members.remove(l);
        self.counts[l] += rc;
        let split = match (&mut self.children[l], right) {
            (Node::Leaf(a), Node::Leaf(b)) => {
                a.scores.extend(b.scores);
                a.members.extend(b.members);
                (a.scores.len() > LEAF_CAP).then(|| {
                    let split = a.split(a.scores.len() / 2);
                    a.scores.shrink_to(LEAF_CAP + 1);
                    a.members.shrink_to(LEAF_CAP + 1);
                    split
                })
            }
            (Node::Inner(a), Node::Inner(b)) => {
                let b = *b;
                a.sep_scores.push(sep_s);
                a.sep_members.push(sep_m);
                a.sep_scores.extend(b.sep_scores);
                a.sep_members.extend(b.sep_members);
                a.counts.extend(b.counts);
                a.children.extend(b.children);
                (a.children.len() > INNER_CAP).then(|| a.split(a.children.len() / 2))
            }
            _ => unreachable!("siblings are at the same depth"),
        };
        if let Some(split) = split {
            self.adopt(l, split);
        }
    }
}

/// Whether a node is on the leftmost and on the rightmost path of the tree.
#[derive(Debug, Clone, Copy)]
struct Edge {
    left: bool,
    right: bool,
}

const ROOT_EDGE: Edge = Edge {
    left: true,
    right: true,
};

/// Where a node of `len` entries (one over capacity) splits after an insertion whose new
/// entry sits at `at_left` (the entry that would be first if the insertion prepended) or
/// `at_right` (last, if it appended). Evenly, except at the ends of the whole tree:
/// insertions in order (ascending scores such as timestamps, or descending) would leave
/// every node there half empty for good, so the new entry goes alone into the new node
/// and the full one stays full. Deletions still merge such a node away once it is alone.
fn split_point(len: usize, at_left: usize, at_right: usize, edge: Edge) -> usize {
    if edge.right && at_right == len - 1 {
        len - 1
    } else if edge.left && at_left == 0 {
        1
    } else {
        len / 2
    }
}

impl Node {
    fn len(&self) -> usize {
        match self {
            Node::Leaf(l) => l.scores.len(),
            Node::Inner(n) => n.counts.iter().sum(),
        }
    }

    fn underfull(&self) -> bool {
        match self {
            Node::Leaf(l) => l.scores.len() < LEAF_MIN,
            Node::Inner(n) => n.children.len() < INNER_MIN,
        }
    }

    /// Inserts `(s, m)`; returns the new right sibling if this node had to split. `edge`
    /// says whether this node is on the tree's leftmost and rightmost paths.
    fn insert(&mut self, s: f64, m: &[u8], edge: Edge) -> Option<Split> {
        match self {
            Node::Leaf(leaf) => {
                let at = leaf.lower_bound(s, m);
                leaf.scores.insert(at, s);
                leaf.members.insert(at, CompactBytes::new(m));
                let len = leaf.scores.len();
                (len > LEAF_CAP).then(|| leaf.split(split_point(len, at, at, edge)))
            }
            Node::Inner(n) => {
                let i = n.child_for(s, m);
                n.counts[i] += 1;
                let last = n.children.len() - 1;
                let child_edge = Edge {
                    left: edge.left && i == 0,
                    right: edge.right && i == last,
                };
                if let Some(split) = n.children[i].insert(s, m, child_edge) {
                    n.adopt(i, split);
                }
                let len = n.children.len();
                // A split child's new part is its right half at `i + 1` when appending,
                // its left half at `i` when prepending.
                (len > INNER_CAP).then(|| n.split(split_point(len, i, i + 1, edge)))
            }
        }
    }

    fn delete(&mut self, s: f64, m: &[u8]) -> bool {
        match self {
            Node::Leaf(leaf) => {
                let at = leaf.lower_bound(s, m);
                let found = at < leaf.scores.len()
                    && leaf.scores[at] == s
                    && leaf.members[at].as_slice() == m;
                if found {
                    leaf.scores.remove(at);
                    leaf.members.remove(at);
                }
                found
            }
            Node::Inner(n) => {
                let i = n.child_for(s, m);
                if !n.children[i].delete(s, m) {
                    return false;
                }
                n.counts[i] -= 1;
                if n.children[i].underfull() {
                    n.rebalance(i);
                }
                true
            }
        }
    }

    /// Calls `f` for the elements at ranks `a..=b` of this subtree (in range).
    fn walk(&self, a: usize, b: usize, rev: bool, f: &mut impl FnMut(&[u8], f64)) {
        match self {
            Node::Leaf(leaf) => {
                let pairs = leaf.members[a..=b].iter().zip(&leaf.scores[a..=b]);
                if rev {
                    pairs.rev().for_each(|(m, s)| f(m.as_slice(), *s));
                } else {
                    pairs.for_each(|(m, s)| f(m.as_slice(), *s));
                }
            }
            Node::Inner(n) => {
                // The children that overlap `a..=b`: `first..=last`, `first` starting
                // at rank `first_start` of this node.
                let (mut first, mut first_start) = (0, 0);
                while first_start + n.counts[first] <= a {
                    first_start += n.counts[first];
                    first += 1;
                }
                let (mut last, mut last_start) = (first, first_start);
                while last_start + n.counts[last] <= b {
                    last_start += n.counts[last];
                    last += 1;
                }
                let mut visit = |i: usize, start: usize| {
                    let c = n.counts[i];
                    if c > 0 {
                        let (ca, cb) = (a.max(start) - start, b.min(start + c - 1) - start);
                        n.children[i].walk(ca, cb, rev, f);
                    }
                };
                if rev {
                    let mut start = last_start;
                    for i in (first..=last).rev() {
                        if i < last {
                            start -= n.counts[i];
                        }
                        visit(i, start);
                    }
                } else {
                    let mut start = first_start;
                    for i in first..=last {
                        visit(i, start);
                        start += n.counts[i];
                    }
                }
            }
        }
    }
}

/// An order-statistic B+tree of `(score, member)` pairs with distinct members.
#[derive(Debug, Clone)]
pub struct RankTree {
    root: Node,
    len: usize,
}

impl Default for RankTree {
    fn default() -> Self {
        RankTree {
            root: Node::Leaf(Leaf::new()),
            len: 0,
        }
    }
}

impl RankTree {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `(score, member)`; the member must not be in the tree.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        if let Some((s, m, right)) = self.root.insert(score, member, ROOT_EDGE) {
            let left = std::mem::replace(&mut self.root, Node::Leaf(Leaf::new()));
            let counts = vec![left.len(), right.len()];
            self.root = Node::Inner(Box::new(Inner {
                sep_scores: vec![s],
                sep_members: vec![m],
                counts,
                children: vec![left, right],
            }));
        }
        self.len += 1;
    }

    /// Removes `(score, member)`; returns whether it was there.
    pub fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        if !self.root.delete(score, member) {
            return false;
        }
        self.len -= 1;
        if let Node::Inner(n) = &mut self.root {
            if n.children.len() == 1 {
                if let Some(only) = n.children.pop() {
                    self.root = only;
                }
            }
        }
        true
    }

    /// The 0-based rank of `(score, member)`, if it is in the tree.
    pub fn rank(&self, score: f64, member: &[u8]) -> Option<usize> {
        let mut node = &self.root;
        let mut base = 0;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    let at = leaf.lower_bound(score, member);
                    let found = at < leaf.scores.len()
                        && leaf.scores[at] == score
                        && leaf.members[at].as_slice() == member;
                    return found.then_some(base + at);
                }
                Node::Inner(n) => {
                    let i = n.child_for(score, member);
                    base += n.counts[..i].iter().sum::<usize>();
                    node = &n.children[i];
                }
            }
        }
    }

    /// The member and score at 0-based rank `r`.
    pub fn at(&self, mut r: usize) -> Option<(&[u8], f64)> {
        if r >= self.len {
            return None;
        }
        let mut node = &self.root;
        loop {
            match node {
                Node::Leaf(leaf) => {
                    return Some((leaf.members.get(r)?.as_slice(), *leaf.scores.get(r)?));
                }
                Node::Inner(n) => {
                    let mut i = 0;
                    while i + 1 < n.counts.len() && r >= n.counts[i] {
                        r -= n.counts[i];
                        i += 1;
                    }
                    node = &n.children[i];
                }
            }
        }
    }

    /// The number of leading elements for which `pred(score, member)` holds; `pred` must
    /// be monotone: true, then false, along the order.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut node = &self.root;
        let mut base = 0;
        loop {
            match node {
                Node::Leaf(leaf) => return base + partition(&leaf.scores, &leaf.members, &pred),
                Node::Inner(n) => {
                    // Children before the first separator that fails `pred` hold only
                    // elements that pass; those after it only elements that fail.
                    let i = partition(&n.sep_scores, &n.sep_members, &pred);
                    base += n.counts[..i].iter().sum::<usize>();
                    node = &n.children[i];
                }
            }
        }
    }

    /// Calls `f` for ranks `a..=b`, ascending, or descending from `b` when `rev`. Ranks
    /// out of range are ignored.
    pub fn walk(&self, a: usize, b: usize, rev: bool, mut f: impl FnMut(&[u8], f64)) {
        if a <= b && b < self.len {
            self.root.walk(a, b, rev, &mut f);
        }
    }

    /// Every element, ascending.
    pub fn iter(&self) -> Iter<'_> {
        let mut it = Iter {
            stack: Vec::new(),
            leaf: None,
            pos: 0,
        };
        it.descend(&self.root);
        it
    }
}

/// An ascending iterator over a [`RankTree`].
pub struct Iter<'a> {
    /// Inner nodes on the path to the current leaf, each with the next child to visit.
    stack: Vec<(&'a Inner, usize)>,
    leaf: Option<&'a Leaf>,
    pos: usize,
}

impl<'a> Iter<'a> {
    /// Goes down the leftmost path of `node`.
    fn descend(&mut self, mut node: &'a Node) {
        loop {
            match node {
                Node::Leaf(leaf) => {
                    self.leaf = Some(leaf);
                    self.pos = 0;
                    return;
                }
                Node::Inner(n) => {
                    self.stack.push((n, 1));
                    node = &n.children[0];
                }
            }
        }
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let leaf = self.leaf?;
            if self.pos < leaf.scores.len() {
                let i = self.pos;
                self.pos += 1;
                return Some((leaf.members[i].as_slice(), leaf.scores[i]));
            }
            self.leaf = None;
            while let Some((n, next)) = self.stack.pop() {
                if next < n.children.len() {
                    self.stack.push((n, next + 1));
                    self.descend(&n.children[next]);
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::seq::SliceRandom;
    use rand::Rng;

    type Model = Vec<(f64, Vec<u8>)>;

    /// Checks the structure: counts match, separators bound their children, every
    /// non-root node is at or above its minimum and within capacity, leaves share a depth.
    /// Checks the structure and returns (elements, depth, leaves): counts match,
    /// separators bound their children, every node is within capacity and, unless on
    /// the tree's left or right edge (see `split_point`), at or above its minimum, and
    /// all leaves share one depth.
    fn check_node(
        node: &Node,
        lo: Option<(f64, &[u8])>,
        hi: Option<(f64, &[u8])>,
        root: bool,
        edge: Edge,
    ) -> (usize, usize, usize) {
        let in_range = |s: f64, m: &[u8]| {
            lo.is_none_or(|(ls, lm)| !before(s, m, ls, lm))
                && hi.is_none_or(|(hs, hm)| before(s, m, hs, hm))
        };
        let may_be_short = root || edge.left || edge.right;
        match node {
            Node::Leaf(leaf) => {
                let len = leaf.scores.len();
                assert!(len <= LEAF_CAP);
                assert!(root || len > 0);
                assert!(may_be_short || len >= LEAF_MIN, "leaf of {len}");
                for (s, m) in leaf.scores.iter().zip(&leaf.members) {
                    assert!(in_range(*s, m.as_slice()));
                }
                (len, 1, 1)
            }
            Node::Inner(n) => {
                let len = n.children.len();
                assert!(len <= INNER_CAP);
                assert!(len >= if root { 2 } else { 1 });
                assert!(may_be_short || len >= INNER_MIN, "inner node of {len}");
                assert_eq!(n.sep_scores.len() + 1, len);
                let (mut depth, mut leaves) = (None, 0);
                for (k, child) in n.children.iter().enumerate() {
                    let clo = if k == 0 {
                        lo
                    } else {
                        Some((n.sep_scores[k - 1], n.sep_members[k - 1].as_slice()))
                    };
                    let chi = n
                        .sep_scores
                        .get(k)
                        .map(|s| (*s, n.sep_members[k].as_slice()))
                        .or(hi);
                    let child_edge = Edge {
                        left: edge.left && k == 0,
                        right: edge.right && k == len - 1,
                    };
                    let (count, d, l) = check_node(child, clo, chi, false, child_edge);
                    assert_eq!(count, n.counts[k]);
                    assert_eq!(*depth.get_or_insert(d), d);
                    leaves += l;
                }
                (n.counts.iter().sum(), depth.unwrap() + 1, leaves)
            }
        }
    }

    fn model_check(t: &RankTree, model: &Model) {
        assert_eq!(
            check_node(&t.root, None, None, true, ROOT_EDGE).0,
            model.len()
        );
        assert_eq!(t.len(), model.len());
        let got: Model = t.iter().map(|(m, s)| (s, m.to_vec())).collect();
        assert_eq!(&got, model);
        for (i, (s, m)) in model.iter().enumerate() {
            assert_eq!(t.rank(*s, m), Some(i));
            assert_eq!(t.at(i), Some((m.as_slice(), *s)));
        }
        assert_eq!(t.at(model.len()), None);
    }

    /// Inserts and deletes against a sorted `Vec`, with few distinct scores so that ties
    /// ordered by member are exercised, and sizes that make the tree three levels deep.
    #[test]
    fn rank_tree_matches_a_sorted_vec_model() {
        let mut rng = rand::thread_rng();
        for (round, universe) in [100usize, 2_000, 20_000].into_iter().enumerate() {
            let mut t = RankTree::default();
            let mut model: Model = Vec::new();
            let steps = universe * 4;
            for step in 0..steps {
                let member = format!("m{}", rng.gen_range(0..universe)).into_bytes();
                let present = model.iter().position(|(_, m)| *m == member);
                // Grow for the first half, shrink in the second.
                let p_delete = if step < steps / 2 { 0.3 } else { 0.8 };
                match present {
                    Some(p) if rng.gen_bool(p_delete) => {
                        let (s, m) = model.remove(p);
                        assert!(t.delete(s, &m));
                        assert!(!t.delete(s, &m));
                        assert_eq!(t.rank(s, &m), None);
                    }
                    Some(_) => {}
                    None => {
                        let s = f64::from(rng.gen_range(-50..50));
                        t.insert(s, &member);
                        let at = model.partition_point(|(ks, km)| before(*ks, km, s, &member));
                        model.insert(at, (s, member));
                    }
                }
                if step % (universe / 4) == 0 {
                    model_check(&t, &model);
                }
            }
            model_check(&t, &model);
            for cut in [-60.0, -10.0, 0.0, 0.5, 49.0, 60.0] {
                let want = model.partition_point(|(s, _)| *s < cut);
                assert_eq!(
                    t.partition_point(|s, _| s < cut),
                    want,
                    "round {round} cut {cut}"
                );
            }
            let n = model.len();
            if n > 10 {
                for (a, b) in [(0, n - 1), (3, 3), (n / 3, n / 2), (n - 5, n - 1)] {
                    let mut fwd = Vec::new();
                    t.walk(a, b, false, |m, s| fwd.push((s, m.to_vec())));
                    assert_eq!(fwd, model[a..=b].to_vec());
                    let mut rev = Vec::new();
                    t.walk(a, b, true, |m, s| rev.push((s, m.to_vec())));
                    rev.reverse();
                    assert_eq!(rev, fwd);
                }
            }
            let mut order = model.clone();
            order.shuffle(&mut rng);
            let mut deleted = std::collections::HashSet::new();
            for (k, (s, m)) in order.iter().enumerate() {
                assert!(t.delete(*s, m));
                deleted.insert(m.clone());
                if k % 97 == 0 {
                    model.retain(|(_, x)| !deleted.contains(x));
                    model_check(&t, &model);
                }
            }
            assert!(t.is_empty());
            assert_eq!(t.iter().count(), 0);
        }
    }

    /// Popping from either end, as ZPOPMIN/ZPOPMAX do, keeps the tree balanced.
    #[test]
    fn popping_from_the_ends_keeps_the_tree_valid() {
        let mut t = RankTree::default();
        let mut model: Model = (0..50_000)
            .map(|i| (f64::from(i % 1000), format!("{i:06}").into_bytes()))
            .collect();
        model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        for (s, m) in &model {
            t.insert(*s, m);
        }
        model_check(&t, &model);
        for k in 0..40_000 {
            let (m, s) = if k % 2 == 0 {
                t.at(0).unwrap()
            } else {
                t.at(t.len() - 1).unwrap()
            };
            let (m, s) = (m.to_vec(), s);
            assert!(t.delete(s, &m));
            if k % 2 == 0 {
                assert_eq!(model.remove(0), (s, m));
            } else {
                assert_eq!(model.pop(), Some((s, m)));
            }
            if k % 5_000 == 0 {
                model_check(&t, &model);
            }
        }
        model_check(&t, &model);
    }

    /// Insertions in order, ascending or descending, fill the nodes they leave behind,
    /// rather than leaving each half empty; the tree stays valid while they shrink again.
    #[test]
    fn insertions_in_order_pack_nodes_full() {
        for descending in [false, true] {
            let n = 20_000;
            let mut t = RankTree::default();
            for i in 0..n {
                let k = if descending { n - i } else { i };
                t.insert(f64::from(k), b"m");
            }
            let (count, _, leaves) = check_node(&t.root, None, None, true, ROOT_EDGE);
            assert_eq!(count, n as usize);
            // 313 leaves when all are full; an even split would leave ~625.
            assert!(
                leaves <= (n as usize).div_ceil(LEAF_CAP) + 1,
                "{leaves} leaves"
            );
            let mut model: Model = (1..=n)
                .map(|k| (f64::from(k - i32::from(!descending)), b"m".to_vec()))
                .collect();
            model_check(&t, &model);
            // Interleaved ones, then deletions from the middle, where the full nodes are.
            for k in 0..n / 2 {
                let s = f64::from(2 * k) + 0.5;
                t.insert(s, b"m");
                let at = model.partition_point(|(ks, _)| *ks < s);
                model.insert(at, (s, b"m".to_vec()));
            }
            model_check(&t, &model);
            while model.len() > 100 {
                let (s, m) = model.remove(model.len() / 2);
                assert!(t.delete(s, &m));
            }
            model_check(&t, &model);
        }
    }
}
