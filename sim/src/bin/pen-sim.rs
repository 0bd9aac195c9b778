//! `pen-sim`: a simulated pen in a process of its own, served on a Unix socket with the
//! stream transport (`pen_sim::stream`). `pend --sim-socket PATH` drives it.
//!
//! Because the pen outlives the daemon, this is how the pen's own safety is tested: kill
//! `pend` and the pen's watchdog must stop and retract it. For that, `pen-sim` prints its
//! physical truth to stdout as JSON lines whenever it changes:
//!
//! `{"t_ms":1234,"last_host_frame_ms":1100,"host":true,"protrusion_um":497.8,"needling":true,"parked":false,"watchdog_trips":0}`
//!
//! `t_ms` and `last_host_frame_ms` count from the pen's power-up.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use pen_sim::stream::{encode_stream_frame, FrameBuffer};
use pen_sim::{Firmware, SimPenConfig};

/// A simulated microneedling pen on a Unix socket.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Socket to serve the pen on
    #[arg(long, value_name = "PATH")]
    listen: PathBuf,
    /// The pen's serial number
    #[arg(long, default_value = "SIM-9001")]
    serial: String,
    /// Seeds the pen's mechanics, factory table and noise
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many days ago the factory calibrated the pen
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    factory_age_days: u64,
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
    let now_unix_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let config = SimPenConfig {
        serial: args.serial.clone(),
        seed: args.seed,
        factory_calibrated_at_unix_s: now_unix_s.saturating_sub(args.factory_age_days * 86_400),
    };
    let _ = std::fs::remove_file(&args.listen);
    let listener = match UnixListener::bind(&args.listen) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("pen-sim: cannot listen on {}: {e}", args.listen.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = listener.set_nonblocking(true) {
        eprintln!("pen-sim: {e}");
        return ExitCode::FAILURE;
    }
    eprintln!("pen-sim: pen {} on {}", args.serial, args.listen.display());
    // Runs until killed, like a pen on the bench runs until unplugged.
    run(listener, Firmware::new(&config), &args.serial)
}

/// The pen's main loop: one host at a time, time always moving.
fn run(listener: UnixListener, mut firmware: Firmware, serial: &str) -> ! {
    let origin = Instant::now();
    let mut host: Option<(UnixStream, FrameBuffer)> = None;
    let mut last_truth = None;
    loop {
        if host.is_none() {
            host = accept(&listener, serial);
        }
        let now = origin.elapsed();
        let wait = firmware
            .next_deadline()
            .map(|d| d.saturating_sub(now))
            .unwrap_or(TICK)
            .clamp(Duration::from_micros(100), TICK);
        match host.as_mut() {
            Some((stream, buffer)) => {
                if !receive(stream, buffer, wait, &mut firmware, origin) {
                    host = None;
                }
            }
            None => std::thread::sleep(wait),
        }
        firmware.poll(origin.elapsed());
        while let Some(frame) = firmware.poll_transmit() {
            if let Some((stream, _)) = host.as_mut() {
                if stream.write_all(&encode_stream_frame(&frame)).is_err() {
                    host = None;
                }
            }
            // With no host the frame goes nowhere, as on a USB bus nobody polls.
        }
        let truth = Truth {
            host: host.is_some(),
            protrusion_um: (firmware.true_protrusion_um() * 10.0).round() / 10.0,
            needling: firmware.needling().is_some(),
            parked: firmware.is_parked(),
            watchdog_trips: firmware.counters().watchdog_trips,
        };
        if last_truth.as_ref() != Some(&truth) {
            report(&truth, origin.elapsed(), firmware.last_valid_frame());
            last_truth = Some(truth);
        }
    }
}

fn accept(listener: &UnixListener, serial: &str) -> Option<(UnixStream, FrameBuffer)> {
    let (mut stream, _) = listener.accept().ok()?;
    stream.set_nonblocking(false).ok()?;
    // The stand-in for the USB serial-number descriptor.
    stream
        .write_all(&encode_stream_frame(serial.as_bytes()))
        .ok()?;
    Some((stream, FrameBuffer::new()))
}

/// Reads what the host sent within `wait` and feeds it to the firmware. Returns whether the
/// host is still there.
fn receive(
    stream: &mut UnixStream,
    buffer: &mut FrameBuffer,
    wait: Duration,
    firmware: &mut Firmware,
    origin: Instant,
) -> bool {
    if stream.set_read_timeout(Some(wait)).is_err() {
        return false;
    }
    let mut chunk = [0u8; 1024];
    match stream.read(&mut chunk) {
        Ok(0) => return false,
        Ok(n) => buffer.push(&chunk[..n]),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        Err(_) => return false,
    }
    loop {
        match buffer.next_frame() {
            Ok(Some(frame)) => firmware.handle_frame(&frame, origin.elapsed()),
            Ok(None) => return true,
            // A host that sends an impossible length has lost step: drop it.
            Err(_) => return false,
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
