//! A link to a real pen on USB (nusb): one vendor interface, bulk OUT for host frames, bulk
//! IN for the pen's. Where a frame ends is `pen_protocol::usb`'s business (short packets and
//! zero-length packets); this file moves the transfers.
//!
//! Receives stay submitted all the time (the pen sends events unasked), so a reply that comes
//! after its request timed out is simply received later and discarded by the session's
//! request tracker by its sequence number. A send that the pen does not take within the send
//! timeout is cancelled and its transfers drained before the link is used again: a cancelled
//! nusb transfer completes asynchronously, and must not be mistaken for the next one.

use std::time::Duration;

use nusb::descriptors::TransferType;
use nusb::transfer::{Buffer, Bulk, Direction, In, Out, TransferError};
use nusb::{DeviceInfo, Endpoint, Interface};
use pen_protocol::pen::MAX_PEN_FRAME;
use pen_protocol::usb::{
    in_transfer_len, needs_zlp, Reassembled, Reassembler, PEN_INTERFACE_CLASS,
};
use tokio::time::timeout;
use tracing::{debug, warn};

use super::{LinkError, PenLink};

/// Receive transfers kept submitted, so the pen never waits for the host to ask.
const RECEIVES_IN_FLIGHT: usize = 2;

/// How long a cancelled transfer may take to come back before the link gives up on it.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// Why a USB device could not be opened as a pen.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The usbfs node is not ours to open: the udev rule is missing or we are not in its
    /// group.
    #[error("permission denied opening {node}")]
    PermissionDenied {
        /// The device node.
        node: String,
    },
    /// The device has no vendor interface with a bulk IN and a bulk OUT endpoint.
    #[error("no pen interface (vendor class, bulk IN and OUT) on this device")]
    NotAPen,
    /// The device reports no serial number, so it cannot be told from other pens.
    #[error("the device has no serial number")]
    NoSerial,
    /// Anything else nusb reported.
    #[error("{0}")]
    Usb(String),
}

/// The host end of a USB link.
pub struct UsbLink {
    serial: String,
    location: String,
    // Kept so the claim lasts as long as the link.
    _interface: Interface,
    out: Endpoint<Bulk, Out>,
    inp: Endpoint<Bulk, In>,
    in_len: usize,
    reassembler: Reassembler,
    send_limit: Duration,
}

/// The usbfs node of a device, for messages and permission hints.
pub fn device_node(info: &DeviceInfo) -> String {
    format!(
        "/dev/bus/usb/{:03}/{:03}",
        info.busnum(),
        info.device_address()
    )
}

/// Where a device sits, for people: `usb 1-1`.
pub fn location(info: &DeviceInfo) -> String {
    let ports: Vec<String> = info.port_chain().iter().map(u8::to_string).collect();
    format!("usb {}-{}", info.busnum(), ports.join("."))
}

impl UsbLink {
    /// Opens the pen `info` describes, claims its interface and starts receiving. Sends that
    /// the pen does not take within `send_limit` fail (and are cancelled).
    pub async fn open(info: &DeviceInfo, send_limit: Duration) -> Result<UsbLink, OpenError> {
        let serial = info
            .serial_number()
            .filter(|s| !s.is_empty())
            .ok_or(OpenError::NoSerial)?
            .to_string();
        let device = info.open().await.map_err(|e| match e.kind() {
            nusb::ErrorKind::PermissionDenied => OpenError::PermissionDenied {
                node: device_node(info),
            },
            _ => OpenError::Usb(format!("cannot open {}: {e}", device_node(info))),
        })?;
        let configuration = device
            .active_configuration()
            .map_err(|e| OpenError::Usb(format!("no active configuration: {e}")))?;
        let mut found = None;
        for alt in configuration.interface_alt_settings() {
            if alt.class() != PEN_INTERFACE_CLASS {
                continue;
            }
            let (mut out, mut inp) = (None, None);
            for endpoint in alt.endpoints() {
                if endpoint.transfer_type() == TransferType::Bulk {
                    match endpoint.direction() {
                        Direction::Out => out = Some(endpoint.address()),
                        Direction::In => inp = Some(endpoint.address()),
                    }
                }
            }
            if let (Some(out), Some(inp)) = (out, inp) {
                found = Some((alt.interface_number(), out, inp));
                break;
            }
        }
        let (number, out, inp) = found.ok_or(OpenError::NotAPen)?;
        let interface = device
            .claim_interface(number)
            .await
            .map_err(|e| OpenError::Usb(format!("cannot claim interface {number}: {e}")))?;
        let endpoint_error = |e: nusb::Error| OpenError::Usb(format!("endpoint: {e}"));
        let out = interface
            .endpoint::<Bulk, Out>(out)
            .map_err(endpoint_error)?;
        let inp = interface
            .endpoint::<Bulk, In>(inp)
            .map_err(endpoint_error)?;
        let in_len = in_transfer_len(inp.max_packet_size());
        let mut link = UsbLink {
            serial,
            location: location(info),
            _interface: interface,
            out,
            inp,
            in_len,
            reassembler: Reassembler::new(),
            send_limit,
        };
        while link.inp.pending() < RECEIVES_IN_FLIGHT {
            link.submit_receive();
        }
        Ok(link)
    }

