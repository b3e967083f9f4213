//! Configuration: command-line flags, the TOML file given with `--config`, and the
//! parameters `CONFIG GET`/`CONFIG SET` see at run time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use serde::Deserialize;

/// Command-line flags. Each has a TOML key of the same name with `_` for `-`; a flag given
/// on the command line wins over the file.
/// The version `flashdb --version` prints: the release and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("FLASHDB_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "flashdb",
    version = VERSION,
    about = "FlashDB: a durable, Redis-compatible data server",
    // A flag given twice takes its last value, as redis-server's arguments do (scripts
    // append overrides to a fixed command line).
    args_override_self = true
)]
pub struct Cli {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address for both listeners [default: 127.0.0.1].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// RESP (Redis protocol) port; 0 picks a free port [default: 6379].
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// HTTP port (REST API, WebSocket, dashboard, metrics); 0 picks a free port [default: 8080].
    #[arg(long, value_name = "N")]
    pub http_port: Option<u16>,
    /// Largest HTTP request body accepted, in bytes or with a unit (1mb) [default: 16mb].
    #[arg(long, value_name = "BYTES")]
    pub http_max_body: Option<String>,
    /// Host names the HTTP API answers to besides IP addresses and localhost (a request
    /// naming another host in `Host`, or coming from a web page of another origin, is
    /// refused: DNS rebinding and cross-site requests); `*` for any [default: none].
    #[arg(long, value_name = "HOST,...")]
    pub http_allowed_hosts: Option<String>,
    /// HTTP connections served at once; more are closed as they arrive, so that HTTP
    /// clients cannot take the descriptors RESP clients need [default: 1024].
    #[arg(long, value_name = "N")]
    pub http_max_connections: Option<usize>,
    /// Data directory, created if missing [default: ./data].
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// Number of logical databases [default: 16].
    #[arg(long, value_name = "N")]
    pub databases: Option<usize>,
    /// Password of the default user (AUTH).
    #[arg(long, value_name = "PASS")]
    pub requirepass: Option<String>,
    /// ACL file: `user <name> rules...` lines, loaded at start-up (an error in it stops
    /// the server), reloaded by ACL LOAD and written by ACL SAVE.
    #[arg(long, value_name = "PATH")]
    pub aclfile: Option<PathBuf>,
    /// Port for RESP over TLS (0: none) [default: 0].
    #[arg(long, value_name = "N")]
    pub tls_port: Option<u16>,
    /// The server's TLS certificate chain (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of --tls-cert-file (PEM).
    #[arg(long, value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, value_name = "PATH")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Whether TLS clients must present a certificate: yes, no or optional [default: yes].
    #[arg(long, value_name = "yes|no|optional")]
    pub tls_auth_clients: Option<String>,
    /// TLS versions allowed: "TLSv1.2", "TLSv1.3" or both [default: both].
    #[arg(long, value_name = "LIST")]
    pub tls_protocols: Option<String>,
    /// Serve the HTTP port as HTTPS, with --tls-cert-file and --tls-key-file [default: no].
    #[arg(long, value_name = "yes|no")]
    pub tls_http: Option<String>,
    /// Keep a tamper-evident ledger over the log: every record a leaf of an RFC 9162
    /// Merkle tree, and the segments snapshots cover archived, not deleted [default: off].
    #[arg(long, value_name = "on|off")]
    pub ledger: Option<String>,
    /// With --ledger on: an Ed25519 private key (PKCS#8 PEM, as `openssl genpkey
    /// -algorithm ed25519` writes it) that signs the ledger's roots.
    #[arg(long, value_name = "PATH")]
    pub ledger_key: Option<PathBuf>,
    /// Mutual TLS between the nodes of a replication group: the group port speaks TLS,
    /// with --tls-cert-file as each node's identity and --tls-ca-cert-file as the CA
    /// peers must chain to [default: no].
    #[arg(long, value_name = "yes|no")]
    pub tls_replication: Option<String>,
    /// Commands (and HTTP requests) per second a client address may send: RATE or
    /// RATE/BURST, or off [default: off].
    #[arg(long, value_name = "RATE[/BURST]|off")]
    pub ratelimit_per_address: Option<String>,
    /// CN: a TLS client whose certificate's common name is an ACL user that is on is
    /// logged in as that user, without AUTH; off: never [default: off].
    #[arg(long, value_name = "CN|off")]
    pub tls_auth_clients_user: Option<String>,
    /// error, warn, info, debug or trace [default: info].
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// How log lines look: text (key=value, for people) or json (one object per line,
    /// for log collectors) [default: text].
    #[arg(long, value_name = "text|json")]
    pub log_format: Option<String>,
    /// Most clients connected at once [default: 10000].
    #[arg(long, value_name = "N")]
    pub maxclients: Option<u64>,
    /// Close clients idle for this many seconds; 0 never [default: 0].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Largest bulk string accepted, in bytes or with a unit (512mb) [default: 512mb].
    #[arg(long, value_name = "BYTES")]
    pub proto_max_bulk_len: Option<String>,
    /// Largest unparsed input buffered per client before it is disconnected [default: 1gb].
    #[arg(long, value_name = "BYTES")]
    pub client_query_buffer_limit: Option<String>,
    /// When writes are fsynced: always (before the reply), everysec, or no [default: always].
    #[arg(long, value_name = "POLICY")]
    pub appendfsync: Option<String>,
    /// on: persist to --dir; off: pure in-memory, nothing written [default: on].
    #[arg(long, value_name = "on|off")]
    pub persistence: Option<String>,
    /// Size of a write-ahead log segment file [default: 64mb].
    #[arg(long, value_name = "BYTES")]
    pub wal_segment_size: Option<String>,
    /// Log written since the last snapshot that triggers a new one [default: 256mb].
    #[arg(long, value_name = "BYTES")]
    pub snapshot_threshold: Option<String>,
    /// Microseconds a worker that ran out of work keeps polling before it sleeps; 0 sleeps
    /// at once (for hosts where idle CPU must not be spent) [default: 5].
    #[arg(long, value_name = "US")]
    pub idle_spin_us: Option<u64>,
    /// Memory limit for data, in bytes or with a unit (4gb); past it keys are evicted by
    /// --maxmemory-policy, or writes refused with -OOM; 0 for none [default: 0].
    #[arg(long, value_name = "BYTES")]
    pub maxmemory: Option<String>,
    /// Which keys go when memory passes --maxmemory: noeviction, allkeys-lru,
    /// allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random or
    /// volatile-ttl [default: noeviction].
    #[arg(long, value_name = "POLICY")]
    pub maxmemory_policy: Option<String>,
    /// Who may run DEBUG: no, yes, or local (loopback connections only) [default: no].
    #[arg(long, value_name = "no|yes|local")]
    pub enable_debug_command: Option<String>,
    /// yes: while the default user has no password, connections from other machines
    /// (not loopback) are refused with Redis's DENIED explanation [default: yes].
    #[arg(long, value_name = "yes|no")]
    pub protected_mode: Option<String>,
    /// This node's id in its replication group (a positive integer, unique in the group).
    #[arg(long, value_name = "N")]
    pub node_id: Option<u64>,
    /// Port for the group's own traffic (Raft messages, snapshots, forwarded commands).
    #[arg(long, value_name = "N")]
    pub raft_port: Option<u16>,
    /// Every voter of the group at first start, this node included, the same list on
    /// every node: ID@HOST:RAFTPORT,... Without it the server is a single node.
    #[arg(long, value_name = "ID@HOST:PORT,...")]
    pub peers: Option<String>,
    /// How a follower serves reads: linearizable (through the leader) or stale (from its
    /// own memory) [default: linearizable].
    #[arg(long, value_name = "MODE")]
    pub replica_read: Option<String>,
    /// The group's name as Redis Sentinel clients ask for it (`SENTINEL
    /// get-master-addr-by-name NAME`) [default: mymaster].
    #[arg(long, value_name = "NAME")]
    pub group_name: Option<String>,
    /// On a group node, the Raft entries applied since the last snapshot that trigger a
    /// new one (the log they cover is then purged) [default: 200000].
    #[arg(long, value_name = "N")]
    pub snapshot_entries: Option<u64>,
    /// Offline tools (the server runs when none is given).
    #[command(subcommand)]
    pub command: Option<Tool>,
}

