//! `pend` under systemd, faked: a listening socket handed over as fd 3 (`LISTEN_FDS`,
//! `LISTEN_PID`), a notify socket (`NOTIFY_SOCKET`) and a watchdog (`WATCHDOG_USEC`); and
//! `--check-config` on good and bad files. The real binary, the real sockets.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{binary, penctl_at, stderr, stdout};

/// Reads notifications until `want` returns true or `limit` passes; returns all read.
fn notifications(
    socket: &UnixDatagram,
    limit: Duration,
    want: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !want(&seen) && Instant::now() < deadline {
        socket
            .set_read_timeout(Some(
                deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1)),
            ))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    seen
}

#[test]
fn pend_serves_on_the_inherited_socket_says_ready_and_keeps_the_watchdog_fed() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("activated.sock");
    let listener = UnixListener::bind(&socket_path).unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let listener_fd = listener.as_raw_fd();
    let mut command = Command::new("sh");
    // LISTEN_PID must be pend's own pid: the shell's, which `exec` keeps.
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(binary("pend"))
        .args(["--sim", "1", "--no-usb", "--no-json-socket"])
        .arg("--socket")
        .arg(dir.path().join("not-bound.sock"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("LISTEN_FDS", "1")
        .env("NOTIFY_SOCKET", &notify_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("pend.log")).unwrap());
    // SAFETY: between fork and exec only dup2 runs, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let mut target = OwnedFd::from_raw_fd(3);
            let source = std::os::fd::BorrowedFd::borrow_raw(listener_fd);
            let result = rustix::io::dup2(source, &mut target).and_then(|()| {
                // dup2 onto itself (the listener already is fd 3) keeps close-on-exec.
                rustix::io::fcntl_setfd(&target, rustix::io::FdFlags::empty())
            });
            std::mem::forget(target);
            result.map_err(std::io::Error::from)
        });
    }
    let mut child = command.spawn().unwrap();
    drop(listener);

    let seen = notifications(&notify, Duration::from_secs(20), |seen| {
        seen.iter().any(|n| n.contains("READY=1"))
    });
    let log = || std::fs::read_to_string(dir.path().join("pend.log")).unwrap_or_default();
    assert!(
        seen.iter().any(|n| n.contains("READY=1")),
        "no READY=1: {seen:?}\n{}",
        log()
    );
    let ready = seen.iter().find(|n| n.contains("READY=1")).unwrap();
    assert!(ready.contains("STATUS=serving 1 pen(s)"), "{ready}");

    let list = penctl_at(&socket_path, &["list"]);
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("SIM-0001"), "{}", stdout(&list));
    assert!(
        !dir.path().join("not-bound.sock").exists(),
        "pend bound its own socket as well"
    );

    // 200 ms watchdog: pinged every 100 ms.
    let pings = notifications(&notify, Duration::from_secs(3), |seen| {
        seen.iter().filter(|n| n.as_str() == "WATCHDOG=1").count() >= 3
    });
    assert!(
        pings.iter().filter(|n| n.as_str() == "WATCHDOG=1").count() >= 3,
        "watchdog pings: {pings:?}"
    );

    rustix::process::kill_process(
        rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let stopping = notifications(&notify, Duration::from_secs(10), |seen| {
        seen.iter().any(|n| n.contains("STOPPING=1"))
    });
    assert!(
        stopping.iter().any(|n| n.contains("STOPPING=1")),
        "{stopping:?}"
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{}", log());
    // The socket is systemd's: pend leaves it for its owner to remove.
    assert!(socket_path.exists());
}

fn check_config(file: &std::path::Path) -> std::process::Output {
    Command::new(binary("pend"))
        .arg("--config")
        .arg(file)
        .arg("--check-config")
        .output()
        .unwrap()
}

#[test]
fn check_config_names_the_file_line_and_key_of_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "sim = 2\nmax-gauge-age-days = 180\nno-usb = true\n").unwrap();
    let output = check_config(&good);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("the configuration is valid"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "sim = 2\n# a comment\nmax-gauge-age = 180\n").unwrap();
    let output = check_config(&bad);
    assert_eq!(output.status.code(), Some(1));
    let expected = format!(
        "{}, line 3, key `max-gauge-age`: unknown field",
        bad.display()
    );
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));

    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, "log-level = \"loud\"\n").unwrap();
    let output = check_config(&wrong);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("line 1, key `log-level`: \"loud\" is not a level"),
        "{}",
        stderr(&output)
    );
}
