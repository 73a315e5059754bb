//! The geohash arithmetic behind the GEO commands, as Redis 7.0 does it, so
//! sorted sets written here and by Redis hold the same scores:
//! - a point is a 52-bit interleaved hash at step 26 (latitude in the even
//!   bits, longitude in the odd bits) over longitude -180..180 and the
//!   Web-Mercator latitude range -85.05112878..85.05112878;
//! - a stored score decodes to the centre of its cell, clamped to the range;
//! - distances are haversine on a sphere of radius 6372797.560856 m;
//! - an area search covers the centre cell and its 8 neighbours at a step
//!   estimated from the radius, dropping neighbours outside the bounding box.
//!
//! Invariants: `step` is 1..=26 for every hash built here; hashes never have
//! bits above `2 * step`.

pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
/// The radius Redis uses for every distance, in meters.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator world width, in meters (step estimation).
const MERCATOR_MAX_M: f64 = 20037726.37;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    /// The "zeroed" neighbour Redis skips.
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};
/// The standard geohash latitude range (GEOHASH's strings).
pub const LAT_RANGE_STD: Range = Range {
    min: -90.0,
    max: 90.0,
};

/// A decoded cell.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub long: Range,
    pub lat: Range,
}

/// Spreads the 32 bits of `v` to the even bit positions.
fn spread(v: u32) -> u64 {
    let mut x = v as u64;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `x` into 32 bits.
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Encodes a point at `step` (1..=32) within the given ranges; None when the
/// point is outside them.
pub fn encode(long_r: Range, lat_r: Range, long: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&long) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if long < long_r.min || long > long_r.max || lat < lat_r.min || lat > lat_r.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * cells;
    let long_off = (long - long_r.min) / (long_r.max - long_r.min) * cells;
    // The C cast truncates to uint32; at the top edge the offset equals
    // 2^step, which wraps for step 32 only (never used).
    let bits = spread(lat_off as u64 as u32) | (spread(long_off as u64 as u32) << 1);
    Some(Hash { bits, step })
}

/// The cell a hash names.
pub fn decode(long_r: Range, lat_r: Range, h: Hash) -> Area {
    let ilat = squash(h.bits) as f64;
    let ilong = squash(h.bits >> 1) as f64;
    let cells = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let long_scale = long_r.max - long_r.min;
    Area {
        lat: Range {
            min: lat_r.min + (ilat / cells) * lat_scale,
            max: lat_r.min + ((ilat + 1.0) / cells) * lat_scale,
        },
        long: Range {
            min: long_r.min + (ilong / cells) * long_scale,
            max: long_r.min + ((ilong + 1.0) / cells) * long_scale,
        },
    }
}

