//! Field service end to end: signed limits (every refusal, with the pen unchanged after
//! each), the pen's own verification with the daemon bypassed, roles from the caller's
//! credentials (run as other users with setpriv), and the tamper-evident audit trail.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pen_protocol::limits::{key_id, public_key, sign_bundle, Limits, LimitsBody, LimitsBundle};
use pen_protocol::pen::{
    decode_pen_frame, encode_frame, HostFrame, HostRequest, PenError, PenFrame, PenReply,
    MAX_PEN_FRAME, PROTOCOL_VERSION,
};
use pen_sim::keys::SIM_KEY_2026;
use pen_sim::stream::{encode_stream_frame, FrameBuffer};
use penctl::exit;
use serde_json::Value;
use testkit::{binary, stderr, stdout, PenSim, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

/// A key folder (the simulated manufacturer's keys, as files) and the trusted-keys folder a
/// daemon is started with.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new(binary("pen-sim"))
            .arg("--export-keys")
            .arg(dir.path().join("sim"))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::create_dir_all(dir.path().join("trusted/retired")).unwrap();
        for name in ["sim-2026.pub", "sim-2027.pub"] {
            std::fs::copy(
                dir.path().join("sim").join(name),
                dir.path().join("trusted").join(name),
            )
            .unwrap();
        }
        Keys { dir }
    }

    fn trusted(&self) -> PathBuf {
        self.dir.path().join("trusted")
    }

    fn secret(&self, name: &str) -> PathBuf {
        self.dir.path().join("sim").join(format!("{name}.key"))
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn retire_2026(&self) {
        std::fs::rename(
            self.trusted().join("sim-2026.pub"),
            self.trusted().join("retired/sim-2026.pub"),
        )
        .unwrap();
    }
}

fn sign(
    pend: &Pend,
    keys: &Keys,
    key: &str,
    pen: &str,
    max: &str,
    counter: u32,
    out: &str,
) -> PathBuf {
    let path = keys.file(out);
    let output = pend.penctl(&[
        "limits",
        "sign",
        "--key",
        keys.secret(key).to_str().unwrap(),
        "--pen",
        pen,
        "--max-depth",
        max,
        "--counter",
        &counter.to_string(),
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), exit::OK, "{}", stderr(&output));
    path
}

fn limits_of(pend: &Pend, pen: &str) -> Value {
    serde_json::from_str(&stdout(&pend.penctl(&["--json", "limits", "show", pen]))).unwrap()
}

fn flash(pend: &Pend, pen: &str, file: &Path) -> std::process::Output {
    pend.penctl(&["limits", "flash", pen, file.to_str().unwrap()])
}

