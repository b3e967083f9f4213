//! Geo commands, as Redis's `geo.c`: positions are members of a sorted set whose score
//! is the position's 52-bit geohash ([`crate::geohash`]), so every sorted-set command
//! works on a geo key and answers what Redis answers.

use super::{eq_ic, lookup, Lookup};
use crate::ctx::{errors, Ctx};
use crate::geohash::{self, Search, Shape};
use crate::keyspace::Locked;
use crate::long_double::LongDouble;
use crate::numeric::parse_float;
use crate::types::zset::ZSet;
use crate::value::Value;

/// Parses a longitude and latitude (Redis's `extractLongLatOrReply`).
fn parse_lon_lat(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) -> Option<(f64, f64)> {
    let (Some(lon), Some(lat)) = (parse_float(args[0]), parse_float(args[1])) else {
        ctx.err(errors::NOT_FLOAT);
        return None;
    };
    if !(geohash::LONG_MIN..=geohash::LONG_MAX).contains(&lon)
        || !(geohash::LAT_MIN..=geohash::LAT_MAX).contains(&lat)
    {
        ctx.err(&format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        ));
        return None;
    }
    Some((lon, lat))
}

/// Meters per unit (Redis's `extractUnitOrReply`).
fn parse_unit(ctx: &mut Ctx<'_, '_>, arg: &[u8]) -> Option<f64> {
    let unit = if eq_ic(arg, b"m") {
        1.0
    } else if eq_ic(arg, b"km") {
        1000.0
    } else if eq_ic(arg, b"ft") {
        0.3048
    } else if eq_ic(arg, b"mi") {
        1609.34
    } else {
        ctx.err("ERR unsupported unit provided. please use M, KM, FT, MI");
        return None;
    };
    Some(unit)
}

/// Parses a non-negative number, replying `ERR <what>` when it is not one.
fn parse_length(ctx: &mut Ctx<'_, '_>, arg: &[u8], what: &str) -> Option<f64> {
    let v = parse_float(arg);
    if v.is_none() {
        ctx.err(&format!("ERR {what}"));
    }
    v
}

/// `radius unit` (Redis's `extractDistanceOrReply`).
fn parse_radius(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) -> Option<(Shape, f64)> {
    let r = parse_length(ctx, args[0], "need numeric radius")?;
    if r < 0.0 {
        ctx.err("ERR radius cannot be negative");
        return None;
    }
    Some((Shape::Radius(r), parse_unit(ctx, args[1])?))
}

/// `width height unit` (Redis's `extractBoxOrReply`).
fn parse_box(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) -> Option<(Shape, f64)> {
    let width = parse_length(ctx, args[0], "need numeric width")?;
    let height = parse_length(ctx, args[1], "need numeric height")?;
    if height < 0.0 || width < 0.0 {
        ctx.err("ERR height or width cannot be negative");
        return None;
    }
    Some((Shape::Box { width, height }, parse_unit(ctx, args[2])?))
}

/// A coordinate as Redis's `addReplyHumanLongDouble`: a bulk string in RESP2, a double
/// in RESP3, both `%.17Lf` without trailing zeros.
fn reply_coordinate(ctx: &mut Ctx<'_, '_>, v: f64) {
    let text = LongDouble::from_f64(v).to_human_string();
    if ctx.out.version() == flashdb_protocol::ProtocolVersion::Resp3 {
        ctx.out.raw(format!(",{text}\r\n").as_bytes());
    } else {
        ctx.out.bulk(text.as_bytes());
    }
}

/// A distance as Redis's `addReplyDoubleDistance`: four decimals, a bulk string.
fn reply_distance(ctx: &mut Ctx<'_, '_>, d: f64) {
    ctx.out.bulk(format!("{d:.4}").as_bytes());
}

/// The sorted set at `key` for reading; `Err` after replying `WRONGTYPE`.
fn geo_set<'l>(
    ctx: &mut Ctx<'_, '_>,
    l: &'l mut Locked<'_>,
    key: &[u8],
) -> Result<Option<&'l ZSet>, ()> {
    match lookup(ctx, l, key, true, super::is::zset) {
        Lookup::WrongType => Err(()),
        Lookup::Missing => Ok(None),
        Lookup::Found(s) => match &l.entry(s).value {
            Value::ZSet(z) => Ok(Some(z)),
            _ => Ok(None),
        },
    }
}

