//! A linearizability checker for histories recorded against a real server: the
//! Wing–Gong search with Lowe's memoization, as porcupine and Knossos implement it.
//!
//! A history is a set of [`Operation`]s, each with the time its client called it, the time
//! it returned, and what it returned. The history is linearizable when some total order
//! of the operations (a) respects real time: an operation that returned before another was
//! called comes first, and (b) is a legal run of the sequential [`Model`]: each operation,
//! applied to the state the ones before it left, returns what the client saw.
//!
//! An operation whose outcome the client never learned (the connection broke, the server
//! was killed) has no return time: it may have taken effect at any moment after its call,
//! or never. Such an operation is checked with an unknown output, which every model must
//! accept; placed last, after everything else, it changes nothing, so "never" is covered.
//!
//! The search is exponential in the worst case. Histories of one key at a time (see
//! [`check_partitioned`]) with a few clients stay small; a step budget turns a search
//! that would run too long into [`Outcome::Undecided`] instead of a hung test.

use std::collections::HashSet;
use std::hash::Hash;

/// The sequential specification that a history is checked against.
pub trait Model {
    /// The state of the object (one register, one counter, ...).
    type State: Clone + Eq + Hash;
    /// What an operation asks for.
    type Input;
    /// What an operation returned.
    type Output;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`. Returns the state after it when the operation, run
    /// alone on `state`, could have returned `output` (`None`: unknown, and then any
    /// output is possible); `None` when it could not.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation<I, O> {
    /// When the client called it (any monotonic clock, in any unit).
    pub call: u64,
    /// When it returned; `None` when the client never learned its outcome.
    pub ret: Option<u64>,
    /// What it asked for.
    pub input: I,
    /// What it returned (`None` with `ret` `None`).
    pub output: Option<O>,
}

/// One operation of a history checked against model `M`.
pub type OpOf<M> = Operation<<M as Model>::Input, <M as Model>::Output>;

/// The verdict on a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some order of the operations explains every output.
    Linearizable,
    /// No order does: the history shows an anomaly.
    NotLinearizable,
    /// The search used up its step budget before deciding.
    Undecided,
}

/// Most search steps [`check`] takes before it gives up with [`Outcome::Undecided`].
pub const DEFAULT_BUDGET: u64 = 50_000_000;

#[derive(Debug, Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
    /// The matching return's index, for a call.
    ret: usize,
    prev: usize,
    next: usize,
}

/// The call and return events of a history, in time order, as a doubly linked list
/// (index 0 is the head sentinel) from which a linearized operation's two events are
/// lifted and into which they are put back on backtracking.
struct Events {
    ev: Vec<Event>,
}

impl Events {
    fn new<I, O>(history: &[Operation<I, O>]) -> Events {
        // (time, calls before returns at the same time, op): an operation that returned
        // at the very moment another was called is taken as concurrent with it, which
        // allows more orders, never fewer.
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(history.len() * 2);
        for (i, op) in history.iter().enumerate() {
            order.push((op.call, 0, i));
            order.push((op.ret.unwrap_or(u64::MAX), 1, i));
        }
        order.sort_unstable();
        let n = order.len();
        let mut ev = vec![
            Event {
                op: usize::MAX,
                is_call: false,
                ret: 0,
                prev: 0,
                next: 1,
            };
            n + 1
        ];
        let mut ret_of = vec![0; history.len()];
        for (pos, &(_, kind, op)) in order.iter().enumerate() {
            let i = pos + 1;
            ev[i] = Event {
                op,
                is_call: kind == 0,
                ret: 0,
                prev: i - 1,
                next: if i == n { usize::MAX } else { i + 1 },
            };
            if kind == 1 {
                ret_of[op] = i;
            }
        }
        if n == 0 {
            ev[0].next = usize::MAX;
        }
        for e in ev.iter_mut().skip(1) {
            if e.is_call {
                e.ret = ret_of[e.op];
            }
        }
        Events { ev }
    }

    fn unlink(&mut self, i: usize) {
        let Event { prev, next, .. } = self.ev[i];
        self.ev[prev].next = next;
        if next != usize::MAX {
            self.ev[next].prev = prev;
        }
    }

    fn relink(&mut self, i: usize) {
        let Event { prev, next, .. } = self.ev[i];
        self.ev[prev].next = i;
        if next != usize::MAX {
            self.ev[next].prev = i;
        }
    }

    /// Takes call `i` and its return out of the list.
    fn lift(&mut self, i: usize) {
        self.unlink(i);
        self.unlink(self.ev[i].ret);
    }

    /// Undoes [`lift`](Self::lift) (in the reverse order, so the links come back exactly).
    fn unlift(&mut self, i: usize) {
        self.relink(self.ev[i].ret);
        self.relink(i);
    }
}

/// Checks one history against `model`, with [`DEFAULT_BUDGET`].
pub fn check<M: Model>(model: &M, history: &[Operation<M::Input, M::Output>]) -> Outcome {
    check_with_budget(model, history, DEFAULT_BUDGET)
}

/// Checks one history against `model`, giving up after `budget` search steps.
pub fn check_with_budget<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    budget: u64,
) -> Outcome {
    let mut events = Events::new(history);
    let words = history.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut seen: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    // The calls linearized so far, with the state before each, to backtrack to.
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut at = events.ev[0].next;
    let mut steps = 0u64;
    while events.ev[0].next != usize::MAX {
        steps += 1;
        if steps > budget {
            return Outcome::Undecided;
        }
        let e = events.ev[at];
        if e.is_call {
            let op = &history[e.op];
            if let Some(next) = model.step(&state, &op.input, op.output.as_ref()) {
                let mut lin = linearized.clone();
                lin[e.op / 64] |= 1 << (e.op % 64);
                if seen.insert((lin.clone(), next.clone())) {
                    stack.push((at, std::mem::replace(&mut state, next)));
                    linearized = lin;
                    events.lift(at);
                    at = events.ev[0].next;
                    continue;
                }
            }
            at = e.next;
        } else {
            // An operation returned and none of the orders tried so far can place it:
            // undo the most recent choice and try the next candidate after it.
            let Some((call, before)) = stack.pop() else {
                return Outcome::NotLinearizable;
            };
            let op = events.ev[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            state = before;
            events.unlift(call);
            at = events.ev[call].next;
        }
    }
    Outcome::Linearizable
}

/// Checks a history of operations on independent objects (keys) one object at a time:
/// a history is linearizable exactly when each object's part is (linearizability is
/// local). `key` names the object an operation is on. Returns the first verdict other
/// than [`Outcome::Linearizable`], with the key it was found on.
pub fn check_partitioned<M, K>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    key: impl Fn(&M::Input) -> K,
) -> Result<(), (K, Outcome)>
where
    M: Model,
    M::Input: Clone,
    M::Output: Clone,
    K: Ord + Clone,
{
    let mut parts: std::collections::BTreeMap<K, Vec<OpOf<M>>> = std::collections::BTreeMap::new();
    for op in history {
        parts.entry(key(&op.input)).or_default().push(op.clone());
    }
    for (k, ops) in parts {
        match check(model, &ops) {
            Outcome::Linearizable => {}
            other => return Err((k, other)),
        }
    }
    Ok(())
}

/// A Redis string key used as a register and a counter: `GET`, `SET` and `INCRBY`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvRegister;

/// An operation on a [`KvRegister`], naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvInput {
    /// `GET key`.
    Get(String),
    /// `SET key value`.
    Set(String, String),
    /// `INCRBY key delta`.
    IncrBy(String, i64),
}

impl KvInput {
    /// The key the operation is on.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get(k) | KvInput::Set(k, _) | KvInput::IncrBy(k, _) => k,
        }
    }
}

/// What a [`KvRegister`] operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOutput {
    /// `GET`'s value (`None`: no such key).
    Value(Option<String>),
    /// `SET`'s `OK`.
    Ok,
    /// `INCRBY`'s new value.
    Int(i64),
    /// An error reply (`INCRBY` of a value that is not an integer).
    Error,
}

impl Model for KvRegister {
    type State = Option<String>;
    type Input = KvInput;
    type Output = KvOutput;

    fn init(&self) -> Option<String> {
        None
    }

    fn step(
        &self,
        state: &Option<String>,
        input: &KvInput,
        output: Option<&KvOutput>,
    ) -> Option<Option<String>> {
        match input {
            KvInput::Get(_) => match output {
                None => Some(state.clone()),
                Some(KvOutput::Value(v)) if v == state => Some(state.clone()),
                Some(_) => None,
            },
            KvInput::Set(_, v) => match output {
                None | Some(KvOutput::Ok) => Some(Some(v.clone())),
                Some(_) => None,
            },
            KvInput::IncrBy(_, d) => {
                let current = match state {
                    None => Some(0i64),
                    Some(s) => s.parse::<i64>().ok(),
                };
                let next = current.and_then(|c| c.checked_add(*d));
                match (next, output) {
                    (Some(n), None) => Some(Some(n.to_string())),
                    (None, None) => Some(state.clone()),
                    (Some(n), Some(KvOutput::Int(got))) if n == *got => Some(Some(n.to_string())),
                    (None, Some(KvOutput::Error)) => Some(state.clone()),
                    _ => None,
                }
            }
        }
    }
}

/// Removes from a [`KvRegister`] history the `SET`s whose outcome is unknown and whose
/// value nothing ever showed: no output (a read's or an increment's) is that value, or
/// that value plus a number of increments. The verdict does not change: such a write can always be placed last, where
/// it affects nothing, and placed anywhere else it is overwritten before anyone looks. It
/// only makes the search cheaper, and much cheaper after a crash, since a write with no
/// return time overlaps everything after it.
pub fn drop_unobserved_writes(
    history: Vec<Operation<KvInput, KvOutput>>,
) -> Vec<Operation<KvInput, KvOutput>> {
    let increments = history
        .iter()
        .filter(|o| matches!(o.input, KvInput::IncrBy(..)))
        .count() as i64;
    let mut seen_values: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut seen_ints: Vec<i64> = Vec::new();
    for o in &history {
        match &o.output {
            Some(KvOutput::Value(Some(v))) => {
                seen_values.insert(v.as_str());
                // A read shows a written number plus the increments since, too: an
                // increment whose reply was lost still counts.
                if let Ok(i) = v.parse::<i64>() {
                    seen_ints.push(i);
                }
            }
            Some(KvOutput::Int(i)) => seen_ints.push(*i),
            _ => {}
        }
    }
    let observed = |v: &str| -> bool {
        if seen_values.contains(v) {
            return true;
        }
        match v.parse::<i64>() {
            // An increment of it could have produced any of the next `increments` values.
            Ok(n) => seen_ints
                .iter()
                .any(|&i| i > n && i.checked_sub(n).is_some_and(|d| d <= increments.max(1))),
            Err(_) => false,
        }
    };
    let keep: Vec<bool> = history
        .iter()
        .map(|o| match (&o.input, o.ret) {
            (KvInput::Set(_, v), None) => observed(v),
            _ => true,
        })
        .collect();
    history
        .into_iter()
        .zip(keep)
        .filter_map(|(o, k)| k.then_some(o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(k: &str, call: u64, ret: u64, v: Option<&str>) -> Operation<KvInput, KvOutput> {
        Operation {
            call,
            ret: Some(ret),
            input: KvInput::Get(k.into()),
            output: Some(KvOutput::Value(v.map(String::from))),
        }
    }

    fn set(k: &str, call: u64, ret: Option<u64>, v: &str) -> Operation<KvInput, KvOutput> {
        Operation {
            call,
            ret,
            input: KvInput::Set(k.into(), v.into()),
            output: ret.map(|_| KvOutput::Ok),
        }
    }

    fn incr(k: &str, call: u64, ret: u64, got: i64) -> Operation<KvInput, KvOutput> {
        Operation {
            call,
            ret: Some(ret),
            input: KvInput::IncrBy(k.into(), 1),
            output: Some(KvOutput::Int(got)),
        }
    }

    #[test]
    fn an_empty_history_is_linearizable() {
        assert_eq!(check(&KvRegister, &[]), Outcome::Linearizable);
    }

    #[test]
    fn a_read_after_a_completed_write_must_see_it() {
        let ok = [set("a", 0, Some(10), "1"), get("a", 20, 30, Some("1"))];
        assert_eq!(check(&KvRegister, &ok), Outcome::Linearizable);
        let stale = [set("a", 0, Some(10), "1"), get("a", 20, 30, None)];
        assert_eq!(check(&KvRegister, &stale), Outcome::NotLinearizable);
    }

    #[test]
    fn a_read_concurrent_with_a_write_may_see_either_value() {
        for seen in [None, Some("1")] {
            let h = [set("a", 0, Some(30), "1"), get("a", 10, 20, seen)];
            assert_eq!(check(&KvRegister, &h), Outcome::Linearizable, "{seen:?}");
        }
    }

    #[test]
    fn once_a_read_saw_a_write_later_reads_cannot_go_back() {
        // The write is still running; one reader sees it, a later one does not: no order
        // explains both (Knossos's classic "stale read").
        let h = [
            set("a", 0, Some(100), "1"),
            get("a", 10, 20, Some("1")),
            get("a", 30, 40, None),
        ];
        assert_eq!(check(&KvRegister, &h), Outcome::NotLinearizable);
    }

    #[test]
    fn finding_the_order_may_need_backtracking() {
        // Three concurrent writes and reads that pin their order to 2, 1, 3: the search
        // first tries 1 first and must undo that.
        let h = [
            set("a", 0, Some(50), "1"),
            set("a", 0, Some(50), "2"),
            set("a", 0, Some(50), "3"),
            get("a", 1, 5, Some("2")),
            get("a", 60, 70, Some("3")),
            get("a", 6, 9, Some("1")),
        ];
        assert_eq!(check(&KvRegister, &h), Outcome::Linearizable);
        let impossible = [
            set("a", 0, Some(50), "1"),
            set("a", 0, Some(50), "2"),
            get("a", 1, 5, Some("2")),
            get("a", 6, 9, Some("1")),
            get("a", 10, 12, Some("2")),
        ];
        assert_eq!(check(&KvRegister, &impossible), Outcome::NotLinearizable);
    }

    #[test]
    fn an_operation_with_an_unknown_outcome_may_or_may_not_have_happened() {
        let happened = [set("a", 0, None, "1"), get("a", 50, 60, Some("1"))];
        assert_eq!(check(&KvRegister, &happened), Outcome::Linearizable);
        let never = [set("a", 0, None, "1"), get("a", 50, 60, None)];
        assert_eq!(check(&KvRegister, &never), Outcome::Linearizable);
        // But not both: once seen, it cannot be unseen.
        let both = [
            set("a", 0, None, "1"),
            get("a", 50, 60, Some("1")),
            get("a", 70, 80, None),
        ];
        assert_eq!(check(&KvRegister, &both), Outcome::NotLinearizable);
    }

    #[test]
    fn counters_lose_no_increment() {
        let ok = [
            incr("c", 0, 10, 1),
            incr("c", 5, 15, 2),
            get("c", 20, 25, Some("2")),
        ];
        assert_eq!(check(&KvRegister, &ok), Outcome::Linearizable);
        // Both increments answered 1: one was lost.
        let lost = [incr("c", 0, 10, 1), incr("c", 5, 15, 1)];
        assert_eq!(check(&KvRegister, &lost), Outcome::NotLinearizable);
        // An acknowledged increment gone after the fact.
        let gone = [incr("c", 0, 10, 1), get("c", 20, 25, None)];
        assert_eq!(check(&KvRegister, &gone), Outcome::NotLinearizable);
    }

    #[test]
    fn keys_are_checked_apart_and_the_bad_one_is_named() {
        let h = [
            set("a", 0, Some(10), "1"),
            set("b", 0, Some(10), "1"),
            get("a", 20, 30, Some("1")),
            get("b", 20, 30, Some("2")),
        ];
        let r = check_partitioned(&KvRegister, &h, |i| i.key().to_string());
        assert_eq!(r, Err(("b".to_string(), Outcome::NotLinearizable)));
        assert_eq!(
            check_partitioned(&KvRegister, &h[..3], |i| i.key().to_string()),
            Ok(())
        );
    }

    #[test]
    fn a_search_past_its_budget_is_undecided_not_passed() {
        // Many concurrent writes of distinct values and a read of a value never written:
        // not linearizable, but proving it takes more than a handful of steps.
        let mut h: Vec<_> = (0..12)
            .map(|i| set("a", 0, Some(100), &i.to_string()))
            .collect();
        h.push(get("a", 200, 210, Some("x")));
        assert_eq!(check_with_budget(&KvRegister, &h, 10), Outcome::Undecided);
        assert_eq!(check(&KvRegister, &h), Outcome::NotLinearizable);
    }

    #[test]
    fn unobserved_unknown_writes_are_dropped_and_the_verdict_kept() {
        let unknown_set = |v: &str| set("a", 5, None, v);
        // Never seen: dropped.
        let h = vec![
            set("a", 0, Some(1), "1"),
            unknown_set("7"),
            get("a", 10, 11, Some("1")),
        ];
        let pruned = drop_unobserved_writes(h.clone());
        assert_eq!(pruned.len(), 2);
        assert_eq!(check(&KvRegister, &h), check(&KvRegister, &pruned));
        // Seen by a read, or through an increment of it: kept, and the verdict with it.
        let read = vec![
            unknown_set("7"),
            get("a", 10, 11, Some("7")),
            get("a", 12, 13, None),
        ];
        assert_eq!(drop_unobserved_writes(read.clone()).len(), 3);
        assert_eq!(check(&KvRegister, &read), Outcome::NotLinearizable);
        let derived = vec![unknown_set("7"), incr("a", 10, 11, 8)];
        assert_eq!(drop_unobserved_writes(derived.clone()).len(), 2);
        assert_eq!(check(&KvRegister, &derived), Outcome::Linearizable);
        // Seen by a read after an increment whose outcome is unknown too (found by a
        // fault run: dropping the write made a sound history look broken).
        let unknown_incr = Operation {
            call: 6,
            ret: None,
            input: KvInput::IncrBy("a".into(), 1),
            output: None,
        };
        let read_after_incr = vec![
            set("a", 0, Some(1), "1"),
            unknown_set("7"),
            unknown_incr,
            get("a", 10, 11, Some("8")),
        ];
        let pruned = drop_unobserved_writes(read_after_incr.clone());
        assert_eq!(pruned.len(), 4);
        assert_eq!(check(&KvRegister, &pruned), Outcome::Linearizable);
        // A known write is never dropped.
        let known = vec![set("a", 0, Some(1), "9")];
        assert_eq!(drop_unobserved_writes(known).len(), 1);
    }

    #[test]
    fn a_long_concurrent_history_is_decided_quickly() {
        // Four clients, each doing 250 increments one after another, overlapping with
        // each other: the memo keeps this polynomial.
        let mut h = Vec::new();
        let mut value = 0;
        for round in 0..250u64 {
            for client in 0..4u64 {
                value += 1;
                h.push(incr("c", round * 10 + client, round * 10 + 9, value));
            }
        }
        assert_eq!(check(&KvRegister, &h), Outcome::Linearizable);
    }
}
