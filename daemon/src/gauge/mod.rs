//! Reference gauges: the serial dial indicators a bench calibration reads.
//!
//! - [`reply`]: parsing what they say (pure).

pub mod reply;

pub use reply::{GaugeError, Reading};
