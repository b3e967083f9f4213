//! Geohashes as Redis's `geohash.c` and `geohash_helper.c` compute them: a position is a
//! 52-bit interleaving of 26-bit latitude and longitude cells (latitude in the even
//! bits), stored as a sorted-set score, and a radius or box search visits the cell that
//! holds the centre and its eight neighbours at a step chosen from the radius. Every
//! step is Redis's, so that searches return the same members in the same order.

/// Most bits per coordinate (a 52-bit score).
pub const STEP_MAX: u8 = 26;
/// Latitudes beyond these cannot be indexed (the Web Mercator limits).
pub const LAT_MIN: f64 = -85.051_128_78;
/// See [`LAT_MIN`].
pub const LAT_MAX: f64 = 85.051_128_78;
/// Longitude limits.
pub const LONG_MIN: f64 = -180.0;
/// See [`LONG_MIN`].
pub const LONG_MAX: f64 = 180.0;
/// The Earth's radius Redis uses for distances, in meters.
const EARTH_RADIUS: f64 = 6_372_797.560_856;
const MERCATOR_MAX: f64 = 20_037_726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A cell: its interleaved bits and the bits per coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hash {
    /// Interleaved bits (latitude in the even positions).
    pub bits: u64,
    /// Bits per coordinate; 0 (with `bits` 0) marks a cell left out of a search.
    pub step: u8,
}

impl Hash {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A range of one coordinate.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    /// Lower bound.
    pub min: f64,
    /// Upper bound.
    pub max: f64,
}

/// The area a cell covers.
#[derive(Debug, Clone, Copy)]
pub struct Area {
    /// Longitudes.
    pub longitude: Range,
    /// Latitudes.
    pub latitude: Range,
}

/// The longitude and latitude ranges of the stored scores.
pub const WGS84: (Range, Range) = (
    Range {
        min: LONG_MIN,
        max: LONG_MAX,
    },
    Range {
        min: LAT_MIN,
        max: LAT_MAX,
    },
);

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let spread = |v: u32| {
        let mut x = u64::from(v);
        for i in (0..5).rev() {
            x = (x | (x << S[i])) & B[i];
        }
        x
    };
    spread(xlo) | (spread(ylo) << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555_5555_5555_5555,
        0x3333_3333_3333_3333,
        0x0F0F_0F0F_0F0F_0F0F,
        0x00FF_00FF_00FF_00FF,
        0x0000_FFFF_0000_FFFF,
        0x0000_0000_FFFF_FFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let gather = |v: u64| {
        let mut x = v & B[0];
        for i in 1..6 {
            x = (x | (x >> S[i])) & B[i];
        }
        x
    };
    gather(interleaved) | (gather(interleaved >> 1) << 32)
}

/// Encodes a position at `step` bits per coordinate (Redis's `geohashEncode`); `None`
/// outside the indexable limits or the ranges.
pub fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<Hash> {
    if step > 32 || step == 0 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return None;
    }
    if latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max
    {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    // C converts the doubles to `uint32_t` by truncation.
    Some(Hash {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The area a cell covers (Redis's `geohashDecode`).
pub fn decode(long_range: Range, lat_range: Range, hash: Hash) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = f64::from(sep as u32);
    let ilono = f64::from((sep >> 32) as u32);
    let cells = (1u64 << hash.step) as f64;
    Some(Area {
        latitude: Range {
            min: lat_range.min + (ilato / cells) * lat_scale,
            max: lat_range.min + ((ilato + 1.0) / cells) * lat_scale,
        },
        longitude: Range {
            min: long_range.min + (ilono / cells) * long_scale,
            max: long_range.min + ((ilono + 1.0) / cells) * long_scale,
        },
    })
}

/// The position a score stands for: the centre of its cell, clamped to the limits.
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = Hash {
        bits: score as u64,
        step: STEP_MAX,
    };
    let area = decode(WGS84.0, WGS84.1, hash)?;
    let lon = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some((lon, lat))
}

/// The score of a position (`GEOADD`): its 52-bit cell.
pub fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode(WGS84.0, WGS84.1, longitude, latitude, STEP_MAX).map(align52)
}

/// A cell's bits shifted to a 52-bit score.
fn align52(hash: Hash) -> u64 {
    hash.bits << (52 - u32::from(hash.step) * 2)
}

/// The score range `[min, max)` of the members inside a cell.
pub fn score_range(hash: Hash) -> (u64, u64) {
    let min = align52(hash);
    let next = Hash {
        bits: hash.bits + 1,
        step: hash.step,
    };
    (min, align52(next))
}

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// Distance between latitudes along a meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Great-circle distance in meters (haversine), as Redis's `geohashGetDistance`.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(lon2) - deg_rad(lon1)) / 2.0).sin();
    // Same longitude: the distance along the meridian, cheaper.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS * a.sqrt().asin()
}