/// `GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]`
pub fn geoadd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < args.len() {
        let a = args[first];
        if eq_ic(a, b"nx") {
            nx = true;
        } else if eq_ic(a, b"xx") {
            xx = true;
        } else if !eq_ic(a, b"ch") {
            break;
        }
        first += 1;
    }
    if !(args.len() - first).is_multiple_of(3) || (nx && xx) {
        return ctx.err(errors::SYNTAX);
    }
    // As Redis, the positions become scores of a `ZADD` with the same options.
    let mut scores = Vec::with_capacity((args.len() - first) / 3);
    for t in args[first..].chunks_exact(3) {
        let Some((lon, lat)) = parse_lon_lat(ctx, t) else {
            return;
        };
        let score = geohash::score_of(lon, lat).unwrap_or(0);
        scores.push(score.to_string());
    }
    let mut zargs: Vec<&[u8]> = args[..first].to_vec();
    for (t, score) in args[first..].chunks_exact(3).zip(&scores) {
        zargs.push(score.as_bytes());
        zargs.push(t[2]);
    }
    super::zset::zadd(ctx, &zargs);
}

/// `GEOPOS key [member [member ...]]`
pub fn geopos(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    let Ok(z) = geo_set(ctx, &mut l, key) else {
        return;
    };
    let positions: Vec<Option<(f64, f64)>> = args[2..]
        .iter()
        .map(|m| z.and_then(|z| z.score(m)).and_then(geohash::decode_score))
        .collect();
    ctx.out.array(positions.len());
    for p in positions {
        match p {
            None => ctx.out.null_array(),
            Some((lon, lat)) => {
                ctx.out.array(2);
                reply_coordinate(ctx, lon);
                reply_coordinate(ctx, lat);
            }
        }
    }
}

/// `GEOHASH key [member [member ...]]`
pub fn geohash_cmd(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    let Ok(z) = geo_set(ctx, &mut l, key) else {
        return;
    };
    let hashes: Vec<Option<String>> = args[2..]
        .iter()
        .map(|m| {
            z.and_then(|z| z.score(m))
                .and_then(geohash::standard_string)
        })
        .collect();
    ctx.out.array(hashes.len());
    for h in hashes {
        match h {
            None => ctx.out.null(),
            Some(h) => ctx.out.bulk(h.as_bytes()),
        }
    }
}

/// `GEODIST key member1 member2 [M | KM | FT | MI]`
pub fn geodist(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    let unit = match args.len() {
        4 => 1.0,
        5 => match parse_unit(ctx, args[4]) {
            Some(u) => u,
            None => return,
        },
        _ => return ctx.err(errors::SYNTAX),
    };
    let key = args[1];
    let mut l = ctx.lock(&[key]);
    let Ok(z) = geo_set(ctx, &mut l, key) else {
        return;
    };
    let pos = |m: &[u8]| z.and_then(|z| z.score(m)).and_then(geohash::decode_score);
    match (pos(args[2]), pos(args[3])) {
        (Some(a), Some(b)) => {
            let d = geohash::distance(a.0, a.1, b.0, b.1) / unit;
            reply_distance(ctx, d);
        }
        _ => ctx.out.null(),
    }
}

/// Which search command runs.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// `GEORADIUS[_RO] key lon lat radius unit ...`
    Radius { store: bool },
    /// `GEORADIUSBYMEMBER[_RO] key member radius unit ...`
    ByMember { store: bool },
    /// `GEOSEARCH key ...`
    Search,
    /// `GEOSEARCHSTORE dest key ...`
    SearchStore,
}

/// One match.
struct Point {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    dist: f64,
}

/// The options of a search, parsed.
#[derive(Default)]
struct Options<'a> {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    sort: Option<bool>,
    count: i64,
    store: Option<&'a [u8]>,
    store_dist: bool,
    from_member: Option<&'a [u8]>,
    /// `FROMLONLAT` was given (the centre may also come from `FROMMEMBER`).
    from_loc: bool,
    from_lonlat: Option<(f64, f64)>,
    shape: Option<(Shape, f64)>,
}

/// `GEORADIUS key longitude latitude radius M|KM|FT|MI [WITHCOORD] [WITHDIST] [WITHHASH]
/// [COUNT count [ANY]] [ASC|DESC] [STORE key|STOREDIST key]`
pub fn georadius(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::Radius { store: true });
}

/// `GEORADIUS_RO`: `GEORADIUS` without `STORE`.
pub fn georadius_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::Radius { store: false });
}

/// `GEORADIUSBYMEMBER key member radius M|KM|FT|MI [...]`
pub fn georadiusbymember(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::ByMember { store: true });
}

