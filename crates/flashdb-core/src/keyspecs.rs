//! Redis 7.0's key specifications and command tips, as data: where each command's keys
//! are and what it does to each (`COMMAND INFO`, `COMMAND GETKEYSANDFLAGS`).
//!
//! The data file is generated from Redis 7.0's `COMMAND` reply by
//! `scripts/gen-keyspecs.py` and parsed once. FlashDB's own commands (the queue family)
//! are not in it; their specifications are derived from the table's key positions.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::table::CommandSpec;

const DATA: &str = include_str!("../data/redis-7.0-keyspecs.txt");

/// Where a key specification starts looking for keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument index.
    Index(i64),
    /// After this keyword, searched from `startfrom` (backwards when negative).
    Keyword(&'static str, i64),
    /// Only the command's own code knows.
    Unknown,
}

/// How a key specification finds its keys from where it began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` (relative, or from the end when negative), `keystep`, `limit`.
    Range(i64, i64, i64),
    /// `keynumidx`, `firstkey`, `keystep`: the count is an argument.
    Keynum(i64, i64, i64),
    /// Only the command's own code knows.
    Unknown,
}

/// One key specification.
#[derive(Debug, Clone)]
pub struct KeySpec {
    /// Flags, as Redis names them (`RW`, `access`, `update`, ...).
    pub flags: Vec<&'static str>,
    /// Where the search begins.
    pub begin: BeginSearch,
    /// How keys are found.
    pub find: FindKeys,
    /// Redis's note, if any.
    pub notes: Option<&'static str>,
}

/// A command's specifications and tips.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: Vec<&'static str>,
    /// Key specifications, in Redis's order.
    pub specs: Vec<KeySpec>,
}

fn num(s: &str) -> Option<i64> {
    s.parse().ok()
}

fn parse_spec(field: &'static str) -> Option<KeySpec> {
    let mut parts = field.splitn(4, '|');
    let flags = parts.next()?.split(',').filter(|f| !f.is_empty()).collect();
    let begin = parts.next()?;
    let begin = match begin.split(':').collect::<Vec<_>>()[..] {
        ["index", i] => BeginSearch::Index(num(i)?),
        ["keyword", k, from] => BeginSearch::Keyword(k, num(from)?),
        ["unknown"] => BeginSearch::Unknown,
        _ => return None,
    };
    let find = parts.next()?;
    let find = match find.split(':').collect::<Vec<_>>()[..] {
        ["range", last, step, limit] => FindKeys::Range(num(last)?, num(step)?, num(limit)?),
        ["keynum", idx, first, step] => FindKeys::Keynum(num(idx)?, num(first)?, num(step)?),
        ["unknown"] => FindKeys::Unknown,
        _ => return None,
    };
    let notes = parts.next().filter(|n| !n.is_empty());
    Some(KeySpec {
        flags,
        begin,
        find,
        notes,
    })
}

fn parse(data: &'static str) -> HashMap<&'static str, Extra> {
    let mut out = HashMap::new();
    for line in data.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.split('\t');
        let Some(name) = fields.next() else { continue };
        let tips = match fields.next() {
            Some("-") | None => Vec::new(),
            Some(t) => t.split(',').collect(),
        };
        let specs = fields.filter_map(parse_spec).collect();
        out.insert(name, Extra { tips, specs });
    }
    out
}

/// Redis's specifications and tips for the command of this table name, if Redis has it.
pub fn extra(name: &str) -> Option<&'static Extra> {
    static TABLE: OnceLock<HashMap<&'static str, Extra>> = OnceLock::new();
    TABLE.get_or_init(|| parse(DATA)).get(name)
}

/// Argument positions `first..=last` by `step`, or none (an empty range).
#[derive(Debug, Clone, Copy)]
struct Positions {
    first: usize,
    last: usize,
    step: usize,
}

impl Positions {
    const NONE: Positions = Positions {
        first: 1,
        last: 0,
        step: 1,
    };

    fn iter(self) -> impl Iterator<Item = usize> {
        (self.first..=self.last).step_by(self.step)
    }

