//! One task per pen: handshake, heartbeats, treatment sessions, setpoints, needling, events,
//! and the pen's published report.
//!
//! The task owns the pen's link. It takes commands from clients through a bounded queue,
//! puts every setpoint through the ceiling policy, matches replies by sequence number (via
//! [`RequestTracker`]), times out every request, and publishes what it knows about the pen as
//! a [`PenReport`] that readers take without disturbing the pen.
//!
//! Commands that move the pen need the treatment session ([`lease`]): one connection at a
//! time holds it, renews it by heartbeats, and when it ends (closed, client gone, heartbeat
//! lost, pen trouble, shutdown) the pen is stopped and retracted.

pub mod lease;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pen_protocol::api::{
    ApiError, CalibrationSummary, DepthSetReport, ErrorKind, Event, LimitsFlashReport, PenReport,
    PenState, SessionHolder, SessionInfo,
};
use pen_protocol::calibration::crc32;
use pen_protocol::limits::{verify_bundle, Limits, LimitsBody, TrustedKey};
use pen_protocol::pen::{
    Approach, HostRequest, PenError, PenEvent, PenIdentity, PenReply, PROTOCOL_VERSION,
    SCHEMA_FINGERPRINT,
};
use pen_protocol::{table_checksum, CalibrationTable, DepthUm, RawCounts, StrokeRate};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{sleep_until, timeout_at, Instant};
use tracing::{debug, info, warn};

use crate::keys::load_trusted_keys;
use crate::limits_report;
use crate::link::{LinkError, PenLink};
use crate::paths::default_trusted_keys_dir;
use crate::pen_conn::{Incoming, RequestTracker, TooManyInFlight};
use crate::policy::{approve_setpoint, ApprovedSetpoint, CalibrationClock};
use crate::readiness;
use lease::{Lease, LeaseBook, LeaseKind, Opened};

/// Timing of a session. The defaults suit USB and the simulator alike.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// How long the pen has to answer an ordinary request.
    pub request_timeout: Duration,
    /// How often to send a heartbeat when nothing else was sent (well inside the pen's
    /// watchdog).
    pub heartbeat_interval: Duration,
    /// Extra time a move may take beyond the pen's own estimate.
    pub move_slack: Duration,
    /// Consecutive unanswered requests after which the pen counts as not answering.
    pub unanswered_limit: u32,
    /// A treatment session ends when its client sends nothing for this long.
    pub lease: Duration,
    /// How long `Identify` makes the pen signal.
    pub identify_for: Duration,
    /// The oldest a calibration may be before the pen gets no depth.
    pub max_calibration_age: Duration,
    /// Where the limits-signing keys this daemon trusts are.
    pub trusted_keys: PathBuf,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            request_timeout: Duration::from_millis(500),
            heartbeat_interval: Duration::from_millis(100),
            move_slack: Duration::from_millis(1000),
            unanswered_limit: 3,
            lease: Duration::from_millis(1500),
            identify_for: Duration::from_secs(3),
            max_calibration_age: Duration::from_secs(365 * 24 * 60 * 60),
            trusted_keys: default_trusted_keys_dir(),
        }
    }
}

impl SessionConfig {
    /// The policy's view of time now: today's date (read here, at the edge) and the age limit.
    pub fn calibration_clock(&self) -> CalibrationClock {
        let now_unix_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        CalibrationClock {
            now_unix_s,
            max_age_s: self.max_calibration_age.as_secs(),
        }
    }
}

/// Where the answer to a command goes.
pub type Reply<T> = oneshot::Sender<Result<T, ApiError>>;

/// What clients (through the server) ask of a pen's session. `connection` identifies the
/// client connection; only the one holding the treatment session may move the pen.
#[derive(Debug)]
pub enum PenCommand {
    /// Take the treatment session, waiting in line up to `wait` if it is held.
    OpenSession {
        /// The asking connection.
        connection: u64,
        /// Who is asking.
        holder: SessionHolder,
        /// How long to wait in line.
        wait: Duration,
        /// Where the answer goes.
        reply: Reply<SessionInfo>,
    },
    /// End the session: stop and retract.
    CloseSession {
        /// The asking connection.
        connection: u64,
        /// Answered, with where it parked, once the pen is retracted.
        reply: Reply<RawCounts>,
    },
    /// The connection is alive: renew its session.
    Renew {
        /// The connection.
        connection: u64,
    },
    /// The connection is gone: end its session, leave the line.
    Release {
        /// The connection.
        connection: u64,
    },
    /// Set the depth, if the session is held and the ceiling policy allows it.
    SetDepth {
        /// The asking connection.
        connection: u64,
        /// Requested depth, micrometres.
        depth_um: u32,
        /// Answer once the position is reached rather than once the move started.
        wait: bool,
        /// Where the answer goes.
        reply: Reply<DepthSetReport>,
    },
    /// Start (`Some` rate, strokes per second) or stop (`None`) needling.
    Needling {
        /// The asking connection.
        connection: u64,
        /// The rate, or `None` to stop.
        strokes_per_s: Option<u16>,
        /// Where the answer goes.
        reply: Reply<()>,
    },
    /// Make the pen signal to the people nearby.
    Identify {
        /// Where the answer goes.
        reply: Reply<()>,
    },
    /// Take the pen for a bench calibration (it must be free). Answers with the pen's
    /// current table, the one the calibration navigates by.
    BeginCalibration {
        /// The client's connection: when it closes, the calibration is aborted.
        connection: u64,
        /// Who asked.
        holder: SessionHolder,
        /// Where the answer goes: the table to move by, and the limits to keep to.
        reply: Reply<(CalibrationTable, Limits)>,
    },
    /// Check a limits bundle against `keys` and the pen, and unless `dry_run`, flash it.
    FlashLimits {
        /// The bundle's bytes.
        bundle: Vec<u8>,
        /// Only check.
        dry_run: bool,
        /// The keys this daemon trusts (read at the edge).
        keys: Vec<TrustedKey>,
        /// The report.
        reply: Reply<LimitsFlashReport>,
    },
    /// Home the pen (calibration only); answered once it is parked.
    CalibrationHome {
        /// The calibration's connection.
        connection: u64,
        /// Where it stopped.
        reply: Reply<RawCounts>,
    },
    /// Move to a raw position (calibration only); answered once it is reached. The target
    /// is checked against the ceiling through the pen's table once more here.
    CalibrationMove {
        /// The calibration's connection.
        connection: u64,
        /// Where to.
        target: RawCounts,
        /// How.
        approach: Approach,
        /// Where it stopped.
        reply: Reply<RawCounts>,
    },
    /// Stage, verify the checksum of, and commit a new table (calibration only).
    CalibrationWrite {
        /// The calibration's connection.
        connection: u64,
        /// The table.
        table: CalibrationTable,
        /// Answered once committed.
        reply: Reply<()>,
    },
    /// Put a previous table back after an abandoned calibration. Needs no lease: the
    /// calibration may have been aborted by then, and the old table is the safe one.
    CalibrationRestore {
        /// The table the pen held before.
        table: CalibrationTable,
        /// Answered once committed.
        reply: Reply<()>,
    },
    /// Stop the calibration under way, whoever runs it: the pen is retracted and the
    /// runner, finding the pen released, puts the previous table back.
    AbortCalibration {
        /// Answered once the pen is retracted.
        reply: Reply<RawCounts>,
    },
    /// The calibration is over: release the pen and retract it.
    EndCalibration {
        /// The calibration's connection.
        connection: u64,
        /// Answered once the pen is parked.
        reply: Reply<RawCounts>,
    },
    /// Stop needling, retract, and end the session task.
    Shutdown {
        /// Signalled when the pen is retracted (or could not be).
        done: oneshot::Sender<()>,
    },
}

