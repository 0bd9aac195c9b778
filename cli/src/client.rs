//! The client API: what `penctl` uses and what a Rust clinic app uses to talk to `pend`.
//!
//! One [`Client`] is one connection. Calls are answered in order; each has a timeout. After a
//! timeout or a broken frame the connection cannot be trusted to stay in step, so the client
//! refuses further calls: connect again.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pen_protocol::api::{
    decode_reply, encode_client_frame, payload_len, ApiError, ClientRequest, DepthSetReport,
    PenReport, Request, Response, API_VERSION, FRAME_HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

/// How long a call may take by default. Setting a depth and waiting for the pen to get
/// there is the slowest call, well under this.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(15);

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
        let mut header = [0u8; FRAME_HEADER_LEN];
        self.stream
            .read_exact(&mut header)
            .await
            .map_err(ClientError::Connection)?;
        let len = payload_len(header).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let mut payload = vec![0u8; len];
        self.stream
            .read_exact(&mut payload)
            .await
            .map_err(ClientError::Connection)?;
        let reply = decode_reply(&payload).map_err(|e| ClientError::Protocol(e.to_string()))?;
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
        reply.result.map_err(ClientError::Api)
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
            Response::PenStatus(report) => Ok(report),
            other => Err(unexpected(other)),
        }
    }

    /// Sets a pen's depth in micrometres. With `wait`, returns once the pen reports the
    /// position reached. Refusals come back as [`ClientError::Api`] with a safety kind.
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
