//! `penctl`'s exit codes, one per kind of outcome a script needs to tell apart.

use pen_protocol::api::ErrorKind;

use crate::ClientError;

/// Success.
pub const OK: u8 = 0;
/// Any failure not listed below (pen timeout, pen refused for a non-safety reason...).
pub const FAILURE: u8 = 1;
/// The command line was wrong (clap uses 2 for this too).
pub const USAGE: u8 = 2;
/// A safety layer refused: over the ceiling, not calibrated, outside the calibrated range,
/// or the pen firmware's own limit.
pub const SAFETY_REFUSAL: u8 = 3;
/// The daemon could not be reached.
pub const DAEMON_UNREACHABLE: u8 = 4;
/// No pen, or more than one, matches the name given.
pub const NO_SUCH_PEN: u8 = 5;
/// The pen cannot be used now: it has readiness problems, or another client holds it.
pub const PEN_NOT_AVAILABLE: u8 = 6;
/// A calibration ran and did not pass (or was stopped); the pen keeps its previous table.
pub const CALIBRATION_FAILED: u8 = 7;
/// The reference gauge cannot be used.
pub const GAUGE_PROBLEM: u8 = 8;
/// A limits bundle was refused (or, with --dry-run, would be); nothing was written.
pub const LIMITS_REFUSED: u8 = 9;
/// The audit trail's chain is broken: it was tampered with.
pub const AUDIT_BROKEN: u8 = 10;
/// The caller's role does not allow the request.
pub const PERMISSION_DENIED: u8 = 11;

/// The exit code for a failed call.
pub fn code_for(error: &ClientError) -> u8 {
    match error {
        ClientError::Unreachable { .. } => DAEMON_UNREACHABLE,
        ClientError::Api(api) if api.kind.is_safety_refusal() => SAFETY_REFUSAL,
        ClientError::Api(api)
            if matches!(api.kind, ErrorKind::NoSuchPen | ErrorKind::AmbiguousPen) =>
        {
            NO_SUCH_PEN
        }
        ClientError::Api(api)
            if matches!(
                api.kind,
                ErrorKind::PenNotReady | ErrorKind::PenInUse | ErrorKind::PenUnavailable
            ) =>
        {
            PEN_NOT_AVAILABLE
        }
        ClientError::Api(api) if api.kind == ErrorKind::GaugeProblem => GAUGE_PROBLEM,
        ClientError::Api(api) if api.kind == ErrorKind::LimitsRefused => LIMITS_REFUSED,
        ClientError::Api(api) if api.kind == ErrorKind::PermissionDenied => PERMISSION_DENIED,
        _ => FAILURE,
    }
}
