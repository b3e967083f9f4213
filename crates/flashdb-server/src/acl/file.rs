//! The ACL file (`--aclfile`): one `user <name> rules...` line per user, read by start-up
//! and `ACL LOAD` (all or nothing), written by `ACL SAVE`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use flashdb_core::acl::{merge_selector_args, RuleContext, UserRules};

use super::User;

/// Parses a whole file; every problem found is listed, as Redis lists them, and then
/// nothing is loaded.
pub(super) fn parse(path: &Path, ctx: RuleContext) -> Result<BTreeMap<Vec<u8>, UserRules>, String> {
    let name = path.display();
    let text = std::fs::read(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{name}': {e}"))?;
    let mut users = BTreeMap::new();
    let mut errors = String::new();
    for (i, line) in text.split(|&c| c == b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&[u8]> = line
            .split(|&c| c == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        if words.len() < 2 || words[0] != b"user" {
            errors.push_str(&format!(
                "{name}:{line_no} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let uname = words[1];
        if users.contains_key(uname) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {line_no}. ",
                String::from_utf8_lossy(uname)
            ));
            continue;
        }
        let ops = match merge_selector_args(&words[2..]) {
            Ok(ops) => ops,
            Err(_) => {
                errors.push_str(&format!(
                    "{name}:{line_no}: Unmatched parenthesis in selector definition."
                ));
                continue;
            }
        };
        let mut rules = UserRules::new(ctx);
        let mut ok = true;
        for op in &ops {
            if let Err(e) = rules.apply(op.trim_ascii(), ctx) {
                errors.push_str(&format!("{name}:{line_no}: {e}. "));
                ok = false;
            }
        }
        if ok {
            users.insert(uname.to_vec(), rules);
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// Writes every user, replacing the file atomically (temporary file, fsync, rename).
pub(super) fn save(path: &Path, users: &[Arc<User>]) -> std::io::Result<()> {
    let mut text = Vec::new();
    for u in users {
        text.extend_from_slice(b"user ");
        text.extend_from_slice(&u.name);
        text.push(b' ');
        text.extend_from_slice(&u.rules().describe());
        text.push(b'\n');
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
