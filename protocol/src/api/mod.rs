//! The client API: messages between clients (`penctl`, the clinic app) and the `pend` daemon
//! over its Unix socket.
//!
//! On the socket every message is a frame: a 4-byte little-endian payload length followed by
//! the postcard-encoded payload, at most [`MAX_CLIENT_FRAME`] bytes. The client sends
//! [`ClientRequest`]s; the daemon sends [`ServerFrame`]s: one reply per request, carrying the
//! request's `id`, in the order the requests arrived, and (after `Subscribe`) events between
//! them. `docs/api.md` describes every request and event.

mod event;
mod report;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};

use crate::units::DepthUm;

pub use event::{Event, EventFrame};
pub use report::{
    CalibrationSummary, LimitsSummary, PenReport, PenState, Problem, ProblemKind, SessionHolder,
    SimDiagnostics,
};

/// Version of this API. A daemon refuses a `Hello` naming another version.
pub const API_VERSION: u16 = 1;

/// Largest payload either side may send on the socket, in bytes. The length prefix is checked
/// against it before anything is allocated.
pub const MAX_CLIENT_FRAME: usize = 64 * 1024;

/// Size of the length prefix in front of every frame.
pub const FRAME_HEADER_LEN: usize = 4;

/// A request with the id its reply will carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRequest {
    /// Chosen by the client; echoed in the reply.
    pub id: u32,
    /// What is asked.
    pub request: Request,
}

/// What a client can ask of the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Check versions. Optional, but a client that sends it first learns of a mismatch
    /// with a clear error instead of garbled replies.
    Hello {
        /// The client's [`API_VERSION`].
        api_version: u16,
    },
    /// Every pen the daemon knows, online or not.
    ListPens,
    /// One pen's full status.
    PenStatus {
        /// Serial number or a unique prefix of one.
        pen: String,
    },
    /// Open a treatment session: a lease on the pen for this connection. Only one session per
    /// pen at a time; the pen must have no readiness problems.
    OpenSession {
        /// Serial number or a unique prefix of one.
        pen: String,
        /// A name for this client, shown to others (e.g. "clinic app, room 2").
        client_name: String,
        /// If another client holds the pen, wait up to this long for it (0: fail at once).
        wait_ms: u32,
    },
    /// Keep this connection's sessions alive. Send more often than the lease's `lease_ms`;
    /// every session request counts too.
    Heartbeat,
    /// End the session: the pen is stopped and retracted.
    CloseSession {
        /// The pen.
        pen: String,
    },
    /// Set the needle depth (needs the session). Refused, never clamped, if the ceiling
    /// policy does not allow it.
    SetDepth {
        /// Serial number or a unique prefix of one.
        pen: String,
        /// Requested calibrated depth in micrometres. Any value may be sent; the daemon
        /// refuses what is over the ceiling.
        depth_um: u32,
        /// Answer only once the pen reports the position reached (else as soon as the move
        /// has started).
        wait: bool,
    },
    /// Start needling (needs the session).
    StartNeedling {
        /// The pen.
        pen: String,
        /// Strokes per second.
        strokes_per_s: u16,
    },
    /// Stop needling (needs the session).
    StopNeedling {
        /// The pen.
        pen: String,
    },
    /// Make the pen signal (LED and buzzer) so people can tell which one it is. Needs no
    /// session.
    Identify {
        /// The pen.
        pen: String,
    },
    /// Receive events on this connection from now on, between replies.
    Subscribe,
    /// Start a bench calibration of the pen against a reference gauge. The reply comes once
    /// the pen and the gauge are ready; progress and the end come as events
    /// (`CalibrationProgress`, `CalibrationFinished`), so subscribe first. The calibration
    /// belongs to this connection: closing it aborts the calibration.
    StartCalibration {
        /// The pen.
        pen: String,
        /// The gauge: `sylvac:PORT`, `mitutoyo:PORT[,calibrated=YYYY-MM-DD]` or `sim[:...]`.
        gauge: String,
        /// Depths to measure, micrometres (empty: 0, 200, 400, 600, 800, 1000).
        points_um: Vec<u16>,
        /// Readings per point and direction (0: 3).
        repeats: u8,
        /// Tolerance, +/- micrometres (0: 10).
        tolerance_um: u16,
    },
    /// Stop a calibration under way: the pen is retracted and keeps its previous table.
    AbortCalibration {
        /// The pen.
        pen: String,
    },
    /// The latest calibration record of the pen, as JSON (the certificate's content).
    CalibrationRecord {
        /// The pen.
        pen: String,
    },
    /// Entries of the audit trail, oldest first.
    Audit {
        /// Only entries about this pen (a serial, as recorded).
        pen: Option<String>,
        /// Only entries at or after this time, seconds since the Unix epoch (0: all).
        since_unix_s: u64,
        /// At most this many (the latest ones; 0: 1000).
        limit: u32,
    },
    /// Check the audit trail's hash chain from the first entry to the last.
    AuditVerify,
    /// Check a signed limits bundle against this daemon's trusted keys and the pen, and
    /// (unless `dry_run`) flash it: staged, checksum compared, committed. The pen must be
    /// free. Nothing is written unless every check passes.
    FlashLimits {
        /// The pen.
        pen: String,
        /// The bundle file's bytes.
        bundle: Vec<u8>,
        /// Only check and show the changes.
        dry_run: bool,
    },
}