/// Offline tools of the `flashdb` binary.
#[derive(Debug, clap::Subcommand)]
pub enum Tool {
    /// Verify every snapshot and log record of a data directory (the server must be stopped).
    Check {
        /// The data directory.
        #[arg(long, value_name = "PATH")]
        dir: PathBuf,
        /// Cut the log at the first bad record, keeping the cut bytes beside it.
        #[arg(long)]
        repair: bool,
        /// Also recompute the ledger's tree from every record (archived and live), print
        /// its size and root, and compare it with the tree the server kept.
        #[arg(long, conflicts_with = "repair")]
        ledger: bool,
    },
    /// Back up a running server: a consistent copy of its data, as of one log sequence
    /// number, written by the server into a new or empty directory on its machine.
    Backup {
        /// The backup directory (created; must be new or empty, outside --dir).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The server's host.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The server's RESP port.
        #[arg(long, default_value_t = 6379)]
        port: u16,
        /// Password (AUTH); also read from FLASHDB_AUTH.
        #[arg(
            short = 'a',
            long = "pass",
            env = "FLASHDB_AUTH",
            hide_env_values = true
        )]
        password: Option<String>,
    },
    /// Prepare a data directory from a backup (verified first); then start the server
    /// with --dir on it.
    Restore {
        /// The backup directory.
        #[arg(long, value_name = "BACKUP")]
        from: PathBuf,
        /// The data directory to create (must be new or empty).
        #[arg(long, value_name = "PATH")]
        dir: PathBuf,
    },
}

/// The same settings as they appear in a TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    port: Option<u16>,
    http_port: Option<u16>,
    http_max_body: Option<toml::Value>,
    http_allowed_hosts: Option<String>,
    http_max_connections: Option<usize>,
    dir: Option<PathBuf>,
    databases: Option<usize>,
    requirepass: Option<String>,
    aclfile: Option<PathBuf>,
    tls_port: Option<u16>,
    tls_cert_file: Option<PathBuf>,
    tls_key_file: Option<PathBuf>,
    tls_ca_cert_file: Option<PathBuf>,
    tls_auth_clients: Option<String>,
    tls_protocols: Option<String>,
    tls_http: Option<String>,
    tls_replication: Option<String>,
    ledger: Option<String>,
    ledger_key: Option<PathBuf>,
    tls_auth_clients_user: Option<String>,
    ratelimit_per_address: Option<String>,
    log_level: Option<String>,
    log_format: Option<String>,
    maxclients: Option<u64>,
    timeout: Option<u64>,
    proto_max_bulk_len: Option<toml::Value>,
    client_query_buffer_limit: Option<toml::Value>,
    appendfsync: Option<String>,
    persistence: Option<String>,
    wal_segment_size: Option<toml::Value>,
    snapshot_threshold: Option<toml::Value>,
    idle_spin_us: Option<u64>,
    enable_debug_command: Option<String>,
    protected_mode: Option<String>,
    maxmemory: Option<toml::Value>,
    maxmemory_policy: Option<String>,
    notify_keyspace_events: Option<String>,
    node_id: Option<u64>,
    raft_port: Option<u16>,
    peers: Option<String>,
    replica_read: Option<String>,
    group_name: Option<String>,
    snapshot_entries: Option<u64>,
}

/// The settings in force at start-up.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// RESP port (0: any free port).
    pub port: u16,
    /// HTTP port (0: any free port).
    pub http_port: u16,
    /// Largest HTTP request body, in bytes.
    pub http_max_body: u64,
    /// `--http-allowed-hosts`, lower-case (`*`: any).
    pub http_allowed_hosts: Vec<String>,
    /// `--http-max-connections`.
    pub http_max_connections: usize,
    /// Data directory.
    pub dir: PathBuf,
    /// Number of databases.
    pub databases: usize,
    /// Password of the default user.
    pub requirepass: Option<String>,
    /// `--aclfile`.
    pub aclfile: Option<PathBuf>,
    /// `--tls-port` (0: none).
    pub tls_port: u16,
    /// The TLS files and settings.
    pub tls: crate::tls::TlsSettings,
    /// `--tls-http yes`: the HTTP port speaks HTTPS.
    pub tls_http: bool,
    /// `--tls-replication yes`: peer traffic uses mutual TLS.
    pub tls_replication: bool,
    /// `--ledger on`.
    pub ledger: bool,
    /// `--ledger-key`.
    pub ledger_key: Option<PathBuf>,
    /// `--tls-auth-clients-user CN`: a client certificate's common name names its user.
    pub tls_user_from_cn: bool,
    /// `--ratelimit-per-address`.
    pub ratelimit_per_address: Option<flashdb_core::acl::RateLimit>,
    /// Log level.
    pub log_level: String,
    /// `text` or `json`.
    pub log_format: String,
    /// Settings of the file that have no flag, only a `CONFIG SET` parameter
    /// (`slowlog_max_len = 64`): (parameter name, value as written), applied at start-up.
    pub runtime_params: Vec<(String, String)>,
    /// Client limit.
    pub maxclients: u64,
    /// Idle timeout in seconds (0: none).
    pub timeout: u64,
    /// Largest bulk string.
    pub proto_max_bulk_len: u64,
    /// Largest per-client unparsed input.
    pub client_query_buffer_limit: u64,
    /// Fsync policy of the write-ahead log.
    pub appendfsync: String,
    /// Whether anything is persisted.
    pub persistence: bool,
    /// Write-ahead log segment size.
    pub wal_segment_size: u64,
    /// Log bytes since the last snapshot that trigger a snapshot.
    pub snapshot_threshold: u64,
    /// How long an idle worker polls before it sleeps, in microseconds.
    pub idle_spin_us: u64,
    /// Who may run `DEBUG`: `no`, `yes` or `local`.
    pub enable_debug_command: String,
    /// `--protected-mode`.
    pub protected_mode: bool,
    /// `notify-keyspace-events` flags (see `flashdb_core::notify`).
    pub notify_keyspace_events: u32,
    /// Memory limit in bytes (0: none).
    pub maxmemory: u64,
    /// What happens past `maxmemory`.
    pub maxmemory_policy: flashdb_core::keyspace::Policy,
    /// The replication group this node belongs to; `None` for a single node.
    pub group: Option<GroupConfig>,
}

