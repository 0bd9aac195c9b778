//! `pen-sim`: a simulated pen in a process of its own, served on a Unix socket with the
//! stream transport (`pen_sim::stream`), which `pend --sim-socket PATH` drives, or (Linux,
//! `--usb`) as a real USB device through a configfs gadget, which `pend` finds on USB.
//!
//! Because the pen outlives the daemon, this is how the pen's own safety is tested: kill
//! `pend` and the pen's watchdog must stop and retract it. For that, `pen-sim` prints its
//! physical truth to stdout as JSON lines whenever it changes:
//!
//! `{"t_ms":1234,"last_host_frame_ms":1100,"host":true,"protrusion_um":497.8,"needling":true,"parked":false,"watchdog_trips":0}`
//!
//! `t_ms` and `last_host_frame_ms` count from the pen's power-up.
//!
//! `--flash FILE` keeps its calibration table and limits in a file; `--gauge-pty LINK`
//! serves a simulated Sylvac gauge measuring it; `--fault` injects faults (see `--help`).

mod stream_port;
#[cfg(target_os = "linux")]
mod usb_port;

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Parser;
use pen_protocol::limits::{keyfile, public_key};
use pen_protocol::pen::{decode_host_frame, HostFrame, HostRequest};
use pen_sim::flash::FlashImage;
use pen_sim::gauge::{GaugeFaults, SimGauge};
use pen_sim::gauge_pty::GaugePty;
use pen_sim::keys::{SIM_KEY_2026, SIM_KEY_2027};
use pen_sim::{Firmware, SimPenConfig};
use stream_port::StreamPort;

/// A simulated microneedling pen on a Unix socket, or on USB.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Socket to serve the pen on
    #[arg(long, value_name = "PATH", required_unless_present_any = ["export_keys", "usb"])]
    listen: Option<PathBuf>,
    /// Be a USB device instead (Linux, root): a configfs gadget 1209:0001 with a vendor
    /// interface, bound to the USB device controller --udc
    #[arg(long, conflicts_with = "listen")]
    usb: bool,
    /// The USB device controller to bind to (see /sys/class/udc) [default: the first]
    #[arg(long, value_name = "NAME", requires = "usb")]
    udc: Option<String>,
    /// The pen's serial number
    #[arg(long, default_value = "SIM-9001")]
    serial: String,
    /// Seeds the pen's mechanics, factory table and noise
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many days ago the factory calibrated the pen
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    factory_age_days: u64,
    /// The pen's flash: its committed calibration table is kept in this file (loaded at
    /// power-up, rewritten atomically on every commit)
    #[arg(long, value_name = "FILE")]
    flash: Option<PathBuf>,
    /// Also simulate a Sylvac reference gauge touching this pen, on a pseudo-terminal
    /// reachable through a symlink at LINK (for `--gauge sylvac:LINK`)
    #[arg(long, value_name = "LINK")]
    gauge_pty: Option<PathBuf>,
    /// Inject faults, comma-separated: `exit-on-stage` (power lost the moment a table or
    /// bundle is staged), `silent-after=N` (deaf and mute after N frames from the host),
    /// `late-every=N:MS` (every Nth frame to the host MS late), `garbage-every=N` (junk after
    /// every Nth frame), `oversized-after=N` (an impossible frame length after N frames),
    /// `unplug-on-move=N` (the cable is pulled as the Nth move request arrives, before it is
    /// answered: the host sees it go mid-request; `--usb` unbinds the gadget, a socket closes)
    #[arg(long, value_name = "FAULTS")]
    fault: Option<String>,
    /// Write the simulated manufacturer's limits keys (secret and public, SIMULATION ONLY)
    /// to DIR and exit
    #[arg(long, value_name = "DIR")]
    export_keys: Option<PathBuf>,
}

/// Longest the loop sleeps, so a new host or a deadline is never missed by much.
const TICK: Duration = Duration::from_millis(2);

