//! The socket as a security boundary: the real `pend` binary against clients that send
//! oversized, malformed or incomplete frames, with well-behaved clients alongside.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use pen_protocol::api::{
    decode_server_frame, encode_client_frame, payload_len, ClientReply, ClientRequest, ErrorKind,
    Request, Response, ServerFrame,
};
use testkit::{binary, Pend};

fn connect(pend: &Pend) -> UnixStream {
    let stream = UnixStream::connect(pend.socket()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

fn read_reply(stream: &mut UnixStream) -> ClientReply {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).expect("reply header");
    let mut payload = vec![0u8; payload_len(header).expect("sane reply length")];
    stream.read_exact(&mut payload).expect("reply payload");
    match decode_server_frame(&payload).expect("decodable frame") {
        ServerFrame::Reply(reply) => reply,
        ServerFrame::Event(event) => panic!("unsubscribed client got {event:?}"),
    }
}

fn send(stream: &mut UnixStream, id: u32, request: Request) -> ClientReply {
    let frame = encode_client_frame(&ClientRequest { id, request }).unwrap();
    stream.write_all(&frame).unwrap();
    let reply = read_reply(stream);
    assert_eq!(reply.id, id);
    reply
}

fn list_pens(stream: &mut UnixStream, id: u32) -> usize {
    match send(stream, id, Request::ListPens).result {
        Ok(Response::Pens(pens)) => pens.len(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The daemon answers with one id-0 error and then closes the connection.
fn assert_refused_and_closed(stream: &mut UnixStream, expect_in_message: &str) {
    let reply = read_reply(stream);
    assert_eq!(reply.id, 0);
    let error = reply.result.expect_err("an error reply");
    assert_eq!(error.kind, ErrorKind::BadRequest);
    assert!(
        error.message.contains(expect_in_message),
        "{}",
        error.message
    );
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("clean close");
    assert!(rest.is_empty(), "bytes after the refusal");
}

#[test]
fn a_four_gib_length_prefix_disconnects_that_client_only() {
    let pend = Pend::start(2);
    let mut bystander = connect(&pend);
    assert_eq!(list_pens(&mut bystander, 1), 2);

    let mut hostile = connect(&pend);
    hostile.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert_refused_and_closed(&mut hostile, "exceeds the 65536 byte limit");

    // The connection that was open all along, and a new one, are both served.
    assert_eq!(list_pens(&mut bystander, 2), 2);
    assert_eq!(list_pens(&mut connect(&pend), 1), 2);
}

#[test]
fn garbage_disconnects_that_client_only() {
    let pend = Pend::start(1);
    let mut bystander = connect(&pend);
    let mut hostile = connect(&pend);
    let garbage = [0xffu8; 16];
    hostile
        .write_all(&(garbage.len() as u32).to_le_bytes())
        .unwrap();
    hostile.write_all(&garbage).unwrap();
    assert_refused_and_closed(&mut hostile, "could not decode the request");
    assert_eq!(list_pens(&mut bystander, 7), 1);
}

#[test]
fn a_client_stalled_mid_frame_does_not_hold_up_others() {
    let pend = Pend::start(1);
    let mut stalled = connect(&pend);
    // Announce 100 bytes, send 3, then go quiet.
    stalled.write_all(&100u32.to_le_bytes()).unwrap();
    stalled.write_all(&[1, 2, 3]).unwrap();
    for id in 1..=5 {
        assert_eq!(list_pens(&mut connect(&pend), id), 1);
    }
}

#[test]
fn a_setpoint_over_the_ceiling_sent_raw_is_refused() {
    // Not through penctl: crafted requests straight onto the socket.
    let pend = Pend::start(1);
    let mut stream = connect(&pend);
    let set = |depth_um| Request::SetDepth {
        pen: "SIM-0001".into(),
        depth_um,
        wait: true,
    };
    // Without a session, nothing moves at all.
    let error = send(&mut stream, 1, set(300))
        .result
        .expect_err("no session");
    assert_eq!(error.kind, ErrorKind::NoSession);
    let open = Request::OpenSession {
        pen: "SIM-0001".into(),
        client_name: "raw".into(),
        wait_ms: 0,
    };
    assert!(matches!(
        send(&mut stream, 2, open).result,
        Ok(Response::SessionOpened(_))
    ));
    for (id, depth_um) in [(3, 1001), (4, u32::MAX)] {
        let error = send(&mut stream, id, set(depth_um))
            .result
            .expect_err("refused");
        assert_eq!(error.kind, ErrorKind::OverCeiling);
        assert!(
            error.message.contains("1.000 mm ceiling"),
            "{}",
            error.message
        );
    }
}

#[test]
fn the_socket_is_group_accessible_only() {
    let pend = Pend::start(1);
    let mode = std::fs::metadata(pend.socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
}

#[test]
fn a_second_pend_on_the_same_socket_refuses_to_start() {
    let pend = Pend::start(1);
    let output = std::process::Command::new(binary("pend"))
        .arg("--socket")
        .arg(pend.socket())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(
        message.contains("another pend is already running"),
        "{message}"
    );
    // And the first one still serves.
    assert_eq!(list_pens(&mut connect(&pend), 1), 1);
}

#[test]
fn a_stale_socket_file_from_a_dead_daemon_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("pend.sock");
    drop(UnixListener::bind(&socket).unwrap()); // leaves the file behind, nobody listening
    assert!(socket.exists());
    let mut child = std::process::Command::new(binary("pend"))
        .args(["--sim", "1", "--socket"])
        .arg(&socket)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let served = loop {
        if let Ok(mut stream) = UnixStream::connect(&socket) {
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            break list_pens(&mut stream, 1);
        }
        assert!(std::time::Instant::now() < deadline, "pend never served");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(served, 1);
}

mod json {
    use super::*;
    use std::io::{BufRead, BufReader};

    fn connect_json(pend: &Pend) -> (BufReader<UnixStream>, UnixStream) {
        let stream = UnixStream::connect(pend.json_socket()).expect("connect JSON socket");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (BufReader::new(stream.try_clone().unwrap()), stream)
    }

    fn reply_line(reader: &mut BufReader<UnixStream>) -> serde_json::Value {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a reply line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    #[test]
    fn a_bad_line_is_answered_and_the_connection_carries_on() {
        let pend = Pend::start(1);
        let (mut reader, mut writer) = connect_json(&pend);
        writer.write_all(b"this is not json\n").unwrap();
        let reply = reply_line(&mut reader);
        assert_eq!(reply["Reply"]["id"], 0);
        assert_eq!(reply["Reply"]["result"]["Err"]["kind"], "BadRequest");
        writer
            .write_all(b"{\"id\": 7, \"request\": \"ListPens\"}\n")
            .unwrap();
        let reply = reply_line(&mut reader);
        assert_eq!(reply["Reply"]["id"], 7);
        assert_eq!(
            reply["Reply"]["result"]["Ok"]["Pens"][0]["serial"],
            "SIM-0001"
        );
    }

    #[test]
    fn an_endless_line_is_refused_at_the_limit_and_disconnected() {
        let pend = Pend::start(1);
        let (mut reader, mut writer) = connect_json(&pend);
        let mut bystander = connect(&pend);
        // 1 MiB with no newline: the daemon stops at 64 KiB, answers, and hangs up.
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            if writer.write_all(&chunk).is_err() {
                break; // already disconnected
            }
        }
        let reply = reply_line(&mut reader);
        assert_eq!(reply["Reply"]["id"], 0);
        let message = reply["Reply"]["result"]["Err"]["message"].as_str().unwrap();
        assert!(
            message.contains("longer than the 65536 byte limit"),
            "{message}"
        );
        assert_eq!(list_pens(&mut bystander, 1), 1);
    }

    #[test]
    fn both_sockets_serve_the_same_api() {
        let pend = Pend::start(1);
        let (mut reader, mut writer) = connect_json(&pend);
        writer
            .write_all(b"{\"id\": 1, \"request\": {\"SetDepth\": {\"pen\": \"SIM-0001\", \"depth_um\": 1200, \"wait\": true}}}\n")
            .unwrap();
        let reply = reply_line(&mut reader);
        // No session yet: refused before the depth is even looked at, as on the main socket.
        assert_eq!(reply["Reply"]["result"]["Err"]["kind"], "NoSession");
        writer
            .write_all(b"{\"id\": 2, \"request\": {\"OpenSession\": {\"pen\": \"SIM-0001\", \"client_name\": \"json\", \"wait_ms\": 0}}}\n")
            .unwrap();
        assert!(reply_line(&mut reader)["Reply"]["result"]["Ok"]["SessionOpened"].is_object());
        writer
            .write_all(b"{\"id\": 3, \"request\": {\"SetDepth\": {\"pen\": \"SIM-0001\", \"depth_um\": 1200, \"wait\": true}}}\n")
            .unwrap();
        let reply = reply_line(&mut reader);
        assert_eq!(reply["Reply"]["result"]["Err"]["kind"], "OverCeiling");
    }
}
