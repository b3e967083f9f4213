//! State shared by every connection: the keyspace, runtime parameters, the client registry,
//! statistics, the `MONITOR` feed and the shutdown signal.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use flashdb_core::Keyspace;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{broadcast, Notify};

use crate::config::{Config, Params};

/// Counters of the `stats` section of `INFO`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections accepted since start.
    pub connections: AtomicU64,
    /// Connections refused because of `maxclients`.
    pub rejected_connections: AtomicU64,
    /// Commands processed since start.
    pub commands: AtomicU64,
    /// Bytes read from clients.
    pub net_input: AtomicU64,
    /// Bytes written to clients.
    pub net_output: AtomicU64,
    /// Error replies sent, for `total_error_replies`.
    pub error_replies: AtomicU64,
}

/// Per-command counters for `INFO commandstats`.
#[derive(Debug, Default)]
pub struct CommandStat {
    /// Successful and failed executions.
    pub calls: AtomicU64,
    /// Total execution time in microseconds.
    pub usec: AtomicU64,
    /// Rejected before execution (arity, auth).
    pub rejected: AtomicU64,
    /// Executed and answered with an error.
    pub failed: AtomicU64,
    /// Durations, for `LATENCY HISTOGRAM`.
    pub histogram: crate::latency::CommandHistogram,
}

/// What `CLIENT LIST` and `CLIENT KILL` need to know about a connection.
#[derive(Debug)]
pub struct ClientHandle {
    /// Unique, increasing id.
    pub id: u64,
    /// Peer address.
    pub addr: String,
    /// Local address.
    pub laddr: String,
    /// When it connected.
    pub created: Instant,
    /// `CLIENT SETNAME`.
    pub name: Mutex<String>,
    /// `CLIENT SETINFO LIB-NAME` / `LIB-VER`.
    pub lib: Mutex<(String, String)>,
    /// Selected database.
    pub db: AtomicUsize,
    /// Milliseconds since server start of the last command.
    pub last_active_ms: AtomicU64,
    /// Name of the last command.
    pub last_cmd: Mutex<&'static str>,
    /// Protocol version (2 or 3).
    pub resp: AtomicU8,
    /// Whether it is in `MONITOR` mode.
    pub monitor: AtomicBool,
    /// Set by `CLIENT KILL`; the connection closes as soon as it notices.
    pub killed: AtomicBool,
    /// Wakes the connection when it is killed or the server shuts down.
    pub wake: Notify,
    /// Whether it waits in a blocking command (`CLIENT UNBLOCK` may end the wait).
    pub blocked: AtomicBool,
    /// Set by `CLIENT UNBLOCK`: 1 to answer as on timeout, 2 with an `UNBLOCKED` error.
    pub unblock: AtomicU8,
    /// `CLIENT NO-EVICT`: exempt from client eviction.
    pub no_evict: AtomicBool,
    /// Where messages for this client that are not pub/sub messages wait for its
    /// connection: client-side caching's invalidations.
    pub push: Arc<crate::pubsub::Subscriber>,
    /// The receiving end of `push`, until the connection takes it.
    pub push_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Arc<crate::pubsub::Message>>>>,
    /// `CLIENT TRACKING` settings.
    pub tracking: Mutex<crate::tracking::ClientTracking>,
    /// Channels, patterns and shard channels subscribed to.
    pub subscriptions: AtomicUsize,
    /// The ACL user the client is logged in as.
    pub user: Mutex<Arc<crate::acl::User>>,
    /// Set when its user's rules changed while it is subscribed: the connection checks
    /// that its subscriptions are still allowed, and closes if not (as Redis does).
    pub acl_recheck: AtomicBool,
    /// The connection has closed.
    closed: AtomicBool,
}

impl ClientHandle {
    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// A `CLIENT PAUSE` in effect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pause {
    /// Unix milliseconds at which it ends; 0 when there is none.
    pub until_ms: u64,
    /// Whether every command waits (`ALL`), or only those that may write (`WRITE`).
    pub all: bool,
}