/// What a request in flight was for.
#[derive(Debug)]
enum Pending {
    /// A request the session awaits in line (handshake, shutdown).
    InLine,
    Heartbeat,
    /// A status read to refresh the report.
    Refresh,
    /// A retract at the end of a session; `done` (if any) is answered once it is finished.
    Retract {
        done: Option<Reply<RawCounts>>,
    },
    /// A calibration's home or move, answered once reached.
    CalibrationMove {
        reply: Reply<RawCounts>,
    },
    /// A table being staged; committed if the checksum matches.
    Stage {
        table: CalibrationTable,
        reply: Reply<()>,
    },
    /// A staged table being committed.
    Commit {
        table: CalibrationTable,
        reply: Reply<()>,
    },
    /// A limits bundle being staged, then committed.
    StageLimits {
        bundle: Vec<u8>,
        body: LimitsBody,
        report: LimitsFlashReport,
        reply: Reply<LimitsFlashReport>,
    },
    CommitLimits {
        body: LimitsBody,
        report: LimitsFlashReport,
        reply: Reply<LimitsFlashReport>,
    },
    Move {
        approved: ApprovedSetpoint,
        wait: bool,
        reply: Reply<DepthSetReport>,
    },
    Needling {
        rate: Option<StrokeRate>,
        reply: Reply<()>,
    },
    Identify {
        reply: Reply<()>,
    },
}

impl Pending {
    /// Answers the client waiting on this request, if any, with `why`. Returns whether
    /// anyone was waiting.
    fn fail(self, why: ApiError) -> bool {
        match self {
            Pending::Move { reply, .. } => {
                let _ = reply.send(Err(why));
                true
            }
            Pending::Needling { reply, .. }
            | Pending::Identify { reply }
            | Pending::Stage { reply, .. }
            | Pending::Commit { reply, .. } => {
                let _ = reply.send(Err(why));
                true
            }
            Pending::Retract { done: Some(reply) } | Pending::CalibrationMove { reply } => {
                let _ = reply.send(Err(why));
                true
            }
            Pending::StageLimits { reply, .. } | Pending::CommitLimits { reply, .. } => {
                let _ = reply.send(Err(why));
                true
            }
            Pending::InLine
            | Pending::Heartbeat
            | Pending::Refresh
            | Pending::Retract { done: None } => false,
        }
    }
}

/// A setpoint whose move started and whose client waits for the position to be reached.
#[derive(Debug)]
struct AwaitingReached {
    move_seq: u32,
    deadline: Instant,
    approved: ApprovedSetpoint,
    reply: Reply<DepthSetReport>,
}

/// A move (a retract that closes a session, a calibration move) whose client waits for
/// the position to be reached.
#[derive(Debug)]
struct AwaitingMove {
    move_seq: u32,
    deadline: Instant,
    reply: Reply<RawCounts>,
}

/// Why a request made in line failed.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Link(#[from] LinkError),
    #[error("pen did not answer within {0:?}")]
    Timeout(Duration),
    #[error("pen refused: {0}")]
    Refused(PenError),
    #[error("too many requests in flight")]
    Busy,
}

struct Session<L> {
    link: L,
    config: SessionConfig,
    tracker: RequestTracker<Pending>,
    origin: Instant,
    report: watch::Sender<PenReport>,
    events: broadcast::Sender<Event>,
    calibration: Option<CalibrationTable>,
    /// The limits in force, from a verified bundle (or the defaults when there is none).
    limits: Limits,
    /// The verified bundle, if any.
    limits_body: Option<LimitsBody>,
    leases: LeaseBook<Reply<SessionInfo>>,
    awaiting: Option<AwaitingReached>,
    awaiting_move: Option<AwaitingMove>,
    /// The setpoint move under way: its sequence number and depth.
    moving: Option<(u32, DepthUm)>,
    last_sent: Instant,
    unanswered: u32,
}

/// The first report of a pen, before it has said anything.
pub fn initial_report(serial: &str, link: &str) -> PenReport {
    PenReport {
        serial: serial.to_string(),
        model: String::new(),
        firmware_version: String::new(),
        link: link.to_string(),
        state: PenState::Connecting,
        problems: Vec::new(),
        session: None,
        calibrating: false,
        position_counts: None,
        depth_um: None,
        setpoint: None,
        needling: None,
        calibration: None,
        limits: None,
        sim: None,
    }
}

fn error(kind: ErrorKind, message: impl Into<String>) -> ApiError {
    ApiError::new(kind, message)
}

/// Runs a pen's session until the pen goes away or a `Shutdown` command ends it.
pub async fn run_session<L: PenLink>(
    link: L,
    config: SessionConfig,
    mut commands: mpsc::Receiver<PenCommand>,
    report: watch::Sender<PenReport>,
    events: broadcast::Sender<Event>,
) {
    let now = Instant::now();
    let mut session = Session {
        leases: LeaseBook::new(config.lease),
        link,
        config,
        tracker: RequestTracker::new(),
        origin: now,
        report,
        events,
        calibration: None,
        limits: Limits::DEFAULT,
        limits_body: None,
        awaiting: None,
        awaiting_move: None,
        moving: None,
        last_sent: now,
        unanswered: 0,
    };
    match session.handshake().await {
        Ok(()) => {
            info!(pen = %session.serial(), "pen ready");
            session.set_state(PenState::Ready);
            session.emit(Event::PenConnected {
                serial: session.serial(),
            });
            session.serve(&mut commands).await;
        }
        Err(state) => {
            warn!(pen = %session.serial(), state = %state, "pen not usable");
            let offline = state == PenState::Offline;
            session.set_state(state);
            if !offline {
                session.refuse_until_gone(&mut commands).await;
            }
        }
    }
    answer_queued(&mut commands, &session.serial(), &session.state());
}

impl<L: PenLink> Session<L> {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn serial(&self) -> String {
        self.link.serial().to_string()
    }

    fn set_state(&self, state: PenState) {
        self.report.send_modify(|r| r.state = state);
    }

    fn state(&self) -> PenState {
        self.report.borrow().state.clone()
    }

    fn emit(&self, event: Event) {
        // No subscribers is fine: events are for whoever listens.
        let _ = self.events.send(event);
    }

