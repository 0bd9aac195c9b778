//! Whatever a gauge (or a wrong device on its port) sends: the parsers never panic, and a
//! reading they accept is within the gauge's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pend::gauge::reply::{
    parse_identity, parse_iso_date, parse_mitutoyo_reading, parse_sylvac_date,
    parse_sylvac_reading,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(reading) = parse_sylvac_reading(&text) {
        assert!(reading.nm.abs() <= 25_000_000);
    }
    let _ = parse_mitutoyo_reading(&text);
    let _ = parse_identity(&text);
    let _ = parse_sylvac_date(&text);
    let _ = parse_iso_date(&text);
});
