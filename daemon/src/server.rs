//! The socket server: one reader task and one writer task per client, a limit on connections,
//! and every request dispatched to the registry or a pen's session.
//!
//! The reader decodes requests (see [`crate::wire`] for the encodings), answers them in order
//! and hands the answers to the writer. The writer also forwards events to a subscribed
//! client. A client that stops reading only blocks its own writer: its replies wait in a
//! short queue, its events are dropped from a fixed shared buffer and counted
//! (`EventFrame::Missed`), and nobody else is slowed down.
//!
//! A frame the daemon cannot read gets one reply with id 0 saying why, and the client is
//! disconnected: after garbage there is no telling where the next frame starts.
//!
//! When a connection ends, every treatment session it holds ends with it: the pens are
//! stopped and retracted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pen_protocol::api::{
    ApiError, ClientReply, ClientRequest, ErrorKind, Event, EventFrame, Request, Response,
    ServerFrame, SessionHolder, API_VERSION,
};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch, Semaphore};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::audit;
use crate::bench::{self, BenchConfig};
use crate::calibration::procedure::Plan;
use crate::keys::load_trusted_keys;
use crate::records::RecordStore;
use crate::registry::{PenHandle, Registry};
use crate::roles::{lookup_user, process_groups, required_role, Peer, Role, RoleConfig};
use crate::session::PenCommand;
use crate::wire::{FrameWriter, ReadOutcome, RequestReader};

/// Limits of the socket server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Clients connected at once; one more is told so and disconnected.
    pub max_connections: usize,
    /// Once a frame has started to arrive, the time the rest has to follow.
    pub frame_timeout: Duration,
    /// The longest a request may take in the daemon before the client is told it timed out.
    pub request_timeout: Duration,
    /// The longest a client may ask to wait in line for a pen.
    pub max_session_wait: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 128,
            frame_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_session_wait: Duration::from_secs(60),
        }
    }
}

/// What every connection works with.
pub struct Context {
    /// The pens.
    pub registry: Arc<Registry>,
    /// The durable records.
    pub records: RecordStore,
    /// Server limits.
    pub server: ServerConfig,
    /// Bench calibration settings.
    pub bench: BenchConfig,
    /// Where the trusted limits-signing keys are.
    pub trusted_keys: std::path::PathBuf,
    /// Who may do what.
    pub roles: RoleConfig,
}

fn now_unix_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Replies that may wait for a client that is slow to read them.
const OUTGOING_FRAMES: usize = 16;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// How a connection's streams are read and written: postcard frames or JSON lines.
pub trait Codec: Send + Sync + 'static {
    /// Splits a connected stream into request reader and frame writer.
    fn split(
        &self,
        stream: UnixStream,
        config: &ServerConfig,
    ) -> (impl RequestReader, impl FrameWriter);
}

/// Serves clients on `listener` until `shutdown` turns true.
pub async fn serve<C: Codec>(
    listener: UnixListener,
    codec: C,
    context: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = context.server.clone();
    let codec = Arc::new(codec);
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Typically EMFILE: back off briefly instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => return,
        };
        let caller = caller_of(&stream, &context.roles);
        let (reader, mut writer) = codec.split(stream, &config);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            let limit = config.max_connections;
            tokio::spawn(async move {
                warn!(limit, "connection refused: too many clients");
                let error = ApiError::new(
                    ErrorKind::Busy,
                    format!("pend already serves {limit} clients; try again later"),
                );
                let _ = writer.write(&reply(0, Err(error))).await;
            });
            continue;
        };
        let (context, shutdown) = (context.clone(), shutdown.clone());
        tokio::spawn(async move {
            handle_client(reader, writer, caller, &context, shutdown).await;
            drop(slot);
        });
    }
}

/// Resolves once shutdown is asked for (or whoever could ask is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await; drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

/// Who is on the other end of a connection, and what they may do.
#[derive(Debug, Clone)]
struct Caller {
    holder: SessionHolder,
    user: String,
    role: Role,
}

/// The peer's credentials (SO_PEERCRED, and its groups from /proc), and its role.
fn caller_of(stream: &UnixStream, roles: &RoleConfig) -> Caller {
    let (uid, gid, pid) = match stream.peer_cred() {
        Ok(cred) => (cred.uid(), cred.gid(), cred.pid().unwrap_or(0)),
        // Unknowable peer: the least role.
        Err(_) => (u32::MAX, u32::MAX, 0),
    };
    let peer = Peer {
        uid,
        gid,
        groups: process_groups(pid),
    };
    Caller {
        holder: SessionHolder {
            client_name: String::new(),
            uid,
            pid,
        },
        user: lookup_user(uid),
        role: roles.role_of(&peer),
    }
}

