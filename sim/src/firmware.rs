//! The simulated pen firmware as a sans-IO state machine.
//!
//! Bytes and time go in ([`Firmware::handle_frame`], [`Firmware::poll`]); frames come out
//! ([`Firmware::poll_transmit`]). It never reads a clock: the caller passes `now` as the time
//! since any fixed origin, and asks [`Firmware::next_deadline`] when to call `poll` next.
//!
//! Like real firmware it is a safety layer of its own:
//! - it refuses moves beyond [`FIRMWARE_MAX_COUNTS`], whatever the host says;
//! - it refuses motion until homed and until a host has said `Hello` in its protocol version;
//! - its watchdog stops needling and retracts when no valid frame arrives for [`WATCHDOG`].

use std::collections::VecDeque;
use std::time::Duration;

use pen_protocol::calibration::crc32;
use pen_protocol::limits::{verify_bundle, Limits, LimitsBody, LimitsError, MAX_BUNDLE_LEN};
use pen_protocol::pen::{
    decode_host_frame, encode_frame, Approach, FaultCode, HostFrame, HostRequest, PenError,
    PenEvent, PenFrame, PenIdentity, PenReply, PenStatus, ShortText, MAX_PEN_FRAME,
    PROTOCOL_VERSION, SCHEMA_FINGERPRINT,
};
use pen_protocol::{table_checksum, CalibrationTable, RawCounts, StrokeRate};

use crate::keys::firmware_trusted_keys;

/// A limits bundle as the pen stores it.
type LimitsBytes = heapless::Vec<u8, MAX_BUNDLE_LEN>;

use crate::factory::factory_table;
use crate::physics::{Mechanism, PenParams};

/// The firmware's compiled-in maximum. Chosen so that no pen within the simulated
/// manufacturing variation can protrude past 1000 um at it, noise included (see the test
/// `firmware_max_is_safe_for_every_pen`). Shallow pens therefore top out a little short of
/// 1 mm; that is the price of a limit that needs no calibration to be safe.
pub const FIRMWARE_MAX_COUNTS: RawCounts = RawCounts(3920);
/// The home stop, fully retracted (encoder reading there).
pub const HOME_COUNTS: RawCounts = RawCounts(-480);
/// Where the carriage parks: needles 100 um behind the cartridge face.
pub const PARK_COUNTS: RawCounts = RawCounts(-400);
/// Silence from the host longer than this makes the pen stop and retract.
pub const WATCHDOG: Duration = Duration::from_millis(500);
/// Carriage speed: 20 mm/s.
const SPEED_COUNTS_PER_MS: u64 = 80;
/// Time to settle after each straight run.
const SETTLE: Duration = Duration::from_millis(5);
/// How far below the target a from-below approach dips first (more than any backlash).
const BACKLASH_TAKEUP_COUNTS: i32 = 80;
/// Frames waiting for the host beyond this are dropped (and counted).
const TX_QUEUE_LIMIT: usize = 32;

/// What makes one simulated pen differ from another.
#[derive(Debug, Clone)]
pub struct SimPenConfig {
    /// Serial number, at most 24 bytes.
    pub serial: String,
    /// Seeds the pen's mechanical variation, factory table and noise.
    pub seed: u64,
    /// When the factory calibrated the pen, seconds since the Unix epoch (the simulation has
    /// no clock of its own; whoever builds the pen says when it was made).
    pub factory_calibrated_at_unix_s: u64,
}

/// One straight run of the motor.
#[derive(Debug, Clone, Copy)]
struct Leg {
    from: RawCounts,
    to: RawCounts,
    starts: Duration,
    ends: Duration,
}

/// A move under way: one or two legs (two when taking up backlash).
#[derive(Debug, Clone)]
struct ActiveMove {
    /// The request that started it; `None` for a move the firmware started itself.
    seq: Option<u32>,
    legs: VecDeque<Leg>,
}

/// Counters a test or a developer may want.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirmwareCounters {
    /// Frames that did not decode (they do not feed the watchdog).
    pub rejected_frames: u64,
    /// Outgoing frames dropped because the host did not collect them.
    pub dropped_frames: u64,
    /// Times the watchdog retracted the pen.
    pub watchdog_trips: u64,
}

