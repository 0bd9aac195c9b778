//! Daemon benchmarks, each beside its floor in the same run.
//!
//! 1. Setpoint round trip: client -> `pend` -> simulated pen -> `pend` -> client (SetDepth
//!    answered when the move starts), p50/p99/p99.9, against the floor: the same frames
//!    echoed over a bare Unix socket between two processes. Twice: on idle CPUs, where
//!    every message pays for waking a sleeping core, and with a nice-19 spinner on every
//!    core, where only the work is paid for. The second is the stricter comparison.
//! 2. Throughput: 1, 4, 16 and 64 clients, each holding its own simulated pen, setting
//!    depths as fast as answers come: setpoints per second, p99, and the slowest client.
//! 3. Footprint: `pend --sim 4` idle: resident memory, and CPU over an idle period (only the
//!    heartbeats should wake it).
//! 4. Startup: from exec to accepting connections.
//!
//! `cargo bench -p penctl --bench daemon` (IDLE_SECONDS=60 for the full idle period).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pen_protocol::api::{
    decode_server_frame, encode_client_frame, payload_len, ClientRequest, Request, ServerFrame,
};
use testkit::{binary, Pend};

const SAMPLES: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A synchronous client on the real socket, framing by hand (no async runtime in the way).
struct Raw {
    stream: UnixStream,
    id: u32,
}

impl Raw {
    fn connect(path: &Path) -> Raw {
        Raw {
            stream: UnixStream::connect(path).unwrap(),
            id: 0,
        }
    }