    /// Hello, identity checks, calibration read, homing. On failure, the state to show.
    async fn handshake(&mut self) -> Result<(), PenState> {
        let timeout = self.config.request_timeout;
        let hello = HostRequest::Hello {
            protocol_version: PROTOCOL_VERSION,
        };
        let identity = match self.call(hello, timeout).await.map_err(handshake_failed)? {
            (_, PenReply::Identity(identity)) => identity,
            (_, other) => return Err(unexpected(&other)),
        };
        self.check_identity(&identity)?;
        let calibration = match self.call(HostRequest::ReadCalibration, timeout).await {
            Ok((_, PenReply::Calibration(table))) => table,
            Ok((_, other)) => return Err(unexpected(&other)),
            Err(e) => return Err(handshake_failed(e)),
        };
        self.set_calibration(calibration);
        let bundle = match self.call(HostRequest::ReadLimits, timeout).await {
            Ok((_, PenReply::Limits(bundle))) => bundle,
            Ok((_, other)) => return Err(unexpected(&other)),
            Err(e) => return Err(handshake_failed(e)),
        };
        self.adopt_limits(bundle.as_deref());
        let (home_seq, eta) = match self.call(HostRequest::Home, timeout).await {
            Ok((seq, PenReply::MoveStarted { eta_ms })) => (seq, eta_ms),
            Ok((_, other)) => return Err(unexpected(&other)),
            Err(e) => return Err(handshake_failed(e)),
        };
        let deadline = Instant::now() + Duration::from_millis(eta.into()) + self.config.move_slack;
        self.wait_reached(home_seq, deadline)
            .await
            .map_err(handshake_failed)
    }

    fn check_identity(&mut self, id: &PenIdentity) -> Result<(), PenState> {
        self.report.send_modify(|r| {
            r.model = id.model.to_string();
            r.firmware_version = id.firmware_version.to_string();
        });
        let reason = if id.protocol_version != PROTOCOL_VERSION {
            format!(
                "pen speaks protocol v{}, this pend speaks v{PROTOCOL_VERSION}; update the pen firmware or pend so they match",
                id.protocol_version
            )
        } else if id.schema_fingerprint != SCHEMA_FINGERPRINT {
            format!(
                "pen's message schema {:016x} differs from pend's {SCHEMA_FINGERPRINT:016x} under the same protocol version; the firmware is a mismatched build, reflash it",
                id.schema_fingerprint
            )
        } else if id.serial.as_str() != self.link.serial() {
            format!(
                "pen says its serial is {:?} but its connection reports {:?}",
                id.serial.as_str(),
                self.link.serial()
            )
        } else {
            return Ok(());
        };
        Err(PenState::Incompatible { reason })
    }

    fn set_calibration(&mut self, table: Option<CalibrationTable>) {
        let summary = match &table {
            Some(t) if t.validate().is_ok() => Some(CalibrationSummary {
                id: t.id,
                calibrated_at_unix_s: t.calibrated_at_unix_s,
                margin_um: t.margin_um,
                usable_ceiling_um: t.deepest_usable_um(),
                points: t.points.len() as u8,
            }),
            Some(t) => {
                warn!(pen = %self.serial(), error = ?t.validate(), "pen holds an invalid calibration table");
                None
            }
            None => None,
        };
        self.report.send_modify(|r| r.calibration = summary);
        self.calibration = table;
    }

    /// Sends `request` and waits for its reply, handling whatever else arrives meanwhile.
    async fn call(
        &mut self,
        request: HostRequest,
        timeout: Duration,
    ) -> Result<(u32, PenReply), CallError> {
        let (seq, bytes) = self
            .tracker
            .start(request, self.now(), timeout, Pending::InLine)
            .map_err(|_| CallError::Busy)?;
        self.send(&bytes).await?;
        let deadline = Instant::now() + timeout;
        loop {
            let frame = match timeout_at(deadline, self.link.recv()).await {
                Ok(frame) => frame?,
                Err(_) => {
                    let now = self.now() + Duration::from_millis(1);
                    for tag in self.tracker.expire(now) {
                        self.on_expired(tag).await;
                    }
                    return Err(CallError::Timeout(timeout));
                }
            };
            match self.tracker.on_frame(&frame) {
                Incoming::Reply {
                    seq: got,
                    tag: Pending::InLine,
                    result,
                } if got == seq => {
                    self.unanswered = 0;
                    return result.map(|r| (seq, r)).map_err(CallError::Refused);
                }
                other => self.on_incoming(other).await,
            }
        }
    }

    /// Waits for the `PositionReached` of the move started by `move_seq`.
    async fn wait_reached(&mut self, move_seq: u32, deadline: Instant) -> Result<(), CallError> {
        let waited = deadline.saturating_duration_since(Instant::now());
        loop {
            let frame = timeout_at(deadline, self.link.recv())
                .await
                .map_err(|_| CallError::Timeout(waited))??;
            match self.tracker.on_frame(&frame) {
                Incoming::Event(PenEvent::PositionReached {
                    move_seq: seq,
                    position,
                }) if seq == move_seq => {
                    self.record_position(position);
                    return Ok(());
                }
                other => self.on_incoming(other).await,
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        // The link has its own buffering; a pen that stops taking frames must not stall the
        // session forever.
        let deadline = Instant::now() + self.config.request_timeout;
        match timeout_at(deadline, self.link.send(bytes)).await {
            Ok(result) => result?,
            Err(_) => return Err(LinkError::Transport("pen is not taking frames".into())),
        }
        self.last_sent = Instant::now();
        Ok(())
    }

    /// The main loop of a ready pen.
    async fn serve(&mut self, commands: &mut mpsc::Receiver<PenCommand>) {
        loop {
            let wake = self.next_wake();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(PenCommand::Shutdown { done }) => {
                        self.shut_down().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command).await,
                    None => return,
                },
                frame = self.link.recv() => match frame {
                    Ok(bytes) => {
                        let incoming = self.tracker.on_frame(&bytes);
                        self.on_incoming(incoming).await;
                    }
                    Err(error) => {
                        self.go_offline(&error).await;
                        return;
                    }
                },
                _ = sleep_until(wake) => {
                    if let Err(error) = self.on_tick().await {
                        self.go_offline(&error).await;
                        return;
                    }
                }
            }
        }
    }

    fn next_wake(&self) -> Instant {
        let mut wake = self.last_sent + self.config.heartbeat_interval;
        if let Some(deadline) = self.tracker.next_deadline() {
            wake = wake.min(self.origin + deadline);
        }
        if let Some(awaiting) = &self.awaiting {
            wake = wake.min(awaiting.deadline);
        }
        if let Some(awaiting) = &self.awaiting_move {
            wake = wake.min(awaiting.deadline);
        }
        if let Some(deadline) = self.leases.next_deadline() {
            wake = wake.min(deadline);
        }
        wake
    }

    async fn on_tick(&mut self) -> Result<(), LinkError> {
        for tag in self.tracker.expire(self.now()) {
            self.on_expired(tag).await;
        }
        let now = Instant::now();
        if self.awaiting.as_ref().is_some_and(|a| a.deadline <= now) {
            let awaiting = self.awaiting.take().expect("checked above");
            let _ = awaiting.reply.send(Err(error(
                ErrorKind::PenTimeout,
                format!(
                    "pen {} started the move to {} but did not report it reached in time",
                    self.serial(),
                    awaiting.approved.depth()
                ),
            )));
        }
        if self
            .awaiting_move
            .as_ref()
            .is_some_and(|m| m.deadline <= now)
        {
            let awaiting = self.awaiting_move.take().expect("checked above");
            let _ = awaiting.reply.send(Err(error(
                ErrorKind::PenTimeout,
                format!("pen {} did not reach its position in time", self.serial()),
            )));
        }
        let (lapsed, gave_up) = self.leases.expire(now);
        for waiter in gave_up {
            let _ = waiter.reply.send(Err(self.in_use_error()));
        }
        if let Some(lease) = lapsed {
            let reason = format!(
                "heartbeat lost: nothing from {} for {} ms",
                lease.holder,
                self.leases.lease_for().as_millis()
            );
            self.end_session(lease, &reason, None).await;
        }
        if self.last_sent + self.config.heartbeat_interval <= Instant::now() {
            self.start(HostRequest::Heartbeat, Pending::Heartbeat)
                .await?;
        }
        Ok(())
    }