/// The simulated firmware.
#[derive(Debug)]
pub struct Firmware {
    identity: PenIdentity,
    mechanism: Mechanism,
    introduced: bool,
    homed: bool,
    fault: Option<FaultCode>,
    needling: Option<StrokeRate>,
    calibration: Option<CalibrationTable>,
    /// A table staged for commit; lost on power-down like any RAM.
    staged: Option<CalibrationTable>,
    /// The limits bundle in flash, and what it says (verified when it was committed).
    limits: Option<(LimitsBytes, LimitsBody)>,
    /// A verified bundle staged for commit.
    staged_limits: Option<(LimitsBytes, LimitsBody)>,
    active_move: Option<ActiveMove>,
    /// When the last valid frame arrived; the watchdog is armed once one has.
    last_valid_frame: Option<Duration>,
    watchdog_tripped: bool,
    tx: VecDeque<Vec<u8>>,
    counters: FirmwareCounters,
    /// Until when the LED blinks and the buzzer sounds (Identify).
    identify_until: Option<Duration>,
}

fn short_text(s: &str) -> ShortText {
    let mut text = ShortText::new();
    for c in s.chars() {
        if text.push(c).is_err() {
            break;
        }
    }
    text
}

impl Firmware {
    /// A pen fresh from power-up: parked, not homed, holding its factory table.
    pub fn new(config: &SimPenConfig) -> Firmware {
        let params = PenParams::from_seed(config.seed);
        let calibration = Some(factory_table(
            &params,
            config.seed,
            config.factory_calibrated_at_unix_s,
        ));
        Firmware {
            identity: PenIdentity {
                protocol_version: PROTOCOL_VERSION,
                schema_fingerprint: SCHEMA_FINGERPRINT,
                serial: short_text(&config.serial),
                model: short_text("MN-1 sim"),
                firmware_version: short_text(concat!("sim-", env!("CARGO_PKG_VERSION"))),
                firmware_max: FIRMWARE_MAX_COUNTS,
                watchdog_ms: WATCHDOG.as_millis() as u16,
            },
            mechanism: Mechanism::new(params, config.seed.rotate_left(17), PARK_COUNTS),
            introduced: false,
            homed: false,
            fault: None,
            needling: None,
            calibration,
            staged: None,
            limits: None,
            staged_limits: None,
            active_move: None,
            last_valid_frame: None,
            watchdog_tripped: false,
            tx: VecDeque::new(),
            counters: FirmwareCounters::default(),
            identify_until: None,
        }
    }

    /// Who this pen says it is.
    pub fn identity(&self) -> &PenIdentity {
        &self.identity
    }

    /// The needle's true protrusion (simulation only), micrometres.
    pub fn true_protrusion_um(&self) -> f64 {
        self.mechanism.true_protrusion_um()
    }

    /// The deepest true protrusion since power-up (simulation only), micrometres.
    pub fn deepest_protrusion_um(&self) -> f64 {
        self.mechanism.deepest_protrusion_um()
    }

    /// Whether the needling motor runs.
    pub fn needling(&self) -> Option<StrokeRate> {
        self.needling
    }

    /// The committed calibration table (what the pen keeps in flash).
    pub fn calibration(&self) -> Option<&CalibrationTable> {
        self.calibration.as_ref()
    }

    /// Power-up with `table` read back from flash in place of the factory table.
    pub fn load_calibration(&mut self, table: CalibrationTable) {
        self.calibration = Some(table);
    }

    /// The limits bundle in flash.
    pub fn limits_bundle(&self) -> Option<&[u8]> {
        self.limits.as_ref().map(|(bytes, _)| bytes.as_slice())
    }

    /// Power-up with a limits bundle read back from flash. It is verified like any other;
    /// a bundle that does not verify is not loaded.
    pub fn load_limits(&mut self, bundle: &[u8]) -> Result<(), LimitsError> {
        let serial = self.identity.serial.clone();
        let body = verify_bundle(bundle, &firmware_trusted_keys(), &serial, None)?;
        let bytes = LimitsBytes::from_slice(bundle).map_err(|_| LimitsError::Truncated)?;
        self.limits = Some((bytes, body));
        Ok(())
    }

    /// The limits in force: the stored bundle's, or the defaults.
    pub fn limits(&self) -> Limits {
        self.limits
            .as_ref()
            .map(|(_, body)| body.limits)
            .unwrap_or(Limits::DEFAULT)
    }

    /// Whether the pen is signalling (LED blinking, buzzer on) at `now`.
    pub fn is_identifying(&self, now: Duration) -> bool {
        self.identify_until.is_some_and(|until| now < until)
    }

