//! Links to pens: the transport under the pen protocol.
//!
//! A [`PenLink`] moves whole frames (one postcard-encoded pen frame each) to and from one pen.
//! It is shaped for USB bulk transfers: one OUT transfer per frame sent, one IN transfer per
//! frame received, nothing assumed about timing. Timeouts belong to the caller (the session),
//! which is why [`PenLink::recv`] must be cancel-safe.

pub mod sim;
pub mod stream;
pub mod usb;

use std::future::Future;
use std::sync::Arc;

use pen_protocol::api::SimDiagnostics;

/// A link failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The pen is gone (unplugged, powered off, simulator stopped).
    #[error("pen disconnected")]
    Disconnected,
    /// The pen sent a frame longer than the protocol allows; it was not read.
    #[error("pen sent an oversized frame ({len} bytes)")]
    FrameTooLong {
        /// Its length.
        len: usize,
    },
    /// Any other transport failure, described.
    #[error("link error: {0}")]
    Transport(String),
}

/// Reads the simulated truth of a simulated pen, for diagnostics.
pub type SimProbe = Arc<dyn Fn() -> SimDiagnostics + Send + Sync>;

/// A frame transport to one pen.
pub trait PenLink: Send + 'static {
    /// Sends one frame.
    fn send(&mut self, frame: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Waits for the next frame from the pen.
    ///
    /// Must be cancel-safe: if the future is dropped before it completes, no frame is lost.
    fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>, LinkError>> + Send;

    /// The serial number the transport reports before the handshake (e.g. from the USB
    /// descriptor); the handshake checks the pen says the same.
    fn serial(&self) -> &str;

    /// How the pen is attached, for people: `sim`, `usb 1-2`.
    fn describe(&self) -> String;

    /// For a simulated pen, a probe for its physical truth.
    fn sim_probe(&self) -> Option<SimProbe> {
        None
    }
}
