//! One ACL selector: the commands it allows (a bit per command and subcommand), the key
//! patterns with their read/write permissions, and the channel patterns. A user has a
//! root selector and any number of `(...)` ones; a command may run when one of them
//! allows all of it.

use smallvec::SmallVec;

use super::categories::{bit_of, command_bits, commands_in_category, table_order};
use super::user::RuleError;
use super::RuleContext;
use crate::glob::glob_match;
use crate::table::{flag, lookup, CommandSpec};

/// Key permission bits of a pattern: `%R~` reads, `%W~` writes, `~` both.
const READ: u8 = 1;
const WRITE: u8 = 2;
const ALL: u8 = READ | WRITE;

/// What a command does to one key, as far as key permissions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// It reads the key's value.
    pub read: bool,
    /// It inserts, changes or deletes the key.
    pub write: bool,
}

impl Access {
    fn bits(self) -> u8 {
        (if self.read { READ } else { 0 }) | (if self.write { WRITE } else { 0 })
    }
}

/// Why a command may not run, with the argument at fault: Redis's `ACL_DENIED_*`, in
/// the order in which the most telling one is chosen among selectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The command itself is not allowed.
    Command,
    /// The key at this argument index is not allowed.
    Key(usize),
    /// The channel at this argument index is not allowed.
    Channel(usize),
}

impl Denied {
    /// Redis's order of reasons (`ACL_DENIED_CMD` 1, `KEY` 2, `CHANNEL` 4) and then the
    /// argument index: when no selector allows a command, the greatest is reported.
    pub(crate) fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(i) => (2, i),
            Denied::Channel(i) => (4, i),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct KeyPattern {
    flags: u8,
    pattern: Vec<u8>,
    shape: Shape,
}

/// How a pattern can be matched: most are a literal or a literal prefix and `*`
/// (`~app:*`), which need no glob matcher; a restricted user's every key is compared
/// with each of its patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Exact,
    Prefix,
    Glob,
}

impl Shape {
    fn of(pattern: &[u8]) -> Shape {
        let special = |c: &u8| matches!(c, b'*' | b'?' | b'[' | b'\\');
        match pattern.split_last() {
            Some((b'*', head)) if !head.iter().any(special) => Shape::Prefix,
            _ if !pattern.iter().any(special) => Shape::Exact,
            _ => Shape::Glob,
        }
    }

    fn matches(self, pattern: &[u8], s: &[u8]) -> bool {
        match self {
            Shape::Exact => pattern == s,
            // As Redis's matcher, nothing matches an empty string, not even `*`.
            Shape::Prefix => {
                let prefix = &pattern[..pattern.len() - 1];
                // Most patterns differ from most keys in the first byte: no call to
                // compare the rest.
                !s.is_empty()
                    && prefix.first().is_none_or(|c| s.first() == Some(c))
                    && s.starts_with(prefix)
            }
            Shape::Glob => glob_match(pattern, s, false),
        }
    }
}

/// The keys of one command call with what it does to each, worked out at most once
/// however many selectors look at them.
pub(crate) type KeyCache = Option<SmallVec<[(usize, u8); 4]>>;

/// One selector's permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    allkeys: bool,
    allchannels: bool,
    allcommands: bool,
    /// Set by `+@all` and cleared by `-@all` only: whether the rules started from every
    /// command (and so would allow commands added later), which decides whether the
    /// description starts with `+@all` or `-@all`.
    future: bool,
    bits: Vec<u64>,
    /// Allowed first arguments of otherwise denied commands (`+select|0`), per bit.
    firstargs: Vec<(usize, Vec<Vec<u8>>)>,
    patterns: Vec<KeyPattern>,
    channels: Vec<Vec<u8>>,
}

fn words() -> usize {
    command_bits().div_ceil(64)
}

fn get_bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

fn set_bit(bits: &mut [u64], i: usize, on: bool) {
    if let Some(w) = bits.get_mut(i / 64) {
        if on {
            *w |= 1 << (i % 64);
        } else {
            *w &= !(1 << (i % 64));
        }
    }
}

/// Allows or denies a command, and with a container every subcommand.
fn change_bits(bits: &mut [u64], spec: &'static CommandSpec, allow: bool) {
    set_bit(bits, bit_of(spec), allow);
    for sub in spec.subcommands {
        set_bit(bits, bit_of(sub), allow);
    }
}

