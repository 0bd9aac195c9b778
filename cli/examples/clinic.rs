//! A clinic app in miniature, in Rust, on the same client library `penctl` uses.
//!
//! It watches events, holds a treatment session with heartbeats from the same loop, sets
//! depth, needles, stops, and handles a refusal the way a real app must: show it, never
//! retry deeper.
//!
//! ```sh
//! cargo run -p penctl --example clinic -- $XDG_RUNTIME_DIR/pend/pend.sock
//! ```

use std::time::Duration;

use penctl::api::{Event, EventFrame};
use penctl::{Client, ClientError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let socket = std::env::args()
        .nth(1)
        .expect("usage: clinic PATH-TO-pend.sock");
    // Two connections: one holds the session, one listens to events.
    let mut pend = Client::connect(&socket).await?;
    let mut events = Client::connect(&socket).await?;
    events.subscribe().await?;

    let pens = pend.list_pens().await?;
    let Some(pen) = pens.iter().find(|p| p.problems.is_empty()) else {
        eprintln!("no pen is ready for treatment");
        std::process::exit(1);
    };
    let pen = pen.serial.clone();
    let session = pend
        .open_session(&pen, "rust clinic example", Duration::ZERO)
        .await?;
    println!("session on {pen}, lease {} ms", session.lease_ms);
    let mut heartbeat =
        tokio::time::interval(Duration::from_millis(u64::from(session.lease_ms) / 3));

    pend.set_depth(&pen, 500, true).await?;
    pend.start_needling(&pen, 120).await?;

    // Treat for a second: heartbeats keep the session, events show what happens.
    let treatment = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(treatment);
    loop {
        tokio::select! {
            _ = &mut treatment => break,
            _ = heartbeat.tick() => pend.heartbeat().await?,
            event = events.next_event() => match event? {
                EventFrame::Event(Event::DepthReached { depth, .. }) => println!("at {depth}"),
                EventFrame::Event(Event::NeedlingStarted { strokes_per_s, .. }) => {
                    println!("needling at {strokes_per_s} strokes/s")
                }
                EventFrame::Event(other) => println!("event: {other:?}"),
                EventFrame::Missed { count } => println!("missed {count} events"),
            },
        }
    }

    match pend.set_depth(&pen, 1200, true).await {
        Err(ClientError::Api(refusal)) if refusal.kind.is_safety_refusal() => {
            println!("refused as it must be: {refusal}");
        }
        Ok(_) => panic!("1.2 mm was accepted"),
        Err(other) => return Err(other),
    }
    pend.stop_needling(&pen).await?;
    pend.close_session(&pen).await?;
    println!("session closed; {pen} retracted");
    Ok(())
}
