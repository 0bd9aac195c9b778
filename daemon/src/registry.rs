//! The pens the daemon knows, by serial number, and how to reach each one's session.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use pen_protocol::api::{ApiError, ErrorKind, Event, PenReport, PenState};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{timeout_at, Instant};
use tracing::warn;

use crate::link::{PenLink, SimProbe};
use crate::readiness;
use crate::session::{initial_report, run_session, PenCommand, Reply, SessionConfig};

/// Commands that may queue for one pen before clients are told it is busy.
pub const PEN_COMMAND_QUEUE: usize = 8;

/// Events kept for subscribers that fall behind; past this they are told how many they
/// missed. The buffer is shared and fixed: a subscriber that never reads costs nothing more.
pub const EVENT_BUFFER: usize = 1024;

/// One known pen.
#[derive(Clone)]
pub struct PenHandle {
    commands: mpsc::Sender<PenCommand>,
    report: watch::Receiver<PenReport>,
    sim_probe: Option<SimProbe>,
    session_config: SessionConfig,
}

impl PenHandle {
    /// The pen's current report: its readiness problems as of now, and live simulation
    /// diagnostics for a simulated pen.
    pub fn report(&self) -> PenReport {
        let mut report = self.report.borrow().clone();
        report.problems = readiness::problems(
            &report.state,
            report.calibration.as_ref(),
            report.calibrating,
            report.limits.is_some(),
            self.session_config.calibration_clock(),
        );
        report.sim = self.sim_probe.as_ref().map(|probe| probe());
        report
    }

    /// For a simulated pen, the probe of its physical truth.
    pub fn sim_probe(&self) -> Option<SimProbe> {
        self.sim_probe.clone()
    }

    /// The pen's serial number.
    pub fn serial(&self) -> String {
        self.report.borrow().serial.clone()
    }

    /// Queues a command for the pen's session, waiting at most `limit` for room. Returns
    /// whether it was queued.
    pub async fn send_waiting(&self, command: PenCommand, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.commands.send(command)).await,
            Ok(Ok(()))
        )
    }

    /// Sends a command to the pen's session and waits (at most `limit`) for its answer.
    pub async fn ask<T>(
        &self,
        limit: Duration,
        command: impl FnOnce(Reply<T>) -> PenCommand,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.send(command(reply))?;
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::new(
                ErrorKind::PenDisconnected,
                format!("pen {} went away before answering", self.serial()),
            )),
            Err(_) => Err(ApiError::new(
                ErrorKind::PenTimeout,
                format!("pen {} did not answer within {limit:?}", self.serial()),
            )),
        }
    }

    /// Queues a command for the pen's session without waiting for room.
    pub fn send(&self, command: PenCommand) -> Result<(), ApiError> {
        self.commands
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ApiError::new(
                    ErrorKind::Busy,
                    format!(
                        "pen {} has {PEN_COMMAND_QUEUE} commands waiting; try again",
                        self.serial()
                    ),
                ),
                mpsc::error::TrySendError::Closed(_) => ApiError::new(
                    ErrorKind::PenUnavailable,
                    format!("pen {} is {}", self.serial(), self.report.borrow().state),
                ),
            })
    }
}

/// All pens, online or not.
pub struct Registry {
    pens: RwLock<BTreeMap<String, PenHandle>>,
    session_config: SessionConfig,
    events: broadcast::Sender<Event>,
}

impl Registry {
    /// An empty registry whose sessions use `session_config`.
    pub fn new(session_config: SessionConfig) -> Registry {
        Registry {
            pens: RwLock::new(BTreeMap::new()),
            session_config,
            events: broadcast::channel(EVENT_BUFFER).0,
        }
    }

