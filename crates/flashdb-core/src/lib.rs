//! FlashDB's engine: the sharded keyspace, the value types, the command table and the
//! execution of data commands. It knows nothing of sockets or files: the server hands it
//! parsed arguments and a reply buffer, and a log sink (the storage layer) receives the
//! deterministic effect of every write.

pub mod acl;
pub mod blocking;
pub mod cmd;
pub mod codec;
pub mod compact;
pub mod ctx;
pub mod db;
pub mod geohash;
pub mod glob;
pub mod keyspace;
pub mod keyspecs;
pub mod log_entry;
pub mod long_double;
pub mod memory;
pub mod notify;
pub mod numeric;
pub mod replay;
pub mod snapshot;
pub mod table;
pub mod types;
pub mod value;

pub use ctx::{Ctx, Limits};
pub use keyspace::Keyspace;
pub use table::{CommandSpec, Handler};

/// The outcome of resolving a request against the command table.
#[derive(Debug)]
pub enum Resolved {
    /// A runnable command with a valid argument count.
    Command(&'static CommandSpec),
    /// An error to reply instead (unknown command or subcommand, wrong arity).
    Error(String),
}

/// Finds the command for `args` (resolving container subcommands) and checks its arity,
/// producing Redis's exact error texts.
pub fn resolve(args: &[&[u8]]) -> Resolved {
    let Some(first) = args.first() else {
        return Resolved::Error("ERR empty command".into());
    };
    let Some(spec) = table::lookup(first) else {
        return Resolved::Error(unknown_command(args));
    };
    if let Handler::Container = spec.handler {
        if args.len() < 2 {
            return Resolved::Error(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ));
        }
    }
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        match table::lookup_sub(spec, args[1]) {
            Some(sub) => {
                if !sub.arity_ok(args.len()) {
                    return Resolved::Error(format!(
                        "ERR wrong number of arguments for '{}' command",
                        sub.name
                    ));
                }
                return Resolved::Command(sub);
            }
            None if matches!(spec.handler, Handler::Container) => {
                return Resolved::Error(format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    truncate(args[1], 128),
                    spec.name.to_uppercase()
                ));
            }
            None => {
                return Resolved::Error(format!(
                    "ERR unknown subcommand '{}'. Try {} HELP.",
                    truncate(args[1], 128),
                    spec.name.to_uppercase()
                ));
            }
        }
    }
    if !spec.arity_ok(args.len()) {
        return Resolved::Error(format!(
            "ERR wrong number of arguments for '{}' command",
            spec.name
        ));
    }
    Resolved::Command(spec)
}

fn truncate(b: &[u8], n: usize) -> String {
    String::from_utf8_lossy(&b[..b.len().min(n)]).into_owned()
}

/// `ERR unknown command 'x', with args beginning with: 'a' 'b' `, as Redis 7 words it.
fn unknown_command(args: &[&[u8]]) -> String {
    let mut list = String::new();
    for a in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push_str(&format!("'{}' ", truncate(a, room)));
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        truncate(args[0], 128),
        list
    )
}

/// Runs an engine command. `spec` must come from [`resolve`] for these `args`.
pub fn execute(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    match ctx.spec.handler {
        Handler::Engine(f) => f(ctx, args),
        Handler::Server | Handler::Container => {
            let msg = format!(
                "ERR command '{}' is not handled by the engine",
                ctx.spec.name
            );
            ctx.err(&msg);
        }
    }
}