/// A node's place in its replication group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// This node's id.
    pub node_id: u64,
    /// Port of the group's own traffic.
    pub raft_port: u16,
    /// Every voter at first start: id to `HOST:RAFTPORT`.
    pub peers: BTreeMap<u64, String>,
    /// Whether followers serve reads from their own memory.
    pub stale_reads: bool,
    /// The name Sentinel clients know the group by.
    pub name: String,
    /// Raft entries applied since the last snapshot that trigger a new one.
    pub snapshot_entries: u64,
}

/// Parses `--peers`: `ID@HOST:PORT,...`.
pub fn parse_peers(s: &str) -> anyhow::Result<BTreeMap<u64, String>> {
    let mut peers = BTreeMap::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (id, addr) = item
            .split_once('@')
            .with_context(|| format!("--peers: {item:?} is not ID@HOST:PORT"))?;
        let id: u64 = id
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .with_context(|| format!("--peers: node id {id:?} is not a positive integer"))?;
        let (host, port) = addr
            .rsplit_once(':')
            .with_context(|| format!("--peers: {addr:?} has no port"))?;
        if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
            bail!("--peers: {addr:?} is not HOST:PORT");
        }
        if peers.insert(id, addr.to_string()).is_some() {
            bail!("--peers: node id {id} is listed twice");
        }
    }
    if peers.is_empty() {
        bail!("--peers: no node listed");
    }
    Ok(peers)
}

/// Largest number of databases accepted: each costs a table per shard.
pub const MAX_DATABASES: usize = 16384;

/// Parses a memory size as Redis does: a number with an optional unit
/// (`b`, `k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb`), case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mul)
}

fn memory_value(name: &str, v: &toml::Value) -> anyhow::Result<u64> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as u64),
        toml::Value::String(s) => {
            parse_memory(s).with_context(|| format!("{name}: invalid size {s:?}"))
        }
        other => bail!("{name}: expected a size, got {other}"),
    }
}

