//! A pen in its own process (`pen-sim`), with its table kept in a flash file and a simulated
//! Sylvac gauge on a pty, calibrated through the real Sylvac driver path; then unplugged at
//! the worst moments. Whatever happens, the pen's flash holds a whole table: the old one
//! unless the new one was committed.

use std::io::BufReader;

use pen_protocol::CalibrationTable;
use pen_sim::flash::FlashImage;
use penctl::exit;
use testkit::{read_line_until, stderr, stdout, PenSim, Pend};

fn code(output: &std::process::Output) -> u8 {
    u8::try_from(output.status.code().expect("penctl exited normally")).unwrap()
}

fn flash_table(pen: &PenSim) -> CalibrationTable {
    let bytes = std::fs::read(pen.path("flash.bin")).expect("the pen's flash file");
    let image: FlashImage = postcard::from_bytes(&bytes).expect("a whole image in flash");
    image.calibration.expect("a table in flash")
}

fn pen_with_flash(serial: &str, fault: Option<&str>) -> PenSim {
    let mut args = vec!["--flash", "{dir}/flash.bin", "--gauge-pty", "{dir}/gauge"];
    if let Some(fault) = fault {
        args.extend(["--fault", fault]);
    }
    let pen = PenSim::start_with(serial, 7, &args);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !pen.path("flash.bin").exists() || !pen.path("gauge").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "pen-sim did not set up"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    pen
}

fn gauge_spec(pen: &PenSim) -> String {
    format!("sylvac:{}", pen.path("gauge").display())
}

#[test]
fn a_calibration_through_the_sylvac_driver_commits_to_flash() {
    let pen = pen_with_flash("SIM-9101", None);
    let pend = Pend::start_with(0, &["--sim-socket", pen.socket().to_str().unwrap()]);
    assert_eq!(flash_table(&pen).id, 0);
    let output = pend.penctl(&["calibrate", "SIM-9101", "--gauge", &gauge_spec(&pen)]);
    assert_eq!(
        code(&output),
        exit::OK,
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let table = flash_table(&pen);
    assert_eq!(table.id, 1);
    assert_eq!(table.validate(), Ok(()));
}

#[test]
fn a_pen_unplugged_mid_write_keeps_its_previous_table() {
    let mut pen = pen_with_flash("SIM-9102", Some("exit-on-stage"));
    let pend = Pend::start_with(0, &["--sim-socket", pen.socket().to_str().unwrap()]);
    let before = flash_table(&pen);
    let output = pend.penctl(&["calibrate", "SIM-9102", "--gauge", &gauge_spec(&pen)]);
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), exit::CALIBRATION_FAILED, "{said}");
    assert!(
        said.contains("disconnected") || said.contains("went away"),
        "{said}"
    );
    assert!(
        !pen.is_running(),
        "the pen should have lost power while staging"
    );
    assert_eq!(flash_table(&pen), before, "the flash changed");
}

#[test]
fn a_pen_unplugged_mid_measure_keeps_its_previous_table() {
    let mut pen = pen_with_flash("SIM-9103", None);
    let pend = Pend::start_with(0, &["--sim-socket", pen.socket().to_str().unwrap()]);
    let before = flash_table(&pen);
    let mut calibrate = pend.spawn_penctl(&["calibrate", "SIM-9103", "--gauge", &gauge_spec(&pen)]);
    let mut progress = BufReader::new(calibrate.stderr.take().unwrap());
    read_line_until(&mut progress, |line| line.contains("measuring"));
    pen.unplug();
    let output = calibrate.wait_with_output().unwrap();
    assert_eq!(
        code(&output),
        exit::CALIBRATION_FAILED,
        "{}",
        stdout(&output)
    );
    assert_eq!(flash_table(&pen), before, "the flash changed");
    let status = pend.penctl(&["--json", "status", "SIM-9103"]);
    assert!(
        stdout(&status).contains("\"Offline\""),
        "{}",
        stdout(&status)
    );
}
