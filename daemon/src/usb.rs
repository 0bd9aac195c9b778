//! Real pens on USB: find them at start, follow them as they are plugged and unplugged.
//!
//! Hot-plug events come from `nusb::watch_devices()`, started before the first listing so
//! nothing plugged in between is missed; the bus is re-listed periodically as a backstop
//! (events can be lost, and a device whose permissions were fixed sends none). Each device
//! is opened in a task of its own, so one pen's slow or failing open never delays another.
//! A pen that goes away is noticed by its link (its transfers fail) and its session ends;
//! when its serial comes back, a new session handshakes it again.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use nusb::hotplug::{HotplugEvent, HotplugWatch};
use nusb::{DeviceId, DeviceInfo};
use pen_protocol::api::PenState;
use pen_protocol::usb::{DEFAULT_VID_PID, PEN_INTERFACE_CLASS};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::link::usb::{device_node, location, OpenError, UsbLink};
use crate::registry::Registry;

/// Where Linux shows its USB devices; absent in most containers.
const USB_SYSFS: &str = "/sys/bus/usb";

/// The one-line fix for a pen pend may not open, printed by `penctl list`.
pub const NO_ACCESS_FIX: &str =
    "install the pen's udev rule (70-pen.rules, which gives the pen to \
     the system group `pen`; the pend package does), add pend's user to group `pen`, then \
     `udevadm control --reload && udevadm trigger` and restart pend";

/// Which devices are pens, and how to talk to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsbConfig {
    /// Vendor ID to match.
    pub vendor_id: u16,
    /// Product ID to match.
    pub product_id: u16,
    /// How often the bus is re-listed besides hot-plug events.
    pub rescan: Duration,
    /// How long a pen may take to accept one frame.
    pub send_limit: Duration,
}

impl Default for UsbConfig {
    fn default() -> Self {
        UsbConfig {
            vendor_id: DEFAULT_VID_PID.0,
            product_id: DEFAULT_VID_PID.1,
            rescan: Duration::from_secs(2),
            send_limit: Duration::from_secs(1),
        }
    }
}

/// Parses `VID:PID` in hex (`1209:0001`).
pub fn parse_vid_pid(text: &str) -> Result<(u16, u16), String> {
    let (vid, pid) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected VID:PID in hex, like 1209:0001"))?;
    let hex = |part: &str| {
        u16::from_str_radix(part, 16)
            .map_err(|_| format!("{text:?}: {part:?} is not a 16-bit hex number"))
    };
    Ok((hex(vid)?, hex(pid)?))
}

/// Follows the pens on USB until the returned task is aborted. Returns `None`, after saying
/// so once, on a machine without a USB subsystem. The first listing is done (and its pens
/// attached) before this returns.
pub async fn watch_pens(registry: Arc<Registry>, config: UsbConfig) -> Option<JoinHandle<()>> {
    if !Path::new(USB_SYSFS).exists() {
        warn!("no USB subsystem on this machine ({USB_SYSFS} is missing); no USB pens");
        return None;
    }
    // Before the first listing, so a pen plugged in meanwhile is still seen.
    let events = match nusb::watch_devices() {
        Ok(events) => Some(events),
        Err(error) => {
            warn!(%error, rescan = ?config.rescan, "no USB hot-plug events; re-listing only");
            None
        }
    };
    let watcher = Watcher {
        registry,
        config,
        attached: Arc::new(Mutex::new(HashSet::new())),
    };
    let first: Vec<JoinHandle<()>> = watcher.rescan().await;
    for open in first {
        let _ = open.await;
    }
    info!(
        vid = format!("{:04x}", config.vendor_id),
        pid = format!("{:04x}", config.product_id),
        "watching USB for pens"
    );
    Some(tokio::spawn(watcher.run(events)))
}

struct Watcher {
    registry: Arc<Registry>,
    config: UsbConfig,
    /// Devices handled already (opened, or not pens): not opened again until they go away.
    attached: Arc<Mutex<HashSet<DeviceId>>>,
}