    /// Starts a request the main loop will see answered. A full tracker drops heartbeats,
    /// refreshes and retracts (they will be retried or are not owed to anyone) and answers
    /// client requests with `Busy`.
    async fn start(&mut self, request: HostRequest, tag: Pending) -> Result<(), LinkError> {
        let timeout = self.config.request_timeout;
        match self.tracker.start(request, self.now(), timeout, tag) {
            Ok((_, bytes)) => self.send(&bytes).await,
            Err(TooManyInFlight(tag)) => {
                let busy = error(
                    ErrorKind::Busy,
                    format!(
                        "pen {} has too many requests under way; try again",
                        self.serial()
                    ),
                );
                if !tag.fail(busy) {
                    debug!(pen = %self.serial(), "too many requests in flight; skipped one");
                }
                Ok(())
            }
        }
    }

    /// Starts a client's request; a link failure is answered to the client and surfaces in
    /// the main loop's next receive.
    async fn start_for_client(&mut self, request: HostRequest, tag: Pending) {
        if let Err(e) = self.start(request, tag).await {
            warn!(pen = %self.serial(), error = %e, "could not send a request to the pen");
        }
    }

    async fn on_command(&mut self, command: PenCommand) {
        match command {
            PenCommand::OpenSession {
                connection,
                holder,
                wait,
                reply,
            } => self.open_session(connection, holder, wait, reply).await,
            PenCommand::CloseSession { connection, reply } => {
                if !self.leases.holds_for(connection, LeaseKind::Treatment) {
                    let _ = reply.send(Err(self.no_session_error(connection)));
                    return;
                }
                match self.leases.release(connection) {
                    // Answered once the pen is parked.
                    Some(lease) => {
                        self.end_session(lease, "closed by the client", Some(reply))
                            .await
                    }
                    None => drop(reply.send(Err(self.no_session_error(connection)))),
                }
            }
            PenCommand::Renew { connection } => {
                self.leases.renew(connection, Instant::now());
            }
            PenCommand::Release { connection } => {
                if let Some(lease) = self.leases.release(connection) {
                    self.end_session(lease, "client disconnected", None).await;
                }
            }
            PenCommand::SetDepth {
                connection,
                depth_um,
                wait,
                reply,
            } => match self.check_session(connection) {
                Ok(()) => self.set_depth(depth_um, wait, reply).await,
                Err(e) => drop(reply.send(Err(e))),
            },
            PenCommand::Needling {
                connection,
                strokes_per_s,
                reply,
            } => match self.check_session(connection) {
                Ok(()) => self.needling(strokes_per_s, reply).await,
                Err(e) => drop(reply.send(Err(e))),
            },
            PenCommand::Identify { reply } => {
                let duration_ms = self.config.identify_for.as_millis().min(u16::MAX.into()) as u16;
                self.start_for_client(
                    HostRequest::Identify { duration_ms },
                    Pending::Identify { reply },
                )
                .await;
            }
            PenCommand::BeginCalibration {
                connection,
                holder,
                reply,
            } => {
                let _ = reply.send(self.begin_calibration(connection, holder));
            }
            PenCommand::FlashLimits {
                bundle,
                dry_run,
                keys,
                reply,
            } => self.flash_limits(bundle, dry_run, keys, reply).await,
            PenCommand::CalibrationHome { connection, reply } => {
                match self.check_calibration(connection) {
                    Ok(()) => {
                        let tag = Pending::CalibrationMove { reply };
                        self.start_for_client(HostRequest::Home, tag).await;
                    }
                    Err(e) => drop(reply.send(Err(e))),
                }
            }
            PenCommand::CalibrationMove {
                connection,
                target,
                approach,
                reply,
            } => {
                let checked = self
                    .check_calibration(connection)
                    .and_then(|()| self.check_under_ceiling(target));
                match checked {
                    Ok(()) => {
                        let request = HostRequest::MoveTo { target, approach };
                        let tag = Pending::CalibrationMove { reply };
                        self.start_for_client(request, tag).await;
                    }
                    Err(e) => drop(reply.send(Err(e))),
                }
            }
            PenCommand::CalibrationWrite {
                connection,
                table,
                reply,
            } => match self.check_calibration(connection) {
                Ok(()) => self.stage(table, reply).await,
                Err(e) => drop(reply.send(Err(e))),
            },
            PenCommand::CalibrationRestore { table, reply } => self.stage(table, reply).await,
            PenCommand::AbortCalibration { reply } => match self.leases.held().cloned() {
                Some(lease) if lease.kind == LeaseKind::Calibration => {
                    self.leases.revoke();
                    self.end_session(lease, "calibration aborted", Some(reply))
                        .await;
                }
                _ => drop(reply.send(Err(error(
                    ErrorKind::BadRequest,
                    format!("no calibration is running on pen {}", self.serial()),
                )))),
            },
            PenCommand::EndCalibration { connection, reply } => {
                if self.leases.holds_for(connection, LeaseKind::Calibration) {
                    if let Some(lease) = self.leases.release(connection) {
                        self.end_session(lease, "calibration over", Some(reply))
                            .await;
                    }
                } else if self.leases.held().is_none() {
                    // Aborted earlier: make sure the pen is parked before saying it is over.
                    let tag = Pending::Retract { done: Some(reply) };
                    self.start_for_client(HostRequest::Retract, tag).await;
                } else {
                    // Someone else took the free pen meanwhile; it is theirs now.
                    let position = self.report.borrow().position_counts.unwrap_or(0);
                    let _ = reply.send(Ok(RawCounts(position)));
                }
            }
            PenCommand::Shutdown { .. } => unreachable!("handled by the main loop"),
        }
    }

    async fn open_session(
        &mut self,
        connection: u64,
        holder: SessionHolder,
        wait: Duration,
        reply: Reply<SessionInfo>,
    ) {
        if let Err(not_ready) = self.check_ready() {
            let _ = reply.send(Err(not_ready));
            return;
        }
        let now = Instant::now();
        match self.leases.open(connection, holder, now, now + wait, reply) {
            Opened::Granted(reply) => self.granted(reply),
            Opened::Queued => {}
            Opened::InUse(reply, _) => drop(reply.send(Err(self.in_use_error()))),
        }
    }

    /// Answers a client that was given the session, and tells everyone.
    fn granted(&mut self, reply: Reply<SessionInfo>) {
        let Some(lease) = self.leases.held().cloned() else {
            return;
        };
        let info = SessionInfo {
            serial: self.serial(),
            lease_ms: self.leases.lease_for().as_millis() as u32,
        };
        if reply.send(Ok(info)).is_err() {
            // The client stopped waiting just now; nobody holds the session after all.
            self.leases.revoke();
            return;
        }
        info!(pen = %self.serial(), holder = %lease.holder, "session opened");
        self.report
            .send_modify(|r| r.session = Some(lease.holder.clone()));
        self.emit(Event::SessionOpened {
            serial: self.serial(),
            client_name: lease.holder.client_name,
        });
    }

