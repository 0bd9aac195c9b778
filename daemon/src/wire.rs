//! How requests and replies are encoded on the socket: length-prefixed postcard frames
//! ([`Postcard`]). Each encoding splits a stream into a [`RequestReader`] and a
//! [`FrameWriter`]; the server does the rest the same way for every encoding.

use std::future::Future;
use std::io;
use std::time::Duration;

use pen_protocol::api::{
    decode_request, encode_client_frame, payload_len, ApiError, ClientReply, ClientRequest,
    ErrorKind, ServerFrame, API_VERSION, FRAME_HEADER_LEN,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::time::timeout;

use crate::server::{Codec, ServerConfig};

/// What reading the next request gave.
#[derive(Debug)]
pub enum ReadOutcome {
    /// A request.
    Request(ClientRequest),
    /// The client hung up (or the stream failed).
    Closed,
    /// Bytes that cannot be a request: answer with this error (id 0) and disconnect.
    Unreadable(ApiError),
}

/// Reads requests from a client.
pub trait RequestReader: Send + 'static {
    /// The next request. Not cancel-safe: a read dropped halfway loses its bytes, which is
    /// fine because the server only drops it when it drops the connection.
    fn read(&mut self) -> impl Future<Output = ReadOutcome> + Send;
}

/// Writes frames to a client.
pub trait FrameWriter: Send + 'static {
    /// Writes one frame.
    fn write(&mut self, frame: &ServerFrame) -> impl Future<Output = io::Result<()>> + Send;
}

fn unreadable(message: String) -> ReadOutcome {
    ReadOutcome::Unreadable(ApiError::new(ErrorKind::BadRequest, message))
}

/// Length-prefixed postcard frames (`docs/api.md`).
pub struct Postcard;

/// Reads postcard request frames.
pub struct PostcardReader {
    reader: OwnedReadHalf,
    frame_timeout: Duration,
}

/// Writes postcard server frames.
pub struct PostcardWriter {
    writer: OwnedWriteHalf,
}

impl Codec for Postcard {
    fn split(
        &self,
        stream: UnixStream,
        config: &ServerConfig,
    ) -> (impl RequestReader, impl FrameWriter) {
        let (reader, writer) = stream.into_split();
        (
            PostcardReader {
                reader,
                frame_timeout: config.frame_timeout,
            },
            PostcardWriter { writer },
        )
    }
}

impl RequestReader for PostcardReader {
    async fn read(&mut self) -> ReadOutcome {
        let mut header = [0u8; FRAME_HEADER_LEN];
        if self.reader.read_exact(&mut header).await.is_err() {
            return ReadOutcome::Closed;
        }
        let len = match payload_len(header) {
            Ok(len) => len,
            Err(too_long) => return unreadable(too_long.to_string()),
        };
        // The length is capped above, so this allocation is bounded.
        let mut payload = vec![0u8; len];
        match timeout(self.frame_timeout, self.reader.read_exact(&mut payload)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return ReadOutcome::Closed,
            Err(_) => {
                return unreadable(format!(
                    "frame payload did not arrive within {:?}",
                    self.frame_timeout
                ))
            }
        }
        match decode_request(&payload) {
            Ok(request) => ReadOutcome::Request(request),
            Err(error) => unreadable(format!(
                "could not decode the request ({error}); is the client built for API v{API_VERSION}?"
            )),
        }
    }
}

impl FrameWriter for PostcardWriter {
    async fn write(&mut self, frame: &ServerFrame) -> io::Result<()> {
        let bytes = encode_client_frame(frame).or_else(|too_long| {
            // Only a reply can be that large (a list of very many pens): say so instead.
            let id = match frame {
                ServerFrame::Reply(reply) => reply.id,
                ServerFrame::Event(_) => 0,
            };
            let error = ApiError::new(
                ErrorKind::Internal,
                format!("the reply was too large to send: {too_long}"),
            );
            encode_client_frame(&ServerFrame::Reply(ClientReply {
                id,
                result: Err(error),
            }))
        });
        let bytes = bytes.expect("a short error always fits a frame");
        self.writer.write_all(&bytes).await
    }
}
