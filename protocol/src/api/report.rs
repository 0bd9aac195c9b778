//! What the daemon knows about a pen: its report, its state, and its readiness problems.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::units::DepthUm;

/// What the daemon knows about one pen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PenReport {
    /// Serial number.
    pub serial: String,
    /// Product model, once identified.
    pub model: String,
    /// Firmware version, once identified.
    pub firmware_version: String,
    /// How the pen is connected, e.g. `sim` or `usb 1-2`.
    pub link: String,
    /// Where the pen stands in its life cycle.
    pub state: PenState,
    /// What stops clinical use of the pen right now; empty when it may be used.
    pub problems: Vec<Problem>,
    /// Who holds a treatment session on the pen, if anyone.
    pub session: Option<SessionHolder>,
    /// Whether a bench calibration is running on the pen.
    pub calibrating: bool,
    /// Motor position, raw encoder counts, as last reported.
    pub position_counts: Option<i32>,
    /// Calibrated depth at that position (through the pen's table), micrometres.
    pub depth_um: Option<i32>,
    /// The setpoint last accepted.
    pub setpoint: Option<DepthUm>,
    /// The stroke rate while needling, strokes per second.
    pub needling: Option<u16>,
    /// The pen's calibration, if it holds a valid one.
    pub calibration: Option<CalibrationSummary>,
    /// The limits the pen holds (the defaults if it holds no bundle).
    pub limits: Option<LimitsSummary>,
    /// Diagnostics only a simulated pen can give.
    pub sim: Option<SimDiagnostics>,
}

/// Where a pen stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PenState {
    /// Seen, handshake under way.
    Connecting,
    /// Identified and homed; takes setpoints.
    Ready,
    /// Its firmware speaks another protocol; the daemon will not command it.
    Incompatible {
        /// Why, in words.
        reason: String,
    },
    /// The pen latched a fault; it is not commanded until homed again.
    Faulted {
        /// Why, in words.
        reason: String,
    },
    /// The pen stopped answering; it is taken back as soon as it answers again.
    NotAnswering,
    /// Was connected, is gone.
    Offline,
    /// Plugged in, but the daemon may not open it (its device node's permissions).
    NoAccess {
        /// The device node it could not open.
        node: String,
        /// What to do about it, in one line.
        fix: String,
    },
}

impl fmt::Display for PenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PenState::Connecting => f.write_str("connecting"),
            PenState::Ready => f.write_str("ready"),
            PenState::Incompatible { reason } => write!(f, "incompatible: {reason}"),
            PenState::Faulted { reason } => write!(f, "faulted: {reason}"),
            PenState::NotAnswering => f.write_str("not answering"),
            PenState::Offline => f.write_str("offline"),
            PenState::NoAccess { node, .. } => write!(f, "no access to {node}"),
        }
    }
}

/// Something that stops clinical use of a pen right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind of problem, for programs.
    pub kind: ProblemKind,
    /// What it means and what to do, for the practitioner.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Kinds of readiness problems. New kinds may be added in later API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProblemKind {
    /// The pen holds no valid calibration.
    NotCalibrated,
    /// The calibration is older than allowed, or its date is unknown.
    CalibrationExpired,
    /// A bench calibration is running on the pen.
    CalibrationInProgress,
    /// The pen's firmware speaks another protocol version or schema.
    FirmwareMismatch,
    /// The pen latched a fault.
    FaultLatched,
    /// The pen stopped answering.
    NotAnswering,
    /// The pen is still being connected.
    Connecting,
    /// The pen is unplugged.
    Offline,
    /// The pen's limits could not be verified.
    LimitsUnverified,
    /// The pen is plugged in but the daemon may not open it.
    NoAccess,
}

/// Who holds a treatment session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionHolder {
    /// The name the client gave.
    pub client_name: String,
    /// The client's user id, from the socket's peer credentials.
    pub uid: u32,
    /// The client's process id, from the socket's peer credentials.
    pub pid: i32,
}

impl fmt::Display for SessionHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} (pid {}, uid {})",
            self.client_name, self.pid, self.uid
        )
    }
}

/// The calibration a pen holds, as the ceiling policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    /// 0 for the factory table, larger for bench calibrations.
    pub id: u32,
    /// Seconds since the Unix epoch; 0 if unknown.
    pub calibrated_at_unix_s: u64,
    /// Uncertainty plus worst residual, kept clear of the ceiling.
    pub margin_um: u16,
    /// The deepest setpoint the policy accepts with this table: the ceiling minus the
    /// margin, or the deepest depth the table measured if that is shallower.
    pub usable_ceiling_um: u16,
    /// Number of points in the table.
    pub points: u8,
}

/// The limits in force on a pen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsSummary {
    /// The limits.
    pub limits: Limits,
    /// The bundle's counter (0: no bundle, the defaults).
    pub counter: u32,
    /// The signing key's id in hex (empty: no bundle).
    pub key_id: String,
    /// When the bundle was issued, seconds since the Unix epoch (0: no bundle).
    pub issued_unix_s: u64,
}

/// Truth only a simulation knows, for tests and demos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimDiagnostics {
    /// The needle's true physical protrusion, micrometres.
    pub true_protrusion_um: f64,
    /// The deepest true protrusion reached since the simulated pen started.
    pub max_true_protrusion_um: f64,
    /// Whether the needling motor runs.
    pub needling: bool,
    /// Whether the pen's LED blinks and buzzer sounds (identify).
    pub identifying: bool,
}