    fn submit_receive(&mut self) {
        let mut buffer = self.inp.allocate(self.in_len);
        buffer.set_requested_len(self.in_len);
        self.inp.submit(buffer);
    }

    /// Cancels every send in flight and waits (bounded) until each has come back.
    async fn drain_sends(&mut self) {
        self.out.cancel_all();
        while self.out.pending() > 0 {
            if timeout(DRAIN_LIMIT, self.out.next_complete())
                .await
                .is_err()
            {
                warn!(pen = %self.serial, "a cancelled USB send did not come back");
                return;
            }
        }
    }
}

/// A transfer error as the session sees it: a pen that went away, stalled or faulted is gone
/// (all three happen on unplug); it comes back through hot-plug.
fn link_error(serial: &str, error: TransferError) -> LinkError {
    debug!(pen = %serial, %error, "USB transfer failed");
    match error {
        TransferError::Disconnected | TransferError::Stall | TransferError::Fault => {
            LinkError::Disconnected
        }
        other => LinkError::Transport(format!("USB transfer failed: {other}")),
    }
}

impl PenLink for UsbLink {
    async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        let packet = self.out.max_packet_size();
        let mut buffer = Buffer::new(frame.len());
        buffer.extend_from_slice(frame);
        self.out.submit(buffer);
        if needs_zlp(frame.len(), packet) {
            self.out.submit(Buffer::new(0));
        }
        let limit = self.send_limit;
        let sent = timeout(limit, async {
            while self.out.pending() > 0 {
                self.out.next_complete().await.status?;
            }
            Ok(())
        })
        .await;
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => {
                self.drain_sends().await;
                Err(link_error(&self.serial, error))
            }
            Err(_) => {
                self.drain_sends().await;
                Err(LinkError::Transport(format!(
                    "the pen did not take a frame within {limit:?}"
                )))
            }
        }
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        loop {
            // Cancel-safe: `next_complete` leaves the completion queued if dropped.
            let completion = self.inp.next_complete().await;
            let requested = completion.buffer.requested_len();
            let mut buffer = match completion.into_result() {
                Ok(buffer) => buffer,
                Err(TransferError::Cancelled) => {
                    self.submit_receive();
                    continue;
                }
                Err(error) => return Err(link_error(&self.serial, error)),
            };
            let frame = match self.reassembler.push(&buffer, requested) {
                Reassembled::Incomplete => None,
                Reassembled::Frame(frame) => Some(frame.to_vec()),
                // USB keeps message boundaries, so the link stays in step: drop it and go on.
                Reassembled::TooLong { len } => {
                    warn!(pen = %self.serial, len, max = MAX_PEN_FRAME, "pen sent an oversized message; dropped");
                    None
                }
            };
            // Give the buffer back before handing the frame up.
            buffer.clear();
            buffer.set_requested_len(self.in_len);
            self.inp.submit(buffer);
            if let Some(frame) = frame {
                return Ok(frame);
            }
        }
    }

    fn serial(&self) -> &str {
        &self.serial
    }

    fn describe(&self) -> String {
        self.location.clone()
    }
}