/// `GEORADIUSBYMEMBER_RO`: `GEORADIUSBYMEMBER` without `STORE`.
pub fn georadiusbymember_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::ByMember { store: false });
}

/// `GEOSEARCH key FROMMEMBER member|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit
/// [ASC|DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]`
pub fn geosearch(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::Search);
}

/// `GEOSEARCHSTORE destination source ... [STOREDIST]`
pub fn geosearchstore(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    search(ctx, args, Kind::SearchStore);
}

/// The position of `member` in `z`.
fn member_position(z: &ZSet, member: &[u8]) -> Option<(f64, f64)> {
    z.score(member).and_then(geohash::decode_score)
}

const NO_MEMBER: &str = "ERR could not decode requested zset member";

/// Redis's `georadiusGeneric`.
fn search(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], kind: Kind) {
    let src_at = if kind == Kind::SearchStore { 2 } else { 1 };
    let src = args[src_at];
    // The source, and the destination of STORE or GEOSEARCHSTORE, where the table says.
    let keys: Vec<&[u8]> = match ctx.spec.keys_in(args) {
        Some(at) => at.into_iter().map(|i| args[i]).collect(),
        None => vec![src],
    };
    let db = ctx.db;
    let mut l = ctx.lock(&keys);
    let z = match geo_set(ctx, &mut l, src) {
        Err(()) => return,
        Ok(z) => z,
    };
    let mut o = Options::default();
    let base = match kind {
        Kind::Radius { .. } => {
            let Some(center) = parse_lon_lat(ctx, &args[2..4]) else {
                return;
            };
            o.from_lonlat = Some(center);
            let Some(shape) = parse_radius(ctx, &args[4..6]) else {
                return;
            };
            o.shape = Some(shape);
            6
        }
        Kind::ByMember { .. } => {
            if let Some(z) = z {
                let Some(center) = member_position(z, args[2]) else {
                    return ctx.err(NO_MEMBER);
                };
                o.from_lonlat = Some(center);
                let Some(shape) = parse_radius(ctx, &args[3..5]) else {
                    return;
                };
                o.shape = Some(shape);
            }
            5
        }
        Kind::Search => 2,
        Kind::SearchStore => {
            o.store = Some(args[1]);
            3
        }
    };
    let geosearch = matches!(kind, Kind::Search | Kind::SearchStore);
    let may_store = matches!(
        kind,
        Kind::Radius { store: true } | Kind::ByMember { store: true }
    );
    let rest = &args[base..];
    let mut i = 0;
    while i < rest.len() {
        let a = rest[i];
        let left = rest.len() - i - 1;
        if eq_ic(a, b"withdist") {
            o.with_dist = true;
        } else if eq_ic(a, b"withhash") {
            o.with_hash = true;
        } else if eq_ic(a, b"withcoord") {
            o.with_coord = true;
        } else if eq_ic(a, b"any") {
            o.any = true;
        } else if eq_ic(a, b"asc") {
            o.sort = Some(true);
        } else if eq_ic(a, b"desc") {
            o.sort = Some(false);
        } else if eq_ic(a, b"count") && left >= 1 {
            let Some(n) = crate::numeric::parse_int(rest[i + 1]) else {
                return ctx.err(errors::NOT_INT);
            };
            if n <= 0 {
                return ctx.err("ERR COUNT must be > 0");
            }
            o.count = n;
            i += 1;
        } else if (eq_ic(a, b"store") || eq_ic(a, b"storedist")) && left >= 1 && may_store {
            o.store = Some(rest[i + 1]);
            o.store_dist = eq_ic(a, b"storedist");
            i += 1;
        } else if eq_ic(a, b"storedist") && kind == Kind::SearchStore {
            o.store_dist = true;
        } else if eq_ic(a, b"frommember") && left >= 1 && geosearch && !o.from_loc {
            o.from_member = Some(rest[i + 1]);
            if let Some(z) = z {
                match member_position(z, rest[i + 1]) {
                    Some(c) => o.from_lonlat = Some(c),
                    None => return ctx.err(NO_MEMBER),
                }
            }
            i += 1;
        } else if eq_ic(a, b"fromlonlat") && left >= 2 && geosearch && o.from_member.is_none() {
            let Some(c) = parse_lon_lat(ctx, &rest[i + 1..i + 3]) else {
                return;
            };
            o.from_lonlat = Some(c);
            o.from_loc = true;
            i += 2;
        } else if eq_ic(a, b"byradius")
            && left >= 2
            && geosearch
            && !matches!(o.shape, Some((Shape::Box { .. }, _)))
        {
            let Some(s) = parse_radius(ctx, &rest[i + 1..i + 3]) else {
                return;
            };
            o.shape = Some(s);
            i += 2;
        } else if eq_ic(a, b"bybox")
            && left >= 3
            && geosearch
            && !matches!(o.shape, Some((Shape::Radius(_), _)))
        {
            let Some(s) = parse_box(ctx, &rest[i + 1..i + 4]) else {
                return;
            };
            o.shape = Some(s);
            i += 3;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        i += 1;
    }
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        let what = if kind == Kind::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return ctx.err(&format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        ));
    }
    let name = String::from_utf8_lossy(args[0]);
    if geosearch && o.from_member.is_none() && o.from_lonlat.is_none() {
        return ctx.err(&format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        ));
    }
    if geosearch && o.shape.is_none() {
        return ctx.err(&format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        ));
    }
    if o.any && o.count == 0 {
        return ctx.err("ERR the ANY argument requires COUNT argument");
    }
    let (Some(z), Some(center), Some((shape, unit))) = (z, o.from_lonlat, o.shape) else {
        // No source key.
        match o.store {
            Some(dest) => {
                super::set::store(&mut l, db, dest, None);
                ctx.out.int(0);
            }
            None => ctx.out.array(0),
        }
        return;
    };
    // COUNT without ANY needs the nearest: sort ascending unless told otherwise.
    let sort = match o.sort {
        None if o.count != 0 && !o.any => Some(true),
        s => s,
    };
    let search = Search {
        center,
        shape,
        unit,
    };
    let limit = if o.any { o.count as usize } else { 0 };
    let mut points = collect(z, &search, limit);
    if points.is_empty() && o.store.is_none() {
        return ctx.out.array(0);
    }
    match sort {
        Some(true) => points.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
        Some(false) => points.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
        None => {}
    }
    let returned = if o.count == 0 {
        points.len()
    } else {
        points.len().min(o.count as usize)
    };
    points.truncate(returned);
    if let Some(dest) = o.store {
        let mut out = ZSet::default();
        for p in &points {
            let score = if o.store_dist { p.dist / unit } else { p.score };
            out.set(&p.member, score);
        }
        let v = (!points.is_empty()).then(|| Value::ZSet(Box::new(out)));
        super::set::store(&mut l, db, dest, v);
        if !points.is_empty() {
            l.signal_ready(db, dest);
        }
        return ctx.out.int(returned as i64);
    }
    let options = usize::from(o.with_dist) + usize::from(o.with_hash) + usize::from(o.with_coord);
    ctx.out.array(points.len());
    for p in &points {
        if options > 0 {
            ctx.out.array(options + 1);
        }
        ctx.out.bulk(&p.member);
        if o.with_dist {
            reply_distance(ctx, p.dist / unit);
        }
        if o.with_hash {
            ctx.out.int(p.score as i64);
        }
        if o.with_coord {
            ctx.out.array(2);
            reply_coordinate(ctx, p.lon);
            reply_coordinate(ctx, p.lat);
        }
    }
}