/// One frame from the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// The answer to a request.
    Reply(ClientReply),
    /// An event, for a subscribed connection.
    Event(EventFrame),
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientReply {
    /// The request's id.
    pub id: u32,
    /// Its outcome.
    pub result: Result<Response, ApiError>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to `Hello`.
    Hello {
        /// The daemon's [`API_VERSION`].
        api_version: u16,
        /// The daemon's version string.
        daemon_version: String,
    },
    /// Answer to `ListPens`, ordered by serial.
    Pens(Vec<PenReport>),
    /// Answer to `PenStatus` (boxed: a report is much larger than the other answers).
    PenStatus(Box<PenReport>),
    /// Answer to `SetDepth`.
    DepthSet(DepthSetReport),
    /// Answer to `OpenSession`.
    SessionOpened(SessionInfo),
    /// The request was carried out (heartbeat, close, needling, identify, subscribe).
    Done,
    /// Answer to `StartCalibration`: it runs.
    CalibrationStarted {
        /// The pen's serial.
        serial: String,
    },
    /// Answer to `CalibrationRecord`.
    CalibrationRecord {
        /// The record's number.
        record_id: u64,
        /// The record, as JSON (documented in docs/calibration.md).
        json: String,
    },
    /// Answer to `FlashLimits`.
    LimitsFlash(LimitsFlashReport),
    /// Answer to `Audit`.
    Audit(Vec<AuditEntry>),
    /// Answer to `AuditVerify`.
    AuditVerified {
        /// How many entries were checked.
        entries: u64,
        /// The first entry whose hash or link is wrong, if any.
        first_broken: Option<u64>,
        /// What is wrong with it.
        reason: String,
    },
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, from 1.
    pub id: u64,
    /// When, seconds since the Unix epoch.
    pub at_unix_s: u64,
    /// Who: user id (from the socket), user name, role.
    pub uid: u32,
    /// The user's name, or `uid N`.
    pub user: String,
    /// The role the request was judged under.
    pub role: String,
    /// What was done or tried.
    pub action: String,
    /// The pen, if any.
    pub pen: String,
    /// What came of it.
    pub outcome: String,
    /// Old and new values, reasons.
    pub details: String,
    /// SHA-256 (hex) chaining this entry to the previous one.
    pub hash: String,
}

/// What checking (and flashing) a limits bundle found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsFlashReport {
    /// The pen.
    pub serial: String,
    /// Every check, in order, with its result.
    pub checks: Vec<LimitsCheck>,
    /// What would change (or changed), in words: `max depth 1.000 mm -> 0.800 mm`.
    pub changes: Vec<String>,
    /// Whether the bundle is now the pen's limits.
    pub flashed: bool,
}

/// One check of a limits bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsCheck {
    /// What is checked.
    pub check: String,
    /// Passed, failed, or not reached (`None`) because an earlier check failed.
    pub passed: Option<bool>,
    /// Why it failed, in words.
    pub detail: String,
}

/// A session that was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The pen's serial.
    pub serial: String,
    /// The session ends if the connection sends nothing for this long.
    pub lease_ms: u32,
}

/// The outcome of an accepted setpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepthSetReport {
    /// The pen's serial number (the request may have named a prefix).
    pub serial: String,
    /// The accepted depth.
    pub depth: DepthUm,
    /// The raw position it was mapped to.
    pub target_counts: i32,
    /// Whether the pen has reported the position reached.
    pub reached: bool,
}

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// What kind of failure, for programs.
    pub kind: ErrorKind,
    /// What happened and what to do, for people.
    pub message: String,
    /// For `PenNotReady`: the pen's readiness problems.
    pub problems: Vec<Problem>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            problems: Vec::new(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Machine-readable failure kinds. New kinds may be added in later API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// Safety: the depth is over the hard ceiling or the calibration's usable ceiling.
    OverCeiling,
    /// Safety: the pen has no valid calibration, so no depth can be set.
    NotCalibrated,
    /// Safety: the depth lies outside the span the calibration measured.
    OutsideCalibratedRange,
    /// Safety: the pen's firmware refused the position as beyond its own limit.
    FirmwareLimit,
    /// Safety: a depth or stroke rate outside the limits flashed into the pen.
    OutsideLimits,
    /// No pen matches.
    NoSuchPen,
    /// More than one pen matches the prefix.
    AmbiguousPen,
    /// The pen exists but cannot take commands now (connecting, incompatible, faulted, offline).
    PenUnavailable,
    /// The pen did not answer in time.
    PenTimeout,
    /// The pen refused for a reason other than safety (not homed, fault latched...).
    PenRefused,
    /// The pen went away while the request was under way.
    PenDisconnected,
    /// A later setpoint replaced this one before the pen reached it.
    Superseded,
    /// Another client holds a session on the pen.
    PenInUse,
    /// The request needs a treatment session on the pen, and this connection holds none.
    NoSession,
    /// The pen has readiness problems (listed in the error) and cannot start a session.
    PenNotReady,
    /// The reference gauge cannot be used (unreachable, wrong type, its own calibration
    /// expired); the message says what to do.
    GaugeProblem,
    /// No such record (the pen was never calibrated here).
    NoRecord,
    /// A limits bundle failed a check; nothing was written.
    LimitsRefused,
    /// The caller's role does not allow the request; the message names the role it needs.
    PermissionDenied,
    /// Too many requests queued for that pen; try again.
    Busy,
    /// The request could not be decoded or makes no sense.
    BadRequest,
    /// Client and daemon speak different API versions.
    UnsupportedApiVersion,
    /// The daemon is shutting down.
    ShuttingDown,
    /// A bug in the daemon; the message says more.
    Internal,
}