#[test]
fn every_bad_bundle_is_refused_and_changes_nothing() {
    let keys = Keys::new();
    let pend = Pend::start_with(2, &["--trusted-keys", keys.trusted().to_str().unwrap()]);
    let good = sign(&pend, &keys, "sim-2026", "SIM-0001", "0.8mm", 5, "good.bin");
    assert_eq!(code(&flash(&pend, "SIM-0001", &good)), exit::OK);
    let before = limits_of(&pend, "SIM-0001");
    assert_eq!(before["limits"]["max_depth_um"], 800);
    assert_eq!(before["counter"], 5);

    let bytes = std::fs::read(&good).unwrap();
    let bundle: LimitsBundle = postcard::from_bytes(&bytes).unwrap();
    let write = |name: &str, data: &[u8]| {
        let path = keys.file(name);
        std::fs::write(&path, data).unwrap();
        path
    };
    let mut unsigned = bundle.clone();
    unsigned.signature.clear();
    let mut altered = bundle.clone();
    altered.body[4] ^= 1;
    let stranger = keys.file("stranger");
    assert_eq!(
        code(&pend.penctl(&["limits", "keygen", "--out", stranger.to_str().unwrap()])),
        exit::OK
    );
    let over = LimitsBody {
        serial: "SIM-0001".try_into().unwrap(),
        limits: Limits {
            max_depth_um: 1001,
            ..Limits::DEFAULT
        },
        counter: 9,
        issued_unix_s: 1,
        key_id: key_id(&public_key(&SIM_KEY_2026)),
    };

    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "unsigned",
            write("unsigned.bin", &postcard::to_allocvec(&unsigned).unwrap()),
            "not signed",
        ),
        (
            "altered",
            write("altered.bin", &postcard::to_allocvec(&altered).unwrap()),
            "does not verify",
        ),
        (
            "unknown key",
            sign(
                &pend,
                &keys,
                "../stranger/limits-signing",
                "SIM-0001",
                "0.5mm",
                6,
                "stranger.bin",
            ),
            "not trusted here",
        ),
        (
            "wrong pen",
            sign(
                &pend,
                &keys,
                "sim-2026",
                "SIM-0002",
                "0.5mm",
                6,
                "other.bin",
            ),
            "another pen",
        ),
        ("replay", good.clone(), "rollback"),
        (
            "older",
            sign(
                &pend,
                &keys,
                "sim-2026",
                "SIM-0001",
                "0.5mm",
                4,
                "older.bin",
            ),
            "rollback",
        ),
        (
            "over ceiling",
            write("over.bin", &sign_bundle(&over, &SIM_KEY_2026)),
            "over the 1000 um ceiling",
        ),
        (
            "truncated",
            write("truncated.bin", &bytes[..bytes.len() - 10]),
            "not a whole limits bundle",
        ),
        (
            "oversized",
            write("oversized.bin", &[7u8; 300]),
            "more than a limits bundle",
        ),
    ];
    for (what, file, words) in cases {
        let output = flash(&pend, "SIM-0001", &file);
        assert_eq!(
            code(&output),
            exit::LIMITS_REFUSED,
            "{what}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(words),
            "{what}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("nothing was written"), "{what}");
        assert_eq!(
            limits_of(&pend, "SIM-0001"),
            before,
            "{what} changed the limits"
        );
    }

    // Key rotation: the 2026 key retired, its new bundles are refused; the 2027 key works.
    keys.retire_2026();
    let newer = sign(
        &pend,
        &keys,
        "sim-2026",
        "SIM-0001",
        "0.7mm",
        10,
        "newer.bin",
    );
    let output = flash(&pend, "SIM-0001", &newer);
    assert_eq!(code(&output), exit::LIMITS_REFUSED);
    assert!(stderr(&output).contains("retired"), "{}", stderr(&output));
    let rotated = sign(
        &pend,
        &keys,
        "sim-2027",
        "SIM-0001",
        "0.7mm",
        10,
        "rotated.bin",
    );
    assert_eq!(code(&flash(&pend, "SIM-0001", &rotated)), exit::OK);
    assert_eq!(limits_of(&pend, "SIM-0001")["limits"]["max_depth_um"], 700);
}

