//! Gauge spec strings, as given to `penctl calibrate --gauge`:
//!
//! - `sylvac:/dev/ttyUSB0`
//! - `mitutoyo:/dev/ttyACM0,calibrated=2026-03-01` (these gauges cannot report the date)
//! - `sim`, or `sim:silent`, `sim:garbled`, `sim:over-range`, `sim:unplug-after=N`,
//!   `sim:calibrated=2026-03-01` (options comma-separated): the simulated Sylvac gauge on a
//!   pseudo-terminal, touching a simulated pen.

use std::fmt;

use pen_sim::gauge::GaugeFaults;

use super::reply::{parse_iso_date, Date};

/// A parsed gauge spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaugeSpec {
    /// A Sylvac gauge on a serial port.
    Sylvac {
        /// The port.
        port: String,
    },
    /// A Mitutoyo gauge on a serial port.
    Mitutoyo {
        /// The port.
        port: String,
        /// Its calibration date, as the technician read it off the certificate.
        calibrated: Option<Date>,
    },
    /// The simulated gauge.
    Sim {
        /// Faults to inject.
        faults: GaugeFaults,
        /// The date it claims for its own calibration (default: 60 days ago).
        calibrated: Option<Date>,
    },
}

/// A spec that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadGaugeSpec(pub String);

impl fmt::Display for BadGaugeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read gauge spec {:?}: use sylvac:PORT, mitutoyo:PORT[,calibrated=YYYY-MM-DD] or sim[:OPTIONS]",
            self.0
        )
    }
}

impl std::str::FromStr for GaugeSpec {
    type Err = BadGaugeSpec;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadGaugeSpec(text.to_string());
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        let mut parts = rest.split(',').filter(|p| !p.is_empty());
        match kind {
            "sylvac" => {
                let port = parts.next().ok_or_else(bad)?.to_string();
                if parts.next().is_some() {
                    return Err(bad());
                }
                Ok(GaugeSpec::Sylvac { port })
            }
            "mitutoyo" => {
                let port = parts.next().ok_or_else(bad)?.to_string();
                let mut calibrated = None;
                for option in parts {
                    let date = option.strip_prefix("calibrated=").ok_or_else(bad)?;
                    calibrated = Some(parse_iso_date(date).ok_or_else(bad)?);
                }
                Ok(GaugeSpec::Mitutoyo { port, calibrated })
            }
            "sim" => {
                let mut faults = GaugeFaults::default();
                let mut calibrated = None;
                for option in parts {
                    match option.split_once('=') {
                        None if option == "silent" => faults.silent = true,
                        None if option == "garbled" => faults.garbled = true,
                        None if option == "over-range" => faults.over_range = true,
                        Some(("unplug-after", n)) => {
                            faults.unplug_after = Some(n.parse().map_err(|_| bad())?)
                        }
                        Some(("calibrated", date)) => {
                            calibrated = Some(parse_iso_date(date).ok_or_else(bad)?)
                        }
                        _ => return Err(bad()),
                    }
                }
                Ok(GaugeSpec::Sim { faults, calibrated })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            "sylvac:/dev/ttyUSB0".parse(),
            Ok(GaugeSpec::Sylvac {
                port: "/dev/ttyUSB0".into()
            })
        );
        assert_eq!(
            "mitutoyo:/dev/ttyACM0,calibrated=2026-03-01".parse(),
            Ok(GaugeSpec::Mitutoyo {
                port: "/dev/ttyACM0".into(),
                calibrated: Date::from_ymd(2026, 3, 1)
            })
        );
        assert_eq!(
            "sim".parse(),
            Ok(GaugeSpec::Sim {
                faults: GaugeFaults::default(),
                calibrated: None
            })
        );
        let Ok(GaugeSpec::Sim { faults, .. }) = "sim:silent,unplug-after=5".parse() else {
            panic!()
        };
        assert!(faults.silent);
        assert_eq!(faults.unplug_after, Some(5));
    }

    #[test]
    fn bad_specs_say_what_works() {
        for bad in [
            "",
            "sylvac",
            "sylvac:",
            "keyence:/dev/x",
            "sim:loud",
            "mitutoyo:/x,calibrated=2026-13-01",
        ] {
            let error = bad.parse::<GaugeSpec>().unwrap_err();
            assert!(error.to_string().contains("sylvac:PORT"), "{bad}");
        }
    }
}