    /// The pen's readiness problems as an error, if it has any.
    fn check_ready(&self) -> Result<(), ApiError> {
        let state = self.state();
        let summary = self.report.borrow().calibration.clone();
        let clock = self.config.calibration_clock();
        let (calibrating, limits_verified) = {
            let report = self.report.borrow();
            (report.calibrating, report.limits.is_some())
        };
        let problems = readiness::problems(
            &state,
            summary.as_ref(),
            calibrating,
            limits_verified,
            clock,
        );
        if problems.is_empty() {
            return Ok(());
        }
        let words: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
        Err(ApiError {
            kind: ErrorKind::PenNotReady,
            message: format!("pen {} is not ready: {}", self.serial(), words.join("; ")),
            problems,
        })
    }

    fn in_use_error(&self) -> ApiError {
        match self.leases.held() {
            Some(lease) => error(
                ErrorKind::PenInUse,
                format!(
                    "pen {} is in use by {}; ask them to close their session, or wait in line",
                    self.serial(),
                    lease.holder
                ),
            ),
            None => error(
                ErrorKind::PenInUse,
                format!("pen {} was not free in time", self.serial()),
            ),
        }
    }

    fn no_session_error(&self, connection: u64) -> ApiError {
        match self.leases.held() {
            Some(lease) if lease.connection != connection => self.in_use_error(),
            _ => error(
                ErrorKind::NoSession,
                format!(
                    "this needs a treatment session on pen {}; open one first",
                    self.serial()
                ),
            ),
        }
    }

    /// Takes the pen for a calibration: it must be connected and free; an old or missing
    /// date is no obstacle (that is what calibration fixes), but a table to move by is.
    fn begin_calibration(
        &mut self,
        connection: u64,
        holder: SessionHolder,
    ) -> Result<(CalibrationTable, Limits), ApiError> {
        let state = self.state();
        if state != PenState::Ready {
            return Err(error(
                ErrorKind::PenUnavailable,
                format!("pen {} cannot be calibrated now: {state}", self.serial()),
            ));
        }
        if self.report.borrow().limits.is_none() {
            return Err(error(
                ErrorKind::PenNotReady,
                format!(
                    "pen {}'s limits could not be verified here; have field service reflash them before calibrating",
                    self.serial()
                ),
            ));
        }
        let Some(table) = self.calibration.clone().filter(|t| t.validate().is_ok()) else {
            return Err(error(
                ErrorKind::NotCalibrated,
                format!(
                    "pen {} holds no valid table to move by; it needs a factory calibration first",
                    self.serial()
                ),
            ));
        };
        self.leases
            .take_for_calibration(connection, holder, Instant::now())
            .map_err(|held| {
                error(
                    ErrorKind::PenInUse,
                    format!(
                        "pen {} is in a treatment session held by {held}; calibration needs the pen free",
                        self.serial()
                    ),
                )
            })?;
        info!(pen = %self.serial(), "calibration started");
        self.report.send_modify(|r| r.calibrating = true);
        Ok((table, self.limits))
    }

    /// Takes the pen's stored bundle as its limits if it verifies with the keys trusted
    /// here; otherwise the pen's limits are unverified and it is not used.
    fn adopt_limits(&mut self, bundle: Option<&[u8]>) {
        let Some(bytes) = bundle else {
            self.limits = Limits::DEFAULT;
            self.limits_body = None;
            self.report
                .send_modify(|r| r.limits = Some(limits_report::summary(None)));
            return;
        };
        let verified = load_trusted_keys(&self.config.trusted_keys)
            .map_err(|e| e.to_string())
            .and_then(|keys| {
                verify_bundle(bytes, &keys, self.link.serial(), None).map_err(|e| e.to_string())
            });
        match verified {
            Ok(body) => {
                self.limits = body.limits;
                self.report
                    .send_modify(|r| r.limits = Some(limits_report::summary(Some(&body))));
                self.limits_body = Some(body);
            }
            Err(why) => {
                warn!(pen = %self.serial(), %why, "the pen's limits do not verify here");
                // Nothing moves until they do: readiness shows the problem.
                self.limits = Limits {
                    max_depth_um: 0,
                    ..Limits::DEFAULT
                };
                self.limits_body = None;
                self.report.send_modify(|r| r.limits = None);
            }
        }
    }

    /// Checks a bundle and, unless only asked to check, stages it on the pen.
    async fn flash_limits(
        &mut self,
        bundle: Vec<u8>,
        dry_run: bool,
        keys: Vec<TrustedKey>,
        reply: Reply<LimitsFlashReport>,
    ) {
        let serial = self.serial();
        let counter = self.limits_body.as_ref().map_or(0, |b| b.counter);
        let verified = verify_bundle(&bundle, &keys, &serial, Some(counter));
        let report = LimitsFlashReport {
            serial: serial.clone(),
            checks: limits_report::checks(&verified),
            changes: verified
                .as_ref()
                .map(|body| limits_report::changes(&self.limits, counter, body))
                .unwrap_or_default(),
            flashed: false,
        };
        if dry_run {
            let _ = reply.send(Ok(report));
            return;
        }
        let body = match verified {
            Ok(body) => body,
            Err(why) => {
                warn!(pen = %serial, %why, "limits bundle refused");
                let _ = reply.send(Err(error(
                    ErrorKind::LimitsRefused,
                    format!("refused: {why}; nothing was written"),
                )));
                return;
            }
        };
        if let Some(lease) = self.leases.held() {
            let _ = reply.send(Err(error(
                ErrorKind::PenInUse,
                format!(
                    "pen {serial} is held by {}; limits are flashed with the pen free",
                    lease.holder
                ),
            )));
            return;
        }
        let staged = heapless::Vec::from_slice(&bundle).expect("verified bundles fit");
        let pending = Pending::StageLimits {
            bundle,
            body,
            report,
            reply,
        };
        self.start_for_client(HostRequest::StageLimits { bundle: staged }, pending)
            .await;
    }

    /// Checks `connection` holds the pen for a calibration.
    fn check_calibration(&self, connection: u64) -> Result<(), ApiError> {
        if self.leases.holds_for(connection, LeaseKind::Calibration) {
            Ok(())
        } else {
            Err(error(
                ErrorKind::NoSession,
                format!(
                    "the calibration of pen {} was stopped (its client went away or it was aborted)",
                    self.serial()
                ),
            ))
        }
    }

    /// A second look at a calibration move: through the pen's own table, the target must
    /// lie at or under the usable ceiling.
    fn check_under_ceiling(&self, target: RawCounts) -> Result<(), ApiError> {
        let table = self.calibration.as_ref();
        let depth = table.and_then(|t| t.depth_at_raw(target));
        let usable = table.map(|t| i32::from(t.usable_ceiling_um())).unwrap_or(0);
        match depth {
            Some(depth) if depth <= usable => Ok(()),
            _ => Err(error(
                ErrorKind::OverCeiling,
                format!(
                    "refused: a calibration move to {target} is not under pen {}'s usable ceiling of {usable} um",
                    self.serial()
                ),
            )),
        }
    }

    /// Stages `table` on the pen; the reply path checks the checksum and commits.
    async fn stage(&mut self, table: CalibrationTable, reply: Reply<()>) {
        let request = HostRequest::StageCalibration {
            table: table.clone(),
        };
        self.start_for_client(request, Pending::Stage { table, reply })
            .await;
    }

