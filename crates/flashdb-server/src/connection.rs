//! One client connection: read, parse every complete request, execute, and write all the
//! replies of one read back with one `write`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use flashdb_core::table::{command_index, flag};
use flashdb_core::{execute, resolve, Ctx, Handler, Resolved};
use flashdb_protocol::{
    decode_inline_arg, inline_arg_is_quoted, Parsed, ParserLimits, ProtocolVersion, ReplyBuf,
    RequestParser,
};
use smallvec::SmallVec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::broadcast;

use crate::commands;
use crate::server::{ClientHandle, Server};
use flashdb_core::blocking::{Gate, HandOff};

/// Whether the connection goes on after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep serving.
    Continue,
    /// Send what is buffered, then close (`QUIT`, protocol errors, `SHUTDOWN`).
    Close,
    /// `SAVE`: stop the batch here, write a snapshot, then reply and go on.
    Save,
    /// A blocking command found nothing: stop the batch and park the client.
    Block,
    /// A data command on a group node that does not lead: stop the batch and run it on
    /// the leader.
    Forward,
    /// A command that waits on the replication group (`WAIT`, membership changes): stop
    /// the batch until it is done.
    Group,
    /// `CLIENT PAUSE` holds the command back: stop the batch, run it when the pause ends.
    Paused,
}

/// A command that blocked, kept to be run again when one of its keys becomes ready.
pub struct BlockedCommand {
    args: Vec<Vec<u8>>,
    on: flashdb_core::ctx::BlockOn,
    spec: &'static flashdb_core::CommandSpec,
}

/// Leaves the blocked-clients queue when the wait ends, however it ends (served, timed
/// out, or the connection task dropped with the client gone).
struct Unblock<'a> {
    ks: &'a flashdb_core::Keyspace,
    id: u64,
}

impl Drop for Unblock<'_> {
    fn drop(&mut self) {
        self.ks.blocking.unregister(self.id);
    }
}

/// `CLIENT REPLY` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// Replies are discarded.
    Off,
    /// The next command's reply is discarded.
    SkipNext,
    /// Set by `CLIENT REPLY SKIP` itself; becomes `SkipNext` after it.
    SkipArmed,
}

/// Per-connection state that commands may change.
pub struct ConnState {
    /// The registry entry for this client.
    pub handle: Arc<ClientHandle>,
    /// Encoded replies not yet written.
    pub out: ReplyBuf,
    /// Selected database.
    pub db: usize,
    /// Whether `AUTH` succeeded (or no password is set).
    pub authenticated: bool,
    /// The ACL user the client runs as.
    pub user: Arc<crate::acl::User>,
    /// A copy of `user`'s rules, valid while the ACL version is `acl_version`.
    pub rules: Arc<flashdb_core::acl::UserRules>,
    /// The ACL version `rules` was copied at.
    pub acl_version: u64,
    /// Runs commands on behalf of another node, which checked them: no ACL checks.
    pub acl_exempt: bool,
    /// Close the connection once the current reply is out (its user was deleted).
    pub close_after_reply: bool,
    /// Rate limits were applied to the whole request (HTTP) or by another node: not per
    /// command.
    pub rate_exempt: bool,
    /// This client's address's token bucket, once there is a per-address limit.
    pub(crate) addr_bucket: Option<Arc<crate::ratelimit::Bucket>>,
    /// Tokens taken from the user's bucket and not spent yet (see
    /// [`crate::ratelimit::chunk`]).
    user_tokens: u32,
    /// Likewise from the address's bucket.
    addr_tokens: u32,
    /// `CLIENT REPLY` mode.
    pub reply_mode: ReplyMode,
    /// The command this client is blocked in.
    pub blocked: Option<BlockedCommand>,
    /// Receives the `MONITOR` feed once the client asked for it.
    pub monitor_rx: Option<broadcast::Receiver<Arc<str>>>,
    /// Unix milliseconds read once per batch of requests: every command of a batch runs
    /// at this time, as Redis caches the time per command.
    pub now_ms: u64,
    /// End of the previous command (or start of the batch), to time commands with one
    /// clock reading each.
    last_tick: Instant,
    /// Counters gathered during a batch, added to the shared ones once per batch so that
    /// connections on different cores do not fight over counter cache lines per command.
    pending: SmallVec<[PendingStat; 4]>,
    pending_commands: u64,
    pending_errors: u64,
    /// Command durations of the batch per latency bucket, and their sum in microseconds.
    latency: [u64; flashdb_storage::histogram::BUCKETS],
    latency_sum: u64,
    last_spec: Option<&'static str>,
    /// Where this batch's replies start in `out`, and how many commands it ran: if its
    /// log records fail to reach the disk, those replies are replaced by errors.
    batch_start: usize,
    batch_commands: u64,
    /// Highest log record this batch wrote; replies wait for it under `appendfsync always`.
    wait_seq: u64,
    /// `MULTI`/`WATCH` state.
    pub tx: crate::transaction::TxState,
    /// Pub/sub subscriptions, once the client made one.
    pub subs: Option<crate::pubsub::ClientSubs>,
    /// Where client-side caching's invalidations for this client arrive.
    pub push_rx: Option<tokio::sync::mpsc::UnboundedReceiver<Arc<crate::pubsub::Message>>>,
    /// `CLIENT TRACKING` is on (its settings are in the handle).
    pub tracking: bool,
    /// Runs commands another node of the group sent to this one as its leader: they are
    /// never sent on again.
    pub forwarded: bool,
    /// Commands to run on the group's leader, of which the last one's reply is this
    /// client's (see [`Flow::Forward`]).
    pub(crate) forward: Option<Vec<Vec<Vec<u8>>>>,
    /// With `forward`: the leader's watch session it runs in (0: a new one), whose id
    /// the leader answers (see [`crate::transaction`]).
    pub(crate) forward_session: Option<u64>,
    /// This batch read data on a group's leader: its replies wait until a majority
    /// confirms the node still leads.
    pub(crate) read_barrier: bool,
    /// `READONLY`: on a group node that does not lead, this connection's reads are served
    /// from the node's own memory (possibly behind the leader) instead of the leader's.
    pub readonly: bool,
    /// With [`Flow::Save`]: the directory `BACKUP` writes into (none: `SAVE`).
    pub(crate) backup_to: Option<std::path::PathBuf>,
    /// A `WAIT` to answer: replicas wanted, timeout in milliseconds (0: none).
    pub(crate) group_op: Option<crate::group::GroupOp>,
    /// The command a `CLIENT PAUSE` holds back, to run when it ends.
    paused: Option<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone, Copy)]
struct PendingStat {
    index: usize,
    calls: u64,
    usec: u64,
    failed: u64,
    rejected: u64,
    /// Calls per `LATENCY HISTOGRAM` bucket.
    histogram: [u32; crate::latency::HIST_BUCKETS],
}

