//! 80-bit extended precision, as the C `long double` Redis uses for `INCRBYFLOAT` (and
//! `HINCRBYFLOAT`), so that FlashDB produces the same digits: `10.5 + 0.1` is `10.6`, and
//! `5.6 + 5000` is `5005.60000000000000009`, exactly as Redis answers.
//!
//! Parsing and addition come from `rustc_apfloat` (LLVM's APFloat, correctly rounded);
//! formatting is C's `%.17Lf`, computed exactly from the significand and exponent.

use num_bigint::BigUint;
use rustc_apfloat::ieee::X87DoubleExtended;
use rustc_apfloat::{Float, Round, Status};

/// Longest text Redis accepts or produces for a long double (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;

/// A C `long double` on x86-64.
#[derive(Debug, Clone, Copy)]
pub struct LongDouble(X87DoubleExtended);

impl std::ops::Add for LongDouble {
    type Output = LongDouble;

    /// The correctly rounded sum (round to nearest, ties to even, as the x87 FPU does).
    fn add(self, other: LongDouble) -> LongDouble {
        LongDouble((self.0 + other.0).value)
    }
}

impl LongDouble {
    /// Zero.
    pub const ZERO: LongDouble = LongDouble(X87DoubleExtended::ZERO);

    /// The `long double` a C `double` converts to (exactly).
    pub fn from_f64(v: f64) -> LongDouble {
        use rustc_apfloat::ieee::Double;
        use rustc_apfloat::FloatConvert;
        let d = Double::from_bits(u128::from(v.to_bits()));
        let mut loses_info = false;
        LongDouble(d.convert(&mut loses_info).value)
    }

    /// Parses as Redis's `string2ld`: `strtold` on the whole string, no leading space,
    /// NaN refused, overflow and underflow to zero refused.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        if s.is_empty() || s.len() >= MAX_CHARS {
            return None;
        }
        let text = std::str::from_utf8(s).ok()?;
        let (negative, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            let inf = X87DoubleExtended::INFINITY;
            return Some(LongDouble(if negative { -inf } else { inf }));
        }
        let normalized = strtold_syntax(body)?;
        let parsed = X87DoubleExtended::from_str_r(&normalized, Round::NearestTiesToEven).ok()?;
        let v = parsed.value;
        if v.is_nan()
            || parsed.status.contains(Status::OVERFLOW)
            || (parsed.status.contains(Status::UNDERFLOW) && v.is_zero())
        {
            return None;
        }
        Some(LongDouble(if negative { -v } else { v }))
    }

    /// Whether the value is NaN or infinite.
    pub fn is_nan_or_infinite(self) -> bool {
        self.0.is_nan() || self.0.is_infinite()
    }

    /// Formats as Redis's `ld2string(..., LD_STR_HUMAN)`: `%.17Lf` with trailing zeros (and
    /// a trailing dot) removed, and `-0` written `0`. Values needing more than Redis's
    /// buffer give an empty string, as Redis's does.
    pub fn to_human_string(self) -> String {
        let bits = self.0.to_bits();
        let negative = bits >> 79 & 1 == 1;
        let exp_field = ((bits >> 64) & 0x7fff) as i64;
        let sig = (bits & u128::from(u64::MAX)) as u64;
        // value = sig * 2^power; denormals use the minimum exponent.
        let power = if exp_field == 0 {
            1 - 16383 - 63
        } else {
            exp_field - 16383 - 63
        };
        let scale = BigUint::from(10u32).pow(17);
        let scaled = BigUint::from(sig) * scale;
        let digits = if power >= 0 {
            scaled << (power as usize)
        } else {
            let shift = (-power) as usize;
            let q: BigUint = &scaled >> shift;
            let rem = &scaled - (&q << shift);
            let half = BigUint::from(1u32) << (shift - 1);
            // Round half to even, as glibc's printf does on the exact binary value.
            if rem > half || (rem == half && q.bit(0)) {
                q + 1u32
            } else {
                q
            }
        };
        let mut text = digits.to_str_radix(10);
        if text.len() < 18 {
            text = "0".repeat(18 - text.len()) + &text;
        }
        let point = text.len() - 17;
        let mut out = String::with_capacity(text.len() + 2);
        if negative {
            out.push('-');
        }
        out.push_str(&text[..point]);
        out.push('.');
        out.push_str(&text[point..]);
        if out.len() + 1 > MAX_CHARS {
            return String::new();
        }
        while out.ends_with('0') {
            out.pop();
        }
        if out.ends_with('.') {
            out.pop();
        }
        if out == "-0" {
            out = "0".into();
        }
        out
    }
}