/// What a search covers, in meters.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// Within a radius of the centre.
    Radius(f64),
    /// Within a box of this width and height centred on the centre.
    Box {
        /// East-west extent.
        width: f64,
        /// North-south extent.
        height: f64,
    },
}

/// A search: its centre (longitude, latitude), shape and unit.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// Longitude and latitude of the centre.
    pub center: (f64, f64),
    /// The shape, in the given unit.
    pub shape: Shape,
    /// Meters per unit.
    pub unit: f64,
}

impl Search {
    /// The distance of a point from the centre, if it lies within the shape.
    pub fn distance_if_within(&self, lon: f64, lat: f64) -> Option<f64> {
        let (x1, y1) = self.center;
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(x1, y1, lon, lat);
                (d <= r * self.unit).then_some(d)
            }
            Shape::Box { width, height } => {
                let lon_distance = distance(lon, lat, x1, lat);
                let lat_distance = distance(lon, lat, lon, y1);
                if lon_distance > width * self.unit / 2.0 || lat_distance > height * self.unit / 2.0
                {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }

    /// The bounding box: minimum longitude, minimum latitude, maximum longitude,
    /// maximum latitude.
    fn bounds(&self) -> [f64; 4] {
        let (longitude, latitude) = self.center;
        let (half_w, half_h) = match self.shape {
            Shape::Radius(r) => (r, r),
            Shape::Box { width, height } => (width / 2.0, height / 2.0),
        };
        let (width, height) = (self.unit * half_w, self.unit * half_h);
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS / deg_rad(latitude - lat_delta).cos());
        // The box is widest towards the equator.
        let delta = if latitude < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - delta,
            latitude - lat_delta,
            longitude + delta,
            latitude + lat_delta,
        ]
    }

    /// The cells to visit, in Redis's order (centre, north, south, east, west,
    /// north-east, north-west, south-east, south-west), those that cannot hold a match
    /// left out (zero), as Redis's `geohashCalculateAreasByShapeWGS84`.
    pub fn cells(&self) -> [Hash; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let (longitude, latitude) = self.center;
        let radius = match self.shape {
            Shape::Radius(r) => r,
            Shape::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.unit;
        let mut steps = estimate_steps(radius, latitude);
        let (lr, la) = WGS84;
        let at = |steps: u8| {
            let hash = encode(lr, la, longitude, latitude, steps).unwrap_or_default();
            (hash, neighbours(hash), decode(lr, la, hash))
        };
        let (mut hash, mut n, mut area) = at(steps);
        // A neighbour too close to the edge of the search: one step coarser.
        let north = decode(lr, la, n[0]);
        let south = decode(lr, la, n[1]);
        let east = decode(lr, la, n[2]);
        let west = decode(lr, la, n[3]);
        let decrease = north.is_some_and(|a| a.latitude.max < max_lat)
            || south.is_some_and(|a| a.latitude.min > min_lat)
            || east.is_some_and(|a| a.longitude.max < max_lon)
            || west.is_some_and(|a| a.longitude.min > min_lon);
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = at(steps);
        }
        // n: north, south, east, west, north-east, north-west, south-east, south-west.
        if let (true, Some(area)) = (steps >= 2, area) {
            let zero = Hash::default();
            if area.latitude.min < min_lat {
                (n[1], n[7], n[6]) = (zero, zero, zero);
            }
            if area.latitude.max > max_lat {
                (n[0], n[4], n[5]) = (zero, zero, zero);
            }
            if area.longitude.min < min_lon {
                (n[3], n[7], n[5]) = (zero, zero, zero);
            }
            if area.longitude.max > max_lon {
                (n[2], n[6], n[4]) = (zero, zero, zero);
            }
        }
        [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]]
    }
}