    fn contains(self, p: usize) -> bool {
        p >= self.first && p <= self.last && (p - self.first).is_multiple_of(self.step)
    }
}

/// The positions of the keys one specification finds in `args` (the command name at
/// 0), as Redis's `getKeysUsingKeySpecs`; `None` when the arguments do not fit it (a
/// syntax error, or a count the command's own code must judge).
fn positions(spec: &KeySpec, args: &[&[u8]]) -> Option<Positions> {
    let argc = args.len() as i64;
    let first = match &spec.begin {
        BeginSearch::Index(i) => *i,
        BeginSearch::Keyword(word, from) => {
            let (start, end) = if *from > 0 {
                (*from, argc - 1)
            } else {
                (argc + from, 1)
            };
            let mut i = start;
            let mut found = 0;
            loop {
                if i >= argc || i < 1 {
                    break;
                }
                if args[i as usize].eq_ignore_ascii_case(word.as_bytes()) {
                    found = i + 1;
                    break;
                }
                if i == end {
                    break;
                }
                i += if start <= end { 1 } else { -1 };
            }
            if found == 0 {
                // A keyword that is not there: no keys from this spec.
                return Some(Positions::NONE);
            }
            found
        }
        BeginSearch::Unknown => return None,
    };
    let (first, last, step) = match spec.find {
        FindKeys::Range(lastkey, step, limit) => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else if limit == 0 {
                argc + lastkey
            } else {
                first + ((argc - first) / limit + lastkey)
            };
            (first, last, step)
        }
        FindKeys::Keynum(idx, firstkey, step) => {
            let n = args
                .get((first + idx) as usize)
                .and_then(|a| crate::numeric::parse_int(a))
                .filter(|&n| n >= 0)?;
            let first = first + firstkey;
            (first, first + n - 1, step)
        }
        FindKeys::Unknown => return None,
    };
    if last >= argc || last < first || first >= argc || step <= 0 {
        return None;
    }
    Some(Positions {
        first: first as usize,
        last: last as usize,
        step: step as usize,
    })
}

/// One key specification that needs no search through the arguments: keys from a fixed
/// index over a range (most commands' only specification).
#[derive(Debug, Clone, Copy)]
pub struct FixedRange {
    index: i64,
    lastkey: i64,
    step: i64,
    limit: i64,
    /// The flags of these keys.
    pub flags: KeyFlags,
    /// [`reads_and_writes`] of `flags`.
    pub reads: bool,
    /// See `reads`.
    pub writes: bool,
}

impl FixedRange {
    /// The positions of the keys in a call of `argc` arguments, as [`positions`] finds
    /// them; `None` when the call does not fit (the command will refuse it).
    pub fn positions(&self, argc: usize) -> Option<impl Iterator<Item = usize>> {
        let argc = argc as i64;
        let first = self.index;
        let last = if self.lastkey >= 0 {
            first + self.lastkey
        } else if self.limit == 0 {
            argc + self.lastkey
        } else {
            first + ((argc - first) / self.limit + self.lastkey)
        };
        if last >= argc || last < first || first >= argc || self.step <= 0 {
            return None;
        }
        Some((first as usize..=last as usize).step_by(self.step as usize))
    }
}