    /// Waits for the move `seq` started to be reached, then answers `reply`.
    fn await_move(&mut self, seq: u32, eta_ms: u32, reply: Reply<RawCounts>) {
        if let Some(previous) = self.awaiting_move.take() {
            let _ = previous.reply.send(Err(error(
                ErrorKind::Superseded,
                "another move started before this one was reached",
            )));
        }
        self.awaiting_move = Some(AwaitingMove {
            move_seq: seq,
            deadline: Instant::now()
                + Duration::from_millis(eta_ms.into())
                + self.config.move_slack,
            reply,
        });
    }

    /// Checks `connection` holds the session, and renews it.
    fn check_session(&mut self, connection: u64) -> Result<(), ApiError> {
        if self.leases.renew(connection, Instant::now()) {
            Ok(())
        } else {
            Err(self.no_session_error(connection))
        }
    }

    /// Ends `lease` without moving the pen: report, event, waiting setpoint.
    fn close_lease(&mut self, lease: Lease, reason: &str) {
        info!(pen = %self.serial(), holder = %lease.holder, reason, "session closed");
        self.fail_awaiting(
            ErrorKind::NoSession,
            &format!("the session ended: {reason}"),
        );
        if let Some(awaiting) = self.awaiting_move.take() {
            let _ = awaiting.reply.send(Err(error(
                ErrorKind::NoSession,
                format!("the session ended: {reason}"),
            )));
        }
        let was_needling = self.report.borrow().needling.is_some();
        self.report.send_modify(|r| {
            r.session = None;
            r.setpoint = None;
            r.needling = None;
            r.calibrating = false;
        });
        if was_needling {
            self.emit(Event::NeedlingStopped {
                serial: self.serial(),
            });
        }
        if lease.kind == LeaseKind::Treatment {
            self.emit(Event::SessionClosed {
                serial: self.serial(),
                reason: reason.to_string(),
            });
        }
    }

    /// Ends `lease`: stop, retract, and hand the pen to whoever waits next. `done`, if
    /// given, is answered once the pen reports itself parked.
    async fn end_session(&mut self, lease: Lease, reason: &str, done: Option<Reply<RawCounts>>) {
        self.close_lease(lease, reason);
        self.moving = None;
        self.start_for_client(HostRequest::Retract, Pending::Retract { done })
            .await;
        self.grant_waiting();
    }

    /// Gives a free session to the next client in line, if the pen can be used.
    fn grant_waiting(&mut self) {
        if let Err(not_ready) = self.check_ready() {
            for waiter in self.leases.drain_waiters() {
                let _ = waiter.reply.send(Err(not_ready.clone()));
            }
            return;
        }
        while let Some(reply) = self.leases.grant_next(Instant::now()) {
            self.granted(reply);
            if self.leases.held().is_some() {
                return;
            }
        }
    }

    /// The pen can no longer be used: end any session and send the line away.
    async fn pen_unusable(&mut self, reason: &str) {
        if let Some(lease) = self.leases.revoke() {
            self.end_session(lease, reason, None).await;
        } else {
            self.grant_waiting();
        }
    }

    async fn set_depth(&mut self, depth_um: u32, wait: bool, reply: Reply<DepthSetReport>) {
        let serial = self.serial();
        let state = self.state();
        if state != PenState::Ready {
            let _ = reply.send(Err(error(
                ErrorKind::PenUnavailable,
                format!("pen {serial} cannot take a depth now: {state}"),
            )));
            return;
        }
        let clock = self.config.calibration_clock();
        let approved =
            match approve_setpoint(depth_um, self.calibration.as_ref(), clock, &self.limits) {
                Ok(approved) => approved,
                Err(refusal) => {
                    warn!(pen = %serial, depth_um, %refusal, "setpoint refused");
                    let _ = reply.send(Err(ApiError::from(&refusal)));
                    return;
                }
            };
        let request = HostRequest::MoveTo {
            target: approved.target(),
            approach: Approach::FromBelow,
        };
        let pending = Pending::Move {
            approved,
            wait,
            reply,
        };
        self.start_for_client(request, pending).await;
    }

    async fn needling(&mut self, strokes_per_s: Option<u16>, reply: Reply<()>) {
        let state = self.state();
        if state != PenState::Ready {
            let _ = reply.send(Err(error(
                ErrorKind::PenUnavailable,
                format!("pen {} cannot needle now: {state}", self.serial()),
            )));
            return;
        }
        let (request, rate) = match strokes_per_s {
            None => (HostRequest::StopNeedling, None),
            Some(per_s)
                if !(self.limits.stroke_rate_min..=self.limits.stroke_rate_max)
                    .contains(&per_s) =>
            {
                let _ = reply.send(Err(error(
                    ErrorKind::OutsideLimits,
                    format!(
                        "refused: {per_s} strokes/s is outside this pen's limits of {}-{}/s",
                        self.limits.stroke_rate_min, self.limits.stroke_rate_max
                    ),
                )));
                return;
            }
            Some(per_s) => match StrokeRate::new(per_s.into()) {
                Ok(rate) => (HostRequest::StartNeedling { rate }, Some(rate)),
                Err(out_of_range) => {
                    let _ = reply.send(Err(error(ErrorKind::BadRequest, out_of_range.to_string())));
                    return;
                }
            },
        };
        self.start_for_client(request, Pending::Needling { rate, reply })
            .await;
    }

    async fn on_incoming(&mut self, incoming: Incoming<Pending>) {
        match incoming {
            Incoming::Reply { seq, tag, result } => {
                self.unanswered = 0;
                if self.state() == PenState::NotAnswering {
                    info!(pen = %self.serial(), "pen answers again");
                    self.set_state(PenState::Ready);
                    self.emit(Event::PenConnected {
                        serial: self.serial(),
                    });
                }
                self.on_reply(seq, tag, result).await;
            }
            Incoming::Event(event) => self.on_event(event).await,
            Incoming::Stale { seq } => {
                debug!(pen = %self.serial(), seq, "discarded a late reply");
            }
            Incoming::Garbage(error) => {
                warn!(pen = %self.serial(), %error, "discarded a frame from the pen");
            }
        }
    }

