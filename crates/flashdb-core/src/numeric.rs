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
}
