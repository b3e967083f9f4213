//! Online backup and restore.
//!
//! A backup is a data directory of its own: one snapshot of the running server's data, cut
//! at one log sequence number as every snapshot is (clients keep being served while it is
//! written), plus `backup.json`, which says what it holds. `flashdb check` verifies it like
//! any data directory, and a server started on it recovers the data exactly as of that
//! sequence number. `flashdb restore` copies a verified backup into a new data directory.
//!
//! It is taken by the server (`BACKUP dir`, `POST /api/v1/backup`, or `flashdb backup`,
//! which sends `BACKUP`), so the directory is on the server's machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use crate::server::Server;

/// The name of the file that describes a backup.
pub const MANIFEST: &str = "backup.json";

/// How long a backup waits for a snapshot in progress before it gives up.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(600);

/// What a backup wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The backup directory.
    pub dir: PathBuf,
    /// The log sequence number the backup is a copy of: every write up to it, none after.
    pub seq: u64,
    /// Size of the snapshot file, in bytes.
    pub bytes: u64,
    /// Milliseconds the backup took.
    pub duration_ms: u64,
}

/// The manifest written beside the snapshot.
#[derive(Debug, Serialize)]
struct Manifest<'a> {
    format: u32,
    flashdb_version: &'a str,
    seq: u64,
    created_unix_ms: u64,
    snapshot: String,
    bytes: u64,
    databases: usize,
}

/// Why a backup could not be taken: `Err` text for the client (without the `ERR `).
pub type BackupError = String;