impl Config {
    /// Combines the defaults, the file (if any) and the flags, and validates the result.
    pub fn load(cli: &Cli) -> anyhow::Result<Config> {
        let mut runtime_params = Vec::new();
        let file = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let mut table: toml::Table = text
                    .parse()
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                runtime_params = take_runtime_params(&mut table)
                    .with_context(|| format!("invalid config file {}", path.display()))?;
                FileConfig::deserialize(toml::Value::Table(table))
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let proto_max_bulk_len = match (&cli.proto_max_bulk_len, &file.proto_max_bulk_len) {
            (Some(s), _) => parse_memory(s)
                .with_context(|| format!("--proto-max-bulk-len: invalid size {s:?}"))?,
            (None, Some(v)) => memory_value("proto_max_bulk_len", v)?,
            (None, None) => 512 * 1024 * 1024,
        };
        let client_query_buffer_limit = match (
            &cli.client_query_buffer_limit,
            &file.client_query_buffer_limit,
        ) {
            (Some(s), _) => parse_memory(s)
                .with_context(|| format!("--client-query-buffer-limit: invalid size {s:?}"))?,
            (None, Some(v)) => memory_value("client_query_buffer_limit", v)?,
            (None, None) => 1024 * 1024 * 1024,
        };
        let size = |flag: &Option<String>,
                    file: &Option<toml::Value>,
                    name: &str,
                    default: u64|
         -> anyhow::Result<u64> {
            match (flag, file) {
                (Some(s), _) => parse_memory(s)
                    .with_context(|| format!("--{}: invalid size {s:?}", name.replace('_', "-"))),
                (None, Some(v)) => memory_value(name, v),
                (None, None) => Ok(default),
            }
        };
        let wal_segment_size = size(
            &cli.wal_segment_size,
            &file.wal_segment_size,
            "wal_segment_size",
            64 * 1024 * 1024,
        )?;
        let snapshot_threshold = size(
            &cli.snapshot_threshold,
            &file.snapshot_threshold,
            "snapshot_threshold",
            256 * 1024 * 1024,
        )?;
        let http_max_body = size(
            &cli.http_max_body,
            &file.http_max_body,
            "http_max_body",
            16 * 1024 * 1024,
        )?;
        let maxmemory = size(&cli.maxmemory, &file.maxmemory, "maxmemory", 0)?;
        let maxmemory_policy = match cli
            .maxmemory_policy
            .clone()
            .or(file.maxmemory_policy.clone())
        {
            None => flashdb_core::keyspace::Policy::NoEviction,
            Some(name) => flashdb_core::keyspace::Policy::parse(&name).with_context(|| {
                format!(
                    "maxmemory-policy must be one of {}; got {name:?}",
                    MAXMEMORY_POLICIES.join(", ")
                )
            })?,
        };
        let group_file = file_group(&file);
        let persistence = match cli.persistence.clone().or(file.persistence).as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => bail!("persistence must be on or off, got {other:?}"),
        };
        let cfg = Config {
            bind: cli
                .bind
                .clone()
                .or(file.bind)
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: cli.port.or(file.port).unwrap_or(6379),
            http_port: cli.http_port.or(file.http_port).unwrap_or(8080),
            http_max_body,
            http_allowed_hosts: cli
                .http_allowed_hosts
                .clone()
                .or(file.http_allowed_hosts)
                .unwrap_or_default()
                .split(',')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            http_max_connections: cli
                .http_max_connections
                .or(file.http_max_connections)
                .unwrap_or(1024),
            dir: cli
                .dir
                .clone()
                .or(file.dir)
                .unwrap_or_else(|| PathBuf::from("./data")),
            databases: cli.databases.or(file.databases).unwrap_or(16),
            requirepass: cli
                .requirepass
                .clone()
                .or(file.requirepass)
                .filter(|p| !p.is_empty()),
            aclfile: cli.aclfile.clone().or(file.aclfile),
            tls_port: cli.tls_port.or(file.tls_port).unwrap_or(0),
            tls_http: switch(
                cli.tls_http.clone().or(file.tls_http),
                false,
                "--tls-http",
                ("yes", "no"),
            )?,
            tls_replication: switch(
                cli.tls_replication.clone().or(file.tls_replication),
                false,
                "--tls-replication",
                ("yes", "no"),
            )?,
            ledger: switch(
                cli.ledger.clone().or(file.ledger),
                false,
                "--ledger",
                ("on", "off"),
            )?,
            ledger_key: cli.ledger_key.clone().or(file.ledger_key),
            ratelimit_per_address: crate::ratelimit::parse_setting(
                &cli.ratelimit_per_address
                    .clone()
                    .or(file.ratelimit_per_address)
                    .unwrap_or_default(),
            )
            .map_err(|e| anyhow::anyhow!("--ratelimit-per-address {e}"))?,
            tls_user_from_cn: match cli
                .tls_auth_clients_user
                .clone()
                .or(file.tls_auth_clients_user)
                .unwrap_or_else(|| "off".into())
                .to_ascii_lowercase()
                .as_str()
            {
                "cn" => true,
                "off" => false,
                other => bail!("--tls-auth-clients-user must be CN or off, got {other:?}"),
            },
            tls: crate::tls::TlsSettings {
                cert_file: cli.tls_cert_file.clone().or(file.tls_cert_file),
                key_file: cli.tls_key_file.clone().or(file.tls_key_file),
                ca_cert_file: cli.tls_ca_cert_file.clone().or(file.tls_ca_cert_file),
                auth_clients: {
                    let v = cli
                        .tls_auth_clients
                        .clone()
                        .or(file.tls_auth_clients)
                        .unwrap_or_else(|| "yes".into());
                    crate::tls::ClientAuth::parse(&v).ok_or_else(|| {
                        anyhow::anyhow!("--tls-auth-clients must be yes, no or optional, got {v:?}")
                    })?
                },
                protocols: cli
                    .tls_protocols
                    .clone()
                    .or(file.tls_protocols)
                    .unwrap_or_default(),
            },
            log_level: cli
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".into()),
            log_format: cli
                .log_format
                .clone()
                .or(file.log_format)
                .unwrap_or_else(|| "text".into()),
            maxclients: cli.maxclients.or(file.maxclients).unwrap_or(10_000),
            timeout: cli.timeout.or(file.timeout).unwrap_or(0),
            proto_max_bulk_len,
            client_query_buffer_limit,
            appendfsync: cli
                .appendfsync
                .clone()
                .or(file.appendfsync)
                .unwrap_or_else(|| "always".into()),
            persistence,
            wal_segment_size,
            snapshot_threshold,
            idle_spin_us: cli.idle_spin_us.or(file.idle_spin_us).unwrap_or(5),
            protected_mode: match cli.protected_mode.clone().or(file.protected_mode).as_deref() {
                None | Some("yes") => true,
                Some("no") => false,
                Some(other) => bail!("protected-mode must be yes or no, got {other:?}"),
            },
            enable_debug_command: cli
                .enable_debug_command
                .clone()
                .or(file.enable_debug_command)
                .unwrap_or_else(|| "no".into()),
            group: None,
            runtime_params: Vec::new(),
            maxmemory,
            maxmemory_policy,
            notify_keyspace_events: match file.notify_keyspace_events {
                None => 0,
                Some(v) => match flashdb_core::notify::parse_flags(&v) {
                    Some(f) => f,
                    None => bail!(
                        "notify_keyspace_events {v:?}: invalid event class character; use 'Ag$lshzxeKEtmdn'"
                    ),
                },
            },
        };
        let mut cfg = cfg;
        cfg.runtime_params = runtime_params;
        cfg.group = group_config(cli, &group_file)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.databases == 0 || self.databases > MAX_DATABASES {
            bail!(
                "databases must be between 1 and {MAX_DATABASES}, got {}",
                self.databases
            );
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log_level.as_str()) {
            bail!(
                "log-level must be one of error, warn, info, debug, trace; got {:?}",
                self.log_level
            );
        }
        if self.http_max_connections == 0 || self.http_max_connections > 100_000 {
            bail!(
                "http-max-connections must be between 1 and 100000, got {}",
                self.http_max_connections
            );
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            bail!("log-format must be text or json; got {:?}", self.log_format);
        }
        if self.maxclients == 0 {
            bail!("maxclients must be at least 1");
        }
        if self.proto_max_bulk_len < 1024 * 1024 {
            bail!("proto-max-bulk-len must be at least 1mb");
        }
        if !["always", "everysec", "no"].contains(&self.appendfsync.as_str()) {
            bail!(
                "appendfsync must be always, everysec or no; got {:?}",
                self.appendfsync
            );
        }
        if self.wal_segment_size < 64 * 1024 {
            bail!("wal-segment-size must be at least 64kb");
        }
        if self.http_max_body == 0 || self.http_max_body > 1 << 32 {
            bail!(
                "http-max-body must be between 1 byte and 4gb, got {}",
                self.http_max_body
            );
        }
        if self.group.is_some() && !self.persistence {
            bail!("a node of a replication group (--peers) needs --persistence on");
        }
        if self.ledger && !self.persistence {
            bail!("--ledger on needs --persistence on: the ledger hashes the log's records");
        }
        if self.ledger_key.is_some() && !self.ledger {
            bail!("--ledger-key needs --ledger on");
        }
        if self.ledger && self.group.is_some() {
            bail!("--ledger on is not available in a replication group yet (see docs/ledger.md)");
        }
        if !["no", "yes", "local"].contains(&self.enable_debug_command.as_str()) {
            bail!(
                "enable-debug-command must be no, yes or local; got {:?}",
                self.enable_debug_command
            );
        }
        if self.idle_spin_us > 1000 {
            bail!(
                "idle-spin-us must be at most 1000, got {}",
                self.idle_spin_us
            );
        }
        Ok(())
    }
}

/// The group settings of a configuration file.
struct FileGroup {
    node_id: Option<u64>,
    raft_port: Option<u16>,
    peers: Option<String>,
    replica_read: Option<String>,
    group_name: Option<String>,
    snapshot_entries: Option<u64>,
}

fn file_group(file: &FileConfig) -> FileGroup {
    FileGroup {
        node_id: file.node_id,
        raft_port: file.raft_port,
        peers: file.peers.clone(),
        replica_read: file.replica_read.clone(),
        group_name: file.group_name.clone(),
        snapshot_entries: file.snapshot_entries,
    }
}

fn group_config(cli: &Cli, file: &FileGroup) -> anyhow::Result<Option<GroupConfig>> {
    let node_id = cli.node_id.or(file.node_id);
    let raft_port = cli.raft_port.or(file.raft_port);
    let replica_read = cli.replica_read.clone().or(file.replica_read.clone());
    let stale_reads = match replica_read.as_deref() {
        None | Some("linearizable") => false,
        Some("stale") => true,
        Some(other) => bail!("replica-read must be linearizable or stale, got {other:?}"),
    };
    let name = cli
        .group_name
        .clone()
        .or(file.group_name.clone())
        .unwrap_or_else(|| "mymaster".into());
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
        bail!("group-name must be a non-empty word without spaces, got {name:?}");
    }
    let Some(peers) = cli.peers.clone().or(file.peers.clone()) else {
        if node_id.is_some()
            || raft_port.is_some()
            || cli.group_name.is_some()
            || cli.snapshot_entries.is_some()
        {
            bail!("--node-id, --raft-port, --group-name and --snapshot-entries need --peers (the group's voters)");
        }
        return Ok(None);
    };
    let peers = parse_peers(&peers)?;
    let node_id = node_id.context("--peers needs --node-id (this node's id in the group)")?;
    let raft_port = raft_port.context("--peers needs --raft-port")?;
    // The port others dial (in --peers) may differ from --raft-port, the one this node
    // listens on: a proxy or a NAT may stand in between.
    if !peers.contains_key(&node_id) {
        bail!("--node-id {node_id} is not in --peers");
    }
    Ok(Some(GroupConfig {
        node_id,
        raft_port,
        peers,
        stale_reads,
        name,
        snapshot_entries: match cli.snapshot_entries.or(file.snapshot_entries) {
            Some(0) => bail!("snapshot-entries must be at least 1"),
            Some(n) => n,
            None => 200_000,
        },
    }))
}

