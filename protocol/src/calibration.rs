//! The calibration table a pen stores: measured points that map raw encoder counts to
//! calibrated depth, and the margin the ceiling must keep from them.
//!
//! Between points the map is linear interpolation. The table must be strictly increasing in
//! both columns (a monotonic map), so every depth has exactly one raw position. Nothing is
//! extrapolated: a depth outside the measured span has no raw position at all.
//!
//! Rounding always errs shallow: depth to counts rounds the counts down, counts to depth rounds
//! the depth up. So `depth_at(raw_for(d)) <= d` holds for every depth in range.

use core::fmt;

use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::units::{RawCounts, CEILING_UM};

/// Most points a table may hold (fits one pen frame with room to spare).
pub const MAX_CAL_POINTS: usize = 16;

/// One measured point: at `raw` counts the reference gauge read `depth_um`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct CalPoint {
    /// Motor position.
    pub raw: RawCounts,
    /// Measured protrusion in micrometres (negative: behind the cartridge face).
    pub depth_um: i32,
}

/// A pen's calibration: points, provenance and the safety margin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct CalibrationTable {
    /// Which calibration this is. 0 is the factory table; each bench calibration writes a
    /// larger number.
    pub id: u32,
    /// When it was made, in seconds since the Unix epoch (UTC), as the host stated it. The pen
    /// has no clock; 0 means unknown (factory).
    pub calibrated_at_unix_s: u64,
    /// Micrometres the ceiling keeps clear of this table: its expanded uncertainty plus its
    /// worst residual. The deepest setpoint accepted is `CEILING_UM - margin_um`.
    pub margin_um: u16,
    /// The measured points, strictly increasing in both raw counts and depth.
    pub points: heapless::Vec<CalPoint, MAX_CAL_POINTS>,
}

/// More points than a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPoints {
    /// How many were given.
    pub given: usize,
}

impl fmt::Display for TooManyPoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} calibration points given; a table holds at most {MAX_CAL_POINTS}",
            self.given
        )
    }
}

/// Why a calibration table cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalibrationError {
    /// Fewer than two points: no line can be drawn.
    TooFewPoints,
    /// Point `index` does not lie strictly above the one before it in raw counts and depth.
    NotMonotonic {
        /// Index of the offending point.
        index: usize,
    },
    /// The margin alone eats the whole ceiling.
    MarginTooLarge {
        /// The margin found.
        margin_um: u16,
    },
}

impl fmt::Display for CalibrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalibrationError::TooFewPoints => {
                write!(f, "calibration table has fewer than 2 points")
            }
            CalibrationError::NotMonotonic { index } => write!(
                f,
                "calibration point {index} is not above the previous one in both counts and depth"
            ),
            CalibrationError::MarginTooLarge { margin_um } => write!(
                f,
                "calibration margin of {margin_um} um leaves no usable depth under the {CEILING_UM} um ceiling"
            ),
        }
    }
}

impl CalibrationTable {
    /// A table from `(raw counts, depth um)` pairs. Fails only if there are more than
    /// [`MAX_CAL_POINTS`]; call [`CalibrationTable::validate`] before relying on it.
    pub fn from_points(
        id: u32,
        calibrated_at_unix_s: u64,
        margin_um: u16,
        points: &[(i32, i32)],
    ) -> Result<CalibrationTable, TooManyPoints> {
        let mut table = CalibrationTable {
            id,
            calibrated_at_unix_s,
            margin_um,
            points: heapless::Vec::new(),
        };
        for &(raw, depth_um) in points {
            table
                .points
                .push(CalPoint {
                    raw: RawCounts(raw),
                    depth_um,
                })
                .map_err(|_| TooManyPoints {
                    given: points.len(),
                })?;
        }
        Ok(table)
    }

