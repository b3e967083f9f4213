//! HyperLogLog commands against the real Redis 7: same requests, byte-identical replies,
//! and byte-identical HLL strings (`GET`), in the sparse and the dense form.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::real_redis::run_script;

/// `PFADD key` with `n` elements starting at `from`.
fn pfadd(key: &str, from: usize, n: usize) -> String {
    let mut cmd = format!("PFADD {key}");
    for i in from..from + n {
        cmd.push_str(&format!(" e{i}"));
    }
    cmd
}

#[test]
fn small_hlls_match_redis_byte_for_byte() {
    run_script(&[
        "FLUSHALL",
        "PFADD h",
        "GET h",
        "PFCOUNT h",
        "GET h",
        "PFADD h a b c d e f g",
        "GET h",
        "PFADD h a b c",
        "PFCOUNT h",
        "GET h",
        "PFADD h {empty} x",
        "PFCOUNT h",
        "PFADD h2 c d e z",
        "PFCOUNT h h2",
        "PFCOUNT h h2 nokey",
        "PFCOUNT nokey",
        "PFCOUNT nokey nokey2",
        "PFMERGE m h h2",
        "GET m",
        "PFCOUNT m",
        "PFMERGE m",
        "GET m",
        "PFMERGE m2 nokey",
        "GET m2",
        "PFMERGE h h2",
        "GET h",
        "PFDEBUG ENCODING h",
        "PFDEBUG DECODE h",
        "PFDEBUG encoding nokey",
        "PFDEBUG NOPE h",
        "PFDEBUG TODENSE h",
        "PFDEBUG TODENSE h",
        "PFDEBUG ENCODING h",
        "PFDEBUG DECODE h",
        "PFCOUNT h",
        "STRLEN h",
        "PFADD h newone",
        "PFCOUNT h",
        "PFMERGE m h",
        "PFDEBUG ENCODING m",
        "STRLEN m",
        "PFDEBUG GETREG h2",
        "PFDEBUG ENCODING h2",
        "PFADD",
        "PFDEBUG ENCODING",
        "SET s notanhll",
        "PFADD s a",
        "PFCOUNT s",
        "PFCOUNT h s",
        "PFMERGE s h",
        "PFMERGE m s",
        "PFDEBUG ENCODING s",
        "SET s2 HYLLxxxxxxxxxxxxxxxx",
        "PFADD s2 a",
        "SET s3 HYLL\u{1}",
        "PFCOUNT s3",
        "LPUSH l a",
        "PFADD l a",
        "PFCOUNT l",
        "PFCOUNT h l",
        "PFMERGE l h",
        "PFMERGE h l",
        "PFDEBUG ENCODING l",
        "SET t x EX 100",
        "DEL t",
        "PFADD t a",
        "EXPIRE t 100",
        "PFMERGE t h",
        "TTL t",
        "PFSELFTEST",
    ]);
}

#[test]
fn corrupt_hlls_get_redis_errors() {
    run_script(&[
        "FLUSHALL",
        "PFADD h a b c",
        // An XZERO run too long: the registers no longer add up to 16384.
        "SETRANGE h 16 zzzz",
        "PFCOUNT h",
        "PFCOUNT h nokey",
        "PFMERGE m h",
        "PFADD h q",
        "PFDEBUG TODENSE h",
        "PFDEBUG GETREG h",
        "PFADD h2 a",
        // A VAL run past the last register.
        "SETRANGE h2 16 \u{7f}\u{ff}\u{ff}",
        "PFCOUNT h2",
        "PFADD h2 b c d e f",
        "PFDEBUG DECODE h2",
    ]);
}

#[test]
fn large_hlls_turn_dense_as_in_redis() {
    let mut script: Vec<String> = vec!["FLUSHALL".into()];
    for round in 0..30 {
        script.push(pfadd("big", round * 100, 100));
        if round % 5 == 0 {
            script.push("PFDEBUG ENCODING big".into());
            script.push("STRLEN big".into());
            script.push("PFCOUNT big".into());
        }
    }
    script.push("GET big".into());
    script.push("PFCOUNT big".into());
    script.push("GET big".into());
    script.push(pfadd("other", 2500, 1000));
    script.push("PFCOUNT big other".into());
    script.push("PFMERGE both other big".into());
    script.push("GET both".into());
    script.push("PFCOUNT both".into());
    // A smaller sparse limit makes HLLs dense sooner.
    script.push("CONFIG SET hll-sparse-max-bytes 100".into());
    script.push("CONFIG GET hll-sparse-max-bytes".into());
    script.push(pfadd("small", 0, 60));
    script.push("PFDEBUG ENCODING small".into());
    script.push("GET small".into());
    script.push("CONFIG SET hll-sparse-max-bytes 3000".into());
    // Registers above 32 cannot be sparse: `PFDEBUG GETREG` shows them all.
    script.push(pfadd("wide", 0, 50_000));
    script.push("PFCOUNT wide".into());
    script.push("PFDEBUG GETREG wide".into());
    let refs: Vec<&str> = script.iter().map(|s| s.as_str()).collect();
    run_script(&refs);
}
