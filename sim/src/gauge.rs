//! A simulated reference gauge: a Sylvac-style dial indicator touching the needle carriage.
//!
//! Sans-IO: a command and the pen's true protrusion go in, the gauge's reply comes out.
//! Like the real thing, its display does not jump: the spindle settles toward the carriage
//! with a time constant, readings carry a little noise, and they show whole micrometres.
//! Faults can be injected to test what the daemon does when a gauge misbehaves.

use std::time::Duration;

use crate::rng::Rng;

/// What the simulated gauge answers to `ID?`.
pub const SIM_GAUGE_ID: &str = "SY276-SIM";
/// Display resolution: 1 um.
pub const RESOLUTION_UM: f64 = 1.0;
/// The spindle's settling time constant: a few milliseconds, well under the ~20 ms a
/// reading takes on the line, so a settled reading is the carriage's position, not a lag.
pub const SETTLE_TAU: Duration = Duration::from_millis(5);
/// Standard deviation of reading noise, micrometres (cut off at 3 sigma).
pub const NOISE_SIGMA_UM: f64 = 0.25;
/// Serial line speed the simulated gauge keeps to, bits per second (7E2: 11 bits a byte).
pub const BAUD: u32 = 4800;

/// Faults to inject.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GaugeFaults {
    /// Never answer.
    pub silent: bool,
    /// Answer garbage to every reading.
    pub garbled: bool,
    /// Answer `ERR3` (over range) to every reading.
    pub over_range: bool,
    /// Disappear (unplugged) after this many readings.
    pub unplug_after: Option<u64>,
}

/// The gauge's state.
#[derive(Debug, Clone)]
pub struct SimGauge {
    calibrated: String,
    faults: GaugeFaults,
    rng: Rng,
    displayed_um: Option<f64>,
    last_update: Duration,
    readings: u64,
}

/// What the gauge does with a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaugeAnswer {
    /// Send this line (CR included).
    Reply(String),
    /// Say nothing.
    Silence,
    /// The gauge is gone.
    Unplugged,
}

impl SimGauge {
    /// A gauge whose own calibration date is `calibrated` (`DD.MM.YYYY`).
    pub fn new(seed: u64, calibrated: &str, faults: GaugeFaults) -> SimGauge {
        SimGauge {
            calibrated: calibrated.to_string(),
            faults,
            rng: Rng::new(seed ^ 0x6A06E),
            displayed_um: None,
            last_update: Duration::ZERO,
            readings: 0,
        }
    }

    /// Answers `command` (without its CR) at time `now`, with the needle truly at
    /// `truth_um`.
    pub fn answer(&mut self, command: &str, truth_um: f64, now: Duration) -> GaugeAnswer {
        if self.faults.silent {
            return GaugeAnswer::Silence;
        }
        match command.trim() {
            "?" => self.reading(truth_um, now),
            "ID?" => GaugeAnswer::Reply(format!("{SIM_GAUGE_ID}\r")),
            "LCAL?" => GaugeAnswer::Reply(format!("{}\r", self.calibrated)),
            _ => GaugeAnswer::Reply("ERR1\r".into()),
        }
    }

    fn reading(&mut self, truth_um: f64, now: Duration) -> GaugeAnswer {
        self.readings += 1;
        if self
            .faults
            .unplug_after
            .is_some_and(|limit| self.readings > limit)
        {
            return GaugeAnswer::Unplugged;
        }
        if self.faults.over_range {
            return GaugeAnswer::Reply("ERR3\r".into());
        }
        if self.faults.garbled {
            return GaugeAnswer::Reply("+0.4\u{7f}9?\r".into());
        }
        // The spindle approaches the carriage exponentially since the last look.
        let shown = match self.displayed_um {
            None => truth_um,
            Some(before) => {
                let dt = now.saturating_sub(self.last_update).as_secs_f64();
                let follow = 1.0 - (-dt / SETTLE_TAU.as_secs_f64()).exp();
                before + (truth_um - before) * follow
            }
        };
        self.displayed_um = Some(shown);
        self.last_update = now;
        let noisy = shown + self.rng.bounded_normal(NOISE_SIGMA_UM);
        let digits = (noisy / RESOLUTION_UM).round() as i64;
        let sign = if digits < 0 { '-' } else { '+' };
        let um = digits.unsigned_abs();
        GaugeAnswer::Reply(format!("{sign}{}.{:03}\r", um / 1000, um % 1000))
    }

    /// How long the exchange of `command` and `reply` takes on the serial line.
    pub fn line_time(command: &str, reply: &str) -> Duration {
        let bytes = (command.len() + 1 + reply.len()) as u64;
        Duration::from_micros(bytes * 11 * 1_000_000 / u64::from(BAUD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn value(answer: GaugeAnswer) -> f64 {
        match answer {
            GaugeAnswer::Reply(line) => line.trim().parse().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn readings_settle_on_the_truth_in_whole_micrometres() {
        let mut gauge = SimGauge::new(1, "01.06.2026", GaugeFaults::default());
        assert!((value(gauge.answer("?", 100.0, ms(0))) * 1000.0 - 100.0).abs() <= 1.0);
        // The carriage jumps to 500 um: a look right away is on its way, later ones arrive.
        let early = value(gauge.answer("?", 500.0, ms(1))) * 1000.0;
        assert!(early < 250.0, "{early}");
        let late = value(gauge.answer("?", 500.0, ms(200))) * 1000.0;
        assert!((late - 500.0).abs() <= 1.0, "{late}");
        assert_eq!(late.fract(), 0.0);
    }

    #[test]
    fn identity_date_and_unknown_commands() {
        let mut gauge = SimGauge::new(1, "01.06.2026", GaugeFaults::default());
        assert_eq!(
            gauge.answer("ID?", 0.0, ms(0)),
            GaugeAnswer::Reply("SY276-SIM\r".into())
        );
        assert_eq!(
            gauge.answer("LCAL?", 0.0, ms(0)),
            GaugeAnswer::Reply("01.06.2026\r".into())
        );
        assert_eq!(
            gauge.answer("FOO", 0.0, ms(0)),
            GaugeAnswer::Reply("ERR1\r".into())
        );
    }

    #[test]
    fn faults_are_injected() {
        let silent = GaugeFaults {
            silent: true,
            ..Default::default()
        };
        assert_eq!(
            SimGauge::new(1, "x", silent).answer("?", 0.0, ms(0)),
            GaugeAnswer::Silence
        );
        let over = GaugeFaults {
            over_range: true,
            ..Default::default()
        };
        assert_eq!(
            SimGauge::new(1, "x", over).answer("?", 0.0, ms(0)),
            GaugeAnswer::Reply("ERR3\r".into())
        );
        let unplug = GaugeFaults {
            unplug_after: Some(2),
            ..Default::default()
        };
        let mut gauge = SimGauge::new(1, "x", unplug);
        gauge.answer("?", 0.0, ms(0));
        gauge.answer("?", 0.0, ms(1));
        assert_eq!(gauge.answer("?", 0.0, ms(2)), GaugeAnswer::Unplugged);
    }

    #[test]
    fn a_reading_takes_its_time_on_a_4800_baud_line() {
        // "?" CR and "+0.498" CR: 9 bytes of 11 bits at 4800 baud.
        assert_eq!(
            SimGauge::line_time("?", "+0.498\r"),
            Duration::from_micros(20_625)
        );
    }
}