#[test]
fn a_dry_run_shows_the_diff_and_every_check_and_writes_nothing() {
    let keys = Keys::new();
    let pend = Pend::start_with(1, &["--trusted-keys", keys.trusted().to_str().unwrap()]);
    let file = sign(&pend, &keys, "sim-2026", "SIM-0001", "0.8mm", 1, "b.bin");
    let output = pend.penctl(&[
        "limits",
        "flash",
        "SIM-0001",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_eq!(code(&output), exit::OK);
    let text = stdout(&output);
    assert!(text.contains("max depth 1.000 mm -> 0.800 mm"), "{text}");
    assert!(text.contains("[ok  ] signature valid"), "{text}");
    assert_eq!(limits_of(&pend, "SIM-0001")["counter"], 0);
}

#[test]
fn flashed_limits_lower_the_ceiling_for_treatment() {
    let keys = Keys::new();
    let pend = Pend::start_with(1, &["--trusted-keys", keys.trusted().to_str().unwrap()]);
    let file = sign(&pend, &keys, "sim-2026", "SIM-0001", "0.6mm", 1, "b.bin");
    assert_eq!(code(&flash(&pend, "SIM-0001", &file)), exit::OK);
    let output = pend.penctl(&["depth", "set", "SIM-0001", "0.65mm"]);
    assert_eq!(code(&output), exit::SAFETY_REFUSAL);
    assert!(
        stderr(&output).contains("flashed limit of 0.600 mm"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        code(&pend.penctl(&["depth", "set", "SIM-0001", "0.55mm"])),
        exit::OK
    );
}

/// Talks to a pen-sim process directly: no daemon in between.
struct DirectLink {
    stream: UnixStream,
    buffer: FrameBuffer,
    seq: u32,
}

impl DirectLink {
    fn connect(path: &Path) -> DirectLink {
        let stream = UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut link = DirectLink {
            stream,
            buffer: FrameBuffer::new(),
            seq: 0,
        };
        let serial = link.frame();
        assert_eq!(serial, b"SIM-9201");
        link
    }

    fn frame(&mut self) -> Vec<u8> {
        loop {
            if let Some(frame) = self.buffer.next_frame().unwrap() {
                return frame;
            }
            let mut chunk = [0u8; 512];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "the pen hung up");
            self.buffer.push(&chunk[..n]);
        }
    }

    fn ask(&mut self, request: HostRequest) -> Result<PenReply, PenError> {
        self.seq += 1;
        let mut buf = [0u8; MAX_PEN_FRAME];
        let bytes = encode_frame(
            &HostFrame {
                seq: self.seq,
                request,
            },
            &mut buf,
        )
        .unwrap();
        self.stream.write_all(&encode_stream_frame(bytes)).unwrap();
        loop {
            if let PenFrame::Reply { seq, result } = decode_pen_frame(&self.frame()).unwrap() {
                if seq == self.seq {
                    return result;
                }
            }
        }
    }
}

#[test]
fn the_pen_itself_refuses_a_forged_bundle_when_the_daemon_is_bypassed() {
    let pen = PenSim::start("SIM-9201", 3);
    let mut link = DirectLink::connect(pen.socket());
    link.ask(HostRequest::Hello {
        protocol_version: PROTOCOL_VERSION,
    })
    .unwrap();
    // Signed by a key the pen does not embed, claiming the manufacturer's key id.
    let forged = LimitsBody {
        serial: "SIM-9201".try_into().unwrap(),
        limits: Limits::DEFAULT,
        counter: 99,
        issued_unix_s: 1,
        key_id: key_id(&public_key(&SIM_KEY_2026)),
    };
    let bundle = sign_bundle(&forged, &[0x5a; 32]);
    let stage = HostRequest::StageLimits {
        bundle: heapless::Vec::from_slice(&bundle).unwrap(),
    };
    let refused = link.ask(stage).unwrap_err();
    assert!(
        matches!(refused, PenError::LimitsRefused { .. }),
        "{refused:?}"
    );
    assert_eq!(
        link.ask(HostRequest::ReadLimits),
        Ok(PenReply::Limits(None))
    );
    // And a commit without a verified stage changes nothing either.
    assert_eq!(
        link.ask(HostRequest::CommitLimits { checksum: 0 }),
        Err(PenError::CommitMismatch)
    );
}

/// Runs penctl as `uid` with supplementary `groups`.
fn as_user(pend: &Pend, uid: u32, groups: &[u32], args: &[&str]) -> std::process::Output {
    let groups: Vec<String> = groups.iter().map(u32::to_string).collect();
    let group_arg = if groups.is_empty() {
        "--clear-groups".to_string()
    } else {
        format!("--groups={}", groups.join(","))
    };
    Command::new("setpriv")
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={uid}"))
        .arg(group_arg)
        .arg(binary("penctl"))
        .arg("--socket")
        .arg(pend.socket())
        .args(args)
        .output()
        .expect("setpriv (util-linux) runs penctl as another user")
}

#[test]
fn each_role_may_do_its_part_and_no_more() {
    const SOCKET: u32 = 4100;
    const OPERATOR: u32 = 4101;
    const TECHNICIAN: u32 = 4102;
    const SERVICE: u32 = 4103;
    let keys = Keys::new();
    let pend = Pend::start_with(
        1,
        &[
            "--trusted-keys",
            keys.trusted().to_str().unwrap(),
            "--socket-group",
            "4100",
            "--operator-group",
            "4101",
            "--technician-group",
            "4102",
            "--service-group",
            "4103",
        ],
    );
    // Let other users reach the socket's folder (the socket itself is 0660, group 4100).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(pend.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = sign(&pend, &keys, "sim-2026", "SIM-0001", "0.9mm", 1, "b.bin");
    std::fs::set_permissions(keys.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = bundle.to_str().unwrap();

    // Someone outside the socket's group cannot even connect.
    let stranger = as_user(&pend, 4999, &[], &["list"]);
    assert_eq!(
        code(&stranger),
        exit::DAEMON_UNREACHABLE,
        "{}",
        stderr(&stranger)
    );

    let read_only = [SOCKET];
    let operator = [SOCKET, OPERATOR];
    let technician = [SOCKET, TECHNICIAN];
    let service = [SOCKET, SERVICE];
    let denied = |out: &std::process::Output, role: &str| {
        assert_eq!(code(out), exit::PERMISSION_DENIED, "{}", stderr(out));
        assert!(
            stderr(out).contains(&format!("needs the {role} role")),
            "{}",
            stderr(out)
        );
    };
    assert_eq!(code(&as_user(&pend, 5001, &read_only, &["list"])), exit::OK);
    denied(
        &as_user(
            &pend,
            5001,
            &read_only,
            &["depth", "set", "SIM-0001", "0.3mm"],
        ),
        "operator",
    );

    assert_eq!(
        code(&as_user(
            &pend,
            5002,
            &operator,
            &["depth", "set", "SIM-0001", "0.3mm"]
        )),
        exit::OK
    );
    denied(
        &as_user(
            &pend,
            5002,
            &operator,
            &["calibrate", "SIM-0001", "--gauge", "sim"],
        ),
        "technician",
    );
    denied(&as_user(&pend, 5002, &operator, &["audit"]), "technician");

    // A technician gets past the role check (the bad gauge spec is what stops it).
    let out = as_user(
        &pend,
        5003,
        &technician,
        &["calibrate", "SIM-0001", "--gauge", "keyence:x"],
    );
    assert_eq!(code(&out), exit::FAILURE, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot read gauge spec"));
    assert_eq!(
        code(&as_user(&pend, 5003, &technician, &["audit"])),
        exit::OK
    );
    denied(
        &as_user(
            &pend,
            5003,
            &technician,
            &["limits", "flash", "SIM-0001", bundle],
        ),
        "service",
    );

    let out = as_user(
        &pend,
        5004,
        &service,
        &["limits", "flash", "SIM-0001", bundle],
    );
    assert_eq!(code(&out), exit::OK, "{}", stderr(&out));

    // The trail knows who did each.
    let audit = stdout(&pend.penctl(&["audit"]));
    assert!(
        audit.contains("uid 5002") && audit.contains("permission denied"),
        "{audit}"
    );
    assert!(
        audit.contains("(service, uid 5004)") && audit.contains("flash limits"),
        "{audit}"
    );
}

fn audit_db(pend: &Pend) -> rusqlite::Connection {
    rusqlite::Connection::open(pend.dir().join("state/records.sqlite3")).unwrap()
}

#[test]
fn an_edited_audit_row_is_named_by_verify() {
    let pend = Pend::start(1);
    for depth in ["1.2mm", "1.3mm", "1.4mm"] {
        pend.penctl(&["depth", "set", "SIM-0001", depth]);
    }
    let output = pend.penctl(&["audit", "verify"]);
    assert_eq!(code(&output), exit::OK, "{}", stdout(&output));
    // A tamperer with the database: drops the guards, softens a refusal.
    let db = audit_db(&pend);
    db.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .unwrap();
    db.execute("UPDATE audit SET outcome = 'set' WHERE id = 5", [])
        .unwrap();
    let output = pend.penctl(&["audit", "verify"]);
    assert_eq!(code(&output), exit::AUDIT_BROKEN);
    assert!(
        stdout(&output).contains("BROKEN at entry 5"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_daemon_killed_mid_append_leaves_a_trail_that_verifies() {
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap().to_string();
    let mut total = 0;
    for round in 0..5u64 {
        let mut pend = Pend::start_with(1, &["--state-dir", &state_dir]);
        // A stream of audited refusals.
        let mut session = pend.spawn_penctl(&["session", "SIM-0001"]);
        let mut input = session.stdin.take().unwrap();
        let script: String = (0..400).map(|_| "set 1.5mm\n").collect();
        let _ = input.write_all(script.as_bytes());
        std::thread::sleep(Duration::from_millis(150 + 37 * round));
        pend.kill();
        let _ = session.wait();
        let pend = Pend::start_with(1, &["--state-dir", &state_dir]);
        let output = pend.penctl(&["audit", "verify"]);
        assert_eq!(
            code(&output),
            exit::OK,
            "round {round}: {}",
            stdout(&output)
        );
        let entries: usize = stdout(&output)
            .split_whitespace()
            .find_map(|w| w.parse().ok())
            .unwrap();
        assert!(entries > total, "round {round}: nothing was appended");
        total = entries;
    }
}
