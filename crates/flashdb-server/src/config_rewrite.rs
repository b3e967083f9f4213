//! `CONFIG REWRITE`: writes the parameters changed at run time back to the TOML file.

use crate::server::Server;

/// Keys of the TOML file that `CONFIG SET` can change, with their parameter names.
const REWRITABLE: &[(&str, &str)] = &[
    ("requirepass", "requirepass"),
    ("log_level", "log-level"),
    ("maxclients", "maxclients"),
    ("timeout", "timeout"),
    ("proto_max_bulk_len", "proto-max-bulk-len"),
    ("client_query_buffer_limit", "client-query-buffer-limit"),
    ("notify_keyspace_events", "notify-keyspace-events"),
];

/// Rewrites the configuration file; `Err` carries the Redis error text.
pub fn rewrite(server: &Server) -> Result<(), String> {
    let Some(path) = &server.config_file else {
        return Err("ERR The server is running without a config file".into());
    };
    let fail = |e: &dyn std::fmt::Display| format!("ERR Rewriting config file: {e}");
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    let mut table: toml::Table = text.parse().map_err(|e| fail(&e))?;
    let params = server.params.read();
    for (key, param) in REWRITABLE {
        let Some(v) = params.value(param) else {
            continue;
        };
        let value = match v.parse::<i64>() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(v.to_string()),
        };
        if *key == "requirepass" && v.is_empty() {
            table.remove(*key);
        } else {
            table.insert((*key).to_string(), value);
        }
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, table.to_string()).map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(&e))?;
    Ok(())
}