/// The centre of a cell clamped to the WGS84 ranges: (longitude, latitude).
pub fn area_center(a: &Area) -> (f64, f64) {
    let long = ((a.long.min + a.long.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    (long, lat)
}

/// The 52-bit score a point is stored under; None outside the ranges.
pub fn score_of(long: f64, lat: f64) -> Option<u64> {
    encode(LONG_RANGE, LAT_RANGE, long, lat, STEP_MAX).map(|h| h.bits)
}

/// `(uint64_t) v` as gcc compiles it for x86-64 (what Redis does to a
/// member's score before decoding it): values below 2^63 through the signed
/// conversion (so -1 becomes all ones), larger ones offset by 2^63; values
/// the instruction cannot convert (infinities, out of range) come out as
/// 2^63 before that offset is undone. Sorted-set scores that no GEOADD made
/// decode as in Redis.
fn score_bits(v: f64) -> u64 {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    // CVTTSD2SI: truncation, or i64::MIN for NaN and anything out of range.
    let cvttsd2si = |x: f64| {
        if x.is_nan() || !(-TWO_POW_63..TWO_POW_63).contains(&x) {
            i64::MIN
        } else {
            x as i64
        }
    };
    if v.is_nan() || v < TWO_POW_63 {
        cvttsd2si(v) as u64
    } else {
        cvttsd2si(v - TWO_POW_63) as u64 ^ (1 << 63)
    }
}

/// The (longitude, latitude) a stored score stands for.
pub fn point_of(score: f64) -> (f64, f64) {
    let h = Hash {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    area_center(&decode(LONG_RANGE, LAT_RANGE, h))
}

/// GEOHASH's 11-character string: the point re-encoded over the standard
/// latitude range; 52 bits fill 10 characters and the 11th is '0'.
pub fn hash_string(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (long, lat) = point_of(score);
    let bits = encode(LONG_RANGE, LAT_RANGE_STD, long, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    out
}

fn deg_rad(d: f64) -> f64 {
    d * (std::f64::consts::PI / 180.0)
}

fn rad_deg(r: f64) -> f64 {
    r / (std::f64::consts::PI / 180.0)
}

/// Distance along a meridian between two latitudes, in meters.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in meters.
pub fn distance(long1: f64, lat1: f64, long2: f64, lat2: f64) -> f64 {
    let v = ((deg_rad(long2) - deg_rad(long1)) / 2.0).sin();
    // Same longitude: the cheaper meridian distance, as Redis 7.0 does.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let (lat1r, lat2r) = (deg_rad(lat1), deg_rad(lat2));
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// A search shape; lengths are in the request's unit, `to_m` converts.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    /// (width, height)
    Box(f64, f64),
}

#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub long: f64,
    pub lat: f64,
    pub shape: Shape,
    /// Meters per unit.
    pub to_m: f64,
}

impl Search {
    /// The distance in meters from the centre to (long, lat) when the point
    /// is inside the shape.
    pub fn within(&self, long: f64, lat: f64) -> Option<f64> {
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(self.long, self.lat, long, lat);
                (d <= r * self.to_m).then_some(d)
            }
            Shape::Box(w, h) => {
                if lat_distance(lat, self.lat) > h * self.to_m / 2.0 {
                    return None;
                }
                if distance(long, lat, self.long, lat) > w * self.to_m / 2.0 {
                    return None;
                }
                Some(distance(self.long, self.lat, long, lat))
            }
        }
    }

    /// [min_long, min_lat, max_long, max_lat] of the shape.
    fn bounding_box(&self) -> [f64; 4] {
        let (w, h) = match self.shape {
            Shape::Radius(r) => (r * self.to_m, r * self.to_m),
            Shape::Box(w, h) => (w / 2.0 * self.to_m, h / 2.0 * self.to_m),
        };
        let lat_delta = rad_deg(h / EARTH_RADIUS_M);
        let long_delta_top = rad_deg(w / EARTH_RADIUS_M / deg_rad(self.lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(w / EARTH_RADIUS_M / deg_rad(self.lat - lat_delta).cos());
        let long_delta = if self.lat < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            self.long - long_delta,
            self.lat - lat_delta,
            self.long + long_delta,
            self.lat + lat_delta,
        ]
    }

    fn radius_m(&self) -> f64 {
        match self.shape {
            Shape::Radius(r) => r * self.to_m,
            Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt() * self.to_m,
        }
    }
}

/// The step whose cells are about the size of the search radius.
fn estimate_step(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX_M {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, STEP_MAX as i32) as u8
}

fn move_x(h: Hash, d: i8) -> Hash {
    if h.step == 0 {
        return h;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    Hash {
        bits: x | y,
        step: h.step,
    }
}

fn move_y(h: Hash, d: i8) -> Hash {
    if h.step == 0 {
        return h;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> (64 - h.step as u32 * 2);
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> (64 - h.step as u32 * 2);
    Hash {
        bits: x | y,
        step: h.step,
    }
}

/// The centre cell and its neighbours in the order Redis visits them:
/// centre, N, S, E, W, NE, NW, SE, SW.
fn neighbours(h: Hash) -> [Hash; 9] {
    [
        h,
        move_y(h, 1),
        move_y(h, -1),
        move_x(h, 1),
        move_x(h, -1),
        move_y(move_x(h, 1), 1),
        move_y(move_x(h, -1), 1),
        move_y(move_x(h, 1), -1),
        move_y(move_x(h, -1), -1),
    ]
}

/// The score ranges [min, max) to scan for a search, in Redis's order with
/// its duplicate skipping. Empty when the centre cannot be encoded.
pub fn search_ranges(s: &Search) -> Vec<(u64, u64)> {
    let b = s.bounding_box();
    let (min_long, min_lat, max_long, max_lat) = (b[0], b[1], b[2], b[3]);
    let mut step = estimate_step(s.radius_m(), s.lat);
    let Some(mut hash) = encode(LONG_RANGE, LAT_RANGE, s.long, s.lat, step) else {
        return Vec::new();
    };
    let mut n = neighbours(hash);
    let mut area = decode(LONG_RANGE, LAT_RANGE, hash);
    // If a neighbour does not reach the box edge, the cells are too small.
    let reach = |n: &[Hash; 9]| {
        let north = decode(LONG_RANGE, LAT_RANGE, n[1]);
        let south = decode(LONG_RANGE, LAT_RANGE, n[2]);
        let east = decode(LONG_RANGE, LAT_RANGE, n[3]);
        let west = decode(LONG_RANGE, LAT_RANGE, n[4]);
        north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.long.max < max_long
            || west.long.min > min_long
    };
    if step > 1 && reach(&n) {
        step -= 1;
        if let Some(h) = encode(LONG_RANGE, LAT_RANGE, s.long, s.lat, step) {
            hash = h;
        }
        n = neighbours(hash);
        area = decode(LONG_RANGE, LAT_RANGE, hash);
    }
    if step >= 2 {
        let zero = |n: &mut [Hash; 9], idx: &[usize]| {
            for &i in idx {
                n[i] = Hash::default();
            }
        };
        if area.lat.min < min_lat {
            zero(&mut n, &[2, 7, 8]);
        }
        if area.lat.max > max_lat {
            zero(&mut n, &[1, 5, 6]);
        }
        if area.long.min < min_long {
            zero(&mut n, &[4, 8, 6]);
        }
        if area.long.max > max_long {
            zero(&mut n, &[3, 7, 5]);
        }
    }
    let mut out = Vec::with_capacity(9);
    // Redis starts "the last range scanned" at index 0 and only compares
    // when it is not 0, so a neighbour equal to the centre is scanned again.
    let mut last = 0usize;
    for i in 0..n.len() {
        if n[i].is_zero() {
            continue;
        }
        if last != 0 && n[i] == n[last] {
            continue;
        }
        last = i;
        let shift = 52 - n[i].step as u32 * 2;
        out.push((n[i].bits << shift, (n[i].bits + 1) << shift));
    }
    out
}

/// Redis's LD_STR_HUMAN rendering (`%.17Lf` without trailing zeros) of a
/// double: GEOPOS and WITHCOORD coordinates.
pub fn human_coord(d: f64) -> String {
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palermo_and_catania_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" 15.087269 37.502669 "Catania"
        let p = score_of(13.361389, 38.115556).unwrap();
        let c = score_of(15.087269, 37.502669).unwrap();
        assert_eq!(p, 3479099956230698);
        assert_eq!(c, 3479447370796909);
        let (plong, plat) = point_of(p as f64);
        assert_eq!(human_coord(plong), "13.36138933897018433");
        assert_eq!(human_coord(plat), "38.11555639549629859");
        assert_eq!(&hash_string(p as f64), b"sqc8b49rny0");
        assert_eq!(&hash_string(c as f64), b"sqdtr74hyu0");
        let (clong, clat) = point_of(c as f64);
        let d = distance(plong, plat, clong, clat);
        assert_eq!(format!("{d:.4}"), "166274.1516");
    }

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(v)), v);
        }
    }

    #[test]
    fn out_of_range_points_do_not_encode() {
        assert!(score_of(181.0, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(score_of(-180.0, -85.05112878).is_some());
    }

    #[test]
    fn search_covers_at_most_nine_ranges() {
        let s = Search {
            long: 15.0,
            lat: 37.0,
            shape: Shape::Radius(200.0),
            to_m: 1000.0,
        };
        let r = search_ranges(&s);
        assert!(!r.is_empty() && r.len() <= 9);
        for (lo, hi) in r {
            assert!(lo < hi);
        }
    }
}
