//! One ACL user's rules: on or off, passwords (kept as SHA-256 only), and selectors,
//! changed by `ACL SETUSER` rules exactly as Redis's `ACLSetUser` changes them.

use sha2::{Digest, Sha256};

use super::selector::{Denied, KeyCache, Selector};
use super::RuleContext;
use crate::table::CommandSpec;

/// Why a rule was refused; the texts are Redis's (`ACLSetUserStringError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// Not a rule.
    #[error("Syntax error")]
    Syntax,
    /// `+cmd`, `-cmd` or `@category` names nothing FlashDB has.
    #[error("Unknown command or category name in ACL")]
    UnknownCommand,
    /// A key pattern after `allkeys`.
    #[error("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")]
    KeysAfterAll,
    /// A channel pattern after `allchannels`.
    #[error("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")]
    ChannelsAfterAll,
    /// `<pass` or `!hash` for a password the user does not have.
    #[error("The password you are trying to remove from the user does not exist")]
    NoSuchPassword,
    /// `#hash` or `!hash` that is not 64 lowercase hexadecimal digits.
    #[error("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")]
    BadHash,
    /// The same user twice in a file.
    #[error("Duplicate user found. A user can only be defined once in config files")]
    Duplicate,
    /// `+container|sub|arg`.
    #[error("Allowing first-arg of a subcommand is not supported")]
    FirstArgOfSubcommand,
}

/// The SHA-256 of a password, which is all a user keeps of it.
pub fn hash_password(pass: &[u8]) -> [u8; 32] {
    Sha256::digest(pass).into()
}

fn parse_hash(hex: &[u8]) -> Result<[u8; 32], RuleError> {
    if hex.len() != 64 || !hex.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let v = |c: u8| if c <= b'9' { c - b'0' } else { c - b'a' + 10 };
        out[i] = v(pair[0]) << 4 | v(pair[1]);
    }
    Ok(out)
}

fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equality of two hashes in a time that does not depend on where they differ.
fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A user's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRules {
    enabled: bool,
    nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false), once either is set.
    sanitize: Option<bool>,
    passwords: Vec<[u8; 32]>,
    /// FlashDB's `ratelimit=RATE/BURST`: commands per second, and how many may come at
    /// once.
    rate_limit: Option<RateLimit>,
    /// The root selector first, then the `(...)` ones.
    selectors: Vec<Selector>,
}

/// A token bucket's settings: `rate` commands per second on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Commands per second.
    pub rate: u32,
    /// Commands that may come at once (the bucket's size).
    pub burst: u32,
}

impl RateLimit {
    /// Parses `RATE` or `RATE/BURST` (both from 1 to 1,000,000,000; the burst defaults
    /// to the rate).
    pub fn parse(s: &[u8]) -> Option<RateLimit> {
        let s = std::str::from_utf8(s).ok()?;
        let (rate, burst) = match s.split_once('/') {
            Some((r, b)) => (r, Some(b)),
            None => (s, None),
        };
        let num = |t: &str| {
            t.parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000_000).contains(n))
        };
        let rate = num(rate)?;
        let burst = match burst {
            Some(b) => num(b)?,
            None => rate,
        };
        Some(RateLimit { rate, burst })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.rate, self.burst)
    }
}

impl UserRules {
    /// A new user: off, no passwords, allowed nothing.
    pub fn new(ctx: RuleContext) -> UserRules {
        UserRules {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            rate_limit: None,
            selectors: vec![Selector::new(ctx)],
        }
    }

