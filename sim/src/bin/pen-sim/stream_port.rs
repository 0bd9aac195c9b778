//! The pen on a Unix socket, with the stream transport: one host at a time, the pen's serial
//! sent first as the USB serial-number descriptor would be.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use pen_sim::stream::{encode_stream_frame, FrameBuffer};

use crate::HostPort;

/// A listening socket and the host connected to it, if any.
pub struct StreamPort {
    listener: UnixListener,
    serial: String,
    host: Option<(UnixStream, FrameBuffer)>,
}

impl StreamPort {
    /// Serves on `listener` (non-blocking) as the pen `serial`.
    pub fn new(listener: UnixListener, serial: &str) -> StreamPort {
        StreamPort {
            listener,
            serial: serial.to_string(),
            host: None,
        }
    }

    fn accept(&mut self) {
        let Ok((mut stream, _)) = self.listener.accept() else {
            return;
        };
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        // The stand-in for the USB serial-number descriptor.
        if stream
            .write_all(&encode_stream_frame(self.serial.as_bytes()))
            .is_ok()
        {
            self.host = Some((stream, FrameBuffer::new()));
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some((stream, _)) = self.host.as_mut() {
            if stream.write_all(bytes).is_err() {
                self.host = None;
            }
        }
    }
}

impl HostPort for StreamPort {
    fn receive(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        if self.host.is_none() {
            self.accept();
        }
        let Some((stream, buffer)) = self.host.as_mut() else {
            std::thread::sleep(wait);
            return Vec::new();
        };
        if stream.set_read_timeout(Some(wait)).is_err() {
            self.host = None;
            return Vec::new();
        }
        let mut chunk = [0u8; 1024];
        match stream.read(&mut chunk) {
            Ok(0) => {
                self.host = None;
                return Vec::new();
            }
            Ok(n) => buffer.push(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                self.host = None;
                return Vec::new();
            }
        }
        let mut frames = Vec::new();
        loop {
            match buffer.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => return frames,
                // A host that sends an impossible length has lost step: drop it.
                Err(_) => {
                    self.host = None;
                    return frames;
                }
            }
        }
    }

    fn send(&mut self, frame: &[u8]) {
        // With no host the frame goes nowhere, as on a USB bus nobody polls.
        self.write(&encode_stream_frame(frame));
    }

    fn send_oversized(&mut self) {
        let mut oversized = 2000u16.to_le_bytes().to_vec();
        oversized.extend([0u8; 16]);
        self.write(&oversized);
    }

    fn connected(&self) -> bool {
        self.host.is_some()
    }

    fn unplug(&mut self) {
        self.host = None;
    }

    fn describe(&self) -> String {
        self.listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_default()
    }
}
