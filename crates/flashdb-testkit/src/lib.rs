//! Test support: starts the real `flashdb` binary for the tools' integration tests (the
//! CLI and the benchmark are tested against a running server, over TCP, as users run
//! them), and checks recorded histories for linearizability ([`linearizability`]).

pub mod linearizability;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A running server on free ports, killed when dropped, whatever the test's outcome.
pub struct Server {
    child: Child,
    /// The RESP port.
    pub port: u16,
    dir: PathBuf,
    /// The server's log: shown only when the test fails.
    log: PathBuf,
}

/// The `flashdb` binary next to `sibling` (a binary of the same target directory, such
/// as `env!("CARGO_BIN_EXE_flashdb-cli")`), built first if it is not there yet.
pub fn server_binary(sibling: &Path) -> PathBuf {
    binary_beside(sibling, "flashdb-server", "flashdb")
}

/// Binary `name` of workspace package `package`, next to `sibling` (a binary of the same
/// target directory), built first if it is not there yet: a test of one package can run
/// another package's tool as users do.
pub fn binary_beside(sibling: &Path, package: &str, name: &str) -> PathBuf {
    let dir = sibling.parent().unwrap_or(Path::new("."));
    let bin = dir.join(name);
    if !bin.exists() {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "-p", package, "--bin", name])
            .status();
        assert!(
            matches!(status, Ok(s) if s.success()),
            "cannot build the {name} binary"
        );
    }
    bin
}

impl Server {
    /// Starts `bin` with `extra` flags, no persistence, on free ports.
    pub fn start(bin: &Path, extra: &[&str]) -> Server {
        // A counter as well as the clock: tests starting together on two threads can read
        // the same nanosecond.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "flashdb-tools-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        // The log goes to a file, shown only if the test fails.
        let log = dir.with_extension("log");
        let log_out = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let mut child = Command::new(bin)
            .args([
                "--port",
                "0",
                "--http-port",
                "0",
                "--persistence",
                "off",
                "--log-level",
                "warn",
                "--dir",
            ])
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log_out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("resp="))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("no port in the server's first line {line:?}; its log:\n{text}");
        };
        Server {
            child,
            port,
            dir,
            log,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if !text.is_empty() {
                eprintln!("--- log of the server on port {} ---\n{text}", self.port);
            }
        }
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