/// The server's shared state.
#[derive(Debug)]
pub struct Server {
    /// All databases.
    pub ks: Arc<Keyspace>,
    /// Start-up configuration.
    pub config: Config,
    /// Runtime parameters (`CONFIG GET`/`SET`).
    pub params: RwLock<Params>,
    /// `proto-max-bulk-len`, read on every request.
    pub proto_max_bulk_len: AtomicU64,
    /// `client-query-buffer-limit`.
    pub query_buffer_limit: AtomicU64,
    /// `hll-sparse-max-bytes`.
    pub hll_sparse_max_bytes: AtomicU64,
    /// `maxclients`.
    pub maxclients: AtomicU64,
    /// `timeout` in seconds.
    pub timeout: AtomicU64,
    /// ACL users and the log of denials.
    pub acl: crate::acl::Acl,
    /// Rate limits per address, and the counts of refusals.
    pub ratelimits: crate::ratelimit::RateLimits,
    /// TLS for the RESP port, when `--tls-port` is set.
    pub tls: std::sync::OnceLock<crate::tls::Tls>,
    /// The ledger's index of keys (`--ledger on`).
    pub ledger_index: crate::ledger_index::KeyIndex,
    /// The key that signs the ledger's roots (`--ledger-key`).
    pub ledger_key: std::sync::OnceLock<ed25519_dalek::SigningKey>,
    /// Connected clients by id.
    pub clients: Mutex<HashMap<u64, Arc<ClientHandle>>>,
    next_client_id: AtomicU64,
    /// Counters.
    pub stats: Stats,
    /// Per-command counters, indexed by `flashdb_core::table::command_index`.
    pub cmdstats: Box<[CommandStat]>,
    /// Durations of every command run (each `EXEC` once, as a whole).
    pub cmd_latency: flashdb_storage::Histogram,
    /// Bytes allocated when the server was created (`MEMORY STATS`'s `startup.allocated`).
    pub startup_allocated: usize,
    /// The slow log.
    pub slowlog: crate::slowlog::SlowLog,
    /// The latency monitor.
    pub latency: crate::latency::LatencyMonitor,
    /// When the server started.
    pub started: Instant,
    /// Random id of this run, as Redis's `run_id`.
    pub run_id: String,
    /// The RESP port actually bound.
    pub port: AtomicU64,
    /// Fed with a line per command while at least one client is in `MONITOR` mode.
    pub monitor_tx: broadcast::Sender<Arc<str>>,
    /// Number of clients in `MONITOR` mode.
    pub monitors: AtomicUsize,
    /// Set when the server is shutting down.
    pub shutting_down: AtomicBool,
    /// `client-output-buffer-limit normal`: replies a client leaves unread.
    pub normal_limits: crate::pubsub::Limits,
    /// Error replies by their first word (`INFO errorstats`), at most 128 kinds.
    pub error_stats: Mutex<std::collections::BTreeMap<String, u64>>,
    /// `CLIENT PAUSE`.
    pub pause: Mutex<Pause>,
    /// Client-side caching (`CLIENT TRACKING`).
    pub tracking: Arc<crate::tracking::Tracking>,
    /// `maxmemory` and eviction.
    pub eviction: crate::evict::Eviction,
    /// Lua scripting: the script cache, and what runs now.
    pub scripting: crate::script::Scripting,
    /// `DEBUG SET-ACTIVE-EXPIRE`: whether keys expire in the background.
    pub active_expire: AtomicBool,
    /// Wakes the paused clients when `CLIENT UNPAUSE` (or a new pause) changes it.
    pub pause_changed: Notify,
    /// Wakes the accept loop and the main task for shutdown.
    pub shutdown: Notify,
    /// Wrong passwords per client address (see [`crate::auth_limit`]).
    pub auth_failures: crate::auth_limit::AuthFailures,
    /// `protected-mode`: refuse non-loopback clients while there is no password.
    pub protected_mode: AtomicBool,
    /// `SHUTDOWN NOSAVE`: no snapshot on the way out.
    pub no_final_snapshot: AtomicBool,
    /// A listener bound by `CONFIG SET port|bind`, for the accept loop to take in place
    /// of its own (connections already open stay).
    pub new_listener: Mutex<Option<std::net::TcpListener>>,
    /// Wakes the accept loop when `new_listener` is set.
    pub listener_changed: Notify,
    /// Commands per second over the last second, for `INFO`.
    pub ops_per_sec: AtomicU64,
    /// Unix time of start-up, in seconds.
    pub started_unix: u64,
    /// The `--config` file, if one was given.
    pub config_file: Option<std::path::PathBuf>,
    /// Each parameter's value as last given to `CONFIG SET` (`1gb`, not `1073741824`), so
    /// that `CONFIG REWRITE` writes it in the form the operator used.
    pub config_given: Mutex<BTreeMap<String, String>>,
    /// The parameters as the server started with them: `CONFIG REWRITE` adds to the file
    /// only those changed since.
    pub params_at_start: RwLock<Params>,
    /// The log and snapshots, once recovery has finished (never with `--persistence off`).
    pub persistence: std::sync::OnceLock<Arc<crate::persistence::Persistence>>,
    /// This node's replication group, once joined (`--peers`).
    pub group: std::sync::OnceLock<Arc<flashdb_replication::GroupNode>>,
    /// The Redis protocol address (`HOST:PORT`) of each node of the group, as they
    /// announce it on the group's port: what `ROLE` and `INFO` show of the others.
    pub peer_resp: RwLock<std::collections::BTreeMap<u64, String>>,
    /// Why start-up failed, if it did (recovery errors); the server then exits non-zero.
    pub startup_error: Mutex<Option<String>>,
    /// Pub/sub channels, patterns and their subscribers.
    pub pubsub: Arc<crate::pubsub::Hub>,
    /// On a group node, what is published here on its way to the other members.
    pub fanout: crate::fanout::Fanout,
    /// Every keyspace event while the tap is on (see [`Server::tap_events`]), for
    /// WebSocket clients.
    pub key_events: broadcast::Sender<Arc<crate::pubsub::KeyEvent>>,
    /// Listeners that asked for the tap.
    tap_listeners: Mutex<usize>,
    /// `WATCH` sessions held for other nodes' connections, and this node's to release.
    pub remote_watches: crate::transaction::RemoteWatches,
    /// Becomes true when the server starts shutting down, for tasks that outlive a
    /// single wake-up (the HTTP listener).
    shutdown_flag: tokio::sync::watch::Sender<bool>,
}

