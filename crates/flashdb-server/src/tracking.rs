//! Client-side caching (`CLIENT TRACKING`), as Redis's `tracking.c`: which clients may
//! hold a copy of which keys, and the invalidation messages that tell them a key changed.
//!
//! In the default mode the server remembers the keys each tracking client read, in a
//! table of key to client ids; a change to a key sends `invalidate` to the clients it
//! lists and forgets the key. In `BCAST` mode nothing is remembered: a client names
//! prefixes and hears of every changed key under them, grouped per command. Keys are
//! names, whatever the database, as in Redis. Messages are RESP3 push frames, or, for a
//! client that redirects them (`REDIRECT id`) to a RESP2 connection in pub/sub mode,
//! `__redis__:invalidate` messages.
//!
//! A read is remembered while the command still holds its shard locks (see
//! `flashdb_core::keyspace::before_unlock`) and a write looks the table up under its
//! own, so a write to a key a client is reading never falls between the two.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;

use crate::pubsub::{Limits, Message};
use crate::server::ClientHandle;

/// A client's tracking settings (`CLIENT TRACKING`, `CLIENT CACHING`).
#[derive(Debug, Default)]
pub struct ClientTracking {
    /// Tracking is on.
    pub on: bool,
    /// Id of the client that receives the messages (0: this one).
    pub redirect: u64,
    /// The redirect target, while it is connected.
    redirect_to: Weak<ClientHandle>,
    /// The redirect target went away: messages are lost.
    pub broken_redirect: bool,
    /// `BCAST` mode.
    pub bcast: bool,
    /// `OPTIN` mode: only reads after `CLIENT CACHING yes` are remembered.
    pub optin: bool,
    /// `OPTOUT` mode: reads after `CLIENT CACHING no` are not remembered.
    pub optout: bool,
    /// `NOLOOP`: no messages about the client's own changes.
    pub noloop: bool,
    /// `CLIENT CACHING` was given for the next command (or transaction).
    pub caching: bool,
    /// The `BCAST` prefixes.
    pub prefixes: BTreeSet<Vec<u8>>,
}

/// What `CLIENT TRACKING ON` asks for.
#[derive(Debug, Default)]
pub struct Options {
    /// `REDIRECT id` (0: none).
    pub redirect: u64,
    /// `BCAST`.
    pub bcast: bool,
    /// `OPTIN`.
    pub optin: bool,
    /// `OPTOUT`.
    pub optout: bool,
    /// `NOLOOP`.
    pub noloop: bool,
    /// `PREFIX`es, in the order given.
    pub prefixes: Vec<Vec<u8>>,
}

/// Shards of the key table, so that clients reading and writing different keys seldom
/// wait for each other.
const TABLE_SHARDS: usize = 16;

type KeyTable = HashMap<Box<[u8]>, SmallVec<[u64; 2]>>;

/// The server's tracking state.
#[derive(Debug)]
pub struct Tracking {
    table: Box<[Mutex<KeyTable>]>,
    hasher: std::collections::hash_map::RandomState,
    /// Keys in the table.
    keys: AtomicUsize,
    /// Client ids in the table, over all keys.
    items: AtomicUsize,
    /// The clients with tracking on, by id.
    clients: RwLock<HashMap<u64, Arc<ClientHandle>>>,
    /// `BCAST` prefixes and the ids of the clients that follow each.
    prefixes: RwLock<BTreeMap<Vec<u8>, BTreeSet<u64>>>,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: AtomicU64,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            table: (0..TABLE_SHARDS).map(|_| Mutex::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            keys: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            clients: RwLock::default(),
            prefixes: RwLock::default(),
            max_keys: AtomicU64::new(1_000_000),
        }
    }
}

thread_local! {
    /// The client whose command runs on this thread (0: none, as for expiry), for
    /// `NOLOOP`.
    static CURRENT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Keys the running command changed under some `BCAST` prefix, with the client that
    /// changed them, sent when its events end.
    static BCAST_PENDING: RefCell<Vec<(Vec<u8>, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Names the client whose command runs on this thread from now on (0: none).
pub fn set_current(id: u64) {
    CURRENT.with(|c| c.set(id));
}

/// No limits: tracking messages wait in a connection's queue only until it next looks,
/// and `client-output-buffer-limit normal` applies to them once in its output.
static UNLIMITED: Limits = Limits {
    hard: AtomicU64::new(0),
    soft: AtomicU64::new(0),
    soft_secs: AtomicU64::new(0),
};

/// What an invalidation message carries.
enum Payload<'a> {
    /// These keys changed.
    Keys(&'a [&'a [u8]]),
    /// Every key may have changed (`FLUSHALL`, `FLUSHDB`).
    All,
}

