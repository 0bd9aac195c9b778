//! End to end: the real `pend` binary with simulated pens, driven by the real `penctl`
//! binary over the real socket.

use pen_sim::factory::FACTORY_TABLE_MAX_ERROR_UM;
use penctl::exit;
use serde_json::Value;
use testkit::{penctl_at, stderr, stdout, Pend};

fn code(output: &std::process::Output) -> u8 {
    let code = output.status.code().expect("penctl exited normally");
    u8::try_from(code).expect("exit codes fit a byte")
}

fn json(pend: &Pend, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let output = pend.penctl(&all);
    serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| {
        panic!(
            "penctl {args:?} printed no JSON ({e}):\n{}\n{}",
            stdout(&output),
            stderr(&output)
        )
    })
}

fn sim_truth(pend: &Pend, pen: &str) -> (f64, f64) {
    let status = json(pend, &["status", pen]);
    let sim = &status["sim"];
    (
        sim["true_protrusion_um"].as_f64().expect("true protrusion"),
        sim["max_true_protrusion_um"].as_f64().expect("deepest"),
    )
}

#[test]
fn list_shows_both_simulated_pens_ready() {
    let pend = Pend::start(2);
    let output = pend.penctl(&["list"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("SIM-0001") && text.contains("SIM-0002"),
        "{text}"
    );

    let pens = json(&pend, &["list"]);
    let pens = pens.as_array().expect("a JSON array");
    assert_eq!(pens.len(), 2);
    for pen in pens {
        assert_eq!(pen["state"], "Ready", "{pen}");
        assert_eq!(pen["link"], "sim");
    }
}

/// Runs `penctl --json session PEN` with `commands` piped in; returns the JSON lines and the
/// exit code.
fn session(pend: &Pend, pen: &str, commands: &str) -> (Vec<Value>, u8) {
    let output = pend.penctl_with_input(&["--json", "session", pen], commands);
    let lines = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}")))
        .collect();
    (lines, code(&output))
}

/// The results of the session's commands named `command`, in order.
fn results<'a>(lines: &'a [Value], command: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["command"] == command).collect()
}

#[test]
fn half_a_millimetre_is_set_and_reached_within_the_factory_table_error() {
    let pend = Pend::start(2);
    let (lines, exit_code) = session(&pend, "SIM-0001", "set 0.5mm\nstatus\n");
    assert_eq!(exit_code, exit::OK, "{lines:?}");
    let set = results(&lines, "set 0.5mm")[0];
    assert_eq!(set["ok"]["depth"], 500);
    assert_eq!(set["ok"]["reached"], true);
    let status = &results(&lines, "status")[0]["ok"];
    let truth = status["sim"]["true_protrusion_um"].as_f64().unwrap();
    assert!(
        (truth - 500.0).abs() <= FACTORY_TABLE_MAX_ERROR_UM,
        "true protrusion {truth} um for a 500 um setpoint"
    );
    assert_eq!(status["setpoint"], 500);
    // The session ended with the input: the pen is retracted again.
    let (after, _) = sim_truth(&pend, "SIM-0001");
    assert!(after < 0.0, "SIM-0001 still protrudes {after} um");
    // The other pen was never touched.
    let (other, deepest) = sim_truth(&pend, "SIM-0002");
    assert!(
        other < 0.0 && deepest < 0.0,
        "SIM-0002 moved to {deepest} um"
    );
}

