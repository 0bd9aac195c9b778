//! Wire types shared by the pen firmware, the `pend` daemon and its clients.
//!
//! - [`units`]: calibrated depth ([`DepthUm`], never over [`CEILING_UM`]) and raw motor
//!   position ([`RawCounts`]), kept apart by type.
//! - [`calibration`]: the table that maps one to the other.
//! - [`limits`]: signed limits bundles and their verification.
//! - [`pen`]: host<->pen frames, protocol v1.
//! - [`usb`]: where a pen frame ends on USB bulk endpoints (ZLPs, reassembly).
//! - [`api`] (feature `alloc`): client<->daemon messages and socket framing.
//!
//! This crate is `no_std` so pen firmware can use it. It does no I/O and reads no clock.
#![no_std]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
// Tests run on the host and may use std (vec!, format!).
#[cfg(test)]
#[macro_use]
extern crate std;

#[cfg(feature = "alloc")]
pub mod api;
pub mod calibration;
pub mod limits;
pub mod pen;
pub mod units;
pub mod usb;

pub use calibration::{
    table_checksum, CalPoint, CalibrationError, CalibrationTable, TooManyPoints, MAX_CAL_POINTS,
};
pub use units::{DepthUm, Micrometres, OverCeiling, RawCounts, StrokeRate, CEILING_UM};