/// How many commands of a category are allowed and how many are not.
fn count_category(bits: &[u64], cat: usize) -> (usize, usize) {
    let members = commands_in_category(cat);
    let on = members.iter().filter(|c| get_bit(bits, bit_of(c))).count();
    (on, members.len() - on)
}

fn has_space_or_nul(s: &[u8]) -> bool {
    s.iter()
        .any(|&c| c == 0 || c.is_ascii_whitespace() || c == 0x0b)
}

impl Selector {
    /// A selector that allows nothing (channels as `acl-pubsub-default` says).
    pub fn new(ctx: RuleContext) -> Selector {
        Selector {
            allkeys: false,
            allchannels: ctx.pubsub_all,
            allcommands: false,
            future: false,
            bits: vec![0; words()],
            firstargs: Vec::new(),
            patterns: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// Whether this selector allows every command, key and channel: checks can be
    /// skipped for a user whose root selector does.
    pub fn unrestricted(&self) -> bool {
        self.allcommands && self.allkeys && self.allchannels
    }

    fn set_command(&mut self, spec: &'static CommandSpec, allow: bool) {
        change_bits(&mut self.bits, spec, allow);
        if !allow {
            self.allcommands = false;
        }
        let id = bit_of(spec);
        self.firstargs.retain(|(b, _)| *b != id);
    }

    fn set_category(&mut self, cat: usize, allow: bool) {
        for spec in commands_in_category(cat) {
            self.set_command(spec, allow);
        }
    }

    fn set_all(&mut self, allow: bool) {
        let w = if allow { !0 } else { 0 };
        self.bits.iter_mut().for_each(|b| *b = w);
        self.allcommands = allow;
        self.future = allow;
        self.firstargs.clear();
    }

    /// Applies one rule that concerns a selector (keys, channels, commands), as Redis's
    /// `ACLSetSelector`.
    pub fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || is("~*") {
            self.allkeys = true;
            self.patterns.clear();
        } else if is("resetkeys") {
            self.allkeys = false;
            self.patterns.clear();
        } else if is("allchannels") || is("&*") {
            self.allchannels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.allchannels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            self.add_key_pattern(op)?;
        } else if op[0] == b'&' {
            if self.allchannels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pat = &op[1..];
            if has_space_or_nul(pat) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pat) {
                self.channels.push(pat.to_vec());
            }
            self.allchannels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            self.allow_command(&op[1..])?;
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let spec = lookup(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.set_command(spec, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let cat = super::is_category(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.set_category(cat, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if self.allkeys {
            return Err(RuleError::KeysAfterAll);
        }
        let mut flags = 0;
        let mut offset = 1;
        if op[0] == b'%' {
            while offset < op.len() {
                match op[offset].to_ascii_uppercase() {
                    b'R' if flags & READ == 0 => flags |= READ,
                    b'W' if flags & WRITE == 0 => flags |= WRITE,
                    b'~' => {
                        offset += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                offset += 1;
            }
            if flags == 0 {
                return Err(RuleError::Syntax);
            }
        } else {
            flags = ALL;
        }
        let pat = &op[offset.min(op.len())..];
        if has_space_or_nul(pat) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pat) {
            Some(p) => p.flags |= flags,
            None => self.patterns.push(KeyPattern {
                flags,
                pattern: pat.to_vec(),
                shape: Shape::of(pat),
            }),
        }
        self.allkeys = false;
        Ok(())
    }

    /// `+name`, `+container|sub`, or `+name|first-arg` (the deprecated way of allowing
    /// one first argument of an otherwise denied command).
    fn allow_command(&mut self, name: &[u8]) -> Result<(), RuleError> {
        let Some(bar) = name.iter().rposition(|&c| c == b'|') else {
            let spec = lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.set_command(spec, true);
            return Ok(());
        };
        let (base, sub) = (&name[..bar], &name[bar + 1..]);
        let spec = lookup(base).ok_or(RuleError::UnknownCommand)?;
        if spec.name.contains('|') {
            return Err(RuleError::FirstArgOfSubcommand);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !spec.subcommands.is_empty() {
            let spec = lookup(name).ok_or(RuleError::UnknownCommand)?;
            self.set_command(spec, true);
            return Ok(());
        }
        let id = bit_of(spec);
        let at = match self.firstargs.iter().position(|(b, _)| *b == id) {
            Some(at) => at,
            None => {
                self.firstargs.push((id, Vec::new()));
                self.firstargs.len() - 1
            }
        };
        let list = &mut self.firstargs[at].1;
        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
            list.push(sub.to_vec());
        }
        Ok(())
    }

    fn command_allowed(&self, spec: &'static CommandSpec, args: &[&[u8]]) -> bool {
        if self.allcommands || spec.has(flag::NO_AUTH) {
            return true;
        }
        let id = bit_of(spec);
        if get_bit(&self.bits, id) {
            return true;
        }
        if args.len() < 2 {
            return false;
        }
        let idx = if spec.name.contains('|') { 2 } else { 1 };
        let Some(arg) = args.get(idx) else {
            return false;
        };
        self.firstargs
            .iter()
            .find(|(b, _)| *b == id)
            .is_some_and(|(_, list)| list.iter().any(|a| a.eq_ignore_ascii_case(arg)))
    }

    /// Whether this selector may touch `key` as `access` says.
    pub fn key_allowed(&self, key: &[u8], access: Access) -> bool {
        self.key_allowed_bits(key, access.bits())
    }

    fn key_allowed_bits(&self, key: &[u8], need: u8) -> bool {
        self.allkeys
            || self
                .patterns
                .iter()
                .any(|p| p.flags & need == need && p.shape.matches(&p.pattern, key))
    }

    /// Whether this selector may name `channel`; a pattern subscription's pattern must
    /// be one of the selector's patterns literally.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.allchannels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p == channel
                } else {
                    glob_match(p, channel, false)
                }
            })
    }

    /// Checks one call, as Redis's `ACLSelectorCheckCmd`: the command, then its keys,
    /// then its channels. `keys` holds the call's keys once a selector needed them
    /// from the full search (commands whose keys are at fixed places need no list).
    pub(crate) fn check(
        &self,
        spec: &'static CommandSpec,
        args: &[&[u8]],
        keys: &mut KeyCache,
    ) -> Result<(), Denied> {
        if !self.command_allowed(spec, args) {
            return Err(Denied::Command);
        }
        if !self.allkeys {
            self.check_keys(spec, args, keys)?;
        }
        if !self.allchannels && spec.has(flag::PUBSUB) {
            for (pos, is_pattern) in channels_of(spec, args) {
                if !self.channel_allowed(args[pos], is_pattern) {
                    return Err(Denied::Channel(pos));
                }
            }
        }
        Ok(())
    }

    fn check_keys(
        &self,
        spec: &'static CommandSpec,
        args: &[&[u8]],
        keys: &mut KeyCache,
    ) -> Result<(), Denied> {
        if keys.is_none() {
            if let Some(ranges) = crate::keyspecs::fixed_ranges(spec) {
                // Fits when every range does; otherwise the full search decides.
                if ranges.iter().all(|r| r.positions(args.len()).is_some()) {
                    for r in ranges {
                        let need = Access {
                            read: r.reads,
                            write: r.writes,
                        }
                        .bits();
                        for pos in r.positions(args.len()).into_iter().flatten() {
                            if !self.key_allowed_bits(args[pos], need) {
                                return Err(Denied::Key(pos));
                            }
                        }
                    }
                    return Ok(());
                }
            }
        }
        let keys = keys.get_or_insert_with(|| key_access(spec, args));
        for &(pos, need) in keys.iter() {
            if !self.key_allowed_bits(args[pos], need) {
                return Err(Denied::Key(pos));
            }
        }
        Ok(())
    }

    /// `ACL GETUSER`'s `keys` field.
    pub fn keys_text(&self) -> Vec<u8> {
        if self.allkeys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, p) in self.patterns.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            pattern_text(&mut out, p);
        }
        out
    }

