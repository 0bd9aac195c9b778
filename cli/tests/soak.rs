//! Load and soak: 64 clients against `pend --sim 8` for a bounded time (SOAK_SECONDS, 20 by
//! default; longer for a nightly-style run). Eight hold sessions and set depths; the rest
//! read. Every reply must come, match its request, and succeed; the daemon's memory must stay
//! flat (within 10 % between the end of warm-up and the end).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pen_protocol::api::{
    decode_server_frame, encode_client_frame, payload_len, ClientRequest, Request, ServerFrame,
};
use testkit::Pend;

const CLIENTS: usize = 64;
const PENS: usize = 8;

fn call(stream: &mut UnixStream, id: u32, request: Request) -> Result<(), String> {
    let frame = encode_client_frame(&ClientRequest { id, request }).unwrap();
    stream.write_all(&frame).map_err(|e| e.to_string())?;
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; payload_len(header).map_err(|e| e.to_string())?];
    stream.read_exact(&mut payload).map_err(|e| e.to_string())?;
    match decode_server_frame(&payload).map_err(|e| e.to_string())? {
        ServerFrame::Reply(reply) if reply.id != id => {
            Err(format!("reply {} to request {id}", reply.id))
        }
        ServerFrame::Reply(reply) => reply.result.map(|_| ()).map_err(|e| e.message),
        ServerFrame::Event(_) => Err("an event for a client that did not subscribe".into()),
    }
}

#[test]
fn sixty_four_clients_lose_nothing_and_memory_stays_flat() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let pend = Pend::start(PENS);
    let stop = AtomicBool::new(false);
    let replies = AtomicU64::new(0);
    let (warm_rss, end_rss, failures) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|i| {
                let (pend, stop, replies) = (&pend, &stop, &replies);
                scope.spawn(move || -> Vec<String> {
                    let mut stream = UnixStream::connect(pend.socket()).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let pen = format!("SIM-{:04}", i % PENS + 1);
                    let treating = i < PENS;
                    let mut id = 0u32;
                    let mut next = |request| {
                        id += 1;
                        call(&mut stream, id, request)
                    };
                    let mut failures = Vec::new();
                    if treating {
                        let open = Request::OpenSession {
                            pen: pen.clone(),
                            client_name: format!("soak {i}"),
                            wait_ms: 0,
                        };
                        if let Err(e) = next(open) {
                            return vec![format!("client {i}: open: {e}")];
                        }
                    }
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let request = match (treating, n % 4) {
                            (true, 3) => Request::Heartbeat,
                            (true, _) => Request::SetDepth {
                                pen: pen.clone(),
                                depth_um: 200 + (n % 2) as u32 * 100,
                                wait: false,
                            },
                            (false, 0) => Request::ListPens,
                            (false, _) => Request::PenStatus { pen: pen.clone() },
                        };
                        if let Err(e) = next(request) {
                            failures.push(format!("client {i}: {e}"));
                            break;
                        }
                        replies.fetch_add(1, Ordering::Relaxed);
                        n += 1;
                    }
                    failures
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3)); // warm-up
        let warm = pend.rss_kib();
        std::thread::sleep(Duration::from_secs(seconds));
        let end = pend.rss_kib();
        stop.store(true, Ordering::Relaxed);
        let failures: Vec<String> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        (warm, end, failures)
    });
    let total = replies.load(Ordering::Relaxed);
    println!(
        "{CLIENTS} clients, {seconds} s: {total} replies ({:.0}/s), none lost or mismatched; RSS {warm_rss} -> {end_rss} KiB",
        total as f64 / (seconds + 3) as f64
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        (end_rss as f64) <= warm_rss as f64 * 1.10,
        "memory grew from {warm_rss} to {end_rss} KiB"
    );
}