/// What a client from another machine gets in protected mode: Redis's text.
pub const PROTECTED_MODE_DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

impl Server {
    /// Whether protected mode refuses a client from `peer`: it is on, the default user has
    /// no password, and the client is not on this machine's loopback interface.
    pub fn refuses_as_protected(&self, peer: std::net::SocketAddr) -> bool {
        self.protected_mode.load(Ordering::Relaxed)
            && self.acl.default_needs_no_password()
            && !peer.ip().to_canonical().is_loopback()
    }

    /// The limits commands enforce, as configured now.
    pub fn limits(&self) -> flashdb_core::Limits {
        flashdb_core::Limits {
            max_bulk_len: self.proto_max_bulk_len.load(Ordering::Relaxed),
            hll_sparse_max_bytes: usize::try_from(
                self.hll_sparse_max_bytes.load(Ordering::Relaxed),
            )
            .unwrap_or(usize::MAX),
        }
    }

    /// Shared state for a server configured by `config`.
    pub fn new(
        config: Config,
        config_file: Option<std::path::PathBuf>,
    ) -> Result<Server, flashdb_scripting::ScriptError> {
        let (monitor_tx, _) = broadcast::channel(16 * 1024);
        let params = Params::new(&config, config.port);
        let run_id: String = (0..40)
            .map(|_| char::from_digit((random_u64() % 16) as u32, 16).unwrap_or('0'))
            .collect();
        let ks = Arc::new(Keyspace::new(config.databases));
        let pubsub = Arc::new(crate::pubsub::Hub::default());
        let (key_events, _) = broadcast::channel(4096);
        let tracking = Arc::new(crate::tracking::Tracking::default());
        ks.set_event_sink(Box::new(crate::pubsub::KeyspaceEvents {
            hub: pubsub.clone(),
            tap: key_events.clone(),
            tracking: tracking.clone(),
        }));
        ks.set_notify_flags(config.notify_keyspace_events);
        ks.set_lfu(config.maxmemory_policy.lfu());
        let scripting = crate::script::Scripting::new()?;
        Ok(Server {
            scripting,
            tracking,
            eviction: crate::evict::Eviction::new(config.maxmemory, config.maxmemory_policy),
            ks,
            proto_max_bulk_len: AtomicU64::new(config.proto_max_bulk_len),
            query_buffer_limit: AtomicU64::new(config.client_query_buffer_limit),
            hll_sparse_max_bytes: AtomicU64::new(flashdb_core::types::hll::SPARSE_MAX_BYTES as u64),
            maxclients: AtomicU64::new(config.maxclients),
            timeout: AtomicU64::new(config.timeout),
            acl: crate::acl::Acl::new(config.requirepass.as_deref(), config.aclfile.clone()),
            tls: std::sync::OnceLock::new(),
            ledger_index: Default::default(),
            ledger_key: std::sync::OnceLock::new(),
            ratelimits: {
                let r = crate::ratelimit::RateLimits::default();
                r.set_per_address(config.ratelimit_per_address);
                r
            },
            protected_mode: AtomicBool::new(config.protected_mode),
            params_at_start: RwLock::new(params.clone()),
            config_given: Mutex::new(BTreeMap::new()),
            params: RwLock::new(params),
            config,
            clients: Mutex::new(HashMap::new()),
            next_client_id: AtomicU64::new(1),
            stats: Stats::default(),
            cmdstats: flashdb_core::table::all_specs()
                .iter()
                .map(|_| CommandStat::default())
                .collect(),
            cmd_latency: flashdb_storage::Histogram::default(),
            startup_allocated: crate::alloc::allocated(),
            slowlog: crate::slowlog::SlowLog::default(),
            latency: crate::latency::LatencyMonitor::default(),
            started: Instant::now(),
            run_id,
            port: AtomicU64::new(0),
            monitor_tx,
            monitors: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            normal_limits: crate::pubsub::Limits::default(),
            error_stats: Mutex::new(std::collections::BTreeMap::new()),
            pause: Mutex::new(Pause::default()),
            active_expire: AtomicBool::new(true),
            pause_changed: Notify::new(),
            shutdown: Notify::new(),
            no_final_snapshot: AtomicBool::new(false),

            auth_failures: Default::default(),
            new_listener: Mutex::new(None),
            listener_changed: Notify::new(),
            ops_per_sec: AtomicU64::new(0),
            started_unix: flashdb_core::keyspace::unix_ms() / 1000,
            config_file,
            persistence: std::sync::OnceLock::new(),
            group: std::sync::OnceLock::new(),
            peer_resp: RwLock::new(std::collections::BTreeMap::new()),
            startup_error: Mutex::new(None),
            pubsub,
            fanout: crate::fanout::Fanout::default(),
            key_events,
            tap_listeners: Mutex::new(0),
            remote_watches: crate::transaction::RemoteWatches::default(),
            shutdown_flag: tokio::sync::watch::channel(false).0,
        })
    }