/// The members within the search, cell by cell in Redis's order (Redis's
/// `membersOfAllNeighbors`); with `limit`, stops once that many are found.
fn collect(z: &ZSet, search: &Search, limit: usize) -> Vec<Point> {
    let cells = search.cells();
    let mut points = Vec::new();
    let mut last: Option<usize> = None;
    for (i, cell) in cells.iter().enumerate() {
        if cell.bits == 0 && cell.step == 0 {
            continue;
        }
        // Large radii make neighbours coincide: a cell equal to the last one visited is
        // skipped. (As in Redis, the centre cell never counts as that last one.)
        if let Some(j) = last.filter(|&j| j > 0) {
            if cells[j] == *cell {
                continue;
            }
        }
        if limit > 0 && points.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_range(*cell);
        let (min, max) = (min as f64, max as f64);
        let start = z.first_rank_where(|s, _| s >= min);
        let end = z.end_rank_where(|s, _| s < max);
        if start < end {
            let mut full = false;
            z.walk(start, end - 1, false, |member, score| {
                if full {
                    return;
                }
                let Some((lon, lat)) = geohash::decode_score(score) else {
                    return;
                };
                if let Some(dist) = search.distance_if_within(lon, lat) {
                    points.push(Point {
                        member: member.to_vec(),
                        score,
                        lon,
                        lat,
                        dist,
                    });
                    full = limit > 0 && points.len() >= limit;
                }
            });
        }
        last = Some(i);
    }
    points
}