impl Tracking {
    /// Number of clients with tracking on.
    pub fn clients(&self) -> usize {
        self.clients.read().len()
    }

    /// `(keys, items, prefixes)` of the tables, for `INFO`.
    pub fn totals(&self) -> (usize, usize, usize) {
        (
            self.keys.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            self.prefixes.read().len(),
        )
    }

    fn shard(&self, key: &[u8]) -> &Mutex<KeyTable> {
        &self.table[(self.hasher.hash_one(key) as usize) % TABLE_SHARDS]
    }

    /// `CLIENT TRACKING ON`: checks `opts` against each other and the client's current
    /// mode; `Err` is the error reply. `redirect_to` is the redirect target's handle.
    pub fn enable(
        &self,
        ks: &flashdb_core::Keyspace,
        client: &Arc<ClientHandle>,
        opts: Options,
        redirect_to: Option<&Arc<ClientHandle>>,
    ) -> Result<(), String> {
        let mut t = client.tracking.lock();
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
        }
        if t.on && t.bcast != opts.bcast {
            return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
        }
        if opts.optin && opts.optout {
            return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
        }
        if (opts.optin && t.optout) || (opts.optout && t.optin) {
            return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
        }
        if opts.bcast {
            check_prefixes(&t.prefixes, &opts.prefixes)?;
        }
        t.on = true;
        t.redirect = opts.redirect;
        t.redirect_to = redirect_to.map(Arc::downgrade).unwrap_or_default();
        t.broken_redirect = false;
        t.bcast = opts.bcast;
        t.optin = opts.optin;
        t.optout = opts.optout;
        t.noloop = opts.noloop;
        if opts.bcast {
            let mut table = self.prefixes.write();
            let given = if opts.prefixes.is_empty() {
                vec![Vec::new()]
            } else {
                opts.prefixes
            };
            for p in given {
                table.entry(p.clone()).or_default().insert(client.id);
                t.prefixes.insert(p);
            }
        }
        drop(t);
        self.clients.write().insert(client.id, client.clone());
        ks.set_event_track(true);
        Ok(())
    }

    /// `CLIENT TRACKING OFF`, `RESET`, or the connection closed. The client's entries
    /// in the key table stay until their keys change (as in Redis: removing them would
    /// cost a scan of the table).
    pub fn disable(&self, ks: &flashdb_core::Keyspace, client: &ClientHandle) {
        let mut t = client.tracking.lock();
        if !t.on {
            return;
        }
        if t.bcast {
            let mut table = self.prefixes.write();
            for p in std::mem::take(&mut t.prefixes) {
                if let Some(ids) = table.get_mut(&p) {
                    ids.remove(&client.id);
                    if ids.is_empty() {
                        table.remove(&p);
                    }
                }
            }
        }
        *t = ClientTracking::default();
        drop(t);
        let mut clients = self.clients.write();
        clients.remove(&client.id);
        if clients.is_empty() {
            ks.set_event_track(false);
        }
    }

    /// Remembers that client `id` read `keys`; called while the read's locks are held.
    pub fn remember(&self, id: u64, keys: &[Vec<u8>]) {
        for key in keys {
            let mut shard = self.shard(key).lock();
            if let Some(ids) = shard.get_mut(key.as_slice()) {
                if !ids.contains(&id) {
                    ids.push(id);
                    self.items.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                shard.insert(key.as_slice().into(), smallvec::smallvec![id]);
                self.keys.fetch_add(1, Ordering::Relaxed);
                self.items.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.limit_keys();
    }

    /// Keeps the table within `tracking-table-max-keys`: past it, keys are forgotten and
    /// their clients told, as if the keys had changed (Redis's `trackingLimitUsedSlots`).
    fn limit_keys(&self) {
        let max = self.max_keys.load(Ordering::Relaxed) as usize;
        if max == 0 {
            return;
        }
        let mut shard_index = 0;
        while self.keys.load(Ordering::Relaxed) > max && shard_index < TABLE_SHARDS * 4 {
            let victim = {
                let shard = self.table[shard_index % TABLE_SHARDS].lock();
                shard.keys().next().cloned()
            };
            shard_index += 1;
            if let Some(key) = victim {
                self.invalidate_tracked(&key, 0);
            }
        }
    }

    /// A key changed (by client `by`, 0 for none): tells the clients that may cache it.
    pub fn invalidate(&self, key: &[u8]) {
        let by = CURRENT.with(|c| c.get());
        if !self.prefixes.read().is_empty() {
            BCAST_PENDING.with(|p| p.borrow_mut().push((key.to_vec(), by)));
        }
        self.invalidate_tracked(key, by);
    }

    fn invalidate_tracked(&self, key: &[u8], by: u64) {
        let Some(ids) = self.shard(key).lock().remove(key) else {
            return;
        };
        self.keys.fetch_sub(1, Ordering::Relaxed);
        self.items.fetch_sub(ids.len(), Ordering::Relaxed);
        for id in ids {
            let Some(client) = self.clients.read().get(&id).cloned() else {
                continue;
            };
            let mut t = client.tracking.lock();
            // A client that switched to BCAST since it read the key hears of it there.
            if !t.on || t.bcast || (t.noloop && id == by) {
                continue;
            }
            send(&client, &mut t, Payload::Keys(&[key]));
        }
    }

    /// Sends the `BCAST` messages for the keys the command that just ended changed.
    pub fn flush_bcast(&self) {
        let pending = BCAST_PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()));
        if pending.is_empty() {
            return;
        }
        let prefixes = self.prefixes.read();
        for (prefix, ids) in prefixes.iter() {
            let mut keys: BTreeMap<&[u8], u64> = BTreeMap::new();
            for (key, by) in &pending {
                if key.starts_with(prefix) {
                    keys.insert(key, *by);
                }
            }
            if keys.is_empty() {
                continue;
            }
            for id in ids {
                let Some(client) = self.clients.read().get(id).cloned() else {
                    continue;
                };
                let mut t = client.tracking.lock();
                let list: Vec<&[u8]> = keys
                    .iter()
                    .filter(|(_, by)| !(t.noloop && *by == id))
                    .map(|(k, _)| *k)
                    .collect();
                if !list.is_empty() {
                    send(&client, &mut t, Payload::Keys(&list));
                }
            }
        }
    }

    /// Every key may have changed (`FLUSHALL`, `FLUSHDB`): every tracking client is
    /// told so with a null, and the table is emptied.
    pub fn invalidate_all(&self) {
        for shard in self.table.iter() {
            let mut s = shard.lock();
            self.items
                .fetch_sub(s.values().map(|v| v.len()).sum(), Ordering::Relaxed);
            self.keys.fetch_sub(s.len(), Ordering::Relaxed);
            s.clear();
        }
        let clients: Vec<Arc<ClientHandle>> = self.clients.read().values().cloned().collect();
        for client in clients {
            let mut t = client.tracking.lock();
            if t.on {
                send(&client, &mut t, Payload::All);
            }
        }
    }
}

