//! Stream commands, as Redis 7.0's `t_stream.c`: `XADD`, `XRANGE`, `XREVRANGE`, `XLEN`,
//! `XDEL`, `XTRIM`, `XSETID` and `XREAD` (blocking too).
//!
//! Every write is logged as its effect (the id an `XADD` resolved, the first id a trim
//! kept), so that recovery and replicas reproduce it whatever the clock or the blocks.

use super::{eq_ic, is, lookup, Lookup};
use crate::ctx::{errors, Ctx};
use crate::keyspace::{Locked, Slot, Ttl};
use crate::log_entry::LogEntry;
use crate::numeric::parse_int;
use crate::types::stream::{Entry, Stream, StreamId};
use crate::value::Value;

pub(super) const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Entries an `XREAD` that blocked returns at most when it gave no `COUNT` (Redis's
/// `XREAD_BLOCKED_DEFAULT_COUNT`).
pub(super) const BLOCKED_DEFAULT_COUNT: &[u8] = b"1000";

pub(super) fn stream_at<'l>(l: &'l Locked<'_>, s: Slot) -> &'l Stream {
    match &l.entry(s).value {
        Value::Stream(v) => v,
        _ => unreachable!("slot checked to hold a stream"),
    }
}

pub(super) fn stream_mut<'l>(l: &'l mut Locked<'_>, s: Slot) -> &'l mut Stream {
    match &mut l.entry_mut(s).value {
        Value::Stream(v) => v,
        _ => unreachable!("slot checked to hold a stream"),
    }
}

/// An unsigned number as Redis's `string2ull` reads one: what `strtoull` reads whole,
/// so leading white space and a `+` are allowed (a `-` never reaches it: it separates
/// an id's parts).
fn parse_u64(s: &[u8]) -> Option<u64> {
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(s.len());
    let s = &s[start..];
    let s = s.strip_prefix(b"+").unwrap_or(s);
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// How an id argument was written.
pub(super) struct ParsedId {
    pub(super) id: StreamId,
    /// `false` for `ms-*` (the sequence is to be chosen).
    pub(super) seq_given: bool,
}

/// Redis's `streamGenericParseIDOrReply`: `-`, `+` (unless `strict`), `ms`, `ms-seq`, and
/// `ms-*` where `star` allows it; a missing sequence is `missing_seq`.
pub(super) fn parse_id(arg: &[u8], missing_seq: u64, strict: bool, star: bool) -> Option<ParsedId> {
    if arg.len() > 127 {
        return None;
    }
    let given = |id| {
        Some(ParsedId {
            id,
            seq_given: true,
        })
    };
    match arg {
        b"-" if !strict => return given(StreamId::MIN),
        b"+" if !strict => return given(StreamId::MAX),
        _ => {}
    }
    match arg.iter().position(|&b| b == b'-') {
        None => given(StreamId::new(parse_u64(arg)?, missing_seq)),
        Some(dash) => {
            let ms = parse_u64(&arg[..dash])?;
            let seq = &arg[dash + 1..];
            if star && seq == b"*" {
                Some(ParsedId {
                    id: StreamId::new(ms, 0),
                    seq_given: false,
                })
            } else {
                given(StreamId::new(ms, parse_u64(seq)?))
            }
        }
    }
}

pub(super) fn strict_id(arg: &[u8]) -> Option<StreamId> {
    parse_id(arg, 0, true, false).map(|p| p.id)
}

pub(super) fn write_id(ctx: &mut Ctx<'_, '_>, id: StreamId) {
    ctx.out.bulk(&id.to_bytes());
}

pub(super) fn write_entries(ctx: &mut Ctx<'_, '_>, entries: &[Entry]) {
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(2);
        write_id(ctx, e.id);
        ctx.out.array(e.fields.len() * 2);
        for (f, v) in &e.fields {
            ctx.out.bulk(f);
            ctx.out.bulk(v);
        }
    }
}

/// Trimming options of `XADD` and `XTRIM`.
#[derive(Default)]
struct Trim {
    maxlen: Option<u64>,
    minid: Option<StreamId>,
    approx: bool,
    limit: u64,
}

impl Trim {
    fn wanted(&self) -> bool {
        self.maxlen.is_some() || self.minid.is_some()
    }
}

/// What `XADD`'s options say, and where its id argument is.
struct AddArgs {
    trim: Trim,
    nomkstream: bool,
    /// The id given, `None` for `*`.
    id: Option<ParsedId>,
    /// Index of the id argument.
    id_pos: usize,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`; `None` after replying the error.
fn parse_add_or_trim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], xadd: bool) -> Option<AddArgs> {
    let mut a = AddArgs {
        trim: Trim::default(),
        nomkstream: false,
        id: None,
        id_pos: args.len(),
    };
    let mut limit: Option<i64> = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            a.id_pos = i;
            break;
        } else if (eq_ic(opt, b"maxlen") || eq_ic(opt, b"minid")) && more > 0 {
            if a.trim.wanted() {
                ctx.err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
                return None;
            }
            a.trim.approx = false;
            let next = args[i + 1];
            if more >= 2 && (next == b"~" || next == b"=") {
                a.trim.approx = next == b"~";
                i += 1;
            }
            let value = args[i + 1];
            if eq_ic(opt, b"maxlen") {
                let Some(n) = parse_int(value) else {
                    ctx.err(errors::NOT_INT);
                    return None;
                };
                if n < 0 {
                    ctx.err("ERR The MAXLEN argument must be >= 0.");
                    return None;
                }
                a.trim.maxlen = Some(n as u64);
            } else {
                let Some(id) = strict_id(value) else {
                    ctx.err(INVALID_ID);
                    return None;
                };
                a.trim.minid = Some(id);
            }
            i += 1;
        } else if eq_ic(opt, b"limit") && more > 0 {
            let Some(n) = parse_int(args[i + 1]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            if n < 0 {
                ctx.err("ERR The LIMIT argument must be >= 0.");
                return None;
            }
            limit = Some(n);
            i += 1;
        } else if xadd && eq_ic(opt, b"nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            let Some(id) = parse_id(opt, 0, true, true) else {
                ctx.err(INVALID_ID);
                return None;
            };
            a.id = Some(id);
            a.id_pos = i;
            break;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if limit.is_some_and(|n| n != 0) && !a.trim.wanted() {
        ctx.err("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
        return None;
    }
    if !xadd && !a.trim.wanted() {
        ctx.err("ERR syntax error, XTRIM must be called with a trimming strategy");
        return None;
    }
    match limit {
        Some(_) if !a.trim.approx => {
            ctx.err("ERR syntax error, LIMIT cannot be used without the special ~ option");
            return None;
        }
        Some(n) => a.trim.limit = n as u64,
        None if a.trim.approx => a.trim.limit = 100 * crate::types::stream::NODE_MAX_ENTRIES as u64,
        None => {}
    }
    Some(a)
}

/// Trims the stream at `s` and logs what went (as the first id kept); whether anything
/// did.
fn trim_logged(l: &mut Locked<'_>, s: Slot, db: usize, key: &[u8], trim: &Trim) -> u64 {
    let st = stream_mut(l, s);
    let deleted = st.trim(trim.maxlen, trim.minid, trim.approx, trim.limit);
    if deleted > 0 {
        // Everything below the first entry left went: replay removes exactly that.
        let before = match st.first_entry() {
            Some(e) => e.id,
            None => st.last_id.next().unwrap_or(StreamId::MAX),
        };
        l.log(LogEntry::XTrim {
            db: db as u32,
            key,
            before: (before.ms, before.seq),
        });
    }
    deleted
}

/// `XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value
/// [field value ...]`
pub fn xadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(a) = parse_add_or_trim(ctx, args, true) else {
        return;
    };
    let field_pos = a.id_pos + 1;
    let nfields = args.len().saturating_sub(field_pos);
    if nfields < 2 || nfields % 2 == 1 {
        return ctx.arity_err();
    }
    if let Some(p) = &a.id {
        if p.seq_given && p.id == StreamId::MIN {
            return ctx.err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = args[1];
    let db = ctx.db;
    let now = ctx.now;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => s,
        Lookup::WrongType => return,
        Lookup::Missing if a.nomkstream => return ctx.out.null(),
        Lookup::Missing => {
            // Created only once the id is known to be valid (below).
            let fresh = Stream::new();
            let id = match next_id(&fresh, a.id.as_ref(), now) {
                Ok(id) => id,
                Err(e) => return ctx.err(e),
            };
            let s = l.set(db, key, Value::Stream(Box::default()), Ttl::Clear);
            return add_at(ctx, &mut l, s, key, id, &args[field_pos..], &a.trim);
        }
    };
    let id = match next_id(stream_at(&l, s), a.id.as_ref(), now) {
        Ok(id) => id,
        Err(e) => return ctx.err(e),
    };
    add_at(ctx, &mut l, s, key, id, &args[field_pos..], &a.trim);
}

/// The id a new entry gets, as Redis's `streamAppendItem` chooses it.
fn next_id(s: &Stream, given: Option<&ParsedId>, now: u64) -> Result<StreamId, &'static str> {
    const TOP: &str =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    if s.last_id == StreamId::MAX {
        return Err("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let id = match given {
        Some(p) if p.seq_given => p.id,
        Some(p) if p.id.ms == s.last_id.ms => {
            if s.last_id.seq == u64::MAX {
                return Err(TOP);
            }
            StreamId::new(p.id.ms, s.last_id.seq + 1)
        }
        Some(p) => p.id,
        None if now > s.last_id.ms => StreamId::new(now, 0),
        None => s.last_id.next().ok_or(TOP)?,
    };
    if id <= s.last_id {
        return Err(TOP);
    }
    Ok(id)
}

fn add_at(
    ctx: &mut Ctx<'_, '_>,
    l: &mut Locked<'_>,
    s: Slot,
    key: &[u8],
    id: StreamId,
    fields: &[&[u8]],
    trim: &Trim,
) {
    let db = ctx.db;
    let pairs: Vec<(&[u8], &[u8])> = fields.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    stream_mut(l, s).append(id, &pairs);
    write_id(ctx, id);
    l.log(LogEntry::XAdd {
        db: db as u32,
        key,
        id: (id.ms, id.seq),
        fields: fields.into(),
    });
    if trim.wanted() {
        trim_logged(l, s, db, key, trim);
    }
    l.signal_ready(db, key);
}

/// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`
pub fn xtrim(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(a) = parse_add_or_trim(ctx, args, false) else {
        return;
    };
    let key = args[1];
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => s,
        Lookup::WrongType => return,
        Lookup::Missing => return ctx.out.int(0),
    };
    let deleted = trim_logged(&mut l, s, db, key, &a.trim);
    ctx.out.int(deleted as i64);
}

/// `XLEN key`
pub fn xlen(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[1]]);
    match lookup(ctx, &mut l, args[1], true, is::stream) {
        Lookup::Found(s) => {
            let n = stream_at(&l, s).len();
            ctx.out.int(n as i64);
        }
        Lookup::Missing => ctx.out.int(0),
        Lookup::WrongType => {}
    }
}

