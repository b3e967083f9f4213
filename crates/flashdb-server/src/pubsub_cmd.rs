//! The pub/sub commands: `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`, their `UNSUBSCRIBE`s,
//! `PUBLISH`, `SPUBLISH` and `PUBSUB`, as Redis 7's `pubsub.c`.

use bytes::Bytes;
use flashdb_protocol::ProtocolVersion;

use crate::connection::ConnState;
use crate::pubsub::{ClientSubs, Kind};
use crate::server::Server;

/// Whether the connection is in RESP2's subscribed state.
pub fn restricted(st: &ConnState) -> bool {
    st.out.version() == ProtocolVersion::Resp2 && st.subs.as_ref().is_some_and(|s| s.any())
}

fn reply_names(kind: Kind) -> (&'static [u8], &'static [u8]) {
    match kind {
        Kind::Message => (b"subscribe", b"unsubscribe"),
        Kind::PMessage => (b"psubscribe", b"punsubscribe"),
        Kind::SMessage => (b"ssubscribe", b"sunsubscribe"),
    }
}

/// The count a (un)subscribe reply carries: channels plus patterns, or shard channels.
fn count(subs: &ClientSubs, kind: Kind) -> i64 {
    match kind {
        Kind::SMessage => subs.shard.len() as i64,
        _ => subs.count() as i64,
    }
}

/// `SUBSCRIBE`, `PSUBSCRIBE`, `SSUBSCRIBE`.
pub fn subscribe(server: &Server, st: &mut ConnState, kind: Kind, names: &[&[u8]]) {
    let subs = st
        .subs
        .get_or_insert_with(|| ClientSubs::new(st.handle.clone()));
    for name in names {
        let name = Bytes::copy_from_slice(name);
        if subs.set(kind).insert(name.clone()) {
            server.pubsub.subscribe(kind, name.clone(), &subs.sub);
        }
        st.out.push(3);
        st.out.bulk(reply_names(kind).0);
        st.out.bulk(&name);
        st.out.int(count(subs, kind));
    }
    note_count(st);
}

/// Keeps the connection's subscription count where other clients see it (client-side
/// caching's redirect to a RESP2 subscriber).
fn note_count(st: &ConnState) {
    let n = st.subs.as_ref().map_or(0, |s| s.count() + s.shard.len());
    st.handle
        .subscriptions
        .store(n, std::sync::atomic::Ordering::Relaxed);
}

/// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE`: the named subscriptions, or all of this
/// kind when none is named.
pub fn unsubscribe(server: &Server, st: &mut ConnState, kind: Kind, names: &[&[u8]]) {
    let subs = st
        .subs
        .get_or_insert_with(|| ClientSubs::new(st.handle.clone()));
    let names: Vec<Bytes> = if names.is_empty() {
        subs.set(kind).iter().cloned().collect()
    } else {
        names.iter().map(|n| Bytes::copy_from_slice(n)).collect()
    };
    if names.is_empty() {
        st.out.push(3);
        st.out.bulk(reply_names(kind).1);
        st.out.null();
        st.out.int(count(subs, kind));
        return;
    }
    for name in names {
        if subs.set(kind).remove(&name) {
            server.pubsub.unsubscribe(kind, &name, &subs.sub);
        }
        st.out.push(3);
        st.out.bulk(reply_names(kind).1);
        st.out.bulk(&name);
        st.out.int(count(subs, kind));
    }
    note_count(st);
}

/// `PUBLISH channel message` and `SPUBLISH shardchannel message`.
pub fn publish(server: &Server, st: &mut ConnState, kind: Kind, args: &[&[u8]]) {
    let n = match kind {
        Kind::SMessage => server.pubsub.spublish(args[1], args[2]),
        _ => server.pubsub.publish(args[1], args[2]),
    };
    st.out.int(n as i64);
}

/// `PUBSUB CHANNELS|NUMSUB|NUMPAT|SHARDCHANNELS|SHARDNUMSUB`.
pub fn pubsub(server: &Server, st: &mut ConnState, name: &str, args: &[&[u8]]) {
    let hub = &server.pubsub;
    match name {
        "pubsub|channels" | "pubsub|shardchannels" => {
            if args.len() > 3 {
                // Redis's wording names the subcommand as sent.
                let msg = format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try PUBSUB HELP.",
                    String::from_utf8_lossy(args[1])
                );
                return st.out.error(&msg);
            }
            let kind = if name == "pubsub|channels" {
                Kind::Message
            } else {
                Kind::SMessage
            };
            let found = hub.active(kind, args.get(2).copied());
            st.out.array(found.len());
            for c in found {
                st.out.bulk(&c);
            }
        }
        "pubsub|numsub" | "pubsub|shardnumsub" => {
            let kind = if name == "pubsub|numsub" {
                Kind::Message
            } else {
                Kind::SMessage
            };
            // An array even in RESP3, as Redis sends it.
            st.out.array((args.len() - 2) * 2);
            for c in &args[2..] {
                st.out.bulk(c);
                st.out.int(hub.count(kind, c) as i64);
            }
        }
        "pubsub|numpat" => st.out.int(hub.numpat() as i64),
        _ => {
            st.out.array(PUBSUB_HELP.len());
            for l in PUBSUB_HELP {
                st.out.simple(l.as_bytes());
            }
        }
    }
}

const PUBSUB_HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];
