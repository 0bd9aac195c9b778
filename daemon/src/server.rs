//! The Unix socket server: length-prefixed postcard frames, one task per client, a limit on
//! connections, a cap on frame length checked before anything is allocated.
//!
//! A client whose frame cannot be read (too long, undecodable, or too slow to arrive) gets one
//! reply with id 0 saying why, and is disconnected: after garbage there is no telling where
//! the next frame starts. Other clients are not affected.

use std::sync::Arc;
use std::time::Duration;

use pen_protocol::api::{
    decode_request, encode_client_frame, payload_len, ApiError, ClientReply, ErrorKind, Request,
    Response, API_VERSION, FRAME_HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::time::timeout;
use tracing::{debug, info, warn};

use crate::registry::Registry;
use crate::session::PenCommand;

/// Limits of the socket server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Clients connected at once; one more is told so and disconnected.
    pub max_connections: usize,
    /// Once a frame's header has arrived, the time its payload has to follow.
    pub frame_timeout: Duration,
    /// The longest a request may take in the daemon before the client is told it timed out.
    pub request_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 128,
            frame_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves clients on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: UnixListener,
    registry: Arc<Registry>,
    config: ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse_connection(stream, config.max_connections));
            continue;
        };
        let (registry, config, shutdown) = (registry.clone(), config.clone(), shutdown.clone());
        tokio::spawn(async move {
            handle_client(stream, &registry, &config, shutdown).await;
            drop(slot);
        });
    }
}

/// Resolves once shutdown is asked for (or whoever could ask is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await; drop it here.
    let _ = shutdown.wait_for(|stop| *stop).await.map(|_| ());
}

async fn refuse_connection(stream: UnixStream, limit: usize) {
    warn!(limit, "connection refused: too many clients");
    let (_, mut writer) = stream.into_split();
    let error = ApiError::new(
        ErrorKind::Busy,
        format!("pend already serves {limit} clients; try again later"),
    );
    let _ = write_reply(&mut writer, 0, Err(error)).await;
}

async fn handle_client(
    stream: UnixStream,
    registry: &Registry,
    config: &ServerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    loop {
        let mut header = [0u8; FRAME_HEADER_LEN];
        tokio::select! {
            read = reader.read_exact(&mut header) => if read.is_err() {
                return; // client hung up
            },
            _ = stopped(&mut shutdown) => return,
        }
        let len = match payload_len(header) {
            Ok(len) => len,
            Err(too_long) => {
                warn!(%too_long, "client sent an oversized frame; disconnecting it");
                let error = ApiError::new(ErrorKind::BadRequest, too_long.to_string());
                let _ = write_reply(&mut writer, 0, Err(error)).await;
                return;
            }
        };
        let mut payload = vec![0u8; len];
        match timeout(config.frame_timeout, reader.read_exact(&mut payload)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                let error = ApiError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "frame payload did not arrive within {:?}",
                        config.frame_timeout
                    ),
                );
                let _ = write_reply(&mut writer, 0, Err(error)).await;
                return;
            }
        }
        let request = match decode_request(&payload) {
            Ok(request) => request,
            Err(error) => {
                warn!(%error, "client sent an undecodable frame; disconnecting it");
                let error = ApiError::new(
                    ErrorKind::BadRequest,
                    format!("could not decode the request ({error}); is the client built for API v{API_VERSION}?"),
                );
                let _ = write_reply(&mut writer, 0, Err(error)).await;
                return;
            }
        };
        debug!(id = request.id, request = ?request.request, "request");
        let result = dispatch(registry, config, request.request).await;
        if write_reply(&mut writer, request.id, result).await.is_err() {
            return;
        }
    }
}

async fn write_reply(
    writer: &mut OwnedWriteHalf,
    id: u32,
    result: Result<Response, ApiError>,
) -> std::io::Result<()> {
    let frame = encode_client_frame(&ClientReply { id, result }).or_else(|too_long| {
        let error = ApiError::new(
            ErrorKind::Internal,
            format!("the reply was too large to send: {too_long}"),
        );
        encode_client_frame(&ClientReply {
            id,
            result: Err(error),
        })
    });
    let frame = frame.expect("a short error always fits a frame");
    writer.write_all(&frame).await
}

async fn dispatch(
    registry: &Registry,
    config: &ServerConfig,
    request: Request,
) -> Result<Response, ApiError> {
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
        Request::ListPens => Ok(Response::Pens(registry.list())),
        Request::PenStatus { pen } => Ok(Response::PenStatus(registry.resolve(&pen)?.report())),
        Request::SetDepth {
            pen,
            depth_um,
            wait,
        } => {
            let handle = registry.resolve(&pen)?;
            let (reply, answer) = oneshot::channel();
            handle.send(PenCommand::SetDepth {
                depth_um,
                wait,
                reply,
            })?;
            match timeout(config.request_timeout, answer).await {
                Ok(Ok(result)) => {
                    if let Ok(report) = &result {
                        info!(pen = %report.serial, depth = %report.depth, "depth set");
                    }
                    result.map(Response::DepthSet)
                }
                Ok(Err(_)) => Err(ApiError::new(
                    ErrorKind::PenDisconnected,
                    format!("pen {} went away before answering", handle.serial()),
                )),
                Err(_) => Err(ApiError::new(
                    ErrorKind::PenTimeout,
                    format!(
                        "pen {} did not finish within {:?}",
                        handle.serial(),
                        config.request_timeout
                    ),
                )),
            }
        }
    }
}