impl ErrorKind {
    /// Whether this is a refusal by a safety layer (ceiling, calibration, firmware limit).
    pub fn is_safety_refusal(self) -> bool {
        matches!(
            self,
            ErrorKind::OverCeiling
                | ErrorKind::NotCalibrated
                | ErrorKind::OutsideCalibratedRange
                | ErrorKind::FirmwareLimit
                | ErrorKind::OutsideLimits
        )
    }
}

/// A frame header announced a payload larger than [`MAX_CLIENT_FRAME`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLong {
    /// The announced length.
    pub len: u32,
}

impl fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes exceeds the {} byte limit",
            self.len, MAX_CLIENT_FRAME
        )
    }
}

/// Reads a frame header: the payload length, refused if over [`MAX_CLIENT_FRAME`].
pub fn payload_len(header: [u8; FRAME_HEADER_LEN]) -> Result<usize, FrameTooLong> {
    let len = u32::from_le_bytes(header);
    if len as usize > MAX_CLIENT_FRAME {
        Err(FrameTooLong { len })
    } else {
        Ok(len as usize)
    }
}

/// Encodes `message` as a complete frame: length prefix and payload.
///
/// Fails if the payload would exceed [`MAX_CLIENT_FRAME`] (say, a list of thousands of pens);
/// the receiver would refuse it anyway.
pub fn encode_client_frame<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameTooLong> {
    let mut frame = alloc::vec![0u8; FRAME_HEADER_LEN];
    let mut frame = postcard::to_extend(message, core::mem::take(&mut frame))
        .expect("serialising into a Vec cannot fail");
    let len = frame.len() - FRAME_HEADER_LEN;
    if len > MAX_CLIENT_FRAME {
        return Err(FrameTooLong { len: len as u32 });
    }
    frame[..FRAME_HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(frame)
}

/// Decodes a request payload (the bytes after the length prefix).
pub fn decode_request(payload: &[u8]) -> Result<ClientRequest, postcard::Error> {
    decode_whole(payload)
}

/// Decodes a server frame payload (the bytes after the length prefix).
pub fn decode_server_frame(payload: &[u8]) -> Result<ServerFrame, postcard::Error> {
    decode_whole(payload)
}

fn decode_whole<'de, T: Deserialize<'de> + Serialize>(
    payload: &'de [u8],
) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(payload)?;
    if !rest.is_empty() {
        return Err(postcard::Error::DeserializeBadEncoding);
    }
    // One encoding per message: refuse overlong varints and the like.
    if postcard::to_allocvec(&value)? != payload {
        return Err(postcard::Error::DeserializeBadEncoding);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_carry_their_length() {
        let request = ClientRequest {
            id: 3,
            request: Request::ListPens,
        };
        let frame = encode_client_frame(&request).unwrap();
        let header: [u8; 4] = frame[..4].try_into().unwrap();
        assert_eq!(payload_len(header), Ok(frame.len() - 4));
        assert_eq!(decode_request(&frame[4..]), Ok(request));
    }

    #[test]
    fn huge_length_prefixes_are_refused() {
        assert_eq!(
            payload_len(u32::MAX.to_le_bytes()),
            Err(FrameTooLong { len: u32::MAX })
        );
        assert_eq!(
            payload_len((MAX_CLIENT_FRAME as u32).to_le_bytes()),
            Ok(MAX_CLIENT_FRAME)
        );
        assert!(payload_len((MAX_CLIENT_FRAME as u32 + 1).to_le_bytes()).is_err());
    }

    #[test]
    fn safety_kinds_are_the_refusals_of_the_safety_layers() {
        assert!(ErrorKind::OverCeiling.is_safety_refusal());
        assert!(ErrorKind::FirmwareLimit.is_safety_refusal());
        assert!(!ErrorKind::PenTimeout.is_safety_refusal());
        assert!(!ErrorKind::NoSuchPen.is_safety_refusal());
    }

    proptest! {
        #[test]
        fn any_payload_decodes_or_errors_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_request(&bytes);
            let _ = decode_server_frame(&bytes);
        }
    }
}
