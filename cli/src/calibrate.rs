//! `penctl calibrate` and `penctl calibration show|export`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use pen_protocol::api::{Event, EventFrame};
use penctl::{exit, Client, ClientError};
use serde_json::Value;

use crate::{plot, report_error};

/// What the technician asked for.
pub struct Request<'a> {
    pub pen: &'a str,
    pub gauge: &'a str,
    pub points_um: Vec<u16>,
    pub repeats: u8,
    pub tolerance_um: u16,
}

/// Runs a calibration to its end, showing progress; returns the exit code.
pub async fn run(client: &mut Client, request: Request<'_>, json: bool) -> u8 {
    let started = async {
        client.subscribe().await?;
        client
            .start_calibration(
                request.pen,
                request.gauge,
                request.points_um,
                request.repeats,
                request.tolerance_um,
            )
            .await
    };
    let serial = match started.await {
        Ok(serial) => serial,
        Err(error) => {
            report_error(&error, json);
            return exit::code_for(&error);
        }
    };
    let live = !json && std::io::stderr().is_terminal();
    if !json {
        eprintln!(
            "calibrating {serial} against {}; Ctrl-C stops it and the pen keeps its previous table",
            request.gauge
        );
    }
    let mut aborting = false;
    let mut last_shown: Option<u8> = None;
    loop {
        let event = tokio::select! {
            event = client.next_event() => event,
            _ = tokio::signal::ctrl_c(), if !aborting => {
                aborting = true;
                eprintln!("\nstopping the calibration...");
                if let Err(error) = client.abort_calibration(&serial).await {
                    report_error(&error, json);
                }
                continue;
            }
        };
        let event = match event {
            Ok(EventFrame::Event(event)) if event.serial() == serial => event,
            Ok(_) => continue,
            Err(error) => {
                report_error(&error, json);
                return exit::code_for(&error);
            }
        };
        if json {
            println!(
                "{}",
                serde_json::to_string(&EventFrame::Event(event.clone())).expect("events serialise")
            );
        }
        match event {
            Event::CalibrationProgress { step, percent, .. } if !json => {
                let bar = "#".repeat(usize::from(percent) / 5);
                if live {
                    eprint!("\r\x1b[2K[{bar:<20}] {percent:3}% {step}");
                    let _ = std::io::stderr().flush();
                } else if last_shown.is_none_or(|shown| percent >= shown + 10)
                    || step.starts_with("writing")
                {
                    // Not a terminal: a line every 10 %, not one per reading.
                    eprintln!("[{bar:<20}] {percent:3}% {step}");
                    last_shown = Some(percent);
                }
            }
            Event::CalibrationFinished {
                passed,
                record_id,
                summary,
                ..
            } => {
                if !json {
                    if live {
                        eprintln!();
                    }
                    let verdict = if passed { "PASSED" } else { "DID NOT PASS" };
                    println!("{serial}: calibration {verdict}: {summary}");
                    if record_id > 0 {
                        println!(
                            "record {record_id}; see it with `penctl calibration show {serial}`"
                        );
                    }
                }
                return if passed {
                    exit::OK
                } else {
                    exit::CALIBRATION_FAILED
                };
            }
            _ => {}
        }
    }
}

/// The latest record of `pen`, parsed.
async fn record(client: &mut Client, pen: &str) -> Result<Value, ClientError> {
    let (_, json) = client.calibration_record(pen).await?;
    serde_json::from_str(&json).map_err(|e| ClientError::Protocol(format!("bad record JSON: {e}")))
}

/// `penctl calibration show PEN`.
pub async fn show(client: &mut Client, pen: &str, json: bool) -> Result<(), ClientError> {
    let record = record(client, pen).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&record).expect("JSON prints")
        );
        return Ok(());
    }
    let worst = |key: &str| {
        record[key]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|v| v["error_um"].as_f64())
                    .map(f64::abs)
                    .fold(0.0, f64::max)
            })
            .unwrap_or(0.0)
    };
    let field = |name: &str, value: String| println!("{name:<20}{value}");
    field(
        "certificate",
        record["certificate_id"].as_str().unwrap_or("-").into(),
    );
    field(
        "pen",
        record["item"]["serial"].as_str().unwrap_or("-").into(),
    );
    field("date", record["date"].as_str().unwrap_or("-").into());
    field(
        "result",
        record["result"].as_str().unwrap_or("-").to_uppercase(),
    );
    if let Some(why) = record["failure"].as_str() {
        field("why", why.into());
    }
    let reference = &record["reference_standard"];
    field(
        "reference gauge",
        format!(
            "{} (calibrated {}, due {})",
            reference["model"].as_str().unwrap_or("-"),
            reference["calibrated"].as_str().unwrap_or("-"),
            reference["due"].as_str().unwrap_or("-")
        ),
    );
    if let Some(u) = record["analysis"]["uncertainty"]["expanded_um"].as_f64() {
        field("uncertainty", format!("U = {u:.1} um (k=2)"));
    }
    field("as-found worst", format!("{:.1} um", worst("as_found")));
    field("as-left worst", format!("{:.1} um", worst("as_left")));
    if let Some(table) = record["table_written"].as_object() {
        field(
            "table written",
            format!(
                "#{} with a {} um margin: usable to {} um",
                table["id"], table["margin_um"], table["usable_ceiling_um"]
            ),
        );
    }
    field(
        "decision rule",
        record["decision_rule"].as_str().unwrap_or("-").into(),
    );
    Ok(())
}

/// `penctl calibration export PEN --out DIR`: the certificate as JSON and the plot as SVG.
/// Returns the exit code.
pub async fn export(client: &mut Client, pen: &str, out: &Path, json: bool) -> u8 {
    let record = match record(client, pen).await {
        Ok(record) => record,
        Err(error) => {
            report_error(&error, json);
            return exit::code_for(&error);
        }
    };
    let name = record["certificate_id"]
        .as_str()
        .unwrap_or("calibration")
        .to_string();
    let written = std::fs::create_dir_all(out)
        .and_then(|()| {
            std::fs::write(
                out.join(format!("{name}.json")),
                serde_json::to_string_pretty(&record).expect("JSON prints"),
            )
        })
        .and_then(|()| std::fs::write(out.join(format!("{name}.svg")), plot::error_plot(&record)));
    if let Err(error) = written {
        eprintln!(
            "penctl: cannot write the certificate to {}: {error}",
            out.display()
        );
        return exit::FAILURE;
    }
    println!("{}", out.join(format!("{name}.json")).display());
    println!("{}", out.join(format!("{name}.svg")).display());
    exit::OK
}
