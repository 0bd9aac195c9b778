//! Crash consistency: `pend` killed with SIGKILL at random points of limits flashes, audit
//! appends and calibration commits, restarted on the same records, again and again. After
//! every kill: the audit trail verifies, every stored record is whole, the pen's flash holds
//! a whole valid table and (if any) a bundle that verifies, and the restarted daemon agrees
//! with the pen.
//!
//! `CRASH_ITERATIONS` sets the number of kills (50 by default, as in CI; more for a
//! nightly-style run).

use std::process::Command;
use std::time::Duration;

use pen_protocol::limits::verify_bundle;
use pen_sim::flash::FlashImage;
use pen_sim::keys::firmware_trusted_keys;
use penctl::exit;
use serde_json::Value;
use testkit::{binary, stdout, PenSim, Pend};

/// A small deterministic random source, so a failing run can be repeated.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

#[test]
fn killing_pend_anywhere_leaves_records_trail_and_pen_consistent() {
    let iterations: u64 = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let pen = PenSim::start_with(
        "SIM-9301",
        11,
        &["--flash", "{dir}/flash.bin", "--gauge-pty", "{dir}/gauge"],
    );
    let state = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let status = Command::new(binary("pen-sim"))
        .arg("--export-keys")
        .arg(keys.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::create_dir(keys.path().join("trusted")).unwrap();
    std::fs::copy(
        keys.path().join("sim-2026.pub"),
        keys.path().join("trusted/sim-2026.pub"),
    )
    .unwrap();
    let args = [
        "--sim-socket",
        pen.socket().to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
        "--trusted-keys",
        keys.path()
            .join("trusted")
            .to_str()
            .unwrap()
            .to_string()
            .leak(),
    ];
    let gauge = format!("sylvac:{}", pen.path("gauge").display());
    let mut random = Lcg(0x5eed);
    let mut counter = 0u32;
    for round in 0..iterations {
        let mut pend = Pend::start_with(0, &args);
        let operation = round % 5;
        let mut client = match operation {
            // Limits flashes.
            0 | 3 => {
                counter += 1;
                let file = state.path().join(format!("bundle-{counter}.bin"));
                let signed = pend.penctl(&[
                    "limits",
                    "sign",
                    "--key",
                    keys.path().join("sim-2026.key").to_str().unwrap(),
                    "--pen",
                    "SIM-9301",
                    "--max-depth",
                    &format!("{}um", 900 + (counter % 100)),
                    "--counter",
                    &counter.to_string(),
                    "--out",
                    file.to_str().unwrap(),
                ]);
                assert_eq!(code(&signed), exit::OK);
                pend.spawn_penctl(&["limits", "flash", "SIM-9301", file.to_str().unwrap()])
            }
            // A calibration, killed somewhere in its few seconds.
            4 => pend.spawn_penctl(&["calibrate", "SIM-9301", "--gauge", &gauge, "--repeats", "1"]),
            // A stream of audited refusals.
            _ => {
                let mut session = pend.spawn_penctl(&["session", "SIM-9301"]);
                let script: String = (0..300).map(|_| "set 1.5mm\n").collect();
                use std::io::Write;
                let _ = session.stdin.take().unwrap().write_all(script.as_bytes());
                session
            }
        };
        let delay = match operation {
            4 => 200 + random.below(2500),
            0 | 3 => random.below(40),
            _ => 20 + random.below(200),
        };
        std::thread::sleep(Duration::from_millis(delay));
        pend.kill();
        let _ = client.kill();
        let _ = client.wait();

        // Restart on the same records and check everything.
        let pend = Pend::start_with(0, &args);
        let verify = pend.penctl(&["audit", "verify"]);
        assert_eq!(
            code(&verify),
            exit::OK,
            "round {round}: {}",
            stdout(&verify)
        );

        let db = rusqlite::Connection::open(state.path().join("records.sqlite3")).unwrap();
        let mut statement = db
            .prepare("SELECT id, passed, record FROM calibrations")
            .unwrap();
        let records: Vec<(i64, bool, String)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (id, passed, json) in &records {
            let record: Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("round {round}: record {id} is not whole: {e}"));
            assert_eq!(record["record_id"], *id);
            assert_eq!(
                *passed,
                record["result"] == "pass",
                "round {round}: record {id}"
            );
        }

        let image: FlashImage =
            postcard::from_bytes(&std::fs::read(pen.path("flash.bin")).unwrap())
                .unwrap_or_else(|e| panic!("round {round}: the pen's flash is not whole: {e}"));
        let table = image.calibration.expect("a table in flash");
        assert_eq!(table.validate(), Ok(()), "round {round}");
        let flashed_counter = image.limits.as_ref().map_or(0, |bundle| {
            verify_bundle(bundle, &firmware_trusted_keys(), "SIM-9301", None)
                .unwrap_or_else(|e| panic!("round {round}: the pen's bundle: {e}"))
                .counter
        });

        // The restarted daemon sees what the pen holds.
        let report: Value =
            serde_json::from_str(&stdout(&pend.penctl(&["--json", "status", "SIM-9301"]))).unwrap();
        assert_eq!(report["state"], "Ready", "round {round}: {report}");
        assert_eq!(report["calibration"]["id"], table.id, "round {round}");
        assert_eq!(
            report["limits"]["counter"], flashed_counter,
            "round {round}"
        );
        // A bundle not flashed is never half-flashed: the counter is one the loop signed.
        assert!(flashed_counter <= counter, "round {round}");
    }
    println!("{iterations} kills: trail, records, flash and daemon consistent every time");
}
