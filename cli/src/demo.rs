//! `penctl demo`: a daemon with simulated pens in this process, on a temporary socket, and a
//! short scripted session against it through the same client API as every other command.

use std::time::Duration;

use pen_protocol::api::ApiError;
use penctl::{exit, parse_depth, Client, ClientError};
use pend::{Daemon, DaemonConfig};

use crate::{calibrate, output};

/// Runs the demo; returns the exit code.
pub async fn run(pens: usize) -> u8 {
    let dir = match tempfile::Builder::new().prefix("penctl-demo-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("cannot create a temporary folder for the demo socket: {e}");
            return exit::FAILURE;
        }
    };
    let socket = dir.path().join("pend.sock");
    println!(
        "Starting pend with {pens} simulated pens on {}",
        socket.display()
    );
    let mut config = DaemonConfig::new(socket.clone(), pens);
    config.state_dir = dir.path().join("state");
    // The demo drives its simulated pens only, whatever is plugged in.
    config.usb = None;
    let daemon = match Daemon::start(config).await {
        Ok(daemon) => daemon,
        Err(e) => {
            eprintln!("cannot start the demo daemon: {e}");
            return exit::FAILURE;
        }
    };
    let code = match script(&socket).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("demo failed: {e}");
            exit::code_for(&e)
        }
    };
    daemon.shut_down().await;
    println!("\npend stopped; pens retracted.");
    code
}

async fn script(socket: &std::path::Path) -> Result<(), ClientError> {
    let mut client = Client::connect(socket)
        .await?
        .with_timeout(Duration::from_secs(10));
    let version = client.hello().await?;
    println!("Connected to pend {version}.\n");

    println!("$ penctl list");
    let pens = client.list_pens().await?;
    print!("{}", output::pen_table(&pens));
    let Some(pen) = pens.first().map(|p| p.serial.clone()) else {
        println!("no pens to demonstrate with");
        return Ok(());
    };

    println!("\n$ penctl session {pen}     # a treatment session: the pen is ours until it ends");
    let info = client
        .open_session(&pen, "penctl demo", Duration::ZERO)
        .await?;
    println!(
        "session open on {pen}; pend retracts the pen if this client goes quiet for {} ms",
        info.lease_ms
    );

    println!("> set 0.5mm");
    let done = client.set_depth(&pen, um("0.5mm"), true).await?;
    print!("{}", output::depth_set(&done));
    let status = client.pen_status(&pen).await?;
    if let Some(sim) = &status.sim {
        println!(
            "  the simulator says the needle truly protrudes {:.1} um (factory table, not yet bench-calibrated)",
            sim.true_protrusion_um
        );
    }

    println!("> start 120");
    client.start_needling(&pen, 120).await?;
    println!("needling at 120 strokes/s");

    for attempt in ["1.2mm", "1.001mm"] {
        println!("> set {attempt}");
        match client.set_depth(&pen, um(attempt), true).await {
            Err(ClientError::Api(ApiError { kind, message, .. })) if kind.is_safety_refusal() => {
                println!("{message}");
                println!(
                    "  (penctl exits with code {} = safety refusal)",
                    exit::SAFETY_REFUSAL
                );
            }
            Ok(done) => {
                // Would be a bug in the policy: say so loudly.
                return Err(ClientError::Protocol(format!(
                    "the daemon accepted {attempt}: {done:?}"
                )));
            }
            Err(other) => return Err(other),
        }
    }

    println!("> stop");
    client.stop_needling(&pen).await?;
    println!("needling stopped");
    println!("> status");
    let status = client.pen_status(&pen).await?;
    print!("{}", output::pen_status(&status));
    println!("> close");
    client.close_session(&pen).await?;
    println!("session closed; {pen} retracted");

    // The bench: calibrate the other pen against the simulated reference gauge.
    let Some(bench_pen) = pens.get(1).map(|p| p.serial.clone()) else {
        return Ok(());
    };
    println!("\n$ penctl calibrate {bench_pen} --gauge sim     # on the bench, against a reference gauge");
    let mut bench = Client::connect(socket).await?;
    let request = calibrate::Request {
        pen: &bench_pen,
        gauge: "sim",
        points_um: Vec::new(),
        repeats: 0,
        tolerance_um: 0,
    };
    if calibrate::run(&mut bench, request, false).await != exit::OK {
        return Err(ClientError::Protocol(
            "the demo calibration did not pass".into(),
        ));
    }
    println!("\n$ penctl calibration show {bench_pen}");
    calibrate::show(&mut client, &bench_pen, false).await?;
    Ok(())
}

fn um(text: &str) -> u32 {
    parse_depth(text).expect("the demo's depths are well formed")
}
