//! Number parsing and formatting with Redis's exact rules.

use flashdb_protocol::parse_i64;

/// Parses a signed 64-bit integer as Redis's `string2ll` (no `+`, no leading zeros, no
/// spaces).
pub fn parse_int(s: &[u8]) -> Option<i64> {
    parse_i64(s)
}

/// Parses a double as Redis's `string2ld`/`getDoubleFromObject`: no leading or trailing
/// spaces, `inf`/`-inf`/`infinity` accepted, NaN rejected.
pub fn parse_float(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 5120 {
        return None;
    }
    if s[0].is_ascii_whitespace() || s[s.len() - 1].is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let lower = text.to_ascii_lowercase();
    let v = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => {
            // Rust accepts forms strtod does not ("1_0" is rejected by both; "nan" must not be).
            if lower.contains("nan") || lower.contains("inf") {
                return None;
            }
            text.parse::<f64>().ok()?
        }
    };
    if v.is_nan() {
        return None;
    }
    Some(v)
}

/// Formats the result of `INCRBYFLOAT` as Redis does: plain decimal notation, no exponent,
/// at most 17 decimals, trailing zeros removed.
pub fn format_incr_float(v: f64) -> String {
    // The shortest representation that round-trips matches Redis's long-double output for
    // the values people add; it never uses an exponent in Rust's `Display`.
    let s = format!("{v}");
    if let Some(dot) = s.find('.') {
        if s.len() - dot - 1 > 17 {
            let mut r = format!("{v:.17}");
            while r.ends_with('0') {
                r.pop();
            }
            if r.ends_with('.') {
                r.pop();
            }
            return r;
        }
    }
    s
}

/// Whether a string is an integer that Redis would store with the `int` encoding.
pub fn is_int_encodable(s: &[u8]) -> bool {
    s.len() <= 20 && parse_int(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        assert_eq!(parse_float(b"1.5"), Some(1.5));
        assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"1 "), None);
        assert_eq!(parse_float(b"abc"), None);
        assert_eq!(parse_float(b""), None);
    }

    #[test]
    fn incr_float_format() {
        assert_eq!(format_incr_float(10.5 + 0.1), "10.6");
        assert_eq!(format_incr_float(5000.0), "5000");
        assert_eq!(format_incr_float(3.0), "3");
        assert_eq!(format_incr_float(-1.25), "-1.25");
        assert_eq!(format_incr_float(1e20), "100000000000000000000");
    }
}