    async fn on_reply(&mut self, seq: u32, tag: Pending, result: Result<PenReply, PenError>) {
        let serial = self.serial();
        match (tag, result) {
            (Pending::Heartbeat | Pending::InLine | Pending::Retract { done: None }, _) => {}
            (
                Pending::Retract { done: Some(reply) } | Pending::CalibrationMove { reply },
                Ok(PenReply::MoveStarted { eta_ms }),
            ) => self.await_move(seq, eta_ms, reply),
            (
                Pending::Retract { done: Some(reply) } | Pending::CalibrationMove { reply },
                other,
            ) => {
                let _ = reply.send(Err(error(
                    ErrorKind::PenRefused,
                    format!("pen {serial} did not move: {other:?}"),
                )));
            }
            (Pending::Stage { table, reply }, Ok(PenReply::Staged { checksum })) => {
                let ours = table_checksum(&table);
                if checksum == ours {
                    let request = HostRequest::CommitCalibration { checksum };
                    self.start_for_client(request, Pending::Commit { table, reply })
                        .await;
                } else {
                    let _ = reply.send(Err(error(
                        ErrorKind::PenRefused,
                        format!(
                            "pen {serial} holds a different table than was sent (checksum {checksum:08x}, expected {ours:08x}); nothing was committed"
                        ),
                    )));
                }
            }
            (Pending::Commit { table, reply }, Ok(_)) => {
                info!(pen = %serial, table = table.id, "calibration table committed");
                self.set_calibration(Some(table));
                let _ = reply.send(Ok(()));
            }
            (
                Pending::StageLimits {
                    bundle,
                    body,
                    report,
                    reply,
                },
                Ok(PenReply::Staged { checksum }),
            ) => {
                if checksum == crc32(&bundle) {
                    let request = HostRequest::CommitLimits { checksum };
                    let pending = Pending::CommitLimits {
                        body,
                        report,
                        reply,
                    };
                    self.start_for_client(request, pending).await;
                } else {
                    let _ = reply.send(Err(error(
                        ErrorKind::PenRefused,
                        format!("pen {serial} holds a different bundle than was sent; nothing was committed"),
                    )));
                }
            }
            (
                Pending::CommitLimits {
                    body,
                    mut report,
                    reply,
                },
                Ok(_),
            ) => {
                info!(pen = %serial, counter = body.counter, max_depth_um = body.limits.max_depth_um, "limits flashed");
                self.limits = body.limits;
                self.report
                    .send_modify(|r| r.limits = Some(limits_report::summary(Some(&body))));
                self.limits_body = Some(body);
                report.flashed = true;
                let _ = reply.send(Ok(report));
            }
            (Pending::StageLimits { reply, .. } | Pending::CommitLimits { reply, .. }, other) => {
                let why = match other {
                    Err(PenError::LimitsRefused { reason }) => {
                        format!("the pen itself refused the bundle: {reason}")
                    }
                    other => format!("pen {serial} did not take the bundle: {other:?}"),
                };
                let _ = reply.send(Err(error(
                    ErrorKind::LimitsRefused,
                    format!("{why}; its limits are unchanged"),
                )));
            }
            (Pending::Stage { reply, .. } | Pending::Commit { reply, .. }, other) => {
                let _ = reply.send(Err(error(
                    ErrorKind::PenRefused,
                    format!(
                        "pen {serial} did not take the table: {other:?}; its previous table stays"
                    ),
                )));
            }
            (Pending::Refresh, Ok(PenReply::Status(status))) => {
                self.record_position(status.position);
                if let Some(code) = status.fault {
                    self.set_state(PenState::Faulted {
                        reason: format!("pen latched a fault: {code}"),
                    });
                }
            }
            (Pending::Refresh, _) => {}
            (
                Pending::Move {
                    approved,
                    wait,
                    reply,
                },
                result,
            ) => self.on_move_reply(seq, approved, wait, reply, result),
            (Pending::Needling { rate, reply }, Ok(_)) => {
                self.report
                    .send_modify(|r| r.needling = rate.map(StrokeRate::per_second));
                self.emit(match rate {
                    Some(rate) => Event::NeedlingStarted {
                        serial,
                        strokes_per_s: rate.per_second(),
                    },
                    None => Event::NeedlingStopped { serial },
                });
                let _ = reply.send(Ok(()));
            }
            (Pending::Identify { reply }, Ok(_)) => drop(reply.send(Ok(()))),
            (Pending::Needling { reply, .. } | Pending::Identify { reply }, Err(e)) => {
                let _ = reply.send(Err(error(
                    ErrorKind::PenRefused,
                    format!("pen {serial} refused: {e}"),
                )));
            }
        }
    }

    fn on_move_reply(
        &mut self,
        seq: u32,
        approved: ApprovedSetpoint,
        wait: bool,
        reply: Reply<DepthSetReport>,
        result: Result<PenReply, PenError>,
    ) {
        let serial = self.serial();
        match result {
            Ok(PenReply::MoveStarted { eta_ms }) => {
                info!(pen = %serial, depth_um = approved.depth().um(), target = approved.target().0, "setpoint accepted");
                self.report
                    .send_modify(|r| r.setpoint = Some(approved.depth()));
                self.moving = Some((seq, approved.depth()));
                if let Some(previous) = self.awaiting.take() {
                    let _ = previous.reply.send(Err(error(
                        ErrorKind::Superseded,
                        format!(
                            "the move to {} was replaced by a later setpoint before it was reached",
                            previous.approved.depth()
                        ),
                    )));
                }
                if wait {
                    self.awaiting = Some(AwaitingReached {
                        move_seq: seq,
                        deadline: Instant::now()
                            + Duration::from_millis(eta_ms.into())
                            + self.config.move_slack,
                        approved,
                        reply,
                    });
                } else {
                    let _ = reply.send(Ok(depth_report(&serial, approved, false)));
                }
            }
            Ok(other) => {
                let _ = reply.send(Err(error(
                    ErrorKind::Internal,
                    format!("pen {serial} answered a move with {other:?}"),
                )));
            }
            Err(pen_error) => {
                let kind = match pen_error {
                    PenError::BeyondFirmwareLimit { .. } => ErrorKind::FirmwareLimit,
                    _ => ErrorKind::PenRefused,
                };
                warn!(pen = %serial, error = %pen_error, "pen refused a setpoint");
                let _ = reply.send(Err(error(
                    kind,
                    format!("pen {serial} refused {}: {pen_error}", approved.depth()),
                )));
            }
        }
    }

    async fn on_event(&mut self, event: PenEvent) {
        let serial = self.serial();
        match event {
            PenEvent::PositionReached { move_seq, position } => {
                self.record_position(position);
                if let Some((seq, depth)) = self.moving {
                    if seq == move_seq {
                        self.moving = None;
                        self.emit(Event::DepthReached {
                            serial: serial.clone(),
                            depth,
                        });
                    }
                }
                if self
                    .awaiting_move
                    .as_ref()
                    .is_some_and(|m| m.move_seq == move_seq)
                {
                    let awaiting = self.awaiting_move.take().expect("checked above");
                    let _ = awaiting.reply.send(Ok(position));
                }
                if self
                    .awaiting
                    .as_ref()
                    .is_some_and(|a| a.move_seq == move_seq)
                {
                    let awaiting = self.awaiting.take().expect("checked above");
                    let _ = awaiting
                        .reply
                        .send(Ok(depth_report(&serial, awaiting.approved, true)));
                }
            }
            PenEvent::Fault { code } => {
                warn!(pen = %serial, %code, "pen latched a fault and retracted");
                let reason = format!("pen latched a fault: {code}");
                self.set_state(PenState::Faulted {
                    reason: reason.clone(),
                });
                self.emit(Event::Fault {
                    serial,
                    reason: reason.clone(),
                });
                self.pen_unusable(&reason).await;
                self.start_for_client(HostRequest::Status, Pending::Refresh)
                    .await;
            }
            PenEvent::WatchdogRetracted => {
                warn!(pen = %serial, "pen's watchdog expired: it stopped and retracted");
                let reason = "the pen's watchdog retracted it (it heard nothing from pend in time)";
                self.emit(Event::Fault {
                    serial,
                    reason: reason.to_string(),
                });
                if let Some(lease) = self.leases.revoke() {
                    self.end_session(lease, reason, None).await;
                }
                self.start_for_client(HostRequest::Status, Pending::Refresh)
                    .await;
            }
        }
    }

    fn fail_awaiting(&mut self, kind: ErrorKind, why: &str) {
        if let Some(awaiting) = self.awaiting.take() {
            let _ = awaiting.reply.send(Err(error(kind, why)));
        }
    }

