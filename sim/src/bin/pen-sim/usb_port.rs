//! The pen as a real USB device (Linux): a configfs gadget with a FunctionFS vendor
//! interface (class 0xFF, bulk OUT and bulk IN), as a real pen enumerates. Needs root,
//! configfs, `libcomposite`, `usb_f_fs` and a USB device controller (`dummy_hcd` on a PC).
//!
//! Frames are USB messages as `pen_protocol::usb` defines them: ended by a short packet, or
//! by a zero-length packet when they fill their last packet exactly.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pen_protocol::usb::{in_transfer_len, needs_zlp, Reassembled, Reassembler, DEFAULT_VID_PID};
use usb_gadget::function::custom::{
    Custom, Endpoint, EndpointDirection, EndpointReceiver, EndpointSender, Event, Interface,
};
use usb_gadget::{Class, Config, Gadget, Id, RegGadget, Strings, Udc};

use crate::HostPort;

/// Receives ask for this much: a whole number of packets at any speed up to high speed
/// (a multiple of 512 is one of 8, 16, 32 and 64 too), more than the longest frame.
const RECEIVE_LEN: usize = in_transfer_len(512);

/// How long a frame may wait for the host to take it before it is dropped, as a pen's
/// firmware would drop what nobody polls.
const SEND_LIMIT: Duration = Duration::from_millis(100);

/// The pen's gadget and endpoints.
pub struct UsbPort {
    // Unbinds and removes the gadget when dropped.
    gadget: RegGadget,
    udc: String,
    receiver: EndpointReceiver,
    sender: EndpointSender,
    reassembler: Reassembler,
    /// Whether the host enabled the interface (set by the ep0 event thread).
    enabled: Arc<AtomicBool>,
}

/// Sysfs/configfs-safe gadget name for a serial.
fn gadget_name(serial: &str) -> String {
    let safe: String = serial
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("pen-{safe}")
}

impl UsbPort {
    /// Creates the gadget for pen `serial` and binds it to the controller `udc` (the first
    /// one if `None`).
    pub fn new(serial: &str, udc: Option<&str>) -> std::io::Result<UsbPort> {
        let udc: Udc = match udc {
            Some(name) => usb_gadget::udcs()?
                .into_iter()
                .find(|u| u.name() == name)
                .ok_or_else(|| std::io::Error::other(format!("no USB device controller {name}")))?,
            None => usb_gadget::default_udc()?,
        };
        let name = gadget_name(serial);
        // A gadget of ours left by a pen-sim that was killed: take its place.
        for old in usb_gadget::registered()? {
            if old.name() == name.as_str() {
                let _ = old.remove();
            }
        }
        let (receiver, out_direction) = EndpointDirection::host_to_device();
        let (sender, in_direction) = EndpointDirection::device_to_host();
        let (custom, handle) = Custom::builder()
            .with_interface(
                Interface::new(Class::vendor_specific(0, 0), "pen")
                    .with_endpoint(Endpoint::bulk(out_direction))
                    .with_endpoint(Endpoint::bulk(in_direction)),
            )
            .build();
        let mut gadget = Gadget::new(
            Class::INTERFACE_SPECIFIC,
            Id::new(DEFAULT_VID_PID.0, DEFAULT_VID_PID.1),
            Strings::new("pen-sim", "simulated microneedling pen", serial),
        )
        .with_config(Config::new("pen").with_function(handle));
        gadget.name = Some(name);
        let registered = gadget.bind(&udc)?;
        let enabled = Arc::new(AtomicBool::new(false));
        spawn_ep0(custom, enabled.clone());
        Ok(UsbPort {
            gadget: registered,
            udc: udc.name().to_string_lossy().into_owned(),
            receiver,
            sender,
            reassembler: Reassembler::new(),
            enabled,
        })
    }
}

/// Answers ep0 (the pen has no control requests of its own) and follows whether the host
/// has the interface enabled.
fn spawn_ep0(mut custom: Custom, enabled: Arc<AtomicBool>) {
    std::thread::spawn(move || loop {
        match custom.event_timeout(Duration::from_secs(1)) {
            Ok(Some(Event::Enable)) => enabled.store(true, Ordering::SeqCst),
            Ok(Some(Event::Disable | Event::Unbind | Event::Suspend)) => {
                enabled.store(false, Ordering::SeqCst)
            }
            Ok(Some(Event::SetupHostToDevice(request))) => drop(request.recv_all()),
            Ok(Some(Event::SetupDeviceToHost(request))) => drop(request.halt()),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    });
}

impl HostPort for UsbPort {
    fn receive(&mut self, wait: Duration) -> Vec<Vec<u8>> {
        if self.receiver.is_empty()
            && self
                .receiver
                .try_recv(BytesMut::with_capacity(RECEIVE_LEN))
                .is_err()
        {
            // Not enabled (unplugged, or the host has not configured us yet).
            std::thread::sleep(wait);
            return Vec::new();
        }
        let data = match self.receiver.fetch_timeout(wait) {
            Ok(Some(data)) => data,
            Ok(None) => return Vec::new(),
            Err(_) => {
                // Unbound while a read was queued (ESHUTDOWN): forget any half message.
                self.reassembler.clear();
                std::thread::sleep(wait);
                return Vec::new();
            }
        };
        match self.reassembler.push(&data, RECEIVE_LEN) {
            Reassembled::Frame(frame) => vec![frame.to_vec()],
            // Oversized host messages never reach the firmware.
            Reassembled::TooLong { .. } | Reassembled::Incomplete => Vec::new(),
        }
    }

    fn send(&mut self, frame: &[u8]) {
        if !self.enabled.load(Ordering::SeqCst) {
            return; // nobody polls
        }
        let packet = self.sender.max_packet_size().unwrap_or(512);
        let mut messages = vec![Bytes::copy_from_slice(frame)];
        if needs_zlp(frame.len(), packet) {
            messages.push(Bytes::new());
        }
        for message in messages {
            if self
                .sender
                .send_and_flush_timeout(message, SEND_LIMIT)
                .is_err()
            {
                let _ = self.sender.cancel();
                return;
            }
        }
    }

    fn send_oversized(&mut self) {
        self.send(&[0u8; 2000]);
    }

    fn connected(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    fn unplug(&mut self) {
        // As the controller is unbound by hand: the host sees the device disconnect. It
        // comes back when the UDC is written to the gadget's configfs `UDC` file again.
        if let Err(e) = self.gadget.bind(None) {
            eprintln!("pen-sim: cannot unbind the gadget: {e}");
        }
        self.enabled.store(false, Ordering::SeqCst);
        self.reassembler.clear();
    }

    fn describe(&self) -> String {
        format!("USB gadget on {}", self.udc)
    }
}
