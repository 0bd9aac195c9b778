//! One task per pen: handshake, heartbeats, setpoints, and the pen's published report.
//!
//! The task owns the pen's link. It takes commands from clients through a bounded queue,
//! puts every setpoint through the ceiling policy, matches replies by sequence number (via
//! [`RequestTracker`]), times out every request, and publishes what it knows about the pen as
//! a [`PenReport`] that readers take without disturbing the pen.

use std::time::Duration;

use pen_protocol::api::{
    ApiError, CalibrationSummary, DepthSetReport, ErrorKind, PenReport, PenState,
};
use pen_protocol::pen::{
    Approach, HostRequest, PenError, PenEvent, PenIdentity, PenReply, PROTOCOL_VERSION,
    SCHEMA_FINGERPRINT,
};
use pen_protocol::{CalibrationTable, RawCounts};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, timeout_at, Instant};
use tracing::{debug, info, warn};

use crate::link::{LinkError, PenLink};
use crate::pen_conn::{Incoming, RequestTracker, TooManyInFlight};
use crate::policy::{approve_setpoint, ApprovedSetpoint};

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
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            request_timeout: Duration::from_millis(500),
            heartbeat_interval: Duration::from_millis(100),
            move_slack: Duration::from_millis(1000),
            unanswered_limit: 3,
        }
    }
}

/// Reply channel for a setpoint.
pub type DepthReply = oneshot::Sender<Result<DepthSetReport, ApiError>>;

/// What clients (through the server) ask of a pen's session.
#[derive(Debug)]
pub enum PenCommand {
    /// Set the depth, if the ceiling policy allows it.
    SetDepth {
        /// Requested depth, micrometres.
        depth_um: u32,
        /// Answer once the position is reached rather than once the move started.
        wait: bool,
        /// Where the answer goes.
        reply: DepthReply,
    },
    /// Stop needling, retract, and end the session.
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
    Move {
        approved: ApprovedSetpoint,
        wait: bool,
        reply: DepthReply,
    },
}

/// A setpoint whose move started and whose client waits for the position to be reached.
#[derive(Debug)]
struct AwaitingReached {
    move_seq: u32,
    deadline: Instant,
    approved: ApprovedSetpoint,
    reply: DepthReply,
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
    calibration: Option<CalibrationTable>,
    awaiting: Option<AwaitingReached>,
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
        position_counts: None,
        depth_um: None,
        setpoint: None,
        calibration: None,
        sim: None,
    }
}

