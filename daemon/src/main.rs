//! `pend`: the pen daemon.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use pen_protocol::usb::DEFAULT_VID_PID;
use pend::config::{default_config_path, load, ConfigError, FileConfig};
use pend::paths::{socket_path, JSON_SOCKET_ENV, SOCKET_ENV};
use pend::roles::resolve_group;
use pend::systemd::{listen_fds, stderr_is_journal, watchdog_interval, Notifier};
use pend::usb::{parse_vid_pid, UsbConfig};
use pend::{Daemon, DaemonConfig, InheritedSockets};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The pen daemon: owns microneedling pens, refuses every depth over 1.000 mm, and serves
/// clients (penctl, the clinic app) on a Unix socket.
///
/// Every option can also be set in pend.toml (the key is the option's name without the
/// dashes in front: `max-gauge-age-days = 180`); an option given here wins over the file.
/// Under systemd, pend takes its sockets from pend.socket, tells systemd when it is ready
/// (after the pens are enumerated), pings the watchdog and logs to the journal.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Configuration file [default: /etc/pend/pend.toml for the service or root,
    /// ~/.config/pend/pend.toml for a user]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Check the configuration file and the options, say what is wrong, and exit
    #[arg(long)]
    check_config: bool,
    /// Socket to listen on [default: $RUNTIME_DIRECTORY/pend.sock under systemd, else
    /// $XDG_RUNTIME_DIR/pend/pend.sock]
    #[arg(long, env = SOCKET_ENV, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Socket for newline-delimited JSON clients [default: pend.json.sock beside --socket]
    #[arg(long, env = JSON_SOCKET_ENV, value_name = "PATH")]
    json_socket: Option<PathBuf>,
    /// Serve no JSON socket
    #[arg(long, conflicts_with = "json_socket")]
    no_json_socket: bool,
    /// Give the sockets to this group (name or gid), so its members can connect
    #[arg(long, value_name = "GROUP")]
    socket_group: Option<String>,
    /// Attach N simulated pens (serials SIM-0001, SIM-0002, ...; the same on every run)
    /// [default: 0]
    #[arg(long, value_name = "N")]
    sim: Option<usize>,
    /// Attach the simulated pen served by `pen-sim --listen PATH` (repeatable)
    #[arg(long, value_name = "PATH")]
    sim_socket: Vec<PathBuf>,
    /// USB pens to look for, as VID:PID in hex (a vendor interface, class 0xff, with bulk IN
    /// and OUT) [default: 1209:0001]
    #[arg(long, value_name = "VID:PID", value_parser = parse_vid_pid)]
    usb_id: Option<(u16, u16)>,
    /// Leave USB alone: drive simulated pens only
    #[arg(long)]
    no_usb: bool,
    /// Where records are kept [default: $STATE_DIRECTORY under systemd, /var/lib/pend for
    /// root, else ~/.local/share/pend]
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The limits-signing keys to trust: *.pub files, retired ones in retired/
    /// [default: /etc/pend/keys for the service or root, else ~/.config/pend/keys]
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
    /// Refuse reference gauges whose own calibration is older than this many days
    /// [default: 365]
    #[arg(long, value_name = "DAYS")]
    max_gauge_age_days: Option<i64>,
    /// Calibrations older than this many days get no depth until the pen is recalibrated
    /// [default: 365]
    #[arg(long, value_name = "DAYS")]
    max_calibration_age_days: Option<u64>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it [default: info]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Print the manual page (roff) and exit
    #[arg(long, hide = true)]
    manpage: bool,
}

/// Everything pend needs, from the options, the file and the defaults.
struct Settings {
    config: DaemonConfig,
    log_level: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.manpage {
        return print_manpage();
    }
    let (path, explicit) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (default_config_path(), false),
    };
    let file = match load(&path) {
        Ok(Some(file)) => Some(file),
        Ok(None) if explicit => {
            eprintln!("pend: {}: no such configuration file", path.display());
            return ExitCode::FAILURE;
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("pend: {e}");
            return ExitCode::FAILURE;
        }
    };
    let check_only = args.check_config;
    let settings = match settle(args, file.clone().unwrap_or_default(), &path) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("pend: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check_only {
        say_valid(&path, file.is_some());
        return ExitCode::SUCCESS;
    }
    init_logging(&settings.log_level);
    // Before the runtime starts threads: taking the sockets edits the environment.
    let inherited = inherited_sockets(listen_fds());
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(settings.config, inherited))
}

/// For `--check-config`: the configuration is good.
fn say_valid(path: &Path, found: bool) {
    if found {
        println!("{}: the configuration is valid", path.display());
    } else {
        println!(
            "{}: no configuration file; the options and defaults are valid",
            path.display()
        );
    }
}

