//! Units: calibrated depth in micrometres and raw motor position in encoder counts.
//!
//! The two are distinct types so that a raw motor position can never be passed where a
//! calibrated depth is expected, or the other way round. The only bridge between them is a
//! [`CalibrationTable`](crate::calibration::CalibrationTable).

use core::fmt;

use postcard_schema::schema::{DataModelType, NamedType};
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

/// The hard ceiling on calibrated needle depth, in micrometres (1.000 mm).
///
/// This is the only place the number is written. Everything that needs the ceiling refers to
/// this constant.
pub const CEILING_UM: u16 = 1000;

/// A calibrated needle depth in whole micrometres, never above [`CEILING_UM`].
///
/// There is no way to build a `DepthUm` over the ceiling: the constructor refuses it and so
/// does deserialisation, so a crafted message cannot smuggle one in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct DepthUm(u16);

/// A depth was asked for that lies above the hard ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverCeiling {
    /// What was asked for, in micrometres.
    pub requested_um: u32,
}

impl fmt::Display for OverCeiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is over the {} ceiling",
            Micrometres(self.requested_um),
            Micrometres(u32::from(CEILING_UM))
        )
    }
}

impl DepthUm {
    /// Zero depth: needle tips flush with the cartridge face.
    pub const ZERO: DepthUm = DepthUm(0);
    /// The ceiling itself, the deepest value this type can hold.
    pub const CEILING: DepthUm = DepthUm(CEILING_UM);

    /// A depth of `um` micrometres, refused if it is over the ceiling.
    pub const fn new(um: u32) -> Result<DepthUm, OverCeiling> {
        if um > CEILING_UM as u32 {
            Err(OverCeiling { requested_um: um })
        } else {
            Ok(DepthUm(um as u16))
        }
    }

    /// The depth in micrometres.
    pub const fn um(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for DepthUm {
    type Error = OverCeiling;
    fn try_from(um: u16) -> Result<Self, Self::Error> {
        DepthUm::new(u32::from(um))
    }
}

impl From<DepthUm> for u16 {
    fn from(depth: DepthUm) -> u16 {
        depth.0
    }
}

impl fmt::Display for DepthUm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Micrometres(u32::from(self.0)).fmt(f)
    }
}

impl Schema for DepthUm {
    // Serialised as its bare u16 (serde `into`/`try_from`), so the schema says so too.
    const SCHEMA: &'static NamedType = &NamedType {
        name: "DepthUm",
        ty: &DataModelType::U16,
    };
}

/// Formats a micrometre count the way technicians read it: `0.500 mm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Micrometres(pub u32);

impl fmt::Display for Micrometres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03} mm", self.0 / 1000, self.0 % 1000)
    }
}

/// A raw motor position in encoder counts, as the pen's firmware sees it.
///
/// Counts say nothing about physical depth on their own; only a calibration table relates them
/// to micrometres. Negative counts are retracted behind the cartridge face.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Schema,
)]
pub struct RawCounts(pub i32);

impl fmt::Display for RawCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} counts", self.0)
    }
}

/// Needling stroke rate in strokes per second, within [`StrokeRate::MIN`]..=[`StrokeRate::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct StrokeRate(u16);

/// A stroke rate outside what the pen's motor supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrokeRateOutOfRange {
    /// What was asked for, in strokes per second.
    pub requested: u32,
}

impl fmt::Display for StrokeRateOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stroke rate {}/s is outside {}..={}/s",
            self.requested,
            StrokeRate::MIN,
            StrokeRate::MAX
        )
    }
}

impl StrokeRate {
    /// Slowest supported rate, strokes per second.
    pub const MIN: u16 = 25;
    /// Fastest supported rate, strokes per second.
    pub const MAX: u16 = 150;

    /// A stroke rate, refused outside the supported range.
    pub const fn new(per_second: u32) -> Result<StrokeRate, StrokeRateOutOfRange> {
        if per_second < Self::MIN as u32 || per_second > Self::MAX as u32 {
            Err(StrokeRateOutOfRange {
                requested: per_second,
            })
        } else {
            Ok(StrokeRate(per_second as u16))
        }
    }

    /// Strokes per second.
    pub const fn per_second(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for StrokeRate {
    type Error = StrokeRateOutOfRange;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        StrokeRate::new(u32::from(value))
    }
}

impl From<StrokeRate> for u16 {
    fn from(rate: StrokeRate) -> u16 {
        rate.0
    }
}

impl Schema for StrokeRate {
    const SCHEMA: &'static NamedType = &NamedType {
        name: "StrokeRate",
        ty: &DataModelType::U16,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_refuses_anything_over_the_ceiling() {
        assert_eq!(DepthUm::new(1000).map(DepthUm::um), Ok(1000));
        assert_eq!(DepthUm::new(1001), Err(OverCeiling { requested_um: 1001 }));
        assert!(DepthUm::new(u32::MAX).is_err());
    }

    #[test]
    fn decoding_a_depth_over_the_ceiling_fails() {
        let mut buf = [0u8; 8];
        let bytes = postcard::to_slice(&1001u16, &mut buf).unwrap();
        assert!(postcard::from_bytes::<DepthUm>(bytes).is_err());
        let bytes = postcard::to_slice(&1000u16, &mut buf).unwrap();
        assert_eq!(postcard::from_bytes::<DepthUm>(bytes), Ok(DepthUm::CEILING));
    }

    #[test]
    fn micrometres_print_as_millimetres() {
        use core::fmt::Write;
        let mut s = heapless::String::<32>::new();
        write!(s, "{} / {}", Micrometres(500), Micrometres(1200)).unwrap();
        assert_eq!(s.as_str(), "0.500 mm / 1.200 mm");
    }

    #[test]
    fn stroke_rate_range_is_enforced() {
        assert!(StrokeRate::new(24).is_err());
        assert!(StrokeRate::new(151).is_err());
        assert_eq!(StrokeRate::new(100).map(StrokeRate::per_second), Ok(100));
    }
}
