//! HyperLogLog, byte for byte as Redis's `hyperloglog.c`, so that an HLL written by
//! FlashDB reads the same in Redis (`GET`, `DUMP`) and the estimates are Redis's.
//!
//! An HLL is a string: a 16-byte header (`HYLL`, the encoding, three unused bytes, and
//! the cached cardinality, little endian, whose top bit set means "stale"), then 16384
//! registers of 6 bits. The dense form stores every register (12288 bytes); the sparse
//! form run-length encodes them with three opcodes and is what small HLLs use until one
//! grows past `hll-sparse-max-bytes` or a register passes 32:
//!
//! - `ZERO` `00xxxxxx`: 1..=64 zero registers;
//! - `XZERO` `01xxxxxx yyyyyyyy`: 1..=16384 zero registers;
//! - `VAL` `1vvvvvxx`: 1..=4 registers of value 1..=32.
//!
//! Cardinality comes from the register histogram with Ertl's improved estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", 2017), as Redis.

use thiserror::Error;

/// Header size.
pub const HDR: usize = 16;
/// Bits of the hash that choose the register.
const P: u32 = 14;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Bits of the hash that give the run of zeros.
const Q: usize = 64 - P as usize;
const BITS: usize = 6;
const REGISTER_MAX: u8 = (1 << BITS) - 1;
/// Size of a dense HLL, header included.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
/// Redis's default `hll-sparse-max-bytes`.
pub const SPARSE_MAX_BYTES: usize = 3000;

/// A string whose header says HLL but whose registers do not add up (Redis's
/// `INVALIDOBJ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("Corrupted HLL object detected")]
pub struct Corrupt;

/// An empty HLL: sparse, one `XZERO` run over every register, cached cardinality 0.
pub fn new_sparse() -> Vec<u8> {
    let mut v = vec![0u8; HDR + 2];
    v[..4].copy_from_slice(b"HYLL");
    v[4] = SPARSE;
    let run = XZERO_MAX_LEN - 1;
    v[HDR] = (run >> 8) as u8 | 0x40;
    v[HDR + 1] = (run & 0xff) as u8;
    v
}

/// Whether `v` can be used as an HLL (Redis's `isHLLObjectOrReply`).
pub fn is_hll(v: &[u8]) -> bool {
    v.len() >= HDR
        && &v[..4] == b"HYLL"
        && v[4] <= SPARSE
        && (v[4] != DENSE || v.len() == DENSE_SIZE)
}

/// Whether the HLL uses the sparse form.
pub fn is_sparse(v: &[u8]) -> bool {
    v[4] == SPARSE
}

/// Marks the cached cardinality stale.
pub fn invalidate_cache(v: &mut [u8]) {
    v[15] |= 0x80;
}

/// The cached cardinality, unless stale.
pub fn cached(v: &[u8]) -> Option<u64> {
    (v[15] & 0x80 == 0).then(|| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[8..16]);
        u64::from_le_bytes(b)
    })
}

/// The header bytes that cache `card`.
pub fn cache_bytes(card: u64) -> [u8; 8] {
    card.to_le_bytes()
}

/// Austin Appleby's MurmurHash64A, as Redis's copy (little-endian reads, seed as given).
pub fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, &b) in rest.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element goes to, and the length of the run of zeros that ends its
/// hash (plus one), the value it offers that register.
fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The bit above the Q bits ends the count at Q + 1 at most.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let b0 = u16::from(regs[byte]);
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) as u8) & REGISTER_MAX
}