/// What the truth log reports; a line is printed whenever it changes.
#[derive(Debug, Clone, PartialEq)]
struct Truth {
    host: bool,
    protrusion_um: f64,
    needling: bool,
    parked: bool,
    watchdog_trips: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.export_keys {
        return match export_keys(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pen-sim: cannot write the keys to {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let now_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let config = SimPenConfig {
        serial: args.serial.clone(),
        seed: args.seed,
        factory_calibrated_at_unix_s: now_unix_s.saturating_sub(args.factory_age_days * 86_400),
    };
    let port = match open_port(&args) {
        Ok(port) => port,
        Err(message) => {
            eprintln!("pen-sim: {message}");
            return ExitCode::FAILURE;
        }
    };
    let mut firmware = Firmware::new(&config);
    let flash = args.flash.clone().map(Flash::new);
    if let Some(flash) = &flash {
        match flash.load() {
            Ok(Some(image)) => {
                if let Some(table) = image.calibration {
                    firmware.load_calibration(table);
                }
                if let Some(bundle) = image.limits {
                    if let Err(e) = firmware.load_limits(&bundle) {
                        eprintln!("pen-sim: the limits in flash do not verify ({e}); ignored");
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                eprintln!("pen-sim: cannot read the flash file: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let truth = Arc::new(AtomicU64::new(firmware.true_protrusion_um().to_bits()));
    let _gauge = match &args.gauge_pty {
        Some(link) => match serve_gauge(link, truth.clone(), args.seed) {
            Ok(gauge) => Some(gauge),
            Err(e) => {
                eprintln!("pen-sim: cannot start the gauge: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let faults = match args
        .fault
        .as_deref()
        .map(Faults::parse)
        .unwrap_or(Ok(Faults::default()))
    {
        Ok(faults) => faults,
        Err(message) => {
            eprintln!("pen-sim: {message}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("pen-sim: pen {} on {}", args.serial, port.describe());
    // Runs until killed, like a pen on the bench runs until unplugged.
    let pen = Pen {
        firmware,
        flash,
        truth,
        faults,
        frames_in: 0,
        frames_out: 0,
        moves_in: 0,
        delayed: VecDeque::new(),
    };
    run(port, pen)
}

/// How the pen reaches its host.
pub trait HostPort {
    /// Waits at most `wait` for the host and returns the frames it sent meanwhile.
    fn receive(&mut self, wait: Duration) -> Vec<Vec<u8>>;
    /// Sends one frame, or drops it if no host is there to take it.
    fn send(&mut self, frame: &[u8]);
    /// Sends a message longer than any frame may be (fault injection).
    fn send_oversized(&mut self);
    /// Whether a host is attached.
    fn connected(&self) -> bool;
    /// Where the pen is served, for people.
    fn describe(&self) -> String;
    /// The cable is pulled: the host loses the pen (fault injection).
    fn unplug(&mut self);
}

/// The machine's uptime in milliseconds (as /proc/uptime says), so a test can line up the
/// pen's log with other programs'.
fn uptime_ms() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some((seconds * 1000.0) as u64)
}

fn open_port(args: &Args) -> Result<Box<dyn HostPort>, String> {
    if args.usb {
        #[cfg(target_os = "linux")]
        return usb_port::UsbPort::new(&args.serial, args.udc.as_deref())
            .map(|port| Box::new(port) as Box<dyn HostPort>)
            .map_err(|e| {
                format!("cannot become a USB device: {e} (needs root, configfs, libcomposite, usb_f_fs and a UDC such as dummy_hcd)")
            });
        #[cfg(not(target_os = "linux"))]
        return Err("--usb needs Linux (configfs gadgets)".into());
    }
    let listen = args.listen.clone().expect("clap requires --listen here");
    let _ = std::fs::remove_file(&listen);
    let listener = UnixListener::bind(&listen)
        .map_err(|e| format!("cannot listen on {}: {e}", listen.display()))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(Box::new(StreamPort::new(listener, &args.serial)))
}

/// What the pen puts on the wire.
enum Outgoing {
    Frame(Vec<u8>),
    /// An impossible message (fault injection).
    Oversized,
}

/// Faults to inject.
#[derive(Debug, Default)]
struct Faults {
    exit_on_stage: bool,
    silent_after: Option<u64>,
    unplug_on_move: Option<u64>,
    late_every: Option<(u64, Duration)>,
    garbage_every: Option<u64>,
    oversized_after: Option<u64>,
}

impl Faults {
    fn parse(text: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{v:?} is not a number"))
        };
        for fault in text.split(',') {
            match fault.split_once('=') {
                None if fault == "exit-on-stage" => faults.exit_on_stage = true,
                Some(("silent-after", n)) => faults.silent_after = Some(number(n)?),
                Some(("garbage-every", n)) => faults.garbage_every = Some(number(n)?.max(1)),
                Some(("oversized-after", n)) => faults.oversized_after = Some(number(n)?),
                Some(("unplug-on-move", n)) => faults.unplug_on_move = Some(number(n)?),
                Some(("late-every", spec)) => {
                    let (n, ms) = spec.split_once(':').ok_or("late-every=N:MS")?;
                    faults.late_every =
                        Some((number(n)?.max(1), Duration::from_millis(number(ms)?)));
                }
                _ => return Err(format!("unknown fault {fault:?}; see --help")),
            }
        }
        Ok(faults)
    }
}

/// The simulated pen with what surrounds its firmware in this process.
struct Pen {
    firmware: Firmware,
    flash: Option<Flash>,
    /// The needle's truth, for the gauge thread.
    truth: Arc<AtomicU64>,
    faults: Faults,
    frames_in: u64,
    frames_out: u64,
    /// Move requests heard, for `unplug-on-move`.
    moves_in: u64,
    /// Frames held back by `late-every`, with when they go out.
    delayed: VecDeque<(Instant, Vec<u8>)>,
}

impl Pen {
    fn silent(&self) -> bool {
        self.faults.silent_after.is_some_and(|n| self.frames_in > n)
    }

    /// What goes on the wire for `frame` now, faults applied (in order).
    fn outgoing(&mut self, frame: Vec<u8>, now: Instant) -> Vec<Outgoing> {
        if self.silent() {
            return Vec::new();
        }
        self.frames_out += 1;
        let n = self.frames_out;
        let mut wire = Vec::new();
        match self.faults.late_every {
            Some((every, by)) if n.is_multiple_of(every) => {
                self.delayed.push_back((now + by, frame))
            }
            _ => wire.push(Outgoing::Frame(frame)),
        }
        if self
            .faults
            .garbage_every
            .is_some_and(|every| n.is_multiple_of(every))
        {
            wire.push(Outgoing::Frame(vec![0xff; 7]));
        }
        if self.faults.oversized_after == Some(n) {
            wire.push(Outgoing::Oversized);
        }
        wire
    }

    /// Held-back frames whose time has come.
    fn due(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut wire = Vec::new();
        while self.delayed.front().is_some_and(|(at, _)| *at <= now) {
            let (_, frame) = self.delayed.pop_front().expect("checked");
            wire.push(Outgoing::Frame(frame));
        }
        wire
    }

    /// A frame from the host, faults applied.
    /// A frame from the host, faults applied. Returns whether the cable is pulled now.
    fn on_host_frame(&mut self, frame: &[u8], origin: Instant) -> bool {
        let decoded = decode_host_frame(frame);
        let staging = matches!(
            decoded,
            Ok(HostFrame {
                request: HostRequest::StageCalibration { .. } | HostRequest::StageLimits { .. },
                ..
            })
        );
        if matches!(
            decoded,
            Ok(HostFrame {
                request: HostRequest::MoveTo { .. },
                ..
            })
        ) {
            self.moves_in += 1;
            if self.faults.unplug_on_move == Some(self.moves_in) {
                return true;
            }
        }
        self.frames_in += 1;
        if self.silent() {
            return false; // deaf: the firmware hears nothing, its watchdog runs out
        }
        if self.faults.exit_on_stage && staging {
            eprintln!("pen-sim: power lost while a table was being staged");
            std::process::exit(3);
        }
        self.firmware.handle_frame(frame, origin.elapsed());
        false
    }
}

fn export_keys(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, secret) in [("sim-2026", SIM_KEY_2026), ("sim-2027", SIM_KEY_2027)] {
        std::fs::write(
            dir.join(format!("{name}.key")),
            keyfile::format_secret(&secret),
        )?;
        let public = keyfile::format_public(&public_key(&secret));
        std::fs::write(dir.join(format!("{name}.pub")), public)?;
    }
    Ok(())
}

/// The pen's flash contents kept in a file.
struct Flash {
    path: PathBuf,
    written: Option<Vec<u8>>,
}

impl Flash {
    fn new(path: PathBuf) -> Flash {
        Flash {
            path,
            written: None,
        }
    }

    fn load(&self) -> std::io::Result<Option<FlashImage>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => postcard::from_bytes(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::other(format!("corrupt flash: {e}"))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `image` if it changed: to a temporary file, synced, then renamed over the old
    /// one, so the flash holds the old image or the new one, never half of either.
    fn store(&mut self, image: &FlashImage) -> std::io::Result<()> {
        let bytes = postcard::to_allocvec(image).map_err(std::io::Error::other)?;
        if self.written.as_ref() == Some(&bytes) {
            return Ok(());
        }
        let temporary = self.path.with_extension("tmp");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        self.written = Some(bytes);
        Ok(())
    }
}

fn serve_gauge(link: &PathBuf, truth: Arc<AtomicU64>, seed: u64) -> std::io::Result<GaugePty> {
    let calibrated = "01.10.2026";
    let gauge = SimGauge::new(seed, calibrated, GaugeFaults::default());
    let pty = GaugePty::spawn(
        gauge,
        Box::new(move || f64::from_bits(truth.load(Ordering::Relaxed))),
    )?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(pty.path(), link)?;
    Ok(pty)
}

/// The pen's main loop: one host at a time, time always moving.
fn run(mut port: Box<dyn HostPort>, mut pen: Pen) -> ! {
    let origin = Instant::now();
    let mut last_truth = None;
    loop {
        let now = origin.elapsed();
        let wait = pen
            .firmware
            .next_deadline()
            .map(|d| d.saturating_sub(now))
            .unwrap_or(TICK)
            .clamp(Duration::from_micros(100), TICK);
        for frame in port.receive(wait) {
            if pen.on_host_frame(&frame, origin) {
                eprintln!(
                    "pen-sim: cable pulled (fault) at uptime_ms={}",
                    uptime_ms().unwrap_or(0)
                );
                port.unplug();
                break;
            }
        }
        pen.firmware.poll(origin.elapsed());
        let mut wire = pen.due(Instant::now());
        while let Some(frame) = pen.firmware.poll_transmit() {
            wire.extend(pen.outgoing(frame, Instant::now()));
        }
        for outgoing in wire {
            match outgoing {
                Outgoing::Frame(frame) => port.send(&frame),
                Outgoing::Oversized => port.send_oversized(),
            }
        }
        pen.truth.store(
            pen.firmware.true_protrusion_um().to_bits(),
            Ordering::Relaxed,
        );
        if let Some(flash) = pen.flash.as_mut() {
            let image = FlashImage {
                calibration: pen.firmware.calibration().cloned(),
                limits: pen
                    .firmware
                    .limits_bundle()
                    .map(|b| heapless::Vec::from_slice(b).expect("a stored bundle fits")),
            };
            if let Err(e) = flash.store(&image) {
                eprintln!("pen-sim: cannot write the flash file: {e}");
            }
        }
        let truth = Truth {
            host: port.connected(),
            protrusion_um: (pen.firmware.true_protrusion_um() * 10.0).round() / 10.0,
            needling: pen.firmware.needling().is_some(),
            parked: pen.firmware.is_parked(),
            watchdog_trips: pen.firmware.counters().watchdog_trips,
        };
        if last_truth.as_ref() != Some(&truth) {
            report(&truth, origin.elapsed(), pen.firmware.last_valid_frame());
            last_truth = Some(truth);
        }
    }
}

fn report(truth: &Truth, now: Duration, last_host_frame: Option<Duration>) {
    let last = last_host_frame
        .map(|d| d.as_millis().to_string())
        .unwrap_or_else(|| "null".into());
    println!(
        "{{\"t_ms\":{},\"last_host_frame_ms\":{last},\"host\":{},\"protrusion_um\":{},\"needling\":{},\"parked\":{},\"watchdog_trips\":{}}}",
        now.as_millis(),
        truth.host,
        truth.protrusion_um,
        truth.needling,
        truth.parked,
        truth.watchdog_trips
    );
    let _ = std::io::stdout().flush();
}
