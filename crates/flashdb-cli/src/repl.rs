//! The interactive mode: a line editor with history, completion of command names, and a
//! hint of each command's arguments, both from the server's `COMMAND DOCS`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use flashdb_protocol::Frame;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::conn::Conn;
use crate::format::{render, Style};

/// What the server's `COMMAND DOCS` says, as the prompt uses it.
#[derive(Debug, Default)]
pub struct Docs {
    /// Argument synopses by lower-case command name (`get` → `key`), for hints.
    pub synopses: BTreeMap<String, String>,
    /// Every command and subcommand, for `help`.
    pub entries: Vec<crate::help::HelpEntry>,
}

fn text(f: &Frame) -> Option<String> {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// The pairs of a RESP2 flat array or a RESP3 map.
fn pairs(f: &Frame) -> Vec<(String, &Frame)> {
    match f {
        Frame::Map(p) => p.iter().filter_map(|(k, v)| Some((text(k)?, v))).collect(),
        Frame::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [k, v] => Some((text(k)?, v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// One argument as a synopsis: `key`, `[NX|XX]`, `value [value ...]`, `[EX seconds]`.
fn synopsis(arg: &Frame) -> String {
    let fields = pairs(arg);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let name = get("name").and_then(text).unwrap_or_default();
    let kind = get("type").and_then(text).unwrap_or_default();
    let token = get("token").and_then(text);
    let flags: Vec<String> = match get("flags") {
        Some(Frame::Array(f)) | Some(Frame::Set(f)) => f.iter().filter_map(text).collect(),
        _ => Vec::new(),
    };
    let inner: Vec<String> = match get("arguments") {
        Some(Frame::Array(a)) => a.iter().map(synopsis).collect(),
        _ => Vec::new(),
    };
    let body = match kind.as_str() {
        "oneof" => inner.join("|"),
        "block" => inner.join(" "),
        "pure-token" => token.clone().unwrap_or(name.clone()),
        _ => name.clone(),
    };
    let multiple = flags.iter().any(|f| f == "multiple");
    let repeated = if multiple {
        format!("{body} [{body} ...]")
    } else {
        body.clone()
    };
    // A repeated argument with a token repeats its value, not the token
    // (`WEIGHTS weight [weight ...]`), as Redis's documentation writes it.
    let mut s = match (&token, kind.as_str()) {
        (Some(t), k) if k != "pure-token" => format!("{t} {repeated}"),
        _ => repeated,
    };
    if flags.iter().any(|f| f == "optional") {
        s = format!("[{s}]");
    }
    s
}

/// Reads `COMMAND DOCS` into synopses and help entries; empty when the server does not
/// answer it.
pub fn load_docs(conn: &mut Conn) -> Docs {
    let mut docs = Docs::default();
    if let Ok(reply) = conn.call(&["COMMAND", "DOCS"]) {
        for (name, doc) in pairs(&reply) {
            add_doc(&mut docs, &name.to_ascii_uppercase(), doc);
        }
    }
    docs.entries.sort_by(|a, b| a.name.cmp(&b.name));
    docs
}

/// Adds one command's documentation (and its subcommands') under `name`.
fn add_doc(docs: &mut Docs, name: &str, doc: &Frame) {
    let fields = pairs(doc);
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let params = match get("arguments") {
        Some(Frame::Array(a)) => a.iter().map(synopsis).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    };
    let field = |k: &str| get(k).and_then(text).unwrap_or_default();
    if let Some(subs) = get("subcommands") {
        for (sub, sub_doc) in pairs(subs) {
            // `config|get` → `CONFIG GET`.
            let sub_name = sub
                .split('|')
                .next_back()
                .unwrap_or(&sub)
                .to_ascii_uppercase();
            add_doc(docs, &format!("{name} {sub_name}"), sub_doc);
        }
    }
    docs.synopses
        .insert(name.to_ascii_lowercase().replace(' ', "|"), params.clone());
    docs.entries.push(crate::help::HelpEntry {
        name: name.to_string(),
        params,
        summary: field("summary"),
        since: field("since"),
        group: field("group"),
    });
}

/// The line editor's helper: completion and hints.
pub struct CliHelper {
    /// Synopses by command.
    pub docs: Docs,
}

impl Completer for CliHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = &line[..pos];
        if let Some(topic) = head
            .strip_prefix("help ")
            .or_else(|| head.strip_prefix("HELP "))
            .filter(|t| !t.contains(' '))
        {
            let upper = topic.to_ascii_uppercase();
            let found = crate::help::topics(&self.docs)
                .into_iter()
                .filter(|t| t.to_ascii_uppercase().starts_with(&upper))
                .map(|t| Pair {
                    display: t.clone(),
                    replacement: t,
                })
                .collect();
            return Ok((head.len() - topic.len(), found));
        }
        if head.contains(' ') {
            return Ok((pos, Vec::new()));
        }
        let upper = head.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let lower = head.to_ascii_lowercase();
        let found = self
            .docs
            .synopses
            .keys()
            .filter(|n| n.starts_with(&lower) && !n.contains('|'))
            .map(|n| {
                let shown = if upper {
                    n.to_ascii_uppercase()
                } else {
                    n.clone()
                };
                Pair {
                    display: shown.clone(),
                    replacement: shown,
                }
            })
            .collect();
        Ok((0, found))
    }
}

impl Hinter for CliHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let name = words.first()?.to_ascii_lowercase();
        let synopsis = self.docs.synopses.get(&name)?;
        // Hint what is left: drop one argument word per word typed, as redis-cli does.
        let typed = words.len() - 1 + usize::from(!line.ends_with(' ') && words.len() > 1);
        let rest: Vec<&str> = groups(synopsis).into_iter().skip(typed).collect();
        if rest.is_empty() || rest.iter().all(|w| w.is_empty()) {
            return None;
        }
        let lead = if line.ends_with(' ') { "" } else { " " };
        Some(format!("{lead}{}", rest.join(" ")))
    }
}

/// A synopsis split into its arguments: at spaces outside brackets, so that
/// `[EX seconds|PX milliseconds]` stays one argument.
fn groups(synopsis: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in synopsis.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ' ' if depth == 0 => {
                if i > start {
                    out.push(&synopsis[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < synopsis.len() {
        out.push(&synopsis[start..]);
    }
    out
}

impl Highlighter for CliHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
    }
}

impl Validator for CliHelper {}
impl Helper for CliHelper {}

/// Splits a line into arguments as redis-cli does (quotes, `\x41` escapes): through the
/// server's own inline-command parser, so both read a line the same way.
pub fn split_line(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut buf = line.as_bytes().to_vec();
    buf.extend_from_slice(b"\r\n");
    let mut parser = flashdb_protocol::RequestParser::new();
    match parser.parse(&buf, &flashdb_protocol::ParserLimits::default()) {
        Ok(flashdb_protocol::Parsed::Request { .. }) => Ok(parser
            .args()
            .iter()
            .map(|r| flashdb_protocol::decode_inline_arg(&buf[r.clone()]))
            .collect()),
        Ok(_) => Ok(Vec::new()),
        Err(_) => Err("Invalid argument(s)".into()),
    }
}

/// Runs the interactive loop until `quit`, `exit` or end of input.
pub fn run(
    mut conn: Conn,
    host: &str,
    port: u16,
    mut db: u32,
    style: Style,
) -> anyhow::Result<i32> {
    let docs = load_docs(&mut conn);
    let mut ed: Editor<CliHelper, FileHistory> = Editor::new()?;
    ed.set_helper(Some(CliHelper { docs }));
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".flashdb_cli_history"));
    if let Some(h) = &history {
        let _ = ed.load_history(h);
    }
    let mut status = 0;
    loop {
        let prompt = if db == 0 {
            format!("{host}:{port}> ")
        } else {
            format!("{host}:{port}[{db}]> ")
        };
        let line = match ed.readline(&prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => continue,
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let _ = ed.add_history_entry(trimmed);
        if trimmed.eq_ignore_ascii_case("quit") || trimmed.eq_ignore_ascii_case("exit") {
            break;
        }
        let args = match split_line(trimmed) {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => continue,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        if crate::help::is_help(&args[0]) {
            let topic: Vec<String> = args[1..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if let Some(docs) = ed.helper().map(|h| &h.docs) {
                print!("{}", crate::help::render(docs, &topic, true));
            }
            continue;
        }
        let reply = match conn.call(&args) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("flashdb-cli: {e:#}");
                status = 1;
                break;
            }
        };
        if args[0].eq_ignore_ascii_case(b"select") && !matches!(reply, Frame::Error(_)) {
            db = std::str::from_utf8(&args[1])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(db);
        }
        use std::io::Write as _;
        let _ = std::io::stdout().write_all(&render(&reply, style));
    }
    if let Some(h) = &history {
        let _ = ed.save_history(h);
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    fn arg(fields: Vec<(&str, Frame)>) -> Frame {
        Frame::Map(fields.into_iter().map(|(k, v)| (bulk(k), v)).collect())
    }

    #[test]
    fn synopses_read_like_redis_docs() {
        let key = arg(vec![("name", bulk("key")), ("type", bulk("key"))]);
        let cond = arg(vec![
            ("name", bulk("condition")),
            ("type", bulk("oneof")),
            ("flags", Frame::Array(vec![bulk("optional")])),
            (
                "arguments",
                Frame::Array(vec![
                    arg(vec![
                        ("name", bulk("nx")),
                        ("type", bulk("pure-token")),
                        ("token", bulk("NX")),
                    ]),
                    arg(vec![
                        ("name", bulk("xx")),
                        ("type", bulk("pure-token")),
                        ("token", bulk("XX")),
                    ]),
                ]),
            ),
        ]);
        let values = arg(vec![
            ("name", bulk("value")),
            ("type", bulk("string")),
            ("flags", Frame::Array(vec![bulk("multiple")])),
        ]);
        let ex = arg(vec![
            ("name", bulk("seconds")),
            ("type", bulk("integer")),
            ("token", bulk("EX")),
            ("flags", Frame::Array(vec![bulk("optional")])),
        ]);
        assert_eq!(synopsis(&key), "key");
        assert_eq!(synopsis(&cond), "[NX|XX]");
        assert_eq!(synopsis(&values), "value [value ...]");
        assert_eq!(synopsis(&ex), "[EX seconds]");
        let weights = arg(vec![
            ("name", bulk("weight")),
            ("type", bulk("integer")),
            ("token", bulk("WEIGHTS")),
            (
                "flags",
                Frame::Array(vec![bulk("optional"), bulk("multiple")]),
            ),
        ]);
        assert_eq!(synopsis(&weights), "[WEIGHTS weight [weight ...]]");
    }

    #[test]
    fn hints_skip_whole_arguments() {
        assert_eq!(
            groups("key value [NX|XX] [EX seconds|PX milliseconds] [a [b c]]"),
            [
                "key",
                "value",
                "[NX|XX]",
                "[EX seconds|PX milliseconds]",
                "[a [b c]]"
            ]
        );
        let mut docs = Docs::default();
        docs.synopses
            .insert("set".into(), "key value [NX|XX]".into());
        let h = CliHelper { docs };
        let history = rustyline::history::DefaultHistory::new();
        let ctx = Context::new(&history);
        assert_eq!(
            h.hint("SET", 3, &ctx).as_deref(),
            Some(" key value [NX|XX]")
        );
        assert_eq!(h.hint("set k ", 6, &ctx).as_deref(), Some("value [NX|XX]"));
        assert_eq!(h.hint("set k v NX", 10, &ctx), None);
        assert_eq!(h.hint("nope ", 5, &ctx), None);
    }

    #[test]
    fn lines_split_as_redis_cli_splits_them() {
        assert_eq!(
            split_line(r#"set "a b" 'c' \x41"#).unwrap_or_default(),
            vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c".to_vec(),
                b"\\x41".to_vec()
            ]
        );
        assert_eq!(
            split_line(r#"set k "\x41\n""#).unwrap_or_default()[2],
            b"A\n".to_vec()
        );
        assert!(split_line(r#"set "unterminated"#).is_err());
    }
}
