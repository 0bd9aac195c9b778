//! A link to a simulated pen in another process (`pen-sim --listen PATH`), over the stream
//! transport of `pen_sim::stream`: length-prefixed frames on a Unix socket, the pen's serial
//! sent first as the USB serial-number descriptor would be.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pen_sim::stream::{encode_stream_frame, FrameBuffer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

use super::{LinkError, PenLink};

/// The host end of a stream link.
pub struct StreamLink {
    serial: String,
    path: PathBuf,
    stream: UnixStream,
    buffer: FrameBuffer,
}

impl StreamLink {
    /// Connects to the pen at `path` and reads its serial, waiting at most `limit`.
    pub async fn connect(path: &Path, limit: Duration) -> Result<StreamLink, LinkError> {
        let stream = timeout(limit, UnixStream::connect(path))
            .await
            .map_err(|_| LinkError::Transport("timed out connecting".into()))?
            .map_err(|e| LinkError::Transport(e.to_string()))?;
        let mut link = StreamLink {
            serial: String::new(),
            path: path.to_path_buf(),
            stream,
            buffer: FrameBuffer::new(),
        };
        let descriptor = timeout(limit, link.recv())
            .await
            .map_err(|_| LinkError::Transport("the pen did not say its serial".into()))??;
        link.serial = String::from_utf8(descriptor)
            .map_err(|_| LinkError::Transport("the pen's serial is not UTF-8".into()))?;
        Ok(link)
    }
}

impl PenLink for StreamLink {
    async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.stream
            .write_all(&encode_stream_frame(frame))
            .await
            .map_err(|_| LinkError::Disconnected)
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        loop {
            match self.buffer.next_frame() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(too_long) => return Err(LinkError::FrameTooLong { len: too_long.len }),
            }
            // Cancel-safe: bytes read land in the buffer before anything else can happen.
            let mut chunk = [0u8; 1024];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(LinkError::Disconnected),
                Ok(n) => self.buffer.push(&chunk[..n]),
            }
        }
    }

    fn serial(&self) -> &str {
        &self.serial
    }

    fn describe(&self) -> String {
        format!("sim socket {}", self.path.display())
    }
}
