//! Golden byte vectors: the exact bytes of sample frames, as published in `docs/protocol.md`
//! and `docs/api.md`. Each document holds a table of `| name | hex |` rows under a heading
//! "Golden vectors"; this test encodes each named message, compares it with the document,
//! and decodes the document's bytes back. A firmware written in C can test itself against
//! the same tables.

use std::collections::BTreeMap;

use pen_protocol::api::{
    encode_client_frame, ClientReply, ClientRequest, DepthSetReport, Event, EventFrame, Request,
    Response, ServerFrame,
};
use pen_protocol::pen::{
    decode_host_frame, decode_pen_frame, encode_frame, Approach, FaultCode, HostFrame, HostRequest,
    PenError, PenEvent, PenFrame, PenIdentity, PenReply, PenStatus, MAX_PEN_FRAME,
    SCHEMA_FINGERPRINT,
};
use pen_protocol::{CalPoint, CalibrationTable, DepthUm, RawCounts, StrokeRate};

enum Golden {
    Host(HostFrame),
    Pen(PenFrame),
    Request(ClientRequest),
    Server(ServerFrame),
}

impl Golden {
    fn encode(&self) -> Vec<u8> {
        let mut buf = [0u8; MAX_PEN_FRAME];
        match self {
            Golden::Host(f) => encode_frame(f, &mut buf).unwrap().to_vec(),
            Golden::Pen(f) => encode_frame(f, &mut buf).unwrap().to_vec(),
            Golden::Request(r) => encode_client_frame(r).unwrap(),
            Golden::Server(f) => encode_client_frame(f).unwrap(),
        }
    }

    fn decodes_back(&self, bytes: &[u8]) -> bool {
        match self {
            Golden::Host(f) => decode_host_frame(bytes).as_ref() == Ok(f),
            Golden::Pen(f) => decode_pen_frame(bytes).as_ref() == Ok(f),
            Golden::Request(r) => pen_protocol::api::decode_request(&bytes[4..]).as_ref() == Ok(r),
            Golden::Server(f) => {
                pen_protocol::api::decode_server_frame(&bytes[4..]).as_ref() == Ok(f)
            }
        }
    }
}

fn host(seq: u32, request: HostRequest) -> Golden {
    Golden::Host(HostFrame { seq, request })
}

