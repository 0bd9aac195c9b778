//! `penctl`: the command-line client of `pend`.

mod calibrate;
mod demo;
mod limits;
mod output;
mod plot;
mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use pen_protocol::api::ApiError;
use penctl::{exit, parse_depth, Client, ClientError};
use pend::paths::{client_socket_path, SOCKET_ENV};
use serde::Serialize;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (pen timeout, pen refused for a non-safety reason, lost connection...)
  2  usage error (bad arguments, unreadable depth)
  3  safety refusal (over the 1.000 mm ceiling, not calibrated, outside the calibrated
     range, or the pen firmware's own limit)
  4  pend not reachable
  5  no pen, or more than one, matches the name given
  6  the pen cannot be used now: it has readiness problems, or another client holds it
  7  a calibration ran and did not pass, or was stopped (the pen keeps its previous table)
  8  the reference gauge cannot be used (unreachable, wrong type, its calibration expired)
  9  a limits bundle was refused (or would be, with --dry-run); nothing was written
 10  the audit trail is broken (penctl audit verify)
 11  permission denied: your role does not allow this (the message names the role needed)";

/// Talk to pend, the pen daemon: list pens, read their status, hold treatment sessions.
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_CODES)]
struct Cli {
    /// pend's socket [default: $XDG_RUNTIME_DIR/pend/pend.sock, else the system service's
    /// /run/pend/pend.sock]
    #[arg(long, global = true, env = SOCKET_ENV, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Print JSON for scripts instead of text for people
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the pens pend knows
    List,
    /// Show one pen's status, with what stops it being used right now
    Status {
        /// Serial number, or a unique prefix of one
        pen: String,
    },
    /// Needle depth
    #[command(subcommand)]
    Depth(DepthCommand),
    /// Hold a treatment session and run commands in it, typed or piped, one per line:
    /// set DEPTH, start RATE, stop, status, identify, sleep MS, close.
    /// The pen is stopped and retracted when the session ends.
    Session {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// Name shown to other clients while the session is held
        #[arg(long, default_value = "penctl session")]
        name: String,
        /// If another client holds the pen, wait this many seconds for it
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        wait: u64,
    },
    /// Print events as they happen (pens, sessions, depth, needling, faults)
    Watch {
        /// Stop after this many events
        #[arg(long, value_name = "N")]
        count: Option<u64>,
    },
    /// Calibrate a pen on the bench against a reference gauge touching its needle carriage
    Calibrate {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// The gauge: sylvac:PORT, mitutoyo:PORT[,calibrated=YYYY-MM-DD], or sim (the
        /// simulated gauge, for simulated pens; sim:silent, sim:garbled, sim:over-range,
        /// sim:unplug-after=N inject faults)
        #[arg(long)]
        gauge: String,
        /// Depths to measure, comma-separated micrometres [default: 0,200,400,600,800,1000]
        #[arg(long, value_delimiter = ',')]
        points: Vec<u16>,
        /// Readings per point and direction [default: 3]
        #[arg(long, default_value_t = 0, hide_default_value = true)]
        repeats: u8,
        /// Tolerance, +/- micrometres [default: 10]
        #[arg(
            long,
            value_name = "UM",
            default_value_t = 0,
            hide_default_value = true
        )]
        tolerance: u16,
    },
    /// Calibration records
    #[command(subcommand)]
    Calibration(CalibrationCommand),
    /// Limits: signing tools (offline) and flashing (field service)
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// The audit trail: who did what, when, with what outcome
    Audit {
        #[command(subcommand)]
        verify: Option<AuditCommand>,
        /// Only entries about this pen (its full serial)
        #[arg(long)]
        pen: Option<String>,
        /// Only entries since this date (YYYY-MM-DD, UTC) or Unix time in seconds
        #[arg(long, value_parser = since_arg)]
        since: Option<u64>,
        /// At most this many (the latest)
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Make a pen blink and buzz, to tell which one it is
    Identify {
        /// Serial number, or a unique prefix of one
        pen: String,
    },
    /// Run pend with simulated pens in this process and walk through a short session
    Demo {
        /// How many simulated pens
        #[arg(long, default_value_t = 2)]
        pens: usize,
    },
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    #[command(hide = true)]
    Manpage,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the trail's hash chain; name the first entry that was changed or removed
    Verify,
}