/// Runs a pen's session until the pen goes away or a `Shutdown` command ends it.
pub async fn run_session<L: PenLink>(
    link: L,
    config: SessionConfig,
    mut commands: mpsc::Receiver<PenCommand>,
    report: watch::Sender<PenReport>,
) {
    let now = Instant::now();
    let mut session = Session {
        link,
        config,
        tracker: RequestTracker::new(),
        origin: now,
        report,
        calibration: None,
        awaiting: None,
        last_sent: now,
        unanswered: 0,
    };
    let serial = session.link.serial().to_string();
    match session.handshake().await {
        Ok(()) => {
            info!(pen = %serial, "pen ready");
            session.set_state(PenState::Ready);
            session.serve(&mut commands).await;
        }
        Err(state) => {
            warn!(pen = %serial, state = %state, "pen not usable");
            let offline = state == PenState::Offline;
            session.set_state(state);
            if !offline {
                session.refuse_until_gone(&mut commands).await;
            }
        }
    }
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
                usable_ceiling_um: t.usable_ceiling_um(),
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
                        self.on_expired(tag);
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
                    Some(PenCommand::SetDepth { depth_um, wait, reply }) => {
                        self.set_depth(depth_um, wait, reply).await;
                    }
                    None => return,
                },
                frame = self.link.recv() => match frame {
                    Ok(bytes) => {
                        let incoming = self.tracker.on_frame(&bytes);
                        self.on_incoming(incoming).await;
                    }
                    Err(error) => {
                        self.go_offline(&error);
                        return;
                    }
                },
                _ = sleep_until(wake) => {
                    if let Err(error) = self.on_tick().await {
                        self.go_offline(&error);
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
        wake
    }

    async fn on_tick(&mut self) -> Result<(), LinkError> {
        for tag in self.tracker.expire(self.now()) {
            self.on_expired(tag);
        }
        if self
            .awaiting
            .as_ref()
            .is_some_and(|a| a.deadline <= Instant::now())
        {
            let awaiting = self.awaiting.take().expect("checked above");
            let _ = awaiting.reply.send(Err(ApiError::new(
                ErrorKind::PenTimeout,
                format!(
                    "pen {} started the move to {} but did not report it reached in time",
                    self.serial(),
                    awaiting.approved.depth()
                ),
            )));
        }
        if self.last_sent + self.config.heartbeat_interval <= Instant::now() {
            self.start(HostRequest::Heartbeat, Pending::Heartbeat)
                .await?;
        }
        Ok(())
    }

    /// Starts a request the main loop will see answered. A full tracker drops heartbeats
    /// and refreshes (they will be retried); the caller handles a refused move.
    async fn start(&mut self, request: HostRequest, tag: Pending) -> Result<(), LinkError> {
        let timeout = self.config.request_timeout;
        match self.tracker.start(request, self.now(), timeout, tag) {
            Ok((_, bytes)) => self.send(&bytes).await,
            Err(_) => {
                debug!(pen = %self.serial(), "too many requests in flight; skipped one");
                Ok(())
            }
        }
    }

    async fn set_depth(&mut self, depth_um: u32, wait: bool, reply: DepthReply) {
        let serial = self.serial();
        let state = self.state();
        if state != PenState::Ready {
            let _ = reply.send(Err(ApiError::new(
                ErrorKind::PenUnavailable,
                format!("pen {serial} cannot take a depth now: {state}"),
            )));
            return;
        }
        let approved = match approve_setpoint(depth_um, self.calibration.as_ref()) {
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
        let timeout = self.config.request_timeout;
        match self.tracker.start(request, self.now(), timeout, pending) {
            Ok((_, bytes)) => {
                if let Err(error) = self.send(&bytes).await {
                    warn!(pen = %serial, %error, "could not send setpoint");
                }
            }
            Err(TooManyInFlight(pending)) => {
                if let Pending::Move { reply, .. } = pending {
                    let _ = reply.send(Err(ApiError::new(
                        ErrorKind::Busy,
                        format!("pen {serial} has too many requests under way; try again"),
                    )));
                }
            }
        }
    }

    async fn on_incoming(&mut self, incoming: Incoming<Pending>) {
        match incoming {
            Incoming::Reply { seq, tag, result } => {
                self.unanswered = 0;
                if matches!(self.state(), PenState::Faulted { .. }) && self.pen_fault_cleared() {
                    self.set_state(PenState::Ready);
                }
                self.on_reply(seq, tag, result);
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

    /// Whether the Faulted state came only from silence (cleared by any reply), rather than
    /// from a fault the pen latched.
    fn pen_fault_cleared(&self) -> bool {
        matches!(&self.report.borrow().state, PenState::Faulted { reason } if reason.starts_with(NOT_ANSWERING))
    }

    fn on_reply(&mut self, seq: u32, tag: Pending, result: Result<PenReply, PenError>) {
        match (tag, result) {
            (Pending::Heartbeat, _) | (Pending::InLine, _) => {}
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
        }
    }

    fn on_move_reply(
        &mut self,
        seq: u32,
        approved: ApprovedSetpoint,
        wait: bool,
        reply: DepthReply,
        result: Result<PenReply, PenError>,
    ) {
        let serial = self.serial();
        match result {
            Ok(PenReply::MoveStarted { eta_ms }) => {
                info!(pen = %serial, depth_um = approved.depth().um(), target = approved.target().0, "setpoint accepted");
                self.report
                    .send_modify(|r| r.setpoint = Some(approved.depth()));
                if let Some(previous) = self.awaiting.take() {
                    let _ = previous.reply.send(Err(ApiError::new(
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
                let _ = reply.send(Err(ApiError::new(
                    ErrorKind::Internal,
                    format!("pen {serial} answered a move with {other:?}"),
                )));
            }
            Err(error) => {
                let kind = match error {
                    PenError::BeyondFirmwareLimit { .. } => ErrorKind::FirmwareLimit,
                    _ => ErrorKind::PenRefused,
                };
                warn!(pen = %serial, %error, "pen refused a setpoint");
                let _ = reply.send(Err(ApiError::new(
                    kind,
                    format!("pen {serial} refused {}: {error}", approved.depth()),
                )));
            }
        }
    }

    async fn on_event(&mut self, event: PenEvent) {
        let serial = self.serial();
        match event {
            PenEvent::PositionReached { move_seq, position } => {
                self.record_position(position);
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
                self.set_state(PenState::Faulted {
                    reason: format!("pen latched a fault: {code}"),
                });
                self.fail_awaiting(ErrorKind::PenRefused, &format!("pen faulted: {code}"));
                let _ = self.start(HostRequest::Status, Pending::Refresh).await;
            }
            PenEvent::WatchdogRetracted => {
                warn!(pen = %serial, "pen's watchdog expired: it stopped and retracted");
                self.fail_awaiting(ErrorKind::PenRefused, "pen's watchdog retracted it");
                let _ = self.start(HostRequest::Status, Pending::Refresh).await;
            }
        }
    }

    fn fail_awaiting(&mut self, kind: ErrorKind, why: &str) {
        if let Some(awaiting) = self.awaiting.take() {
            let _ = awaiting.reply.send(Err(ApiError::new(kind, why)));
        }
    }

    fn on_expired(&mut self, tag: Pending) {
        self.unanswered += 1;
        if let Pending::Move {
            approved, reply, ..
        } = tag
        {
            let _ = reply.send(Err(ApiError::new(
                ErrorKind::PenTimeout,
                format!(
                    "pen {} did not answer the setpoint {} in time",
                    self.serial(),
                    approved.depth()
                ),
            )));
        }
        if self.unanswered == self.config.unanswered_limit {
            warn!(pen = %self.serial(), "pen stopped answering");
            self.set_state(PenState::Faulted {
                reason: format!("{NOT_ANSWERING} ({} requests unanswered)", self.unanswered),
            });
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

    fn go_offline(&mut self, error: &LinkError) {
        warn!(pen = %self.serial(), %error, "pen went offline");
        let message = format!("pen {} disconnected", self.serial());
        for tag in self.tracker.fail_all() {
            if let Pending::Move { reply, .. } = tag {
                let _ = reply.send(Err(ApiError::new(ErrorKind::PenDisconnected, &message)));
            }
        }
        self.fail_awaiting(ErrorKind::PenDisconnected, &message);
        self.set_state(PenState::Offline);
    }

    /// Stops needling and parks the pen before the session ends.
    async fn shut_down(&mut self) {
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
        match result {
            Ok(()) => info!(pen = %self.serial(), "pen retracted"),
            Err(error) => {
                warn!(pen = %self.serial(), %error, "could not confirm the pen retracted")
            }
        }
        for tag in self.tracker.fail_all() {
            if let Pending::Move { reply, .. } = tag {
                let _ = reply.send(Err(ApiError::new(
                    ErrorKind::ShuttingDown,
                    "pend is shutting down",
                )));
            }
        }
        self.set_state(PenState::Offline);
    }

    /// A pen that cannot be used: answer commands with why, until it goes away.
    async fn refuse_until_gone(&mut self, commands: &mut mpsc::Receiver<PenCommand>) {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(PenCommand::SetDepth { reply, .. }) => {
                        let _ = reply.send(Err(ApiError::new(
                            ErrorKind::PenUnavailable,
                            format!("pen {} cannot take a depth: {}", self.serial(), self.state()),
                        )));
                    }
                    Some(PenCommand::Shutdown { done }) => {
                        let _ = done.send(());
                        return;
                    }
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
}

/// How the Faulted reason for a silent pen begins (a reply clears it).
const NOT_ANSWERING: &str = "pen stopped answering";

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