fn pen_vectors() -> Vec<(&'static str, Golden)> {
    let identity = PenIdentity {
        protocol_version: 1,
        schema_fingerprint: 0x0123_4567_89ab_cdef,
        serial: "SIM-0001".try_into().unwrap(),
        model: "MN-1".try_into().unwrap(),
        firmware_version: "1.0".try_into().unwrap(),
        firmware_max: RawCounts(3920),
        watchdog_ms: 500,
    };
    let table = CalibrationTable {
        id: 2,
        calibrated_at_unix_s: 1_795_000_000,
        margin_um: 12,
        points: [(-400, -100), (0, 1), (4000, 998)]
            .into_iter()
            .map(|(raw, depth_um)| CalPoint {
                raw: RawCounts(raw),
                depth_um,
            })
            .collect(),
    };
    vec![
        (
            "hello",
            host(
                1,
                HostRequest::Hello {
                    protocol_version: 1,
                },
            ),
        ),
        ("status", host(2, HostRequest::Status)),
        (
            "identify_3s",
            host(11, HostRequest::Identify { duration_ms: 3000 }),
        ),
        ("home", host(3, HostRequest::Home)),
        (
            "move_to_2000_from_below",
            host(
                4,
                HostRequest::MoveTo {
                    target: RawCounts(2000),
                    approach: Approach::FromBelow,
                },
            ),
        ),
        (
            "move_to_minus_1_direct",
            host(
                5,
                HostRequest::MoveTo {
                    target: RawCounts(-1),
                    approach: Approach::Direct,
                },
            ),
        ),
        ("retract", host(6, HostRequest::Retract)),
        (
            "start_needling_120",
            host(
                7,
                HostRequest::StartNeedling {
                    rate: StrokeRate::new(120).unwrap(),
                },
            ),
        ),
        ("stop_needling", host(8, HostRequest::StopNeedling)),
        ("heartbeat_seq_300", host(300, HostRequest::Heartbeat)),
        ("read_calibration", host(9, HostRequest::ReadCalibration)),
        (
            "stage_calibration",
            host(
                10,
                HostRequest::StageCalibration {
                    table: table.clone(),
                },
            ),
        ),
        (
            "commit_calibration",
            host(
                12,
                HostRequest::CommitCalibration {
                    checksum: 0xCBF4_3926,
                },
            ),
        ),
        ("read_limits", host(13, HostRequest::ReadLimits)),
        (
            "commit_limits",
            host(14, HostRequest::CommitLimits { checksum: 7 }),
        ),
        (
            "reply_limits_none",
            Golden::Pen(PenFrame::Reply {
                seq: 13,
                result: Ok(PenReply::Limits(None)),
            }),
        ),
        (
            "reply_error_limits_rollback",
            Golden::Pen(PenFrame::Reply {
                seq: 14,
                result: Err(PenError::LimitsRefused {
                    reason: pen_protocol::limits::LimitsError::Rollback { bundle: 3, pen: 3 },
                }),
            }),
        ),
        (
            "reply_staged",
            Golden::Pen(PenFrame::Reply {
                seq: 10,
                result: Ok(PenReply::Staged {
                    checksum: 0xCBF4_3926,
                }),
            }),
        ),
        (
            "reply_error_commit_mismatch",
            Golden::Pen(PenFrame::Reply {
                seq: 12,
                result: Err(PenError::CommitMismatch),
            }),
        ),
        (
            "reply_identity",
            Golden::Pen(PenFrame::Reply {
                seq: 1,
                result: Ok(PenReply::Identity(identity)),
            }),
        ),
        (
            "reply_status",
            Golden::Pen(PenFrame::Reply {
                seq: 2,
                result: Ok(PenReply::Status(PenStatus {
                    position: RawCounts(2000),
                    moving_to: None,
                    homed: true,
                    needling: Some(StrokeRate::new(120).unwrap()),
                    fault: None,
                })),
            }),
        ),
        (
            "reply_done",
            Golden::Pen(PenFrame::Reply {
                seq: 8,
                result: Ok(PenReply::Done),
            }),
        ),
        (
            "reply_move_started_35ms",
            Golden::Pen(PenFrame::Reply {
                seq: 4,
                result: Ok(PenReply::MoveStarted { eta_ms: 35 }),
            }),
        ),
        (
            "reply_calibration",
            Golden::Pen(PenFrame::Reply {
                seq: 9,
                result: Ok(PenReply::Calibration(Some(table))),
            }),
        ),
        (
            "reply_error_beyond_firmware_limit",
            Golden::Pen(PenFrame::Reply {
                seq: 4,
                result: Err(PenError::BeyondFirmwareLimit {
                    max: RawCounts(3920),
                }),
            }),
        ),
        (
            "reply_error_not_homed",
            Golden::Pen(PenFrame::Reply {
                seq: 4,
                result: Err(PenError::NotHomed),
            }),
        ),
        (
            "event_position_reached",
            Golden::Pen(PenFrame::Event(PenEvent::PositionReached {
                move_seq: 4,
                position: RawCounts(2000),
            })),
        ),
        (
            "event_fault_motor_stall",
            Golden::Pen(PenFrame::Event(PenEvent::Fault {
                code: FaultCode::MotorStall,
            })),
        ),
        (
            "event_watchdog_retracted",
            Golden::Pen(PenFrame::Event(PenEvent::WatchdogRetracted)),
        ),
    ]
}

