//! Bench calibration end to end: `penctl calibrate` against `pend --sim` with the simulated
//! Sylvac gauge on a real pseudo-terminal, checked against the simulated pens' ground truth.

use std::io::BufReader;

use penctl::exit;
use serde_json::Value;
use testkit::{read_line_until, stderr, stdout, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

fn status(pend: &Pend, pen: &str) -> Value {
    serde_json::from_str(&stdout(&pend.penctl(&["--json", "status", pen]))).unwrap()
}

/// Sets each depth in a session and returns (depth, true protrusion) pairs.
fn truth_at(pend: &Pend, pen: &str, depths_um: &[u32]) -> Vec<(u32, f64)> {
    let mut script = String::new();
    for d in depths_um {
        script.push_str(&format!("set {d}um\nstatus\n"));
    }
    let output = pend.penctl_with_input(&["--json", "session", pen], &script);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let statuses: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["command"] == "status")
        .collect();
    depths_um
        .iter()
        .zip(statuses)
        .map(|(&d, s)| (d, s["ok"]["sim"]["true_protrusion_um"].as_f64().unwrap()))
        .collect()
}

fn assert_retracted_with_table(pend: &Pend, pen: &str, table_id: u64) {
    let report = status(pend, pen);
    assert!(
        report["sim"]["true_protrusion_um"].as_f64().unwrap() < 0.0,
        "not retracted: {report}"
    );
    assert_eq!(report["calibration"]["id"], table_id, "{report}");
    assert_eq!(report["calibrating"], false);
}

#[test]
fn calibration_brings_pens_within_tolerance_of_the_truth() {
    let pend = Pend::start(3);
    let depths = [100, 300, 500, 700, 900];
    for pen in ["SIM-0001", "SIM-0002", "SIM-0003"] {
        let before = truth_at(&pend, pen, &depths);
        let output = pend.penctl(&["calibrate", pen, "--gauge", "sim"]);
        assert_eq!(
            code(&output),
            exit::OK,
            "{pen}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        assert!(
            stdout(&output).contains("calibration PASSED"),
            "{}",
            stdout(&output)
        );
        assert_retracted_with_table(&pend, pen, 1);
        let after = truth_at(&pend, pen, &depths);
        let worst = |pairs: &[(u32, f64)]| {
            pairs
                .iter()
                .map(|&(d, t)| (t - f64::from(d)).abs())
                .fold(0.0, f64::max)
        };
        println!(
            "{pen}: worst error against ground truth {:.1} um before, {:.1} um after",
            worst(&before),
            worst(&after)
        );
        for (depth, truth) in after {
            assert!(
                (truth - f64::from(depth)).abs() <= 10.0,
                "{pen}: {depth} um gives {truth:.1} um after calibration"
            );
        }
    }
}

#[test]
fn the_record_and_certificate_say_what_a_lab_needs() {
    let pend = Pend::start(1);
    assert_eq!(
        code(&pend.penctl(&["calibrate", "SIM-0001", "--gauge", "sim"])),
        exit::OK
    );
    let shown = pend.penctl(&["calibration", "show", "SIM-0001"]);
    assert_eq!(code(&shown), exit::OK);
    let text = stdout(&shown);
    for expected in [
        "CAL-000001",
        "PASS",
        "Sylvac SY276-SIM",
        "U = ",
        "guarded acceptance",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let out = tempfile::tempdir().unwrap();
    let exported = pend.penctl(&[
        "calibration",
        "export",
        "SIM-0001",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code(&exported), exit::OK, "{}", stderr(&exported));
    let certificate: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("CAL-000001.json")).unwrap())
            .unwrap();
    for field in [
        "certificate_id",
        "item",
        "method",
        "reference_standard",
        "operator",
        "decision_rule",
        "as_found",
        "as_left",
        "analysis",
        "table_written",
    ] {
        assert!(!certificate[field].is_null(), "certificate lacks {field}");
    }
    assert!(certificate["reference_standard"]["due"].is_string());
    assert_eq!(certificate["analysis"]["uncertainty"]["k"], 2.0);
    let svg = std::fs::read_to_string(out.path().join("CAL-000001.svg")).unwrap();
    assert!(svg.contains("class=\"as-left\"") && svg.contains("class=\"tolerance\""));
}

