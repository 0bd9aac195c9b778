//! Serves a [`SimGauge`] on a pseudo-terminal, so the daemon opens it like any serial gauge
//! (`/dev/pts/N`) and its real serial driver and settings are exercised. Linux only.

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::gauge::{GaugeAnswer, SimGauge};

/// Where the gauge's needle truth comes from.
pub type TruthSource = Box<dyn Fn() -> f64 + Send>;

/// A simulated gauge on a pty; stops (and the pty disappears) when dropped.
pub struct GaugePty {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl GaugePty {
    /// Opens a pty and serves `gauge` on it, reading the needle's truth from `truth`.
    pub fn spawn(gauge: SimGauge, truth: TruthSource) -> io::Result<GaugePty> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let path = PathBuf::from(name.to_string_lossy().into_owned());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("sim-gauge".into())
            .spawn({
                let stop = stop.clone();
                move || serve(master, gauge, truth, &stop)
            })?;
        Ok(GaugePty {
            path,
            stop,
            thread: Some(thread),
        })
    }

    /// The serial device to open, e.g. `/dev/pts/3`.
    pub fn path(&self) -> &PathBuf {
        &self.path
    }
}

impl Drop for GaugePty {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(master: OwnedFd, mut gauge: SimGauge, truth: TruthSource, stop: &AtomicBool) {
    let origin = Instant::now();
    let mut pending = Vec::new();
    let tick = Timespec {
        tv_sec: 0,
        tv_nsec: 20_000_000,
    };
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(&master, PollFlags::IN)];
        match poll(&mut fds, Some(&tick)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let mut chunk = [0u8; 256];
        match rustix::io::read(&master, &mut chunk) {
            Ok(0) | Err(_) => {
                // Nobody has the terminal open (EIO): wait for the driver to come back.
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
        }
        // Garbage without a CR must not pile up forever.
        if pending.len() > 256 {
            pending.clear();
        }
        while let Some(end) = pending.iter().position(|&b| b == b'\r') {
            let command: Vec<u8> = pending.drain(..=end).collect();
            let command = String::from_utf8_lossy(&command[..end]).into_owned();
            match gauge.answer(&command, truth(), origin.elapsed()) {
                GaugeAnswer::Reply(reply) => {
                    std::thread::sleep(SimGauge::line_time(&command, &reply));
                    if rustix::io::write(&master, reply.as_bytes()).is_err() {
                        return;
                    }
                }
                GaugeAnswer::Silence => {}
                GaugeAnswer::Unplugged => return, // closing the master hangs up the line
            }
        }
    }
}