fn print_manpage() -> ExitCode {
    let mut out = Vec::new();
    match clap_mangen::Man::new(Args::command())
        .section("8")
        .render(&mut out)
    {
        Ok(()) => {
            print!("{}", String::from_utf8_lossy(&out));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pend: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Merges the options over the file over the defaults, checking every value.
fn settle(args: Args, file: FileConfig, path: &Path) -> Result<Settings, String> {
    let key_error =
        |key: &str, message: String| ConfigError::for_key(path, key, message).to_string();
    let socket = socket_path(args.socket.or(file.socket));
    let mut config = DaemonConfig::new(socket, args.sim.or(file.sim).unwrap_or(0));
    config.sim_sockets = if args.sim_socket.is_empty() {
        file.sim_socket.unwrap_or_default()
    } else {
        args.sim_socket
    };
    let usb_id = match (args.usb_id, file.usb_id) {
        (Some(id), _) => id,
        (None, Some(text)) => parse_vid_pid(&text).map_err(|e| key_error("usb-id", e))?,
        (None, None) => DEFAULT_VID_PID,
    };
    let no_usb = args.no_usb || file.no_usb.unwrap_or(false);
    config.usb = (!no_usb).then(|| UsbConfig {
        vendor_id: usb_id.0,
        product_id: usb_id.1,
        ..UsbConfig::default()
    });
    let group = |key: &str, option: Option<String>, in_file: Option<String>| {
        let from_option = option.is_some();
        match option.or(in_file) {
            None => Ok(None),
            Some(name) => resolve_group(&name).map(Some).ok_or_else(|| {
                if from_option {
                    format!("--{key} {name}: no such group")
                } else {
                    key_error(key, format!("no such group {name:?}"))
                }
            }),
        }
    };
    config.roles.operator_gid = group("operator-group", args.operator_group, file.operator_group)?;
    config.roles.technician_gid = group(
        "technician-group",
        args.technician_group,
        file.technician_group,
    )?;
    config.roles.service_gid = group("service-group", args.service_group, file.service_group)?;
    config.socket_group = group("socket-group", args.socket_group, file.socket_group)?;
    if let Some(dir) = args.trusted_keys.or(file.trusted_keys) {
        config.session.trusted_keys = dir;
    }
    if let Some(dir) = args.state_dir.or(file.state_dir) {
        config.state_dir = dir;
    }
    let no_json_socket = args.no_json_socket || file.no_json_socket.unwrap_or(false);
    match (no_json_socket, args.json_socket.or(file.json_socket)) {
        (true, Some(_)) => {
            return Err(key_error(
                "no-json-socket",
                "set together with json-socket; choose one".into(),
            ))
        }
        (true, None) => config.json_socket = None,
        (false, Some(path)) => config.json_socket = Some(path),
        (false, None) => {}
    }
    config.bench.max_gauge_age_days = args
        .max_gauge_age_days
        .or(file.max_gauge_age_days)
        .unwrap_or(365);
    if config.bench.max_gauge_age_days < 0 {
        return Err(key_error(
            "max-gauge-age-days",
            "must not be negative".into(),
        ));
    }
    let days = args
        .max_calibration_age_days
        .or(file.max_calibration_age_days)
        .unwrap_or(365);
    config.session.max_calibration_age = Duration::from_secs(days.saturating_mul(24 * 60 * 60));
    let log_level = args
        .log_level
        .or(file.log_level)
        .unwrap_or_else(|| "info".into());
    if !is_log_level(&log_level) {
        return Err(key_error(
            "log-level",
            format!("{log_level:?} is not a level (error, warn, info, debug, trace)"),
        ));
    }
    Ok(Settings { config, log_level })
}

/// A level (`info`), or filter directives as `RUST_LOG` takes them (`pend=debug,warn`). A
/// bare word must be a level: a typo like `infp` would otherwise read as a target name and
/// silently log nothing.
fn is_log_level(text: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    if !text.contains(['=', ',']) {
        return LEVELS.contains(&text.to_ascii_lowercase().as_str());
    }
    EnvFilter::try_new(text).is_ok()
}

/// The journal with its fields under systemd; plain lines on stderr otherwise (colour only
/// for a person at a terminal).
fn init_logging(level: &str) {
    let filter = || {
        EnvFilter::try_from_default_env()
            .or_else(|_| EnvFilter::try_new(level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    if stderr_is_journal() {
        if let Ok(journald) = tracing_journald::layer() {
            tracing_subscriber::registry()
                .with(filter())
                .with(journald.with_syslog_identifier("pend".into()))
                .init();
            return;
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// systemd's sockets in `pend.socket`'s order: the postcard socket, then the JSON one.
fn inherited_sockets(fds: Vec<OwnedFd>) -> Option<InheritedSockets> {
    let mut listeners = fds.into_iter().map(std::os::unix::net::UnixListener::from);
    let main = listeners.next()?;
    Some(InheritedSockets {
        main,
        json: listeners.next(),
    })
}

async fn run(config: DaemonConfig, inherited: Option<InheritedSockets>) -> ExitCode {
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
    let notifier = Notifier::from_env();
    let daemon = match Daemon::start_on(config, inherited).await {
        Ok(daemon) => daemon,
        Err(e) => {
            error!("{e}");
            if let Some(notifier) = &notifier {
                notifier.notify(&format!("STATUS=cannot start: {e}"));
            }
            return ExitCode::FAILURE;
        }
    };
    // Ready means: pens enumerated and handshaken (or given up on), sockets serving.
    if let Some(notifier) = &notifier {
        notifier.notify(&format!(
            "READY=1\nSTATUS=serving {} pen(s)",
            daemon.pen_count()
        ));
        info!("told systemd pend is ready");
    }
    // The watchdog is kept alive from this loop: if it stops turning, systemd restarts pend
    // (and the pens' own watchdogs retract them meanwhile).
    let watchdog = watchdog_interval();
    let mut ping = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = ping.tick() => {
                if let (Some(notifier), Some(_)) = (&notifier, watchdog) {
                    notifier.notify("WATCHDOG=1");
                }
            }
        }
    }
    if let Some(notifier) = &notifier {
        notifier.notify("STOPPING=1");
    }
    if watchdog.is_some() && notifier.is_none() {
        warn!("WATCHDOG_USEC is set but there is no NOTIFY_SOCKET");
    }
    daemon.shut_down().await;
    ExitCode::SUCCESS
}
