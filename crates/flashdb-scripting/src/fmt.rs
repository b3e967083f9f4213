//! Numbers printed as C's `printf("%.*g")` prints them: Redis turns a Lua number given
//! to `redis.call` into an argument with `%.17g`, and cjson encodes with `%.14g`.

/// `x` formatted as `%.<precision>g`.
pub fn g(x: f64, precision: usize) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    let p = precision.max(1);
    if x == 0.0 {
        return if x.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    // The exponent of x once rounded to p significant digits.
    let sci = format!("{:.*e}", p - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{:.*}", decimals, x)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::g;

    #[test]
    fn matches_printf() {
        assert_eq!(g(1.0, 17), "1");
        assert_eq!(g(1.5, 17), "1.5");
        assert_eq!(g(0.1, 17), "0.10000000000000001");
        assert_eq!(g(0.1, 14), "0.1");
        assert_eq!(g(1e20, 14), "1e+20");
        assert_eq!(g(123456789012345.0, 14), "1.2345678901234e+14");
        assert_eq!(g(0.0001, 14), "0.0001");
        assert_eq!(g(0.00001, 14), "1e-05");
        assert_eq!(g(-2.5, 14), "-2.5");
        assert_eq!(g(100.0, 17), "100");
        assert_eq!(g(f64::INFINITY, 17), "inf");
    }
}