#[test]
fn an_expired_pen_refused_for_treatment_is_fixed_by_calibrating_it() {
    let pend = Pend::start_with(1, &["--max-calibration-age-days", "7"]);
    assert_eq!(
        code(&pend.penctl(&["session", "SIM-0001"])),
        exit::PEN_NOT_AVAILABLE
    );
    assert_eq!(
        code(&pend.penctl(&["calibrate", "SIM-0001", "--gauge", "sim"])),
        exit::OK
    );
    let output = pend.penctl_with_input(&["session", "SIM-0001"], "set 0.4mm\n");
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
}

#[test]
fn gauge_faults_end_cleanly_with_the_previous_table() {
    let pend = Pend::start(1);
    for (spec, code_expected, words) in [
        ("sim:silent", exit::GAUGE_PROBLEM, "did not answer"),
        (
            "sim:calibrated=2024-01-01",
            exit::GAUGE_PROBLEM,
            "have the gauge recalibrated",
        ),
        (
            "sim:garbled",
            exit::CALIBRATION_FAILED,
            "not a Sylvac reading",
        ),
        ("sim:over-range", exit::CALIBRATION_FAILED, "over its range"),
        (
            "sim:unplug-after=20",
            exit::CALIBRATION_FAILED,
            "calibration stopped",
        ),
        ("keyence:/dev/null", exit::FAILURE, "cannot read gauge spec"),
    ] {
        let output = pend.penctl(&["calibrate", "SIM-0001", "--gauge", spec]);
        let said = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(code(&output), code_expected, "{spec}: {said}");
        assert!(said.contains(words), "{spec}: {said}");
        assert_retracted_with_table(&pend, "SIM-0001", 0);
    }
}

#[test]
fn ctrl_c_aborts_cleanly_and_the_pen_is_free_again() {
    let pend = Pend::start(1);
    let mut calibrate = pend.spawn_penctl(&["calibrate", "SIM-0001", "--gauge", "sim"]);
    let mut progress = BufReader::new(calibrate.stderr.take().unwrap());
    // Wait until it is well into measuring.
    read_line_until(&mut progress, |line| line.contains("measuring"));
    // Meanwhile the pen is nobody else's.
    let report = status(&pend, "SIM-0001");
    assert_eq!(report["calibrating"], true);
    assert_eq!(report["problems"][0]["kind"], "CalibrationInProgress");
    assert_eq!(
        code(&pend.penctl(&["session", "SIM-0001"])),
        exit::PEN_NOT_AVAILABLE
    );

    let pid = rustix::process::Pid::from_child(&calibrate);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let output = calibrate.wait_with_output().unwrap();
    assert_eq!(
        code(&output),
        exit::CALIBRATION_FAILED,
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("calibration aborted") || stdout(&output).contains("stopped"));
    assert_retracted_with_table(&pend, "SIM-0001", 0);
    let output = pend.penctl_with_input(&["session", "SIM-0001"], "set 0.2mm\n");
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
}

#[test]
fn a_killed_calibrate_client_aborts_the_calibration() {
    let pend = Pend::start(1);
    let mut calibrate = pend.spawn_penctl(&["calibrate", "SIM-0001", "--gauge", "sim"]);
    let mut progress = BufReader::new(calibrate.stderr.take().unwrap());
    read_line_until(&mut progress, |line| line.contains("measuring"));
    calibrate.kill().unwrap();
    calibrate.wait().unwrap();
    // The daemon notices the connection close, stops, retracts, keeps the old table.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while status(&pend, "SIM-0001")["calibrating"] == true {
        assert!(
            std::time::Instant::now() < deadline,
            "calibration still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_retracted_with_table(&pend, "SIM-0001", 0);
    assert!(
        pend.log().contains("calibration abandoned"),
        "{}",
        pend.log()
    );
}
