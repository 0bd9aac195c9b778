//! How requests and replies are encoded on the sockets: length-prefixed postcard frames
//! ([`Postcard`]) on the main socket, newline-delimited JSON ([`JsonLines`]) on the second.
//! Each encoding splits a stream into a [`RequestReader`] and a [`FrameWriter`]; the server
//! does the rest the same way for both, so the two APIs cannot drift apart.

use std::future::Future;
use std::io;
use std::time::Duration;

use pen_protocol::api::{
    decode_request, encode_client_frame, payload_len, ApiError, ClientReply, ClientRequest,
    ErrorKind, ServerFrame, API_VERSION, FRAME_HEADER_LEN, MAX_CLIENT_FRAME,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
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
    /// Bytes that cannot be a request, after which the stream cannot be trusted: answer
    /// with this error (id 0) and disconnect.
    Unreadable(ApiError),
    /// A request that could not be read, but the stream is still in step (a bad JSON line):
    /// answer with this error (id 0) and read on.
    Rejected(ApiError),
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

/// Newline-delimited JSON (`docs/api.md`, "JSON interface"): one request per line in, one
/// server frame per line out, the same messages as the postcard API in serde's JSON form.
pub struct JsonLines;

/// Reads JSON request lines.
pub struct JsonReader {
    reader: BufReader<OwnedReadHalf>,
    frame_timeout: Duration,
}

/// Writes JSON server frame lines.
pub struct JsonWriter {
    writer: OwnedWriteHalf,
}

impl Codec for JsonLines {
    fn split(
        &self,
        stream: UnixStream,
        config: &ServerConfig,
    ) -> (impl RequestReader, impl FrameWriter) {
        let (reader, writer) = stream.into_split();
        (
            JsonReader {
                reader: BufReader::new(reader),
                frame_timeout: config.frame_timeout,
            },
            JsonWriter { writer },
        )
    }
}

impl JsonReader {
    /// Reads through the next newline into `line`, refusing to hold more than the limit.
    /// Returns `Ok(false)` at the end of the stream.
    async fn read_line(&mut self, line: &mut Vec<u8>) -> Result<bool, ReadOutcome> {
        loop {
            let available = match self.reader.fill_buf().await {
                Ok([]) | Err(_) => return Ok(false),
                Ok(bytes) => bytes,
            };
            let (taken, ended) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (end + 1, true),
                None => (available.len(), false),
            };
            line.extend_from_slice(&available[..taken]);
            self.reader.consume(taken);
            if line.len() > MAX_CLIENT_FRAME + 1 {
                return Err(unreadable(format!(
                    "request line longer than the {MAX_CLIENT_FRAME} byte limit"
                )));
            }
            if ended {
                return Ok(true);
            }
        }
    }
}

impl RequestReader for JsonReader {
    async fn read(&mut self) -> ReadOutcome {
        // Wait as long as it takes for a line to start, then bound the rest of it in time;
        // its length is bounded as it arrives.
        match self.reader.fill_buf().await {
            Ok([]) | Err(_) => return ReadOutcome::Closed,
            Ok(_) => {}
        }
        let mut line = Vec::new();
        match timeout(self.frame_timeout, self.read_line(&mut line)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) => return ReadOutcome::Closed, // the client hung up mid-line
            Ok(Err(too_long)) => return too_long,
            Err(_) => {
                return unreadable(format!(
                    "the request line did not end within {:?}",
                    self.frame_timeout
                ))
            }
        }
        let text = line.trim_ascii();
        if text.is_empty() {
            return ReadOutcome::Rejected(ApiError::new(ErrorKind::BadRequest, "empty line"));
        }
        match serde_json::from_slice(text) {
            Ok(request) => ReadOutcome::Request(request),
            Err(error) => ReadOutcome::Rejected(ApiError::new(
                ErrorKind::BadRequest,
                format!(
                    "could not read the request ({error}); see docs/api.md for the JSON form, e.g. {{\"id\": 1, \"request\": \"ListPens\"}}"
                ),
            )),
        }
    }
}

impl FrameWriter for JsonWriter {
    async fn write(&mut self, frame: &ServerFrame) -> io::Result<()> {
        let mut line = serde_json::to_vec(frame).map_err(io::Error::other)?;
        line.push(b'\n');
        self.writer.write_all(&line).await
    }
}
