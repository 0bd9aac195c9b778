//! The pen's own last line of defence: when `pend` dies (SIGKILL, no goodbye), the pen hears
//! nothing more and its firmware watchdog stops needling and retracts. Measured against the
//! simulated pen's ground truth, which runs in its own process and outlives the daemon.

use std::io::{BufReader, Write};
use std::time::Duration;

use pen_sim::firmware::WATCHDOG;
use serde_json::Value;
use testkit::{read_line_until, PenSim, Pend};

fn truth(pen: &PenSim) -> Value {
    let line = pen
        .next_truth(Duration::from_secs(5))
        .expect("the pen reports its truth");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
fn a_killed_pend_leaves_the_pen_stopped_and_retracted_by_its_watchdog() {
    let pen = PenSim::start("SIM-9001", 3);
    let socket = pen.socket().to_str().unwrap().to_string();
    let mut pend = Pend::start_with(0, &["--sim-socket", &socket]);

    // A treatment under way: at depth and needling.
    let mut session = pend.spawn_penctl(&["--json", "session", "SIM-9001"]);
    let mut replies = BufReader::new(session.stdout.take().unwrap());
    let mut input = session.stdin.take().unwrap();
    input.write_all(b"set 0.5mm\nstart 100\n").unwrap();
    let line = read_line_until(&mut replies, |line| {
        line.contains("\"command\":\"start 100\"")
    });
    assert!(line.contains("\"ok\""), "{line}");
    let mut state = truth(&pen);
    while !(state["needling"] == true && state["protrusion_um"].as_f64().unwrap() > 400.0) {
        state = truth(&pen);
    }

    pend.kill();

    // The pen's truth from here: first the trip (needling stops, the retract starts), then
    // the pen parked.
    let tripped = loop {
        let state = truth(&pen);
        if state["watchdog_trips"] == 1 {
            break state;
        }
        assert_eq!(
            state["needling"], true,
            "stopped before the watchdog: {state}"
        );
    };
    assert_eq!(tripped["needling"], false, "{tripped}");
    let mut parked = tripped.clone();
    while parked["parked"] != true {
        parked = truth(&pen);
    }
    let last_frame = tripped["last_host_frame_ms"].as_u64().unwrap();
    let stop_ms = tripped["t_ms"].as_u64().unwrap() - last_frame;
    let park_ms = parked["t_ms"].as_u64().unwrap() - last_frame;
    let watchdog_ms = WATCHDOG.as_millis() as u64;
    println!(
        "pend killed: needling stopped {stop_ms} ms and the pen parked {park_ms} ms after the last frame it heard (watchdog {watchdog_ms} ms)"
    );
    assert!(
        stop_ms >= watchdog_ms,
        "tripped before the watchdog time: {stop_ms} ms"
    );
    assert!(
        stop_ms <= watchdog_ms + 20,
        "late to stop needling: {stop_ms} ms"
    );
    // Then the move home from 0.5 mm: about 35 ms at 20 mm/s, plus loop slack.
    assert!(
        park_ms <= watchdog_ms + 100,
        "late to retract: {park_ms} ms"
    );
    assert!(parked["protrusion_um"].as_f64().unwrap() < 0.0, "{parked}");
    let _ = session.kill();
    let _ = session.wait();
}

#[tokio::test(flavor = "current_thread")]
async fn a_pen_that_vanishes_goes_offline_and_its_session_ends() {
    use pen_protocol::api::{ErrorKind, Event, EventFrame, PenState, ProblemKind};
    use penctl::{Client, ClientError};

    let pen = PenSim::start("SIM-9002", 4);
    let socket = pen.socket().to_str().unwrap().to_string();
    let pend = Pend::start_with(0, &["--sim-socket", &socket]);
    let mut watcher = Client::connect(pend.socket()).await.unwrap();
    watcher.subscribe().await.unwrap();
    let mut client = Client::connect(pend.socket()).await.unwrap();
    client
        .open_session("SIM-9002", "unplug test", Duration::ZERO)
        .await
        .unwrap();
    client.set_depth("SIM-9002", 300, true).await.unwrap();

    drop(pen); // the pen is gone: unplugged, powered off

    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|e| matches!(e, Event::PenDisconnected { .. }))
    {
        let next = tokio::time::timeout(Duration::from_secs(5), watcher.next_event()).await;
        if let EventFrame::Event(event) = next.expect("events in time").unwrap() {
            seen.push(event);
        }
    }
    assert!(
        seen.contains(&Event::SessionClosed {
            serial: "SIM-9002".into(),
            reason: "the pen disconnected".into()
        }),
        "{seen:?}"
    );
    let report = client.pen_status("SIM-9002").await.unwrap();
    assert_eq!(report.state, PenState::Offline);
    assert_eq!(report.problems[0].kind, ProblemKind::Offline);
    match client.set_depth("SIM-9002", 300, true).await {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.kind, ErrorKind::PenUnavailable, "{e}");
            assert!(e.message.contains("offline"), "{e}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}
