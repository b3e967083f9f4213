//! `flashdb-cli`: the command-line client of FlashDB, in the spirit of redis-cli. It speaks
//! RESP, so it works against Redis too.
//!
//! - `flashdb-cli` alone: an interactive prompt with history, completion and hints.
//! - `flashdb-cli SET a b`: one command; formatted as redis-cli does on a terminal, raw
//!   when piped, JSON with `--json`. The exit code is 1 when the reply is an error.
//! - `flashdb-cli help SET`, `help @hash` (and `help` at the prompt): the server's
//!   `COMMAND DOCS`, as redis-cli shows them.
//! - `--pipe`: mass loading of commands from standard input.
//! - `--scan --pattern P`: every key matching P, one per line.
//! - `--verify`: the server's ledger must extend the root this client trusted before, or
//!   the client refuses (exit code 2); `GET` is answered with a proven value.

mod conn;
mod format;
mod help;
mod pipe;
mod repl;
mod verify;

use std::io::{IsTerminal, Read, Write};

use clap::Parser;
use flashdb_protocol::Frame;

use conn::Conn;
use format::{render, Style};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "flashdb-cli",
    version,
    about = "Command-line client for FlashDB (and any Redis-protocol server)",
    disable_help_flag = true
)]
struct Args {
    /// Server host.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(short = 'p', long, default_value_t = 6379)]
    port: u16,
    /// Database number.
    #[arg(short = 'n', long = "db", default_value_t = 0)]
    db: u32,
    /// Password (AUTH); also read from the FLASHDB_CLI_AUTH environment variable.
    #[arg(
        short = 'a',
        long = "pass",
        env = "FLASHDB_CLI_AUTH",
        hide_env_values = true
    )]
    password: Option<String>,
    /// ACL user to log in as, with -a (AUTH user pass).
    #[arg(long)]
    user: Option<String>,
    /// Connect over TLS (the server's --tls-port).
    #[arg(long)]
    tls: bool,
    /// With --tls: CA certificates (PEM) that signed the server's certificate.
    #[arg(long, requires = "tls", value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
    /// With --tls: a client certificate (PEM), for servers that ask for one.
    #[arg(long, requires_all = ["tls", "key"], value_name = "FILE")]
    cert: Option<std::path::PathBuf>,
    /// With --cert: its private key (PEM).
    #[arg(long, requires = "cert", value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// With --tls: the server name its certificate must carry (default: the host).
    #[arg(long, requires = "tls", value_name = "HOST")]
    sni: Option<String>,
    /// Print replies raw, as when the output is not a terminal.
    #[arg(long, conflicts_with_all = ["no_raw", "json"])]
    raw: bool,
    /// Print replies as on a terminal, even when piped.
    #[arg(long, conflicts_with = "json")]
    no_raw: bool,
    /// Print each reply as JSON.
    #[arg(long)]
    json: bool,
    /// Send the commands read from standard input (RESP, or one command per line).
    #[arg(long, conflicts_with = "scan")]
    pipe: bool,
    /// List keys with SCAN, one per line.
    #[arg(long)]
    scan: bool,
    /// With --scan: only keys matching this glob pattern.
    #[arg(long, requires = "scan")]
    pattern: Option<String>,
    /// With --scan: only keys of this type.
    #[arg(long = "type", requires = "scan")]
    kind: Option<String>,
    /// Repeat the command this many times.
    #[arg(short = 'r', long, default_value_t = 1)]
    repeat: u64,
    /// Read the last argument of the command from standard input.
    #[arg(short = 'x')]
    stdin_arg: bool,
    /// No progress bar (--pipe).
    #[arg(short, long)]
    quiet: bool,
    /// Check the server's ledger (--ledger on): its root must extend the one trusted
    /// before (kept in --verify-state), or the client refuses with exit code 2; GET
    /// returns a value proven by the ledger.
    #[arg(long, conflicts_with_all = ["pipe", "scan"])]
    verify: bool,
    /// With --verify: the file of trusted roots [default: ~/.flashdb-cli-ledger.json].
    #[arg(long, requires = "verify", value_name = "FILE")]
    verify_state: Option<std::path::PathBuf>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// The command and its arguments (none: interactive mode).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let code = match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flashdb-cli: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

fn connect(args: &Args) -> anyhow::Result<Conn> {
    let tls = args.tls.then(|| conn::TlsOptions {
        cacert: args.cacert.clone(),
        cert: args.cert.clone().zip(args.key.clone()),
        sni: args.sni.clone(),
    });
    let mut conn = Conn::open(&args.host, args.port, tls.as_ref())?;
    if let Some(p) = &args.password {
        let reply = match &args.user {
            Some(u) => conn.call(&["AUTH", u.as_str(), p.as_str()])?,
            None => conn.call(&["AUTH", p.as_str()])?,
        };
        if let Frame::Error(e) = reply {
            anyhow::bail!("AUTH failed: {}", String::from_utf8_lossy(&e));
        }
    }
    if args.db != 0 {
        if let Frame::Error(e) = conn.call(&["SELECT", &args.db.to_string()])? {
            anyhow::bail!("SELECT {} failed: {}", args.db, String::from_utf8_lossy(&e));
        }
    }
    Ok(conn)
}