impl Watcher {
    async fn run(self, mut events: Option<HotplugWatch>) {
        let mut rescan = tokio::time::interval(self.config.rescan);
        rescan.tick().await;
        loop {
            tokio::select! {
                event = next_event(&mut events) => match event {
                    Some(HotplugEvent::Connected(info)) => {
                        if self.is_pen(&info) {
                            self.open(info);
                        }
                    }
                    Some(HotplugEvent::Disconnected(id)) => {
                        self.forget(id);
                    }
                    None => {
                        warn!(rescan = ?self.config.rescan, "USB hot-plug events stopped; re-listing only");
                        events = None;
                    }
                },
                _ = rescan.tick() => {
                    self.rescan().await;
                }
            }
        }
    }

    fn is_pen(&self, info: &DeviceInfo) -> bool {
        info.vendor_id() == self.config.vendor_id
            && info.product_id() == self.config.product_id
            && info
                .interfaces()
                .any(|interface| interface.class() == PEN_INTERFACE_CLASS)
    }

    fn forget(&self, id: DeviceId) {
        self.attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Lists the bus; opens pens not handled yet, forgets devices that are gone.
    async fn rescan(&self) -> Vec<JoinHandle<()>> {
        let devices: Vec<DeviceInfo> = match nusb::list_devices().await {
            Ok(devices) => devices.collect(),
            Err(error) => {
                warn!(%error, "cannot list USB devices");
                return Vec::new();
            }
        };
        let present: HashSet<DeviceId> = devices.iter().map(DeviceInfo::id).collect();
        self.attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id| present.contains(id));
        devices
            .into_iter()
            .filter(|info| self.is_pen(info))
            .filter_map(|info| self.open(info))
            .collect()
    }

    /// Opens a pen in a task of its own, unless it is handled already.
    fn open(&self, info: DeviceInfo) -> Option<JoinHandle<()>> {
        if !self
            .attached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(info.id())
        {
            return None;
        }
        let registry = self.registry.clone();
        let attached = self.attached.clone();
        let send_limit = self.config.send_limit;
        Some(tokio::spawn(async move {
            let serial = info.serial_number().unwrap_or("").to_string();
            if !serial.is_empty() && registry.is_live(&serial) {
                warn!(pen = %serial, at = %location(&info),
                    "a second device says it is pen {serial}, which is connected; ignored");
                return;
            }
            match UsbLink::open(&info, send_limit).await {
                Ok(link) => {
                    info!(pen = %serial, at = %location(&info), "pen plugged in");
                    registry.attach(link);
                }
                Err(OpenError::PermissionDenied { node }) => {
                    warn!(pen = %serial, %node, "permission denied opening the pen; {NO_ACCESS_FIX}");
                    if !serial.is_empty() {
                        let fix = NO_ACCESS_FIX.to_string();
                        registry.mark_inaccessible(
                            &serial,
                            &location(&info),
                            PenState::NoAccess { node, fix },
                        );
                    }
                    // Tried again at the next listing: the rule may be fixed meanwhile.
                    attached
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&info.id());
                }
                Err(error @ (OpenError::NotAPen | OpenError::NoSerial)) => {
                    warn!(node = %device_node(&info), %error, "device matches the pen's VID:PID but is not usable");
                }
                Err(error) => {
                    warn!(pen = %serial, node = %device_node(&info), %error, "cannot open the pen; will retry");
                    attached
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&info.id());
                }
            }
        }))
    }
}

async fn next_event(events: &mut Option<HotplugWatch>) -> Option<HotplugEvent> {
    match events {
        Some(events) => events.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vid_pid_parses_hex_and_says_what_is_wrong() {
        assert_eq!(parse_vid_pid("1209:0001"), Ok((0x1209, 0x0001)));
        assert_eq!(parse_vid_pid("CAFE:beef"), Ok((0xcafe, 0xbeef)));
        assert!(parse_vid_pid("12090001").unwrap_err().contains("VID:PID"));
        assert!(parse_vid_pid("1209:xyz").unwrap_err().contains("\"xyz\""));
        assert!(parse_vid_pid("12345:0001").is_err());
    }
}
