//! Messages between the host (`pend`) and a pen's firmware, protocol version 1.
//!
//! Each message is one frame: a postcard-encoded [`HostFrame`] (host to pen) or [`PenFrame`]
//! (pen to host), at most [`MAX_PEN_FRAME`] bytes. On USB each frame is one bulk transfer
//! (ended by a short or zero-length packet), so the frame needs no length prefix. The full
//! byte-level description with golden vectors is in `docs/protocol.md`.
//!
//! Every request carries a sequence number chosen by the host; the pen echoes it in the reply.
//! Unsolicited events carry no sequence number of their own; `PositionReached` names the
//! sequence number of the move it completes.

use core::fmt;

use postcard_schema::key::hash::fnv1a64::hash_ty_path;
use postcard_schema::Schema;
use serde::{Deserialize, Serialize};

use crate::calibration::CalibrationTable;
use crate::limits::{LimitsError, MAX_BUNDLE_LEN};
use crate::units::{RawCounts, StrokeRate};

/// The protocol version this crate speaks. Bumped on any change to the frames' meaning.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame either side may send, in bytes. Receivers refuse longer frames before
/// decoding them.
pub const MAX_PEN_FRAME: usize = 512;

/// A fingerprint of the exact shape of [`HostFrame`] and [`PenFrame`] (FNV-1a over their
/// postcard schemas). Two builds with the same fingerprint encode every message identically.
/// The pen reports its own in [`PenIdentity`]; the host refuses a pen whose fingerprint
/// differs from this one.
pub const SCHEMA_FINGERPRINT: u64 = {
    let host = u64::from_le_bytes(hash_ty_path::<HostFrame>("pen-protocol/v1/host"));
    let pen = u64::from_le_bytes(hash_ty_path::<PenFrame>("pen-protocol/v1/pen"));
    host ^ pen.rotate_left(1)
};

/// Short identity strings (serial, model, firmware version), at most 24 bytes of UTF-8.
pub type ShortText = heapless::String<24>;

/// A request from host to pen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct HostFrame {
    /// Chosen by the host, echoed by the pen's reply. Wraps around.
    pub seq: u32,
    /// What the host asks for.
    pub request: HostRequest,
}

/// What the host can ask of a pen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum HostRequest {
    /// Introduce the host. The pen answers with its [`PenIdentity`]; it accepts nothing but
    /// `Hello` and `Heartbeat` until a `Hello` with its own protocol version has arrived.
    Hello {
        /// The host's [`PROTOCOL_VERSION`].
        protocol_version: u16,
    },
    /// Report [`PenStatus`].
    Status,
    /// Find the home (fully retracted) stop and zero the encoder there.
    Home,
    /// Move the needle carriage to a raw position. The reply says the move started; a
    /// [`PenEvent::PositionReached`] follows when it ends.
    MoveTo {
        /// Where to go.
        target: RawCounts,
        /// How to approach it.
        approach: Approach,
    },
    /// Stop needling and park the carriage retracted, behind the cartridge face.
    Retract,
    /// Start the needling motor.
    StartNeedling {
        /// Strokes per second.
        rate: StrokeRate,
    },
    /// Stop the needling motor.
    StopNeedling,
    /// "Host is alive". Resets the pen's watchdog, as every valid frame does.
    Heartbeat,
    /// Send the stored calibration table.
    ReadCalibration,
    /// Stage a new calibration table: the pen validates it and keeps it beside the current
    /// one, answering with its checksum. Nothing changes until `CommitCalibration`; a staged
    /// table is lost if the pen loses power or the host disappears first.
    StageCalibration {
        /// The new table.
        table: CalibrationTable,
    },
    /// Signal to the people nearby (LED blink and buzz) for `duration_ms`, so they can tell
    /// which pen on the desk this is. Needs no homing; harmless at any time.
    Identify {
        /// How long to signal.
        duration_ms: u16,
    },
    /// Make the staged table the pen's calibration, if its checksum is the one given (the
    /// host's proof that what it read back is what it meant to write).
    CommitCalibration {
        /// The checksum the pen answered to `StageCalibration`.
        checksum: u32,
    },
    /// Send the stored limits bundle.
    ReadLimits,
    /// Stage a signed limits bundle. The pen verifies it itself (its own trusted keys, its
    /// serial, its counter) and answers with its checksum; nothing changes until
    /// `CommitLimits`.
    StageLimits {
        /// The bundle's bytes.
        bundle: heapless::Vec<u8, MAX_BUNDLE_LEN>,
    },
    /// Make the staged bundle the pen's limits, if its checksum is the one given.
    CommitLimits {
        /// The checksum the pen answered to `StageLimits`.
        checksum: u32,
    },
}

/// How a move approaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum Approach {
    /// Always finish moving outward (increasing counts), taking up the lead screw's backlash
    /// first when the target lies below the current position. Repeatable; the normal choice.
    FromBelow,
    /// Go straight there, whichever way. Only for measuring hysteresis.
    Direct,
}

