//! The FlashDB server: configuration, the RESP listener and its connections, the commands
//! that need server or connection state, and the background work (active expiry).

pub mod acl;
pub mod alloc;
pub mod auth_limit;
pub mod background;
pub mod backup;
pub mod commands;
pub mod config;
pub mod config_rewrite;
pub mod connection;
pub mod debug_cmd;
pub mod diagnostics;
pub mod evict;
pub mod fanout;
pub mod group;
pub mod group_cmd;
pub mod http;
pub mod info;
pub mod latency;
pub mod ledger_cmd;
pub mod ledger_index;
pub mod ledger_travel;
pub mod logging;
pub mod persistence;
pub mod pubsub;
pub mod pubsub_cmd;
pub mod ratelimit;
pub mod script;
pub mod sentinel;
pub mod server;
pub mod slowlog;
pub mod tls;
pub mod tracking;
pub mod tracking_cmd;
pub mod transaction;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::server::Server;

/// Runs the server until SIGTERM, SIGINT or `SHUTDOWN`.
pub async fn run(config: Config, config_file: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let dir_lock = if config.persistence {
        std::fs::create_dir_all(&config.dir)
            .with_context(|| format!("cannot create data directory {}", config.dir.display()))?;
        Some(flashdb_storage::DirLock::acquire(&config.dir)?)
    } else {
        None
    };
    let listener = TcpListener::bind((config.bind.as_str(), config.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", config.bind, config.port))?;
    let addr = listener.local_addr()?;
    let http_listener = TcpListener::bind((config.bind.as_str(), config.http_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}:{} (HTTP)",
                config.bind, config.http_port
            )
        })?;
    let http_addr = http_listener.local_addr()?;
    let tls_listener = if config.tls_port != 0 {
        Some(
            TcpListener::bind((config.bind.as_str(), config.tls_port))
                .await
                .with_context(|| {
                    format!("cannot listen on {}:{} (TLS)", config.bind, config.tls_port)
                })?,
        )
    } else {
        None
    };
    let tls = if config.tls_port != 0 || config.tls_http || config.tls_replication {
        Some(tls::Tls::new(&config.tls, config.tls_replication).context("cannot set up TLS")?)
    } else {
        None
    };
    let raft_listener = match &config.group {
        Some(g) => Some(
            TcpListener::bind((config.bind.as_str(), g.raft_port))
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {}:{} (--raft-port)",
                        config.bind, g.raft_port
                    )
                })?,
        ),
        None => None,
    };
    let ledger_key = match &config.ledger_key {
        Some(path) => Some(ledger_cmd::load_key(path)?),
        None => None,
    };
    let server = Arc::new(
        Server::new(config, config_file).context("cannot start the Lua scripting engine")?,
    );
    if let Some(k) = ledger_key {
        let _ = server.ledger_key.set(k);
    }
    commands::apply_file_params(&server).map_err(anyhow::Error::msg)?;
    if let Some(t) = tls {
        let _ = server.tls.set(t);
    }
    if let Some(path) = &server.config.aclfile {
        let users = server
            .acl
            .parse_file(path)
            .map_err(|e| anyhow::anyhow!("aborting start-up because of ACL errors: {e}"))?;
        server.acl.replace_all(users);
    }
    server.port.store(u64::from(addr.port()), Ordering::Relaxed);
    server.params.write().store("port", addr.port().to_string());
    server
        .params
        .write()
        .store("http-port", http_addr.port().to_string());
    *server.params_at_start.write() = server.params.read().clone();
    // Scripts and tests read this line to learn the ports taken.
    match tls_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        Some(t) => println!("listening resp={addr} http={http_addr} tls={t}"),
        None => println!("listening resp={addr} http={http_addr}"),
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();

    if let Some(lock) = dir_lock {
        // Recovery runs while the listener accepts: clients get -LOADING until it is done.
        server.ks.set_loading(true);
        let srv = server.clone();
        match raft_listener {
            Some(listener) => {
                tokio::spawn(join_group(srv, lock, listener));
            }
            None => {
                tokio::task::spawn_blocking(move || recover_into(&srv, lock));
            }
        }
    } else {
        announce_ready(&server);
    }
    let bg = background::spawn(server.clone())?;
    let http = tokio::spawn(http::serve(server.clone(), http_listener));
    if server.config.tls_http {
        tracing::info!(addr = %http_addr, "HTTPS API ready");
    } else {
        tracing::info!(addr = %http_addr, "HTTP API ready");
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot install the SIGTERM handler")?;
    let mut sighup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot install the SIGHUP handler")?;
    if let Some(l) = tls_listener {
        if let Ok(a) = l.local_addr() {
            tracing::info!(addr = %a, "TLS ready");
        }
        tokio::spawn(accept_tls(server.clone(), l));
    }
    let mut listener = listener;
    loop {
        tokio::select! {
            _ = server.listener_changed.notified() => {
                let taken = server.new_listener.lock().take();
                if let Some(l) = taken {
                    match TcpListener::from_std(l) {
                        Ok(l) => {
                            tracing::info!(addr = %l.local_addr().map(|a| a.to_string()).unwrap_or_default(), "listening on a new address (CONFIG SET)");
                            listener = l;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot use the new listener; keeping the old one"),
                    }
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((mut stream, peer)) if server.refuses_as_protected(peer) => {
                    tracing::debug!(%peer, "protected mode: refusing a client from another machine");
                    tokio::spawn(async move {
                        let _ = stream.write_all(crate::server::PROTECTED_MODE_DENIED.as_bytes()).await;
                    });
                }
                Ok((mut stream, peer)) => {
                    let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
                    match server.register_client(peer.to_string(), laddr) {
                        Some(handle) => {
                            tokio::spawn(connection::serve(server.clone(), stream, handle));
                        }
                        None => {
                            tokio::spawn(async move {
                                let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                            });
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = sigterm.recv() => {
                tracing::info!("received SIGTERM, shutting down");
                break;
            }
            _ = sighup.recv() => reload_tls(&server),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("received SIGINT, shutting down");
                break;
            }
            _ = server.shutdown.notified() => break,
        }
    }
    drop(listener);
    server.begin_shutdown();
    // In-flight HTTP requests finish; idle keep-alive connections are not waited for long.
    let http_abort = http.abort_handle();
    if tokio::time::timeout(Duration::from_secs(2), http)
        .await
        .is_err()
    {
        http_abort.abort();
    }
    // Let connections finish the requests they are running and close.
    for _ in 0..100 {
        if server.clients.lock().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = bg.join();
    if let Some(g) = server.group.get() {
        g.shutdown().await;
    }
    if let Some(p) = server
        .persistence
        .get()
        .filter(|_| server.config.group.is_some())
    {
        // A group node's snapshots are Raft's; its log only needs closing.
        let p = p.clone();
        let _ = tokio::task::spawn_blocking(move || p.wal.close()).await;
    } else if let Some(p) = server.persistence.get() {
        // A final snapshot makes the next start fast; then the log is flushed and fsynced.
        let p = p.clone();
        let srv = server.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if srv.no_final_snapshot.load(Ordering::Relaxed) {
                tracing::info!("SHUTDOWN NOSAVE: no snapshot; the log will be replayed");
            } else if let Err(e) = p.snapshot(&srv.ks) {
                tracing::warn!(error = %e, "no snapshot at shutdown; the log alone will be replayed");
            }
            p.wal.close();
        })
        .await;
    }
    if let Some(err) = server.startup_error.lock().take() {
        anyhow::bail!(err);
    }
    tracing::info!("FlashDB is now ready to exit, bye bye...");
    Ok(())
}

/// Logs that the server serves clients: only once recovery is done, so that a script
/// waiting for the line never takes a server that will exit for ready.
pub(crate) fn announce_ready(server: &Server) {
    tracing::info!(
        port = server.port.load(Ordering::Relaxed),
        databases = server.config.databases,
        "FlashDB ready to accept connections"
    );
}

/// Recovers a group node's data set and Raft log, then starts Raft; on failure the server
/// shuts down and exits with the error.
/// Rebuilds the TLS configuration from the files its parameters name (SIGHUP): a new
/// certificate applies to new connections; on an error the old one stays.
fn reload_tls(server: &Arc<Server>) {
    let Some(tls) = server.tls.get() else {
        return;
    };
    let settings = {
        let params = server.params.read();
        tls::TlsSettings::from_params(|n| params.value(n).map(str::to_string))
    };
    match tls.reload(&settings) {
        Ok(()) => tracing::info!("TLS certificates reloaded (SIGHUP)"),
        Err(e) => tracing::warn!(error = %e, "TLS reload failed; the previous certificates stay"),
    }
}

/// The ACL user a TLS client's certificate names by its common name, if that user
/// exists and is on (`--tls-auth-clients-user CN`).
fn user_of_certificate(
    server: &Arc<Server>,
    tls: &tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
) -> Option<Arc<acl::User>> {
    let cert = tls.get_ref().1.peer_certificates()?.first()?;
    let cn = tls::common_name(cert)?;
    let user = server.acl.user(cn.as_bytes())?;
    user.rules().enabled().then_some(user)
}

/// Accepts RESP clients on the TLS port: each is registered as on the plain port, then
/// served once its handshake (bounded to 10 s) completes.
async fn accept_tls(server: Arc<Server>, listener: TcpListener) {
    loop {
        if server.shutting_down.load(Ordering::Relaxed) {
            return;
        }
        let (mut stream, peer) = match listener.accept().await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "TLS accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if server.refuses_as_protected(peer) {
            // Before the handshake there is no TLS to carry the explanation.
            continue;
        }
        let _ = stream.set_nodelay(true);
        let laddr = stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let Some(handle) = server.register_client(peer.to_string(), laddr) else {
            tokio::spawn(async move {
                let _ = stream.shutdown().await;
            });
            continue;
        };
        let Some(acceptor) = server.tls.get().map(|t| t.acceptor()) else {
            return;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let hs = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            match hs {
                Ok(Ok(tls)) => {
                    let user = server
                        .config
                        .tls_user_from_cn
                        .then(|| user_of_certificate(&server, &tls))
                        .flatten();
                    match user {
                        Some(u) => {
                            tracing::debug!(%peer, user = %u.name_lossy(), "TLS client logged in by its certificate");
                            *handle.user.lock() = u;
                            connection::serve_logged_in(server, tls, handle).await
                        }
                        None => connection::serve(server, tls, handle).await,
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    server.unregister_client(handle.id);
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    server.unregister_client(handle.id);
                }
            }
        });
    }
}

async fn join_group(server: Arc<Server>, lock: flashdb_storage::DirLock, listener: TcpListener) {
    let srv = server.clone();
    let recovered = tokio::task::spawn_blocking(move || group::recover(&srv, lock))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let started = match recovered {
        Ok(rec) => group::start(server.clone(), rec, listener).await,
        Err(e) => Err(format!("recovery failed: {e}")),
    };
    if let Err(e) = started {
        tracing::error!(error = %e, "cannot join the replication group; refusing to start");
        *server.startup_error.lock() = Some(e);
        server.begin_shutdown();
    }
}

/// Recovers the data set, then attaches the log so that writes are persisted. On failure
/// the server shuts down and exits with the error, which names the file and offset.
fn recover_into(server: &Arc<Server>, lock: flashdb_storage::DirLock) {
    match persistence::open(&server.config, lock, &server.ks) {
        Ok((p, report)) => {
            tracing::info!(
                snapshot = %report.snapshot.as_ref().map_or("none".into(), |(p, _)| p.display().to_string()),
                snapshot_seq = report.snapshot.as_ref().map_or(0, |(_, s)| *s),
                records = report.records_replayed,
                last_seq = report.last_seq,
                ms = p.recovery_ms,
                "recovery finished"
            );
            for skipped in &report.skipped_snapshots {
                tracing::warn!(snapshot = %skipped, "snapshot skipped");
            }
            // `CONFIG SET appendfsync` while recovering changed the parameter only.
            if let Some(policy) = server
                .params
                .read()
                .value("appendfsync")
                .and_then(flashdb_storage::FsyncPolicy::parse)
            {
                p.wal.set_policy(policy);
            }
            let p = Arc::new(p);
            let _ = persistence::ACTIVE_WAL.set(p.wal.clone());
            server
                .ks
                .set_log_sink(Box::new(persistence::WalSink(p.wal.clone())));
            let _ = server.persistence.set(p);
            ledger_cmd::follow(server.clone());
            server.scripting.load_stored_functions(&server.ks);
            // Said before clients are let in, so that the line is there when they are.
            announce_ready(server);
            server.ks.set_loading(false);
        }
        Err(e) => {
            tracing::error!(error = %e, "recovery failed; refusing to start");
            *server.startup_error.lock() = Some(format!("recovery failed: {e}"));
            server.begin_shutdown();
        }
    }
}

/// Called by a runtime worker that ran out of work, before it sleeps in `epoll_wait`:
/// stays awake for `spin`, yielding the core to any other ready thread, so that requests
/// arriving within it find the worker running. A sleeping worker costs each of them a
/// wake-up on both sides (the sender's kernel path and the worker's context switch), which
/// on virtual machines costs more than serving a small request; Go's scheduler spins before
/// parking for the same reason. Idle CPU spent is at most `spin` per burst of work.
pub fn idle_spin(spin: std::time::Duration) {
    if spin.is_zero() {
        return;
    }
    let start = std::time::Instant::now();
    while start.elapsed() < spin {
        std::thread::yield_now();
    }
}

/// `flashdb check --dir PATH [--repair | --ledger]`: prints what it finds; exit code 0
/// when the data directory is sound (or was repaired), 1 otherwise. With `--ledger`, also
/// recomputes the ledger's tree from the records and prints its size and root.
pub fn check_command(dir: &std::path::Path, repair: bool, ledger: bool) -> anyhow::Result<bool> {
    // Checking (and above all repairing) files a running server is writing would race it.
    let _lock = flashdb_storage::DirLock::acquire(dir)?;
    let report = flashdb_storage::check(dir, repair)?;
    for line in &report.lines {
        println!("{line}");
    }
    let mut sound = report.ok || report.repaired;
    if ledger {
        match flashdb_storage::ledger::check(dir) {
            Ok(v) => {
                println!("ledger: size {}", v.size);
                println!(
                    "ledger: root {}",
                    flashdb_storage::ledger::merkle::hex(&v.root)
                );
                println!("ledger: leaf 0 is record {}", v.base);
                match v.first_bad {
                    Some(i) => {
                        println!(
                            "ledger: leaf {i} (record {}) differs from the hash the server kept: the record was changed after it was written",
                            v.base + i
                        );
                        sound = false;
                    }
                    None if v.compared == 0 && v.size > 0 => println!(
                        "ledger: no leaf hashes kept by the server to compare with (the server rebuilds them at its next start)"
                    ),
                    None => println!(
                        "ledger: the {} leaf hashes the server kept match the records",
                        v.compared
                    ),
                }
            }
            Err(e) => {
                println!("ledger: {e}");
                sound = false;
            }
        }
    }
    Ok(sound)
}