    /// The `default` user as a server starts with it: on, no password, everything.
    pub fn default_user(ctx: RuleContext) -> UserRules {
        let mut u = UserRules::new(ctx);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            // Each is a valid rule; an error here would leave the user more restricted.
            let _ = u.apply(op.as_bytes(), ctx);
        }
        u
    }

    /// Applies one rule, as Redis's `ACLSetUser`.
    pub fn apply(&mut self, op: &[u8], ctx: RuleContext) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut s = Selector::new(ctx);
            for rule in split_rules(&op[1..op.len() - 1])? {
                s.apply(&rule)?;
            }
            self.selectors.push(s);
        } else if op.len() > 10 && op[..10].eq_ignore_ascii_case(b"ratelimit=") {
            self.rate_limit = Some(RateLimit::parse(&op[10..]).ok_or(RuleError::Syntax)?);
        } else if is("noratelimit") {
            self.rate_limit = None;
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in ["resetpass", "resetkeys", "resetchannels"] {
                self.apply(op.as_bytes(), ctx)?;
            }
            if ctx.pubsub_all {
                self.apply(b"allchannels", ctx)?;
            }
            for op in [
                "off",
                "sanitize-payload",
                "clearselectors",
                "-@all",
                "noratelimit",
            ] {
                self.apply(op.as_bytes(), ctx)?;
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Whether the user is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether any password works (`nopass`).
    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether `pass` logs this user in: it is on, and has no password or this one
    /// (every stored hash is compared, in constant time each).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        self.passwords
            .iter()
            .fold(false, |ok, p| same_hash(p, &h) | ok)
    }

    /// The user's rate limit, if it has one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// Whether every command, key and channel is allowed, so that checks can be skipped.
    pub fn unrestricted(&self) -> bool {
        self.selectors[0].unrestricted()
    }

    /// Whether the user may run this call; otherwise the most telling reason among its
    /// selectors (Redis's `ACLCheckAllUserCommandPerm`).
    pub fn check(&self, spec: &'static CommandSpec, args: &[&[u8]]) -> Result<(), Denied> {
        let mut keys: KeyCache = None;
        let mut worst = Denied::Command;
        for s in &self.selectors {
            match s.check(spec, args, &mut keys) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.rank() > worst.rank() {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether some selector allows naming this channel (for subscriptions that exist
    /// when the rules change).
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.channel_allowed(channel, is_pattern))
    }

    /// Flag names, in Redis's order (`ACL GETUSER`'s `flags`).
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// Password hashes in hex (`ACL GETUSER`'s `passwords`).
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// The root selector.
    pub fn root(&self) -> &Selector {
        &self.selectors[0]
    }

    /// The `(...)` selectors.
    pub fn extra_selectors(&self) -> &[Selector] {
        &self.selectors[1..]
    }

    /// The user as rules, as `ACL LIST` and the ACL file show it (after `user <name> `).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.flags() {
            out.extend_from_slice(f.as_bytes());
            out.push(b' ');
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(hex(p).as_bytes());
            out.push(b' ');
        }
        if let Some(r) = self.rate_limit {
            out.extend_from_slice(format!("ratelimit={r} ").as_bytes());
        }
        out.extend_from_slice(&self.selectors[0].describe());
        for s in &self.selectors[1..] {
            out.extend_from_slice(b" (");
            out.extend_from_slice(&s.describe());
            out.push(b')');
        }
        out
    }
}

/// Splits a selector's inside into rules at spaces, keeping quoted parts together.
fn split_rules(s: &[u8]) -> Result<Vec<Vec<u8>>, RuleError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= s.len() {
            break;
        }
        let mut cur = Vec::new();
        while i < s.len() && !s[i].is_ascii_whitespace() {
            if s[i] == b'"' || s[i] == b'\'' {
                let q = s[i];
                let end = s[i + 1..]
                    .iter()
                    .position(|&c| c == q)
                    .ok_or(RuleError::Syntax)?;
                cur.extend_from_slice(&s[i + 1..i + 1 + end]);
                i += end + 2;
            } else {
                cur.push(s[i]);
                i += 1;
            }
        }
        out.push(cur);
    }
    Ok(out)
}

