//! The client API: what `penctl` uses and what a Rust clinic app uses to talk to `pend`.
//!
//! One [`Client`] is one connection. Calls are answered in order; each has a timeout. After a
//! timeout or a broken frame the connection cannot be trusted to stay in step, so the client
//! refuses further calls: connect again.
//!
//! A treatment session belongs to the connection that opened it and lasts while the
//! connection sends something at least every `lease_ms`: call [`Client::heartbeat`] on a
//! timer. When the connection closes (the client exits or crashes), the daemon stops and
//! retracts the pen.
//!
//! After [`Client::subscribe`], events arrive between replies; calls keep them (up to
//! [`EVENT_BACKLOG`]) for [`Client::next_event`].

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pen_protocol::api::{
    decode_server_frame, encode_client_frame, payload_len, ApiError, AuditEntry, ClientRequest,
    DepthSetReport, EventFrame, LimitsFlashReport, PenReport, Request, Response, ServerFrame,
    SessionInfo, API_VERSION, FRAME_HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

/// How long a call may take by default. Setting a depth and waiting for the pen to get
/// there is the slowest call, well under this.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// Events kept while waiting for replies; older ones are dropped and counted.
pub const EVENT_BACKLOG: usize = 1024;

/// A call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon answers at the socket path.
    #[error(
        "cannot reach pend at {}: {source}. Is it running? Start it with `pend --sim 2`, \
         or point at it with --socket PATH or PEND_SOCKET",
        path.display()
    )]
    Unreachable {
        /// The socket path tried.
        path: PathBuf,
        /// Why the connection failed.
        source: io::Error,
    },
    /// The daemon answered with an error (refusals included).
    #[error("{0}")]
    Api(ApiError),
    /// The connection broke.
    #[error("lost the connection to pend: {0}")]
    Connection(io::Error),
    /// The daemon's reply made no sense to this client.
    #[error("pend sent a reply this client cannot read: {0}")]
    Protocol(String),
    /// No reply in time.
    #[error("pend did not answer within {0:?}")]
    Timeout(Duration),
    /// An earlier call failed in a way that leaves the connection out of step.
    #[error("this connection to pend broke earlier; connect again")]
    Broken,
}

/// A connection to `pend`.
pub struct Client {
    stream: UnixStream,
    /// Bytes read but not yet made into a frame (so reading is cancel-safe).
    inbox: Vec<u8>,
    events: VecDeque<EventFrame>,
    /// Events dropped from a full backlog, not yet reported.
    missed: u64,
    next_id: u32,
    call_timeout: Duration,
    broken: bool,
}