    async fn on_expired(&mut self, tag: Pending) {
        self.unanswered += 1;
        let timeout = error(
            ErrorKind::PenTimeout,
            format!("pen {} did not answer in time", self.serial()),
        );
        tag.fail(timeout);
        if self.unanswered == self.config.unanswered_limit && self.state() == PenState::Ready {
            warn!(pen = %self.serial(), unanswered = self.unanswered, "pen stopped answering");
            self.set_state(PenState::NotAnswering);
            self.emit(Event::Fault {
                serial: self.serial(),
                reason: "the pen stopped answering".into(),
            });
            Box::pin(self.pen_unusable("the pen stopped answering")).await;
        }
    }

    fn record_position(&self, position: RawCounts) {
        let depth = self
            .calibration
            .as_ref()
            .and_then(|t| t.depth_at_raw(position));
        self.report.send_modify(|r| {
            r.position_counts = Some(position.0);
            r.depth_um = depth;
        });
    }

    async fn go_offline(&mut self, link_error: &LinkError) {
        warn!(pen = %self.serial(), error = %link_error, "pen went offline");
        let message = format!("pen {} disconnected", self.serial());
        for tag in self.tracker.fail_all() {
            tag.fail(error(ErrorKind::PenDisconnected, &message));
        }
        self.fail_awaiting(ErrorKind::PenDisconnected, &message);
        if let Some(awaiting) = self.awaiting_move.take() {
            let _ = awaiting
                .reply
                .send(Err(error(ErrorKind::PenDisconnected, &message)));
        }
        self.set_state(PenState::Offline);
        if let Some(lease) = self.leases.revoke() {
            self.close_lease(lease, "the pen disconnected");
        }
        for waiter in self.leases.drain_waiters() {
            let _ = waiter
                .reply
                .send(Err(error(ErrorKind::PenDisconnected, &message)));
        }
        self.emit(Event::PenDisconnected {
            serial: self.serial(),
        });
    }

    /// Stops needling and parks the pen before the session task ends.
    async fn shut_down(&mut self) {
        if let Some(lease) = self.leases.revoke() {
            self.close_lease(lease, "pend is shutting down");
        }
        for waiter in self.leases.drain_waiters() {
            let _ = waiter
                .reply
                .send(Err(error(ErrorKind::ShuttingDown, "pend is shutting down")));
        }
        self.fail_awaiting(ErrorKind::ShuttingDown, "pend is shutting down");
        let timeout = self.config.request_timeout;
        let result = match self.call(HostRequest::Retract, timeout).await {
            Ok((seq, PenReply::MoveStarted { eta_ms })) => {
                let deadline =
                    Instant::now() + Duration::from_millis(eta_ms.into()) + self.config.move_slack;
                self.wait_reached(seq, deadline).await
            }
            Ok((_, other)) => {
                warn!(pen = %self.serial(), ?other, "unexpected answer to retract");
                Ok(())
            }
            Err(error) => Err(error),
        };
        let parked = match result {
            Ok(()) => {
                info!(pen = %self.serial(), "pen retracted");
                Ok(())
            }
            Err(why) => {
                warn!(pen = %self.serial(), error = %why, "could not confirm the pen retracted");
                Err(error(
                    ErrorKind::ShuttingDown,
                    format!("pend is shutting down and could not confirm the retract: {why}"),
                ))
            }
        };
        for tag in self.tracker.fail_all() {
            tag.fail(error(ErrorKind::ShuttingDown, "pend is shutting down"));
        }
        if let Some(awaiting) = self.awaiting_move.take() {
            // The in-line retract above parked the pen (or reported why not).
            let position = RawCounts(self.report.borrow().position_counts.unwrap_or(0));
            let _ = awaiting.reply.send(parked.map(|()| position));
        }
        self.set_state(PenState::Offline);
    }

    /// A pen that cannot be used: answer commands with why, until it goes away.
    async fn refuse_until_gone(&mut self, commands: &mut mpsc::Receiver<PenCommand>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(PenCommand::Shutdown { done }) => {
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.refuse(command),
                    None => return,
                },
                frame = self.link.recv() => {
                    if frame.is_err() {
                        self.set_state(PenState::Offline);
                        return;
                    }
                }
            }
        }
    }

    fn refuse(&self, command: PenCommand) {
        let not_ready = self
            .check_ready()
            .err()
            .unwrap_or_else(|| error(ErrorKind::PenUnavailable, "the pen cannot be used"));
        refuse_with(command, not_ready);
    }
}

/// Answers `command` with `refusal` (commands that expect no answer are dropped).
fn refuse_with(command: PenCommand, refusal: ApiError) {
    match command {
        PenCommand::OpenSession { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::SetDepth { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::CloseSession { reply, .. }
        | PenCommand::AbortCalibration { reply }
        | PenCommand::EndCalibration { reply, .. }
        | PenCommand::CalibrationHome { reply, .. }
        | PenCommand::CalibrationMove { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::Needling { reply, .. }
        | PenCommand::Identify { reply }
        | PenCommand::CalibrationWrite { reply, .. }
        | PenCommand::CalibrationRestore { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::BeginCalibration { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::FlashLimits { reply, .. } => drop(reply.send(Err(refusal))),
        PenCommand::Shutdown { done } => drop(done.send(())),
        PenCommand::Renew { .. } | PenCommand::Release { .. } => {}
    }
}

/// When a session ends, commands still queued are answered, not dropped: a client whose
/// command was queued as the pen went away hears why.
fn answer_queued(commands: &mut mpsc::Receiver<PenCommand>, serial: &str, state: &PenState) {
    commands.close();
    while let Ok(command) = commands.try_recv() {
        let refusal = match state {
            PenState::Offline => error(
                ErrorKind::PenDisconnected,
                format!("pen {serial} disconnected"),
            ),
            other => error(
                ErrorKind::PenUnavailable,
                format!("pen {serial} is {other}"),
            ),
        };
        refuse_with(command, refusal);
    }
}

fn depth_report(serial: &str, approved: ApprovedSetpoint, reached: bool) -> DepthSetReport {
    DepthSetReport {
        serial: serial.to_string(),
        depth: approved.depth(),
        target_counts: approved.target().0,
        reached,
    }
}

fn handshake_failed(error: CallError) -> PenState {
    match error {
        CallError::Link(LinkError::Disconnected) => PenState::Offline,
        other => PenState::Faulted {
            reason: format!("handshake failed: {other}"),
        },
    }
}

fn unexpected(reply: &PenReply) -> PenState {
    PenState::Incompatible {
        reason: format!("unexpected answer during handshake: {reply:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_queued_as_the_pen_goes_away_are_told_it_disconnected() {
        let (sender, mut commands) = mpsc::channel(4);
        let (reply, mut answer) = oneshot::channel();
        sender
            .try_send(PenCommand::SetDepth {
                connection: 1,
                depth_um: 300,
                wait: true,
                reply,
            })
            .unwrap();
        answer_queued(&mut commands, "PEN-A", &PenState::Offline);
        let refusal = answer.try_recv().unwrap().unwrap_err();
        assert_eq!(refusal.kind, ErrorKind::PenDisconnected);
        assert_eq!(refusal.message, "pen PEN-A disconnected");
        // Nothing more can queue behind it.
        let (reply, _answer) = oneshot::channel();
        assert!(sender.try_send(PenCommand::Identify { reply }).is_err());
    }
}