/// A command's key specifications when every one is a [`FixedRange`] and the flags do
/// not depend on the arguments, so that its keys can be found without allocating or
/// searching (ACL checks ask for every command of a restricted user); `None` otherwise,
/// when [`keys_and_flags`] must be asked.
pub fn fixed_ranges(c: &'static CommandSpec) -> Option<&'static [FixedRange]> {
    static BY_INDEX: OnceLock<Vec<Option<Vec<FixedRange>>>> = OnceLock::new();
    let all = BY_INDEX.get_or_init(|| {
        crate::table::all_specs()
            .iter()
            .map(|s| fixed_ranges_of(s))
            .collect()
    });
    all.get(crate::table::command_index(c))?.as_deref()
}

fn fixed_ranges_of(c: &'static CommandSpec) -> Option<Vec<FixedRange>> {
    if matches!(c.name, "set" | "bitfield") {
        return None;
    }
    let Some(extra) = extra(c.name) else {
        if c.movable != crate::table::MovableKeys::None {
            return None;
        }
        if c.first_key <= 0 {
            return Some(Vec::new());
        }
        let flags: KeyFlags = if c.has(crate::table::flag::WRITE) {
            &["RW", "update"]
        } else {
            &["RO", "access"]
        };
        let lastkey = if c.last_key < 0 {
            i64::from(c.last_key)
        } else {
            i64::from(c.last_key - c.first_key)
        };
        let (reads, writes) = reads_and_writes(flags);
        return Some(vec![FixedRange {
            index: i64::from(c.first_key),
            lastkey,
            step: i64::from(c.step.max(1)),
            limit: 0,
            flags,
            reads,
            writes,
        }]);
    };
    extra
        .specs
        .iter()
        .filter(|s| !s.flags.contains(&"not_key"))
        .map(|s| match (&s.begin, &s.find) {
            (BeginSearch::Index(i), FindKeys::Range(lastkey, step, limit)) => {
                let (reads, writes) = reads_and_writes(&s.flags[..]);
                Some(FixedRange {
                    index: *i,
                    lastkey: *lastkey,
                    step: *step,
                    limit: *limit,
                    flags: &s.flags[..],
                    reads,
                    writes,
                })
            }
            _ => None,
        })
        .collect()
}

/// What a command does to one key, as Redis names the flags (`RW`, `access`, ...).
pub type KeyFlags = &'static [&'static str];

/// A call's keys with their flags: inline for the usual few, since ACL checks ask for
/// every command of a restricted user.
pub type KeysAndFlags = smallvec::SmallVec<[(usize, KeyFlags); 4]>;