/// Refuses prefixes of which one starts another, among themselves or with those the
/// client follows already, with Redis's error.
fn check_prefixes(existing: &BTreeSet<Vec<u8>>, given: &[Vec<u8>]) -> Result<(), String> {
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (i, p) in given.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| overlap(e, p)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(e)
            ));
        }
        if let Some(q) = given[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                text(p),
                text(q)
            ));
        }
    }
    Ok(())
}

/// Sends an invalidation message for `client` (with settings `t`), to it or to the
/// client it redirects to, as Redis's `sendTrackingMessage`.
fn send(client: &Arc<ClientHandle>, t: &mut ClientTracking, payload: Payload<'_>) {
    let (dest, redirected) = if t.redirect != 0 {
        match t.redirect_to.upgrade().filter(|r| !r.is_closed()) {
            Some(r) => (r, true),
            None => {
                t.broken_redirect = true;
                if client.resp.load(Ordering::Relaxed) == 3 {
                    let f = format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{}\r\n", t.redirect);
                    push(client, Bytes::new(), Bytes::from(f.into_bytes()));
                }
                return;
            }
        }
    } else {
        (client.clone(), false)
    };
    let resp3 = dest.resp.load(Ordering::Relaxed) == 3;
    // RESP2 has no push frames: only a redirect target in pub/sub mode can be told.
    let subscribed = dest.subscriptions.load(Ordering::Relaxed) > 0;
    if !(resp3 || (redirected && subscribed)) {
        return;
    }
    let mut body = Vec::new();
    match payload {
        Payload::Keys(keys) => {
            body.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                body.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
                body.extend_from_slice(k);
                body.extend_from_slice(b"\r\n");
            }
        }
        Payload::All if resp3 => body.extend_from_slice(b"_\r\n"),
        Payload::All => body.extend_from_slice(b"$-1\r\n"),
    }
    let mut frame = if resp3 {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    } else {
        b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n".to_vec()
    };
    frame.extend_from_slice(&body);
    let frame = Bytes::from(frame);
    if resp3 {
        push(&dest, Bytes::new(), frame);
    } else {
        push(&dest, frame, Bytes::new());
    }
}

/// Queues a frame (RESP2's, RESP3's) on a client's connection.
fn push(dest: &ClientHandle, resp2: Bytes, resp3: Bytes) {
    let msg = Arc::new(Message::frames(resp2, resp3));
    dest.push.deliver(&msg, &UNLIMITED);
}