impl ConnState {
    /// The state of a new client, speaking RESP2 until it says `HELLO 3`.
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> ConnState {
        let push_rx = handle.push_rx.lock().take();
        let user = handle.user.lock().clone();
        ConnState {
            rules: user.rules(),
            user,
            acl_version: 0,
            acl_exempt: false,
            close_after_reply: false,
            rate_exempt: false,
            addr_bucket: None,
            user_tokens: 0,
            addr_tokens: 0,
            push_rx,
            tracking: false,
            handle,
            out: ReplyBuf::new(ProtocolVersion::Resp2),
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            monitor_rx: None,
            blocked: None,
            now_ms: 0,
            last_tick: Instant::now(),
            pending: SmallVec::new(),
            pending_commands: 0,
            pending_errors: 0,
            latency: [0; flashdb_storage::histogram::BUCKETS],
            latency_sum: 0,
            last_spec: None,
            batch_start: 0,
            batch_commands: 0,
            wait_seq: 0,
            tx: Default::default(),
            subs: None,
            forwarded: false,
            forward: None,
            forward_session: None,
            read_barrier: false,
            backup_to: None,
            readonly: false,
            group_op: None,
            paused: None,
        }
    }

    /// Logs the connection in as `user` (`AUTH`, `HELLO ... AUTH`, `RESET`).
    pub(crate) fn set_user(&mut self, server: &Server, user: Arc<crate::acl::User>) {
        *self.handle.user.lock() = user.clone();
        self.user = user;
        self.acl_version = 0;
        self.refresh_rules(server);
    }

    /// Copies the user's rules again when any user's rules changed since the last copy
    /// (one atomic load otherwise); tokens taken under the old rules are dropped.
    #[inline]
    pub(crate) fn refresh_rules(&mut self, server: &Server) {
        let version = server.acl.version();
        if version != self.acl_version {
            self.acl_version = version;
            self.rules = self.user.rules();
            self.user_tokens = 0;
        }
    }

    /// Counts a command run inside `EXEC` (which is timed as a whole).
    pub(crate) fn note_command(&mut self, index: usize, failed: bool) {
        self.pending_commands += 1;
        self.pending_errors += u64::from(failed);
        self.record(index, 0, failed, false);
    }

    fn record(&mut self, index: usize, usec: u64, failed: bool, rejected: bool) {
        let slot = match self.pending.iter_mut().find(|p| p.index == index) {
            Some(p) => p,
            None => {
                self.pending.push(PendingStat {
                    index,
                    calls: 0,
                    usec: 0,
                    failed: 0,
                    rejected: 0,
                    histogram: [0; crate::latency::HIST_BUCKETS],
                });
                let last = self.pending.len() - 1;
                &mut self.pending[last]
            }
        };
        if rejected {
            slot.rejected += 1;
        } else {
            slot.calls += 1;
            slot.usec += usec;
            slot.failed += u64::from(failed);
            slot.histogram[crate::latency::hist_bucket(usec)] += 1;
        }
    }

    /// Adds the batch's counters to the server's.
    fn flush_stats(&mut self, server: &Arc<Server>) {
        if self.pending_commands == 0 && self.pending.is_empty() {
            return;
        }
        server
            .stats
            .commands
            .fetch_add(self.pending_commands, Ordering::Relaxed);
        if self.pending_errors > 0 {
            server
                .stats
                .error_replies
                .fetch_add(self.pending_errors, Ordering::Relaxed);
        }
        for p in self.pending.drain(..) {
            let st = &server.cmdstats[p.index];
            if p.calls > 0 {
                st.calls.fetch_add(p.calls, Ordering::Relaxed);
                st.usec.fetch_add(p.usec, Ordering::Relaxed);
                st.histogram.add(&p.histogram);
            }
            if p.failed > 0 {
                st.failed.fetch_add(p.failed, Ordering::Relaxed);
            }
            if p.rejected > 0 {
                st.rejected.fetch_add(p.rejected, Ordering::Relaxed);
            }
        }
        self.pending_commands = 0;
        self.pending_errors = 0;
        if self.latency_sum > 0 || self.latency.iter().any(|&n| n > 0) {
            server.cmd_latency.add(&self.latency, self.latency_sum);
            self.latency = [0; flashdb_storage::histogram::BUCKETS];
            self.latency_sum = 0;
        }
        if let Some(name) = self.last_spec.take() {
            *self.handle.last_cmd.lock() = name;
        }
        // The batch's last command ended at `last_tick`: no need to read the clock again.
        let active = self.last_tick.saturating_duration_since(server.started);
        self.handle
            .last_active_ms
            .store(active.as_millis() as u64, Ordering::Relaxed);
    }
}