/// Checks that `body` (without sign) is entirely a number `strtold` reads: decimal
/// `digits[.digits][e[+-]digits]` or hexadecimal `0x hex[.hex][p[+-]digits]`. Returns it in
/// the form APFloat parses (a hex float without exponent gets `p0`).
fn strtold_syntax(body: &str) -> Option<String> {
    let b = body.as_bytes();
    let digits = |from: usize, hex: bool| -> usize {
        b[from..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count()
    };
    let hex = b.len() > 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X');
    let mut i = if hex { 2 } else { 0 };
    let int_digits = digits(i, hex);
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = digits(i, hex);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    let exp_char = if hex { [b'p', b'P'] } else { [b'e', b'E'] };
    let mut has_exp = false;
    if i < b.len() && exp_char.contains(&b[i]) {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let n = digits(j, false);
        if n == 0 {
            return None;
        }
        i = j + n;
        has_exp = true;
    }
    if i != b.len() {
        return None;
    }
    if hex && !has_exp {
        return Some(format!("{body}p0"));
    }
    Some(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::LongDouble;

    fn incr(a: &str, b: &str) -> String {
        (LongDouble::parse(a.as_bytes()).unwrap() + LongDouble::parse(b.as_bytes()).unwrap())
            .to_human_string()
    }

    #[test]
    fn matches_redis_incrbyfloat_outputs() {
        // Each expected value is what Redis 7.0 on x86-64 answers.
        assert_eq!(incr("10.50", "0.1"), "10.6");
        assert_eq!(incr("10.6", "-5"), "5.6");
        assert_eq!(incr("5.6", "5.0e3"), "5005.60000000000000009");
        assert_eq!(incr("3.0", "0"), "3");
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("0", "-0"), "0");
        assert_eq!(incr("1", "-1"), "0");
        assert_eq!(incr("0", "1e-20"), "0");
        assert_eq!(incr("0", "-1e-20"), "0");
        assert_eq!(incr("1e20", "1"), "100000000000000000000");
        assert_eq!(incr("0", "0.5"), "0.5");
        assert_eq!(incr("0x10", "1"), "17");
        assert_eq!(incr("0x1p3", "0.5"), "8.5");
        assert_eq!(incr("0x1.8p1", "0"), "3");
        assert_eq!(incr(".5", "1"), "1.5");
        assert_eq!(incr("5.", "1"), "6");
        assert_eq!(incr("-1e-3", "0"), "-0.001");
        assert_eq!(
            incr("123456789.123456789", "0.000000001"),
            "123456789.12345678999554366"
        );
        assert!(incr("1.7976931348623157e308", "1")
            .starts_with("179769313486231569995921046774104434048386446944329178485314420765176628523124396354701868608387085564428793419425520689"));
        assert!(incr("1e4000", "1")
            .starts_with("999999999999999999996546387309962378493249258350695763130150833304326194330634235548182164186550927986276445207312367354"));
    }

    #[test]
    fn parse_follows_string2ld() {
        for ok in [
            "1",
            "-1.5",
            "+2",
            ".5",
            "1.",
            "1e3",
            "1E-3",
            "inf",
            "-Infinity",
        ] {
            assert!(LongDouble::parse(ok.as_bytes()).is_some(), "{ok}");
        }
        for bad in [
            "", " 1", "1 ", "abc", "nan", "-nan", "1e", "1e+", "0x", ".", "1e99999", "1e-99999",
            "--1",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        assert!(LongDouble::parse(b"inf").unwrap().is_nan_or_infinite());
    }
}
