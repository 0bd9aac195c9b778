//! `penctl`: the command-line client of `pend`.

mod demo;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pen_protocol::api::ApiError;
use penctl::{exit, parse_depth, Client, ClientError};
use pend::paths::{socket_path, SOCKET_ENV};
use serde::Serialize;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  failure (pen timeout, pen refused for a non-safety reason, lost connection...)
  2  usage error (bad arguments, unreadable depth)
  3  safety refusal (over the 1.000 mm ceiling, not calibrated, outside the calibrated
     range, or the pen firmware's own limit)
  4  pend not reachable
  5  no pen, or more than one, matches the name given";

/// Talk to pend, the pen daemon: list pens, read their status, set needle depth.
#[derive(Debug, Parser)]
#[command(version, after_help = EXIT_CODES)]
struct Cli {
    /// pend's socket [default: $XDG_RUNTIME_DIR/pend/pend.sock]
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
    /// Show one pen's status
    Status {
        /// Serial number, or a unique prefix of one
        pen: String,
    },
    /// Needle depth
    #[command(subcommand)]
    Depth(DepthCommand),
    /// Run pend with simulated pens in this process and walk through a short session
    Demo {
        /// How many simulated pens
        #[arg(long, default_value_t = 2)]
        pens: usize,
    },
}

#[derive(Debug, Subcommand)]
enum DepthCommand {
    /// Set the needle depth; refused (never clamped) over the ceiling
    Set {
        /// Serial number, or a unique prefix of one
        pen: String,
        /// Depth: 0.5mm, 500um, or 0.5 (millimetres)
        #[arg(value_parser = depth_arg)]
        depth: u32,
        /// Return once the move has started instead of once the pen reports it reached
        #[arg(long)]
        no_wait: bool,
    },
}

fn depth_arg(text: &str) -> Result<u32, String> {
    parse_depth(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    ExitCode::from(runtime.block_on(run(cli)))
}

async fn run(cli: Cli) -> u8 {
    if let Command::Demo { pens } = cli.command {
        return demo::run(pens).await;
    }
    let socket = socket_path(cli.socket.clone());
    match command(&cli, &socket).await {
        Ok(()) => exit::OK,
        Err(error) => {
            report_error(&error, cli.json);
            exit::code_for(&error)
        }
    }
}

async fn command(cli: &Cli, socket: &std::path::Path) -> Result<(), ClientError> {
    let mut client = Client::connect(socket).await?;
    match &cli.command {
        Command::List => {
            let pens = client.list_pens().await?;
            print_as(cli.json, &pens, || output::pen_table(&pens));
        }
        Command::Status { pen } => {
            let report = client.pen_status(pen).await?;
            print_as(cli.json, &report, || output::pen_status(&report));
        }
        Command::Depth(DepthCommand::Set {
            pen,
            depth,
            no_wait,
        }) => {
            let report = client.set_depth(pen, *depth, !no_wait).await?;
            print_as(cli.json, &report, || output::depth_set(&report));
        }
        Command::Demo { .. } => unreachable!("handled before connecting"),
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
struct JsonError<'a> {
    error: JsonErrorBody<'a>,
}

#[derive(Serialize)]
struct JsonErrorBody<'a> {
    kind: String,
    message: &'a str,
    exit_code: u8,
}

fn report_error(error: &ClientError, json: bool) {
    let message = error.to_string();
    if !json {
        eprintln!("penctl: {message}");
        return;
    }
    let kind = match error {
        ClientError::Api(ApiError { kind, .. }) => format!("{kind:?}"),
        ClientError::Unreachable { .. } => "DaemonUnreachable".into(),
        ClientError::Connection(_) | ClientError::Broken => "ConnectionLost".into(),
        ClientError::Protocol(_) => "Protocol".into(),
        ClientError::Timeout(_) => "Timeout".into(),
    };
    let body = JsonError {
        error: JsonErrorBody {
            kind,
            message: &message,
            exit_code: exit::code_for(error),
        },
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&body).expect("strings serialise to JSON")
    );
}