/// Bits per coordinate for cells about as large as the radius.
fn estimate_steps(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells narrow towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// Moves a cell one step along one coordinate (Redis's `geohash_move_x`/`_y`): `moving`
/// masks that coordinate's interleaved bits (odd for longitude, even for latitude). The
/// other coordinate's bits are set while adding, so the carry crosses them.
fn move_along(hash: &mut Hash, d: i8, moving: u64) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut m = hash.bits & moving;
    let rest = hash.bits & !moving;
    let zz = (!moving).checked_shr(shift).unwrap_or(0);
    if d > 0 {
        m = m.wrapping_add(zz + 1);
    } else {
        m |= zz;
        m = m.wrapping_sub(zz + 1);
    }
    m &= moving.checked_shr(shift).unwrap_or(0);
    hash.bits = m | rest;
}

/// Longitude bits (odd positions).
const X_BITS: u64 = 0xaaaa_aaaa_aaaa_aaaa;
/// Latitude bits (even positions).
const Y_BITS: u64 = 0x5555_5555_5555_5555;

/// The eight neighbours: north, south, east, west, north-east, north-west, south-east,
/// south-west.
fn neighbours(hash: Hash) -> [Hash; 8] {
    let moved = |dx: i8, dy: i8| {
        let mut h = hash;
        move_along(&mut h, dx, X_BITS);
        move_along(&mut h, dy, Y_BITS);
        h
    };
    [
        moved(0, 1),
        moved(0, -1),
        moved(1, 0),
        moved(-1, 0),
        moved(1, 1),
        moved(-1, 1),
        moved(1, -1),
        moved(-1, -1),
    ]
}

/// The 11-character standard geohash of a stored score (`GEOHASH`): Redis re-encodes
/// the position with the standard latitude range (-90, 90).
pub fn standard_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score)?;
    let std_ranges = (
        Range {
            min: -180.0,
            max: 180.0,
        },
        Range {
            min: -90.0,
            max: 90.0,
        },
    );
    // Redis ignores a failed re-encoding and uses zero bits.
    let bits = encode(std_ranges.0, std_ranges.1, lon, lat, 26).map_or(0, |h| h.bits);
    Some(
        (0..11)
            .map(|i| {
                let idx = if i == 10 {
                    0
                } else {
                    (bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                char::from(ALPHABET[idx as usize])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let sep = deinterleave64(interleave64(x, y));
            assert_eq!((sep as u32, (sep >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn palermo_encodes_as_in_redis_s_documentation() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo"; ZSCORE gives 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3_479_099_956_230_698));
        let (lon, lat) = decode_score(3_479_099_956_230_698.0).unwrap();
        assert!((lon - 13.361389).abs() < 1e-5 && (lat - 38.115556).abs() < 1e-5);
        assert_eq!(
            standard_string(3_479_099_956_230_698.0).unwrap(),
            "sqc8b49rny0"
        );
        assert_eq!(score_of(181.0, 0.0), None);
        assert_eq!(score_of(0.0, 86.0), None);
    }
}