/// A frame from pen to host.
// Frames are handled one at a time on the stack, and boxing the large replies would need an
// allocator the firmware does not have.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PenFrame {
    /// The answer to the request with sequence number `seq`.
    Reply {
        /// The request's sequence number.
        seq: u32,
        /// What happened.
        result: Result<PenReply, PenError>,
    },
    /// Something the pen reports unasked.
    Event(PenEvent),
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PenReply {
    /// Answer to `Hello`.
    Identity(PenIdentity),
    /// Answer to `Status`.
    Status(PenStatus),
    /// The request was carried out.
    Done,
    /// A move (or home, or retract) started; it should take about `eta_ms` milliseconds.
    MoveStarted {
        /// Expected duration of the move.
        eta_ms: u32,
    },
    /// Answer to `ReadCalibration`; `None` if the pen holds no table.
    Calibration(Option<CalibrationTable>),
    /// Answer to `StageCalibration` and `StageLimits`: the checksum of what was staged
    /// (CRC-32 of the table's encoding, or of the bundle's bytes).
    Staged {
        /// The checksum.
        checksum: u32,
    },
    /// Answer to `ReadLimits`: the stored bundle's bytes, `None` if the pen holds none.
    Limits(Option<heapless::Vec<u8, MAX_BUNDLE_LEN>>),
}

/// Who the pen is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct PenIdentity {
    /// The pen's [`PROTOCOL_VERSION`].
    pub protocol_version: u16,
    /// The pen's [`SCHEMA_FINGERPRINT`].
    pub schema_fingerprint: u64,
    /// Unique per pen, printed on its label.
    pub serial: ShortText,
    /// Product model.
    pub model: ShortText,
    /// Firmware version string.
    pub firmware_version: ShortText,
    /// The firmware's compiled-in maximum position; it refuses moves beyond it.
    pub firmware_max: RawCounts,
    /// After this many milliseconds without a valid frame the pen stops and retracts itself.
    pub watchdog_ms: u16,
}

/// The pen's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub struct PenStatus {
    /// Current motor position (encoder).
    pub position: RawCounts,
    /// Where the motor is heading, while a move is under way.
    pub moving_to: Option<RawCounts>,
    /// Whether the encoder has been zeroed at the home stop since power-up.
    pub homed: bool,
    /// The stroke rate while needling.
    pub needling: Option<StrokeRate>,
    /// A latched fault, cleared by homing.
    pub fault: Option<FaultCode>,
}

/// Something the pen reports unasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PenEvent {
    /// The move started by the request `move_seq` has ended at `position`.
    PositionReached {
        /// Sequence number of the `MoveTo`, `Home` or `Retract` that started the move.
        move_seq: u32,
        /// Where the motor stopped.
        position: RawCounts,
    },
    /// A fault was latched; the pen has stopped needling and retracted.
    Fault {
        /// What went wrong.
        code: FaultCode,
    },
    /// The watchdog expired (no valid frame from the host in time); the pen has stopped
    /// needling and retracted.
    WatchdogRetracted,
}

/// Faults the firmware latches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum FaultCode {
    /// The motor could not move (blocked carriage).
    MotorStall,
    /// Encoder and commanded step counts disagree.
    EncoderMismatch,
    /// Supply voltage out of range.
    SupplyVoltage,
}

impl fmt::Display for FaultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultCode::MotorStall => "motor stalled (carriage blocked?)",
            FaultCode::EncoderMismatch => "encoder disagrees with motor steps",
            FaultCode::SupplyVoltage => "supply voltage out of range",
        })
    }
}

/// Why the pen refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Schema)]
pub enum PenError {
    /// The host has not said `Hello` with the pen's protocol version.
    NotIntroduced {
        /// The pen's protocol version.
        pen_protocol_version: u16,
    },
    /// Motion needs the pen to be homed first.
    NotHomed,
    /// The target lies below the home stop, where the carriage cannot go.
    BelowTravel {
        /// The lowest reachable position.
        min: RawCounts,
    },
    /// The target lies beyond the firmware's compiled-in maximum.
    BeyondFirmwareLimit {
        /// The firmware's maximum.
        max: RawCounts,
    },
    /// A fault is latched; home to clear it.
    Faulted {
        /// The latched fault.
        code: FaultCode,
    },
    /// A calibration table failed the pen's own validation; nothing was stored.
    InvalidCalibration,
    /// Commit without a staged table, or with a checksum that is not the staged table's;
    /// nothing was changed.
    CommitMismatch,
    /// The pen's own verification refused a limits bundle; nothing was stored.
    LimitsRefused {
        /// Why.
        reason: LimitsError,
    },
    /// A stroke rate (or depth) outside the limits the pen holds.
    OutsideLimits,
}

