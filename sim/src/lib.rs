//! A simulated pen that speaks the real pen protocol.
//!
//! - [`firmware`]: the pen's firmware as a sans-IO state machine (bytes and time in, bytes
//!   out), with its own compiled-in limit and watchdog.
//! - [`physics`]: motor counts to needle protrusion, non-linear, with backlash, noise and
//!   per-pen variation drawn from a seed.
//! - [`factory`]: the factory calibration table each pen ships with (a little off).
//! - [`keys`]: the simulated manufacturer's limits-signing keys (simulation only).
//!
//! - [`gauge`]: a simulated Sylvac reference gauge, and [`gauge_pty`], which serves it on a
//!   pseudo-terminal so the daemon's real serial driver talks to it.
//! - [`stream`]: the stream transport (length-prefixed frames) the `pen-sim` binary serves
//!   on a Unix socket, so a simulated pen can outlive the daemon that drives it.
//!
//! Apart from `gauge_pty` (a pty and a thread), nothing in the library does I/O or reads a
//! clock; the daemon's in-process link and the `pen-sim` binary drive it.
#![warn(missing_docs)]

pub mod factory;
pub mod firmware;
pub mod flash;
pub mod gauge;
pub mod gauge_pty;
pub mod keys;
pub mod physics;
pub mod rng;
pub mod stream;

pub use firmware::{Firmware, SimPenConfig};
