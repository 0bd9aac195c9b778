//! An in-process link to a simulated pen: the pen's firmware runs in its own task, behind two
//! bounded channels that stand in for the USB endpoints.

use std::sync::{Arc, Mutex, MutexGuard};

use pen_protocol::api::SimDiagnostics;
use pen_sim::{Firmware, SimPenConfig};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

use super::{LinkError, PenLink, SimProbe};

/// Frames that may wait in each direction, like the few packets a USB endpoint buffers.
const CHANNEL_FRAMES: usize = 32;

/// The host end of a link to an in-process simulated pen.
pub struct SimLink {
    serial: String,
    to_pen: mpsc::Sender<Vec<u8>>,
    from_pen: mpsc::Receiver<Vec<u8>>,
    firmware: Arc<Mutex<Firmware>>,
    /// The pen's power-up: its firmware counts time from here.
    origin: Instant,
}

/// Serial numbers for `pend --sim N`: the same on every run.
pub fn sim_serial(index: usize) -> String {
    format!("SIM-{:04}", index + 1)
}

impl SimLink {
    /// Powers up a simulated pen in a task of its own and returns the link to it. The pen
    /// runs until the link is dropped (which is the pen being unplugged).
    pub fn spawn(config: SimPenConfig) -> SimLink {
        let firmware = Arc::new(Mutex::new(Firmware::new(&config)));
        let (to_pen, from_host) = mpsc::channel(CHANNEL_FRAMES);
        let (to_host, from_pen) = mpsc::channel(CHANNEL_FRAMES);
        let origin = Instant::now();
        tokio::spawn(run_pen(firmware.clone(), origin, from_host, to_host));
        SimLink {
            serial: config.serial,
            to_pen,
            from_pen,
            firmware,
            origin,
        }
    }
}

fn lock(firmware: &Mutex<Firmware>) -> MutexGuard<'_, Firmware> {
    // A panic inside the firmware would be a bug in the simulator; its state is still the best
    // account of the simulated pen there is.
    firmware
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The pen's microcontroller: feeds frames and time to the firmware, ships what it sends.
async fn run_pen(
    firmware: Arc<Mutex<Firmware>>,
    origin: Instant,
    mut from_host: mpsc::Receiver<Vec<u8>>,
    to_host: mpsc::Sender<Vec<u8>>,
) {
    loop {
        let deadline = lock(&firmware).next_deadline().map(|d| origin + d);
        tokio::select! {
            frame = from_host.recv() => match frame {
                Some(bytes) => lock(&firmware).handle_frame(&bytes, origin.elapsed()),
                None => return,
            },
            _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                lock(&firmware).poll(origin.elapsed());
            }
        }
        loop {
            let next = lock(&firmware).poll_transmit();
            let Some(bytes) = next else { break };
            if to_host.send(bytes).await.is_err() {
                return;
            }
        }
    }
}

impl PenLink for SimLink {
    async fn send(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        self.to_pen
            .send(frame.to_vec())
            .await
            .map_err(|_| LinkError::Disconnected)
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        // mpsc::Receiver::recv is cancel-safe.
        self.from_pen.recv().await.ok_or(LinkError::Disconnected)
    }

    fn serial(&self) -> &str {
        &self.serial
    }

    fn describe(&self) -> String {
        "sim".to_string()
    }

    fn sim_probe(&self) -> Option<SimProbe> {
        let (firmware, origin) = (self.firmware.clone(), self.origin);
        Some(Arc::new(move || {
            let fw = lock(&firmware);
            SimDiagnostics {
                true_protrusion_um: fw.true_protrusion_um(),
                max_true_protrusion_um: fw.deepest_protrusion_um(),
                needling: fw.needling().is_some(),
                identifying: fw.is_identifying(origin.elapsed()),
            }
        }))
    }
}
