//! The real `redis-server`, started next to FlashDB for differential tests, and a script
//! runner that sends each command to both and compares the raw replies.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use super::{read_reply, Raw, TestServer};

pub struct RedisServer {
    child: Child,
    pub port: u16,
    dir: std::path::PathBuf,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::start_with(&[])
    }

    /// Starts Redis with extra arguments (`--enable-debug-command yes`, ...).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        // Ports below the kernel's ephemeral range (32768+), so that servers binding port 0
        // (every FlashDB under test) never take the port between our probe and Redis's bind,
        // and a probe connection can never connect to itself (TCP self-connect).
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20_000 + (std::process::id() % 500) as u16 * 20;
        for _ in 0..20 {
            let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 20;
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            // Its own empty directory: Redis loads any dump.rdb in its directory at start
            // (one that DEBUG RELOAD wrote would leak into every later test).
            let dir = super::temp_dir("redis");
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed for the compatibility tests (apt-get install redis-server)");
            for _ in 0..200 {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if is_redis_with_pid(port, child.id()) {
                    return RedisServer { child, port, dir };
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("redis-server did not start");
    }
}

/// Whether the server answering on `port` is the `redis-server` we started, by its pid.
/// A bare successful connect proves nothing: on a machine whose ephemeral port range covers
/// `port`, the probe can connect to itself (TCP simultaneous open), or reach another test's
/// server that took the port before Redis bound it; either way Redis then fails to bind
/// and exits, and the test later meets "connection refused" (seen once in CI).
fn is_redis_with_pid(port: u16, pid: u32) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"INFO server\r\n").is_err() {
        return false;
    }
    let want = format!("process_id:{pid}\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got);
        if text.contains(&want) {
            return true;
        }
        // The INFO payload ends in CRLF, and its bulk string adds one more.
        if text.ends_with("\r\n\r\n") || got.len() > 64 * 1024 {
            break;
        }
    }
    false
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn split(cmd: &str) -> Vec<Vec<u8>> {
    // Arguments separated by spaces; `\x00`-style escapes are not needed by the scripts, but
    // `{sp}` stands for a space inside an argument and `{empty}` for an empty argument.
    cmd.split(' ')
        .map(|a| match a {
            "{empty}" => Vec::new(),
            a => a
                .replace("{sp}", " ")
                .replace("{crlf}", "\r\n")
                .into_bytes(),
        })
        .collect()
}

/// The elements of a flat array reply of bulk strings, sorted, joined by newlines.
pub fn sorted_elements(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let header = lines.next().unwrap_or_default().to_string();
    let mut items: Vec<&str> = lines.skip(1).step_by(2).filter(|s| !s.is_empty()).collect();
    items.sort_unstable();
    format!("{header}\n{}", items.join("\n")).into_bytes()
}

pub fn run_script(script: &[&str]) {
    let redis = RedisServer::start();
    let flash = TestServer::start();
    let mut r = Raw::connect(redis.port);
    let mut f = flash.raw();
    let mut failures = Vec::new();
    for cmd in script {
        // A leading `~` marks a command whose array reply has no defined order.
        // A leading `!` marks a command whose reply differs by nature (a client id).
        let (unordered, ignored, cmd) = match (cmd.strip_prefix('~'), cmd.strip_prefix('!')) {
            (Some(c), _) => (true, false, c),
            (_, Some(c)) => (false, true, c),
            _ => (false, false, *cmd),
        };
        let args = split(cmd);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        r.cmd(&refs);
        f.cmd(&refs);
        let mut want = read_reply(&mut r.stream);
        let mut got = read_reply(&mut f.stream);
        if unordered {
            want = sorted_elements(&want);
            got = sorted_elements(&got);
        }
        if want != got && !ignored {
            failures.push(format!(
                "{cmd}\n    redis:   {:?}\n    flashdb: {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