/// A client's transport: a TCP connection, or TLS over one.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send {
    /// Writes what the transport takes at once without waiting (`WouldBlock` when it
    /// takes nothing now, or cannot tell without waiting).
    fn try_write_now(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

impl ClientIo for TcpStream {
    fn try_write_now(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.try_write(buf)
    }
}

impl ClientIo for tokio_rustls::server::TlsStream<TcpStream> {}

/// Serves one accepted connection until it closes.
pub async fn serve<S: ClientIo>(server: Arc<Server>, stream: S, handle: Arc<ClientHandle>) {
    let authenticated = server.acl.default_needs_no_password();
    serve_as(server, stream, handle, authenticated).await;
}

/// Serves a connection already logged in as the user of its handle (a TLS client whose
/// certificate named it).
pub async fn serve_logged_in<S: ClientIo>(
    server: Arc<Server>,
    stream: S,
    handle: Arc<ClientHandle>,
) {
    serve_as(server, stream, handle, true).await;
}

async fn serve_as<S: ClientIo>(
    server: Arc<Server>,
    mut stream: S,
    handle: Arc<ClientHandle>,
    authenticated: bool,
) {
    let mut st = ConnState::new(handle.clone(), authenticated);
    let mut rbuf = BytesMut::with_capacity(16 * 1024);
    let mut parser = RequestParser::new();
    if let Err(e) = run(&server, &mut stream, &mut st, &mut rbuf, &mut parser).await {
        tracing::debug!(client = handle.id, error = %e, "connection closed with an error");
    }
    if st.monitor_rx.is_some() {
        server.monitors.fetch_sub(1, Ordering::Relaxed);
    }
    st.tx.discard(&server);
    if let Some(mut subs) = st.subs.take() {
        subs.clear(&server.pubsub);
    }
    server.unregister_client(handle.id);
}

enum Event {
    Read(usize),
    Wake,
    Message(Option<Arc<crate::pubsub::Message>>),
    Push(Arc<crate::pubsub::Message>),
    Monitor(Result<Arc<str>, broadcast::error::RecvError>),
    Idle,
}

async fn run<S: ClientIo>(
    server: &Arc<Server>,
    stream: &mut S,
    st: &mut ConnState,
    rbuf: &mut BytesMut,
    parser: &mut RequestParser,
) -> std::io::Result<()> {
    loop {
        let flow = process_input(server, st, rbuf, parser);
        if st.wait_seq > 0 || st.read_barrier {
            wait_durable(server, st).await;
        }
        if flow == Flow::Block {
            if !st.out.is_empty() {
                stream.write_all(st.out.as_bytes()).await?;
                stream.flush().await?;
                st.out.clear();
            }
            if !wait_blocked(server, Some((&mut *stream, &mut *rbuf)), st).await? {
                return Ok(());
            }
            if st.wait_seq > 0 || st.read_barrier {
                wait_durable(server, st).await;
            }
            // The rest of the input (pipelined behind the blocking command) runs next.
            continue;
        }
        if flow == Flow::Paused {
            if !st.out.is_empty() {
                stream.write_all(st.out.as_bytes()).await?;
                stream.flush().await?;
                st.out.clear();
            }
            if !run_after_pause(server, st).await {
                return Ok(());
            }
            if st.blocked.is_some() {
                if !wait_blocked(server, Some((&mut *stream, &mut *rbuf)), st).await? {
                    return Ok(());
                }
                if st.wait_seq > 0 || st.read_barrier {
                    wait_durable(server, st).await;
                }
            }
            continue;
        }
        if flow == Flow::Save {
            save(server, st).await;
        }
        if flow == Flow::Forward {
            forward(server, st).await;
        }
        if flow == Flow::Group {
            group_op(server, st).await;
        }
        if !st.out.is_empty() {
            // Let the other connections that are ready run their requests first, then
            // answer: replies leave in a burst, as Redis sends its replies once it has
            // served every client that was ready. A client answered in the middle of that
            // work goes to sleep before the next reply comes and must be woken for each
            // one, which costs the server (the wake-up runs in its send) more than the
            // request itself when requests are slow: `EVALSHA` of a 10-key script went
            // from 0.85x to 0.99x Redis's throughput (docs/performance.md).
            tokio::task::yield_now().await;
            if !write_out(stream, st, &server.normal_limits).await? {
                return Ok(());
            }
            server
                .stats
                .net_output
                .fetch_add(st.out.len() as u64, Ordering::Relaxed);
            st.out.clear();
        }
        if flow == Flow::Close {
            return Ok(());
        }
        let limit = server.query_buffer_limit.load(Ordering::Relaxed);
        if rbuf.len() as u64 > limit {
            tracing::warn!(client = st.handle.id, addr = %st.handle.addr, "closing client that reached max query buffer length");
            return Ok(());
        }
        if st.handle.killed.load(Ordering::Relaxed) || server.shutting_down.load(Ordering::Relaxed)
        {
            return Ok(());
        }
        if st.handle.acl_recheck.swap(false, Ordering::Relaxed)
            && !crate::acl::subscriptions_allowed(server, st)
        {
            tracing::info!(
                client = st.handle.id,
                "closing a subscriber whose user may no longer use its channels"
            );
            return Ok(());
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(16 * 1024);
        }
        let timeout = server.timeout.load(Ordering::Relaxed);
        let idle = async {
            if timeout == 0 {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(Duration::from_secs(timeout)).await;
            }
        };
        let monitor_rx = &mut st.monitor_rx;
        let monitor = async {
            match monitor_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let subs = &mut st.subs;
        let message = async {
            match subs.as_mut() {
                Some(s) => s.rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let push_rx = &mut st.push_rx;
        let pushed = async {
            match push_rx.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            r = stream.read_buf(rbuf) => Event::Read(r?),
            _ = st.handle.wake.notified() => Event::Wake,
            m = monitor => Event::Monitor(m),
            m = message => Event::Message(m),
            Some(m) = pushed => Event::Push(m),
            _ = idle => Event::Idle,
        };
        match event {
            Event::Read(0) => return Ok(()),
            Event::Read(n) => {
                server
                    .stats
                    .net_input
                    .fetch_add(n as u64, Ordering::Relaxed);
            }
            Event::Wake => {}
            Event::Message(None) => return Ok(()),
            Event::Message(Some(msg)) => {
                // Let the publishers that are ready run first, so that one write carries
                // every message they queue meanwhile (a write per message per subscriber
                // would cost a system call each).
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                st.batch_start = st.out.len();
                st.batch_commands = 0;
                st.wait_seq = deliver_messages(st, msg);
                if st.wait_seq > 0 {
                    // Keyspace events of writes not yet durable wait for them; if the log
                    // failed instead, those writes may be lost and their events are dropped.
                    wait_durable(server, st).await;
                }
            }
            Event::Push(msg) => {
                st.batch_start = st.out.len();
                st.batch_commands = 0;
                deliver_pushes(st, msg);
            }
            Event::Monitor(Ok(line)) => {
                st.out.raw(line.as_bytes());
            }
            Event::Monitor(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!(
                    client = st.handle.id,
                    skipped = n,
                    "monitor client too slow, lines dropped"
                );
            }
            Event::Monitor(Err(broadcast::error::RecvError::Closed)) => return Ok(()),
            Event::Idle => {
                tracing::debug!(client = st.handle.id, "closing idle client");
                return Ok(());
            }
        }
    }
}

/// Runs the command kept in `st.forward` on the group's leader and appends its reply.
async fn forward(server: &Arc<Server>, st: &mut ConnState) {
    let Some(commands) = st.forward.take() else {
        return;
    };
    let session = st.forward_session.take();
    match crate::group::forward(server, st.db, st.out.version(), &commands, session).await {
        Ok((reply, kept)) => {
            if session.is_some() {
                crate::transaction::set_remote(st, kept);
            }
            st.out.raw(&reply);
        }
        Err(msg) => {
            // An EXEC's session the leader may not have ended: released, in case.
            if let Some(id) = session.filter(|id| *id != 0 && st.tx_remote() != Some(*id)) {
                server.remote_watches.release_later(id);
            }
            st.out.error(&msg);
        }
    }
}

/// Runs and answers the group operation kept in `st.group_op`.
async fn group_op(server: &Arc<Server>, st: &mut ConnState) {
    let Some(op) = st.group_op.take() else {
        return;
    };
    match crate::group::run_op(server, op).await {
        Ok(Some(n)) => st.out.int(n),
        Ok(None) => st.out.ok(),
        Err(msg) => st.out.error(&msg),
    }
}

/// Whether this node must hand data commands to its group's leader: it is in a group and
/// does not lead it. `None` when it may run them; otherwise the error to answer instead,
/// if the command cannot be handed on (it came from another node already).
fn not_leader(
    server: &Server,
    st: &ConnState,
    spec: &flashdb_core::CommandSpec,
) -> Option<Option<&'static str>> {
    let g = server.group.get()?;
    if g.is_ready_leader() {
        return None;
    }
    // Connection commands (SELECT, ECHO) read no data and act on this connection: run
    // on the leader, SELECT changed the database of a session that ends with the request.
    if spec.group == "connection" {
        return None;
    }
    let stale_ok = st.readonly || server.config.group.as_ref().is_some_and(|c| c.stale_reads);
    if stale_ok && !spec.has(flag::WRITE) && !st.forwarded {
        return None;
    }
    Some(
        st.forwarded
            .then_some("TRYAGAIN this node stopped leading the replication group"),
    )
}

/// `SAVE`: writes a snapshot (in the background thread that `BGSAVE` uses, so that this
/// runtime worker stays free) and replies when it is done. `BACKUP` alike, into its
/// directory, on a blocking thread.
async fn save(server: &Arc<Server>, st: &mut ConnState) {
    if let Some(to) = st.backup_to.take() {
        let srv = server.clone();
        let result = tokio::task::spawn_blocking(move || crate::backup::take(&srv, &to))
            .await
            .unwrap_or_else(|_| Err("the backup thread ended".into()));
        match result {
            Ok(r) => {
                st.out.map(4);
                st.out.bulk(b"dir");
                st.out.bulk(r.dir.to_string_lossy().as_bytes());
                st.out.bulk(b"seq");
                st.out.int(r.seq as i64);
                st.out.bulk(b"bytes");
                st.out.int(r.bytes as i64);
                st.out.bulk(b"duration_ms");
                st.out.int(r.duration_ms as i64);
            }
            Err(e) => st.out.error(&format!("ERR {e}")),
        }
        return;
    }
    let result = match server.persistence.get() {
        Some(p) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if p.spawn_snapshot_then(server.clone(), move |r| {
                let _ = tx.send(r);
            }) {
                rx.await
                    .unwrap_or_else(|_| Err("snapshot thread ended".into()))
            } else {
                Err("Background save already in progress".into())
            }
        }
        None => Err("persistence is off".into()),
    };
    match result {
        Ok(_) => st.out.ok(),
        Err(e) => st.out.error(&format!("ERR {e}")),
    }
}

/// Runs one command for a client that has no RESP connection (the HTTP API), as a
/// connection would: a blocking command waits (without reading more input), `SAVE`
/// snapshots, and the reply is left in `st.out` once the command's writes are durable.
pub async fn run_detached(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    st.now_ms = flashdb_core::keyspace::unix_ms();
    st.last_tick = Instant::now();
    st.batch_start = st.out.len();
    st.batch_commands = 0;
    flashdb_core::log_entry::take_last_seq();
    let flow = run_command(server, st, args);
    st.wait_seq = flashdb_core::log_entry::take_last_seq();
    st.flush_stats(server);
    if st.wait_seq > 0 || st.read_barrier {
        wait_durable(server, st).await;
    }
    match flow {
        Flow::Block => {
            // Without a connection there is no input to read and no error to expect.
            let _ = wait_blocked::<TcpStream>(server, None, st).await;
            if st.wait_seq > 0 || st.read_barrier {
                wait_durable(server, st).await;
            }
        }
        Flow::Save => save(server, st).await,
        Flow::Forward => forward(server, st).await,
        Flow::Group => group_op(server, st).await,
        Flow::Paused => {
            if run_after_pause(server, st).await && st.blocked.is_some() {
                let _ = wait_blocked::<TcpStream>(server, None, st).await;
                if st.wait_seq > 0 || st.read_barrier {
                    wait_durable(server, st).await;
                }
            }
        }
        Flow::Continue | Flow::Close => {}
    }
    flow
}

/// Waits until `CLIENT PAUSE` lets the held-back command run, then runs it (and what it
/// leads to: a save, a forward, durability); false when the connection must close.
async fn run_after_pause(server: &Arc<Server>, st: &mut ConnState) -> bool {
    while let Some(args) = st.paused.take() {
        loop {
            let now = flashdb_core::keyspace::unix_ms();
            let pause = *server.pause.lock();
            if pause.until_ms > now {
                let left = Duration::from_millis(pause.until_ms - now);
                tokio::select! {
                    _ = tokio::time::sleep(left) => {}
                    _ = server.pause_changed.notified() => {}
                    _ = st.handle.wake.notified() => {}
                }
            } else if server.scripting.holds_up(now) {
                // Until the script ends, or has run long enough for a -BUSY reply.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                    _ = server.scripting.done.notified() => {}
                    _ = st.handle.wake.notified() => {}
                }
            } else {
                break;
            }
            if st.handle.killed.load(Ordering::Relaxed)
                || server.shutting_down.load(Ordering::Relaxed)
            {
                return false;
            }
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        st.now_ms = flashdb_core::keyspace::unix_ms();
        st.last_tick = Instant::now();
        st.batch_start = st.out.len();
        st.batch_commands = 0;
        flashdb_core::log_entry::take_last_seq();
        let flow = run_command(server, st, &refs);
        st.wait_seq = flashdb_core::log_entry::take_last_seq();
        st.flush_stats(server);
        if st.wait_seq > 0 || st.read_barrier {
            wait_durable(server, st).await;
        }
        match flow {
            Flow::Save => save(server, st).await,
            Flow::Forward => forward(server, st).await,
            Flow::Group => group_op(server, st).await,
            Flow::Close => return false,
            // Paused again (a new pause came first): the loop waits again.
            Flow::Paused | Flow::Block | Flow::Continue => {}
        }
    }
    true
}

/// Whether the replies waiting for a client (not a subscriber: those have their own
/// class) pass `client-output-buffer-limit normal`'s hard limit; if so they are dropped
/// and the client is to be closed, as Redis closes it, rather than grow without bound.
fn over_hard_limit(server: &Server, st: &mut ConnState) -> bool {
    let hard = server.normal_limits.hard.load(Ordering::Relaxed);
    if hard == 0 || st.subs.is_some() || (st.out.len() as u64) <= hard {
        return false;
    }
    tracing::warn!(
        client = st.handle.id,
        addr = %st.handle.addr,
        bytes = st.out.len(),
        "closing a client whose unread replies passed client-output-buffer-limit normal"
    );
    st.out.clear();
    true
}

/// Writes the pending replies; returns false, without finishing, if the client is killed
/// meanwhile (a subscriber past its output limit, `CLIENT KILL`), so that a client that
/// stopped reading cannot keep its connection open by filling the socket.
async fn write_out<S: ClientIo>(
    stream: &mut S,
    st: &ConnState,
    limits: &crate::pubsub::Limits,
) -> std::io::Result<bool> {
    let buf = st.out.as_bytes();
    let mut written = 0;
    // The soft limit of the client's class: replies that stay unread past it for its
    // seconds close the client. (Subscribers' limits are kept by the hub.)
    let soft = limits.soft.load(Ordering::Relaxed);
    let soft_secs = limits.soft_secs.load(Ordering::Relaxed);
    let watch_soft = soft > 0 && st.subs.is_none();
    let mut soft_since: Option<Instant> = None;
    // The usual case: the socket takes it all at once, without waiting on anything.
    while written < buf.len() {
        match stream.try_write_now(&buf[written..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    while written < buf.len() {
        let pending = (buf.len() - written) as u64;
        if watch_soft && pending > soft {
            let since = *soft_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= Duration::from_secs(soft_secs) {
                tracing::warn!(
                    client = st.handle.id,
                    addr = %st.handle.addr,
                    bytes = pending,
                    "closing a client whose unread replies stayed past client-output-buffer-limit normal's soft limit"
                );
                return Ok(false);
            }
        } else {
            soft_since = None;
        }
        let soft_deadline = async {
            match soft_since {
                Some(t) => {
                    let left = Duration::from_secs(soft_secs).saturating_sub(t.elapsed());
                    tokio::time::sleep(left).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            r = stream.write(&buf[written..]) => {
                let n = r?;
                if n == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                written += n;
            }
            _ = st.handle.wake.notified() => {
                if st.handle.killed.load(Ordering::Relaxed) {
                    return Ok(false);
                }
            }
            _ = soft_deadline => {}
        }
    }
    // TLS keeps what it could not send yet; a TCP socket has nothing to flush.
    loop {
        tokio::select! {
            biased;
            r = stream.flush() => {
                r?;
                return Ok(true);
            }
            _ = st.handle.wake.notified() => {
                if st.handle.killed.load(Ordering::Relaxed) {
                    return Ok(false);
                }
            }
        }
    }
}

/// Encodes a published message for this client, and the others already queued, up to a
/// write's worth, so that a burst of messages goes out in few writes. Returns the log
/// record they must wait for (0: none).
fn deliver_messages(st: &mut ConnState, first: Arc<crate::pubsub::Message>) -> u64 {
    let Some(subs) = st.subs.as_mut() else {
        return 0;
    };
    let mut next = Some(first);
    let mut taken = 0;
    let mut after_seq = 0;
    while let Some(msg) = next.take() {
        taken += msg.cost();
        after_seq = after_seq.max(msg.after_seq);
        msg.encode(&mut st.out);
        if st.out.len() < 256 * 1024 {
            next = subs.rx.try_recv().ok();
        }
    }
    subs.sub.taken(taken);
    after_seq
}

/// Encodes a client-side caching message for this client, and the others already
/// queued, up to a write's worth.
fn deliver_pushes(st: &mut ConnState, first: Arc<crate::pubsub::Message>) {
    let mut next = Some(first);
    let mut taken = 0;
    while let Some(msg) = next.take() {
        taken += msg.cost();
        msg.encode(&mut st.out);
        if st.out.len() < 256 * 1024 {
            next = st.push_rx.as_mut().and_then(|rx| rx.try_recv().ok());
        }
    }
    st.handle.push.taken(taken);
}

/// Parses and runs every complete request in `rbuf`.
fn process_input(
    server: &Arc<Server>,
    st: &mut ConnState,
    rbuf: &mut BytesMut,
    parser: &mut RequestParser,
) -> Flow {
    if rbuf.is_empty() {
        return Flow::Continue;
    }
    st.now_ms = flashdb_core::keyspace::unix_ms();
    st.last_tick = Instant::now();
    st.batch_start = st.out.len();
    st.batch_commands = 0;
    // Commands run synchronously on this thread: the log records they append are noted
    // in a thread-local, read back right after the batch.
    flashdb_core::log_entry::take_last_seq();
    let flow = process_batch(server, st, rbuf, parser);
    st.wait_seq = flashdb_core::log_entry::take_last_seq();
    st.flush_stats(server);
    flow
}

/// Under `appendfsync always`, waits until this batch's log records are on disk. If the log
/// failed instead, the batch's replies are replaced by errors: nothing that did not reach
/// the disk is acknowledged.
async fn wait_durable(server: &Arc<Server>, st: &mut ConnState) {
    let seq = std::mem::take(&mut st.wait_seq);
    let barrier = std::mem::take(&mut st.read_barrier);
    // A failure wins over a durable sequence number: once the log failed, nothing more is
    // acknowledged, even a record that a later fsync may have covered.
    let mut settled = server.wait_durable(seq).await;
    if settled.is_ok() && barrier {
        if let Some(g) = server.group.get() {
            settled = g
                .read_barrier()
                .await
                .map_err(|e| Arc::from(format!("TRYAGAIN {e}")));
        }
    }
    if let Err(msg) = settled {
        st.out.truncate(st.batch_start);
        for _ in 0..st.batch_commands {
            st.out.error(&msg);
        }
    }
}

fn process_batch(
    server: &Arc<Server>,
    st: &mut ConnState,
    rbuf: &mut BytesMut,
    parser: &mut RequestParser,
) -> Flow {
    loop {
        if st.handle.killed.load(Ordering::Relaxed) {
            return Flow::Close;
        }
        let limits = ParserLimits {
            max_bulk_len: server.proto_max_bulk_len.load(Ordering::Relaxed),
            authenticated: st.authenticated,
        };
        match parser.parse(rbuf, &limits) {
            Ok(Parsed::Request { consumed }) => {
                let inline = rbuf.first() != Some(&b'*');
                let flow = {
                    let ranges = parser.args();
                    let buf: &[u8] = rbuf;
                    if inline && ranges.iter().any(|r| inline_arg_is_quoted(&buf[r.clone()])) {
                        let owned: Vec<Vec<u8>> = ranges
                            .iter()
                            .map(|r| decode_inline_arg(&buf[r.clone()]))
                            .collect();
                        let args: SmallVec<[&[u8]; 8]> =
                            owned.iter().map(|a| a.as_slice()).collect();
                        run_command(server, st, &args)
                    } else {
                        let args: SmallVec<[&[u8]; 8]> =
                            ranges.iter().map(|r| &buf[r.clone()]).collect();
                        run_command(server, st, &args)
                    }
                };
                parser.reset();
                rbuf.advance(consumed);
                if over_hard_limit(server, st) {
                    return Flow::Close;
                }
                if flow != Flow::Continue {
                    return flow;
                }
            }
            Ok(Parsed::Empty { consumed }) => {
                parser.reset();
                rbuf.advance(consumed);
            }
            Ok(Parsed::Incomplete { hint }) => {
                if let Some(total) = hint {
                    // Reserve for a large bulk string up front, but never more than the
                    // query-buffer limit allows.
                    let limit = server.query_buffer_limit.load(Ordering::Relaxed) as usize;
                    let want = total.min(limit.saturating_add(1));
                    if want > rbuf.capacity() {
                        rbuf.reserve(want - rbuf.len());
                    }
                }
                return Flow::Continue;
            }
            Err(e) => {
                tracing::debug!(client = st.handle.id, error = %e, "protocol error");
                st.out.error(&format!("ERR {e}"));
                st.pending_errors += 1;
                return Flow::Close;
            }
        }
    }
}

/// Refuses a command before it runs: its error reply, a failed transaction if one is
/// being queued, and the statistics of a rejected call.
fn reject(
    server: &Arc<Server>,
    st: &mut ConnState,
    spec: &'static flashdb_core::CommandSpec,
    start_len: usize,
    error: &str,
) -> Flow {
    st.tx.fail();
    st.out.error(error);
    st.record(command_index(spec), 0, false, true);
    st.pending_errors += 1;
    server.count_error(&st.out.as_bytes()[start_len..]);
    apply_reply_mode(st, start_len);
    Flow::Continue
}

/// Takes a token from the client's user's bucket and its address's, when they have
/// limits; the refusal is the reply when one is empty.
fn rate_limited(server: &Arc<Server>, st: &mut ConnState) -> Option<String> {
    use crate::ratelimit::chunk;
    use crate::ratelimit::refusal_text;
    if let Some(limit) = st.rules.rate_limit() {
        if st.user_tokens > 0 {
            st.user_tokens -= 1;
        } else {
            match st.user.bucket.take_up_to(limit, chunk(limit)) {
                Ok(got) => st.user_tokens = got - 1,
                Err(wait) => {
                    server
                        .ratelimits
                        .rejected_user
                        .fetch_add(1, Ordering::Relaxed);
                    let whose = format!("user '{}'", st.user.name_lossy());
                    return Some(refusal_text(&whose, limit, wait));
                }
            }
        }
    }
    if let Some(limit) = server.ratelimits.per_address() {
        if st.addr_tokens > 0 {
            st.addr_tokens -= 1;
            return None;
        }
        let bucket = st.addr_bucket.get_or_insert_with(|| {
            let ip = crate::auth_limit::ip_of(&st.handle.addr)
                .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            server.ratelimits.bucket_for(ip)
        });
        match bucket.take_up_to(limit, chunk(limit)) {
            Ok(got) => st.addr_tokens = got - 1,
            Err(wait) => {
                server
                    .ratelimits
                    .rejected_address
                    .fetch_add(1, Ordering::Relaxed);
                return Some(refusal_text("this client address", limit, wait));
            }
        }
    }
    None
}

/// Whether a request's first word is an HTTP request line's `POST` or a `Host:` header,
/// which Redis treats as an attack.
fn is_http_line(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(b"post") || word.eq_ignore_ascii_case(b"host:")
}

/// Runs one request and records its statistics.
pub fn run_command(server: &Arc<Server>, st: &mut ConnState, args: &[&[u8]]) -> Flow {
    st.pending_commands += 1;
    st.batch_commands += 1;
    let start_len = st.out.len();
    let spec = match resolve(args) {
        Resolved::Command(spec) => spec,
        Resolved::Error(_) if is_http_line(args[0]) => {
            // An HTTP request sent to this port, most likely by a web page that a browser
            // was made to send here (cross-protocol scripting): closed at once, as Redis
            // does, before the body can carry a command.
            tracing::warn!(
                client = st.handle.id,
                addr = %st.handle.addr,
                "possible security attack: an HTTP request (POST or Host:) sent to the Redis port; connection closed"
            );
            return Flow::Close;
        }
        Resolved::Error(msg) => {
            st.tx.fail();
            if st.authenticated {
                st.out.error(&msg);
            } else {
                st.out.error("NOAUTH Authentication required.");
            }
            if let Some(spec) = flashdb_core::table::lookup(args[0]) {
                st.record(command_index(spec), 0, false, true);
            }
            st.pending_errors += 1;
            server.count_error(&st.out.as_bytes()[start_len..]);
            apply_reply_mode(st, start_len);
            return Flow::Continue;
        }
    };
    if !st.authenticated && !spec.has(flag::NO_AUTH) {
        return reject(
            server,
            st,
            spec,
            start_len,
            "NOAUTH Authentication required.",
        );
    }
    if !st.acl_exempt {
        st.refresh_rules(server);
        if !st.rules.unrestricted() {
            if let Err(denied) = st.rules.check(spec, args) {
                let context = if st.tx.active() {
                    crate::acl::Context::Multi
                } else {
                    crate::acl::Context::Toplevel
                };
                crate::acl::record_denial(server, st, spec, args, denied, context);
                let text = crate::acl::noperm_text(spec, denied);
                return reject(server, st, spec, start_len, &text);
            }
        }
    }
    if !st.rate_exempt && !spec.has(flag::NO_AUTH) {
        if let Some(refused) = rate_limited(server, st) {
            return reject(server, st, spec, start_len, &refused);
        }
    }
    if server.eviction.maxmemory.load(Ordering::Relaxed) != 0 && out_of_memory(server, st, spec) {
        if spec.name == "exec" {
            crate::transaction::abort(server, st, crate::evict::OOM_ERROR);
        } else {
            st.tx.fail();
            st.out.error(crate::evict::OOM_ERROR);
        }
        st.record(command_index(spec), 0, false, true);
        st.pending_errors += 1;
        server.count_error(&st.out.as_bytes()[start_len..]);
        apply_reply_mode(st, start_len);
        return Flow::Continue;
    }
    if let Some(refusal) = refusal(server, spec) {
        return reject(server, st, spec, start_len, &refusal);
    }
    if crate::pubsub_cmd::restricted(st) && !spec.has(flag::SUBSCRIBED_OK) {
        let msg = format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", spec.name);
        st.out.error(&msg);
        st.record(command_index(spec), 0, false, true);
        st.pending_errors += 1;
        server.count_error(&st.out.as_bytes()[start_len..]);
        apply_reply_mode(st, start_len);
        return Flow::Continue;
    }
    if st.tx.active() && !spec.has(flag::TX_CONTROL) {
        if spec.has(flag::NO_MULTI) {
            st.tx.fail();
            st.out.error("ERR Command not allowed inside a transaction");
            st.record(command_index(spec), 0, false, true);
            st.pending_errors += 1;
            server.count_error(&st.out.as_bytes()[start_len..]);
        } else {
            crate::transaction::queue(server, st, spec, args);
        }
        apply_reply_mode(st, start_len);
        return Flow::Continue;
    }
    // A running script holds what this command needs: it waits outside the locks, or,
    // once the script has run too long, is refused with -BUSY.
    match server
        .scripting
        .while_running(&server.ks, spec, args, st.now_ms)
    {
        crate::script::WhileRunning::Run => {}
        crate::script::WhileRunning::Wait => {
            st.paused = Some(args.iter().map(|a| a.to_vec()).collect());
            return Flow::Paused;
        }
        crate::script::WhileRunning::Busy(msg) => {
            st.out.error(msg);
            st.record(command_index(spec), 0, false, true);
            st.pending_errors += 1;
            server.count_error(&st.out.as_bytes()[start_len..]);
            apply_reply_mode(st, start_len);
            return Flow::Continue;
        }
    }
    // CLIENT PAUSE: the command waits for its end (UNPAUSE itself never does). Writes
    // include publishing, and an EXEC whose transaction writes.
    let may_write = spec.has(flag::WRITE)
        || spec.name.contains("publish")
        || (spec.name == "exec" && st.tx.may_write());
    if spec.name != "client|unpause" && server.paused_until(may_write, st.now_ms).is_some() {
        st.paused = Some(args.iter().map(|a| a.to_vec()).collect());
        return Flow::Paused;
    }
    if server.monitors.load(Ordering::Relaxed) > 0
        && !spec.has(flag::ADMIN | flag::SKIP_MONITOR | flag::NO_AUTH)
    {
        feed_monitors(server, st, args);
    }
    st.last_spec = Some(spec.name);
    if matches!(spec.handler, Handler::Engine(_)) || crate::script::runs_code(spec) {
        match not_leader(server, st, spec) {
            None => {}
            Some(Some(msg)) => {
                st.out.error(msg);
                apply_reply_mode(st, start_len);
                return Flow::Continue;
            }
            Some(None) => {
                st.forward = Some(vec![args.iter().map(|a| a.to_vec()).collect()]);
                return Flow::Forward;
            }
        }
    }
    if server.group.get().is_some_and(|g| g.is_ready_leader())
        && matches!(spec.handler, Handler::Engine(_))
        && !spec.has(flag::WRITE)
    {
        st.read_barrier = true;
    }
    crate::tracking::set_current(st.handle.id);
    let flow = match spec.handler {
        Handler::Engine(_) => {
            if let Some(keys) = crate::tracking_cmd::keys_to_remember(st, spec, args) {
                let tracking = server.tracking.clone();
                let id = st.handle.id;
                flashdb_core::keyspace::before_unlock(Box::new(move || {
                    tracking.remember(id, &keys)
                }));
            }
            let mut ctx = command_ctx(server, st.db, st.now_ms, &mut st.out, spec);
            execute(&mut ctx, args);
            flashdb_core::keyspace::clear_unlock_hook();
            let block = ctx.block.take();
            if ctx.db != st.db {
                st.db = ctx.db;
                st.handle.db.store(st.db, Ordering::Relaxed);
            }
            match block {
                Some(on) => {
                    st.blocked = Some(BlockedCommand {
                        args: on
                            .args
                            .clone()
                            .unwrap_or_else(|| args.iter().map(|a| a.to_vec()).collect()),
                        on,
                        spec,
                    });
                    Flow::Block
                }
                None => Flow::Continue,
            }
        }
        Handler::Server | Handler::Container => commands::run(server, st, spec, args, None),
    };
    if st.tracking {
        crate::tracking_cmd::after_command(st, spec);
    }
    let tick = Instant::now();
    let usec = tick.duration_since(st.last_tick).as_micros() as u64;
    st.last_tick = tick;
    let failed = st.out.as_bytes().get(start_len) == Some(&b'-');
    st.pending_errors += u64::from(failed);
    if failed {
        server.count_error(&st.out.as_bytes()[start_len..]);
    }
    st.record(command_index(spec), usec, failed, false);
    st.latency[flashdb_storage::histogram::bucket_of(usec)] += 1;
    st.latency_sum += usec;
    if !spec.has(flag::SKIP_SLOWLOG) && server.slowlog.wants(usec) {
        let name = st.handle.name.lock().clone();
        server.slowlog.record(args, usec, &st.handle.addr, &name);
    }
    let event = if spec.has(flag::FAST) {
        "fast-command"
    } else {
        "command"
    };
    server.latency.observe(event, usec / 1000);
    apply_reply_mode(st, start_len);
    flow
}

/// Keeps a client blocked until its command can be served, it times out, or the client
/// goes away; returns false when the connection must close. The command is run again
/// each time one of its keys becomes ready, and once right after queueing, for a push that
/// came between its first attempt and the queueing.
async fn wait_blocked<S: ClientIo>(
    server: &Arc<Server>,
    mut io: Option<(&mut S, &mut BytesMut)>,
    st: &mut ConnState,
) -> std::io::Result<bool> {
    let Some(blocked) = st.blocked.take() else {
        return Ok(true);
    };
    let notify = Arc::new(tokio::sync::Notify::new());
    let n2 = notify.clone();
    // Where a command that makes a key ready leaves this client's reply.
    let handed: HandedReply = Arc::default();
    let handoff = hand_off(server, st, &blocked, handed.clone(), notify.clone());
    let id = server.ks.blocking.register_with(
        st.db,
        &blocked.on.keys,
        Arc::new(move || n2.notify_one()),
        handoff,
    );
    let _unblock = Unblock { ks: &server.ks, id };
    let _flag = BlockedFlag::set(st.handle.clone());
    let deadline = blocked.on.deadline_ms;
    let mut retry_at = blocked.on.retry_at_ms;
    let args: Vec<&[u8]> = blocked.args.iter().map(|a| a.as_slice()).collect();
    loop {
        // Served by the command that made a key ready: its reply waits here.
        if let Some((reply, seq)) = handed.lock().take() {
            st.out.raw(&reply);
            st.wait_seq = st.wait_seq.max(seq);
            return Ok(true);
        }
        st.now_ms = flashdb_core::keyspace::unix_ms();
        if deadline != 0 && st.now_ms >= deadline {
            // A hand-off may have served it meanwhile: its element is taken, so its
            // reply, not the timeout's, is what it gets.
            if let Some((reply, seq)) = stop_waiting(server, id, &handed).await {
                st.out.raw(&reply);
                st.wait_seq = st.wait_seq.max(seq);
            } else {
                blocked.on.timeout.write(&mut st.out);
            }
            return Ok(true);
        }
        // Clients woken together retry in the order they blocked. One that must wait
        // for its turn is woken when it comes, so it does not look again before.
        let turn = server.ks.blocking.may_retry(id);
        if turn {
            match server.ks.blocking.begin_retry(id) {
                Gate::Proceed => {
                    if retry(server, st, &blocked, &args, &mut retry_at) {
                        return Ok(true);
                    }
                    server.ks.blocking.end_retry(id);
                }
                // Another command is serving it right now, or has served it: its reply
                // comes with a wake, and the loop's first check takes it.
                Gate::Busy | Gate::Gone => {}
            }
            server.ks.blocking.retried(id);
        }
        // Wake at the deadline, or earlier when the command asked to look again (a
        // delayed message becomes visible, a lease ends).
        let wake_at = match (deadline, if turn { retry_at } else { 0 }) {
            (0, r) => r,
            (d, 0) => d,
            (d, r) => d.min(r),
        };
        let wait = async {
            if wake_at == 0 {
                std::future::pending::<()>().await;
            } else {
                let left = wake_at.saturating_sub(flashdb_core::keyspace::unix_ms());
                tokio::time::sleep(Duration::from_millis(left)).await;
            }
        };
        // Input that arrives meanwhile waits for the blocking command, as in Redis; end
        // of input means the client left.
        let read = async {
            match io.as_mut() {
                Some((stream, rbuf)) => {
                    if rbuf.capacity() - rbuf.len() < 4096 {
                        rbuf.reserve(16 * 1024);
                    }
                    let n = stream.read_buf(rbuf).await?;
                    Ok::<_, std::io::Error>((n, rbuf.len()))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notify.notified() => {
                // Let the requests already readable run first (twice, as a woken subscriber
                // does): a push wakes this client at once, and a reservation of up to COUNT
                // messages made right away would find that one message where a moment later
                // it finds the burst it belongs to.
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
            }
            _ = wait => {}
            r = read => {
                let (n, buffered) = r?;
                if n == 0 {
                    return Ok(false);
                }
                server.stats.net_input.fetch_add(n as u64, Ordering::Relaxed);
                if buffered as u64 > server.query_buffer_limit.load(Ordering::Relaxed) {
                    return Ok(false);
                }
            }
            _ = st.handle.wake.notified() => {}
        }
        if st.handle.killed.load(Ordering::Relaxed) || server.shutting_down.load(Ordering::Relaxed)
        {
            return Ok(false);
        }
        let how = st.handle.unblock.swap(0, Ordering::AcqRel);
        if how != 0 {
            if let Some((reply, seq)) = stop_waiting(server, id, &handed).await {
                st.out.raw(&reply);
                st.wait_seq = st.wait_seq.max(seq);
            } else if how == 1 {
                blocked.on.timeout.write(&mut st.out);
            } else {
                st.out
                    .error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            }
            return Ok(true);
        }
    }
}

/// Ends a blocked client's wait (timeout, `CLIENT UNBLOCK`) so that no hand-off can
/// serve it afterwards; the reply of one that already did, if any (its element was
/// taken, so that reply must reach the client).
async fn stop_waiting(server: &Server, id: u64, handed: &HandedReply) -> Option<(Vec<u8>, u64)> {
    loop {
        match server.ks.blocking.begin_retry(id) {
            // Marked as running its own command: no hand-off serves it from now on (the
            // guard that unregisters it follows).
            Gate::Proceed => return None,
            // Served: the reply is delivered once the serving command's locks are
            // released, a moment after it left the registry.
            Gate::Gone => {
                if let Some(reply) = handed.lock().take() {
                    return Some(reply);
                }
                tokio::task::yield_now().await;
            }
            // Being served this instant, under the serving command's locks: a matter of
            // microseconds.
            Gate::Busy => tokio::task::yield_now().await,
        }
    }
}

/// Marks a connection blocked while it waits, for `CLIENT UNBLOCK`; clears the mark (and
/// an unblock that came too late) however the wait ends.
struct BlockedFlag(Arc<ClientHandle>);

impl BlockedFlag {
    fn set(h: Arc<ClientHandle>) -> Self {
        h.unblock.store(0, Ordering::Release);
        h.blocked.store(true, Ordering::Release);
        BlockedFlag(h)
    }
}

impl Drop for BlockedFlag {
    fn drop(&mut self) {
        self.0.blocked.store(false, Ordering::Release);
        self.0.unblock.store(0, Ordering::Release);
    }
}

/// The context a command of this connection runs in, outside a transaction.
fn command_ctx<'a, 'h>(
    server: &'a Server,
    db: usize,
    now: u64,
    out: &'h mut ReplyBuf,
    spec: &'static flashdb_core::CommandSpec,
) -> Ctx<'a, 'h> {
    Ctx {
        ks: &server.ks,
        db,
        out,
        limits: server.limits(),
        spec,
        now,
        block: None,
        held: None,
        in_script: false,
    }
}

/// Where a blocked client's reply is left when another command serves it: the reply,
/// and the log record it must wait for.
type HandedReply = Arc<parking_lot::Mutex<Option<(Vec<u8>, u64)>>>;

/// How the command that makes one of its keys ready serves this blocked client under
/// its own locks (Redis's hand-off), for the list and sorted-set blocking commands. The
/// queue commands serve themselves when woken: their dead-letter keys are not known from
/// their arguments.
fn hand_off(
    server: &Arc<Server>,
    st: &ConnState,
    blocked: &BlockedCommand,
    handed: HandedReply,
    notify: Arc<tokio::sync::Notify>,
) -> Option<HandOff> {
    let spec = blocked.spec;
    let wants: fn(&flashdb_core::value::Value) -> bool = match spec.name {
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "blmpop" => flashdb_core::cmd::is::list,
        "bzpopmin" | "bzpopmax" | "bzmpop" => flashdb_core::cmd::is::zset,
        _ => return None,
    };
    let args = blocked.args.clone();
    let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
    let mut keys = Vec::new();
    if !flashdb_core::table::txn_keys(spec, &refs, |i| keys.push(args[i].clone())) {
        return None;
    }
    let (db, version, limits) = (st.db, st.out.version(), server.limits());
    Some(HandOff {
        keys,
        wants,
        serve: Box::new(move |l| {
            let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
            let mut out = ReplyBuf::small(version);
            let mut ctx = Ctx {
                ks: l.keyspace(),
                db,
                out: &mut out,
                limits,
                spec,
                now: flashdb_core::keyspace::unix_ms(),
                block: None,
                held: Some(l),
                in_script: false,
            };
            execute(&mut ctx, &refs);
            let found = ctx.block.is_none();
            found.then(|| out.as_bytes().to_vec())
        }),
        deliver: Box::new(move |reply, seq| {
            *handed.lock() = Some((reply, seq));
            notify.notify_one();
        }),
    })
}

/// Runs a blocked client's command once more; returns whether it was served. If not,
/// `retry_at` becomes when the command asked to look again (0: only when woken).
fn retry(
    server: &Arc<Server>,
    st: &mut ConnState,
    blocked: &BlockedCommand,
    args: &[&[u8]],
    retry_at: &mut u64,
) -> bool {
    flashdb_core::log_entry::take_last_seq();
    st.batch_start = st.out.len();
    st.batch_commands = 1;
    let served = {
        let mut ctx = command_ctx(server, st.db, st.now_ms, &mut st.out, blocked.spec);
        execute(&mut ctx, args);
        match ctx.block.take() {
            None => true,
            Some(on) => {
                *retry_at = on.retry_at_ms;
                false
            }
        }
    };
    // A queue that was settled may have logged moves though nothing was served.
    st.wait_seq = st.wait_seq.max(flashdb_core::log_entry::take_last_seq());
    served
}

/// Why the server refuses to run `spec` now, if it does: the data set is still loading, or
/// the log failed and writes are refused.
/// Evicts keys if memory is over `maxmemory` (every command does, as in Redis), and says
/// whether the command must be refused with `-OOM`: one that may grow memory (`denyoom`),
/// any command queued in a transaction, or an `EXEC` of one that does, when memory stays
/// over the limit because nothing may be evicted.
fn out_of_memory(
    server: &crate::server::Server,
    st: &ConnState,
    spec: &flashdb_core::CommandSpec,
) -> bool {
    if crate::evict::perform(server, None) != crate::evict::Outcome::Fail {
        return false;
    }
    let exempt_in_multi = matches!(spec.name, "exec" | "discard" | "quit" | "reset");
    spec.has(flag::DENYOOM)
        || (st.tx.active() && !exempt_in_multi)
        || (spec.name == "exec" && st.tx.may_grow())
}

pub(crate) fn refusal(server: &Server, spec: &flashdb_core::CommandSpec) -> Option<String> {
    if server.ks.loading() && !spec.has(flag::LOADING) {
        return Some("LOADING Redis is loading the dataset in memory".into());
    }
    if spec.has(flag::WRITE) {
        if let Some(cause) = server.persistence.get().and_then(|p| p.wal.poisoned()) {
            return Some(format!("MISCONF {cause}"));
        }
    }
    None
}

fn apply_reply_mode(st: &mut ConnState, start_len: usize) {
    // RESP3 push frames (a subscription's confirmations) are not replies: they reach
    // the client whatever CLIENT REPLY says, as in Redis.
    let pushes = st.out.as_bytes().get(start_len) == Some(&b'>');
    match st.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off if !pushes => st.out.truncate(start_len),
        ReplyMode::Off => {}
        ReplyMode::SkipArmed => st.reply_mode = ReplyMode::SkipNext,
        ReplyMode::SkipNext => {
            if !pushes {
                st.out.truncate(start_len);
            }
            st.reply_mode = ReplyMode::On;
        }
    }
}

/// Sends a command to `MONITOR` clients, formatted as Redis does.
fn feed_monitors(server: &Arc<Server>, st: &ConnState, args: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        st.db,
        st.handle.addr
    );
    for a in args {
        line.push(' ');
        line.push_str(&flashdb_protocol::repr(a));
    }
    line.push_str("\r\n");
    let _ = server.monitor_tx.send(Arc::from(line));
}