    /// `ACL GETUSER`'s `channels` field.
    pub fn channels_text(&self) -> Vec<u8> {
        if self.allchannels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// The selector as rules, as `ACL LIST` shows it: keys, channels, commands.
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.allkeys {
            out.extend_from_slice(b"~* ");
        } else {
            for p in &self.patterns {
                pattern_text(&mut out, p);
                out.push(b' ');
            }
        }
        if self.allchannels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.command_rules().as_bytes());
        out
    }

    /// The shortest-looking rules that give this selector's command bits, as Redis's
    /// `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, then the categories that
    /// fit best one after another, then single commands for what is left over.
    pub fn command_rules(&self) -> String {
        let additive = !self.future;
        let mut rules = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = vec![if additive { 0u64 } else { !0 }; words()];
        let mut temp = self.bits.clone();
        let names = super::category_names();
        let mut applied = vec![false; names.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, _) in names.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = count_category(&temp, j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(best) = best else { break };
            for spec in commands_in_category(best) {
                change_bits(&mut fake, spec, additive);
                change_bits(&mut temp, spec, !additive);
            }
            rules.push(if additive { '+' } else { '-' });
            rules.push('@');
            rules.push_str(names[best]);
            rules.push(' ');
            applied[best] = true;
        }
        for spec in table_order() {
            let id = bit_of(spec);
            let user = get_bit(&self.bits, id);
            if user != get_bit(&fake, id) {
                rules.push(if user { '+' } else { '-' });
                rules.push_str(spec.name);
                rules.push(' ');
                change_bits(&mut fake, spec, user);
            }
            if !user {
                if let Some((_, args)) = self.firstargs.iter().find(|(b, _)| *b == id) {
                    for a in args {
                        rules.push('+');
                        rules.push_str(spec.name);
                        rules.push('|');
                        rules.push_str(&String::from_utf8_lossy(a));
                        rules.push(' ');
                    }
                }
            }
        }
        rules.pop();
        debug_assert!((0..command_bits()).all(|i| get_bit(&fake, i) == get_bit(&self.bits, i)));
        rules
    }
}