    /// A new subscription to every pen's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Where events are announced.
    pub fn events(&self) -> broadcast::Sender<Event> {
        self.events.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, PenHandle>> {
        self.pens.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for the pen behind `link`, replacing an earlier entry with its serial.
    pub fn attach<L: PenLink>(&self, link: L) {
        let serial = link.serial().to_string();
        let (commands, receiver) = mpsc::channel(PEN_COMMAND_QUEUE);
        let (report, report_rx) = watch::channel(initial_report(&serial, &link.describe()));
        let handle = PenHandle {
            commands,
            report: report_rx,
            sim_probe: link.sim_probe(),
            session_config: self.session_config.clone(),
        };
        tokio::spawn(run_session(
            link,
            self.session_config.clone(),
            receiver,
            report,
            self.events.clone(),
        ));
        self.pens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(serial, handle);
    }

    /// Whether a pen with `serial` is known and not offline (or unreachable): a second device
    /// claiming the same serial must not take its place.
    pub fn is_live(&self, serial: &str) -> bool {
        self.read().get(serial).is_some_and(|handle| {
            !matches!(
                handle.report.borrow().state,
                PenState::Offline | PenState::NoAccess { .. }
            )
        })
    }

    /// Lists a pen that is plugged in but may not be opened, so `penctl list` can say why and
    /// what to do. It has no session: commands to it are refused with its state.
    pub fn mark_inaccessible(&self, serial: &str, link: &str, state: PenState) {
        let (commands, _closed) = mpsc::channel(1);
        let mut report = initial_report(serial, link);
        report.state = state;
        let handle = PenHandle {
            commands,
            report: watch::channel(report).1,
            sim_probe: None,
            session_config: self.session_config.clone(),
        };
        self.pens
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(serial.to_string(), handle);
    }

    /// How many pens are known (online or not).
    pub fn count(&self) -> usize {
        self.read().len()
    }

    /// Reports of every pen, ordered by serial.
    pub fn list(&self) -> Vec<PenReport> {
        self.read().values().map(PenHandle::report).collect()
    }

    /// Every pen's handle.
    pub fn handles(&self) -> Vec<PenHandle> {
        self.read().values().cloned().collect()
    }

    /// The pen named by `selector`: an exact serial, else the one serial it is a prefix of.
    pub fn resolve(&self, selector: &str) -> Result<PenHandle, ApiError> {
        let pens = self.read();
        if let Some(handle) = pens.get(selector) {
            return Ok(handle.clone());
        }
        let matches: Vec<(&String, &PenHandle)> = pens
            .iter()
            .filter(|(serial, _)| !selector.is_empty() && serial.starts_with(selector))
            .collect();
        match matches.as_slice() {
            [(_, handle)] => Ok((*handle).clone()),
            [] => {
                let known: Vec<&str> = pens.keys().map(String::as_str).collect();
                Err(ApiError::new(
                    ErrorKind::NoSuchPen,
                    if known.is_empty() {
                        format!("no pen matches {selector:?}: no pens are connected")
                    } else {
                        format!(
                            "no pen matches {selector:?}; known pens: {}",
                            known.join(", ")
                        )
                    },
                ))
            }
            several => Err(ApiError::new(
                ErrorKind::AmbiguousPen,
                format!(
                    "{selector:?} matches several pens ({}); give more of the serial",
                    several
                        .iter()
                        .map(|(s, _)| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }

    /// Waits until no pen is still connecting, or until `limit` has passed.
    pub async fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let receivers: Vec<watch::Receiver<PenReport>> =
            self.read().values().map(|h| h.report.clone()).collect();
        for mut receiver in receivers {
            let settled = receiver.wait_for(|r| r.state != PenState::Connecting);
            if timeout_at(deadline, settled).await.is_err() {
                warn!("pens still connecting after {limit:?}; serving anyway");
                return;
            }
        }
    }

    /// Retracts every pen and ends its session, waiting at most `limit` in all.
    pub async fn shut_down_all(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let handles: Vec<PenHandle> = self.read().values().cloned().collect();
        let mut waits = Vec::new();
        for handle in &handles {
            let (done, wait) = oneshot::channel();
            // A full queue still gets the shutdown in: wait for room, within the deadline.
            let sent = timeout_at(
                deadline,
                handle.commands.send(PenCommand::Shutdown { done }),
            )
            .await;
            if matches!(sent, Ok(Ok(()))) {
                waits.push((handle.serial(), wait));
            }
        }
        for (serial, wait) in waits {
            if timeout_at(deadline, wait).await.is_err() {
                warn!(pen = %serial, "pen did not confirm shutdown in time");
            }
        }
    }
}