fn dense_set(regs: &mut [u8], i: usize, val: u8) {
    let byte = i * BITS / 8;
    let fb = (i * BITS) & 7;
    let v = u16::from(val);
    regs[byte] &= !((u16::from(REGISTER_MAX) << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(next) = regs.get_mut(byte + 1) {
        *next &= !((u16::from(REGISTER_MAX) >> (8 - fb)) as u8);
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Calls `f` with every register of a dense HLL, in order, four registers (three bytes)
/// at a time: the whole-HLL passes (`PFCOUNT` of several keys, `PFMERGE`) stay cheap.
fn for_each_dense(regs: &[u8], mut f: impl FnMut(usize, u8)) {
    for (i, c) in regs.chunks_exact(3).enumerate() {
        let (b0, b1, b2) = (c[0], c[1], c[2]);
        let base = i * 4;
        f(base, b0 & REGISTER_MAX);
        f(base + 1, ((b0 >> 6) | (b1 << 2)) & REGISTER_MAX);
        f(base + 2, ((b1 >> 4) | (b2 << 4)) & REGISTER_MAX);
        f(base + 3, b2 >> 2);
    }
}

/// Raises register `i` of a dense HLL to `count`; whether it changed.
fn dense_raise(v: &mut [u8], i: usize, count: u8) -> bool {
    let regs = &mut v[HDR..];
    if dense_get(regs, i) < count {
        dense_set(regs, i, count);
        true
    } else {
        false
    }
}

/// One sparse opcode: how many registers it covers, their value, and its length in
/// bytes; `None` for a truncated `XZERO`.
fn opcode(s: &[u8], p: usize) -> Option<(usize, u8, usize)> {
    let b = s[p];
    Some(if b & 0xc0 == 0 {
        (usize::from(b & 0x3f) + 1, 0, 1)
    } else if b & 0x80 != 0 {
        (usize::from(b & 0x3) + 1, ((b >> 2) & 0x1f) + 1, 1)
    } else {
        let lo = *s.get(p + 1)?;
        ((usize::from(b & 0x3f) << 8 | usize::from(lo)) + 1, 0, 2)
    })
}

fn val_op(val: u8, len: usize) -> u8 {
    ((val - 1) << 2 | (len as u8 - 1)) | 0x80
}

fn push_zeros(seq: &mut Vec<u8>, len: usize) {
    if len > ZERO_MAX_LEN {
        let l = len - 1;
        seq.push((l >> 8) as u8 | 0x40);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push((len - 1) as u8);
    }
}

/// Converts a sparse HLL to the dense form (Redis's `hllSparseToDense`); the header,
/// cached cardinality included, is kept.
pub fn to_dense(v: &mut Vec<u8>) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&v[..HDR]);
    dense[4] = DENSE;
    let (mut idx, mut p) = (0usize, HDR);
    while p < v.len() {
        let (run, val, len) = opcode(v, p).ok_or(Corrupt)?;
        if val > 0 {
            if run + idx > REGISTERS {
                break;
            }
            for i in idx..idx + run {
                dense_set(&mut dense[HDR..], i, val);
            }
        }
        idx += run;
        p += len;
    }
    if idx != REGISTERS {
        return Err(Corrupt);
    }
    *v = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `count` (Redis's `hllSparseSet`),
/// converting it to dense when the value or the size outgrows the sparse form; whether
/// it changed.
fn sparse_raise(
    v: &mut Vec<u8>,
    index: usize,
    count: u8,
    max_bytes: usize,
) -> Result<bool, Corrupt> {
    if count > VAL_MAX_VALUE {
        return promote(v, index, count);
    }
    // Find the opcode that covers the register.
    let (mut first, mut p, mut prev) = (0usize, HDR, None);
    let mut found = None;
    while p < v.len() {
        let op = opcode(v, p).ok_or(Corrupt)?;
        if index < first + op.0 {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.2;
        first += op.0;
    }
    let Some((span, cur, oplen)) = found else {
        return Err(Corrupt);
    };
    let is_val = v[p] & 0x80 != 0;
    let updated_in_place = if is_val {
        if cur >= count {
            return Ok(false);
        }
        span == 1
    } else {
        span == 1 && oplen == 1
    };
    if updated_in_place {
        v[p] = val_op(count, 1);
    } else {
        // Split the run: what comes before the register, the register, what comes after.
        let last = first + span - 1;
        let mut seq = Vec::with_capacity(5);
        if is_val {
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        } else {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        if seq.len() > oplen && v.len() + seq.len() - oplen > max_bytes {
            return promote(v, index, count);
        }
        v.splice(p..p + oplen, seq);
    }
    // Merge adjacent runs of one value, scanning up to five opcodes from the previous.
    let mut q = prev.unwrap_or(HDR);
    let mut scan = 5;
    while q < v.len() && scan > 0 {
        scan -= 1;
        let b = v[q];
        if b & 0xc0 == 0x40 {
            q += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            q += 1;
            continue;
        }
        if q + 1 < v.len() && v[q + 1] & 0x80 != 0 {
            let (l1, v1) = (usize::from(b & 3) + 1, ((b >> 2) & 0x1f) + 1);
            let n = v[q + 1];
            let (l2, v2) = (usize::from(n & 3) + 1, ((n >> 2) & 0x1f) + 1);
            if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                v[q + 1] = val_op(v1, l1 + l2);
                v.remove(q);
                // Try the merged run with the one on its right too.
                continue;
            }
        }
        q += 1;
    }
    invalidate_cache(v);
    Ok(true)
}

fn promote(v: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(v)?;
    // A conversion happens only for a register that grows.
    dense_raise(v, index, count);
    Ok(true)
}

/// Raises register `index` to `count` whatever the form; whether it changed.
pub fn raise(v: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if v[4] == DENSE {
        Ok(dense_raise(v, index, count))
    } else {
        sparse_raise(v, index, count, sparse_max)
    }
}

/// Adds an element (Redis's `hllAdd`); whether a register changed.
pub fn add(v: &mut Vec<u8>, ele: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(ele);
    raise(v, index, count, sparse_max)
}

/// Raises each of `max`'s registers to the HLL's (Redis's `hllMerge`).
pub fn merge_into(max: &mut [u8], v: &[u8]) -> Result<(), Corrupt> {
    if v[4] == DENSE {
        let max = &mut max[..REGISTERS];
        for_each_dense(&v[HDR..], |i, r| max[i] = max[i].max(r));
        return Ok(());
    }
    let (mut i, mut p) = (0usize, HDR);
    while p < v.len() {
        let (run, val, len) = opcode(v, p).ok_or(Corrupt)?;
        if val > 0 {
            if run + i > REGISTERS {
                break;
            }
            for m in &mut max[i..i + run] {
                *m = (*m).max(val);
            }
        }
        i += run;
        p += len;
    }
    if i == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Every register's value, whatever the form.
pub fn registers(v: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut regs = vec![0u8; REGISTERS];
    merge_into(&mut regs, v)?;
    Ok(regs)
}

/// The estimated cardinality of the HLL (Redis's `hllCount`).
pub fn count(v: &[u8]) -> Result<u64, Corrupt> {
    let mut histo = [0u32; 64];
    if v[4] == DENSE {
        for_each_dense(&v[HDR..], |_, r| histo[usize::from(r)] += 1);
    } else {
        let (mut idx, mut p) = (0usize, HDR);
        while p < v.len() {
            let (run, val, len) = opcode(v, p).ok_or(Corrupt)?;
            idx += run;
            histo[usize::from(val)] += run as u32;
            p += len;
        }
        if idx != REGISTERS {
            return Err(Corrupt);
        }
    }
    Ok(estimate(&histo))
}

/// The estimated cardinality of raw registers (one byte each), as `PFCOUNT` of several
/// keys computes it.
pub fn count_registers(regs: &[u8]) -> u64 {
    let mut histo = [0u32; 64];
    for &r in regs {
        histo[usize::from(r & 63)] += 1;
    }
    estimate(&histo)
}

fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(histo[Q + 1])) / m);
    for j in (1..=Q).rev() {
        z += f64::from(histo[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(histo[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        // Redis writes `pow(1 - x, 2)`, which compilers turn into this product.
        z -= (1.0 - x) * (1.0 - x) * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// `PFDEBUG DECODE`: the sparse opcodes as text (`z:` zeros, `Z:` long zeros, `v:`
/// value,run); `None` when the HLL is dense.
pub fn decode(v: &[u8]) -> Option<String> {
    if v[4] != SPARSE {
        return None;
    }
    let mut out = Vec::new();
    let mut p = HDR;
    while p < v.len() {
        let Some((run, val, len)) = opcode(v, p) else {
            break;
        };
        out.push(match (val, len) {
            (0, 1) => format!("z:{run}"),
            (0, _) => format!("Z:{run}"),
            _ => format!("v:{val},{run}"),
        });
        p += len;
    }
    Some(out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_and_dense_forms_hold_the_same_registers() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        assert_eq!(dense.len(), DENSE_SIZE);
        for i in 0..2000u32 {
            let e = i.to_string();
            let a = add(&mut sparse, e.as_bytes(), usize::MAX).unwrap();
            let b = add(&mut dense, e.as_bytes(), usize::MAX).unwrap();
            assert_eq!(a, b, "element {i}");
        }
        assert!(is_sparse(&sparse));
        assert_eq!(registers(&sparse).unwrap(), registers(&dense).unwrap());
        assert_eq!(count(&sparse).unwrap(), count(&dense).unwrap());
        let c = count(&dense).unwrap();
        assert!((1900..2100).contains(&c), "estimate {c}");
    }

    #[test]
    fn dense_registers_round_trip_at_every_bit_offset() {
        let mut v = new_sparse();
        to_dense(&mut v).unwrap();
        for i in 0..REGISTERS {
            dense_set(&mut v[HDR..], i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&v[HDR..], i), (i % 64) as u8);
        }
        let mut seen = 0;
        for_each_dense(&v[HDR..], |i, r| {
            assert_eq!(r, (i % 64) as u8);
            seen += 1;
        });
        assert_eq!(seen, REGISTERS);
    }

    #[test]
    fn the_estimator_constant_is_redis_s_double() {
        assert_eq!(ALPHA_INF, "0.721347520444481703680".parse::<f64>().unwrap());
    }

    #[test]
    fn an_empty_hll_counts_zero_and_a_truncated_one_is_corrupt() {
        let v = new_sparse();
        assert!(is_hll(&v));
        assert_eq!(count(&v), Ok(0));
        assert_eq!(cached(&v), Some(0));
        let mut bad = v.clone();
        bad.truncate(HDR + 1);
        assert_eq!(count(&bad), Err(Corrupt));
        let mut bad = v;
        bad.push(0x80);
        assert_eq!(count(&bad), Err(Corrupt));
    }
}