    /// Checks the table is usable: at least two points, strictly increasing, sane margin.
    pub fn validate(&self) -> Result<(), CalibrationError> {
        if self.points.len() < 2 {
            return Err(CalibrationError::TooFewPoints);
        }
        for (index, pair) in self.points.windows(2).enumerate() {
            if pair[1].raw <= pair[0].raw || pair[1].depth_um <= pair[0].depth_um {
                return Err(CalibrationError::NotMonotonic { index: index + 1 });
            }
        }
        if self.margin_um >= CEILING_UM {
            return Err(CalibrationError::MarginTooLarge {
                margin_um: self.margin_um,
            });
        }
        Ok(())
    }

    /// The deepest depth this table lets the ceiling policy accept, in micrometres.
    pub fn usable_ceiling_um(&self) -> u16 {
        CEILING_UM.saturating_sub(self.margin_um)
    }

    /// The deepest setpoint this table can serve: its usable ceiling, or the deepest depth
    /// it measured if that is shallower (nothing is extrapolated).
    pub fn deepest_usable_um(&self) -> u16 {
        let measured = self
            .depth_span_um()
            .map(|(_, hi)| hi.clamp(0, i32::from(CEILING_UM)) as u16)
            .unwrap_or(0);
        self.usable_ceiling_um().min(measured)
    }

    /// The measured span of depths, shallowest and deepest, if the table has points.
    pub fn depth_span_um(&self) -> Option<(i32, i32)> {
        Some((self.points.first()?.depth_um, self.points.last()?.depth_um))
    }

    /// Raw counts for `depth_um`, rounded down (shallow). `None` outside the measured span.
    ///
    /// Assumes a validated table.
    pub fn raw_for_depth(&self, depth_um: i32) -> Option<RawCounts> {
        let segment = self
            .points
            .windows(2)
            .find(|p| p[0].depth_um <= depth_um && depth_um <= p[1].depth_um)?;
        let (lo, hi) = (segment[0], segment[1]);
        let num = i64::from(depth_um - lo.depth_um) * i64::from(hi.raw.0 - lo.raw.0);
        let den = i64::from(hi.depth_um - lo.depth_um);
        let raw = i64::from(lo.raw.0) + num.div_euclid(den);
        Some(RawCounts(raw as i32))
    }

    /// Calibrated depth at `raw`, rounded up (deep). `None` outside the measured span.
    ///
    /// Assumes a validated table.
    pub fn depth_at_raw(&self, raw: RawCounts) -> Option<i32> {
        let segment = self
            .points
            .windows(2)
            .find(|p| p[0].raw <= raw && raw <= p[1].raw)?;
        let (lo, hi) = (segment[0], segment[1]);
        let num = i64::from(raw.0 - lo.raw.0) * i64::from(hi.depth_um - lo.depth_um);
        let den = i64::from(hi.raw.0 - lo.raw.0);
        let ceil_div = -((-num).div_euclid(den));
        Some((i64::from(lo.depth_um) + ceil_div) as i32)
    }
}

/// CRC-32 (IEEE 802.3, as in zlib) of the table's postcard encoding: what pen and host
/// compare before a staged table is committed.
pub fn table_checksum(table: &CalibrationTable) -> u32 {
    // Comfortably more than the largest table: 16 points of two 5-byte varints plus header.
    let mut buf = [0u8; 256];
    let bytes = postcard::to_slice(table, &mut buf).expect("a table fits 256 bytes");
    crc32(bytes)
}

