//! What pend does with systemd, without linking libsystemd: sockets handed over at start
//! (socket activation, `LISTEN_FDS`), readiness and watchdog notifications (`NOTIFY_SOCKET`),
//! and telling whether stderr goes to the journal (`JOURNAL_STREAM`).
//!
//! The protocols are small and stable (sd_listen_fds(3), sd_notify(3)); each function reads
//! its variables once and does nothing when they are absent, so pend behaves the same by hand.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The first file descriptor systemd passes.
const LISTEN_FDS_START: RawFd = 3;

/// At most this many inherited sockets are taken (pend uses two).
const MAX_LISTEN_FDS: usize = 8;

/// Sockets systemd passed to this process, in the order of the unit's `ListenStream=` lines.
/// Empty when not socket-activated. The variables are removed so children do not take them.
pub fn listen_fds() -> Vec<OwnedFd> {
    let pid_matches = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    // SAFETY: single-threaded at this point (called before the runtime starts).
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    if !pid_matches {
        return Vec::new();
    }
    (0..count.min(MAX_LISTEN_FDS))
        .filter_map(|i| {
            let fd = LISTEN_FDS_START + i as RawFd;
            // SAFETY: systemd hands these descriptors to this process to own; nothing else
            // in pend has opened or claimed them.
            let owned = unsafe { OwnedFd::from_raw_fd(fd) };
            rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)
                .ok()
                .map(|()| owned)
        })
        .collect()
}

/// Sends state changes to systemd (`READY=1`, `WATCHDOG=1`, `STOPPING=1`, `STATUS=...`).
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl Notifier {
    /// The notifier for `$NOTIFY_SOCKET`, if pend runs under a unit with `Type=notify`.
    pub fn from_env() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let path = path.to_string_lossy().into_owned();
        let address = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok()?,
            None => SocketAddr::from_pathname(&path).ok()?,
        };
        let socket = UnixDatagram::unbound().ok()?;
        Some(Notifier { socket, address })
    }

    /// Sends one notification; failures are only logged (systemd may be gone at shutdown).
    pub fn notify(&self, state: &str) {
        if let Err(error) = self.socket.send_to_addr(state.as_bytes(), &self.address) {
            tracing::debug!(%error, state, "could not notify systemd");
        }
    }
}

/// How often to ping the watchdog: half of `$WATCHDOG_USEC`, when it is meant for us.
pub fn watchdog_interval() -> Option<Duration> {
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Whether stderr is connected to the journal (systemd sets `JOURNAL_STREAM` to its
/// `device:inode`), so logs should go to journald with their fields.
pub fn stderr_is_journal() -> bool {
    let Ok(expected) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(stat) = rustix::fs::fstat(rustix::stdio::stderr()) else {
        return false;
    };
    expected == format!("{}:{}", stat.st_dev, stat.st_ino)
}
