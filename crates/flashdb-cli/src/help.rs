//! `help`, `help COMMAND` and `help @group`, as redis-cli prints them, from the server's
//! `COMMAND DOCS` (so that the help always matches the server it talks to).

use crate::repl::Docs;

/// One command's documentation, as `help` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    /// Upper-case name; a subcommand is `CONFIG GET`.
    pub name: String,
    /// The arguments in Redis's documentation notation.
    pub params: String,
    /// What the command does.
    pub summary: String,
    /// The Redis version that introduced it.
    pub since: String,
    /// Its group (`string`, `hash`, ...).
    pub group: String,
}

/// What `help` alone prints.
const GENERAL: &str = "\
To get help about commands type:
      \"help @<group>\" to get a list of commands in <group>
      \"help <command>\" for help on <command>
      \"help <tab>\" to get a list of possible help topics
      \"quit\" to exit
";

/// Whether a command line's first word asks for help (`help` or `?`, as in redis-cli).
pub fn is_help(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(b"help") || word == b"?"
}

/// The help for `topic` (the words after `help`), or the general help when it is empty.
/// `color` adds redis-cli's terminal colors.
pub fn render(docs: &Docs, topic: &[String], color: bool) -> String {
    if topic.is_empty() {
        return format!("flashdb-cli {}\n{GENERAL}", env!("CARGO_PKG_VERSION"));
    }
    let mut out = String::new();
    if let Some(group) = topic[0].strip_prefix('@') {
        for e in docs
            .entries
            .iter()
            .filter(|e| e.group.eq_ignore_ascii_case(group))
        {
            entry(&mut out, e, false, color);
        }
    } else {
        // `help config`: the container, then each of its subcommands.
        let wanted = topic.join(" ").to_ascii_uppercase();
        let below = format!("{wanted} ");
        let found = docs.entries.iter().filter(|e| {
            let name = e.name.to_ascii_uppercase();
            name == wanted || name.starts_with(&below)
        });
        for e in found {
            entry(&mut out, e, true, color);
        }
    }
    out.push('\n');
    out
}

/// One command as redis-cli shows it: a blank line, the name and arguments, then the
/// summary, since and (unless listing a group) the group, indented.
fn entry(out: &mut String, e: &HelpEntry, with_group: bool, color: bool) {
    let (bold, grey, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[90m", "\x1b[33m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    out.push_str(&format!(
        "\n  {bold}{}{reset} {grey}{}{reset}\n",
        e.name, e.params
    ));
    out.push_str(&format!("  {yellow}summary:{reset} {}\n", e.summary));
    out.push_str(&format!("  {yellow}since:{reset} {}\n", e.since));
    if with_group {
        out.push_str(&format!("  {yellow}group:{reset} {}\n", e.group));
    }
}

/// Help topics for completion after `help `: command names and `@group`s.
pub fn topics(docs: &Docs) -> Vec<String> {
    let mut groups: Vec<String> = docs
        .entries
        .iter()
        .map(|e| format!("@{}", e.group))
        .collect();
    groups.sort();
    groups.dedup();
    let mut names: Vec<String> = docs
        .entries
        .iter()
        .filter(|e| !e.name.contains(' '))
        .map(|e| e.name.clone())
        .collect();
    names.extend(groups);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs() -> Docs {
        let mut d = Docs::default();
        for (name, params, group) in [
            ("GET", "key", "string"),
            ("SET", "key value [NX|XX]", "string"),
            ("HSET", "key field value [field value ...]", "hash"),
            ("CONFIG GET", "parameter [parameter ...]", "server"),
            (
                "CONFIG SET",
                "parameter value [parameter value ...]",
                "server",
            ),
        ] {
            d.entries.push(HelpEntry {
                name: name.into(),
                params: params.into(),
                summary: format!("does {name}"),
                since: "1.0.0".into(),
                group: group.into(),
            });
        }
        d
    }

    #[test]
    fn help_for_a_command_a_group_and_a_container() {
        let d = docs();
        assert_eq!(
            render(&d, &["set".into()], false),
            "\n  SET key value [NX|XX]\n  summary: does SET\n  since: 1.0.0\n  group: string\n\n"
        );
        let group = render(&d, &["@string".into()], false);
        assert!(group.contains("  GET key\n") && group.contains("  SET key value"));
        assert!(
            !group.contains("group:") && !group.contains("HSET"),
            "{group}"
        );
        let config = render(&d, &["config".into()], false);
        assert!(config.contains("CONFIG GET") && config.contains("CONFIG SET"));
        assert!(render(&d, &["config".into(), "get".into()], false).contains("CONFIG GET"));
        assert!(!render(&d, &["config".into(), "get".into()], false).contains("CONFIG SET"));
        assert!(render(&d, &[], false).contains("\"help @<group>\""));
        assert_eq!(render(&d, &["nope".into()], false), "\n");
        assert!(topics(&d).contains(&"@hash".to_string()));
    }
}
