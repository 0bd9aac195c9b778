//! A full disk when a record is written: the calibration that cannot be recorded does not
//! leave its table in the pen, the client is told why, and the records already there stay
//! whole. The state directory is a tiny tmpfs (the tests run as root, as CI does).

use std::path::{Path, PathBuf};
use std::process::Command;

use penctl::exit;
use serde_json::Value;
use testkit::{stdout, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

/// A tmpfs of `size` mounted at `path`, unmounted when dropped.
struct TinyDisk(PathBuf);

impl TinyDisk {
    fn mount(path: &Path, size: &str) -> TinyDisk {
        std::fs::create_dir_all(path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        TinyDisk(path.to_path_buf())
    }

    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        use std::io::Write;
        while file.write_all(&chunk).is_ok() {}
        filler
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_the_old_table_and_the_old_records_whole() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let disk = TinyDisk::mount(&state, "2m");
    let mut pend = Pend::start_with(1, &["--state-dir", state.to_str().unwrap()]);
    let first = pend.penctl(&["calibrate", "SIM-0001", "--gauge", "sim", "--repeats", "1"]);
    assert_eq!(code(&first), exit::OK, "{}", stdout(&first));

    let filler = disk.fill();
    let second = pend.penctl(&["calibrate", "SIM-0001", "--gauge", "sim", "--repeats", "1"]);
    let said = stdout(&second);
    assert_eq!(code(&second), exit::CALIBRATION_FAILED, "{said}");
    assert!(said.contains("record could not be stored"), "{said}");
    assert!(said.contains("previous table was put back"), "{said}");
    let report: Value =
        serde_json::from_str(&stdout(&pend.penctl(&["--json", "status", "SIM-0001"]))).unwrap();
    assert_eq!(
        report["calibration"]["id"], 1,
        "the unrecorded table stayed: {report}"
    );

    std::fs::remove_file(filler).unwrap();
    let shown = pend.penctl(&["--json", "calibration", "show", "SIM-0001"]);
    let record: Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(record["record_id"], 1);
    assert_eq!(record["result"], "pass");
    assert_eq!(code(&pend.penctl(&["audit", "verify"])), exit::OK);
    pend.kill();
}
