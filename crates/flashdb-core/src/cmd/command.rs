//! `COMMAND` and its subcommands, answered from the command table; plus `ECHO` and `TIME`.

use super::eq_ic;
use crate::ctx::Ctx;
use crate::glob::glob_match;
use crate::table::{command_count, lookup, lookup_sub, CommandSpec, Handler, COMMANDS};

/// Replies with help lines as Redis's `addReplyHelp` does (status strings).
pub fn help_reply(ctx: &mut Ctx<'_, '_>, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l.as_bytes());
    }
}

/// `ECHO message`
pub fn echo(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    ctx.out.bulk(args[1]);
}

/// `TIME`: seconds and microseconds, as bulk strings.
pub fn time(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
}

fn write_info(ctx: &mut Ctx<'_, '_>, c: &CommandSpec) {
    ctx.out.array(10);
    ctx.out.bulk(c.name.as_bytes());
    ctx.out.int(i64::from(c.arity));
    let flags = c.flag_names();
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.simple(f.as_bytes());
    }
    ctx.out.int(i64::from(c.first_key));
    ctx.out.int(i64::from(c.last_key));
    ctx.out.int(i64::from(c.step));
    let cats = c.acl_categories();
    ctx.out.set(cats.len());
    for cat in cats {
        ctx.out.simple(cat.as_bytes());
    }
    match crate::keyspecs::extra(c.name) {
        Some(extra) => {
            ctx.out.set(extra.tips.len());
            for t in &extra.tips {
                ctx.out.bulk(t.as_bytes());
            }
            ctx.out.set(extra.specs.len());
            for spec in &extra.specs {
                write_key_spec(ctx, spec);
            }
        }
        None => {
            ctx.out.set(0);
            // FlashDB's own commands: one range over the table's key positions.
            if c.first_key > 0 {
                let flags = if c.has(crate::table::flag::WRITE) {
                    vec!["RW", "update"]
                } else {
                    vec!["RO", "access"]
                };
                let last = if c.last_key < 0 {
                    c.last_key
                } else {
                    c.last_key - c.first_key
                };
                ctx.out.set(1);
                write_key_spec(
                    ctx,
                    &crate::keyspecs::KeySpec {
                        flags,
                        begin: crate::keyspecs::BeginSearch::Index(i64::from(c.first_key)),
                        find: crate::keyspecs::FindKeys::Range(
                            i64::from(last),
                            i64::from(c.step),
                            0,
                        ),
                        notes: None,
                    },
                );
            } else {
                ctx.out.set(0);
            }
        }
    }
    // An empty set, or an array of entries, as Redis's `addReplyCommandSubCommands`.
    if c.subcommands.is_empty() {
        ctx.out.set(0);
    } else {
        ctx.out.array(c.subcommands.len());
    }
    for s in c.subcommands {
        write_info(ctx, s);
    }
}

/// One key specification as `COMMAND INFO` shows it (Redis's `addReplyCommandKeySpecs`).
fn write_key_spec(ctx: &mut Ctx<'_, '_>, spec: &crate::keyspecs::KeySpec) {
    use crate::keyspecs::{BeginSearch, FindKeys};
    ctx.out.map(3 + usize::from(spec.notes.is_some()));
    if let Some(n) = spec.notes {
        ctx.out.bulk(b"notes");
        ctx.out.bulk(n.as_bytes());
    }
    ctx.out.bulk(b"flags");
    ctx.out.set(spec.flags.len());
    for f in &spec.flags {
        ctx.out.simple(f.as_bytes());
    }
    ctx.out.bulk(b"begin_search");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    match &spec.begin {
        BeginSearch::Index(i) => {
            ctx.out.bulk(b"index");
            ctx.out.bulk(b"spec");
            ctx.out.map(1);
            ctx.out.bulk(b"index");
            ctx.out.int(*i);
        }
        BeginSearch::Keyword(word, from) => {
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(b"spec");
            ctx.out.map(2);
            ctx.out.bulk(b"keyword");
            ctx.out.bulk(word.as_bytes());
            ctx.out.bulk(b"startfrom");
            ctx.out.int(*from);
        }
        BeginSearch::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
        }
    }
    ctx.out.bulk(b"find_keys");
    ctx.out.map(2);
    ctx.out.bulk(b"type");
    let fields: [(&[u8], i64); 3] = match spec.find {
        FindKeys::Range(last, step, limit) => {
            ctx.out.bulk(b"range");
            [(b"lastkey", last), (b"keystep", step), (b"limit", limit)]
        }
        FindKeys::Keynum(idx, first, step) => {
            ctx.out.bulk(b"keynum");
            [
                (b"keynumidx", idx),
                (b"firstkey", first),
                (b"keystep", step),
            ]
        }
        FindKeys::Unknown => {
            ctx.out.bulk(b"unknown");
            ctx.out.bulk(b"spec");
            ctx.out.map(0);
            return;
        }
    };
    ctx.out.bulk(b"spec");
    ctx.out.map(3);
    for (k, v) in fields {
        ctx.out.bulk(k);
        ctx.out.int(v);
    }
}