fn reply(id: u32, result: Result<Response, ApiError>) -> ServerFrame {
    ServerFrame::Reply(ClientReply { id, result })
}

/// One client connection: who it is, the sessions it holds, where its events go.
struct Connection<'a> {
    id: u64,
    peer: SessionHolder,
    caller: Caller,
    held: BTreeMap<String, PenHandle>,
    subscribe: mpsc::Sender<broadcast::Receiver<Event>>,
    registry: &'a Registry,
    config: &'a ServerConfig,
    context: &'a Context,
}

async fn handle_client(
    mut reader: impl RequestReader,
    writer: impl FrameWriter,
    caller: Caller,
    context: &Context,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = &context.server;
    let (outgoing, replies) = mpsc::channel(OUTGOING_FRAMES);
    let (subscribe, subscription) = mpsc::channel(1);
    let writer_task = tokio::spawn(write_loop(writer, replies, subscription));
    let mut connection = Connection {
        id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
        peer: caller.holder.clone(),
        caller,
        held: BTreeMap::new(),
        subscribe,
        registry: &context.registry,
        config,
        context,
    };
    debug!(
        connection = connection.id,
        uid = connection.peer.uid,
        pid = connection.peer.pid,
        "client connected"
    );
    loop {
        let outcome = tokio::select! {
            outcome = reader.read() => outcome,
            _ = stopped(&mut shutdown) => break,
        };
        let request = match outcome {
            ReadOutcome::Request(request) => request,
            ReadOutcome::Closed => break,
            ReadOutcome::Unreadable(error) => {
                warn!(connection = connection.id, %error, "unreadable frame; disconnecting the client");
                let _ = outgoing.send(reply(0, Err(error))).await;
                break;
            }
            ReadOutcome::Rejected(error) => {
                debug!(connection = connection.id, %error, "unreadable request");
                if outgoing.send(reply(0, Err(error))).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let ClientRequest { id, request } = request;
        // Journald keeps these as fields (REQUEST=, PEN=, OUTCOME=), so one can ask for every
        // request about one pen: `journalctl -u pend PEN=...`.
        let logged = tracing::enabled!(tracing::Level::DEBUG).then(|| request_fields(&request));
        let result = connection.handle(request).await;
        if let Some((name, pen)) = logged {
            let outcome = match &result {
                Ok(_) => "ok".to_string(),
                Err(error) => format!("{:?}", error.kind),
            };
            debug!(connection = connection.id, id, request = %name, pen = %pen, %outcome, "request");
        }
        if outgoing.send(reply(id, result)).await.is_err() {
            break;
        }
    }
    connection.release_all().await;
    // Let the writer flush what is queued, but not wait on a client that does not read.
    drop(outgoing);
    if timeout(config.frame_timeout, writer_task).await.is_err() {
        debug!(
            connection = connection.id,
            "client not reading; dropped its pending frames"
        );
    }
    debug!(connection = connection.id, "client gone");
}

/// Sends replies and, once subscribed, events, until the replies end or the client is gone.
async fn write_loop(
    mut writer: impl FrameWriter,
    mut replies: mpsc::Receiver<ServerFrame>,
    mut subscription: mpsc::Receiver<broadcast::Receiver<Event>>,
) {
    let mut events: Option<broadcast::Receiver<Event>> = None;
    loop {
        let frame = tokio::select! {
            // Replies first: a busy event stream must not delay the answer to a request.
            biased;
            frame = replies.recv() => match frame {
                Some(frame) => frame,
                None => return,
            },
            Some(receiver) = subscription.recv(), if events.is_none() => {
                events = Some(receiver);
                continue;
            }
            event = next_event(&mut events), if events.is_some() => match event {
                Some(frame) => ServerFrame::Event(frame),
                None => {
                    events = None;
                    continue;
                }
            },
        };
        if writer.write(&frame).await.is_err() {
            return;
        }
    }
}

/// The next event frame, or `None` when the event source is gone.
async fn next_event(events: &mut Option<broadcast::Receiver<Event>>) -> Option<EventFrame> {
    let receiver = events.as_mut()?;
    match receiver.recv().await {
        Ok(event) => Some(EventFrame::Event(event)),
        Err(RecvError::Lagged(count)) => Some(EventFrame::Missed { count }),
        Err(RecvError::Closed) => None,
    }
}

impl Connection<'_> {
    /// Checks the caller's role, carries the request out, and records it in the audit trail
    /// if it is something the trail keeps.
    async fn handle(&mut self, request: Request) -> Result<Response, ApiError> {
        let needed = required_role(&request);
        let result = if self.caller.role < needed {
            let group = self
                .context
                .roles
                .group_for(needed)
                .map(|gid| format!("; an administrator can add you to group {gid}"))
                .unwrap_or_default();
            Err(ApiError::new(
                ErrorKind::PermissionDenied,
                format!(
                    "this needs the {needed} role; {} (uid {}) has the {} role{group}",
                    self.caller.user, self.caller.holder.uid, self.caller.role
                ),
            ))
        } else {
            self.dispatch(request.clone()).await
        };
        if let Some((action, pen, outcome, details)) = audit::describe(&request, &result) {
            let record = audit::Record {
                uid: self.caller.holder.uid,
                user: self.caller.user.clone(),
                role: self.caller.role.to_string(),
                action,
                pen,
                outcome,
                details: if details.is_empty() {
                    format!("pid {}", self.caller.holder.pid)
                } else {
                    format!("pid {}; {details}", self.caller.holder.pid)
                },
            };
            if let Err(error) = self
                .context
                .records
                .append_audit(record, now_unix_s())
                .await
            {
                warn!(%error, "could not append to the audit trail");
            }
        }
        result
    }

    async fn dispatch(&mut self, request: Request) -> Result<Response, ApiError> {
        match request {
            Request::Hello { api_version } if api_version == API_VERSION => Ok(Response::Hello {
                api_version: API_VERSION,
                daemon_version: env!("CARGO_PKG_VERSION").to_string(),
            }),
            Request::Hello { api_version } => Err(ApiError::new(
                ErrorKind::UnsupportedApiVersion,
                format!(
                    "client speaks API v{api_version}, this pend speaks v{API_VERSION}; use matching versions"
                ),
            )),
            Request::ListPens => Ok(Response::Pens(self.registry.list())),
            Request::PenStatus { pen } => {
                Ok(Response::PenStatus(Box::new(
                    self.registry.resolve(&pen)?.report(),
                )))
            }
            Request::OpenSession {
                pen,
                client_name,
                wait_ms,
            } => self.open_session(&pen, client_name, wait_ms).await,
            Request::Heartbeat => {
                for handle in self.held.values() {
                    self.tell(handle, PenCommand::Renew { connection: self.id })
                        .await;
                }
                Ok(Response::Done)
            }
            Request::CloseSession { pen } => {
                let handle = self.registry.resolve(&pen)?;
                let connection = self.id;
                handle.ask(self.config.request_timeout, |reply| {
                    PenCommand::CloseSession { connection, reply }
                })
                .await?;
                self.held.remove(&handle.serial());
                Ok(Response::Done)
            }
            Request::SetDepth {
                pen,
                depth_um,
                wait,
            } => {
                let handle = self.registry.resolve(&pen)?;
                let connection = self.id;
                let report = handle.ask(self.config.request_timeout, |reply| {
                        PenCommand::SetDepth {
                            connection,
                            depth_um,
                            wait,
                            reply,
                        }
                    })
                    .await?;
                info!(pen = %report.serial, depth = %report.depth, "depth set");
                Ok(Response::DepthSet(report))
            }
            Request::StartNeedling { pen, strokes_per_s } => {
                self.needling(&pen, Some(strokes_per_s)).await
            }
            Request::StopNeedling { pen } => self.needling(&pen, None).await,
            Request::Identify { pen } => {
                let handle = self.registry.resolve(&pen)?;
                handle.ask(self.config.request_timeout, |reply| {
                    PenCommand::Identify { reply }
                })
                .await?;
                Ok(Response::Done)
            }
            Request::StartCalibration {
                pen,
                gauge,
                points_um,
                repeats,
                tolerance_um,
            } => {
                let handle = self.registry.resolve(&pen)?;
                let mut plan = Plan::default();
                if !points_um.is_empty() {
                    plan.points_um = points_um;
                }
                if repeats > 0 {
                    plan.repeats = repeats;
                }
                if tolerance_um > 0 {
                    plan.tolerance_um = f64::from(tolerance_um);
                }
                let holder = SessionHolder {
                    client_name: "bench calibration".into(),
                    ..self.peer.clone()
                };
                let bench = self.context.bench.clone();
                let role = self.caller.role.to_string();
                let prepared =
                    bench::prepare(handle.clone(), self.id, holder, role, &gauge, plan, bench)
                        .await?;
                let serial = prepared.serial().to_string();
                // Held like a session: when this connection goes, the calibration stops.
                self.held.insert(serial.clone(), handle);
                tokio::spawn(prepared.run(self.registry.events(), self.context.records.clone()));
                Ok(Response::CalibrationStarted { serial })
            }
            Request::AbortCalibration { pen } => {
                let handle = self.registry.resolve(&pen)?;
                handle.ask(self.config.request_timeout, |reply| {
                    PenCommand::AbortCalibration { reply }
                })
                .await?;
                Ok(Response::Done)
            }
            Request::CalibrationRecord { pen } => {
                let serial = self.registry.resolve(&pen)?.serial();
                match self.context.records.latest_calibration(&serial).await {
                    Ok(Some(stored)) => Ok(Response::CalibrationRecord {
                        record_id: stored.id,
                        json: stored.json,
                    }),
                    Ok(None) => Err(ApiError::new(
                        ErrorKind::NoRecord,
                        format!("pen {serial} has no calibration recorded here"),
                    )),
                    Err(error) => Err(ApiError::new(ErrorKind::Internal, error.to_string())),
                }
            }
            Request::FlashLimits {
                pen,
                bundle,
                dry_run,
            } => {
                let handle = self.registry.resolve(&pen)?;
                let keys = load_trusted_keys(&self.context.trusted_keys)
                    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
                let report = handle.ask(self.config.request_timeout, |reply| {
                        PenCommand::FlashLimits {
                            bundle,
                            dry_run,
                            keys,
                            reply,
                        }
                    })
                    .await?;
                Ok(Response::LimitsFlash(report))
            }
            Request::Audit {
                pen,
                since_unix_s,
                limit,
            } => {
                let limit = if limit == 0 { 1000 } else { limit as usize };
                self.context
                    .records
                    .list_audit(pen, since_unix_s, limit)
                    .await
                    .map(Response::Audit)
                    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))
            }
            Request::AuditVerify => {
                let verification = self
                    .context
                    .records
                    .verify_audit()
                    .await
                    .map_err(|e| ApiError::new(ErrorKind::Internal, e.to_string()))?;
                let (first_broken, reason) = verification
                    .first_broken
                    .map_or((None, String::new()), |(id, why)| (Some(id), why));
                Ok(Response::AuditVerified {
                    entries: verification.entries,
                    first_broken,
                    reason,
                })
            }
            Request::Subscribe => {
                // A second Subscribe finds the channel full or the writer subscribed: both fine.
                let _ = self.subscribe.try_send(self.registry.subscribe());
                Ok(Response::Done)
            }
        }
    }

    async fn open_session(
        &mut self,
        pen: &str,
        client_name: String,
        wait_ms: u32,
    ) -> Result<Response, ApiError> {
        let handle = self.registry.resolve(pen)?;
        let wait = Duration::from_millis(wait_ms.into()).min(self.config.max_session_wait);
        let holder = SessionHolder {
            client_name,
            ..self.peer.clone()
        };
        let connection = self.id;
        let info = handle
            .ask(wait + self.config.request_timeout, |reply| {
                PenCommand::OpenSession {
                    connection,
                    holder,
                    wait,
                    reply,
                }
            })
            .await?;
        self.held.insert(info.serial.clone(), handle);
        Ok(Response::SessionOpened(info))
    }

    async fn needling(&mut self, pen: &str, rate: Option<u16>) -> Result<Response, ApiError> {
        let handle = self.registry.resolve(pen)?;
        let connection = self.id;
        handle
            .ask(self.config.request_timeout, |reply| PenCommand::Needling {
                connection,
                strokes_per_s: rate,
                reply,
            })
            .await?;
        Ok(Response::Done)
    }

    /// Sends a command that must not be lost to a full queue (renew, release), waiting a
    /// bounded time for room. If it is lost anyway the lease still runs out on its own.
    async fn tell(&self, handle: &PenHandle, command: PenCommand) {
        if !handle
            .send_waiting(command, self.config.request_timeout)
            .await
        {
            warn!(pen = %handle.serial(), "could not reach the pen's session");
        }
    }

    /// Ends every session this connection holds: the connection is gone.
    async fn release_all(&mut self) {
        let held = std::mem::take(&mut self.held);
        for handle in held.values() {
            self.tell(
                handle,
                PenCommand::Release {
                    connection: self.id,
                },
            )
            .await;
        }
    }
}

/// A request's name and the pen it names (empty if none), for the log.
fn request_fields(request: &Request) -> (String, String) {
    let value = serde_json::to_value(request).unwrap_or_default();
    let (name, body) = match &value {
        serde_json::Value::String(name) => (name.clone(), None),
        serde_json::Value::Object(map) => match map.iter().next() {
            Some((name, body)) => (name.clone(), Some(body)),
            None => (String::new(), None),
        },
        _ => (String::new(), None),
    };
    let pen = body
        .and_then(|b| b.get("pen"))
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_string();
    (name, pen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_names_the_request_and_its_pen() {
        let set = Request::SetDepth {
            pen: "PEN-A".into(),
            depth_um: 300,
            wait: false,
        };
        assert_eq!(request_fields(&set), ("SetDepth".into(), "PEN-A".into()));
        assert_eq!(
            request_fields(&Request::ListPens),
            ("ListPens".into(), String::new())
        );
    }
}
