//! The man pages and shell completions checked into docs/ are what the binaries generate
//! now (run `scripts/generate-docs.sh` after changing an option), and the completions work.

use std::path::Path;
use std::process::Command;

use testkit::{binary, stderr, stdout};

fn generated(program: &str, args: &[&str]) -> String {
    let output = Command::new(binary(program)).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

fn checked_in(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_current(relative: &str, now: &str) {
    assert!(
        checked_in(relative) == now,
        "{relative} is stale: run scripts/generate-docs.sh and commit the result"
    );
}

#[test]
fn man_pages_are_current() {
    let pend = generated("pend", &["--manpage"]);
    assert!(pend.contains(".TH pend 8"), "{pend}");
    assert!(
        pend.contains("check\\-config"),
        "the page documents the options"
    );
    assert_current("docs/man/pend.8", &pend);
    let penctl = generated("penctl", &["manpage"]);
    assert!(penctl.contains(".TH penctl 1"), "{penctl}");
    assert_current("docs/man/penctl.1", &penctl);
}

#[test]
fn completions_are_current_and_know_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let script = generated("penctl", &["completions", shell]);
        for word in ["calibrate", "session", "completions", "socket"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        assert_current(&format!("docs/completions/penctl.{shell}"), &script);
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let output = Command::new(binary("penctl"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("tcsh"), "{}", stderr(&output));
}
