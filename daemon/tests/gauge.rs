//! The real serial gauge driver against the simulated Sylvac gauge on a real pseudo-terminal.

use pen_sim::gauge::{GaugeFaults, SimGauge};
use pen_sim::gauge_pty::GaugePty;
use pend::gauge::serial::{Dialect, SerialGauge};
use pend::gauge::{Date, Gauge, GaugeError};

fn gauge_at(truth_um: f64, faults: GaugeFaults) -> (GaugePty, SerialGauge) {
    let pty = GaugePty::spawn(
        SimGauge::new(1, "15.01.2026", faults),
        Box::new(move || truth_um),
    )
    .expect("a pty");
    let gauge = SerialGauge::open(pty.path().to_str().unwrap(), Dialect::Sylvac, None)
        .expect("open the pty as a serial port");
    (pty, gauge)
}

#[tokio::test]
async fn the_driver_identifies_and_reads_the_simulated_gauge() {
    let (_pty, mut gauge) = gauge_at(123.4, GaugeFaults::default());
    let info = gauge.info().await.unwrap();
    assert_eq!(info.model, "Sylvac SY276-SIM");
    assert_eq!(info.calibrated, Date::from_ymd(2026, 1, 15));
    let reading = gauge.read().await.unwrap();
    assert!((reading.um() - 123.4).abs() <= 1.0, "{reading}");
    assert_eq!(reading.nm % 1000, 0, "1 um resolution");
}

#[tokio::test]
async fn gauge_faults_become_errors_a_technician_can_act_on() {
    let (_pty, mut silent) = gauge_at(
        0.0,
        GaugeFaults {
            silent: true,
            ..Default::default()
        },
    );
    let error = silent.read().await.unwrap_err();
    assert!(matches!(error, GaugeError::NoReply { .. }), "{error}");
    assert!(error.to_string().contains("check its cable"));

    let (_pty, mut over) = gauge_at(
        0.0,
        GaugeFaults {
            over_range: true,
            ..Default::default()
        },
    );
    assert_eq!(over.read().await, Err(GaugeError::OverRange));

    let (_pty, mut garbled) = gauge_at(
        0.0,
        GaugeFaults {
            garbled: true,
            ..Default::default()
        },
    );
    assert!(matches!(
        garbled.read().await,
        Err(GaugeError::Garbled { .. })
    ));

    let unplug = GaugeFaults {
        unplug_after: Some(1),
        ..Default::default()
    };
    let (_pty, mut unplugged) = gauge_at(0.0, unplug);
    assert!(unplugged.read().await.is_ok());
    let error = unplugged.read().await.unwrap_err();
    assert!(
        matches!(error, GaugeError::Disconnected | GaugeError::NoReply { .. }),
        "{error}"
    );
}
