//! Bench calibration against a reference gauge.
//!
//! - [`settle`]: when a gauge reading counts (N consecutive within a digit).
//! - [`fit`]: the monotonic cubic from counts to micrometres, and the table it gives.
//! - [`analysis`]: statistics, uncertainty budget, decision rule, verdict.
//! - [`procedure`]: the step machine.
//!
//! All of it is pure; the runner in the daemon drives it with the pen and the gauge.

pub mod analysis;
pub mod fit;
pub mod procedure;
pub mod settle;