    /// Completes when the server starts shutting down (at once if it has).
    pub async fn shutdown_signal(&self) {
        let mut rx = self.shutdown_flag.subscribe();
        loop {
            if *rx.borrow_and_update() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// A listener of every keyspace event: the engine produces them while at least one
    /// exists here, or another node of the group asked for them (when none does, writes
    /// do not pay for events nobody reads).
    pub fn tap_events(self: &Arc<Self>) -> EventTap {
        let first = {
            let mut n = self.tap_listeners.lock();
            *n += 1;
            *n == 1
        };
        if first {
            self.refresh_tap();
            // A follower asks the leader for the events of the writes it runs.
            self.fanout.tap_wanted.notify_one();
        }
        EventTap {
            server: self.clone(),
            rx: self.key_events.subscribe(),
        }
    }

    /// Whether a WebSocket client of this node follows keyspace events.
    pub fn has_tap_listeners(&self) -> bool {
        *self.tap_listeners.lock() > 0
    }

    /// Turns the engine's tap on while anyone, here or on another node, follows it.
    /// Decided and set under the listeners' lock, so that of two calls racing (the last
    /// listener leaving, a new one arriving) the later one sets the tap from the count
    /// it sees.
    pub fn refresh_tap(&self) {
        let n = self.tap_listeners.lock();
        self.ks.set_event_tap(*n > 0 || self.fanout.tap_leased());
    }

    /// The client address (host, port) of group node `id`, as it announced it; empty
    /// strings while unknown.
    pub fn peer_host_port(&self, id: u64) -> (String, String) {
        self.peer_resp
            .read()
            .get(&id)
            .and_then(|a| a.rsplit_once(':'))
            .map(|(h, p)| (h.to_string(), p.to_string()))
            .unwrap_or_default()
    }

    /// Resolves once log record `seq` is durable as `appendfsync` defines it (fsynced under
    /// `always`; written to the operating system under `everysec` and `no`, so that a
    /// crash of the process loses no acknowledged write, as in Redis), or committed on a
    /// group node; if it never will be, with the error reply (`MISCONF ...` when the log
    /// failed, `TRYAGAIN ...` when a leadership was lost before the write was
    /// committed). Whatever reveals a write (a reply, a keyspace event, an HTTP response)
    /// awaits this first.
    pub async fn wait_durable(&self, seq: u64) -> Result<(), Arc<str>> {
        if seq == 0 {
            return Ok(());
        }
        if let Some(g) = self.group.get() {
            // On a group node a write is visible once committed on a majority.
            return g
                .local
                .wait_committed(seq)
                .await
                .map_err(|e| Arc::from(format!("TRYAGAIN {e}")));
        }
        let Some(p) = self.persistence.get() else {
            return Ok(());
        };
        p.wal
            .wait_durable(seq)
            .await
            .map_err(|cause| Arc::from(format!("MISCONF {cause}")))
    }

    /// Milliseconds since start, the clock of client idle times.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers a new connection, or returns `None` when `maxclients` is reached.
    pub fn register_client(&self, addr: String, laddr: String) -> Option<Arc<ClientHandle>> {
        let mut clients = self.clients.lock();
        if clients.len() as u64 >= self.maxclients.load(Ordering::Relaxed) {
            self.stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let handle = self.new_client(addr, laddr);
        let id = handle.id;
        clients.insert(id, handle.clone());
        self.stats.connections.fetch_add(1, Ordering::Relaxed);
        Some(handle)
    }

    /// A client handle with a fresh id, not in the registry: for requests that do not come
    /// from a RESP connection (the HTTP API), which `CLIENT LIST` does not show.
    pub fn new_client(&self, addr: String, laddr: String) -> Arc<ClientHandle> {
        let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
        let (push, push_rx) = crate::pubsub::subscriber(None);
        Arc::new(ClientHandle {
            push,
            push_rx: Mutex::new(Some(push_rx)),
            tracking: Mutex::new(crate::tracking::ClientTracking::default()),
            subscriptions: AtomicUsize::new(0),
            user: Mutex::new(self.acl.default_user()),
            acl_recheck: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(String::new()),
            lib: Mutex::new((String::new(), String::new())),
            db: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.uptime_ms()),
            last_cmd: Mutex::new("NULL"),
            resp: AtomicU8::new(2),
            monitor: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
            blocked: AtomicBool::new(false),
            unblock: AtomicU8::new(0),
            no_evict: AtomicBool::new(false),
        })
    }

    /// The pause that holds back a command, if any: every command under `ALL`, those
    /// that may write under `WRITE`. Returns when it ends (Unix milliseconds).
    pub fn paused_until(&self, may_write: bool, now_ms: u64) -> Option<u64> {
        let p = *self.pause.lock();
        (p.until_ms > now_ms && (p.all || may_write)).then_some(p.until_ms)
    }

    /// Forgets a closed connection.
    pub fn unregister_client(&self, id: u64) {
        if let Some(c) = self.clients.lock().remove(&id) {
            c.closed.store(true, Ordering::Relaxed);
            self.tracking.disable(&self.ks, &c);
        }
    }

    /// Counts an error reply (`-CODE message`) under its code, as `INFO errorstats`
    /// reports them; past 128 kinds, new ones are not tracked (as in Redis).
    pub fn count_error(&self, reply: &[u8]) {
        let body = reply.strip_prefix(b"-").unwrap_or(reply);
        let end = body
            .iter()
            .position(|&b| b == b' ' || b == b'\r')
            .unwrap_or(body.len());
        let code = String::from_utf8_lossy(&body[..end]).into_owned();
        let mut stats = self.error_stats.lock();
        if let Some(n) = stats.get_mut(&code) {
            *n += 1;
        } else if stats.len() < 128 {
            stats.insert(code, 1);
        }
    }

    /// Zeroes every per-command counter (`CONFIG RESETSTAT`).
    pub fn reset_cmdstats(&self) {
        self.error_stats.lock().clear();
        for s in self.cmdstats.iter() {
            s.calls.store(0, Ordering::Relaxed);
            s.usec.store(0, Ordering::Relaxed);
            s.rejected.store(0, Ordering::Relaxed);
            s.failed.store(0, Ordering::Relaxed);
            s.histogram.reset();
        }
    }

    /// Starts a clean shutdown: connections finish what they are doing and close.
    pub fn begin_shutdown(&self) {
        if !self.shutting_down.swap(true, Ordering::SeqCst) {
            self.shutdown_flag.send_replace(true);
            // One waiter (the accept loop); a stored permit survives a loop between polls.
            self.shutdown.notify_one();
            for c in self.clients.lock().values() {
                c.wake.notify_one();
            }
        }
    }
}

/// A subscription to every keyspace event; the tap goes off when the last one is dropped.
#[derive(Debug)]
pub struct EventTap {
    server: Arc<Server>,
    /// The events, lagging (with a count of those lost) when read too slowly.
    pub rx: broadcast::Receiver<Arc<crate::pubsub::KeyEvent>>,
}

impl Drop for EventTap {
    fn drop(&mut self) {
        let last = {
            let mut n = self.server.tap_listeners.lock();
            *n -= 1;
            *n == 0
        };
        if last {
            self.server.refresh_tap();
        }
    }
}

/// A random number for ids; not for anything secret. Each call hashes with fresh keys
/// (`RandomState` seeds each thread at random and steps its keys with every use), so
/// calls in the same nanosecond still differ.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
