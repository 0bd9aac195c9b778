//! Test support for the workspace's end-to-end tests: find (or build) the real binaries,
//! start `pend` with simulated pens on a private socket, and run `penctl` against it.
//!
//! Only tests use this crate.

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};
use tempfile::TempDir;

/// How long `pend` may take to start serving before a test gives up.
const START_LIMIT: Duration = Duration::from_secs(20);

/// The path of a workspace binary (`pend` or `penctl`) in the same profile as the running
/// test. The binaries (and examples) are built, or found up to date, once per test process:
/// a test of one crate must never run another crate's stale binary.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    // target/<profile>/deps/<test binary> -> target/<profile>/<name>
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    BUILT.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--bins", "--examples"]);
        build.args(["-p", "pend", "-p", "penctl", "-p", "pen-sim"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build for the binaries");
        assert!(status.success(), "building the binaries failed");
    });
    let path = profile_dir.join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The path of a workspace example binary, built like [`binary`].
pub fn example(name: &str) -> PathBuf {
    let pend = binary("pend");
    let path = pend.with_file_name("examples").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_path_buf()
}

/// A `pend` process with simulated pens on a socket in its own temporary folder. Sent
/// SIGKILL when dropped, if still running.
pub struct Pend {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
}

impl Pend {
    /// Starts `pend --sim <pens>` and waits until it accepts connections.
    pub fn start(pens: usize) -> Pend {
        Pend::start_with(pens, &[])
    }

    /// Like [`Pend::start`], with extra arguments.
    pub fn start_with(pens: usize, extra: &[&str]) -> Pend {
        let dir = tempfile::Builder::new()
            .prefix("pend-test-")
            .tempdir()
            .expect("temporary folder");
        let socket = dir.path().join("pend.sock");
        let log = File::create(dir.path().join("pend.log")).expect("log file");
        let mut command = Command::new(binary("pend"));
        if !extra.contains(&"--state-dir") {
            command.arg("--state-dir").arg(dir.path().join("state"));
        }
        // Tests never touch the machine's real pens, unless they ask for USB.
        if !extra.contains(&"--usb-id") {
            command.arg("--no-usb");
        }
        let child = command
            .arg("--sim")
            .arg(pens.to_string())
            .arg("--socket")
            .arg(&socket)
            .arg("--log-level")
            .arg("debug")
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn pend");
        let mut pend = Pend { child, dir, socket };
        pend.wait_until_serving();
        pend
    }

    fn wait_until_serving(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        while UnixStream::connect(&self.socket).is_err() {
            if let Some(status) = self.child.try_wait().expect("poll pend") {
                panic!("pend exited early with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "pend did not start serving within {START_LIMIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The JSON socket path.
    pub fn json_socket(&self) -> PathBuf {
        self.dir.path().join("pend.json.sock")
    }

    /// The folder holding the socket and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything `pend` logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pend.log")).unwrap_or_default()
    }

    /// Runs `penctl --socket <this socket> <args>`.
    pub fn penctl(&self, args: &[&str]) -> Output {
        penctl_at(&self.socket, args)
    }

    /// Runs `penctl --socket <this socket> <args>` with `input` on its standard input.
    pub fn penctl_with_input(&self, args: &[&str], input: &str) -> Output {
        penctl_with_input_at(&self.socket, args, input)
    }

    /// Starts `penctl --socket <this socket> <args>` with piped stdin, stdout and stderr.
    pub fn spawn_penctl(&self, args: &[&str]) -> Child {
        spawn_penctl_at(&self.socket, args)
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The daemon's resident memory, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// Sends SIGTERM and waits (bounded) for `pend` to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = Pid::from_child(&self.child);
        kill_process(pid, Signal::TERM).expect("send SIGTERM");
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll pend") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pend ignored SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGKILL: the daemon dies without a word, as in a crash.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL pend");
        self.child.wait().expect("reap pend");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll pend").is_none()
    }
}

impl Drop for Pend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `penctl --socket <socket> <args>` and returns its output.
pub fn penctl_at(socket: &Path, args: &[&str]) -> Output {
    Command::new(binary("penctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("PEND_SOCKET")
        .output()
        .expect("run penctl")
}

/// Runs `penctl --socket <socket> <args>` with `input` on its standard input.
pub fn penctl_with_input_at(socket: &Path, args: &[&str], input: &str) -> Output {
    let mut child = spawn_penctl_at(socket, args);
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write penctl's input");
    child.wait_with_output().expect("wait for penctl")
}

/// Starts `penctl --socket <socket> <args>` with piped stdin, stdout and stderr.
pub fn spawn_penctl_at(socket: &Path, args: &[&str]) -> Child {
    Command::new(binary("penctl"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("PEND_SOCKET")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn penctl")
}

/// Reads lines from a running process's output until one satisfies `done`, and returns it;
/// panics if the output ends first.
pub fn read_line_until(reader: &mut impl BufRead, done: impl Fn(&str) -> bool) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "penctl ended early"
        );
        if done(&line) {
            return line;
        }
    }
}

/// Text of a process's standard output.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Text of a process's standard error.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A simulated pen in its own process (`pen-sim --listen`), whose truth log (one JSON line
/// per change, see `sim/src/bin/pen-sim/main.rs`) is read on a thread. Killed when dropped.
pub struct PenSim {
    child: Child,
    socket: PathBuf,
    truth: std::sync::mpsc::Receiver<String>,
    _dir: TempDir,
}

impl PenSim {
    /// Starts a pen with `serial` and `seed`, and waits until it listens.
    pub fn start(serial: &str, seed: u64) -> PenSim {
        PenSim::start_with(serial, seed, &[])
    }

    /// Like [`PenSim::start`], with extra `pen-sim` arguments, in which `{dir}` stands for
    /// the pen's own temporary folder (see [`PenSim::path`]).
    pub fn start_with(serial: &str, seed: u64, extra: &[&str]) -> PenSim {
        let dir = tempfile::Builder::new()
            .prefix("pen-sim-")
            .tempdir()
            .expect("temporary folder");
        let socket = dir.path().join("pen.sock");
        let mut child = Command::new(binary("pen-sim"))
            .arg("--listen")
            .arg(&socket)
            .args(["--serial", serial, "--seed", &seed.to_string()])
            .args(
                extra
                    .iter()
                    .map(|a| a.replace("{dir}", &dir.path().to_string_lossy())),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pen-sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, truth) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + START_LIMIT;
        while !socket.exists() {
            assert!(Instant::now() < deadline, "pen-sim did not start listening");
            std::thread::sleep(Duration::from_millis(10));
        }
        PenSim {
            child,
            socket,
            truth,
            _dir: dir,
        }
    }

    /// The pen's socket, for `pend --sim-socket`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// A path in the pen's own temporary folder, for its flash file or gauge link.
    pub fn path(&self, name: &str) -> PathBuf {
        self.socket.with_file_name(name)
    }

    /// Cuts the pen's power (SIGKILL).
    pub fn unplug(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the pen's process still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().map(|s| s.is_none()).unwrap_or(false)
    }

    /// The next truth line, waiting at most `limit`.
    pub fn next_truth(&self, limit: Duration) -> Option<String> {
        self.truth.recv_timeout(limit).ok()
    }
}

impl Drop for PenSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