#[derive(Debug, Subcommand)]
enum LimitsCommand {
    /// Make a new signing key pair (offline; no daemon needed)
    Keygen {
        /// Where to write NAME.key (secret, mode 0600) and NAME.pub
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The key files' name
        #[arg(long, default_value = "limits-signing")]
        name: String,
    },
    /// Sign a limits bundle for one pen (offline; no daemon needed)
    Sign {
        /// The secret key file
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The pen's serial number (in full)
        #[arg(long)]
        pen: String,
        /// Maximum depth: 0.8mm, 800um or 0.8 (at most 1.000 mm)
        #[arg(long, value_parser = depth_arg)]
        max_depth: u32,
        /// Allowed stroke rates, strokes per second: MIN-MAX
        #[arg(long, value_parser = rate_range_arg, default_value = "25-150")]
        stroke_rate: (u16, u16),
        /// Days a calibration stays valid
        #[arg(long, value_name = "DAYS", default_value_t = 365)]
        calibration_interval_days: u16,
        /// The bundle's counter; must exceed the pen's [default: the issue time in seconds]
        #[arg(long)]
        counter: Option<u32>,
        /// Where to write the bundle
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Show the limits a pen holds
    Show {
        /// Serial number, or a unique prefix of one
        pen: String,
    },
    /// Check a bundle and flash it into the pen (stage, verify, commit)
    Flash {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// The bundle file
        file: PathBuf,
        /// Only check: show every check's result and what would change
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CalibrationCommand {
    /// Show the pen's latest calibration record
    Show {
        /// Serial number, or a unique prefix of one
        pen: String,
    },
    /// Write the pen's latest calibration certificate (JSON) and error plot (SVG) to DIR
    Export {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// Where to write
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DepthCommand {
    /// Set the needle depth once: opens a session, sets the depth, waits until it is
    /// reached, closes the session (which retracts the pen). Refused (never clamped) over
    /// the ceiling. For treatments, use `penctl session`.
    Set {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// Depth: 0.5mm, 500um, or 0.5 (millimetres)
        #[arg(value_parser = depth_arg)]
        depth: u32,
    },
}

fn since_arg(text: &str) -> Result<u64, String> {
    if let Ok(seconds) = text.parse() {
        return Ok(seconds);
    }
    pend::gauge::reply::parse_iso_date(text)
        .map(|date| (date.days.max(0) as u64) * 86_400)
        .ok_or_else(|| format!("{text:?}: give a date as YYYY-MM-DD or Unix seconds"))
}

fn rate_range_arg(text: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?}: write the range as MIN-MAX, e.g. 50-120"))?;
    let parse = |n: &str| {
        n.trim()
            .parse::<u16>()
            .map_err(|_| format!("{n:?} is not a stroke rate"))
    };
    Ok((parse(lo)?, parse(hi)?))
}

fn depth_arg(text: &str) -> Result<u32, String> {
    parse_depth(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "penctl",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Manpage => {
            let mut out = Vec::new();
            return match clap_mangen::Man::new(Cli::command()).render(&mut out) {
                Ok(()) => {
                    print!("{}", String::from_utf8_lossy(&out));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("penctl: {e}");
                    ExitCode::from(exit::FAILURE)
                }
            };
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("penctl: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = runtime.block_on(run(cli));
    // Standard input is read on a blocking thread that nothing can interrupt; waiting for it
    // at shutdown would hang until the user pressed Enter. Everything that matters is done.
    runtime.shutdown_background();
    ExitCode::from(code)
}

async fn run(cli: Cli) -> u8 {
    match &cli.command {
        Command::Demo { pens } => return demo::run(*pens).await,
        // The manufacturer's tools never need (or reach) a daemon.
        Command::Limits(LimitsCommand::Keygen { out, name }) => return limits::keygen(out, name),
        Command::Limits(LimitsCommand::Sign {
            key,
            pen,
            max_depth,
            stroke_rate,
            calibration_interval_days,
            counter,
            out,
        }) => {
            return limits::sign(limits::SignRequest {
                key,
                pen,
                max_depth_um: *max_depth,
                stroke_rates: *stroke_rate,
                calibration_interval_days: *calibration_interval_days,
                counter: *counter,
                out,
            })
        }
        _ => {}
    }
    let socket = client_socket_path(cli.socket.clone());
    let mut client = match Client::connect(&socket).await {
        Ok(client) => client,
        Err(error) => {
            report_error(&error, cli.json);
            return exit::code_for(&error);
        }
    };
    match &cli.command {
        Command::Session { pen, name, wait } => {
            let wait = Duration::from_secs(*wait);
            return session::run(&mut client, pen, name, wait, cli.json).await;
        }
        Command::Calibrate {
            pen,
            gauge,
            points,
            repeats,
            tolerance,
        } => {
            let request = calibrate::Request {
                pen,
                gauge,
                points_um: points.clone(),
                repeats: *repeats,
                tolerance_um: *tolerance,
            };
            return calibrate::run(&mut client, request, cli.json).await;
        }
        Command::Calibration(CalibrationCommand::Export { pen, out }) => {
            return calibrate::export(&mut client, pen, out, cli.json).await;
        }
        Command::Limits(LimitsCommand::Flash { pen, file, dry_run }) => {
            return limits::flash(&mut client, pen, file, *dry_run, cli.json).await;
        }
        Command::Audit {
            verify: Some(AuditCommand::Verify),
            ..
        } => return output::audit_verify(client.audit_verify().await, cli.json),
        _ => {}
    }
    match command(&cli, &mut client).await {
        Ok(()) => exit::OK,
        Err(error) => {
            report_error(&error, cli.json);
            exit::code_for(&error)
        }
    }
}

async fn command(cli: &Cli, client: &mut Client) -> Result<(), ClientError> {
    match &cli.command {
        Command::List => {
            let pens = client.list_pens().await?;
            print_as(cli.json, &pens, || output::pen_table(&pens));
        }
        Command::Status { pen } => {
            let report = client.pen_status(pen).await?;
            print_as(cli.json, &report, || output::pen_status(&report));
        }
        Command::Depth(DepthCommand::Set { pen, depth }) => {
            let info = client
                .open_session(pen, "penctl depth set", Duration::ZERO)
                .await?;
            let result = client.set_depth(&info.serial, *depth, true).await;
            // Close whatever happened: the pen retracts either way.
            let closed = client.close_session(&info.serial).await;
            let report = result?;
            closed?;
            print_as(cli.json, &report, || {
                format!(
                    "{}session closed; {} retracted\n",
                    output::depth_set(&report),
                    report.serial
                )
            });
        }
        Command::Watch { count } => {
            client.subscribe().await?;
            // On stderr, so stdout stays pure events: from here on nothing is missed.
            eprintln!("watching events (Ctrl-C to stop)");
            let mut seen = 0u64;
            while count.is_none_or(|limit| seen < limit) {
                let event = client.next_event().await?;
                if cli.json {
                    println!(
                        "{}",
                        serde_json::to_string(&event).expect("events serialise")
                    );
                } else {
                    print!("{}", output::event(&event));
                }
                seen += 1;
            }
        }
        Command::Identify { pen } => {
            client.identify(pen).await?;
            if !cli.json {
                println!("{pen} is blinking and buzzing for a few seconds");
            } else {
                println!("{}", serde_json::json!({"identifying": pen}));
            }
        }
        Command::Calibration(CalibrationCommand::Show { pen }) => {
            calibrate::show(client, pen, cli.json).await?;
        }
        Command::Limits(LimitsCommand::Show { pen }) => limits::show(client, pen, cli.json).await?,
        Command::Audit {
            verify: None,
            pen,
            since,
            limit,
        } => {
            let entries = client
                .audit(pen.clone(), since.unwrap_or(0), *limit)
                .await?;
            print_as(cli.json, &entries, || output::audit(&entries));
        }
        Command::Session { .. }
        | Command::Demo { .. }
        | Command::Completions { .. }
        | Command::Manpage
        | Command::Calibrate { .. }
        | Command::Limits(_)
        | Command::Audit { .. }
        | Command::Calibration(CalibrationCommand::Export { .. }) => {
            unreachable!("handled in run")
        }
    }
    Ok(())
}

fn print_as<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("API types serialise to JSON")
        );
    } else {
        print!("{}", human());
    }
}

#[derive(Serialize)]
struct JsonErrorBody<'a> {
    kind: String,
    message: &'a str,
    problems: &'a [pen_protocol::api::Problem],
    exit_code: u8,
}

/// An error as `--json` prints it.
fn json_error(error: &ClientError) -> serde_json::Value {
    let message = error.to_string();
    let (kind, problems) = match error {
        ClientError::Api(ApiError { kind, problems, .. }) => (format!("{kind:?}"), &problems[..]),
        ClientError::Unreachable { .. } => ("DaemonUnreachable".into(), &[][..]),
        ClientError::Connection(_) | ClientError::Broken => ("ConnectionLost".into(), &[][..]),
        ClientError::Protocol(_) => ("Protocol".into(), &[][..]),
        ClientError::Timeout(_) => ("Timeout".into(), &[][..]),
    };
    serde_json::to_value(JsonErrorBody {
        kind,
        message: &message,
        problems,
        exit_code: exit::code_for(error),
    })
    .expect("errors serialise")
}

/// Prints an error: words on stderr, or `{"error": ...}` on stdout with `--json`.
fn report_error(error: &ClientError, json: bool) {
    if json {
        println!("{}", serde_json::json!({ "error": json_error(error) }));
    } else {
        eprintln!("penctl: {error}");
    }
}