/// Joins a selector given over several arguments (`(~a` `+get)`) into one, as Redis's
/// `ACLMergeSelectorArguments`; `Err` is the index of a `(` that is never closed.
pub fn merge_selector_args(args: &[&[u8]]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (j, op) in args.iter().enumerate() {
        if let Some((_, sel)) = open.as_mut() {
            sel.push(b' ');
            sel.extend_from_slice(op);
            if op.last() == Some(&b')') {
                if let Some((_, sel)) = open.take() {
                    out.push(sel);
                }
            }
            continue;
        }
        if op.first() == Some(&b'(') && op.last() != Some(&b')') {
            open = Some((j, op.to_vec()));
            continue;
        }
        out.push(op.to_vec());
    }
    match open {
        Some((j, _)) => Err(j),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::lookup;

    fn user(rules: &[&str]) -> UserRules {
        let ctx = RuleContext::default();
        let mut u = UserRules::new(ctx);
        for r in rules {
            u.apply(r.as_bytes(), ctx)
                .unwrap_or_else(|e| panic!("{r}: {e}"));
        }
        u
    }

    fn describe(rules: &[&str]) -> String {
        String::from_utf8_lossy(&user(rules).describe()).into_owned()
    }

    fn run(u: &UserRules, args: &[&str]) -> Result<(), Denied> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let spec = match crate::resolve(&a) {
            crate::Resolved::Command(s) => s,
            crate::Resolved::Error(e) => panic!("{e}"),
        };
        u.check(spec, &a)
    }

    #[test]
    fn descriptions_match_redis() {
        // Each expected text is what Redis 7.0 answers to ACL LIST for the same rules, but
        // for the order of single commands, which in Redis follows its command hash table
        // and here the command table.
        assert_eq!(describe(&[]), "off resetchannels -@all");
        assert_eq!(
            describe(&["on", ">pw", "~k*", "+get"]),
            "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* resetchannels -@all +get"
        );
        assert_eq!(
            describe(&["%R~r*", "%W~w*", "&ch*", "+@read", "+set", "-hget", "(~sel* +@write)"]),
            "off %R~r* %W~w* resetchannels &ch* -@all +@read +set -hget (~sel* resetchannels -@all +@write)"
        );
        assert_eq!(
            describe(&["reset"]),
            "off sanitize-payload resetchannels -@all"
        );
        assert_eq!(
            describe(&["%R", "~", "%rw~y", "~y", "%R~y"]),
            "off ~ ~y resetchannels -@all"
        );
        assert_eq!(
            describe(&["+@all", "-@admin", "+@admin"]),
            "off resetchannels +@all"
        );
        assert_eq!(describe(&["+@all", "-get"]), "off resetchannels +@all -get");
        // Unlike Redis's `~* ~a`, which its own ACL LOAD refuses.
        assert_eq!(
            describe(&["%R~*", "%W~*", "~a"]),
            "off %RW~* ~a resetchannels -@all"
        );
        assert_eq!(
            describe(&["+get|x", "+get|y", "+GET|x"]),
            "off resetchannels -@all +get|x +get|y"
        );
        assert_eq!(
            String::from_utf8_lossy(&UserRules::default_user(RuleContext::default()).describe()),
            "on nopass ~* &* +@all"
        );
    }

    #[test]
    fn rule_errors_match_redis() {
        let ctx = RuleContext::default();
        let err = |rules: &[&str]| {
            let mut u = UserRules::new(ctx);
            rules.iter().find_map(|r| u.apply(r.as_bytes(), ctx).err())
        };
        assert_eq!(err(&["%~x"]), Some(RuleError::Syntax));
        assert_eq!(err(&["%RWR~x"]), Some(RuleError::Syntax));
        assert_eq!(err(&["+"]), Some(RuleError::UnknownCommand));
        assert_eq!(err(&["+nosuch"]), Some(RuleError::UnknownCommand));
        assert_eq!(err(&["-@nosuch"]), Some(RuleError::UnknownCommand));
        assert_eq!(err(&["foo"]), Some(RuleError::Syntax));
        assert_eq!(err(&["~a", "allkeys", "~b"]), Some(RuleError::KeysAfterAll));
        assert_eq!(
            err(&["&a", "allchannels", "&b"]),
            Some(RuleError::ChannelsAfterAll)
        );
        assert_eq!(
            err(&["+config|get|x"]),
            Some(RuleError::FirstArgOfSubcommand)
        );
        assert_eq!(err(&["+config|nosuch"]), Some(RuleError::UnknownCommand));
        assert_eq!(err(&["+select|"]), Some(RuleError::Syntax));
        assert_eq!(err(&["#abc"]), Some(RuleError::BadHash));
        assert_eq!(err(&["!"]), Some(RuleError::BadHash));
        assert_eq!(err(&["<a"]), Some(RuleError::NoSuchPassword));
        assert_eq!(err(&["~a b"]), Some(RuleError::Syntax));
        assert_eq!(err(&["(~a nosuch)"]), Some(RuleError::Syntax));
        assert_eq!(err(&["", "on", "(~a +get)", "clearselectors"]), None);
        assert_eq!(err(&["ratelimit=0"]), Some(RuleError::Syntax));
        assert_eq!(err(&["ratelimit=10/x"]), Some(RuleError::Syntax));
        assert_eq!(err(&["ratelimit=", "x"]), Some(RuleError::Syntax));
        assert_eq!(
            describe(&["ratelimit=100"]),
            "off ratelimit=100/100 resetchannels -@all"
        );
        assert_eq!(
            describe(&["ratelimit=100/5", "noratelimit"]),
            "off resetchannels -@all"
        );
        assert_eq!(
            describe(&["ratelimit=100/5", "reset"]),
            "off sanitize-payload resetchannels -@all"
        );
    }

    #[test]
    fn passwords_are_kept_hashed_and_checked() {
        let u = user(&["on", ">secret", ">other"]);
        assert!(u.password_ok(b"secret") && u.password_ok(b"other"));
        assert!(!u.password_ok(b"secreT") && !u.password_ok(b""));
        let off = user(&[">secret"]);
        assert!(
            !off.password_ok(b"secret"),
            "a user that is off never logs in"
        );
        let removed = user(&["on", ">secret", "<secret"]);
        assert!(!removed.password_ok(b"secret"));
        let h = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let by_hash = user(&["on", &format!("#{h}")]);
        assert!(by_hash.password_ok(b"secret"));
        assert_eq!(by_hash.password_hashes(), vec![h.to_string()]);
        assert!(user(&["on", "nopass"]).password_ok(b"anything"));
    }

    #[test]
    fn commands_keys_and_channels_are_checked_as_redis() {
        let u = user(&["on", "%R~r*", "%W~w*", "&ch*", "+@read", "+set", "-hget"]);
        assert_eq!(run(&u, &["GET", "r1"]), Ok(()));
        assert_eq!(run(&u, &["GET", "x"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["SET", "r1", "v"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["SET", "w1", "v"]), Ok(()));
        // SET ... GET reads the key as well as writing it.
        assert_eq!(run(&u, &["SET", "w1", "v", "GET"]), Err(Denied::Key(1)));
        assert_eq!(run(&u, &["HGET", "r1", "f"]), Err(Denied::Command));
        assert_eq!(run(&u, &["PUBLISH", "ch1", "m"]), Err(Denied::Command));
        assert_eq!(run(&u, &["PING"]), Err(Denied::Command));
        assert_eq!(
            run(&u, &["AUTH", "a", "b"]),
            Ok(()),
            "no_auth commands always run"
        );
        let p = user(&["on", "+@all", "~*", "&news", "&n*"]);
        assert_eq!(run(&p, &["PUBLISH", "news", "m"]), Ok(()));
        assert_eq!(run(&p, &["PUBLISH", "nx", "m"]), Ok(()));
        assert_eq!(run(&p, &["PUBLISH", "other", "m"]), Err(Denied::Channel(1)));
        assert_eq!(run(&p, &["PSUBSCRIBE", "n*"]), Ok(()));
        assert_eq!(run(&p, &["PSUBSCRIBE", "ne*"]), Err(Denied::Channel(1)));
        assert_eq!(
            run(&p, &["SUBSCRIBE", "news", "x"]),
            Err(Denied::Channel(2))
        );
        assert_eq!(run(&p, &["UNSUBSCRIBE", "x"]), Ok(()));
        // A second selector allows what the root does not.
        let s = user(&["on", "~a*", "+get", "+mget", "(~b* +set)"]);
        assert_eq!(run(&s, &["GET", "a1"]), Ok(()));
        assert_eq!(run(&s, &["SET", "b1", "v"]), Ok(()));
        assert_eq!(run(&s, &["GET", "b1"]), Err(Denied::Key(1)));
        assert_eq!(run(&s, &["MGET", "a1", "b1"]), Err(Denied::Key(2)));
        // First arguments of an otherwise denied command.
        let f = user(&["on", "+select|0", "+config|get"]);
        assert_eq!(run(&f, &["SELECT", "0"]), Ok(()));
        assert_eq!(run(&f, &["SELECT", "1"]), Err(Denied::Command));
        assert_eq!(run(&f, &["CONFIG", "GET", "x"]), Ok(()));
        assert_eq!(run(&f, &["CONFIG", "SET", "x", "y"]), Err(Denied::Command));
        assert!(lookup(b"config").is_some());
        assert!(user(&["+@all", "~*", "&*"]).unrestricted());
        assert!(!user(&["+@all", "~*"]).unrestricted());
    }

    #[test]
    fn selectors_given_over_several_arguments_are_joined() {
        let args: Vec<&[u8]> = vec![b"on", b"(~a", b"+get)", b"(+set)"];
        assert_eq!(
            merge_selector_args(&args),
            Ok(vec![
                b"on".to_vec(),
                b"(~a +get)".to_vec(),
                b"(+set)".to_vec()
            ])
        );
        let open: Vec<&[u8]> = vec![b"on", b"(~a", b"+get"];
        assert_eq!(merge_selector_args(&open), Err(1));
    }
}