#[test]
fn depths_over_the_ceiling_are_refused_with_the_safety_code_and_nothing_moves() {
    let pend = Pend::start(2);
    let over = ["1.001mm", "1.2mm", "1001um", "4294967.295mm"];
    let mut script = String::from("set 0.5mm\nstatus\n");
    for depth in over {
        script.push_str(&format!("set {depth}\n"));
    }
    script.push_str("status\n");
    let (lines, exit_code) = session(&pend, "SIM-0001", &script);
    assert_eq!(exit_code, exit::SAFETY_REFUSAL, "{lines:?}");
    for depth in over {
        let error = &results(&lines, &format!("set {depth}"))[0]["error"];
        assert_eq!(error["kind"], "OverCeiling", "{depth}");
        assert_eq!(error["exit_code"], exit::SAFETY_REFUSAL);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("1.000 mm ceiling"), "{depth}: {message}");
    }
    let statuses = results(&lines, "status");
    let truth = |i: usize| {
        statuses[i]["ok"]["sim"]["true_protrusion_um"]
            .as_f64()
            .unwrap()
    };
    assert_eq!(truth(0), truth(1), "the pen moved on a refused setpoint");
    assert_eq!(statuses[1]["ok"]["setpoint"], 500);
    let (_, deepest) = sim_truth(&pend, "SIM-0001");
    assert!(deepest <= 1000.0, "the needle reached {deepest} um");

    // The one-shot command refuses the same way.
    let output = pend.penctl(&["depth", "set", "SIM-0001", "1.2mm"]);
    assert_eq!(code(&output), exit::SAFETY_REFUSAL);
    assert!(
        stderr(&output).contains("1.000 mm ceiling"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_refusal_in_json_names_its_kind_and_exit_code() {
    let pend = Pend::start(1);
    let output = pend.penctl(&["--json", "depth", "set", "SIM-0001", "1.2mm"]);
    assert_eq!(code(&output), exit::SAFETY_REFUSAL);
    let body: Value = serde_json::from_str(&stdout(&output)).expect("JSON error");
    assert_eq!(body["error"]["kind"], "OverCeiling");
    assert_eq!(body["error"]["exit_code"], exit::SAFETY_REFUSAL);
}

#[test]
fn between_the_usable_and_the_hard_ceiling_is_refused_too() {
    // The factory table keeps a 20 um margin: 0.990 mm is under 1 mm but over 0.980 mm.
    let pend = Pend::start(1);
    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.99mm"]);
    assert_eq!(code(&output), exit::SAFETY_REFUSAL);
    assert!(
        stderr(&output).contains("usable ceiling of 0.980 mm"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_one_shot_depth_set_reaches_the_depth_then_retracts() {
    let pend = Pend::start(1);
    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.25mm"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("depth set to 0.250 mm") && text.contains("retracted"),
        "{text}"
    );
    let (now, deepest) = sim_truth(&pend, "SIM-0001");
    assert!(now < 0.0, "still protruding {now} um");
    assert!(
        (deepest - 250.0).abs() <= FACTORY_TABLE_MAX_ERROR_UM,
        "{deepest}"
    );
}

#[test]
fn unknown_and_ambiguous_pens_are_clear_errors() {
    let pend = Pend::start(2);
    let output = pend.penctl(&["depth", "set", "NOPE", "0.5mm"]);
    assert_eq!(code(&output), exit::NO_SUCH_PEN);
    let message = stderr(&output);
    assert!(message.contains("no pen matches \"NOPE\""), "{message}");
    assert!(message.contains("SIM-0001, SIM-0002"), "{message}");

    let output = pend.penctl(&["status", "SIM"]);
    assert_eq!(code(&output), exit::NO_SUCH_PEN);
    assert!(stderr(&output).contains("matches several pens"));

    // A unique prefix is enough.
    let output = pend.penctl(&["status", "SIM-0002"]);
    assert_eq!(code(&output), exit::OK);
    let output = pend.penctl(&["session", "SIM-00"]);
    assert_eq!(code(&output), exit::NO_SUCH_PEN);
}

#[test]
fn an_unreadable_depth_is_a_usage_error() {
    let pend = Pend::start(1);
    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.0005mm"]);
    assert_eq!(code(&output), exit::USAGE);
    assert!(
        stderr(&output).contains("finer than 1 um"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn no_daemon_has_its_own_exit_code_and_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let output = penctl_at(&dir.path().join("missing.sock"), &["list"]);
    assert_eq!(code(&output), exit::DAEMON_UNREACHABLE);
    assert!(
        stderr(&output).contains("pend --sim 2"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn sigterm_retracts_the_pens_and_removes_the_socket() {
    let mut pend = Pend::start(2);
    assert_eq!(
        code(&pend.penctl(&["depth", "set", "SIM-0001", "0.5mm"])),
        exit::OK
    );
    let status = pend.terminate();
    assert!(status.success(), "pend exited with {status}");
    assert!(!pend.socket().exists(), "socket file left behind");
    let log = pend.log();
    assert_eq!(
        log.matches("pen retracted").count(),
        2,
        "both pens should confirm the retract:\n{log}"
    );
}

#[test]
fn the_demo_runs_and_shows_the_refusal() {
    let dir = tempfile::tempdir().unwrap();
    // The demo ignores --socket: it makes its own.
    let output = penctl_at(&dir.path().join("unused.sock"), &["demo"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("depth set to 0.500 mm"), "{text}");
    assert!(
        text.contains("refused: 1.200 mm is over the 1.000 mm ceiling"),
        "{text}"
    );
    assert!(text.contains("pens retracted"), "{text}");
}

#[test]
fn heartbeats_keep_a_held_pen_at_its_depth() {
    // Two heartbeats at work: penctl's keep the session (lease 1.5 s) through a 2 s pause,
    // and pend's keep the pen's 500 ms watchdog from retracting it.
    let pend = Pend::start(1);
    let (lines, exit_code) = session(&pend, "SIM-0001", "set 0.3mm\nstatus\nsleep 2000\nstatus\n");
    assert_eq!(exit_code, exit::OK, "{lines:?}");
    let statuses = results(&lines, "status");
    let truth = |i: usize| {
        statuses[i]["ok"]["sim"]["true_protrusion_um"]
            .as_f64()
            .unwrap()
    };
    assert!(truth(0) > 250.0, "not at depth: {}", truth(0));
    assert_eq!(truth(0), truth(1), "the held pen moved while idle");
    assert!(
        statuses[1]["ok"]["session"].is_object(),
        "the session lapsed"
    );
    assert!(!pend.log().contains("watchdog expired"), "{}", pend.log());
}

#[test]
fn pend_says_once_when_the_machine_has_no_usb_and_serves_simulated_pens() {
    let pend = Pend::start_with(1, &["--usb-id", "1209:0001"]);
    let output = pend.penctl(&["list"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    assert!(stdout(&output).contains("SIM-0001"), "{}", stdout(&output));
    let said = pend
        .log()
        .matches("no USB subsystem on this machine")
        .count();
    if std::path::Path::new("/sys/bus/usb").exists() {
        assert_eq!(said, 0, "{}", pend.log());
        assert!(
            pend.log().contains("watching USB for pens"),
            "{}",
            pend.log()
        );
    } else {
        assert_eq!(said, 1, "{}", pend.log());
    }
}
