//! Pens that misbehave (faults injected into a `pen-sim` process), each beside a healthy
//! simulated pen: the daemon keeps serving the healthy one and its clients, the faulty pen
//! ends retracted, and clients get clear errors. A late reply is never taken for the answer
//! to another request.

use std::time::{Duration, Instant};

use penctl::exit;
use serde_json::Value;
use testkit::{stderr, stdout, PenSim, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

fn status(pend: &Pend, pen: &str) -> Value {
    serde_json::from_str(&stdout(&pend.penctl(&["--json", "status", pen]))).unwrap()
}

fn faulty(serial: &str, fault: &str) -> (PenSim, Pend) {
    let pen = PenSim::start_with(serial, 21, &["--fault", fault]);
    let pend = Pend::start_with(1, &["--sim-socket", pen.socket().to_str().unwrap()]);
    (pen, pend)
}

fn healthy_pen_still_works(pend: &Pend) {
    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.3mm"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
}

#[test]
fn a_pen_that_stops_answering_is_reported_and_retracts_itself() {
    // Handshake (4 frames) and about two seconds of heartbeats, then deaf and mute.
    let (pen, pend) = faulty("SIM-9401", "silent-after=24");
    let mut session = pend.spawn_penctl(&["--json", "session", "SIM-9401"]);
    {
        use std::io::Write;
        let mut input = session.stdin.take().unwrap();
        input
            .write_all(b"set 0.5mm\nstart 100\nsleep 4000\nset 0.4mm\n")
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&pend, "SIM-9401")["state"] != "NotAnswering" {
        assert!(Instant::now() < deadline, "never marked NotAnswering");
        std::thread::sleep(Duration::from_millis(50));
    }
    let report = status(&pend, "SIM-9401");
    assert_eq!(report["problems"][0]["kind"], "NotAnswering", "{report}");
    healthy_pen_still_works(&pend);
    let output = session.wait_with_output().unwrap();
    assert_ne!(code(&output), exit::OK, "{}", stdout(&output));
    // The pen heard nothing more: its own watchdog stopped it and parked it.
    let mut parked = false;
    while let Some(line) = pen.next_truth(Duration::from_secs(2)) {
        let truth: Value = serde_json::from_str(&line).unwrap();
        if truth["watchdog_trips"] == 1 && truth["parked"] == true && truth["needling"] == false {
            parked = true;
            break;
        }
    }
    assert!(parked, "the silent pen did not retract itself");
}

#[test]
fn late_replies_are_never_taken_for_the_next_answer() {
    // Every 7th frame from the pen (the first after the handshake's five) arrives 700 ms late,
    // after the host's 500 ms timeout.
    let (_pen, pend) = faulty("SIM-9402", "late-every=7:700");
    let mut script = String::new();
    let depths: Vec<u32> = (0..24).map(|i| 200 + (i % 6) * 50).collect();
    for depth in &depths {
        script.push_str(&format!("set {depth}um\n"));
    }
    let output = pend.penctl_with_input(&["--json", "session", "SIM-9402"], &script);
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v.get("command").is_some())
        .collect();
    assert_eq!(lines.len(), depths.len());
    let (mut answered, mut timed_out) = (0, 0);
    for (line, depth) in lines.iter().zip(&depths) {
        if let Some(report) = line.get("ok") {
            // An answer is always the answer to its own request.
            assert_eq!(report["depth"], *depth, "{line}");
            answered += 1;
        } else {
            let kind = &line["error"]["kind"];
            assert!(kind == "PenTimeout" || kind == "Superseded", "{line}");
            timed_out += 1;
        }
    }
    println!("{answered} answered, {timed_out} timed out, none mismatched");
    assert!(answered > 0 && timed_out > 0, "{answered} / {timed_out}");
    assert!(
        pend.log().contains("discarded a late reply"),
        "{}",
        pend.log()
    );
    healthy_pen_still_works(&pend);
}

#[test]
fn garbage_from_a_pen_is_discarded_and_the_pen_still_works() {
    let (_pen, pend) = faulty("SIM-9403", "garbage-every=3");
    let output = pend.penctl_with_input(
        &["session", "SIM-9403"],
        "set 0.2mm\nset 0.4mm\nset 0.3mm\n",
    );
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    assert!(
        pend.log().contains("discarded a frame from the pen"),
        "{}",
        pend.log()
    );
    healthy_pen_still_works(&pend);
}

#[test]
fn an_oversized_frame_from_a_pen_cuts_it_off_and_nothing_else() {
    let (pen, pend) = faulty("SIM-9404", "oversized-after=12");
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&pend, "SIM-9404")["state"] != "Offline" {
        assert!(Instant::now() < deadline, "the pen was never cut off");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pend.log().contains("oversized"), "{}", pend.log());
    let output = pend.penctl(&["session", "SIM-9404"]);
    assert_eq!(
        code(&output),
        exit::PEN_NOT_AVAILABLE,
        "{}",
        stderr(&output)
    );
    healthy_pen_still_works(&pend);
    // The pen, cut off from its host, retracts on its own watchdog.
    let mut tripped = false;
    while let Some(line) = pen.next_truth(Duration::from_secs(2)) {
        if serde_json::from_str::<Value>(&line).unwrap()["watchdog_trips"] == 1 {
            tripped = true;
            break;
        }
    }
    assert!(tripped, "the pen's watchdog never tripped");
}

#[test]
fn a_pen_unplugged_mid_request_fails_that_request_as_disconnected() {
    // The cable goes as the second move request arrives, before it is answered.
    let (_pen, pend) = faulty("SIM-9405", "unplug-on-move=2");
    let output = pend.penctl_with_input(
        &["session", "SIM-9405"],
        "set 0.3mm\nset 0.5mm\nset 0.4mm\n",
    );
    assert_ne!(code(&output), exit::OK, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("SIM-9405: depth set to 0.300 mm"),
        "{}",
        stdout(&output)
    );
    let first_error = stderr(&output)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        first_error,
        "penctl: pen SIM-9405 disconnected",
        "{}",
        stderr(&output)
    );
    assert_eq!(status(&pend, "SIM-9405")["state"], "Offline");
    healthy_pen_still_works(&pend);
}