    /// When the last valid frame from the host arrived, if one has.
    pub fn last_valid_frame(&self) -> Option<Duration> {
        self.last_valid_frame
    }

    /// Diagnostic counters.
    pub fn counters(&self) -> FirmwareCounters {
        self.counters
    }

    /// Whether the carriage is parked and still.
    pub fn is_parked(&self) -> bool {
        self.active_move.is_none() && self.mechanism.motor() == PARK_COUNTS
    }

    /// Fault injection: latch `code` as if the hardware had detected it.
    pub fn inject_fault(&mut self, code: FaultCode, now: Duration) {
        self.poll(now);
        self.fault = Some(code);
        self.make_safe(now);
        self.queue(&PenFrame::Event(PenEvent::Fault { code }));
    }

    /// The next time [`Firmware::poll`] has work to do, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        let move_end = self
            .active_move
            .as_ref()
            .and_then(|m| m.legs.front())
            .map(|leg| leg.ends);
        let watchdog = match (self.last_valid_frame, self.watchdog_tripped) {
            (Some(last), false) => Some(last + WATCHDOG),
            _ => None,
        };
        match (move_end, watchdog) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next frame for the host, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.tx.pop_front()
    }

    /// Advances time to `now`: finishes moves that are due and runs the watchdog.
    pub fn poll(&mut self, now: Duration) {
        self.finish_due_legs(now);
        if let (Some(last), false) = (self.last_valid_frame, self.watchdog_tripped) {
            if now >= last + WATCHDOG {
                self.watchdog_tripped = true;
                self.counters.watchdog_trips += 1;
                self.make_safe(last + WATCHDOG);
                self.queue(&PenFrame::Event(PenEvent::WatchdogRetracted));
                self.finish_due_legs(now);
            }
        }
    }

    /// Takes one frame from the host at time `now`.
    pub fn handle_frame(&mut self, bytes: &[u8], now: Duration) {
        self.poll(now);
        let frame = match decode_host_frame(bytes) {
            Ok(frame) => frame,
            Err(_) => {
                // A real pen cannot answer a frame it cannot read: there is no seq to echo.
                self.counters.rejected_frames += 1;
                return;
            }
        };
        self.last_valid_frame = Some(now);
        self.watchdog_tripped = false;
        let result = self.execute(&frame, now);
        self.queue(&PenFrame::Reply {
            seq: frame.seq,
            result,
        });
    }

    fn execute(&mut self, frame: &HostFrame, now: Duration) -> Result<PenReply, PenError> {
        match &frame.request {
            HostRequest::Hello { protocol_version } => {
                self.introduced = *protocol_version == PROTOCOL_VERSION;
                return Ok(PenReply::Identity(self.identity.clone()));
            }
            HostRequest::Heartbeat => return Ok(PenReply::Done),
            _ if !self.introduced => {
                return Err(PenError::NotIntroduced {
                    pen_protocol_version: PROTOCOL_VERSION,
                })
            }
            _ => {}
        }
        match &frame.request {
            HostRequest::Hello { .. } | HostRequest::Heartbeat => unreachable!("handled above"),
            HostRequest::Status => Ok(PenReply::Status(self.status(now))),
            HostRequest::Home => {
                self.needling = None;
                self.fault = None;
                self.homed = true;
                let eta = self.start_move(Some(frame.seq), &[HOME_COUNTS, PARK_COUNTS], now);
                Ok(PenReply::MoveStarted { eta_ms: eta })
            }
            HostRequest::MoveTo { target, approach } => {
                self.check_can_move()?;
                if *target > FIRMWARE_MAX_COUNTS {
                    return Err(PenError::BeyondFirmwareLimit {
                        max: FIRMWARE_MAX_COUNTS,
                    });
                }
                if *target < HOME_COUNTS {
                    return Err(PenError::BelowTravel { min: HOME_COUNTS });
                }
                // The flashed maximum depth, through the pen's own table.
                let max = i32::from(self.limits().max_depth_um);
                let deeper = self
                    .calibration
                    .as_ref()
                    .and_then(|t| t.depth_at_raw(*target))
                    .is_some_and(|depth| depth > max);
                if deeper && self.limits.is_some() {
                    return Err(PenError::OutsideLimits);
                }
                let here = self.position(now);
                let dip = RawCounts((target.0 - BACKLASH_TAKEUP_COUNTS).max(HOME_COUNTS.0));
                let eta = match approach {
                    Approach::FromBelow if *target < here => {
                        self.start_move(Some(frame.seq), &[dip, *target], now)
                    }
                    _ => self.start_move(Some(frame.seq), &[*target], now),
                };
                Ok(PenReply::MoveStarted { eta_ms: eta })
            }
            HostRequest::Retract => {
                self.needling = None;
                let eta = self.start_move(Some(frame.seq), &[PARK_COUNTS], now);
                Ok(PenReply::MoveStarted { eta_ms: eta })
            }
            HostRequest::StartNeedling { rate } => {
                self.check_can_move()?;
                let limits = self.limits();
                if !(limits.stroke_rate_min..=limits.stroke_rate_max).contains(&rate.per_second()) {
                    return Err(PenError::OutsideLimits);
                }
                self.needling = Some(*rate);
                Ok(PenReply::Done)
            }
            HostRequest::StopNeedling => {
                self.needling = None;
                Ok(PenReply::Done)
            }
            HostRequest::ReadCalibration => Ok(PenReply::Calibration(self.calibration.clone())),
            HostRequest::Identify { duration_ms } => {
                self.identify_until = Some(now + Duration::from_millis((*duration_ms).into()));
                Ok(PenReply::Done)
            }
            HostRequest::StageCalibration { table } => {
                table.validate().map_err(|_| PenError::InvalidCalibration)?;
                self.staged = Some(table.clone());
                Ok(PenReply::Staged {
                    checksum: table_checksum(table),
                })
            }
            HostRequest::ReadLimits => Ok(PenReply::Limits(
                self.limits.as_ref().map(|(bytes, _)| bytes.clone()),
            )),
            HostRequest::StageLimits { bundle } => {
                // The pen trusts no host: it checks everything again, with its own keys.
                let counter = self.limits.as_ref().map_or(0, |(_, body)| body.counter);
                let serial = self.identity.serial.clone();
                let body = verify_bundle(bundle, &firmware_trusted_keys(), &serial, Some(counter))
                    .map_err(|reason| PenError::LimitsRefused { reason })?;
                self.staged_limits = Some((bundle.clone(), body));
                Ok(PenReply::Staged {
                    checksum: crc32(bundle),
                })
            }
            HostRequest::CommitLimits { checksum } => match self.staged_limits.take() {
                Some((bytes, body)) if crc32(&bytes) == *checksum => {
                    self.limits = Some((bytes, body));
                    Ok(PenReply::Done)
                }
                other => {
                    self.staged_limits = other;
                    Err(PenError::CommitMismatch)
                }
            },
            HostRequest::CommitCalibration { checksum } => match self.staged.take() {
                Some(table) if table_checksum(&table) == *checksum => {
                    self.calibration = Some(table);
                    Ok(PenReply::Done)
                }
                other => {
                    self.staged = other;
                    Err(PenError::CommitMismatch)
                }
            },
        }
    }

    fn check_can_move(&self) -> Result<(), PenError> {
        if let Some(code) = self.fault {
            return Err(PenError::Faulted { code });
        }
        if !self.homed {
            return Err(PenError::NotHomed);
        }
        Ok(())
    }

    fn status(&self, now: Duration) -> PenStatus {
        PenStatus {
            position: self.position(now),
            moving_to: self
                .active_move
                .as_ref()
                .and_then(|m| m.legs.back())
                .map(|leg| leg.to),
            homed: self.homed,
            needling: self.needling,
            fault: self.fault,
        }
    }

    /// Stops needling and starts a retract the firmware owns (no reply expected).
    fn make_safe(&mut self, now: Duration) {
        self.needling = None;
        if self.position(now) != PARK_COUNTS || self.active_move.is_some() {
            self.start_move(None, &[PARK_COUNTS], now);
        }
    }

    /// Motor position at `now`, between the ends of the leg under way.
    fn position(&self, now: Duration) -> RawCounts {
        let Some(leg) = self.active_move.as_ref().and_then(|m| m.legs.front()) else {
            return self.mechanism.motor();
        };
        if now <= leg.starts {
            return leg.from;
        }
        let travelled = ((now - leg.starts).as_millis() as u64 * SPEED_COUNTS_PER_MS)
            .min(u64::from(leg.from.0.abs_diff(leg.to.0))) as i32;
        RawCounts(leg.from.0 + travelled * (leg.to.0 - leg.from.0).signum())
    }

    /// Starts a move through `waypoints`, cutting short any move under way where the motor
    /// stands now. Returns the expected duration in milliseconds.
    fn start_move(&mut self, seq: Option<u32>, waypoints: &[RawCounts], now: Duration) -> u32 {
        let here = self.position(now);
        if self.active_move.take().is_some() {
            // The motor stops where it is; the carriage follows that far.
            self.mechanism.move_motor(here);
        }
        let mut legs = VecDeque::new();
        let (mut from, mut at) = (here, now);
        for &to in waypoints {
            let run_ms = u64::from(from.0.abs_diff(to.0)).div_ceil(SPEED_COUNTS_PER_MS);
            // A motor that does not turn has nothing to settle.
            let settle = if from == to { Duration::ZERO } else { SETTLE };
            let ends = at + Duration::from_millis(run_ms) + settle;
            legs.push_back(Leg {
                from,
                to,
                starts: at,
                ends,
            });
            (from, at) = (to, ends);
        }
        self.active_move = Some(ActiveMove { seq, legs });
        (at - now).as_millis() as u32
    }

    fn finish_due_legs(&mut self, now: Duration) {
        while let Some(active) = self.active_move.as_mut() {
            match active.legs.front() {
                Some(leg) if leg.ends <= now => {
                    let to = leg.to;
                    active.legs.pop_front();
                    self.mechanism.move_motor(to);
                }
                Some(_) => return,
                None => {
                    let seq = active.seq;
                    self.active_move = None;
                    if let Some(move_seq) = seq {
                        self.queue(&PenFrame::Event(PenEvent::PositionReached {
                            move_seq,
                            position: self.mechanism.motor(),
                        }));
                    }
                }
            }
        }
    }

    fn queue(&mut self, frame: &PenFrame) {
        if self.tx.len() >= TX_QUEUE_LIMIT {
            self.counters.dropped_frames += 1;
            return;
        }
        let mut buf = [0u8; MAX_PEN_FRAME];
        let bytes = encode_frame(frame, &mut buf).expect("pen frames fit MAX_PEN_FRAME");
        self.tx.push_back(bytes.to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pen_protocol::pen::decode_pen_frame;
    use pen_protocol::CEILING_UM;

    use crate::physics::nominal_um;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn pen() -> Firmware {
        Firmware::new(&SimPenConfig {
            serial: "TEST-1".into(),
            seed: 1,
            factory_calibrated_at_unix_s: 1_700_000_000,
        })
    }

    fn send(fw: &mut Firmware, seq: u32, request: HostRequest, now: Duration) -> Vec<PenFrame> {
        let mut buf = [0u8; MAX_PEN_FRAME];
        let bytes = encode_frame(&HostFrame { seq, request }, &mut buf).unwrap();
        fw.handle_frame(bytes, now);
        drain(fw)
    }

    fn drain(fw: &mut Firmware) -> Vec<PenFrame> {
        std::iter::from_fn(|| fw.poll_transmit())
            .map(|bytes| decode_pen_frame(&bytes).unwrap())
            .collect()
    }

    fn reply(frames: &[PenFrame], want: u32) -> Result<PenReply, PenError> {
        frames
            .iter()
            .find_map(|f| match f {
                PenFrame::Reply { seq, result } if *seq == want => Some(result.clone()),
                _ => None,
            })
            .expect("a reply with that seq")
    }

    /// The table the pen holds (its factory one), read with sequence number 3.
    fn factory_table(fw: &mut Firmware, t: Duration) -> CalibrationTable {
        let Ok(PenReply::Calibration(Some(table))) =
            reply(&send(fw, 3, HostRequest::ReadCalibration, t), 3)
        else {
            panic!("no factory table")
        };
        table
    }

    /// Introduces the host and homes, returning the time the pen is parked.
    fn ready(fw: &mut Firmware) -> Duration {
        let hello = HostRequest::Hello {
            protocol_version: PROTOCOL_VERSION,
        };
        assert!(matches!(
            reply(&send(fw, 1, hello, ms(0)), 1),
            Ok(PenReply::Identity(_))
        ));
        let Ok(PenReply::MoveStarted { eta_ms }) = reply(&send(fw, 2, HostRequest::Home, ms(0)), 2)
        else {
            panic!("home refused")
        };
        let t = ms(u64::from(eta_ms));
        fw.poll(t);
        assert!(fw.is_parked());
        drain(fw);
        t
    }

    #[test]
    fn firmware_max_is_safe_for_every_pen() {
        let worst = PenParams::worst_case_protrusion_um(nominal_um(FIRMWARE_MAX_COUNTS));
        assert!(worst <= f64::from(CEILING_UM), "worst case {worst} um");
        // And the bound really bounds: sample many pens.
        for seed in 0..2000 {
            let p = PenParams::from_seed(seed);
            assert!(p.protrusion_um(nominal_um(FIRMWARE_MAX_COUNTS)) + 0.9 <= worst);
        }
    }

    #[test]
    fn nothing_moves_before_hello_and_home() {
        let mut fw = pen();
        let target = HostRequest::MoveTo {
            target: RawCounts(100),
            approach: Approach::FromBelow,
        };
        assert!(matches!(
            reply(&send(&mut fw, 1, target.clone(), ms(0)), 1),
            Err(PenError::NotIntroduced { .. })
        ));
        let hello = HostRequest::Hello {
            protocol_version: PROTOCOL_VERSION,
        };
        send(&mut fw, 2, hello, ms(0));
        assert_eq!(
            reply(&send(&mut fw, 3, target, ms(0)), 3),
            Err(PenError::NotHomed)
        );
    }

    #[test]
    fn a_host_of_another_version_is_not_introduced() {
        let mut fw = pen();
        let hello = HostRequest::Hello {
            protocol_version: PROTOCOL_VERSION + 1,
        };
        let Ok(PenReply::Identity(id)) = reply(&send(&mut fw, 1, hello, ms(0)), 1) else {
            panic!("no identity")
        };
        assert_eq!(id.schema_fingerprint, SCHEMA_FINGERPRINT);
        assert!(matches!(
            reply(&send(&mut fw, 2, HostRequest::Home, ms(0)), 2),
            Err(PenError::NotIntroduced { .. })
        ));
    }

    #[test]
    fn moves_past_the_firmware_max_are_refused_and_do_not_move() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let over = HostRequest::MoveTo {
            target: RawCounts(FIRMWARE_MAX_COUNTS.0 + 1),
            approach: Approach::Direct,
        };
        assert_eq!(
            reply(&send(&mut fw, 9, over, t), 9),
            Err(PenError::BeyondFirmwareLimit {
                max: FIRMWARE_MAX_COUNTS
            })
        );
        fw.poll(t + ms(1000));
        assert!(fw.is_parked());
    }

    #[test]
    fn a_move_reports_position_reached_with_its_seq() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let go = HostRequest::MoveTo {
            target: RawCounts(2000),
            approach: Approach::FromBelow,
        };
        let Ok(PenReply::MoveStarted { eta_ms }) = reply(&send(&mut fw, 5, go, t), 5) else {
            panic!("move refused")
        };
        // 2400 counts at 80 counts/ms plus settling.
        assert_eq!(eta_ms, 35);
        fw.poll(t + ms(34));
        assert!(drain(&mut fw).is_empty());
        fw.poll(t + ms(35));
        assert_eq!(
            drain(&mut fw),
            vec![PenFrame::Event(PenEvent::PositionReached {
                move_seq: 5,
                position: RawCounts(2000)
            })]
        );
        let depth = fw.true_protrusion_um();
        assert!((depth - 500.0).abs() < 20.0, "{depth}");
    }

    #[test]
    fn from_below_approach_repeats_where_direct_does_not() {
        let mut fw = pen();
        let mut t = ready(&mut fw);
        let mut depth_after = |fw: &mut Firmware, seq, target, approach| {
            let go = HostRequest::MoveTo {
                target: RawCounts(target),
                approach,
            };
            let Ok(PenReply::MoveStarted { eta_ms }) = reply(&send(fw, seq, go, t), seq) else {
                panic!("refused")
            };
            t += ms(u64::from(eta_ms));
            fw.poll(t);
            fw.true_protrusion_um()
        };
        let up = depth_after(&mut fw, 10, 2000, Approach::FromBelow);
        depth_after(&mut fw, 11, 3000, Approach::FromBelow);
        let down_below = depth_after(&mut fw, 12, 2000, Approach::FromBelow);
        depth_after(&mut fw, 13, 3000, Approach::FromBelow);
        let down_direct = depth_after(&mut fw, 14, 2000, Approach::Direct);
        assert!((up - down_below).abs() < 2.0, "{up} vs {down_below}");
        assert!(down_direct - up > 2.0, "{down_direct} vs {up}");
    }

    #[test]
    fn watchdog_stops_needling_and_retracts() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let go = HostRequest::MoveTo {
            target: RawCounts(2000),
            approach: Approach::FromBelow,
        };
        send(&mut fw, 3, go, t);
        let rate = StrokeRate::new(120).unwrap();
        send(&mut fw, 4, HostRequest::StartNeedling { rate }, t + ms(40));
        assert_eq!(fw.needling(), Some(rate));
        // Silence: the deadline is the watchdog, 500 ms after the last frame.
        assert_eq!(fw.next_deadline(), Some(t + ms(540)));
        fw.poll(t + ms(539));
        assert_eq!(fw.needling(), Some(rate));
        fw.poll(t + ms(540));
        assert_eq!(fw.needling(), None);
        assert!(drain(&mut fw).contains(&PenFrame::Event(PenEvent::WatchdogRetracted)));
        fw.poll(t + ms(700));
        assert!(fw.is_parked());
        assert_eq!(fw.counters().watchdog_trips, 1);
    }

    #[test]
    fn retracting_a_parked_pen_takes_no_time() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let frames = send(&mut fw, 3, HostRequest::Retract, t);
        assert_eq!(reply(&frames, 3), Ok(PenReply::MoveStarted { eta_ms: 0 }));
        fw.poll(t);
        assert!(
            drain(&mut fw).contains(&PenFrame::Event(PenEvent::PositionReached {
                move_seq: 3,
                position: PARK_COUNTS
            }))
        );
    }

    fn bundle(secret: &[u8; 32], counter: u32, max_depth_um: u16) -> Vec<u8> {
        use pen_protocol::limits::{key_id, public_key, sign_bundle, Limits, LimitsBody};
        sign_bundle(
            &LimitsBody {
                serial: "TEST-1".try_into().unwrap(),
                limits: Limits {
                    max_depth_um,
                    stroke_rate_min: 50,
                    stroke_rate_max: 120,
                    calibration_interval_days: 90,
                },
                counter,
                issued_unix_s: 1_800_000_000,
                key_id: key_id(&public_key(secret)),
            },
            secret,
        )
    }

    fn flash(fw: &mut Firmware, seq: u32, bytes: &[u8], t: Duration) -> Result<PenReply, PenError> {
        let stage = HostRequest::StageLimits {
            bundle: heapless::Vec::from_slice(bytes).unwrap(),
        };
        let PenReply::Staged { checksum } = reply(&send(fw, seq, stage, t), seq)? else {
            panic!("staged without a checksum")
        };
        reply(
            &send(fw, seq + 1, HostRequest::CommitLimits { checksum }, t),
            seq + 1,
        )
    }

    #[test]
    fn signed_limits_are_flashed_and_a_replay_is_refused() {
        use crate::keys::SIM_KEY_2026;
        let mut fw = pen();
        let t = ready(&mut fw);
        let good = bundle(&SIM_KEY_2026, 1, 600);
        assert_eq!(flash(&mut fw, 10, &good, t), Ok(PenReply::Done));
        assert_eq!(fw.limits().max_depth_um, 600);
        assert_eq!(fw.limits_bundle(), Some(&good[..]));
        let again = flash(&mut fw, 20, &good, t);
        assert!(matches!(
            again,
            Err(PenError::LimitsRefused {
                reason: LimitsError::Rollback { bundle: 1, pen: 1 }
            })
        ));
    }

    #[test]
    fn a_bundle_signed_by_a_key_the_pen_does_not_trust_is_refused() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let forged = bundle(&[42; 32], 5, 1000);
        assert!(matches!(
            flash(&mut fw, 10, &forged, t),
            Err(PenError::LimitsRefused {
                reason: LimitsError::UnknownKey { .. }
            })
        ));
        assert_eq!(fw.limits_bundle(), None);
    }

    #[test]
    fn the_pen_enforces_its_limits_itself() {
        use crate::keys::SIM_KEY_2027;
        let mut fw = pen();
        let t = ready(&mut fw);
        assert_eq!(
            flash(&mut fw, 10, &bundle(&SIM_KEY_2027, 1, 300), t),
            Ok(PenReply::Done)
        );
        // 2000 counts is about 500 um through the factory table: past the 300 um limit.
        let deep = HostRequest::MoveTo {
            target: RawCounts(2000),
            approach: Approach::FromBelow,
        };
        assert_eq!(
            reply(&send(&mut fw, 30, deep, t), 30),
            Err(PenError::OutsideLimits)
        );
        let fast = HostRequest::StartNeedling {
            rate: StrokeRate::new(140).unwrap(),
        };
        assert_eq!(
            reply(&send(&mut fw, 31, fast, t), 31),
            Err(PenError::OutsideLimits)
        );
        let shallow = HostRequest::MoveTo {
            target: RawCounts(800),
            approach: Approach::FromBelow,
        };
        assert!(matches!(
            reply(&send(&mut fw, 32, shallow, t), 32),
            Ok(PenReply::MoveStarted { .. })
        ));
    }

    #[test]
    fn identify_signals_for_the_time_asked() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let identify = HostRequest::Identify { duration_ms: 300 };
        assert_eq!(reply(&send(&mut fw, 3, identify, t), 3), Ok(PenReply::Done));
        assert!(fw.is_identifying(t + ms(299)));
        assert!(!fw.is_identifying(t + ms(300)));
    }

    #[test]
    fn garbage_is_counted_and_does_not_feed_the_watchdog() {
        let mut fw = pen();
        let t = ready(&mut fw);
        fw.handle_frame(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff], t + ms(400));
        assert!(drain(&mut fw).is_empty());
        assert_eq!(fw.counters().rejected_frames, 1);
        // Still counting from the last valid frame, the Home sent at time 0.
        assert_eq!(fw.next_deadline(), Some(WATCHDOG));
    }

    #[test]
    fn invalid_calibration_is_refused_and_the_old_one_kept() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let before = factory_table(&mut fw, t);
        let mut bad = before.clone();
        bad.points.reverse();
        let stage = HostRequest::StageCalibration { table: bad };
        assert_eq!(
            reply(&send(&mut fw, 4, stage, t), 4),
            Err(PenError::InvalidCalibration)
        );
        assert_eq!(
            reply(&send(&mut fw, 5, HostRequest::ReadCalibration, t), 5),
            Ok(PenReply::Calibration(Some(before)))
        );
    }

    #[test]
    fn a_staged_table_takes_effect_only_on_a_matching_commit() {
        let mut fw = pen();
        let t = ready(&mut fw);
        let before = factory_table(&mut fw, t);
        let mut new = before.clone();
        new.id = 7;
        let stage = HostRequest::StageCalibration { table: new.clone() };
        let Ok(PenReply::Staged { checksum }) = reply(&send(&mut fw, 4, stage, t), 4) else {
            panic!("not staged")
        };
        assert_eq!(checksum, table_checksum(&new));
        // Staged is not committed: the pen still uses the old table.
        assert_eq!(
            reply(&send(&mut fw, 5, HostRequest::ReadCalibration, t), 5),
            Ok(PenReply::Calibration(Some(before.clone())))
        );
        let wrong = HostRequest::CommitCalibration {
            checksum: checksum ^ 1,
        };
        assert_eq!(
            reply(&send(&mut fw, 6, wrong, t), 6),
            Err(PenError::CommitMismatch)
        );
        let commit = HostRequest::CommitCalibration { checksum };
        assert_eq!(reply(&send(&mut fw, 7, commit, t), 7), Ok(PenReply::Done));
        assert_eq!(
            reply(&send(&mut fw, 8, HostRequest::ReadCalibration, t), 8),
            Ok(PenReply::Calibration(Some(new)))
        );
        // Nothing is staged any more.
        let again = HostRequest::CommitCalibration { checksum };
        assert_eq!(
            reply(&send(&mut fw, 9, again, t), 9),
            Err(PenError::CommitMismatch)
        );
    }

    #[test]
    fn an_injected_fault_retracts_and_blocks_motion_until_homed() {
        let mut fw = pen();
        let t = ready(&mut fw);
        fw.inject_fault(FaultCode::MotorStall, t);
        assert!(drain(&mut fw).contains(&PenFrame::Event(PenEvent::Fault {
            code: FaultCode::MotorStall
        })));
        let go = HostRequest::MoveTo {
            target: RawCounts(100),
            approach: Approach::FromBelow,
        };
        assert_eq!(
            reply(&send(&mut fw, 3, go, t), 3),
            Err(PenError::Faulted {
                code: FaultCode::MotorStall
            })
        );
    }
}
