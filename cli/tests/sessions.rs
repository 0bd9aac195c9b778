//! Treatment sessions, readiness and events, end to end: the real `pend` with simulated pens,
//! clients as the real `penctl` binary or the client library over the real socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::ChildStdout;
use std::time::{Duration, Instant};

use pen_protocol::api::{encode_client_frame, ClientRequest, Event, EventFrame, Request};
use penctl::{exit, Client, ClientError};
use serde_json::Value;
use testkit::{read_line_until, stderr, stdout, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

fn status(pend: &Pend, pen: &str) -> Value {
    let output = pend.penctl(&["--json", "status", pen]);
    serde_json::from_str(&stdout(&output)).expect("status JSON")
}

/// Reads JSON lines from a running `penctl --json session` until one satisfies `done`.
fn read_until(lines: &mut BufReader<ChildStdout>, done: impl Fn(&Value) -> bool) -> Value {
    let json = |line: &str| -> Value { serde_json::from_str(line).unwrap() };
    json(&read_line_until(lines, |line| done(&json(line))))
}

/// Polls the pen's simulated truth until it is parked and not needling; returns how long
/// that took from `since`.
fn wait_retracted(pend: &Pend, pen: &str, since: Instant, limit: Duration) -> Duration {
    loop {
        let sim = &status(pend, pen)["sim"];
        let parked = sim["true_protrusion_um"].as_f64().unwrap() < 0.0;
        if parked && sim["needling"] == false {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "not retracted after {limit:?}: {sim}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_second_client_is_refused_while_a_session_is_held_and_may_wait_in_line() {
    let pend = Pend::start(1);
    let mut holder = pend.spawn_penctl(&["--json", "session", "SIM-0001", "--name", "room 2"]);
    let mut holder_out = BufReader::new(holder.stdout.take().unwrap());
    read_until(&mut holder_out, |v| v.get("session").is_some());

    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.2mm"]);
    assert_eq!(code(&output), exit::PEN_NOT_AVAILABLE);
    let message = stderr(&output);
    assert!(message.contains("in use by \"room 2\""), "{message}");
    assert_eq!(
        status(&pend, "SIM-0001")["session"]["client_name"],
        "room 2"
    );

    // A second client waits in line; the first closes; the second gets the pen.
    let mut waiter = pend.spawn_penctl(&["--json", "session", "SIM-0001", "--wait", "10"]);
    std::thread::sleep(Duration::from_millis(300));
    let mut holder_in = holder.stdin.take().unwrap();
    holder_in.write_all(b"close\n").unwrap();
    drop(holder_in);
    assert!(holder.wait().unwrap().success());
    let mut waiter_in = waiter.stdin.take().unwrap();
    waiter_in.write_all(b"set 0.2mm\n").unwrap();
    drop(waiter_in);
    let output = waiter.wait_with_output().unwrap();
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\"reached\":true"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_killed_session_client_leaves_the_pen_stopped_and_retracted() {
    let pend = Pend::start(1);
    let mut client = pend.spawn_penctl(&["--json", "session", "SIM-0001"]);
    let mut out = BufReader::new(client.stdout.take().unwrap());
    let mut input = client.stdin.take().unwrap();
    input.write_all(b"set 0.5mm\nstart 100\nstatus\n").unwrap();
    let reply = read_until(&mut out, |v| v["command"] == "status");
    assert_eq!(reply["ok"]["sim"]["needling"], true, "{reply}");
    assert!(reply["ok"]["sim"]["true_protrusion_um"].as_f64().unwrap() > 400.0);

    client.kill().unwrap(); // SIGKILL: no goodbye, no close
    let killed = Instant::now();
    client.wait().unwrap();
    let took = wait_retracted(&pend, "SIM-0001", killed, Duration::from_secs(3));
    println!("pen stopped and parked {took:?} after the client was killed");
    assert!(status(&pend, "SIM-0001")["session"].is_null());
    assert!(pend.log().contains("client disconnected"), "{}", pend.log());
}

/// Like [`wait_retracted`], through the client library.
async fn wait_retracted_async(
    client: &mut Client,
    pen: &str,
    since: Instant,
    limit: Duration,
) -> Duration {
    loop {
        let sim = client
            .pen_status(pen)
            .await
            .unwrap()
            .sim
            .expect("a sim pen");
        if sim.true_protrusion_um < 0.0 && !sim.needling {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < limit,
            "not retracted after {limit:?}: {sim:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_silent_client_loses_its_session_when_the_lease_runs_out() {
    let pend = Pend::start(1);
    let mut client = Client::connect(pend.socket()).await.unwrap();
    let mut observer = Client::connect(pend.socket()).await.unwrap();
    let lease = client
        .open_session("SIM-0001", "goes quiet", Duration::ZERO)
        .await
        .unwrap();
    client.set_depth("SIM-0001", 400, true).await.unwrap();
    client.start_needling("SIM-0001", 100).await.unwrap();
    let quiet = Instant::now(); // the connection stays open; nothing more is sent on it
    let took = wait_retracted_async(&mut observer, "SIM-0001", quiet, Duration::from_secs(5)).await;
    println!(
        "pen retracted {took:?} after its client went quiet (lease {} ms)",
        lease.lease_ms
    );
    let lease = Duration::from_millis(lease.lease_ms.into());
    assert!(
        took >= lease - Duration::from_millis(100),
        "retracted too early: {took:?}"
    );
    assert!(
        took <= lease + Duration::from_secs(1),
        "retracted too late: {took:?}"
    );
    assert!(pend.log().contains("heartbeat lost"), "{}", pend.log());
    // The lapsed session is gone: the next setpoint is refused, not carried out.
    match client.set_depth("SIM-0001", 400, true).await {
        Err(ClientError::Api(e)) => assert_eq!(e.kind, pen_protocol::api::ErrorKind::NoSession),
        other => panic!("expected NoSession, got {other:?}"),
    }
}

#[test]
fn a_pen_with_problems_refuses_a_session_and_lists_them() {
    // Simulated pens were calibrated 30 days ago; allow only 7.
    let pend = Pend::start_with(1, &["--max-calibration-age-days", "7"]);
    let output = pend.penctl(&["session", "SIM-0001"]);
    assert_eq!(code(&output), exit::PEN_NOT_AVAILABLE);
    let message = stderr(&output);
    assert!(message.contains("is not ready"), "{message}");
    assert!(
        message.contains("30 days old, more than the 7 days allowed"),
        "{message}"
    );

    let output = pend.penctl(&["--json", "session", "SIM-0001"]);
    let body: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(body["error"]["kind"], "PenNotReady");
    assert_eq!(body["error"]["problems"][0]["kind"], "CalibrationExpired");

    let report = status(&pend, "SIM-0001");
    assert_eq!(report["problems"][0]["kind"], "CalibrationExpired");
    let text = stdout(&pend.penctl(&["status", "SIM-0001"]));
    assert!(
        text.contains("not ready") && text.contains("recalibrate"),
        "{text}"
    );
}

#[test]
fn identify_makes_the_pen_signal() {
    let pend = Pend::start(2);
    assert_eq!(status(&pend, "SIM-0002")["sim"]["identifying"], false);
    let output = pend.penctl(&["identify", "SIM-0002"]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    assert_eq!(status(&pend, "SIM-0002")["sim"]["identifying"], true);
    assert_eq!(status(&pend, "SIM-0001")["sim"]["identifying"], false);
}

#[tokio::test(flavor = "current_thread")]
async fn a_watcher_sees_the_session_as_it_happens() {
    let pend = Pend::start(1);
    let mut watcher = Client::connect(pend.socket()).await.unwrap();
    watcher.subscribe().await.unwrap();
    let socket = pend.socket().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        testkit::penctl_with_input_at(
            &socket,
            &["session", "SIM-0001", "--name", "watched"],
            "set 0.4mm\nstart 90\nstop\n",
        )
    })
    .await
    .unwrap();
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let next = tokio::time::timeout(Duration::from_secs(5), watcher.next_event()).await;
        match next.expect("events in time").unwrap() {
            EventFrame::Event(event) => seen.push(event),
            EventFrame::Missed { count } => panic!("missed {count} events"),
        }
    }
    let serial = "SIM-0001".to_string();
    assert_eq!(
        seen,
        [
            Event::SessionOpened {
                serial: serial.clone(),
                client_name: "watched".into()
            },
            Event::DepthReached {
                serial: serial.clone(),
                depth: pen_protocol::DepthUm::new(400).unwrap()
            },
            Event::NeedlingStarted {
                serial: serial.clone(),
                strokes_per_s: 90
            },
            Event::NeedlingStopped {
                serial: serial.clone()
            },
            Event::SessionClosed {
                serial,
                reason: "closed by the client".into()
            },
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_subscriber_that_never_reads_costs_bounded_memory_and_delays_nobody() {
    let pend = Pend::start(1);
    // Subscribes, then never reads a byte.
    let mut stuck = UnixStream::connect(pend.socket()).unwrap();
    let subscribe = ClientRequest {
        id: 1,
        request: Request::Subscribe,
    };
    stuck
        .write_all(&encode_client_frame(&subscribe).unwrap())
        .unwrap();

    let mut busy = Client::connect(pend.socket()).await.unwrap();
    let mut bystander = Client::connect(pend.socket()).await.unwrap();
    let mut watcher = Client::connect(pend.socket()).await.unwrap();
    watcher.subscribe().await.unwrap();
    // Warm up, then measure: every cycle makes two events (session opened and closed).
    for _ in 0..200 {
        busy.open_session("SIM-0001", "cycler", Duration::ZERO)
            .await
            .unwrap();
        busy.close_session("SIM-0001").await.unwrap();
    }
    let before = pend.rss_kib();
    let mut slowest = Duration::ZERO;
    for round in 0..3000 {
        busy.open_session("SIM-0001", "cycler", Duration::ZERO)
            .await
            .unwrap();
        busy.close_session("SIM-0001").await.unwrap();
        if round % 300 == 0 {
            let asked = Instant::now();
            bystander.list_pens().await.unwrap();
            slowest = slowest.max(asked.elapsed());
        }
    }
    let after = pend.rss_kib();
    println!("6000 events with a stuck subscriber: RSS {before} -> {after} KiB; slowest bystander reply {slowest:?}");
    assert!(
        after <= before + 4 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a bystander waited {slowest:?}"
    );
    // A subscriber that reads but fell behind is told how many it missed.
    let mut missed = 0;
    let mut events = 0;
    while events + missed < 6400 {
        match tokio::time::timeout(Duration::from_secs(5), watcher.next_event()).await {
            Ok(Ok(EventFrame::Missed { count })) => missed += count,
            Ok(Ok(EventFrame::Event(_))) => events += 1,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => break,
        }
    }
    println!("the reading watcher got {events} events and was told of {missed} missed");
    assert_eq!(events + missed, 6400, "events lost without a count");
}

#[test]
fn penctl_watch_prints_events_as_json_lines() {
    let pend = Pend::start(1);
    let mut watch = pend.spawn_penctl(&["--json", "watch", "--count", "3"]);
    let mut ready = String::new();
    BufReader::new(watch.stderr.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(ready.contains("watching events"), "{ready}");
    let output = pend.penctl_with_input(&["session", "SIM-0001", "--name", "w"], "set 0.2mm\n");
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    let output = watch.wait_with_output().unwrap();
    let events: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["Event"]["SessionOpened"]["client_name"], "w");
    assert_eq!(events[1]["Event"]["DepthReached"]["depth"], 200);
    assert_eq!(
        events[2]["Event"]["SessionClosed"]["reason"],
        "closed by the client"
    );
}