impl Client {
    /// Connects to the daemon at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream =
            UnixStream::connect(path)
                .await
                .map_err(|source| ClientError::Unreachable {
                    path: path.to_path_buf(),
                    source,
                })?;
        Ok(Client {
            stream,
            inbox: Vec::new(),
            events: VecDeque::new(),
            missed: 0,
            next_id: 1,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            broken: false,
        })
    }

    /// Sets how long each call may take.
    pub fn with_timeout(mut self, call_timeout: Duration) -> Client {
        self.call_timeout = call_timeout;
        self
    }

    /// Sends one request and waits for its reply.
    pub async fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let limit = self.call_timeout;
        let exchange = self.exchange(ClientRequest { id, request });
        let result = match timeout(limit, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout(limit)),
        };
        if matches!(
            result,
            Err(ClientError::Timeout(_) | ClientError::Connection(_) | ClientError::Protocol(_))
        ) {
            self.broken = true;
        }
        result
    }

    async fn exchange(&mut self, request: ClientRequest) -> Result<Response, ClientError> {
        let frame = encode_client_frame(&request)
            .map_err(|e| ClientError::Protocol(format!("request too large: {e}")))?;
        self.stream
            .write_all(&frame)
            .await
            .map_err(ClientError::Connection)?;
        loop {
            let reply = match self.read_frame().await? {
                ServerFrame::Event(event) => {
                    self.keep_event(event);
                    continue;
                }
                ServerFrame::Reply(reply) => reply,
            };
            if reply.id == 0 {
                // The daemon could not read our request and closes the connection.
                self.broken = true;
                return Err(match reply.result {
                    Err(error) => ClientError::Api(error),
                    Ok(_) => ClientError::Protocol("success reply with id 0".into()),
                });
            }
            if reply.id != request.id {
                return Err(ClientError::Protocol(format!(
                    "reply to request {} while waiting for {}",
                    reply.id, request.id
                )));
            }
            return reply.result.map_err(ClientError::Api);
        }
    }

    fn keep_event(&mut self, event: EventFrame) {
        if self.events.len() >= EVENT_BACKLOG {
            self.events.pop_front();
            self.missed += 1;
        }
        self.events.push_back(event);
    }

    /// Reads one frame. Cancel-safe: bytes already read stay in `inbox`.
    async fn read_frame(&mut self) -> Result<ServerFrame, ClientError> {
        loop {
            if self.inbox.len() >= FRAME_HEADER_LEN {
                let header: [u8; FRAME_HEADER_LEN] = self.inbox[..FRAME_HEADER_LEN]
                    .try_into()
                    .expect("header length");
                let len = payload_len(header).map_err(|e| ClientError::Protocol(e.to_string()))?;
                if self.inbox.len() >= FRAME_HEADER_LEN + len {
                    let frame: Vec<u8> = self.inbox.drain(..FRAME_HEADER_LEN + len).collect();
                    return decode_server_frame(&frame[FRAME_HEADER_LEN..])
                        .map_err(|e| ClientError::Protocol(e.to_string()));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(ClientError::Connection)?;
            if n == 0 {
                return Err(ClientError::Connection(io::ErrorKind::UnexpectedEof.into()));
            }
            self.inbox.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next event (after [`Client::subscribe`]). Waits as long as it takes; cancel-safe,
    /// so it can sit in a `select!` beside a heartbeat timer.
    pub async fn next_event(&mut self) -> Result<EventFrame, ClientError> {
        if self.broken {
            return Err(ClientError::Broken);
        }
        if self.missed > 0 {
            let count = std::mem::take(&mut self.missed);
            return Ok(EventFrame::Missed { count });
        }
        if let Some(event) = self.events.pop_front() {
            return Ok(event);
        }
        match self.read_frame().await {
            Ok(ServerFrame::Event(event)) => Ok(event),
            Ok(ServerFrame::Reply(reply)) => {
                self.broken = true;
                Err(ClientError::Protocol(format!(
                    "reply {} arrived with no request waiting",
                    reply.id
                )))
            }
            Err(error) => {
                self.broken = true;
                Err(error)
            }
        }
    }

    /// Asks for events on this connection from now on.
    pub async fn subscribe(&mut self) -> Result<(), ClientError> {
        self.expect_done(Request::Subscribe).await
    }

    /// Takes the treatment session on a pen, waiting in line up to `wait` if another client
    /// holds it. Keep it with [`Client::heartbeat`] more often than `lease_ms`.
    pub async fn open_session(
        &mut self,
        pen: &str,
        client_name: &str,
        wait: Duration,
    ) -> Result<SessionInfo, ClientError> {
        let request = Request::OpenSession {
            pen: pen.into(),
            client_name: client_name.into(),
            wait_ms: wait.as_millis().min(u32::MAX.into()) as u32,
        };
        let previous = self.call_timeout;
        self.call_timeout = previous + wait;
        let result = self.call(request).await;
        self.call_timeout = previous;
        match result? {
            Response::SessionOpened(info) => Ok(info),
            other => Err(unexpected(other)),
        }
    }

    /// Keeps this connection's sessions alive.
    pub async fn heartbeat(&mut self) -> Result<(), ClientError> {
        self.expect_done(Request::Heartbeat).await
    }

    /// Ends the session on a pen: the daemon stops and retracts it.
    pub async fn close_session(&mut self, pen: &str) -> Result<(), ClientError> {
        self.expect_done(Request::CloseSession { pen: pen.into() })
            .await
    }

    /// Starts needling at `strokes_per_s` (needs the session).
    pub async fn start_needling(
        &mut self,
        pen: &str,
        strokes_per_s: u16,
    ) -> Result<(), ClientError> {
        self.expect_done(Request::StartNeedling {
            pen: pen.into(),
            strokes_per_s,
        })
        .await
    }

    /// Stops needling (needs the session).
    pub async fn stop_needling(&mut self, pen: &str) -> Result<(), ClientError> {
        self.expect_done(Request::StopNeedling { pen: pen.into() })
            .await
    }

    /// Makes the pen blink and buzz so people can tell which one it is.
    pub async fn identify(&mut self, pen: &str) -> Result<(), ClientError> {
        self.expect_done(Request::Identify { pen: pen.into() })
            .await
    }

    /// Starts a bench calibration of `pen` against the gauge `gauge` (see
    /// `penctl calibrate --help` for the spec). Subscribe first: progress and the end come as
    /// events. Closing this connection aborts the calibration.
    pub async fn start_calibration(
        &mut self,
        pen: &str,
        gauge: &str,
        points_um: Vec<u16>,
        repeats: u8,
        tolerance_um: u16,
    ) -> Result<String, ClientError> {
        let request = Request::StartCalibration {
            pen: pen.into(),
            gauge: gauge.into(),
            points_um,
            repeats,
            tolerance_um,
        };
        match self.call(request).await? {
            Response::CalibrationStarted { serial } => Ok(serial),
            other => Err(unexpected(other)),
        }
    }

    /// Stops a calibration under way; the pen keeps its previous table.
    pub async fn abort_calibration(&mut self, pen: &str) -> Result<(), ClientError> {
        self.expect_done(Request::AbortCalibration { pen: pen.into() })
            .await
    }

    /// The latest calibration record of `pen`: its number and its JSON.
    pub async fn calibration_record(&mut self, pen: &str) -> Result<(u64, String), ClientError> {
        match self
            .call(Request::CalibrationRecord { pen: pen.into() })
            .await?
        {
            Response::CalibrationRecord { record_id, json } => Ok((record_id, json)),
            other => Err(unexpected(other)),
        }
    }

    /// Checks a limits bundle and, unless `dry_run`, flashes it into the pen.
    pub async fn flash_limits(
        &mut self,
        pen: &str,
        bundle: Vec<u8>,
        dry_run: bool,
    ) -> Result<LimitsFlashReport, ClientError> {
        let request = Request::FlashLimits {
            pen: pen.into(),
            bundle,
            dry_run,
        };
        match self.call(request).await? {
            Response::LimitsFlash(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Audit trail entries, oldest first: about `pen`, since `since_unix_s`, at most `limit`.
    pub async fn audit(
        &mut self,
        pen: Option<String>,
        since_unix_s: u64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, ClientError> {
        let request = Request::Audit {
            pen,
            since_unix_s,
            limit,
        };
        match self.call(request).await? {
            Response::Audit(entries) => Ok(entries),
            other => Err(unexpected(other)),
        }
    }

    /// Checks the audit trail's chain: (entries checked, first broken entry and why).
    pub async fn audit_verify(&mut self) -> Result<(u64, Option<(u64, String)>), ClientError> {
        match self.call(Request::AuditVerify).await? {
            Response::AuditVerified {
                entries,
                first_broken,
                reason,
            } => Ok((entries, first_broken.map(|id| (id, reason)))),
            other => Err(unexpected(other)),
        }
    }

    async fn expect_done(&mut self, request: Request) -> Result<(), ClientError> {
        match self.call(request).await? {
            Response::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Checks the daemon speaks this client's API version; returns the daemon's version.
    pub async fn hello(&mut self) -> Result<String, ClientError> {
        match self
            .call(Request::Hello {
                api_version: API_VERSION,
            })
            .await?
        {
            Response::Hello { daemon_version, .. } => Ok(daemon_version),
            other => Err(unexpected(other)),
        }
    }

    /// Every pen the daemon knows.
    pub async fn list_pens(&mut self) -> Result<Vec<PenReport>, ClientError> {
        match self.call(Request::ListPens).await? {
            Response::Pens(pens) => Ok(pens),
            other => Err(unexpected(other)),
        }
    }

    /// One pen's status; `pen` is a serial or a unique prefix of one.
    pub async fn pen_status(&mut self, pen: &str) -> Result<PenReport, ClientError> {
        match self.call(Request::PenStatus { pen: pen.into() }).await? {
            Response::PenStatus(report) => Ok(*report),
            other => Err(unexpected(other)),
        }
    }

    /// Sets a pen's depth in micrometres (needs the session). With `wait`, returns once the
    /// pen reports the position reached. Refusals come back as [`ClientError::Api`] with a
    /// safety kind.
    pub async fn set_depth(
        &mut self,
        pen: &str,
        depth_um: u32,
        wait: bool,
    ) -> Result<DepthSetReport, ClientError> {
        let request = Request::SetDepth {
            pen: pen.into(),
            depth_um,
            wait,
        };
        match self.call(request).await? {
            Response::DepthSet(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(response: Response) -> ClientError {
    ClientError::Protocol(format!("unexpected reply {response:?}"))
}
