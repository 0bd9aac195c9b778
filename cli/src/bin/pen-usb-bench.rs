//! `pen-usb-bench`: round trips to a pen on USB, two ways, for the VM harness.
//!
//! - `pen-usb-bench raw SERIAL`: straight to the pen over nusb bulk transfers (the same
//!   `UsbLink` pend uses), `Status` request and reply; pend must not hold the pen.
//! - `pen-usb-bench pend SERIAL --socket PATH`: setpoints through pend (client -> socket ->
//!   pend -> policy -> USB -> pen -> back), alternating depths, in a treatment session.
//!
//! Each prints one line: `ROUNDTRIP <mode> n=<N> p50_us=<..> p99_us=<..>`. Compare the two
//! within one run on one machine; under emulation the absolute figures mean little.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use pen_protocol::pen::{
    decode_pen_frame, encode_frame, HostFrame, HostRequest, PenFrame, PROTOCOL_VERSION,
};
use pen_protocol::usb::DEFAULT_VID_PID;
use penctl::Client;
use pend::link::usb::UsbLink;
use pend::link::PenLink;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
    /// Round trips to time (after 10 % as many to warm up)
    #[arg(long, default_value_t = 500, global = true)]
    samples: usize,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Straight to the pen over nusb
    Raw {
        /// The pen's USB serial number
        serial: String,
    },
    /// Setpoints through pend
    Pend {
        /// The pen's serial number
        serial: String,
        /// pend's socket
        #[arg(long)]
        socket: std::path::PathBuf,
    },
}

const LIMIT: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async {
        match &args.mode {
            Mode::Raw { serial } => raw(serial, args.samples).await,
            Mode::Pend { serial, socket } => through_pend(serial, socket, args.samples).await,
        }
    });
    match result {
        Ok(mut times) => {
            times.sort();
            let mode = match args.mode {
                Mode::Raw { .. } => "raw",
                Mode::Pend { .. } => "pend",
            };
            let at = |p: f64| {
                times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_secs_f64() * 1e6
            };
            println!(
                "ROUNDTRIP {mode} n={} p50_us={:.0} p99_us={:.0}",
                times.len(),
                at(0.5),
                at(0.99)
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("pen-usb-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn raw(serial: &str, samples: usize) -> Result<Vec<Duration>, String> {
    let info = nusb::list_devices()
        .await
        .map_err(|e| format!("cannot list USB devices: {e}"))?
        .find(|d| {
            (d.vendor_id(), d.product_id()) == DEFAULT_VID_PID && d.serial_number() == Some(serial)
        })
        .ok_or_else(|| format!("no pen {serial} on USB"))?;
    let mut link = UsbLink::open(&info, LIMIT)
        .await
        .map_err(|e| e.to_string())?;
    let mut seq = 0u32;
    ask(
        &mut link,
        &mut seq,
        HostRequest::Hello {
            protocol_version: PROTOCOL_VERSION,
        },
    )
    .await?;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let time = ask(&mut link, &mut seq, HostRequest::Status).await?;
        if i >= samples / 10 {
            times.push(time);
        }
    }
    // A message that fills its last packet exactly must be ended by a zero-length packet, or
    // the pen would read it and the next request as one. Send 512 bytes the pen cannot decode
    // (and ignores), then a request: its answer shows the two were kept apart.
    link.send(&[0xff; pen_protocol::pen::MAX_PEN_FRAME])
        .await
        .map_err(|e| e.to_string())?;
    ask(&mut link, &mut seq, HostRequest::Status)
        .await
        .map_err(|e| format!("after a 512-byte message the pen did not answer: {e}"))?;
    println!("ZLP ok: a 512-byte message was delimited and the next request answered");
    Ok(times)
}

/// Sends `request` and waits for its reply (events in between are skipped); the round trip.
async fn ask(link: &mut UsbLink, seq: &mut u32, request: HostRequest) -> Result<Duration, String> {
    *seq += 1;
    let seq = *seq;
    let mut buf = [0u8; pen_protocol::pen::MAX_PEN_FRAME];
    let frame = encode_frame(&HostFrame { seq, request }, &mut buf).map_err(|e| e.to_string())?;
    let started = Instant::now();
    link.send(frame).await.map_err(|e| e.to_string())?;
    loop {
        let bytes = tokio::time::timeout(LIMIT, link.recv())
            .await
            .map_err(|_| "the pen did not answer".to_string())?
            .map_err(|e| e.to_string())?;
        if matches!(decode_pen_frame(&bytes), Ok(PenFrame::Reply { seq: s, .. }) if s == seq) {
            return Ok(started.elapsed());
        }
    }
}

async fn through_pend(
    serial: &str,
    socket: &std::path::Path,
    samples: usize,
) -> Result<Vec<Duration>, String> {
    let mut client = Client::connect(socket).await.map_err(|e| e.to_string())?;
    client
        .open_session(serial, "pen-usb-bench", Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        let depth = if i % 2 == 0 { 300 } else { 400 };
        let started = Instant::now();
        client
            .set_depth(serial, depth, false)
            .await
            .map_err(|e| e.to_string())?;
        if i >= samples / 10 {
            times.push(started.elapsed());
        }
        if i % 50 == 0 {
            client.heartbeat().await.map_err(|e| e.to_string())?;
        }
    }
    client
        .close_session(serial)
        .await
        .map_err(|e| e.to_string())?;
    Ok(times)
}
