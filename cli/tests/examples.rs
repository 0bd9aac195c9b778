//! The shipped example clients, run for real against `pend --sim`: the Python one over the
//! JSON socket, the Rust one over the main socket.

use std::process::Command;

use testkit::{example, stderr, stdout, workspace_root, Pend};

#[test]
fn the_python_example_treats_and_handles_the_refusal() {
    let pend = Pend::start(1);
    let script = workspace_root().join("examples/python/clinic_example.py");
    let output = Command::new("python3")
        .arg(script)
        .arg("--socket")
        .arg(pend.json_socket())
        .output()
        .expect("python3 must be installed to run the Python example (.ci/run installs it)");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", stderr(&output));
    assert!(text.contains("depth 500 um reached: True"), "{text}");
    assert!(
        text.contains("refused as it must be (OverCeiling)"),
        "{text}"
    );
    assert!(text.contains("session closed"), "{text}");
}

#[test]
fn the_rust_example_treats_and_handles_the_refusal() {
    let pend = Pend::start(1);
    let output = Command::new(example("clinic"))
        .arg(pend.socket())
        .output()
        .expect("run the clinic example");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", stderr(&output));
    assert!(text.contains("at 0.500 mm"), "{text}");
    assert!(text.contains("refused as it must be"), "{text}");
    assert!(text.contains("retracted"), "{text}");
}
