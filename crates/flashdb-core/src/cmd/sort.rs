//! `SORT` and `SORT_RO`, as Redis's `sort.c`: the elements of a list, set or sorted set,
//! ordered by their own value or by keys their value names (`BY weight_*`,
//! `BY data_*->field`), with `GET` patterns, `LIMIT` and `STORE`.

use std::cmp::Ordering;

use super::eq_ic;
use crate::ctx::{errors, Ctx};
use crate::keyspace::Locked;
use crate::numeric::parse_int;
use crate::types::list::{End, List};
use crate::value::Value;

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC |
/// DESC] [ALPHA] [STORE destination]`
pub fn sort(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    sort_generic(ctx, args, false);
}

/// `SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]`
pub fn sort_ro(ctx: &mut Ctx<'_, '_>, args: &[&[u8]]) {
    sort_generic(ctx, args, true);
}

/// One element being sorted: the element, its numeric weight, and for `ALPHA ... BY`
/// the string it sorts by.
struct Item {
    obj: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// Parses as C's `strtod` must consume the whole string (how Redis reads a weight):
/// leading spaces allowed, the empty string is 0, overflow, underflow and NaN refused.
fn weight(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    let text = std::str::from_utf8(&s[start..]).ok()?;
    let (neg, body) = match text.as_bytes()[0] {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        hex_float(hex)?
    } else {
        let v: f64 = body.parse().ok()?;
        // ERANGE, out of range either way: an overflow to infinity, or an underflow to
        // zero or a subnormal from digits that were not all zero.
        if v.is_infinite()
            && !body.eq_ignore_ascii_case("inf")
            && !body.eq_ignore_ascii_case("infinity")
        {
            return None;
        }
        if v.abs() < f64::MIN_POSITIVE {
            let mantissa = body.split(['e', 'E']).next().unwrap_or("");
            if mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
                return None;
            }
        }
        v
    };
    if v.is_nan() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// A C99 hexadecimal float after its `0x`: hex digits, an optional fraction, an
/// optional binary exponent `p[+-]n`.
fn hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = match s.find(['p', 'P']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    let v = v * 2f64.powi(exp);
    v.is_finite().then_some(v)
}

/// The key a pattern names for `element`, and the hash field after `->` if any (Redis's
/// `lookupKeyByPattern`); `None` when the pattern has no `*`.
fn substitute<'p>(pattern: &'p [u8], element: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    // C string functions: the pattern ends at its first NUL.
    let pattern = &pattern[..pattern
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(pattern.len())];
    let star = pattern.iter().position(|&b| b == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&i| i + 2 < after.len());
    let (postfix, field) = match arrow {
        Some(i) => (&after[..i], Some(&after[i + 2..])),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(star + element.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(postfix);
    Some((key, field))
}

/// The value `pattern` names for `element`: the element itself for `#`, a string key,
/// or a hash field; `None` when there is none.
fn lookup_pattern(
    l: &mut Locked<'_>,
    db: usize,
    pattern: &[u8],
    element: &[u8],
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let (key, field) = substitute(pattern, element)?;
    let slot = l.find_read(db, &key)?;
    match (&l.entry(slot).value, field) {
        (Value::Str(v), None) => Some(v.as_slice().to_vec()),
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// C's `strcoll` in the C locale: a byte comparison that stops at the first NUL.
fn collate(a: &[u8], b: &[u8]) -> Ordering {
    let cut = |s: &[u8]| s.iter().position(|&c| c == 0).map_or(s.len(), |i| i);
    a[..cut(a)].cmp(&b[..cut(b)])
}

fn sort_generic(ctx: &mut Ctx<'_, '_>, args: &[&[u8]], read_only: bool) {
    let (mut desc, mut alpha) = (false, false);
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut dontsort = false;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let a = args[j];
        if eq_ic(a, b"asc") {
            desc = false;
        } else if eq_ic(a, b"desc") {
            desc = true;
        } else if eq_ic(a, b"alpha") {
            alpha = true;
        } else if eq_ic(a, b"limit") && left >= 2 {
            let (Some(s), Some(c)) = (parse_int(args[j + 1]), parse_int(args[j + 2])) else {
                return ctx.err(errors::NOT_INT);
            };
            (limit_start, limit_count) = (s, c);
            j += 2;
        } else if !read_only && eq_ic(a, b"store") && left >= 1 {
            store = Some(args[j + 1]);
            j += 1;
        } else if eq_ic(a, b"by") && left >= 1 {
            sortby = Some(args[j + 1]);
            // A pattern without `*` names no key: keep the elements' own order.
            dontsort = !args[j + 1].contains(&b'*');
            j += 1;
        } else if eq_ic(a, b"get") && left >= 1 {
            gets.push(args[j + 1]);
            j += 1;
        } else {
            return ctx.err(errors::SYNTAX);
        }
        j += 1;
    }
    let (src, db) = (args[1], ctx.db);
    let reaches_other_keys =
        (!dontsort && sortby.is_some()) || gets.iter().any(|g| *g != b"#" && g.contains(&b'*'));
    let mut keys = vec![src];
    keys.extend(store);
    let mut l = if reaches_other_keys {
        ctx.lock_all()
    } else {
        ctx.lock(&keys)
    };
    let found = l.find_read(db, src);
    let value = found.map(|s| &l.entry(s).value);
    if value.is_some_and(|v| !matches!(v, Value::List(_) | Value::Set(_) | Value::ZSet(_))) {
        return ctx.err(errors::WRONGTYPE);
    }
    // An unordered set gets a defined order when it is stored (as in Redis, which does
    // the same for scripts).
    if dontsort && store.is_some() && matches!(value, Some(Value::Set(_))) {
        dontsort = false;
        alpha = true;
        sortby = None;
    }
    let len = match value {
        Some(Value::List(x)) => x.len(),
        Some(Value::Set(x)) => x.len(),
        Some(Value::ZSet(x)) => x.len(),
        _ => 0,
    } as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    // Elements kept in their own order only need the range asked for.
    let ordered = matches!(value, Some(Value::List(_) | Value::ZSet(_)));
    let mut items: Vec<Item> = Vec::new();
    let item = |obj: &[u8]| Item {
        obj: obj.to_vec(),
        score: 0.0,
        by: None,
    };
    if dontsort && ordered {
        if end >= start {
            let (a, b) = (start as usize, end as usize);
            match value {
                Some(Value::List(x)) if desc => {
                    let n = x.len();
                    items.extend(x.iter_range(n - 1 - b, n - 1 - a).rev().map(item));
                }
                Some(Value::List(x)) => items.extend(x.iter_range(a, b).map(item)),
                Some(Value::ZSet(z)) => {
                    let n = z.len();
                    let (a2, b2) = if desc { (n - 1 - b, n - 1 - a) } else { (a, b) };
                    z.walk(a2, b2, desc, |m, _| items.push(item(m)));
                }
                _ => {}
            }
            end -= start;
            start = 0;
        }
    } else {
        match value {
            Some(Value::List(x)) => items.extend(x.iter().map(item)),
            Some(Value::Set(x)) => items.extend(x.iter().map(|m| item(&m))),
            Some(Value::ZSet(z)) => items.extend(z.iter().map(|(m, _)| item(m))),
            _ => {}
        }
    }
    let mut conversion_error = false;
    if !dontsort {
        for it in items.iter_mut() {
            let Some(p) = sortby else {
                // By the element itself: ALPHA compares elements, numbers need a weight.
                if !alpha {
                    match weight(&it.obj) {
                        Some(w) => it.score = w,
                        None => conversion_error = true,
                    }
                }
                continue;
            };
            let Some(by) = lookup_pattern(&mut l, db, p, &it.obj) else {
                continue;
            };
            if alpha {
                it.by = Some(by);
            } else {
                match weight(&by) {
                    Some(w) => it.score = w,
                    None => conversion_error = true,
                }
            }
        }
        let storing = store.is_some();
        let by_pattern = sortby.is_some();
        let cmp = |a: &Item, b: &Item| -> Ordering {
            let c = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.obj.cmp(&b.obj))
            } else if by_pattern {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) if storing => x.cmp(y),
                    (Some(x), Some(y)) => collate(x, y),
                }
            } else if storing {
                a.obj.cmp(&b.obj)
            } else {
                collate(&a.obj, &b.obj)
            };
            if desc {
                c.reverse()
            } else {
                c
            }
        };
        items.sort_by(cmp);
    }
    if conversion_error {
        return ctx.err("ERR One or more scores can't be converted into double");
    }
    let range: &[Item] = if end >= start {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let Some(dest) = store else {
        let per = gets.len().max(1);
        ctx.out.array(range.len() * per);
        for it in range {
            if gets.is_empty() {
                ctx.out.bulk(&it.obj);
            }
            for g in &gets {
                match lookup_pattern(&mut l, db, g, &it.obj) {
                    Some(v) => ctx.out.bulk(&v),
                    None => ctx.out.null(),
                }
            }
        }
        return;
    };
    let mut list = List::default();
    for it in range {
        if gets.is_empty() {
            list.push(End::Right, &it.obj);
        }
        for g in &gets {
            let v = lookup_pattern(&mut l, db, g, &it.obj).unwrap_or_default();
            list.push(End::Right, &v);
        }
    }
    let n = list.len();
    let v = (n > 0).then(|| Value::List(Box::new(list)));
    super::set::store(&mut l, db, dest, v);
    if n > 0 {
        l.signal_ready(db, dest);
    }
    ctx.out.int(n as i64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_parse_as_strtod_over_the_whole_string() {
        assert_eq!(weight(b""), Some(0.0));
        assert_eq!(weight(b"  3.5"), Some(3.5));
        assert_eq!(weight(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(weight(b"0x1A"), Some(26.0));
        assert_eq!(weight(b"0x1p4"), Some(16.0));
        assert_eq!(weight(b"1e400"), None);
        assert_eq!(weight(b"1e-400"), None);
        assert_eq!(weight(b"0e-400"), Some(0.0));
        assert_eq!(weight(b"nan"), None);
        assert_eq!(weight(b"3 "), None);
        assert_eq!(weight(b"   "), None);
        assert_eq!(weight(b"abc"), None);
    }

    #[test]
    fn patterns_substitute_the_first_star_and_split_the_field() {
        assert_eq!(substitute(b"w_*", b"3"), Some((b"w_3".to_vec(), None)));
        assert_eq!(
            substitute(b"h_*->f", b"a"),
            Some((b"h_a".to_vec(), Some(&b"f"[..])))
        );
        assert_eq!(substitute(b"h_*->", b"a"), Some((b"h_a->".to_vec(), None)));
        assert_eq!(substitute(b"nostar", b"a"), None);
    }
}