/// Redis parameters that have no effect in FlashDB but are accepted and remembered by
/// `CONFIG SET`, so that tools and test harnesses that set them keep working.
/// Parameters that `CONFIG SET` changes but no flag sets: a config file may hold them too
/// (with `_` or `-`), as a Redis configuration file may.
const RUNTIME_ONLY: &[&str] = &[
    "acllog-max-len",
    "acl-pubsub-default",
    "lfu-log-factor",
    "lfu-decay-time",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "hll-sparse-max-bytes",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "tracking-table-max-keys",
    "loglevel",
    "appendonly",
];

/// Removes from a config file's table the settings that only `CONFIG SET` knows, and
/// returns them as (parameter name, value as written).
fn take_runtime_params(table: &mut toml::Table) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let keys: Vec<String> = table.keys().cloned().collect();
    for key in keys {
        let name = key.replace('_', "-");
        let known =
            RUNTIME_ONLY.contains(&name.as_str()) || PASSIVE_PARAMS.iter().any(|(n, _)| *n == name);
        if !known {
            continue;
        }
        let text = match table.remove(&key) {
            Some(toml::Value::String(s)) => s,
            Some(toml::Value::Integer(n)) => n.to_string(),
            Some(toml::Value::Boolean(b)) => if b { "yes" } else { "no" }.to_string(),
            Some(other) => bail!("{key}: expected a string or a number, got {other}"),
            None => continue,
        };
        out.push((name, text));
    }
    Ok(out)
}

const PASSIVE_PARAMS: &[(&str, &str)] = &[
    ("active-defrag-cycle-max", "25"),
    ("active-defrag-cycle-min", "1"),
    ("active-defrag-ignore-bytes", "104857600"),
    ("active-defrag-max-scan-fields", "1000"),
    ("active-defrag-threshold-lower", "10"),
    ("active-defrag-threshold-upper", "100"),
    ("active-expire-effort", "1"),
    ("activedefrag", "no"),
    ("activerehashing", "yes"),
    ("aof-disable-auto-gc", "no"),
    ("aof-load-truncated", "yes"),
    ("aof-rewrite-incremental-fsync", "yes"),
    ("aof-timestamp-enabled", "no"),
    ("aof-use-rdb-preamble", "yes"),
    ("auto-aof-rewrite-min-size", "67108864"),
    ("auto-aof-rewrite-percentage", "100"),
    ("bind-source-addr", ""),
    ("busy-reply-threshold", "5000"),
    (
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
    ),
    ("cluster-allow-pubsubshard-when-down", "yes"),
    ("cluster-allow-reads-when-down", "no"),
    ("cluster-allow-replica-migration", "yes"),
    ("cluster-announce-bus-port", "0"),
    ("cluster-announce-hostname", ""),
    ("cluster-announce-ip", ""),
    ("cluster-announce-port", "0"),
    ("cluster-announce-tls-port", "0"),
    ("cluster-link-sendbuf-limit", "0"),
    ("cluster-migration-barrier", "1"),
    ("cluster-node-timeout", "15000"),
    ("cluster-preferred-endpoint-type", "ip"),
    ("cluster-replica-no-failover", "no"),
    ("cluster-replica-validity-factor", "10"),
    ("cluster-require-full-coverage", "yes"),
    ("cluster-slave-no-failover", "no"),
    ("cluster-slave-validity-factor", "10"),
    ("crash-log-enabled", "yes"),
    ("crash-memcheck-enabled", "yes"),
    ("dynamic-hz", "yes"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("hz", "10"),
    ("ignore-warnings", ""),
    ("jemalloc-bg-thread", "yes"),
    ("latency-tracking", "yes"),
    ("latency-tracking-info-percentiles", "50 99 99.9"),
    ("lazyfree-lazy-eviction", "no"),
    ("lazyfree-lazy-expire", "no"),
    ("lazyfree-lazy-server-del", "no"),
    ("lazyfree-lazy-user-del", "no"),
    ("lazyfree-lazy-user-flush", "no"),
    ("list-compress-depth", "0"),
    ("list-max-listpack-size", "-2"),
    ("list-max-ziplist-size", "-2"),
    ("lua-time-limit", "5000"),
    ("maxmemory-clients", "0"),
    ("min-replicas-max-lag", "10"),
    ("min-replicas-to-write", "0"),
    ("min-slaves-max-lag", "10"),
    ("min-slaves-to-write", "0"),
    ("no-appendfsync-on-rewrite", "no"),
    ("oom-score-adj", "no"),
    ("oom-score-adj-values", "0 200 800"),
    ("proc-title-template", "{title} {listen-addr} {server-mode}"),
    ("propagation-error-behavior", "ignore"),
    ("rdb-del-sync-files", "no"),
    ("rdb-save-incremental-fsync", "yes"),
    ("rdbcompression", "yes"),
    ("repl-backlog-size", "1048576"),
    ("repl-backlog-ttl", "3600"),
    ("repl-disable-tcp-nodelay", "no"),
    ("repl-diskless-load", "disabled"),
    ("repl-diskless-sync", "yes"),
    ("repl-diskless-sync-delay", "5"),
    ("repl-diskless-sync-max-replicas", "0"),
    ("repl-ping-replica-period", "10"),
    ("repl-ping-slave-period", "10"),
    ("repl-timeout", "60"),
    ("replica-announce-ip", ""),
    ("replica-announce-port", "0"),
    ("replica-announced", "yes"),
    ("replica-ignore-disk-write-errors", "no"),
    ("replica-ignore-maxmemory", "yes"),
    ("replica-lazy-flush", "no"),
    ("replica-priority", "100"),
    ("replica-read-only", "yes"),
    ("replica-serve-stale-data", "yes"),
    ("sanitize-dump-payload", "no"),
    ("save", ""),
    ("set-max-intset-entries", "512"),
    ("set-max-listpack-entries", "128"),
    ("shutdown-on-sigint", "default"),
    ("shutdown-on-sigterm", "default"),
    ("shutdown-timeout", "10"),
    ("slave-announce-ip", ""),
    ("slave-announce-port", "0"),
    ("slave-ignore-maxmemory", "yes"),
    ("slave-lazy-flush", "no"),
    ("slave-priority", "100"),
    ("slave-read-only", "yes"),
    ("slave-serve-stale-data", "yes"),
    ("stop-writes-on-bgsave-error", "yes"),
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
    ("tcp-keepalive", "300"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
];

/// Redis parameters fixed at start-up in Redis too, that FlashDB answers with Redis's
/// values (and refuses to change, as Redis does).
const PASSIVE_FIXED: &[(&str, &str)] = &[
    ("always-show-logo", "no"),
    ("aof_rewrite_cpulist", ""),
    ("appenddirname", "appendonlydir"),
    ("appendfilename", "appendonly.aof"),
    ("bgsave_cpulist", ""),
    ("bio_cpulist", ""),
    ("cluster-config-file", "nodes.conf"),
    ("cluster-enabled", "no"),
    ("cluster-port", "0"),
    ("daemonize", "no"),
    ("dbfilename", "dump.rdb"),
    ("disable-thp", "yes"),
    ("enable-module-command", "no"),
    ("enable-protected-configs", "no"),
    ("io-threads", "1"),
    ("io-threads-do-reads", "no"),
    ("logfile", ""),
    ("pidfile", ""),
    ("rdbchecksum", "yes"),
    ("replicaof", ""),
    ("server_cpulist", ""),
    ("set-proc-title", "yes"),
    ("slaveof", ""),
    ("socket-mark-id", "0"),
    ("supervised", "no"),
    ("syslog-enabled", "no"),
    ("syslog-facility", "local0"),
    ("syslog-ident", "redis"),
    ("tcp-backlog", "511"),
    ("unixsocket", ""),
    ("unixsocketperm", "0"),
];

/// A two-way flag (`yes`/`no`, `on`/`off`, any case; either spelling pair accepted):
/// `default` when absent, a clear error naming the flag otherwise.
fn switch(
    value: Option<String>,
    default: bool,
    flag: &str,
    (on, off): (&str, &str),
) -> anyhow::Result<bool> {
    let Some(v) = value else {
        return Ok(default);
    };
    match v.to_ascii_lowercase().as_str() {
        "yes" | "on" => Ok(true),
        "no" | "off" => Ok(false),
        _ => bail!("{flag} must be {on} or {off}, got {v:?}"),
    }
}

/// Parameters that take effect when changed, with how their values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Fixed at start-up; `CONFIG SET` refuses it.
    Immutable,
    /// A memory size (stored as bytes).
    Memory,
    /// A non-negative integer.
    Integer,
    /// An integer of at least -1 (-1 turns the feature off).
    Signed,
    /// Free text.
    Text,
    /// One of a set of words.
    Enum(&'static [&'static str]),
    /// `yes` or `no`.
    Bool,
    /// Any integer (a Redis parameter FlashDB only remembers: Redis's own bounds are not
    /// repeated here).
    Number,
}