fn pattern_text(out: &mut Vec<u8>, p: &KeyPattern) {
    out.extend_from_slice(match p.flags {
        READ => b"%R~".as_slice(),
        WRITE => b"%W~",
        // `%R~*` and `%W~*` together: written as `~*`, as Redis writes it, this would
        // read back as `allkeys`, after which further patterns are refused.
        _ if p.pattern == b"*" => b"%RW~",
        _ => b"~",
    });
    out.extend_from_slice(&p.pattern);
}

/// The keys of a call and the permission each needs, from the full search of the key
/// specifications.
fn key_access(spec: &'static CommandSpec, args: &[&[u8]]) -> SmallVec<[(usize, u8); 4]> {
    let Some(keys) = crate::keyspecs::keys_and_flags(spec, args) else {
        return SmallVec::new();
    };
    keys.into_iter()
        .filter(|(pos, _)| *pos < args.len())
        .map(|(pos, flags)| {
            let (read, write) = crate::keyspecs::reads_and_writes(flags);
            (pos, Access { read, write }.bits())
        })
        .collect()
}

/// The channels a call names that channel permissions govern, with whether each is a
/// pattern (`PSUBSCRIBE`); unsubscribing is always allowed.
pub fn channels_of(spec: &CommandSpec, args: &[&[u8]]) -> SmallVec<[(usize, bool); 4]> {
    match spec.name {
        "publish" | "spublish" if args.len() > 1 => smallvec::smallvec![(1, false)],
        "subscribe" | "ssubscribe" => (1..args.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..args.len()).map(|i| (i, true)).collect(),
        _ => SmallVec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_shapes_match_as_the_glob_matcher() {
        let patterns: &[&[u8]] = &[
            b"", b"*", b"a", b"app:*", b"app:", b"a*b", b"a?", b"[ab]*", b"a\\*", b"**", b"x*y*",
        ];
        let keys: &[&[u8]] = &[
            b"", b"a", b"app:", b"app:1", b"ab", b"a*", b"b", b"xay", b"app",
        ];
        for p in patterns {
            for k in keys {
                assert_eq!(
                    Shape::of(p).matches(p, k),
                    glob_match(p, k, false),
                    "{:?} {:?}",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(k)
                );
            }
        }
        assert_eq!(Shape::of(b"app:*"), Shape::Prefix);
        assert_eq!(Shape::of(b"app"), Shape::Exact);
        assert_eq!(Shape::of(b"a*b"), Shape::Glob);
    }
}