impl fmt::Display for PenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PenError::NotIntroduced {
                pen_protocol_version,
            } => write!(
                f,
                "pen speaks protocol v{pen_protocol_version} and has not been introduced to this host"
            ),
            PenError::NotHomed => write!(f, "pen is not homed"),
            PenError::BelowTravel { min } => write!(f, "target below the home stop at {min}"),
            PenError::BeyondFirmwareLimit { max } => {
                write!(f, "target beyond the pen firmware's limit of {max}")
            }
            PenError::Faulted { code } => write!(f, "pen has a latched fault: {code}"),
            PenError::InvalidCalibration => write!(f, "pen refused the calibration table"),
            PenError::CommitMismatch => write!(
                f,
                "pen has nothing staged with that checksum; nothing was changed"
            ),
            PenError::LimitsRefused { reason } => {
                write!(f, "pen refused the limits bundle: {reason}")
            }
            PenError::OutsideLimits => write!(f, "outside the limits the pen holds"),
        }
    }
}

/// A frame could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Longer than [`MAX_PEN_FRAME`]; not looked at.
    TooLong {
        /// The frame's length.
        len: usize,
    },
    /// Bytes that are not a valid frame of this protocol version.
    Malformed,
    /// A valid frame followed by bytes that belong to none.
    TrailingBytes,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { len } => {
                write!(
                    f,
                    "frame of {len} bytes exceeds the {MAX_PEN_FRAME} byte limit"
                )
            }
            FrameError::Malformed => write!(f, "malformed frame"),
            FrameError::TrailingBytes => write!(f, "frame has trailing bytes"),
        }
    }
}

/// Encodes `frame` into `buf`, returning the used part.
///
/// Fails only if the frame does not fit `buf` (never for a `MAX_PEN_FRAME` buffer and the
/// bounded types of this module).
pub fn encode_frame<'b, T: Serialize>(
    frame: &T,
    buf: &'b mut [u8; MAX_PEN_FRAME],
) -> Result<&'b mut [u8], FrameError> {
    postcard::to_slice(frame, buf).map_err(|_| FrameError::Malformed)
}

fn decode_exact<'de, T: Deserialize<'de> + Serialize>(bytes: &'de [u8]) -> Result<T, FrameError> {
    if bytes.len() > MAX_PEN_FRAME {
        return Err(FrameError::TooLong { len: bytes.len() });
    }
    let (frame, rest) = postcard::take_from_bytes(bytes).map_err(|_| FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes);
    }
    // Exactly one encoding per frame: postcard also reads overlong varints (a number with
    // redundant zero bytes), which would let two different byte strings mean the same frame.
    let mut canonical = [0u8; MAX_PEN_FRAME];
    match postcard::to_slice(&frame, &mut canonical) {
        Ok(encoded) if encoded == bytes => Ok(frame),
        _ => Err(FrameError::Malformed),
    }
}

/// Decodes one host-to-pen frame, refusing oversized input before looking at it.
pub fn decode_host_frame(bytes: &[u8]) -> Result<HostFrame, FrameError> {
    decode_exact(bytes)
}

/// Decodes one pen-to-host frame, refusing oversized input before looking at it.
pub fn decode_pen_frame(bytes: &[u8]) -> Result<PenFrame, FrameError> {
    decode_exact(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oversized_frames_are_refused_unread() {
        let big = [0u8; MAX_PEN_FRAME + 1];
        assert_eq!(
            decode_host_frame(&big),
            Err(FrameError::TooLong {
                len: MAX_PEN_FRAME + 1
            })
        );
    }

    #[test]
    fn overlong_varints_are_refused() {
        // Found by the pen_frames fuzz target: seq 0x3f7f7e written with a redundant zero
        // byte, then Hello { protocol_version: 4 }.
        assert_eq!(
            decode_host_frame(&[0xfe, 0xff, 0xfe, 0x00, 0x00, 0x04]),
            Err(FrameError::Malformed)
        );
        assert!(decode_host_frame(&[0xfe, 0xff, 0x7e, 0x00, 0x04]).is_ok());
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut buf = [0u8; MAX_PEN_FRAME];
        let frame = HostFrame {
            seq: 7,
            request: HostRequest::Heartbeat,
        };
        let len = encode_frame(&frame, &mut buf).unwrap().len();
        assert_eq!(decode_host_frame(&buf[..len]), Ok(frame));
        assert_eq!(
            decode_host_frame(&buf[..len + 1]),
            Err(FrameError::TrailingBytes)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_decode_or_error_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
            let _ = decode_host_frame(&bytes);
            let _ = decode_pen_frame(&bytes);
        }

        #[test]
        fn decoded_frames_reencode_to_the_same_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            // Postcard has one encoding per value, so anything accepted must round-trip. This
            // catches a decoder that accepts bytes it should not.
            if let Ok(frame) = decode_host_frame(&bytes) {
                let mut buf = [0u8; MAX_PEN_FRAME];
                prop_assert_eq!(encode_frame(&frame, &mut buf).unwrap(), &bytes[..]);
            }
        }
    }
}