/// How `CONFIG SET` checks a Redis parameter that FlashDB only remembers, as Redis checks
/// it (its error texts), from its name and default value.
fn passive_kind(name: &str, default: &str) -> ParamKind {
    const SHUTDOWN: &[&str] = &["default", "save", "nosave", "now", "force"];
    match name {
        "oom-score-adj" => ParamKind::Enum(&["no", "yes", "relative", "absolute"]),
        "sanitize-dump-payload" => ParamKind::Enum(&["no", "yes", "clients"]),
        "cluster-preferred-endpoint-type" => {
            ParamKind::Enum(&["ip", "hostname", "unknown-endpoint"])
        }
        "propagation-error-behavior" => ParamKind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "repl-diskless-load" => ParamKind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "shutdown-on-sigint" | "shutdown-on-sigterm" => ParamKind::Enum(SHUTDOWN),
        "active-defrag-ignore-bytes"
        | "auto-aof-rewrite-min-size"
        | "cluster-link-sendbuf-limit"
        | "hash-max-listpack-value"
        | "hash-max-ziplist-value"
        | "repl-backlog-size"
        | "stream-node-max-bytes"
        | "zset-max-listpack-value"
        | "zset-max-ziplist-value" => ParamKind::Memory,
        _ if default == "yes" || default == "no" => ParamKind::Bool,
        _ if !default.is_empty() && default.parse::<i64>().is_ok() => ParamKind::Number,
        _ => ParamKind::Text,
    }
}