/// [`extra`] for a command of the table, found by its index rather than by hashing its
/// name.
fn extra_of(c: &'static CommandSpec) -> Option<&'static Extra> {
    static BY_INDEX: OnceLock<Vec<Option<&'static Extra>>> = OnceLock::new();
    let all = BY_INDEX.get_or_init(|| {
        crate::table::all_specs()
            .iter()
            .map(|s| extra(s.name))
            .collect()
    });
    all.get(crate::table::command_index(c)).copied().flatten()
}

/// Whether a key's flags say the command reads its value (Redis's `access`), and
/// whether it writes it (`insert`, `delete` or `update`), as ACL key permissions
/// (`%R~`, `%W~`) judge them.
pub fn reads_and_writes(flags: KeyFlags) -> (bool, bool) {
    let read = flags.contains(&"access");
    let write = flags
        .iter()
        .any(|f| matches!(*f, "insert" | "delete" | "update"));
    (read, write)
}

/// The keys of a command call and the flags of what it does to each, as `COMMAND
/// GETKEYSANDFLAGS` reports them: `(argument index, flags)`. `None` when the arguments
/// do not name keys the command would accept.
pub fn keys_and_flags(c: &'static CommandSpec, args: &[&[u8]]) -> Option<KeysAndFlags> {
    let Some(extra) = extra_of(c) else {
        // FlashDB's own commands: the table's positions, flagged by the command's kind.
        let flags: KeyFlags = if c.has(crate::table::flag::WRITE) {
            &["RW", "update"]
        } else {
            &["RO", "access"]
        };
        return Some(c.keys_in(args)?.into_iter().map(|p| (p, flags)).collect());
    };
    // Flags that depend on the arguments, as Redis's `setGetKeys` and `bitfieldGetKeys`.
    if c.name == "set" {
        let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
        let flags: KeyFlags = if get {
            &["RW", "access", "update"]
        } else {
            &["OW", "update"]
        };
        return Some(smallvec::smallvec![(1, flags)]);
    }
    if c.name == "bitfield" {
        return Some(smallvec::smallvec![(1, bitfield_flags(args))]);
    }
    let mut out = KeysAndFlags::new();
    let mut valid = true;
    for spec in &extra.specs {
        if spec.flags.contains(&"not_key") {
            continue;
        }
        match positions(spec, args) {
            Some(p) => out.extend(p.iter().map(|i| (i, &spec.flags[..]))),
            None => {
                valid = false;
                break;
            }
        }
    }
    if valid {
        return Some(out);
    }
    // As Redis, the command's own key finder decides when the specifications cannot
    // (a count of 0, say): its positions, each flagged by the specification covering it.
    let keys = c.keys_in(args)?;
    Some(
        keys.into_iter()
            .map(|p| {
                let flags = extra
                    .specs
                    .iter()
                    .find(|s| positions(s, args).is_some_and(|ps| ps.contains(p)))
                    .or(extra.specs.last())
                    .map_or(&[][..], |s| &s.flags[..]);
                (p, flags)
            })
            .collect(),
    )
}

/// `BITFIELD`'s key is only read when every subcommand is a `GET`.
fn bitfield_flags(args: &[&[u8]]) -> KeyFlags {
    let mut i = 2;
    let mut readonly = true;
    while i < args.len() {
        let rem = args.len() - i - 1;
        let a = args[i];
        if a.eq_ignore_ascii_case(b"get") && rem >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rem >= 1 {
            i += 2;
        } else {
            // SET, INCRBY, or a syntax error: assumed to write, as Redis does.
            readonly = false;
            break;
        }
    }
    if readonly {
        &["RO", "access"]
    } else {
        &["RW", "access", "update"]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_data_parses() {
        for line in DATA.lines() {
            let fields = line.split('\t').count();
            let name = line.split('\t').next().unwrap_or_default();
            let e = extra(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(e.specs.len(), fields.saturating_sub(2), "{line}");
        }
        assert!(extra("set").is_some_and(|e| e.specs[0].notes.is_some()));
        assert_eq!(extra("keys").map(|e| e.tips.len()), Some(2));
    }

    #[test]
    fn fixed_ranges_find_what_the_full_search_finds() {
        let mut compared = 0;
        for spec in crate::table::all_specs() {
            let Some(ranges) = fixed_ranges(spec) else {
                continue;
            };
            let words: Vec<&str> = spec.name.split('|').collect();
            for extra_args in 0..7 {
                let mut args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
                args.extend((0..extra_args).map(|i| format!("a{i}").into_bytes()));
                let a: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                if !spec.arity_ok(a.len()) {
                    continue;
                }
                let Some(want) = keys_and_flags(spec, &a) else {
                    continue;
                };
                let mut got = Vec::new();
                let mut fits = true;
                for r in ranges {
                    match r.positions(a.len()) {
                        Some(ps) => got.extend(ps.map(|p| (p, r.flags))),
                        None => fits = false,
                    }
                }
                if fits {
                    assert_eq!(
                        got.as_slice(),
                        want.as_slice(),
                        "{} {extra_args}",
                        spec.name
                    );
                    compared += 1;
                }
            }
        }
        assert!(compared > 300, "{compared}");
    }

    #[test]
    fn specifications_find_keys_as_redis_does() {
        let spec =
            |name: &str| crate::table::lookup(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
        let call = |name: &str, args: &[&str]| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            keys_and_flags(spec(name), &a)
        };
        let keys =
            |r: Option<KeysAndFlags>| r.map(|v| v.into_iter().map(|(p, _)| p).collect::<Vec<_>>());
        assert_eq!(
            keys(call("zunionstore", &["zunionstore", "d", "2", "a", "b"])),
            Some(vec![1, 3, 4])
        );
        assert_eq!(
            keys(call("zunionstore", &["zunionstore", "d", "0", "a"])),
            None
        );
        assert_eq!(
            keys(call(
                "georadius",
                &["georadius", "k", "1", "2", "3", "m", "STORE", "d"]
            )),
            Some(vec![1, 7])
        );
        assert_eq!(
            keys(call("mset", &["mset", "a", "1", "b", "2"])),
            Some(vec![1, 3])
        );
        assert_eq!(
            call("set", &["set", "k", "v", "GET"]).map(|v| v[0].1.to_vec()),
            Some(vec!["RW", "access", "update"])
        );
        assert_eq!(
            call("bitfield", &["bitfield", "k", "GET", "u8", "0"]).map(|v| v[0].1.to_vec()),
            Some(vec!["RO", "access"])
        );
    }
}