fn run(args: Args) -> anyhow::Result<i32> {
    let tty = std::io::stdout().is_terminal();
    let style = if args.json {
        Style::Json
    } else if args.raw || (!tty && !args.no_raw) {
        Style::Raw
    } else {
        Style::Human
    };
    let mut conn = connect(&args)?;
    let mut verifier = None;
    if args.verify {
        let state = args
            .verify_state
            .clone()
            .unwrap_or_else(verify::default_state);
        let server = format!("{}:{}", args.host, args.port);
        match verify::Verifier::connect(&mut conn, &state, &server)? {
            Ok((v, head)) => {
                eprintln!(
                    "ledger: verified, size {} root {} (extends the root trusted before)",
                    head.size,
                    flashdb_storage::ledger::merkle::hex(&head.root)
                );
                verifier = Some(v);
            }
            Err(verify::Refused(msg)) => {
                eprintln!("flashdb-cli: refused: {msg}");
                return Ok(2);
            }
        }
    }
    if style == Style::Json {
        // RESP3 maps become JSON objects; a server without HELLO stays on RESP2.
        let _ = conn.call(&["HELLO", "3"])?;
    }
    if args.pipe {
        let outcome = pipe::run(conn, args.quiet || !std::io::stderr().is_terminal())?;
        println!(
            "All data transferred. errors: {}, replies: {}",
            outcome.errors, outcome.replies
        );
        return Ok(i32::from(outcome.errors > 0));
    }
    if args.scan {
        return scan(&mut conn, &args);
    }
    if args.command.is_empty() {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("no command given and standard input is not a terminal (use --pipe to send commands from it)");
        }
        return repl::run(conn, &args.host, args.port, args.db, style);
    }
    if help::is_help(args.command[0].as_bytes()) {
        // `flashdb-cli help SET`, as `redis-cli help SET`: from the server's COMMAND DOCS.
        let docs = repl::load_docs(&mut conn);
        print!("{}", help::render(&docs, &args.command[1..], tty));
        return Ok(0);
    }
    let mut cmd: Vec<Vec<u8>> = args.command.iter().map(|a| a.as_bytes().to_vec()).collect();
    if args.stdin_arg {
        let mut last = Vec::new();
        std::io::stdin().read_to_end(&mut last)?;
        cmd.push(last);
    }
    let mut status = 0;
    let mut out = std::io::stdout().lock();
    if let Some(v) = verifier.as_mut() {
        if cmd.len() == 2 && cmd[0].eq_ignore_ascii_case(b"get") {
            return match v.get(&mut conn, args.db, &cmd[1])? {
                Ok(Some(p)) => {
                    out.write_all(&render(&Frame::Bulk(p.value), style))?;
                    eprintln!(
                        "ledger: verified, the value is in leaf {} of the tree of {} leaves, root {}",
                        p.index,
                        p.head.size,
                        flashdb_storage::ledger::merkle::hex(&p.head.root)
                    );
                    Ok(0)
                }
                Ok(None) => {
                    out.write_all(&render(&Frame::Null, style))?;
                    eprintln!("ledger: the ledger has no value for this key");
                    Ok(0)
                }
                Err(verify::Refused(msg)) => {
                    eprintln!("flashdb-cli: refused: {msg}");
                    Ok(2)
                }
            };
        }
    }
    for _ in 0..args.repeat.max(1) {
        let reply = conn.call(&cmd)?;
        if matches!(reply, Frame::Error(_)) {
            status = 1;
        }
        out.write_all(&render(&reply, style))?;
    }
    Ok(status)
}

/// `--scan`: SCAN to the end, a key per line.
fn scan(conn: &mut Conn, args: &Args) -> anyhow::Result<i32> {
    let mut cursor = b"0".to_vec();
    let mut out = std::io::stdout().lock();
    loop {
        let mut cmd: Vec<Vec<u8>> = vec![
            b"SCAN".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            b"1000".to_vec(),
        ];
        if let Some(p) = &args.pattern {
            cmd.extend([b"MATCH".to_vec(), p.as_bytes().to_vec()]);
        }
        if let Some(t) = &args.kind {
            cmd.extend([b"TYPE".to_vec(), t.as_bytes().to_vec()]);
        }
        match conn.call(&cmd)? {
            Frame::Array(parts) => {
                let (Some(Frame::Bulk(next)), Some(Frame::Array(keys))) =
                    (parts.first(), parts.get(1))
                else {
                    anyhow::bail!("SCAN answered an unexpected shape");
                };
                for k in keys {
                    if let Frame::Bulk(k) = k {
                        out.write_all(k)?;
                        out.write_all(b"\n")?;
                    }
                }
                cursor = next.clone();
            }
            Frame::Error(e) => {
                eprintln!("(error) {}", String::from_utf8_lossy(&e));
                return Ok(1);
            }
            other => anyhow::bail!("SCAN answered {other:?}"),
        }
        if cursor == b"0" {
            return Ok(0);
        }
    }
}

#[cfg(test)]
mod tests {
    /// clap's own consistency checks (unique short flags, valid defaults).
    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