/// `XDEL key id [id ...]`
pub fn xdel(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => s,
        Lookup::WrongType => return,
        Lookup::Missing => return ctx.out.int(0),
    };
    // Every id is checked before any entry goes, as Redis does.
    let mut ids = Vec::with_capacity(args.len() - 2);
    for a in &args[2..] {
        match strict_id(a) {
            Some(id) => ids.push(id),
            None => return ctx.err(INVALID_ID),
        }
    }
    let st = stream_mut(&mut l, s);
    let deleted: Vec<(u64, u64)> = ids
        .into_iter()
        .filter(|id| st.delete(*id))
        .map(|id| (id.ms, id.seq))
        .collect();
    let n = deleted.len();
    if n > 0 {
        l.log(LogEntry::XDel {
            db: db as u32,
            key,
            ids: deleted,
        });
    }
    ctx.out.int(n as i64);
}

/// `XRANGE key start end [COUNT count]`
pub fn xrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    range(ctx, args, false);
}

/// `XREVRANGE key end start [COUNT count]`
pub fn xrevrange(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    range(ctx, args, true);
}

/// An interval bound: `(` makes it exclusive (Redis's `streamParseIntervalIDOrReply`).
fn interval_id(arg: &[u8], missing_seq: u64) -> Option<(StreamId, bool)> {
    if arg.len() > 1 && arg[0] == b'(' {
        parse_id(&arg[1..], missing_seq, true, false).map(|p| (p.id, true))
    } else {
        parse_id(arg, missing_seq, false, false).map(|p| (p.id, false))
    }
}

