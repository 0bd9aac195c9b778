//! `pend`: the pen daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pend::paths::{socket_path, JSON_SOCKET_ENV, SOCKET_ENV};
use pend::roles::resolve_group;
use pend::usb::{parse_vid_pid, UsbConfig};
use pend::{Daemon, DaemonConfig};
use tokio::signal::unix::{signal, SignalKind};
use tracing::error;
use tracing_subscriber::EnvFilter;

/// The pen daemon: owns microneedling pens, refuses every depth over 1.000 mm, and serves
/// clients (penctl, the clinic app) on a Unix socket.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Socket to listen on [default: $XDG_RUNTIME_DIR/pend/pend.sock]
    #[arg(long, env = SOCKET_ENV, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Socket for newline-delimited JSON clients [default: pend.json.sock beside --socket]
    #[arg(long, env = JSON_SOCKET_ENV, value_name = "PATH")]
    json_socket: Option<PathBuf>,
    /// Serve no JSON socket
    #[arg(long, conflicts_with = "json_socket")]
    no_json_socket: bool,
    /// Attach N simulated pens (serials SIM-0001, SIM-0002, ...; the same on every run)
    #[arg(long, value_name = "N", default_value_t = 0)]
    sim: usize,
    /// Attach the simulated pen served by `pen-sim --listen PATH` (repeatable)
    #[arg(long, value_name = "PATH")]
    sim_socket: Vec<PathBuf>,
    /// USB pens to look for, as VID:PID in hex (a vendor interface, class 0xff, with bulk IN
    /// and OUT)
    #[arg(long, value_name = "VID:PID", default_value = "1209:0001", value_parser = parse_vid_pid)]
    usb_id: (u16, u16),
    /// Leave USB alone: drive simulated pens only
    #[arg(long)]
    no_usb: bool,
    /// Where records are kept [default: ~/.local/share/pend, or /var/lib/pend for root]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The limits-signing keys to trust: *.pub files, retired ones in retired/
    /// [default: /etc/pend/keys for root, else ~/.config/pend/keys]
    #[arg(long, value_name = "DIR")]
    trusted_keys: Option<PathBuf>,
    /// Members of this group (name or gid) are operators: treatments
    #[arg(long, value_name = "GROUP")]
    operator_group: Option<String>,
    /// Members of this group (name or gid) are technicians: also bench calibration
    #[arg(long, value_name = "GROUP")]
    technician_group: Option<String>,
    /// Members of this group (name or gid) are service: also flashing limits (nobody else
    /// but root is)
    #[arg(long, value_name = "GROUP")]
    service_group: Option<String>,
    /// Give the sockets to this group (name or gid), so its members can connect
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// Refuse reference gauges whose own calibration is older than this many days
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    max_gauge_age_days: i64,
    /// Calibrations older than this many days get no depth until the pen is recalibrated
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    max_calibration_age_days: u64,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let (mut terminate, mut interrupt) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(t), Ok(i)) => (t, i),
        _ => {
            error!("cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    let mut config = DaemonConfig::new(socket_path(args.socket), args.sim);
    config.sim_sockets = args.sim_socket;
    config.usb = (!args.no_usb).then(|| UsbConfig {
        vendor_id: args.usb_id.0,
        product_id: args.usb_id.1,
        ..UsbConfig::default()
    });
    let group = |option: &str, name: &Option<String>| -> Result<Option<u32>, String> {
        name.as_deref()
            .map(|n| resolve_group(n).ok_or_else(|| format!("--{option} {n}: no such group")))
            .transpose()
    };
    let groups = (|| {
        Ok::<_, String>((
            group("operator-group", &args.operator_group)?,
            group("technician-group", &args.technician_group)?,
            group("service-group", &args.service_group)?,
            group("socket-group", &args.socket_group)?,
        ))
    })();
    match groups {
        Ok((operator, technician, service, socket)) => {
            config.roles.operator_gid = operator;
            config.roles.technician_gid = technician;
            config.roles.service_gid = service;
            config.socket_group = socket;
        }
        Err(message) => {
            error!("{message}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(dir) = args.trusted_keys {
        config.session.trusted_keys = dir;
    }
    config.bench.max_gauge_age_days = args.max_gauge_age_days;
    if let Some(dir) = args.state_dir {
        config.state_dir = dir;
    }
    if args.no_json_socket {
        config.json_socket = None;
    } else if let Some(path) = args.json_socket {
        config.json_socket = Some(path);
    }
    config.session.max_calibration_age =
        Duration::from_secs(args.max_calibration_age_days.saturating_mul(24 * 60 * 60));
    let daemon = match Daemon::start(config).await {
        Ok(daemon) => daemon,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    daemon.shut_down().await;
    ExitCode::SUCCESS
}