/// `client-output-buffer-limit`: `current` with the classes that `update` names replaced
/// (`<class> <hard> <soft> <soft seconds>`, sizes with units), normalized to bytes, or
/// Redis's reason for refusing `update`.
pub fn merge_buffer_limits(current: &str, update: &str) -> Result<String, &'static str> {
    let words: Vec<&str> = update.split_whitespace().collect();
    if words.is_empty() || !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.");
    }
    let mut classes: Vec<(String, [u64; 3])> = Vec::new();
    for c in current.split_whitespace().collect::<Vec<_>>().chunks(4) {
        if let [class, h, s, t] = c {
            let n = |x: &str| x.parse().unwrap_or(0);
            classes.push((class.to_string(), [n(h), n(s), n(t)]));
        }
    }
    for c in words.chunks(4) {
        let class = match c[0].to_ascii_lowercase().as_str() {
            "normal" => "normal",
            "slave" | "replica" => "slave",
            "pubsub" => "pubsub",
            _ => return Err("Invalid client class specified in buffer limit configuration."),
        };
        let bad = "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(c[1]).ok_or(bad)?;
        let soft = parse_memory(c[2]).ok_or(bad)?;
        let secs: u64 = c[3].parse().map_err(|_| bad)?;
        match classes.iter_mut().find(|(k, _)| k == class) {
            Some((_, v)) => *v = [hard, soft, secs],
            None => classes.push((class.to_string(), [hard, soft, secs])),
        }
    }
    Ok(classes
        .iter()
        .map(|(k, [h, s, t])| format!("{k} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

/// One class (`normal`, `pubsub`) of a normalized `client-output-buffer-limit`: hard,
/// soft, seconds.
pub fn class_limits(value: &str, class: &str) -> Option<[u64; 3]> {
    let words: Vec<&str> = value.split_whitespace().collect();
    words.chunks(4).find(|c| c[0] == class).and_then(|c| {
        Some([
            c.get(1)?.parse().ok()?,
            c.get(2)?.parse().ok()?,
            c.get(3)?.parse().ok()?,
        ])
    })
}

/// The runtime parameter store behind `CONFIG GET`/`CONFIG SET`.
#[derive(Debug, Clone)]
pub struct Params {
    values: BTreeMap<String, (String, ParamKind)>,
}

/// Eviction policies Redis accepts for `maxmemory-policy`.
pub const MAXMEMORY_POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];

impl Params {
    /// The parameters as configured at start-up.
    pub fn new(cfg: &Config, port: u16) -> Params {
        let mut values = BTreeMap::new();
        let mut put = |k: &str, v: String, kind: ParamKind| {
            values.insert(k.to_string(), (v, kind));
        };
        put("bind", cfg.bind.clone(), ParamKind::Text);
        put("port", port.to_string(), ParamKind::Integer);
        put("http-port", cfg.http_port.to_string(), ParamKind::Immutable);
        put(
            "http-max-body",
            cfg.http_max_body.to_string(),
            ParamKind::Immutable,
        );
        put("dir", cfg.dir.display().to_string(), ParamKind::Immutable);
        put("databases", cfg.databases.to_string(), ParamKind::Immutable);
        put(
            "requirepass",
            cfg.requirepass.clone().unwrap_or_default(),
            ParamKind::Text,
        );
        put(
            "log-level",
            cfg.log_level.clone(),
            ParamKind::Enum(&["error", "warn", "info", "debug", "trace"]),
        );
        put(
            "loglevel",
            redis_loglevel(&cfg.log_level).into(),
            ParamKind::Enum(&["debug", "verbose", "notice", "warning"]),
        );
        put("log-format", cfg.log_format.clone(), ParamKind::Immutable);
        let protected = if cfg.protected_mode { "yes" } else { "no" };
        put("protected-mode", protected.into(), ParamKind::Bool);
        put(
            "http-max-connections",
            cfg.http_max_connections.to_string(),
            ParamKind::Immutable,
        );
        put(
            "http-allowed-hosts",
            cfg.http_allowed_hosts.join(","),
            ParamKind::Immutable,
        );
        put("maxclients", cfg.maxclients.to_string(), ParamKind::Integer);
        put("timeout", cfg.timeout.to_string(), ParamKind::Integer);
        put(
            "proto-max-bulk-len",
            cfg.proto_max_bulk_len.to_string(),
            ParamKind::Memory,
        );
        put("slowlog-log-slower-than", "10000".into(), ParamKind::Signed);
        put("slowlog-max-len", "128".into(), ParamKind::Integer);
        put("latency-monitor-threshold", "0".into(), ParamKind::Integer);
        put(
            "hll-sparse-max-bytes",
            flashdb_core::types::hll::SPARSE_MAX_BYTES.to_string(),
            ParamKind::Memory,
        );
        put(
            "client-query-buffer-limit",
            cfg.client_query_buffer_limit.to_string(),
            ParamKind::Memory,
        );
        put(
            "maxmemory-policy",
            cfg.maxmemory_policy.name().into(),
            ParamKind::Enum(MAXMEMORY_POLICIES),
        );
        put("maxmemory", cfg.maxmemory.to_string(), ParamKind::Memory);
        put("maxmemory-samples", "5".into(), ParamKind::Integer);
        put(
            "tracking-table-max-keys",
            "1000000".into(),
            ParamKind::Integer,
        );
        put(
            "maxmemory-eviction-tenacity",
            "10".into(),
            ParamKind::Integer,
        );
        put(
            "appendfsync",
            cfg.appendfsync.clone(),
            // In Redis's order, which its error lists.
            ParamKind::Enum(&["everysec", "always", "no"]),
        );
        let on_off = if cfg.persistence { "on" } else { "off" };
        put("persistence", on_off.into(), ParamKind::Immutable);
        put(
            "wal-segment-size",
            cfg.wal_segment_size.to_string(),
            ParamKind::Immutable,
        );
        put(
            "snapshot-threshold",
            cfg.snapshot_threshold.to_string(),
            ParamKind::Memory,
        );
        put(
            "enable-debug-command",
            cfg.enable_debug_command.clone(),
            ParamKind::Immutable,
        );
        put(
            "idle-spin-us",
            cfg.idle_spin_us.to_string(),
            ParamKind::Immutable,
        );
        put(
            "notify-keyspace-events",
            flashdb_core::notify::format_flags(cfg.notify_keyspace_events),
            ParamKind::Text,
        );
        for (k, v) in PASSIVE_PARAMS {
            put(k, (*v).to_string(), passive_kind(k, v));
        }
        for (k, v) in PASSIVE_FIXED {
            put(k, (*v).to_string(), ParamKind::Immutable);
        }
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        put("aclfile", path(&cfg.aclfile), ParamKind::Immutable);
        put("acllog-max-len", "128".into(), ParamKind::Integer);
        put("tls-port", cfg.tls_port.to_string(), ParamKind::Immutable);
        put(
            "ratelimit-per-address",
            cfg.ratelimit_per_address
                .map_or("off".to_string(), |l| l.to_string()),
            ParamKind::Text,
        );
        put("tls-cert-file", path(&cfg.tls.cert_file), ParamKind::Text);
        put("tls-key-file", path(&cfg.tls.key_file), ParamKind::Text);
        put(
            "tls-ca-cert-file",
            path(&cfg.tls.ca_cert_file),
            ParamKind::Text,
        );
        put(
            "tls-auth-clients",
            match cfg.tls.auth_clients {
                crate::tls::ClientAuth::Yes => "yes",
                crate::tls::ClientAuth::No => "no",
                crate::tls::ClientAuth::Optional => "optional",
            }
            .into(),
            ParamKind::Enum(&["yes", "no", "optional"]),
        );
        put("tls-protocols", cfg.tls.protocols.clone(), ParamKind::Text);
        // Fixed for the life of the process: a node that changed it alone could no
        // longer reach its peers, nor they it.
        put(
            "ledger",
            if cfg.ledger { "on" } else { "off" }.into(),
            ParamKind::Immutable,
        );
        put("ledger-key", path(&cfg.ledger_key), ParamKind::Immutable);
        put(
            "tls-replication",
            if cfg.tls_replication { "yes" } else { "no" }.into(),
            ParamKind::Immutable,
        );
        put(
            "acl-pubsub-default",
            "resetchannels".into(),
            ParamKind::Enum(&["allchannels", "resetchannels"]),
        );
        put("lfu-log-factor", "10".into(), ParamKind::Integer);
        put("lfu-decay-time", "1".into(), ParamKind::Integer);
        // Tools check `appendonly` to learn whether writes are logged.
        let yes_no = if cfg.persistence { "yes" } else { "no" };
        put("appendonly", yes_no.into(), ParamKind::Bool);
        Params { values }
    }

    /// Name/value pairs matching any of `patterns` (glob, case-insensitive), each once.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(k, _)| {
                patterns
                    .iter()
                    .any(|p| flashdb_core::glob::glob_match(p, k.as_bytes(), true))
            })
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect()
    }

    /// Every parameter `CONFIG SET` can change, with its kind and value.
    pub fn settable(&self) -> impl Iterator<Item = (&str, ParamKind, &str)> {
        self.values
            .iter()
            .filter(|(_, (_, kind))| *kind != ParamKind::Immutable)
            .map(|(k, (v, kind))| (k.as_str(), *kind, v.as_str()))
    }

    /// The value of one parameter.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|(v, _)| v.as_str())
    }

    /// Checks and normalizes a value for `name`; `Err` is the Redis error text.
    pub fn check(&self, name: &str, value: &str) -> Result<String, String> {
        let Some((_, kind)) = self.values.get(name) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        let invalid = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        if name == "notify-keyspace-events" {
            return match flashdb_core::notify::parse_flags(value) {
                Some(f) => Ok(flashdb_core::notify::format_flags(f)),
                None => Err(invalid(
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                )),
            };
        }
        if name == "dir" || name == "dbfilename" {
            // Redis 7 refuses it too unless `enable-protected-configs`: a client that
            // may write files anywhere can take over the machine.
            return Err(invalid("can't set protected config"));
        }
        if name == "appendonly"
            && (value.eq_ignore_ascii_case("yes") || value.eq_ignore_ascii_case("no"))
        {
            let current = self.value(name).unwrap_or_default();
            if !value.eq_ignore_ascii_case(current) {
                return Err(invalid(if current == "yes" {
                    "FlashDB logs every write while --persistence is on; restart with --persistence off for a server that does not"
                } else {
                    "this server runs with --persistence off; restart it with --persistence on to log writes"
                }));
            }
        }
        if name == "client-output-buffer-limit" {
            let current = self.value(name).unwrap_or_default();
            return merge_buffer_limits(current, value).map_err(&invalid);
        }
        match kind {
            ParamKind::Immutable => Err(invalid("can't set immutable config")),
            ParamKind::Memory => match parse_memory(value) {
                Some(n) if name == "client-query-buffer-limit" && n < 1024 * 1024 => Err(invalid(
                    "argument must be between 1048576 and 9223372036854775807 inclusive",
                )),
                Some(n) if name == "proto-max-bulk-len" && n < 1024 * 1024 => Err(invalid(
                    "argument must be between 1048576 and 9223372036854775807 inclusive",
                )),
                Some(n) => Ok(n.to_string()),
                None => Err(invalid("argument must be a memory value")),
            },
            ParamKind::Integer => match value.parse::<u64>() {
                Ok(n) if name == "port" && n > 65535 => {
                    Err(invalid("argument must be between 0 and 65535 inclusive"))
                }
                Ok(n) if name == "maxclients" && n == 0 => Err(invalid(
                    "argument must be between 1 and 4294967295 inclusive",
                )),
                Ok(n) if name == "maxmemory-samples" && !(1..=i32::MAX as u64).contains(&n) => Err(
                    invalid("argument must be between 1 and 2147483647 inclusive"),
                ),
                Ok(n)
                    if (name == "lfu-log-factor" || name == "lfu-decay-time")
                        && n > i32::MAX as u64 =>
                {
                    Err(invalid(
                        "argument must be between 0 and 2147483647 inclusive",
                    ))
                }
                Ok(n) if name == "maxmemory-eviction-tenacity" && n > 100 => {
                    Err(invalid("argument must be between 0 and 100 inclusive"))
                }
                Ok(n) => Ok(n.to_string()),
                Err(_) if value.parse::<i64>().is_ok() => Err(invalid(
                    "argument must be between 0 and 9223372036854775807 inclusive",
                )),
                Err(_) => Err(invalid("argument couldn't be parsed into an integer")),
            },
            ParamKind::Signed => match value.parse::<i64>() {
                Ok(n) if n < -1 => Err(invalid(
                    "argument must be between -1 and 9223372036854775807 inclusive",
                )),
                Ok(n) => Ok(n.to_string()),
                Err(_) => Err(invalid("argument couldn't be parsed into an integer")),
            },
            ParamKind::Text => Ok(value.to_string()),
            ParamKind::Bool => match value.to_ascii_lowercase().as_str() {
                v @ ("yes" | "no") => Ok(v.to_string()),
                _ => Err(invalid("argument must be 'yes' or 'no'")),
            },
            ParamKind::Number => match value.parse::<i64>() {
                Ok(n) => Ok(n.to_string()),
                Err(_) => Err(invalid("argument couldn't be parsed into an integer")),
            },
            ParamKind::Enum(options) => {
                let lower = value.to_ascii_lowercase();
                if options.contains(&lower.as_str()) {
                    Ok(lower)
                } else {
                    Err(
                        invalid("argument(s) must be one of the following: ").to_string()
                            + &options.join(", "),
                    )
                }
            }
        }
    }

    /// Stores a value already checked with [`check`](Self::check).
    pub fn store(&mut self, name: &str, value: String) {
        if let Some(slot) = self.values.get_mut(name) {
            slot.0 = value;
        }
    }
}

