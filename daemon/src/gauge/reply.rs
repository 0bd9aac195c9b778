//! Parsing what reference gauges say: pure functions, every malformed reply a typed error.
//!
//! Readings are kept as whole nanometres, parsed from the decimal text exactly (no floating
//! point on the way in), so a gauge's last digit survives.

use std::fmt;

/// A gauge reading: displacement in nanometres (positive: needle further out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reading {
    /// Nanometres.
    pub nm: i64,
}

impl Reading {
    /// The reading in micrometres, for arithmetic.
    pub fn um(self) -> f64 {
        self.nm as f64 / 1000.0
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} um", self.um())
    }
}

/// What went wrong talking to a gauge, in words a technician can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GaugeError {
    /// Nothing came back in time.
    #[error("the gauge did not answer within {ms} ms: check its cable and that it is switched on")]
    NoReply {
        /// How long we waited.
        ms: u64,
    },
    /// Something came back that is not a reply of this gauge type.
    #[error("the gauge answered {reply:?}, which is not a {expected}: is the right gauge type selected, at the right serial settings?")]
    Garbled {
        /// What arrived (printable form).
        reply: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The gauge reports a sensor error (Sylvac ERR0).
    #[error("the gauge reports a sensor error (ERR0): check the probe and its contact with the carriage")]
    Sensor,
    /// The gauge did not understand the command (Sylvac ERR1).
    #[error("the gauge did not understand the command (ERR1): is it a Sylvac gauge?")]
    BadCommand,
    /// The gauge saw a transmission error (Sylvac ERR2).
    #[error("the gauge reports a transmission (parity) error (ERR2): check the serial settings, 4800 baud 7E2")]
    Parity,
    /// The spindle is outside the gauge's range (Sylvac ERR3, or a reading past its range).
    #[error("the gauge is over its range (ERR3): re-seat the gauge against the needle carriage")]
    OverRange,
    /// The serial port went away.
    #[error("the gauge's serial port went away: it was unplugged")]
    Disconnected,
    /// The port could not be opened or configured.
    #[error("cannot open the gauge on {port}: {reason}")]
    Open {
        /// The port.
        port: String,
        /// Why.
        reason: String,
    },
    /// Readings never settled.
    #[error("the gauge readings did not settle within {ms} ms (last {last}): is the fixture vibrating or the gauge loose?")]
    Unsettled {
        /// How long we tried.
        ms: u64,
        /// The last reading.
        last: String,
    },
}

fn garbled(reply: &str, expected: &'static str) -> GaugeError {
    GaugeError::Garbled {
        reply: reply.escape_debug().to_string(),
        expected,
    }
}

/// Parses a signed decimal in millimetres (`+0.1234`, `-12.5`) to nanometres, exactly.
fn parse_mm(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'+' => (false, &text[1..]),
        b'-' => (true, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || whole.len() > 4 || fraction.len() > 6 {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let mut nm = whole * 1_000_000;
    for (place, digit) in fraction.bytes().enumerate() {
        nm += i64::from(digit - b'0') * 10i64.pow(5 - place as u32);
    }
    Some(if negative { -nm } else { nm })
}

/// Sylvac gauges measure within this span; a reading beyond it is over range.
const SYLVAC_RANGE_NM: i64 = 25_000_000;

/// Parses a Sylvac reply to `?`: `+0.1234` (mm), or `ERR0`..`ERR3`.
pub fn parse_sylvac_reading(reply: &str) -> Result<Reading, GaugeError> {
    let text = reply.trim();
    match text {
        "ERR0" => return Err(GaugeError::Sensor),
        "ERR1" => return Err(GaugeError::BadCommand),
        "ERR2" => return Err(GaugeError::Parity),
        "ERR3" => return Err(GaugeError::OverRange),
        _ => {}
    }
    let nm = parse_mm(text).ok_or_else(|| garbled(reply, "Sylvac reading like +0.1234"))?;
    if nm.abs() > SYLVAC_RANGE_NM {
        return Err(GaugeError::OverRange);
    }
    Ok(Reading { nm })
}

/// Parses a Mitutoyo (QM-Height style virtual COM) reply: `01A+0000.123`.
pub fn parse_mitutoyo_reading(reply: &str) -> Result<Reading, GaugeError> {
    let text = reply.trim();
    let expected = "Mitutoyo reading like 01A+0000.123";
    let value = text
        .strip_prefix("01A")
        .ok_or_else(|| garbled(reply, expected))?;
    if !value.starts_with(['+', '-']) {
        return Err(garbled(reply, expected));
    }
    let nm = parse_mm(value).ok_or_else(|| garbled(reply, expected))?;
    Ok(Reading { nm })
}

/// Parses a Sylvac identity (`ID?`): printable text, e.g. `SY276`.
pub fn parse_identity(reply: &str) -> Result<String, GaugeError> {
    let text = reply.trim();
    if text.is_empty()
        || text.len() > 32
        || !text.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(garbled(reply, "gauge identity like SY276"));
    }
    if text.starts_with("ERR") {
        return Err(GaugeError::BadCommand);
    }
    Ok(text.to_string())
}

/// A calendar date, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// Days since the Unix epoch.
    pub days: i64,
}