/// Bitwise CRC-32 (reflected polynomial 0xEDB88320); tables are short, speed is no concern.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(points: &[(i32, i32)], margin_um: u16) -> CalibrationTable {
        CalibrationTable::from_points(1, 0, margin_um, points).unwrap()
    }

    /// Arbitrary valid tables: 2..=16 strictly increasing points spanning past the ceiling.
    fn valid_table() -> impl Strategy<Value = CalibrationTable> {
        (
            -500i32..500,
            -50i32..50,
            prop::collection::vec((1i32..2000, 1i32..400), 1..MAX_CAL_POINTS),
            0u16..200,
        )
            .prop_map(|(raw0, depth0, steps, margin)| {
                let mut points = vec![(raw0, depth0)];
                for (dr, dd) in steps {
                    let &(r, d) = points.last().unwrap();
                    points.push((r + dr, d + dd));
                }
                table(&points, margin)
            })
    }

    #[test]
    fn crc32_is_the_standard_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        let a = table(&[(0, 0), (100, 50)], 0);
        let b = table(&[(0, 0), (100, 51)], 0);
        assert_ne!(table_checksum(&a), table_checksum(&b));
    }

    #[test]
    fn from_points_refuses_more_than_fit() {
        let many: std::vec::Vec<(i32, i32)> = (0..17).map(|i| (i, i)).collect();
        assert_eq!(
            CalibrationTable::from_points(1, 0, 0, &many),
            Err(TooManyPoints { given: 17 })
        );
        assert!(CalibrationTable::from_points(1, 0, 0, &many[..16]).is_ok());
    }

    #[test]
    fn validation_catches_bad_tables() {
        assert_eq!(
            table(&[(0, 0)], 0).validate(),
            Err(CalibrationError::TooFewPoints)
        );
        assert_eq!(
            table(&[(0, 0), (100, 50), (90, 60)], 0).validate(),
            Err(CalibrationError::NotMonotonic { index: 2 })
        );
        assert_eq!(
            table(&[(0, 0), (100, 50), (200, 50)], 0).validate(),
            Err(CalibrationError::NotMonotonic { index: 2 })
        );
        assert_eq!(
            table(&[(0, 0), (100, 50)], 1000).validate(),
            Err(CalibrationError::MarginTooLarge { margin_um: 1000 })
        );
        assert_eq!(table(&[(0, 0), (100, 50)], 20).validate(), Ok(()));
    }

    #[test]
    fn interpolation_is_exact_on_points_and_linear_between() {
        let t = table(&[(0, 0), (4000, 1000)], 0);
        assert_eq!(t.raw_for_depth(500), Some(RawCounts(2000)));
        assert_eq!(t.depth_at_raw(RawCounts(2000)), Some(500));
        assert_eq!(t.raw_for_depth(1000), Some(RawCounts(4000)));
        assert_eq!(t.raw_for_depth(1001), None);
        assert_eq!(t.depth_at_raw(RawCounts(-1)), None);
    }

    #[test]
    fn rounding_errs_shallow() {
        // 3 counts per 2 um: 1 um is 1.5 counts, rounded down to 1; 1 count is 0.67 um, up to 1.
        let t = table(&[(0, 0), (3, 2)], 0);
        assert_eq!(t.raw_for_depth(1), Some(RawCounts(1)));
        assert_eq!(t.depth_at_raw(RawCounts(1)), Some(1));
        let negative = table(&[(-30, -20), (0, 0)], 0);
        assert_eq!(negative.raw_for_depth(-1), Some(RawCounts(-2)));
        assert_eq!(negative.depth_at_raw(RawCounts(-2)), Some(-1));
    }

    proptest! {
        #[test]
        fn depth_to_raw_never_maps_deeper_than_asked(t in valid_table(), frac in 0.0f64..=1.0) {
            prop_assert!(t.validate().is_ok());
            let (lo, hi) = t.depth_span_um().unwrap();
            let depth = lo + ((f64::from(hi - lo)) * frac) as i32;
            let raw = t.raw_for_depth(depth).expect("depth in span has a raw position");
            let back = t.depth_at_raw(raw).expect("raw from the table is in the table");
            prop_assert!(back <= depth, "{depth} um -> {raw} -> {back} um");
        }

        #[test]
        fn the_map_is_monotonic(t in valid_table(), a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let (lo, hi) = t.depth_span_um().unwrap();
            let da = lo + (f64::from(hi - lo) * a) as i32;
            let db = lo + (f64::from(hi - lo) * b) as i32;
            let (ra, rb) = (t.raw_for_depth(da).unwrap(), t.raw_for_depth(db).unwrap());
            prop_assert!(da > db || ra <= rb, "{da} -> {ra}, {db} -> {rb}");
        }
    }
}