/// The first id of an interval (`XRANGE`, `XPENDING`, `XAUTOCLAIM`): an exclusive start
/// moves to the next id. `Err` is the error reply.
pub(super) fn start_bound(arg: &[u8]) -> Result<StreamId, &'static str> {
    match interval_id(arg, 0) {
        None => Err(INVALID_ID),
        Some((id, false)) => Ok(id),
        Some((id, true)) => id.next().ok_or("ERR invalid start ID for the interval"),
    }
}

/// The last id of an interval: an exclusive end moves to the id before.
pub(super) fn end_bound(arg: &[u8]) -> Result<StreamId, &'static str> {
    match interval_id(arg, u64::MAX) {
        None => Err(INVALID_ID),
        Some((id, false)) => Ok(id),
        Some((id, true)) => id.prev().ok_or("ERR invalid end ID for the interval"),
    }
}

fn range(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], rev: bool) {
    let (start_arg, end_arg) = if rev {
        (args[3], args[2])
    } else {
        (args[2], args[3])
    };
    let start = match start_bound(start_arg) {
        Ok(id) => id,
        Err(e) => return ctx.err(e),
    };
    let end = match end_bound(end_arg) {
        Ok(id) => id,
        Err(e) => return ctx.err(e),
    };
    let mut count: i64 = -1;
    let mut j = 4;
    while j < args.len() {
        if eq_ic(args[j], b"count") && j + 1 < args.len() {
            let Some(n) = parse_int(args[j + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            count = n.max(0);
            j += 2;
        } else {
            return ctx.err(errors::SYNTAX);
        }
    }
    let mut l = ctx.lock(&[args[1]]);
    let s = match lookup(ctx, &mut l, args[1], true, is::stream) {
        Lookup::Found(s) => s,
        Lookup::Missing => return ctx.out.array(0),
        Lookup::WrongType => return,
    };
    if count == 0 {
        return ctx.out.null_array();
    }
    let limit = usize::try_from(count.max(0)).unwrap_or(usize::MAX);
    let entries = stream_at(&l, s).range(start, end, limit, rev);
    write_entries(ctx, &entries);
}

/// `XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]`
pub fn xsetid(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(id) = strict_id(args[2]) else {
        return ctx.err(INVALID_ID);
    };
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = StreamId::MIN;
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if eq_ic(args[i], b"entriesadded") && more {
            let Some(n) = parse_int(args[i + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if n < 0 {
                return ctx.err("ERR entries_added must be positive");
            }
            entries_added = Some(n as u64);
        } else if eq_ic(args[i], b"maxdeletedid") && more {
            let Some(m) = strict_id(args[i + 1]) else {
                return ctx.err(INVALID_ID);
            };
            if id < m {
                return ctx.err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            max_deleted = m;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 2;
    }
    let key = args[1];
    let db = ctx.db;
    let mut l = ctx.lock(&[key]);
    let s = match lookup(ctx, &mut l, key, false, is::stream) {
        Lookup::Found(s) => s,
        Lookup::WrongType => return,
        Lookup::Missing => return ctx.err("ERR no such key"),
    };
    let st = stream_mut(&mut l, s);
    if let Some(top) = st.last_entry() {
        if id < top.id {
            return ctx
                .err("ERR The ID specified in XSETID is smaller than the target stream top item");
        }
        if entries_added.is_some_and(|n| st.len() > n) {
            return ctx.err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    if id < st.max_deleted {
        return ctx
            .err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
    }
    st.last_id = id;
    if let Some(n) = entries_added {
        st.entries_added = n;
    }
    if max_deleted != StreamId::MIN {
        st.max_deleted = max_deleted;
    }
    let (last, added, maxdel) = (st.last_id, st.entries_added, st.max_deleted);
    l.log(LogEntry::XSetId {
        db: db as u32,
        key,
        last: (last.ms, last.seq),
        entries_added: added,
        max_deleted: (maxdel.ms, maxdel.seq),
    });
    ctx.out.ok();
}

/// The options of `XREAD` and `XREADGROUP`, as Redis's `xreadCommand` parses them.
pub(super) struct ReadArgs<'a> {
    /// `COUNT` (0: no limit).
    pub(super) count: usize,
    /// Whether `COUNT` was given.
    pub(super) count_given: bool,
    /// `BLOCK`'s deadline in Unix milliseconds (0: forever).
    pub(super) block: Option<u64>,
    /// Index of the first key after `STREAMS`.
    pub(super) streams_at: usize,
    /// `GROUP group consumer` (`XREADGROUP`).
    pub(super) group: Option<(&'a [u8], &'a [u8])>,
    /// `NOACK` (`XREADGROUP`).
    pub(super) noack: bool,
}

/// Parses `XREAD`'s (or, with `group`, `XREADGROUP`'s) options; `None` after replying.
pub(super) fn parse_read_args<'a>(
    ctx: &mut Ctx<'_, '_>,
    args: &[&'a [u8]],
    group: bool,
) -> Option<ReadArgs<'a>> {
    let mut r = ReadArgs {
        count: 0,
        count_given: false,
        block: None,
        streams_at: 0,
        group: None,
        noack: false,
    };
    let name = if group { "XREADGROUP" } else { "XREAD" };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let o = args[i];
        if eq_ic(o, b"block") && more > 0 {
            if ctx.in_script {
                // As Redis: blocking makes no sense in a script, and it says so rather
                // than run the read without blocking as it does other blocking commands.
                let msg = format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    String::from_utf8_lossy(args[0])
                );
                ctx.err(&msg);
                return None;
            }
            i += 1;
            let Some(ms) = parse_int(args[i]) else {
                ctx.err("ERR timeout is not an integer or out of range");
                return None;
            };
            if ms < 0 {
                ctx.err("ERR timeout is negative");
                return None;
            }
            r.block = Some(if ms == 0 {
                0
            } else {
                ctx.now.saturating_add(ms as u64)
            });
        } else if eq_ic(o, b"count") && more > 0 {
            i += 1;
            let Some(n) = parse_int(args[i]) else {
                ctx.err(errors::NOT_INT);
                return None;
            };
            r.count = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
            r.count_given = true;
        } else if eq_ic(o, b"streams") && more > 0 {
            r.streams_at = i + 1;
            if !(args.len() - r.streams_at).is_multiple_of(2) {
                let symbol = if group { '>' } else { '$' };
                ctx.err(&format!("ERR Unbalanced {name} list of streams: for each stream key an ID or '{symbol}' must be specified."));
                return None;
            }
            break;
        } else if eq_ic(o, b"group") && more >= 2 {
            if !group {
                ctx.err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                return None;
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if eq_ic(o, b"noack") {
            if !group {
                ctx.err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                return None;
            }
            r.noack = true;
        } else {
            ctx.err(errors::SYNTAX);
            return None;
        }
        i += 1;
    }
    if r.streams_at == 0 {
        ctx.err(errors::SYNTAX);
        return None;
    }
    Some(r)
}

/// Opens a reply of one item per stream: a map in RESP3, an array of pairs in RESP2.
pub(super) fn begin_per_stream(ctx: &mut Ctx<'_, '_>, n: usize) {
    if ctx.out.version() == flashdb_protocol::ProtocolVersion::Resp3 {
        ctx.out.map(n);
    } else {
        ctx.out.array(n);
    }
}

/// Starts one stream's item of a [`begin_per_stream`] reply: its key.
pub(super) fn stream_item(ctx: &mut Ctx<'_, '_>, key: &[u8]) {
    if ctx.out.version() != flashdb_protocol::ProtocolVersion::Resp3 {
        ctx.out.array(2);
    }
    ctx.out.bulk(key);
}

/// `XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]`
pub fn xread(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let Some(ReadArgs {
        count,
        count_given,
        block,
        streams_at,
        ..
    }) = parse_read_args(ctx, args, false)
    else {
        return;
    };
    let n = (args.len() - streams_at) / 2;
    let keys = &args[streams_at..streams_at + n];
    let id_args = &args[streams_at + n..];
    let mut l = ctx.lock(keys);
    let db = ctx.db;
    // Every key's type and id are checked before anything is read.
    let mut after = Vec::with_capacity(n);
    for (key, id_arg) in keys.iter().zip(id_args) {
        let found = match l.find_read(db, key) {
            Some(s) if is::stream(&l.entry(s).value) => Some(s),
            Some(_) => return ctx.err(errors::WRONGTYPE),
            None => None,
        };
        if *id_arg == b"$" {
            after.push(found.map_or(StreamId::MIN, |s| stream_at(&l, s).last_id));
            continue;
        }
        if *id_arg == b">" {
            return ctx.err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
        }
        match strict_id(id_arg) {
            Some(id) => after.push(id),
            None => return ctx.err(INVALID_ID),
        }
    }
    let mut replies: Vec<(&[u8], Vec<Entry>)> = Vec::new();
    for (key, gt) in keys.iter().zip(&after) {
        let Some(s) = l.find(db, key) else { continue };
        let st = stream_at(&l, s);
        let has_newer = st.last_entry().is_some_and(|e| e.id > *gt);
        if !has_newer {
            continue;
        }
        let Some(start) = gt.next() else { continue };
        replies.push((key, st.range(start, StreamId::MAX, count, false)));
    }
    if !replies.is_empty() {
        begin_per_stream(ctx, replies.len());
        for (key, entries) in &replies {
            stream_item(ctx, key);
            write_entries(ctx, entries);
        }
        return;
    }
    drop(l);
    let Some(deadline) = block.filter(|_| ctx.held.is_none()) else {
        // No BLOCK, or inside a transaction (which never blocks): as a timeout.
        return ctx.out.null_array();
    };
    // Blocked, the command runs again with `$` resolved to the ids read now, and with
    // Redis's default COUNT for a blocked read.
    let mut again: Vec<Vec<u8>> = vec![b"XREAD".to_vec(), b"COUNT".to_vec()];
    again.push(if count_given {
        count.to_string().into_bytes()
    } else {
        BLOCKED_DEFAULT_COUNT.to_vec()
    });
    again.push(b"BLOCK".to_vec());
    again.push(b"0".to_vec());
    again.push(b"STREAMS".to_vec());
    again.extend(keys.iter().map(|k| k.to_vec()));
    again.extend(after.iter().map(|id| id.to_bytes()));
    super::block_on_with(ctx, keys, deadline, 0, crate::ctx::TimeoutReply::NullArray);
    if let Some(on) = ctx.block.as_mut() {
        on.args = Some(again);
    }
}

/// `XINFO HELP`
pub fn xinfo_help(ctx: &mut Ctx<'_, '_>, _args: &[&[u8]]) {
    super::command::help_reply(
        ctx,
        &[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ],
    );
}

/// Finds the stream `XINFO` asks about: `ERR no such key` when missing.
fn xinfo_stream_slot(ctx: &mut Ctx<'_, '_>, l: &mut Locked<'_>, key: &[u8]) -> Option<Slot> {
    match lookup(ctx, l, key, false, is::stream) {
        Lookup::Found(s) => Some(s),
        Lookup::WrongType => None,
        Lookup::Missing => {
            ctx.err("ERR no such key");
            None
        }
    }
}

/// `XINFO STREAM key [FULL [COUNT count]]`
pub fn xinfo_stream(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let full = args.len() > 3;
    let mut count: usize = 10;
    let bad_args = match args.len() {
        3 => false,
        4 => !eq_ic(args[3], b"full"),
        6 => !eq_ic(args[3], b"full") || !eq_ic(args[4], b"count"),
        _ => true,
    };
    if bad_args {
        let msg = format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
            String::from_utf8_lossy(args[1])
        );
        return ctx.err(&msg);
    }
    if args.len() == 6 {
        let Some(n) = parse_int(args[5]) else {
            return ctx.err(errors::NOT_INT);
        };
        count = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
    }
    let mut l = ctx.lock(&[args[2]]);
    let Some(s) = xinfo_stream_slot(ctx, &mut l, args[2]) else {
        return;
    };
    let st = stream_at(&l, s);
    let first = st.first_entry();
    let last = st.last_entry();
    ctx.out.map(if full { 9 } else { 10 });
    ctx.out.bulk(b"length");
    ctx.out.int(st.len() as i64);
    // FlashDB's blocks stand for Redis's radix tree keys; a tree of them has one node
    // more than keys, about.
    ctx.out.bulk(b"radix-tree-keys");
    ctx.out.int(st.blocks() as i64);
    ctx.out.bulk(b"radix-tree-nodes");
    ctx.out.int(st.blocks() as i64 + 1);
    ctx.out.bulk(b"last-generated-id");
    write_id(ctx, st.last_id);
    ctx.out.bulk(b"max-deleted-entry-id");
    write_id(ctx, st.max_deleted);
    ctx.out.bulk(b"entries-added");
    ctx.out.int(st.entries_added as i64);
    ctx.out.bulk(b"recorded-first-entry-id");
    write_id(ctx, first.as_ref().map_or(StreamId::MIN, |e| e.id));
    if full {
        let entries = st.range(StreamId::MIN, StreamId::MAX, count, false);
        ctx.out.bulk(b"entries");
        write_entries(ctx, &entries);
        ctx.out.bulk(b"groups");
        ctx.out.array(st.groups.len());
        let limit = if count == 0 { usize::MAX } else { count };
        for (name, g) in &st.groups {
            ctx.out.map(7);
            ctx.out.bulk(b"name");
            ctx.out.bulk(name);
            ctx.out.bulk(b"last-delivered-id");
            write_id(ctx, g.last_id);
            ctx.out.bulk(b"entries-read");
            write_opt(ctx, g.entries_read);
            ctx.out.bulk(b"lag");
            write_opt(ctx, st.lag(g));
            ctx.out.bulk(b"pel-count");
            ctx.out.int(g.pending.len() as i64);
            ctx.out.bulk(b"pending");
            let shown: Vec<_> = g.pending.iter().take(limit).collect();
            ctx.out.array(shown.len());
            for (id, p) in shown {
                ctx.out.array(4);
                write_id(ctx, *id);
                ctx.out.bulk(&p.consumer);
                ctx.out.int(p.delivery_time as i64);
                ctx.out.int(p.delivery_count as i64);
            }
            ctx.out.bulk(b"consumers");
            ctx.out.array(g.consumers.len());
            for (cname, c) in &g.consumers {
                ctx.out.map(4);
                ctx.out.bulk(b"name");
                ctx.out.bulk(cname);
                ctx.out.bulk(b"seen-time");
                ctx.out.int(c.seen_time as i64);
                ctx.out.bulk(b"pel-count");
                ctx.out.int(c.pending.len() as i64);
                ctx.out.bulk(b"pending");
                let shown: Vec<_> = c.pending.iter().take(limit).collect();
                ctx.out.array(shown.len());
                for id in shown {
                    let p = g.pending.get(id);
                    ctx.out.array(3);
                    write_id(ctx, *id);
                    ctx.out.int(p.map_or(0, |p| p.delivery_time) as i64);
                    ctx.out.int(p.map_or(0, |p| p.delivery_count) as i64);
                }
            }
        }
        return;
    }
    ctx.out.bulk(b"groups");
    ctx.out.int(st.groups.len() as i64);
    for (name, e) in [(b"first-entry".as_slice(), first), (b"last-entry", last)] {
        ctx.out.bulk(name);
        match e {
            Some(e) => {
                ctx.out.array(2);
                write_id(ctx, e.id);
                ctx.out.array(e.fields.len() * 2);
                for (f, v) in &e.fields {
                    ctx.out.bulk(f);
                    ctx.out.bulk(v);
                }
            }
            None => ctx.out.null(),
        }
    }
}

/// An integer, or a null when unknown.
fn write_opt(ctx: &mut Ctx<'_, '_>, v: Option<u64>) {
    match v {
        Some(n) => ctx.out.int(n as i64),
        None => ctx.out.null(),
    }
}

/// `XINFO GROUPS key`
pub fn xinfo_groups(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut l = ctx.lock(&[args[2]]);
    let Some(s) = xinfo_stream_slot(ctx, &mut l, args[2]) else {
        return;
    };
    let st = stream_at(&l, s);
    ctx.out.array(st.groups.len());
    for (name, g) in &st.groups {
        ctx.out.map(6);
        ctx.out.bulk(b"name");
        ctx.out.bulk(name);
        ctx.out.bulk(b"consumers");
        ctx.out.int(g.consumers.len() as i64);
        ctx.out.bulk(b"pending");
        ctx.out.int(g.pending.len() as i64);
        ctx.out.bulk(b"last-delivered-id");
        write_id(ctx, g.last_id);
        ctx.out.bulk(b"entries-read");
        write_opt(ctx, g.entries_read);
        ctx.out.bulk(b"lag");
        write_opt(ctx, st.lag(g));
    }
}

/// `XINFO CONSUMERS key group`
pub fn xinfo_consumers(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let now = ctx.now;
    let mut l = ctx.lock(&[args[2]]);
    let Some(s) = xinfo_stream_slot(ctx, &mut l, args[2]) else {
        return;
    };
    let Some(g) = stream_at(&l, s).groups.get(args[3]) else {
        let msg = format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            String::from_utf8_lossy(args[3]),
            String::from_utf8_lossy(args[2])
        );
        return ctx.err(&msg);
    };
    ctx.out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        ctx.out.map(3);
        ctx.out.bulk(b"name");
        ctx.out.bulk(name);
        ctx.out.bulk(b"pending");
        ctx.out.int(c.pending.len() as i64);
        ctx.out.bulk(b"idle");
        ctx.out.int(now.saturating_sub(c.seen_time) as i64);
    }
}