impl Date {
    /// The date `y-m-d` (proleptic Gregorian), if it exists.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Date> {
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            _ => return None,
        };
        if day == 0 || day > days_in_month {
            return None;
        }
        // Days from civil (H. Hinnant's algorithm).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(Date {
            days: era * 146_097 + doe - 719_468,
        })
    }

    /// The date of `unix_s` seconds since the epoch (UTC).
    pub fn from_unix_s(unix_s: u64) -> Date {
        Date {
            days: (unix_s / 86_400) as i64,
        }
    }

    /// Year, month, day.
    pub fn ymd(self) -> (i64, u32, u32) {
        // Civil from days (H. Hinnant's algorithm).
        let z = self.days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// Parses a Sylvac `LCAL?` reply: the gauge's last calibration date, `DD.MM.YYYY`.
pub fn parse_sylvac_date(reply: &str) -> Result<Date, GaugeError> {
    let text = reply.trim();
    let fail = || garbled(reply, "calibration date like 31.12.2025");
    let parts: Vec<&str> = text.split('.').collect();
    let [d, m, y] = parts.as_slice() else {
        return Err(fail());
    };
    if d.len() != 2 || m.len() != 2 || y.len() != 4 {
        return Err(fail());
    }
    let (d, m, y) = (
        d.parse().map_err(|_| fail())?,
        m.parse().map_err(|_| fail())?,
        y.parse().map_err(|_| fail())?,
    );
    Date::from_ymd(y, m, d).ok_or_else(fail)
}

/// Parses an ISO date `YYYY-MM-DD` (as given on the command line for gauges that cannot
/// report their own).
pub fn parse_iso_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    Date::from_ymd(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sylvac_readings_parse_exactly() {
        assert_eq!(
            parse_sylvac_reading("+0.1234\r"),
            Ok(Reading { nm: 123_400 })
        );
        assert_eq!(parse_sylvac_reading("-0.0050"), Ok(Reading { nm: -5_000 }));
        assert_eq!(parse_sylvac_reading("+0.498"), Ok(Reading { nm: 498_000 }));
        assert_eq!(
            parse_sylvac_reading(" +12.5 "),
            Ok(Reading { nm: 12_500_000 })
        );
    }

    #[test]
    fn sylvac_errors_are_typed() {
        assert_eq!(parse_sylvac_reading("ERR0"), Err(GaugeError::Sensor));
        assert_eq!(parse_sylvac_reading("ERR1\r"), Err(GaugeError::BadCommand));
        assert_eq!(parse_sylvac_reading("ERR2"), Err(GaugeError::Parity));
        assert_eq!(parse_sylvac_reading("ERR3"), Err(GaugeError::OverRange));
        assert_eq!(parse_sylvac_reading("+99.0"), Err(GaugeError::OverRange));
        for bad in [
            "",
            "+",
            "0.1.2",
            "abc",
            "+0.12a",
            "++0.1",
            "+0.1234567",
            "ERR9",
        ] {
            assert!(
                matches!(parse_sylvac_reading(bad), Err(GaugeError::Garbled { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn mitutoyo_readings_parse() {
        assert_eq!(
            parse_mitutoyo_reading("01A+0000.123\r"),
            Ok(Reading { nm: 123_000 })
        );
        assert_eq!(
            parse_mitutoyo_reading("01A-0000.005"),
            Ok(Reading { nm: -5_000 })
        );
        for bad in [
            "+0000.123",
            "01B+0000.123",
            "01A0000.123",
            "01A+",
            "01A+00x0.1",
        ] {
            assert!(parse_mitutoyo_reading(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_parse_and_print() {
        let date = parse_sylvac_date("31.12.2025\r").unwrap();
        assert_eq!(date.to_string(), "2025-12-31");
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date { days: 0 }));
        assert_eq!(
            parse_iso_date("2024-02-29").map(|d| d.ymd()),
            Some((2024, 2, 29))
        );
        assert!(parse_sylvac_date("30.02.2025").is_err());
        assert!(parse_sylvac_date("2025-12-31").is_err());
        assert!(parse_iso_date("2023-02-29").is_none());
    }

    proptest! {
        #[test]
        fn gauge_parsers_never_panic(text in "\\PC{0,40}") {
            let _ = parse_sylvac_reading(&text);
            let _ = parse_mitutoyo_reading(&text);
            let _ = parse_identity(&text);
            let _ = parse_sylvac_date(&text);
            let _ = parse_iso_date(&text);
        }

        #[test]
        fn sylvac_readings_round_trip(nm in -9_999_900i64..9_999_900) {
            let tenths = nm / 100 * 100; // four decimals of a millimetre
            let text = format!("{}{}.{:04}", if tenths < 0 { "-" } else { "+" }, tenths.abs() / 1_000_000, (tenths.abs() % 1_000_000) / 100);
            prop_assert_eq!(parse_sylvac_reading(&text), Ok(Reading { nm: tenths }));
        }

        #[test]
        fn dates_round_trip(days in -100_000i64..200_000) {
            let (y, m, d) = Date { days }.ymd();
            prop_assert_eq!(Date::from_ymd(y, m, d), Some(Date { days }));
        }
    }
}