/// `COMMAND`: information about every command.
pub fn all(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    ctx.out.array(COMMANDS.len());
    for c in COMMANDS {
        write_info(ctx, c);
    }
}

/// `COMMAND COUNT`
pub fn count(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    ctx.out.int(command_count() as i64);
}

/// Finds a command by the name `COMMAND INFO/DOCS` accept (`get`, `config|get`).
fn find_named(name: &[u8]) -> Option<&'static CommandSpec> {
    lookup(name)
}

/// `COMMAND INFO [name ...]`
pub fn info(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    if args.len() == 2 {
        return all(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        match find_named(name) {
            Some(c) => write_info(ctx, c),
            None => ctx.out.null(),
        }
    }
}

/// One argument of a command's syntax, as `COMMAND DOCS` describes it.
#[derive(Debug, PartialEq)]
struct Arg {
    name: String,
    kind: &'static str,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    children: Vec<Arg>,
}

/// Parses Redis's documentation notation (`key [NX | XX] [EX seconds | KEEPTTL] [key ...]`)
/// into `COMMAND DOCS` arguments.
fn parse_syntax(s: &str) -> Vec<Arg> {
    let tokens: Vec<String> = s
        .replace('[', " [ ")
        .replace(']', " ] ")
        .replace('<', " < ")
        .replace('>', " > ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut pos = 0;
    parse_seq(&tokens, &mut pos, None)
}

fn parse_seq(t: &[String], pos: &mut usize, close: Option<&str>) -> Vec<Arg> {
    let mut alts: Vec<Vec<Arg>> = vec![Vec::new()];
    while *pos < t.len() {
        let tok = t[*pos].as_str();
        *pos += 1;
        match tok {
            "]" | ">" if Some(tok) == close => break,
            "|" => alts.push(Vec::new()),
            "..." => {
                if let Some(last) = alts.last_mut().and_then(|a| a.last_mut()) {
                    last.multiple = true;
                }
            }
            "[" | "<" => {
                let mut inner = parse_seq(t, pos, Some(if tok == "[" { "]" } else { ">" }));
                // `field value [field value ...]`: the arguments before the brackets and
                // the repeated ones are one block that repeats, as Redis documents HSET.
                let current = alts
                    .last_mut()
                    .map(|a| a.as_mut_slice())
                    .unwrap_or_default();
                let n = inner.len();
                let repeats_block = n > 1
                    && tok == "["
                    && inner.last().is_some_and(|a| a.multiple)
                    && current.len() >= n
                    && current[current.len() - n..]
                        .iter()
                        .zip(&inner)
                        .all(|(p, i)| p.name == i.name && p.children.is_empty());
                if repeats_block {
                    if let Some(a) = alts.last_mut() {
                        let children = a.split_off(a.len() - n);
                        let names: Vec<&str> = children.iter().map(|c| c.name.as_str()).collect();
                        a.push(Arg {
                            name: names.join("_"),
                            kind: "block",
                            token: None,
                            optional: false,
                            multiple: true,
                            children,
                        });
                    }
                    continue;
                }
                if let Some(last) = inner.last_mut().filter(|_| n > 1) {
                    // `[a b ...]` with nothing before to repeat: the group repeats.
                    if last.multiple {
                        last.multiple = false;
                        let mut arg = group(inner);
                        arg.multiple = true;
                        arg.optional |= tok == "[";
                        if let Some(a) = alts.last_mut() {
                            a.push(arg);
                        }
                        continue;
                    }
                }
                let mut arg = group(inner);
                arg.optional |= tok == "[";
                // `[key ...]` after `key` marks the previous argument as multiple.
                let current = alts
                    .last_mut()
                    .map(|a| a.as_mut_slice())
                    .unwrap_or_default();
                if let Some(prev) = current.last_mut() {
                    if arg.multiple
                        && arg.optional
                        && arg.children.is_empty()
                        && prev.name == arg.name
                    {
                        prev.multiple = true;
                        continue;
                    }
                }
                if let Some(a) = alts.last_mut() {
                    a.push(arg);
                }
            }
            word => {
                let is_token = word.chars().any(|c| c.is_ascii_uppercase())
                    && !word.chars().any(|c| c.is_ascii_lowercase());
                let a = if is_token {
                    Arg {
                        name: word.to_lowercase(),
                        kind: "pure-token",
                        token: Some(word.to_string()),
                        optional: false,
                        multiple: false,
                        children: Vec::new(),
                    }
                } else {
                    let kind = match word {
                        "key" | "source" | "destination" | "newkey" | "key1" | "key2" => "key",
                        w if w.contains("seconds")
                            || w.contains("milliseconds")
                            || w.contains("count")
                            || w == "offset"
                            || w == "start"
                            || w == "end"
                            || w == "index"
                            || w.contains("increment")
                            || w.contains("decrement")
                            || w.contains("len")
                            || w.ends_with("-db")
                            || w == "index1"
                            || w == "index2"
                            || w == "db"
                            || w == "cursor" =>
                        {
                            "integer"
                        }
                        _ => "string",
                    };
                    Arg {
                        name: word.to_string(),
                        kind,
                        token: None,
                        optional: false,
                        multiple: false,
                        children: Vec::new(),
                    }
                };
                if let Some(cur) = alts.last_mut() {
                    // `EX seconds`: a token followed by its value is one argument.
                    if let Some(prev) = cur.last_mut() {
                        if prev.kind == "pure-token"
                            && a.kind != "pure-token"
                            && prev.children.is_empty()
                            && !prev.optional
                        {
                            prev.kind = a.kind;
                            prev.name = a.name;
                            continue;
                        }
                    }
                    cur.push(a);
                }
            }
        }
    }
    if alts.len() == 1 {
        alts.pop().unwrap_or_default()
    } else {
        vec![Arg {
            name: "choice".into(),
            kind: "oneof",
            token: None,
            optional: false,
            multiple: false,
            children: alts.into_iter().map(group).collect(),
        }]
    }
}

/// One argument from a parsed group: itself when it has one element, a block otherwise.
fn group(mut items: Vec<Arg>) -> Arg {
    if items.len() == 1 {
        if let Some(a) = items.pop() {
            return a;
        }
    }
    let name = items.first().map(|a| a.name.clone()).unwrap_or_default();
    Arg {
        name,
        kind: "block",
        token: None,
        optional: false,
        multiple: false,
        children: items,
    }
}

fn write_args(ctx: &mut Ctx<'_, '_>, args: &[Arg]) {
    ctx.out.array(args.len());
    for a in args {
        let mut fields = 2;
        let mut flags = Vec::new();
        if a.optional {
            flags.push("optional");
        }
        if a.multiple {
            flags.push("multiple");
        }
        fields += usize::from(a.token.is_some())
            + usize::from(!flags.is_empty())
            + usize::from(!a.children.is_empty());
        ctx.out.map(fields);
        ctx.out.bulk(b"name");
        ctx.out.bulk(a.name.as_bytes());
        ctx.out.bulk(b"type");
        ctx.out.bulk(a.kind.as_bytes());
        if let Some(t) = &a.token {
            ctx.out.bulk(b"token");
            ctx.out.bulk(t.as_bytes());
        }
        if !flags.is_empty() {
            ctx.out.bulk(b"flags");
            ctx.out.array(flags.len());
            for f in flags {
                ctx.out.simple(f.as_bytes());
            }
        }
        if !a.children.is_empty() {
            ctx.out.bulk(b"arguments");
            write_args(ctx, &a.children);
        }
    }
}

fn write_docs(ctx: &mut Ctx<'_, '_>, c: &CommandSpec) {
    let args = parse_syntax(c.syntax);
    let mut fields = 4;
    if !args.is_empty() {
        fields += 1;
    }
    if !c.subcommands.is_empty() {
        fields += 1;
    }
    ctx.out.map(fields);
    ctx.out.bulk(b"summary");
    ctx.out.bulk(c.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(c.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(c.group.as_bytes());
    ctx.out.bulk(b"complexity");
    ctx.out.bulk(c.complexity.as_bytes());
    if !args.is_empty() {
        ctx.out.bulk(b"arguments");
        write_args(ctx, &args);
    }
    if !c.subcommands.is_empty() {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(c.subcommands.len());
        for s in c.subcommands {
            ctx.out.bulk(s.name.as_bytes());
            write_docs(ctx, s);
        }
    }
}

/// `COMMAND DOCS [name ...]`
pub fn docs(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let list: Vec<&CommandSpec> = if args.len() == 2 {
        COMMANDS.iter().collect()
    } else {
        args[2..].iter().filter_map(|n| find_named(n)).collect()
    };
    ctx.out.map(list.len());
    for c in list {
        ctx.out.bulk(c.name.as_bytes());
        write_docs(ctx, c);
    }
}

/// `COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]`
pub fn list(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let all = COMMANDS
        .iter()
        .chain(COMMANDS.iter().flat_map(|c| c.subcommands.iter()));
    let names: Vec<&str> = match args.len() {
        2 => all.map(|c| c.name).collect(),
        5 if eq_ic(args[2], b"filterby") => {
            let val = args[4];
            if eq_ic(args[3], b"module") {
                Vec::new()
            } else if eq_ic(args[3], b"aclcat") {
                let want = String::from_utf8_lossy(val).to_ascii_lowercase();
                all.filter(|c| c.acl_categories().iter().any(|cat| cat[1..] == want))
                    .map(|c| c.name)
                    .collect()
            } else if eq_ic(args[3], b"pattern") {
                all.filter(|c| glob_match(val, c.name.as_bytes(), true))
                    .map(|c| c.name)
                    .collect()
            } else {
                ctx.err(crate::ctx::errors::SYNTAX);
                return;
            }
        }
        _ => {
            ctx.err(crate::ctx::errors::SYNTAX);
            return;
        }
    };
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
}

/// `COMMAND GETKEYS command [arg ...]`
pub fn getkeys(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let cmd_args = &args[2..];
    let Some(c) = command_for_keys(ctx, cmd_args) else {
        return;
    };
    let Some(pos) = c.keys_in(cmd_args) else {
        ctx.err("ERR Invalid arguments specified for command");
        return;
    };
    ctx.out.array(pos.len());
    for p in pos {
        ctx.out.bulk(cmd_args[p]);
    }
}

/// `COMMAND GETKEYSANDFLAGS command [arg ...]`: each key with what the command does to
/// it (Redis's key specification flags).
pub fn getkeysandflags(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let cmd_args = &args[2..];
    let Some(c) = command_for_keys(ctx, cmd_args) else {
        return;
    };
    let found = crate::keyspecs::keys_and_flags(c, cmd_args).filter(|k| !k.is_empty());
    let Some(keys) = found else {
        ctx.err("ERR Invalid arguments specified for command");
        return;
    };
    ctx.out.array(keys.len());
    for (p, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(cmd_args[p]);
        ctx.out.set(flags.len());
        for f in flags {
            ctx.out.simple(f.as_bytes());
        }
    }
}

/// The command `COMMAND GETKEYS[ANDFLAGS]` asks about, checked as Redis checks it: it
/// exists, has keys, and its arguments fit its arity. Replies with the error otherwise.
fn command_for_keys(ctx: &mut Ctx<'_, '_>, cmd_args: &[&[u8]]) -> Option<&'static CommandSpec> {
    let Some(mut c) = lookup(cmd_args[0]) else {
        ctx.err("ERR Invalid command specified");
        return None;
    };
    if matches!(c.handler, Handler::Container) && cmd_args.len() >= 2 {
        match lookup_sub(c, cmd_args[1]) {
            Some(s) => c = s,
            None => {
                ctx.err("ERR Invalid command specified");
                return None;
            }
        }
    }
    if c.first_key <= 0 && c.movable == crate::table::MovableKeys::None {
        ctx.err("ERR The command has no key arguments");
        return None;
    }
    if !c.arity_ok(cmd_args.len()) {
        ctx.err("ERR Invalid number of arguments specified for command");
        return None;
    }
    Some(c)
}

/// `COMMAND HELP`
pub fn help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    help_reply(
        ctx,
        &[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
            "HELP",
            "    Prints this help.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_parses_into_redis_style_arguments() {
        let a = parse_syntax("key value [NX | XX] [GET] [EX seconds | KEEPTTL]");
        assert_eq!(a.len(), 5);
        assert_eq!(a[0].kind, "key");
        assert_eq!(a[2].kind, "oneof");
        assert!(a[2].optional);
        assert_eq!(a[2].children[0].token.as_deref(), Some("NX"));
        assert_eq!(a[3].kind, "pure-token");
        assert_eq!(a[4].children[0].name, "seconds");
        assert_eq!(a[4].children[0].token.as_deref(), Some("EX"));
        let d = parse_syntax("key [key ...]");
        assert_eq!(d.len(), 1);
        assert!(d[0].multiple);
        // HSET as Redis documents it: key, then a repeating block of field and value.
        let h = parse_syntax("key field value [field value ...]");
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(
            (h[1].kind, h[1].multiple, h[1].optional),
            ("block", true, false)
        );
        let names: Vec<&str> = h[1].children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["field", "value"]);
        assert!(h[1].children.iter().all(|c| !c.multiple && !c.optional));
    }
}