    fn call(&mut self, request: Request) -> ServerFrame {
        self.id += 1;
        let frame = encode_client_frame(&ClientRequest {
            id: self.id,
            request,
        })
        .unwrap();
        self.stream.write_all(&frame).unwrap();
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header).unwrap();
        let mut payload = vec![0u8; payload_len(header).unwrap()];
        self.stream.read_exact(&mut payload).unwrap();
        decode_server_frame(&payload).unwrap()
    }

    fn ok(&mut self, request: Request) {
        match self.call(request) {
            ServerFrame::Reply(reply) if reply.id == self.id && reply.result.is_ok() => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn set(pen: &str, depth_um: u32) -> Request {
    Request::SetDepth {
        pen: pen.into(),
        depth_um,
        wait: false,
    }
}

fn open(pen: &str) -> Request {
    Request::OpenSession {
        pen: pen.into(),
        client_name: "bench".into(),
        wait_ms: 0,
    }
}

/// The echo process of the floor measurement: echoes frames of the same shape.
fn echo_server(path: &str) {
    let listener = UnixListener::bind(path).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 4 + 64 * 1024];
    loop {
        if stream.read_exact(&mut buf[..4]).is_err() {
            return;
        }
        let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
        stream.read_exact(&mut buf[4..4 + len]).unwrap();
        // One write, as pend writes a frame: the floor must not pay for two wakeups.
        stream.write_all(&buf[..4 + len]).unwrap();
    }
}

/// Round trips of `request`-sized frames over a bare socket to another process.
fn floor(samples: usize) -> Vec<Duration> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("echo.sock");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("BENCH_ECHO_SERVER", &path)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the file, not a connection: the echo server serves exactly one.
    while !path.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut stream = loop {
        match UnixStream::connect(&path) {
            Ok(stream) => break stream,
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    // The same bytes a SetDepth request is, and a reply of a DepthSet's size.
    let request = encode_client_frame(&ClientRequest {
        id: 1,
        request: set("SIM-0001", 400),
    })
    .unwrap();
    let mut back = vec![0u8; request.len()];
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        stream.write_all(&request).unwrap();
        stream.read_exact(&mut back).unwrap();
        times.push(t.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();
    times.sort();
    times
}

fn round_trips(samples: usize) -> Vec<Duration> {
    let pend = Pend::start(1);
    let mut client = Raw::connect(pend.socket());
    client.ok(open("SIM-0001"));
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let depth = 400 + (i % 2) as u32;
        let t = Instant::now();
        client.ok(set("SIM-0001", depth));
        times.push(t.elapsed());
        if i % 256 == 0 {
            client.ok(Request::Heartbeat);
        }
    }
    times.sort();
    times
}

fn throughput(clients: usize, seconds: f64) -> (f64, Duration, u64, u64) {
    let pend = Pend::start(clients);
    let start = std::sync::Barrier::new(clients);
    let deadline = Duration::from_secs_f64(seconds);
    let results: Vec<(u64, Vec<Duration>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (1..=clients)
            .map(|i| {
                let (pend, start) = (&pend, &start);
                scope.spawn(move || {
                    let pen = format!("SIM-{i:04}");
                    let mut client = Raw::connect(pend.socket());
                    client.ok(open(&pen));
                    start.wait();
                    let began = Instant::now();
                    let (mut n, mut times) = (0u64, Vec::new());
                    while began.elapsed() < deadline {
                        let t = Instant::now();
                        client.ok(set(&pen, 300 + (n % 2) as u32));
                        times.push(t.elapsed());
                        n += 1;
                        if n % 256 == 0 {
                            client.ok(Request::Heartbeat);
                        }
                    }
                    (n, times)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: u64 = results.iter().map(|(n, _)| n).sum();
    let (least, most) = results
        .iter()
        .map(|(n, _)| *n)
        .fold((u64::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
    let mut all: Vec<Duration> = results.into_iter().flat_map(|(_, t)| t).collect();
    all.sort();
    (total as f64 / seconds, percentile(&all, 0.99), least, most)
}

/// Resident memory (KiB) and CPU time (clock ticks) of process `pid`.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

fn startup(runs: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("pend.sock");
        let began = Instant::now();
        let mut child = Command::new(binary("pend"))
            .args(["--sim", "4", "--state-dir"])
            .arg(dir.path().join("state"))
            .arg("--socket")
            .arg(&socket)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        while UnixStream::connect(&socket).is_err() {
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(began.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort();
    times[times.len() / 2]
}

/// Prints the floor and the daemon's round trip, measured back to back in one regime.
fn round_trip_section(regime: &str) {
    println!("### {regime}");
    let floor = floor(SAMPLES);
    let pend = round_trips(SAMPLES);
    println!(
        "{:<26} {:>9} {:>9} {:>9}",
        "", "p50 us", "p99 us", "p99.9 us"
    );
    for (name, t) in [
        ("floor: bare socket echo", &floor),
        ("pend -> sim pen -> pend", &pend),
    ] {
        println!(
            "{name:<26} {:>9.1} {:>9.1} {:>9.1}",
            us(percentile(t, 0.5)),
            us(percentile(t, 0.99)),
            us(percentile(t, 0.999))
        );
    }
    println!(
        "{:<26} {:>8.1}x {:>8.1}x {:>8.1}x   (goal: p50 <= 1.5x, p99 <= 2x)",
        "ratio",
        us(percentile(&pend, 0.5)) / us(percentile(&floor, 0.5)),
        us(percentile(&pend, 0.99)) / us(percentile(&floor, 0.99)),
        us(percentile(&pend, 0.999)) / us(percentile(&floor, 0.999)),
    );
}

/// Busy-looping `sh` processes at nice 19, one per core, killed when dropped.
struct Spinners(Vec<std::process::Child>);

impl Spinners {
    fn start() -> Spinners {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Spinners(
            (0..cores)
                .map(|_| {
                    Command::new("nice")
                        .args(["-n", "19", "sh", "-c", "while :; do :; done"])
                        .spawn()
                        .expect("nice and sh are on every Linux machine")
                })
                .collect(),
        )
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn main() {
    if let Ok(path) = std::env::var("BENCH_ECHO_SERVER") {
        return echo_server(&path);
    }
    let _ = binary("pend"); // build first, outside the timings
    println!("## Setpoint round trip ({SAMPLES} samples)");
    round_trip_section("idle CPUs (each message wakes a sleeping core)");
    {
        // A lowest-priority spinner per core keeps the cores out of their idle states,
        // so both sides pay for the work and not for the wake-up.
        let _spinners = Spinners::start();
        round_trip_section("awake CPUs (a nice-19 spinner on every core)");
    }

    println!("\n## Throughput (each client holds its own simulated pen, 3 s)");
    println!(
        "{:<8} {:>14} {:>10} {:>22}",
        "clients", "setpoints/s", "p99 us", "per client min..max"
    );
    for clients in [1, 4, 16, 64] {
        let (rate, p99, least, most) = throughput(clients, 3.0);
        println!(
            "{clients:<8} {rate:>14.0} {:>10.1} {least:>12}..{most}",
            us(p99)
        );
    }
    println!("(goal: >= 20000 setpoints/s, no client starved)");

    println!("\n## Footprint of pend --sim 4, idle");
    let idle: u64 = std::env::var("IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pend = Pend::start(4);
    std::thread::sleep(Duration::from_secs(1));
    let (rss, ticks_before) = usage(pend.pid());
    std::thread::sleep(Duration::from_secs(idle));
    let (_, ticks_after) = usage(pend.pid());
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (ticks_after - ticks_before) as f64 / hz / idle as f64 * 100.0;
    println!(
        "resident memory {:.1} MiB   (goal: < 10 MiB)",
        rss as f64 / 1024.0
    );
    println!("CPU over {idle} s idle: {cpu:.2} %   (goal: < 1 %)");

    println!("\n## Startup");
    println!(
        "exec to accepting connections, pend --sim 4, median of 7: {:.1} ms",
        startup(7).as_secs_f64() * 1000.0
    );
}