/// Redis's name for a tracing level (`loglevel` answers in Redis's words).
pub fn redis_loglevel(level: &str) -> &'static str {
    match level {
        "trace" | "debug" => "debug",
        "info" => "notice",
        "warn" | "error" => "warning",
        _ => "notice",
    }
}

/// The tracing level for a Redis `loglevel` word.
pub fn tracing_level(redis: &str) -> &'static str {
    match redis {
        "debug" => "debug",
        "verbose" => "info",
        "notice" => "info",
        "warning" => "warn",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("512mb"), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory("1GB"), Some(1024 * 1024 * 1024));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("12xb"), None);
        assert_eq!(parse_memory("-1"), None);
        assert_eq!(parse_memory("99999999999999999999gb"), None);
    }

    #[test]
    fn file_flags_and_defaults_combine() {
        let dir = std::env::temp_dir().join(format!("flashdb-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.toml");
        std::fs::write(
            &path,
            "port = 7000\ndatabases = 4\nproto_max_bulk_len = \"2mb\"\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "flashdb",
            "--config",
            path.to_str().unwrap(),
            "--port",
            "7001",
        ]);
        let cfg = Config::load(&cli).unwrap();
        assert_eq!(cfg.port, 7001, "flag wins over file");
        assert_eq!(cfg.databases, 4);
        assert_eq!(cfg.proto_max_bulk_len, 2 * 1024 * 1024);
        assert_eq!(cfg.bind, "127.0.0.1");
        std::fs::write(&path, "portt = 1\n").unwrap();
        let err = Config::load(&cli).unwrap_err();
        assert!(format!("{err:#}").contains("unknown field"), "{err:#}");
        std::fs::write(&path, "databases = 0\n").unwrap();
        assert!(Config::load(&Cli::parse_from([
            "flashdb",
            "--config",
            path.to_str().unwrap()
        ]))
        .is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn params_check_like_redis() {
        let cli = Cli::parse_from(["flashdb"]);
        let cfg = Config::load(&cli).unwrap();
        let p = Params::new(&cfg, 6379);
        assert_eq!(p.check("proto-max-bulk-len", "2mb").unwrap(), "2097152");
        assert!(p
            .check("nosuch", "1")
            .unwrap_err()
            .starts_with("ERR Unknown option"));
        assert!(p.check("databases", "1").is_err());
        assert!(p.check("port", "65536").is_err());
        assert_eq!(p.check("save", "900 1").unwrap(), "900 1");
        let got = p.get(&[b"max*"]);
        assert!(got.iter().any(|(k, _)| k == "maxclients"));
    }
}
