//! `penctl session PEN`: hold a treatment session and type (or pipe) commands into it.
//!
//! Heartbeats go out on their own while the session waits for input, so a person can think
//! between commands; when input ends (or `close`), the session is closed and the daemon
//! retracts the pen. If penctl dies, the daemon does the same when the connection drops.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use penctl::{exit, parse_depth, Client, ClientError};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::{interval, sleep, Interval, MissedTickBehavior};

use crate::{output, report_error};

/// The commands, for the banner and for usage errors.
pub const COMMANDS: &str = "set DEPTH | start RATE | stop | status | identify | sleep MS | close";

/// What one command gave: words for people and a value for `--json`.
struct Outcome {
    text: String,
    json: Value,
}

enum Failure {
    Usage(String),
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Self {
        Failure::Client(error)
    }
}

/// Runs a session on `pen`; returns the exit code (that of the first failed command).
pub async fn run(client: &mut Client, pen: &str, name: &str, wait: Duration, json: bool) -> u8 {
    let info = match client.open_session(pen, name, wait).await {
        Ok(info) => info,
        Err(error) => {
            report_error(&error, json);
            return exit::code_for(&error);
        }
    };
    let serial = info.serial;
    let mut beat = interval(Duration::from_millis((info.lease_ms / 3).max(50).into()));
    beat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let interactive = std::io::stdin().is_terminal();
    if json {
        println!(
            "{}",
            json!({"session": {"serial": serial, "lease_ms": info.lease_ms}})
        );
    } else {
        println!("session open on {serial}; the pen retracts when it ends. Commands: {COMMANDS}");
    }
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut first_failure = None;
    loop {
        if interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
        let line = loop {
            tokio::select! {
                line = lines.next_line() => break line,
                _ = beat.tick() => {
                    if let Err(error) = client.heartbeat().await {
                        report_error(&error, json);
                        return exit::code_for(&error);
                    }
                }
            }
        };
        let line = match line {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(error) => {
                eprintln!("penctl: cannot read commands: {error}");
                first_failure.get_or_insert(exit::FAILURE);
                break;
            }
        };
        let command = line.trim();
        if command.is_empty() || command.starts_with('#') {
            continue;
        }
        if matches!(command, "close" | "quit" | "exit") {
            break;
        }
        let outcome = execute(client, &serial, command, &mut beat).await;
        let code = show(command, outcome, json);
        if code != exit::OK {
            first_failure.get_or_insert(code);
        }
    }
    match client.close_session(&serial).await {
        Ok(()) if json => println!("{}", json!({"closed": serial})),
        Ok(()) => println!("session closed; {serial} retracted"),
        Err(error) => {
            report_error(&error, json);
            first_failure.get_or_insert(exit::code_for(&error));
        }
    }
    first_failure.unwrap_or(exit::OK)
}

fn show(command: &str, outcome: Result<Outcome, Failure>, json: bool) -> u8 {
    match outcome {
        Ok(outcome) if json => {
            println!("{}", json!({"command": command, "ok": outcome.json}));
            exit::OK
        }
        Ok(outcome) => {
            print!("{}", outcome.text);
            exit::OK
        }
        Err(Failure::Usage(message)) => {
            if json {
                let error = json!({"kind": "Usage", "message": message, "exit_code": exit::USAGE});
                println!("{}", json!({"command": command, "error": error}));
            } else {
                eprintln!("penctl: {message}");
            }
            exit::USAGE
        }
        Err(Failure::Client(error)) => {
            if json {
                println!(
                    "{}",
                    json!({"command": command, "error": crate::json_error(&error)})
                );
            } else {
                eprintln!("penctl: {error}");
            }
            exit::code_for(&error)
        }
    }
}

async fn execute(
    client: &mut Client,
    serial: &str,
    command: &str,
    beat: &mut Interval,
) -> Result<Outcome, Failure> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let usage = || Failure::Usage(format!("unknown command {command:?}; try: {COMMANDS}"));
    let done = |text: String| Outcome {
        text,
        json: Value::Null,
    };
    match words.as_slice() {
        ["set", depth] => {
            let um = parse_depth(depth).map_err(|e| Failure::Usage(e.to_string()))?;
            let report = client.set_depth(serial, um, true).await?;
            Ok(Outcome {
                text: output::depth_set(&report),
                json: json!(report),
            })
        }
        ["start", rate] => {
            let rate: u16 = rate
                .parse()
                .map_err(|_| Failure::Usage(format!("{rate:?} is not a stroke rate")))?;
            client.start_needling(serial, rate).await?;
            Ok(done(format!("needling at {rate} strokes/s\n")))
        }
        ["stop"] => {
            client.stop_needling(serial).await?;
            Ok(done("needling stopped\n".into()))
        }
        ["status"] => {
            let report = client.pen_status(serial).await?;
            Ok(Outcome {
                text: output::pen_status(&report),
                json: json!(report),
            })
        }
        ["identify"] => {
            client.identify(serial).await?;
            Ok(done(format!("{serial} is blinking and buzzing\n")))
        }
        ["sleep", ms] => {
            let ms: u64 = ms
                .trim_end_matches("ms")
                .parse()
                .map_err(|_| Failure::Usage(format!("{ms:?} is not a number of milliseconds")))?;
            let nap = sleep(Duration::from_millis(ms));
            tokio::pin!(nap);
            loop {
                tokio::select! {
                    _ = &mut nap => break,
                    _ = beat.tick() => client.heartbeat().await?,
                }
            }
            Ok(done(String::new()))
        }
        _ => Err(usage()),
    }
}
