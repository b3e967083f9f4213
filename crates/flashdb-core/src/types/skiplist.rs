//! The ordered index of a large sorted set: Redis's skiplist with spans (`t_zset.c`),
//! with nodes in an arena addressed by index instead of pointers.
//!
//! Spans count how many level-0 steps each forward link skips, which turns rank and
//! by-rank lookups into O(log n) walks. Elements are ordered by score, then by member bytes.

use rand::Rng;

use crate::compact::CompactBytes;

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;

#[derive(Debug, Clone, Copy)]
struct Level {
    forward: u32,
    span: u32,
}

/// The part of a node that searches read: its score and its level-0 link. 24 bytes, so
/// that the nodes of a large list pack densely and a search's steps mostly hit the cache;
/// the member (read only when scores tie) lives apart in `SkipList::members`.
#[derive(Debug, Clone, Copy)]
struct Node {
    score: f64,
    next: Level,
    backward: u32,
    /// Offset in `SkipList::upper` of levels `1..`, or `NIL` for a node of one level.
    upper: u32,
}

const UNLINKED: Level = Level {
    forward: NIL,
    span: 0,
};

/// A skiplist of `(score, member)` pairs with distinct members.
#[derive(Debug, Clone)]
pub struct SkipList {
    nodes: Vec<Node>,
    members: Vec<CompactBytes>,
    free: Vec<u32>,
    /// Levels 1.. of the nodes that have them (one in four), each node's run contiguous
    /// and preceded by a header entry whose `span` is the node's height.
    upper: Vec<Level>,
    /// Freed runs of upper levels, by node height.
    upper_free: Vec<Vec<u32>>,
    tail: u32,
    len: usize,
    level: usize,
}

impl Default for SkipList {
    fn default() -> Self {
        let mut list = SkipList {
            nodes: Vec::new(),
            members: Vec::new(),
            free: Vec::new(),
            upper: Vec::new(),
            upper_free: vec![Vec::new(); MAX_LEVEL + 1],
            tail: NIL,
            len: 0,
            level: 1,
        };
        list.alloc(0.0, b"", MAX_LEVEL);
        list
    }
}

/// A node of the list, as returned by lookups; valid until the list changes.
pub type NodeId = u32;

/// A node height: 1, then one more with probability 1/4 each time (Redis's
/// `ZSKIPLIST_P`), up to `MAX_LEVEL`. Two random bits per level from one 64-bit draw.
fn random_level() -> usize {
    let bits: u64 = rand::thread_rng().gen();
    // The number of leading 2-bit groups that are zero.
    let zero_pairs = (bits.trailing_zeros() / 2) as usize;
    (1 + zero_pairs).min(MAX_LEVEL)
}

impl SkipList {
    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    fn member(&self, i: u32) -> &[u8] {
        self.members[i as usize].as_slice()
    }

    fn lvl(&self, i: u32, lvl: usize) -> &Level {
        let n = &self.nodes[i as usize];
        if lvl == 0 {
            &n.next
        } else {
            &self.upper[n.upper as usize + lvl - 1]
        }
    }

    fn fwd(&self, i: u32, lvl: usize) -> u32 {
        self.lvl(i, lvl).forward
    }

    fn span(&self, i: u32, lvl: usize) -> u32 {
        self.lvl(i, lvl).span
    }

    fn lvl_mut(&mut self, i: u32, lvl: usize) -> &mut Level {
        let n = &mut self.nodes[i as usize];
        if lvl == 0 {
            &mut n.next
        } else {
            &mut self.upper[n.upper as usize + lvl - 1]
        }
    }

