//! `pend`, the pen daemon: owns the pens, puts every setpoint through the ceiling policy, and
//! serves clients on a Unix socket.
//!
//! - [`policy`]: the ceiling policy, pure.
//! - [`calibration`]: the bench calibration procedure, fit and verdict, pure.
//! - [`gauge`]: reference gauges.
//! - [`bench`]: runs a calibration with a gauge and a pen; [`records`]: where it is kept.
//! - [`pen_conn`]: the host side of the pen protocol, sans-IO (sequence numbers, timeouts).
//! - [`link`]: transports to pens ([`link::PenLink`]); [`link::usb`] real pens,
//!   [`link::sim`] simulated ones.
//! - [`readiness`]: what stops clinical use of a pen right now, pure.
//! - [`session`]: one task per pen; treatment sessions ([`session::lease`]).
//! - [`registry`]: the pens by serial; [`usb`]: finds pens on USB and follows hot-plug.
//! - [`server`]: the Unix socket API; [`wire`]: its encodings.
//! - [`daemon`]: start-up and shutdown; [`config`]: `pend.toml`; [`systemd`]: socket
//!   activation, readiness and the watchdog.
#![warn(missing_docs)]

pub mod audit;
pub mod bench;
pub mod calibration;
pub mod config;
pub mod daemon;
pub mod gauge;
pub mod keys;
pub mod limits_report;
pub mod link;
pub mod paths;
pub mod pen_conn;
pub mod policy;
pub mod readiness;
pub mod records;
mod refusal;
pub mod registry;
pub mod roles;
pub mod server;
pub mod session;
pub mod systemd;
pub mod usb;
pub mod wire;

pub use daemon::{Daemon, DaemonConfig, InheritedSockets, StartError};