fn api_vectors() -> Vec<(&'static str, Golden)> {
    vec![
        (
            "hello",
            Golden::Request(ClientRequest {
                id: 1,
                request: Request::Hello { api_version: 1 },
            }),
        ),
        (
            "list_pens",
            Golden::Request(ClientRequest {
                id: 2,
                request: Request::ListPens,
            }),
        ),
        (
            "set_depth_500_wait",
            Golden::Request(ClientRequest {
                id: 3,
                request: Request::SetDepth {
                    pen: "SIM-0001".into(),
                    depth_um: 500,
                    wait: true,
                },
            }),
        ),
        (
            "depth_set_reply",
            Golden::Server(ServerFrame::Reply(ClientReply {
                id: 3,
                result: Ok(Response::DepthSet(DepthSetReport {
                    serial: "SIM-0001".into(),
                    depth: DepthUm::new(500).unwrap(),
                    target_counts: 1996,
                    reached: true,
                })),
            })),
        ),
        (
            "over_ceiling_reply",
            Golden::Server(ServerFrame::Reply(ClientReply {
                id: 4,
                result: Err(pen_protocol::api::ApiError::new(
                    pen_protocol::api::ErrorKind::OverCeiling,
                    "refused",
                )),
            })),
        ),
        (
            "open_session",
            Golden::Request(ClientRequest {
                id: 5,
                request: Request::OpenSession {
                    pen: "SIM-0001".into(),
                    client_name: "app".into(),
                    wait_ms: 0,
                },
            }),
        ),
        (
            "heartbeat",
            Golden::Request(ClientRequest {
                id: 6,
                request: Request::Heartbeat,
            }),
        ),
        (
            "event_depth_reached",
            Golden::Server(ServerFrame::Event(EventFrame::Event(Event::DepthReached {
                serial: "SIM-0001".into(),
                depth: DepthUm::new(500).unwrap(),
            }))),
        ),
        (
            "event_missed_3",
            Golden::Server(ServerFrame::Event(EventFrame::Missed { count: 3 })),
        ),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `| name | hex |` rows of the "Golden vectors" section of a document.
fn documented(doc: &str) -> BTreeMap<String, String> {
    let path = format!("{}/../docs/{doc}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let section = text
        .split("## Golden vectors")
        .nth(1)
        .unwrap_or_else(|| panic!("{path} has no '## Golden vectors' section"));
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            match cells.as_slice() {
                ["", name, bytes, ""] if name.starts_with('`') => Some((
                    name.trim_matches('`').to_string(),
                    bytes.trim_matches('`').to_string(),
                )),
                _ => None,
            }
        })
        .collect()
}

fn check(doc: &str, vectors: Vec<(&'static str, Golden)>) {
    let table = documented(doc);
    let mut problems = Vec::new();
    for (name, golden) in &vectors {
        let bytes = golden.encode();
        assert!(golden.decodes_back(&bytes), "{name} does not round-trip");
        match table.get(*name) {
            None => problems.push(format!("| `{name}` | `{}` |  <- missing", hex(&bytes))),
            Some(documented) if *documented != hex(&bytes) => problems.push(format!(
                "| `{name}` | `{}` |  <- docs say {documented}",
                hex(&bytes)
            )),
            Some(_) => {}
        }
    }
    for name in table.keys() {
        if !vectors.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name}: documented but not checked by this test"));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/{doc} disagrees with the code:\n{}",
        problems.join("\n")
    );
}

#[test]
fn pen_frames_match_docs_protocol_md() {
    check("protocol.md", pen_vectors());
}

#[test]
fn client_frames_match_docs_api_md() {
    check("api.md", api_vectors());
}

#[test]
fn the_schema_fingerprint_is_the_documented_one() {
    // A change to any pen frame changes the fingerprint. When this fails: update the
    // document, and bump PROTOCOL_VERSION if the change is not backwards compatible.
    let path = format!("{}/../docs/protocol.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let expected = format!("`SCHEMA_FINGERPRINT = 0x{SCHEMA_FINGERPRINT:016x}`");
    assert!(
        text.contains(&expected),
        "docs/protocol.md should state {expected}"
    );
}

/// The example lines of docs/api.md's JSON section: `→` lines are requests, `←` lines are
/// server frames (the one `→` line that is deliberately not JSON is skipped).
fn json_examples() -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let path = format!("{}/../docs/api.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("## JSON interface")
        .nth(1)
        .expect("docs/api.md has a JSON interface section")
        .split("\n## ")
        .next()
        .unwrap();
    let (mut requests, mut frames) = (Vec::new(), Vec::new());
    for line in section.lines() {
        if let Some(json) = line.strip_prefix("→ ") {
            if json.starts_with('{') {
                requests.push(serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}")));
            }
        } else if let Some(json) = line.strip_prefix("← ") {
            frames.push(serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}")));
        }
    }
    (requests, frames)
}

#[test]
fn the_json_examples_are_exact_and_cover_every_request_and_event() {
    let (requests, frames) = json_examples();
    let mut request_kinds = std::collections::BTreeSet::new();
    for value in &requests {
        let request: ClientRequest = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("not a request: {value}: {e}"));
        // Serialising it again gives the documented line back: the example is exact.
        assert_eq!(&serde_json::to_value(&request).unwrap(), value);
        let kind = format!("{:?}", request.request);
        request_kinds.insert(kind.split([' ', '{']).next().unwrap().to_string());
    }
    let mut event_kinds = std::collections::BTreeSet::new();
    for value in &frames {
        let frame: ServerFrame = serde_json::from_value(value.clone())
            .unwrap_or_else(|e| panic!("not a server frame: {value}: {e}"));
        assert_eq!(&serde_json::to_value(&frame).unwrap(), value);
        match frame {
            ServerFrame::Event(EventFrame::Event(event)) => {
                let kind = format!("{event:?}");
                event_kinds.insert(kind.split([' ', '{']).next().unwrap().to_string());
            }
            ServerFrame::Event(EventFrame::Missed { .. }) => {
                event_kinds.insert("Missed".to_string());
            }
            ServerFrame::Reply(_) => {}
        }
    }
    let all_requests = [
        "Hello",
        "ListPens",
        "PenStatus",
        "OpenSession",
        "Heartbeat",
        "CloseSession",
        "SetDepth",
        "StartNeedling",
        "StopNeedling",
        "Identify",
        "Subscribe",
        "StartCalibration",
        "AbortCalibration",
        "CalibrationRecord",
        "FlashLimits",
        "Audit",
        "AuditVerify",
    ];
    for kind in all_requests {
        assert!(
            request_kinds.contains(kind),
            "docs/api.md has no JSON example of {kind}"
        );
    }
    let all_events = [
        "PenConnected",
        "PenDisconnected",
        "SessionOpened",
        "SessionClosed",
        "DepthReached",
        "NeedlingStarted",
        "NeedlingStopped",
        "Fault",
        "CalibrationProgress",
        "CalibrationFinished",
        "Missed",
    ];
    for kind in all_events {
        assert!(
            event_kinds.contains(kind),
            "docs/api.md has no JSON example of {kind}"
        );
    }
}