    /// A new node of `height` levels, none linked yet.
    fn alloc(&mut self, score: f64, member: &[u8], height: usize) -> u32 {
        let upper = if height > 1 {
            let levels = height - 1;
            match self.upper_free[height].pop() {
                Some(t) => {
                    self.upper[t as usize..t as usize + levels].fill(UNLINKED);
                    t
                }
                None => {
                    self.upper.push(Level {
                        forward: NIL,
                        span: height as u32,
                    });
                    let t = self.upper.len() as u32;
                    self.upper.resize(self.upper.len() + levels, UNLINKED);
                    t
                }
            }
        } else {
            NIL
        };
        let node = Node {
            score,
            next: UNLINKED,
            backward: NIL,
            upper,
        };
        let member = CompactBytes::new(member);
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                self.members[i as usize] = member;
                i
            }
            None => {
                self.nodes.push(node);
                self.members.push(member);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn before(&self, i: u32, score: f64, member: &[u8]) -> bool {
        let s = self.node(i).score;
        s < score || (s == score && self.member(i) < member)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The member and score of a node.
    pub fn get(&self, id: NodeId) -> (&[u8], f64) {
        (self.member(id), self.node(id).score)
    }

    /// The node after `id` in ascending order.
    pub fn next(&self, id: NodeId) -> Option<NodeId> {
        let f = self.fwd(id, 0);
        (f != NIL).then_some(f)
    }

    /// The node before `id`.
    pub fn prev(&self, id: NodeId) -> Option<NodeId> {
        let b = self.node(id).backward;
        (b != NIL).then_some(b)
    }

    /// The first node.
    pub fn first(&self) -> Option<NodeId> {
        self.next(HEAD)
    }

    /// The last node.
    pub fn last(&self) -> Option<NodeId> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Inserts a member that is not present.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f != NIL && self.before(f, score, member) {
                    rank[i] += self.span(x, i);
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let level = random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.lvl_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        let new = self.alloc(score, member, level);
        for i in 0..level {
            let u = update[i];
            let uf = self.fwd(u, i);
            let us = self.span(u, i);
            *self.lvl_mut(new, i) = Level {
                forward: uf,
                span: us - (rank[0] - rank[i]),
            };
            *self.lvl_mut(u, i) = Level {
                forward: new,
                span: (rank[0] - rank[i]) + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.lvl_mut(u, i).span += 1;
        }
        self.nodes[new as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        let f0 = self.fwd(new, 0);
        if f0 != NIL {
            self.nodes[f0 as usize].backward = new;
        } else {
            self.tail = new;
        }
        self.len += 1;
    }

    fn delete_node(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.fwd(u, i) == x {
                let xs = self.span(x, i);
                let xf = self.fwd(x, i);
                let l = self.lvl_mut(u, i);
                l.span = l.span + xs - 1;
                l.forward = xf;
            } else {
                self.lvl_mut(u, i).span -= 1;
            }
        }
        let f0 = self.fwd(x, 0);
        let back = self.node(x).backward;
        if f0 != NIL {
            self.nodes[f0 as usize].backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.fwd(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
        self.members[x as usize] = CompactBytes::new(b"");
        let upper = std::mem::replace(&mut self.nodes[x as usize].upper, NIL);
        if upper != NIL {
            let height = self.upper[upper as usize - 1].span as usize;
            self.upper_free[height].push(upper);
        }
        self.free.push(x);
        if self.len == 0 {
            // Give an emptied list's arena back.
            *self = SkipList::default();
        }
    }

    /// Removes `(score, member)`; returns whether it was present.
    pub fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && self.before(f, score, member) {
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let x = self.fwd(x, 0);
        if x != NIL && self.node(x).score == score && self.member(x) == member {
            self.delete_node(x, &update);
            true
        } else {
            false
        }
    }

    /// The 1-based rank of `(score, member)`, 0 when absent.
    pub fn rank(&self, score: f64, member: &[u8]) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL {
                    break;
                }
                let s = self.node(f).score;
                if s < score || (s == score && self.member(f) <= member) {
                    rank += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if x != HEAD && self.member(x) == member {
                return rank;
            }
        }
        0
    }

    /// The node at 1-based `rank`.
    pub fn by_rank(&self, rank: usize) -> Option<NodeId> {
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && traversed + self.span(x, i) as usize <= rank {
                    traversed += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            if traversed == rank {
                return (x != HEAD).then_some(x);
            }
        }
        None
    }

    /// The first node for which `past_start` holds (`past_start` must be monotone: false
    /// then true along the order), if any.
    pub fn first_where(&self, past_start: impl Fn(f64, &[u8]) -> bool) -> Option<NodeId> {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && { !past_start(self.node(f).score, self.member(f)) } {
                    x = f;
                } else {
                    break;
                }
            }
        }
        self.next(x)
    }

    /// The last node for which `within_end` holds (`within_end` must be monotone: true
    /// then false along the order), if any.
    pub fn last_where(&self, within_end: impl Fn(f64, &[u8]) -> bool) -> Option<NodeId> {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f != NIL && { within_end(self.node(f).score, self.member(f)) } {
                    x = f;
                } else {
                    break;
                }
            }
        }
        (x != HEAD).then_some(x)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::seq::SliceRandom;

    #[test]
    fn levels_grow_with_probability_one_quarter() {
        let n = 200_000;
        let mut at_least = [0usize; 5];
        for _ in 0..n {
            let l = random_level();
            assert!((1..=MAX_LEVEL).contains(&l));
            for (k, c) in at_least.iter_mut().enumerate() {
                if l > k {
                    *c += 1;
                }
            }
        }
        for (k, &count) in at_least.iter().enumerate().skip(1) {
            let want = n as f64 / 4f64.powi(k as i32);
            let got = count as f64;
            assert!(
                (got - want).abs() < 6.0 * want.sqrt() + 1.0,
                "level > {k}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn a_node_packs_into_24_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
    }

    fn model_check(sl: &SkipList, model: &[(f64, Vec<u8>)]) {
        assert_eq!(sl.len(), model.len());
        let mut x = sl.first();
        for (i, (s, m)) in model.iter().enumerate() {
            let id = x.unwrap();
            assert_eq!(sl.get(id), (m.as_slice(), *s));
            assert_eq!(sl.rank(*s, m), i + 1);
            assert_eq!(sl.by_rank(i + 1), Some(id));
            x = sl.next(id);
        }
        assert!(x.is_none());
        assert_eq!(sl.by_rank(model.len() + 1), None);
        assert_eq!(sl.by_rank(0), None);
        if let Some((s, m)) = model.last() {
            assert_eq!(sl.get(sl.last().unwrap()), (m.as_slice(), *s));
        }
    }

    #[test]
    fn skiplist_matches_a_sorted_vec_model() {
        let mut rng = rand::thread_rng();
        for round in 0..20 {
            let mut sl = SkipList::default();
            let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
            for step in 0..400 {
                let member = format!("m{}", rng.gen_range(0..150)).into_bytes();
                let present = model.iter().position(|(_, m)| *m == member);
                match present {
                    Some(p) if rng.gen_bool(0.5) => {
                        let (s, m) = model.remove(p);
                        assert!(sl.delete(s, &m));
                        assert!(!sl.delete(s, &m));
                    }
                    Some(_) => {}
                    None => {
                        // Few distinct scores, so ties ordered by member are exercised.
                        let s = f64::from(rng.gen_range(-5..5));
                        sl.insert(s, &member);
                        model.push((s, member));
                        model.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
                    }
                }
                if step % 50 == 0 || round == 0 {
                    model_check(&sl, &model);
                }
            }
            model_check(&sl, &model);
            let lo = sl.first_where(|s, _| s >= 0.0);
            let expect = model.iter().position(|(s, _)| *s >= 0.0);
            assert_eq!(
                lo.map(|id| sl.rank(sl.get(id).1, sl.get(id).0)),
                expect.map(|p| p + 1)
            );
            let hi = sl.last_where(|s, _| s <= 2.0);
            let expect = model.iter().rposition(|(s, _)| *s <= 2.0);
            assert_eq!(
                hi.map(|id| sl.rank(sl.get(id).1, sl.get(id).0)),
                expect.map(|p| p + 1)
            );
            let mut order = model.clone();
            order.shuffle(&mut rng);
            for (s, m) in order {
                assert!(sl.delete(s, &m));
            }
            assert!(sl.is_empty());
            assert!(sl.first().is_none() && sl.last().is_none());
        }
    }
}
