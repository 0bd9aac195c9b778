//! Calibration benchmark: for several simulated pens (different non-linearity and backlash),
//! calibrate against the simulated gauge, then measure the result against ground truth.
//!
//! Prints, per pen: the worst |true - set| depth error after calibration, and the wall time
//! of the calibration against its physical minimum: every move at the motor's 20 mm/s plus
//! its 5 ms settling, plus, per settled reading, the three request/reply exchanges on the
//! 4800-baud line that agreement takes at the least.
//!
//! `cargo bench -p penctl --bench calibration`

use std::time::{Duration, Instant};

use pen_protocol::api::{Event, EventFrame};
use pen_sim::gauge::SimGauge;
use penctl::Client;
use pend::{Daemon, DaemonConfig};
use serde_json::Value;

const PENS: usize = 6;
const SPEED_COUNTS_PER_MS: f64 = 80.0;
const SETTLE_MS: f64 = 5.0;
const READINGS_TO_SETTLE: f64 = 3.0;

/// The physical minimum of the calibration in `record`, from its moves and readings.
fn physical_minimum(record: &Value) -> Duration {
    let line_ms = SimGauge::line_time("?", "+0.498\r").as_secs_f64() * 1000.0;
    let mut at = -400.0; // parked
    let mut ms = 12.0; // homing from parked: out to the stop and back
    let mut moves = |to: f64, ms: &mut f64| {
        if to != at {
            *ms += (to - at).abs() / SPEED_COUNTS_PER_MS + SETTLE_MS;
            at = to;
        }
    };
    let readings = 1 + ["as_found", "measurements", "as_left"]
        .iter()
        .map(|k| record[*k].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    for key in ["as_found", "measurements", "as_left"] {
        for sample in record[key].as_array().into_iter().flatten() {
            let raw = sample["raw"].as_f64().unwrap();
            if sample["direction"] == "FromAbove" {
                // Approached from 50 um above: the record holds the target only; take the
                // shortest such path, 200 counts above.
                moves(raw + 200.0, &mut ms);
            }
            moves(raw, &mut ms);
        }
    }
    moves(-400.0, &mut ms); // retract
    ms += readings as f64 * READINGS_TO_SETTLE * line_ms;
    Duration::from_secs_f64(ms / 1000.0)
}

async fn worst_error_after(client: &mut Client, pen: &str) -> f64 {
    client
        .open_session(pen, "benchmark", Duration::ZERO)
        .await
        .unwrap();
    let mut worst: f64 = 0.0;
    for depth in (50..=950).step_by(50) {
        client.set_depth(pen, depth, true).await.unwrap();
        let truth = client
            .pen_status(pen)
            .await
            .unwrap()
            .sim
            .unwrap()
            .true_protrusion_um;
        worst = worst.max((truth - f64::from(depth)).abs());
        client.heartbeat().await.unwrap();
    }
    client.close_session(pen).await.unwrap();
    worst
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = DaemonConfig::new(dir.path().join("pend.sock"), PENS);
    config.state_dir = dir.path().join("state");
    config.json_socket = None;
    config.usb = None;
    let daemon = Daemon::start(config).await.unwrap();
    let socket = daemon.socket_path().to_path_buf();
    println!("calibration against the simulated 1 um gauge, default plan (6 points, 3 repeats, hysteresis)");
    println!(
        "{:<10} {:>12} {:>12} {:>10} {:>10} {:>7}",
        "pen", "worst error", "U (k=2)", "wall", "minimum", "ratio"
    );
    let (mut total_wall, mut total_min, mut worst_all) = (Duration::ZERO, Duration::ZERO, 0.0f64);
    for index in 1..=PENS {
        let pen = format!("SIM-{index:04}");
        let mut client = Client::connect(&socket).await.unwrap();
        client.subscribe().await.unwrap();
        let started = Instant::now();
        client
            .start_calibration(&pen, "sim", Vec::new(), 0, 0)
            .await
            .unwrap();
        loop {
            if let EventFrame::Event(Event::CalibrationFinished {
                serial,
                passed,
                summary,
                ..
            }) = client.next_event().await.unwrap()
            {
                if serial == pen {
                    assert!(passed, "{pen}: {summary}");
                    break;
                }
            }
        }
        let wall = started.elapsed();
        let (_, json) = client.calibration_record(&pen).await.unwrap();
        let record: Value = serde_json::from_str(&json).unwrap();
        let minimum = physical_minimum(&record);
        let u = record["analysis"]["uncertainty"]["expanded_um"]
            .as_f64()
            .unwrap();
        let worst = worst_error_after(&mut client, &pen).await;
        println!(
            "{pen:<10} {:>9.1} um {:>9.1} um {:>8.2} s {:>8.2} s {:>6.2}x",
            worst,
            u,
            wall.as_secs_f64(),
            minimum.as_secs_f64(),
            wall.as_secs_f64() / minimum.as_secs_f64()
        );
        total_wall += wall;
        total_min += minimum;
        worst_all = worst_all.max(worst);
    }
    println!(
        "all        {worst_all:>9.1} um {:>12} {:>8.2} s {:>8.2} s {:>6.2}x   (goal: <= 5 um, <= 1.2x)",
        "",
        total_wall.as_secs_f64(),
        total_min.as_secs_f64(),
        total_wall.as_secs_f64() / total_min.as_secs_f64()
    );
    daemon.shut_down().await;
}
