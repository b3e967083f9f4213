//! `CONFIG REWRITE`: brings the TOML configuration file up to date with the parameters in
//! force, as Redis's rewrite does: comments, order and the written form of every value that
//! did not change are kept; a changed value is replaced on its own line (its comments
//! kept); a parameter changed at run time that the file lacks is appended. The new file
//! replaces the old one atomically.

use std::io::Write;

use toml_edit::{DocumentMut, Item, Value};

use crate::config::ParamKind;
use crate::server::Server;

/// Parameter names that are another name for a parameter: written only if the file
/// already uses them, and then instead of the name they stand for.
const ALIASES: &[(&str, &str)] = &[
    ("loglevel", "log-level"),
    ("lua-time-limit", "busy-reply-threshold"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
];

/// Rewrites the configuration file; `Err` carries the Redis error text.
pub fn rewrite(server: &Server) -> Result<(), String> {
    let Some(path) = &server.config_file else {
        return Err("ERR The server is running without a config file".into());
    };
    let fail = |e: &dyn std::fmt::Display| format!("ERR Rewriting config file: {e}");
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let mut doc: DocumentMut = text.parse().map_err(|e| fail(&e))?;
    let params = server.params.read();
    let at_start = server.params_at_start.read();
    let given = server.config_given.lock();
    let settable: Vec<(String, ParamKind, String)> = params
        .settable()
        .map(|(n, k, v)| (n.to_string(), k, v.to_string()))
        .collect();
    for (name, kind, current) in &settable {
        let in_file = file_key(&doc, name);
        let alias_of = ALIASES.iter().find(|(a, _)| a == name).map(|(_, c)| *c);
        let alias_in_file = ALIASES
            .iter()
            .any(|(a, c)| c == name && file_key(&doc, a).is_some());
        if in_file.is_none() && (alias_of.is_some() || alias_in_file) {
            continue;
        }
        // The written form: as last given to CONFIG SET when that is still what is in
        // force (`1gb`), else the value in force.
        let form = given
            .get(name)
            .filter(|g| params.check(name, g).as_deref() == Ok(current.as_str()))
            .cloned()
            .unwrap_or_else(|| current.clone());
        match in_file {
            Some(key) => {
                let Some(item) = doc.get_mut(&key) else {
                    continue;
                };
                let written = item_text(item);
                let unchanged = written
                    .as_deref()
                    .is_some_and(|w| params.check(name, w).as_deref() == Ok(current.as_str()));
                if unchanged {
                    continue;
                }
                if name == "requirepass" && current.is_empty() {
                    doc.remove(&key);
                    continue;
                }
                let mut value = toml_value(*kind, &form);
                if let Some(old) = item.as_value() {
                    *value.decor_mut() = old.decor().clone();
                }
                *item = Item::Value(value);
            }
            None => {
                let before = at_start.value(name).unwrap_or_default();
                if current == before || (name == "requirepass" && current.is_empty()) {
                    continue;
                }
                doc.insert(
                    &name.replace('-', "_"),
                    Item::Value(toml_value(*kind, &form)),
                );
            }
        }
    }
    drop(given);
    write_atomically(path, doc.to_string().as_bytes()).map_err(|e| fail(&e))
}

/// The key under which the file sets `name` (`slowlog_max_len` or `slowlog-max-len`).
fn file_key(doc: &DocumentMut, name: &str) -> Option<String> {
    [name.replace('-', "_"), name.to_string()]
        .into_iter()
        .find(|k| doc.get(k).is_some_and(|i| i.is_value()))
}

/// A file value as `CONFIG SET` would take it.
fn item_text(item: &Item) -> Option<String> {
    match item.as_value()? {
        Value::String(s) => Some(s.value().clone()),
        Value::Integer(n) => Some(n.value().to_string()),
        Value::Boolean(b) => Some(if *b.value() { "yes" } else { "no" }.to_string()),
        _ => None,
    }
}

/// How a parameter's value is written: numbers as TOML integers where the file takes
/// them, sizes as written (`"1gb"` or `1073741824`), everything else as a string.
fn toml_value(kind: ParamKind, form: &str) -> Value {
    let numeric = matches!(
        kind,
        ParamKind::Integer | ParamKind::Signed | ParamKind::Memory
    );
    match form.parse::<i64>() {
        Ok(n) if numeric => Value::from(n),
        _ => Value::from(form),
    }
}

/// Replaces `path` with `bytes` so that a crash leaves the old file or the new one, never
/// a part: a temporary beside it, fsynced, renamed over it, the directory fsynced.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".rewrite.tmp");
    let tmp = std::path::PathBuf::from(tmp_name);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}
