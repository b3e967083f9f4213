//! Test harness: starts the real `flashdb` binary on a free port and talks to it over TCP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub mod group;
pub mod netns;
pub mod real_redis;

/// A running server; killed when dropped, whatever the test's outcome.
pub struct TestServer {
    child: Child,
    /// The address the server listens on.
    pub host: String,
    pub port: u16,
    /// The HTTP API's port.
    pub http_port: u16,
    pub dir: PathBuf,
    keep_dir: bool,
    /// The `--requirepass` given, so that readiness checks can authenticate.
    password: Option<String>,
    /// Where the server's log goes: shown only when the test fails.
    log: PathBuf,
}

/// A file for one server's log, outside its data directory (which a test may inspect or
/// remove).
fn log_file() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "flashdb-test-log-{}-{}.log",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

/// A small xorshift generator: a test thread's choices, reproducible from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value; mixed so that small seeds differ).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A fresh, empty directory for a test's data.
pub fn temp_dir(tag: &str) -> PathBuf {
    // The counter, not the clock, keeps two tests of one process apart: threads starting
    // together read the same nanosecond, and two servers then shared a directory (the
    // second refused to start on the first's lock).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "flashdb-{tag}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> TestServer {
        let dir = temp_dir("test");
        let mut s = Self::start_in(&dir, extra, &[]);
        s.keep_dir = false;
        s
    }

    /// Starts a server on `dir`, which is left in place when the server is dropped (for
    /// restart and crash tests), and waits until it has recovered.
    pub fn start_in(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
        let s = Self::spawn_in(dir, extra, env);
        s.wait_ready();
        s
    }

    /// Starts a server on `dir` without waiting for recovery to finish.
    pub fn spawn_in(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> TestServer {
        Self::try_spawn_in(dir, extra, env)
            .unwrap_or_else(|| panic!("flashdb {extra:?} exited before it listened"))
    }

    /// [`start_in`](Self::start_in), or `None` if the server exits before it listens (a
    /// port given to it was taken meanwhile, say).
    pub fn try_start_in(
        dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Option<TestServer> {
        let s = Self::try_spawn_in(dir, extra, env)?;
        s.wait_ready();
        Some(s)
    }

    /// [`spawn_in`](Self::spawn_in), or `None` if the server exits before it listens.
    pub fn try_spawn_in(
        dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Option<TestServer> {
        Self::try_spawn_at(dir, extra, env, None)
    }

    /// [`try_spawn_in`](Self::try_spawn_in), in network namespace `netns` listening on
    /// `host` when given (see [`netns`]), on 127.0.0.1 otherwise.
    pub fn try_spawn_at(
        dir: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
        netns: Option<(&str, &str)>,
    ) -> Option<TestServer> {
        let dir = dir.to_path_buf();
        let bin = env!("CARGO_BIN_EXE_flashdb");
        let (mut cmd, host) = match netns {
            Some((ns, host)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, bin, "--bind", host]);
                (c, host.to_string())
            }
            None => (Command::new(bin), "127.0.0.1".to_string()),
        };
        // The log goes to a file, shown only if the test fails: a passing run stays quiet.
        let log = log_file();
        let log_out = std::fs::File::create(&log).expect("create the server's log file");
        cmd.args(["--port", "0", "--http-port", "0", "--dir"])
            .arg(&dir)
            .args(["--log-level", "warn"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(log_out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start flashdb");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let Some(port) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("resp="))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            // Why it did not start is in its log.
            eprintln!("{}", std::fs::read_to_string(&log).unwrap_or_default());
            let _ = std::fs::remove_file(&log);
            return None;
        };
        let http_port = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http="))
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no http port in {line:?}"));
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .map(|p| p.to_string());
        Some(TestServer {
            child,
            host,
            port,
            http_port,
            dir,
            keep_dir: true,
            password,
            log,
        })
    }

    /// Waits until recovery has finished: PING answers anything but -LOADING (after AUTH
    /// when the server has a password, since NOAUTH is checked before loading).
    pub fn wait_ready(&self) {
        let probe: Vec<u8> = match &self.password {
            Some(p) => format!("AUTH {p}\r\nPING\r\n").into_bytes(),
            None => b"PING\r\n".to_vec(),
        };
        for _ in 0..2000 {
            if let Ok(mut c) = std::net::TcpStream::connect((self.host.as_str(), self.port)) {
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                if c.write_all(&probe).is_ok() {
                    if self.password.is_some() && try_read_reply(&mut c).is_err() {
                        continue;
                    }
                    if let Ok(reply) = try_read_reply(&mut c) {
                        if !reply.starts_with(b"-LOADING") {
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("server did not become ready");
    }

    /// What the server has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server with SIGKILL, as a crash would, and waits for it to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The base URL of the HTTP API.
    pub fn http(&self) -> String {
        format!("http://{}:{}", self.host, self.http_port)
    }

    pub fn client(&self) -> redis::Connection {
        let c = redis::Client::open(format!("redis://{}:{}/", self.host, self.port)).unwrap();
        c.get_connection().unwrap()
    }

    pub fn raw(&self) -> Raw {
        Raw::connect_to(&self.host, self.port)
    }

    /// Sends SIGTERM and waits; returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }

    pub fn wait_exit(&mut self) -> Option<i32> {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        None
    }
}

impl Drop for TestServer {
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
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A raw TCP connection for exact byte-level checks.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        Self::connect_to("127.0.0.1", port)
    }

    /// A connection to `host:port`.
    pub fn connect_to(host: &str, port: u16) -> Raw {
        let stream = TcpStream::connect((host, port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a command as a RESP array of bulk strings.
    pub fn cmd(&mut self, args: &[&[u8]]) {
        self.send(&encode(args));
    }

    /// Reads exactly `expected.len()` bytes and compares.
    pub fn expect(&mut self, expected: &[u8]) {
        let mut buf = vec![0u8; expected.len()];
        self.stream
            .read_exact(&mut buf)
            .unwrap_or_else(|e| panic!("reading {:?}: {e}", String::from_utf8_lossy(expected)));
        assert_eq!(
            String::from_utf8_lossy(&buf),
            String::from_utf8_lossy(expected)
        );
    }

    /// Sends a command and returns its reply's raw bytes.
    pub fn call(&mut self, args: &[&str]) -> String {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd(&a);
        String::from_utf8_lossy(&read_reply(&mut self.stream)).into_owned()
    }

    /// Sends a command and returns its reply, or `None` if the connection failed (the
    /// server was killed).
    pub fn try_call(&mut self, args: &[&str]) -> Option<String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.stream.write_all(&encode(&a)).ok()?;
        try_read_reply(&mut self.stream)
            .ok()
            .map(|r| String::from_utf8_lossy(&r).into_owned())
    }

    /// True when the server closed the connection (EOF) within the read timeout.
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn read_line(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        s.read_exact(&mut b)?;
        line.push(b[0]);
        if line.ends_with(b"\r\n") {
            return Ok(line);
        }
    }
}

/// Reads one complete RESP2/RESP3 reply, returning its exact bytes.
pub fn read_reply(s: &mut TcpStream) -> Vec<u8> {
    try_read_reply(s).expect("read reply")
}

/// Reads one complete RESP2/RESP3 reply, or the I/O error that prevented it.
pub fn try_read_reply(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let line = read_line(s)?;
    let mut out = line.clone();
    let body = &line[1..line.len() - 2];
    let n: i64 = std::str::from_utf8(body)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    match line[0] {
        b'$' | b'=' | b'!' if n >= 0 => {
            let mut data = vec![0u8; n as usize + 2];
            s.read_exact(&mut data)?;
            out.extend_from_slice(&data);
        }
        b'*' | b'~' | b'>' if n > 0 => {
            for _ in 0..n {
                out.extend(try_read_reply(s)?);
            }
        }
        b'%' | b'|' if n > 0 => {
            for _ in 0..n * 2 {
                out.extend(try_read_reply(s)?);
            }
        }
        _ => {}
    }
    Ok(out)
}

/// Starts the server on free ports and a new directory with `extra` flags, expecting it
/// to refuse to start: asserts exit code 1 and returns what it wrote to stderr.
pub fn refuses_to_start(extra: &[&str]) -> String {
    let dir = temp_dir("refused");
    let mut args = vec!["--port", "0", "--http-port", "0", "--dir"];
    let dir_s = dir.to_string_lossy().into_owned();
    args.push(&dir_s);
    args.extend_from_slice(extra);
    let (code, _, stderr) = run_flashdb(&args, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(1), "{stderr}");
    stderr
}

/// Runs the `flashdb` binary to completion; returns (exit code, stdout, stderr).
pub fn run_flashdb(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flashdb"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run flashdb");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of a reply sorted, for collections whose order is not defined (a hash's
/// pairs stay together: each field line is followed by its value line).
fn pairs_sorted(reply: &str, lines_per_item: usize) -> String {
    let lines: Vec<&str> = reply.split("\r\n").collect();
    let header = lines.first().copied().unwrap_or_default();
    let mut items: Vec<String> = lines[1..]
        .chunks(lines_per_item)
        .map(|c| c.join("|"))
        .collect();
    items.sort();
    format!("{header} {}", items.join(","))
}

/// Every key of every database with its type, value (whole collections included) and
/// expiry time, sorted, to compare whole states.
pub fn dump(port: u16, databases: usize) -> Vec<String> {
    let mut c = Raw::connect(port);
    let mut out = Vec::new();
    for db in 0..databases {
        assert_eq!(c.call(&["SELECT", &db.to_string()]), "+OK\r\n");
        let mut keys: Vec<String> = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let a: Vec<&str> = vec!["SCAN", &cursor, "COUNT", "1000"];
            let args: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
            c.cmd(&args);
            let reply = read_reply(&mut c.stream);
            let text = String::from_utf8_lossy(&reply).into_owned();
            let parts: Vec<&str> = text.split("\r\n").collect();
            cursor = parts[2].to_string();
            for chunk in parts[4..].chunks(2) {
                if chunk.len() == 2 && !chunk[1].is_empty() {
                    keys.push(chunk[1].to_string());
                }
            }
            if cursor == "0" {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        for k in keys {
            let t = c.call(&["TYPE", &k]);
            let v = match t.as_str() {
                "+hash\r\n" => pairs_sorted(&c.call(&["HGETALL", &k]), 4),
                "+set\r\n" => pairs_sorted(&c.call(&["SMEMBERS", &k]), 2),
                "+list\r\n" => c.call(&["LRANGE", &k, "0", "-1"]),
                "+zset\r\n" => c.call(&["ZRANGE", &k, "0", "-1", "WITHSCORES"]),
                "+queue\r\n" => {
                    // Counts, counters and policy (without the age, which depends on
                    // when it is asked), and the ready messages in serving order.
                    let info = c.call(&["QINFO", &k]);
                    let info = info.split("$19\r\noldest_ready_age_ms").next().unwrap();
                    format!("{info} {}", c.call(&["QPEEK", &k, "COUNT", "1000000"]))
                }
                "+stream\r\n" => {
                    // Entries, ids, counters and consumer groups (with their delivery
                    // times), without the block figures (blocks are rebuilt on recovery).
                    let info = c.call(&["XINFO", "STREAM", &k, "FULL", "COUNT", "0"]);
                    let lines: Vec<&str> = info.split("\r\n").collect();
                    let info: Vec<&str> = lines
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i < 2 || !lines[i - 2].starts_with("radix-tree-"))
                        .map(|(_, l)| *l)
                        .collect();
                    format!("{} {}", c.call(&["XRANGE", &k, "-", "+"]), info.join(" "))
                }
                // Escaped rather than lossy: binary strings (bitmaps, HyperLogLogs)
                // must compare byte for byte.
                _ => {
                    c.cmd(&[b"GET", k.as_bytes()]);
                    read_reply(&mut c.stream).escape_ascii().to_string()
                }
            };
            let e = c.call(&["PEXPIRETIME", &k]);
            out.push(format!("db{db} {k:?} {t:?} {v:?} {e:?}"));
        }
    }
    out
}