/// Takes a backup of the running server into `to`: an absolute path to a directory that
/// does not exist yet or is empty, outside the data directory. Blocks the calling thread
/// while the snapshot is written (call it from a blocking thread).
pub fn take(server: &Server, to: &Path) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    // Refused before the target is checked, so that a refused backup creates nothing.
    let Some(p) = server.persistence.get() else {
        return Err(
            "backups need a persisted server (--persistence on): a backup is a data directory"
                .into(),
        );
    };
    check_target(server, to)?;
    let databases = server.config.databases;
    let (seq, path, bytes) = p.with_snapshot_slot(SNAPSHOT_WAIT, || {
        let cut = wait_for_cut(server)?;
        let written = crate::persistence::write_image(to, &server.ks, &cut, databases as u32);
        server.ks.end_snapshot();
        let (path, bytes) = written?;
        Ok((cut.seq, path, bytes))
    })?;
    let manifest = Manifest {
        format: 1,
        flashdb_version: crate::config::VERSION,
        seq,
        created_unix_ms: flashdb_core::keyspace::unix_ms(),
        snapshot: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
        databases,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    write_durably(&to.join(MANIFEST), &json).map_err(|e| format!("{}: {e}", to.display()))?;
    let report = BackupReport {
        dir: to.to_path_buf(),
        seq,
        bytes,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    tracing::info!(
        dir = %to.display(),
        seq,
        bytes,
        ms = report.duration_ms,
        "backup written"
    );
    Ok(report)
}

/// The snapshot cut, once no other snapshot (a replication group's) holds the keyspace's.
fn wait_for_cut(
    server: &Server,
) -> Result<std::sync::Arc<flashdb_core::snapshot::SnapshotCut>, String> {
    let deadline = Instant::now() + SNAPSHOT_WAIT;
    loop {
        if let Some(cut) = server.ks.begin_snapshot() {
            return Ok(cut);
        }
        if Instant::now() >= deadline {
            return Err("a snapshot is being written; try again when it is done".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Refuses a target that could overwrite or mix with other data: it must be absolute, new
/// or empty, and not inside the data directory. Creates it (mode 0700: it holds all data).
fn check_target(server: &Server, to: &Path) -> Result<(), BackupError> {
    if !to.is_absolute() {
        return Err(format!(
            "the backup directory must be an absolute path (it is on the server's machine): {}",
            to.display()
        ));
    }
    let data = std::fs::canonicalize(&server.config.dir).unwrap_or(server.config.dir.clone());
    let mut probe = to.to_path_buf();
    // The deepest part of the target that exists, resolved, tells where it really is.
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let resolved = std::fs::canonicalize(&probe).unwrap_or(probe);
    if resolved.starts_with(&data) {
        return Err(format!(
            "the backup directory {} is inside the data directory {}",
            to.display(),
            data.display()
        ));
    }
    match std::fs::read_dir(to) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "the backup directory {} is not empty",
                    to.display()
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(to)
                .map_err(|e| format!("cannot create {}: {e}", to.display()))
        }
        Err(e) => Err(format!("{}: {e}", to.display())),
    }
}

/// Writes `bytes` to `path` and fsyncs it and its directory.
fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `flashdb backup --to DIR`: asks the server at `host:port` for a backup into `to` (made
/// absolute here, since the server resolves it) and prints what it wrote.
pub fn backup_command(
    host: &str,
    port: u16,
    password: Option<&str>,
    to: &Path,
) -> anyhow::Result<()> {
    let to = if to.is_absolute() {
        to.to_path_buf()
    } else {
        std::env::current_dir()
            .context("cannot read the current directory")?
            .join(to)
    };
    let mut conn = std::net::TcpStream::connect((host, port))
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    if let Some(pass) = password {
        expect_ok(&mut conn, &[b"AUTH", pass.as_bytes()])?;
    }
    let target = to.to_string_lossy().into_owned();
    let reply = call(&mut conn, &[b"BACKUP", target.as_bytes()])?;
    let fields = match reply {
        flashdb_protocol::Frame::Error(e) => {
            bail!("the server refused: {}", String::from_utf8_lossy(&e))
        }
        flashdb_protocol::Frame::Array(items) => items,
        other => bail!("unexpected reply to BACKUP: {other:?}"),
    };
    let mut line = String::from("backup written:");
    for pair in fields.chunks(2) {
        if let [flashdb_protocol::Frame::Bulk(k), v] = pair {
            let v = match v {
                flashdb_protocol::Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                flashdb_protocol::Frame::Integer(n) => n.to_string(),
                other => format!("{other:?}"),
            };
            line.push_str(&format!(" {}={v}", String::from_utf8_lossy(k)));
        }
    }
    println!("{line}");
    Ok(())
}

fn call(conn: &mut std::net::TcpStream, args: &[&[u8]]) -> anyhow::Result<flashdb_protocol::Frame> {
    use std::io::Read;
    let mut out = Vec::new();
    flashdb_protocol::encode_command(&mut out, args);
    conn.write_all(&out)?;
    let mut buf = Vec::new();
    loop {
        if let Some((frame, _)) = flashdb_protocol::parse_frame(&buf)? {
            return Ok(frame);
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            bail!("the server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn expect_ok(conn: &mut std::net::TcpStream, args: &[&[u8]]) -> anyhow::Result<()> {
    if let flashdb_protocol::Frame::Error(e) = call(conn, args)? {
        bail!("{}", String::from_utf8_lossy(&e));
    }
    Ok(())
}

/// `flashdb restore --from BACKUP --dir D`: verifies the backup, then copies its snapshot
/// and log files into `dir` (new or empty), each fsynced, so that a server started with
/// `--dir D` recovers the backup's data.
pub fn restore_command(from: &Path, dir: &Path) -> anyhow::Result<()> {
    if !from.join(MANIFEST).exists() {
        bail!(
            "{} is not a FlashDB backup (no {MANIFEST}); `flashdb check --dir` verifies a data directory",
            from.display()
        );
    }
    let report = {
        let _lock = flashdb_storage::DirLock::acquire(from)?;
        flashdb_storage::check(from, false)?
    };
    if !report.ok {
        for line in &report.lines {
            eprintln!("{line}");
        }
        bail!(
            "the backup in {} does not verify; nothing restored",
            from.display()
        );
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: restore into a new directory",
                    dir.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Err(e) => return Err(e).with_context(|| dir.display().to_string()),
    }
    let _lock = flashdb_storage::DirLock::acquire(dir)?;
    let mut copied = 0u64;
    for entry in std::fs::read_dir(from).with_context(|| from.display().to_string())? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let data_file = (name.starts_with("snapshot-") && name.ends_with(".fdb"))
            || (name.starts_with("wal-") && name.ends_with(".log"));
        if !data_file {
            continue;
        }
        let tmp = dir.join(format!("{name}.restore.tmp"));
        std::fs::copy(entry.path(), &tmp)
            .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, dir.join(&*name))?;
        copied += entry.metadata()?.len();
    }
    std::fs::File::open(dir)?.sync_all()?;
    let seq = std::fs::read(from.join(MANIFEST))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["seq"].as_u64());
    println!(
        "restored {} ({copied} bytes{}) into {}; start the server with --dir {}",
        from.display(),
        seq.map(|s| format!(", as of log record {s}"))
            .unwrap_or_default(),
        dir.display(),
        dir.display()
    );
    Ok(())
}
