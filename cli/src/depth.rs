//! Reading depths the way people write them: `0.5mm`, `500um`, `500µm`, or a bare `0.5`
//! (millimetres). Exact decimal arithmetic, no floating point: `0.1mm` is exactly 100 um.

use std::fmt;

/// A depth could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthParseError {
    input: String,
    why: &'static str,
}

impl fmt::Display for DepthParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read {:?} as a depth: {} (write e.g. 0.5mm, 500um or 0.5)",
            self.input, self.why
        )
    }
}

impl std::error::Error for DepthParseError {}

/// Parses a depth into whole micrometres. Values over the ceiling parse fine: refusing them
/// is the daemon's job, so that every client gets the same answer.
pub fn parse_depth(input: &str) -> Result<u32, DepthParseError> {
    let fail = |why| DepthParseError {
        input: input.to_string(),
        why,
    };
    let text = input.trim();
    let (number, scale_digits) = if let Some(n) = text.strip_suffix("mm") {
        (n, 3)
    } else if let Some(n) = text.strip_suffix("um").or_else(|| text.strip_suffix("µm")) {
        (n, 0)
    } else {
        (text, 3)
    };
    let number = number.trim_end();
    if number.starts_with('-') {
        return Err(fail("a depth cannot be negative"));
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return Err(fail("no number"));
    }
    if !whole
        .chars()
        .chain(fraction.chars())
        .all(|c| c.is_ascii_digit())
    {
        return Err(fail("not a number"));
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > scale_digits {
        return Err(fail("finer than 1 um"));
    }
    let too_large = || fail("too large");
    let whole: u32 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let mut fraction_um = 0u32;
    for (i, digit) in significant.chars().enumerate() {
        let value = digit.to_digit(10).expect("checked ascii digit");
        fraction_um += value * 10u32.pow((scale_digits - 1 - i) as u32);
    }
    whole
        .checked_mul(10u32.pow(scale_digits as u32))
        .and_then(|um| um.checked_add(fraction_um))
        .ok_or_else(too_large)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_the_usual_forms() {
        for (text, um) in [
            ("0.5mm", 500),
            ("0.5 mm", 500),
            ("500um", 500),
            ("500 µm", 500),
            ("0.5", 500),
            ("1", 1000),
            (".25mm", 250),
            ("1.001mm", 1001),
            ("1.2mm", 1200),
            ("0.100", 100),
            ("0mm", 0),
        ] {
            assert_eq!(parse_depth(text), Ok(um), "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_represent_exactly() {
        for text in [
            "0.0005mm",
            "1.5um",
            "-0.5mm",
            "abc",
            "",
            "mm",
            "1e3um",
            "5000000mm",
        ] {
            assert!(parse_depth(text).is_err(), "{text}");
        }
        assert!(parse_depth("0.0005mm")
            .unwrap_err()
            .to_string()
            .contains("finer than 1 um"));
    }

    proptest! {
        #[test]
        fn micrometres_round_trip_through_millimetre_text(um in 0u32..10_000_000) {
            let text = format!("{}.{:03}mm", um / 1000, um % 1000);
            prop_assert_eq!(parse_depth(&text), Ok(um));
            prop_assert_eq!(parse_depth(&format!("{um}um")), Ok(um));
        }

        #[test]
        fn never_panics(text in ".{0,20}") {
            let _ = parse_depth(&text);
        }
    }
}
