//! Reference gauges: the serial dial indicators a bench calibration reads.
//!
//! - [`reply`]: parsing what they say (pure).
//! - [`serial`]: the serial-line driver for Sylvac and Mitutoyo gauges.
//! - [`spec`]: choosing a gauge from a spec string like `sylvac:/dev/ttyUSB0`.

pub mod reply;
pub mod serial;
pub mod spec;

use std::future::Future;

pub use reply::{Date, GaugeError, Reading};

use crate::calibration::analysis::GaugeCharacter;

/// Who the gauge is, for the record and the uncertainty budget.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeInfo {
    /// Make and model (or identity string).
    pub model: String,
    /// The port it is on.
    pub port: String,
    /// When the gauge itself was last calibrated, if known.
    pub calibrated: Option<Date>,
    /// Its accuracy and resolution.
    pub character: GaugeCharacter,
}

/// A reference gauge.
pub trait Gauge: Send {
    /// Identifies the gauge.
    fn info(&mut self) -> impl Future<Output = Result<GaugeInfo, GaugeError>> + Send;
    /// One reading (not yet settled).
    fn read(&mut self) -> impl Future<Output = Result<Reading, GaugeError>> + Send;
}
