//! Words for limits: every check of a bundle in order with its result, the changes a bundle
//! makes, and the summary a pen report carries. Pure.

use pen_protocol::api::{LimitsCheck, LimitsSummary};
use pen_protocol::limits::{keyfile, Limits, LimitsBody, LimitsError};
use pen_protocol::Micrometres;

/// The checks of `verify_bundle`, in the order it makes them.
const CHECKS: [&str; 10] = [
    "size and shape of the file",
    "signature present",
    "signing key trusted here",
    "signing key not retired",
    "signature valid (strict Ed25519)",
    "signed content well formed",
    "made for this pen",
    "counter newer than the pen's",
    "maximum depth within the 1.000 mm ceiling",
    "limits sensible",
];

fn failed_at(error: &LimitsError) -> usize {
    match error {
        LimitsError::Oversized { .. } | LimitsError::Truncated => 0,
        LimitsError::MissingSignature => 1,
        LimitsError::UnknownKey { .. } => 2,
        LimitsError::RetiredKey { .. } => 3,
        LimitsError::BadSignature => 4,
        LimitsError::Malformed => 5,
        LimitsError::WrongSerial => 6,
        LimitsError::Rollback { .. } => 7,
        LimitsError::OverCeiling { .. } => 8,
        LimitsError::Nonsense => 9,
    }
}

/// Every check and its result, for a verification that gave `result`.
pub fn checks(result: &Result<LimitsBody, LimitsError>) -> Vec<LimitsCheck> {
    let failed = result.as_ref().err().map(|e| (failed_at(e), e.to_string()));
    CHECKS
        .iter()
        .enumerate()
        .map(|(i, check)| {
            let (passed, detail) = match &failed {
                None => (Some(true), String::new()),
                Some((at, _)) if i < *at => (Some(true), String::new()),
                Some((at, why)) if i == *at => (Some(false), why.clone()),
                Some(_) => (None, "not reached".into()),
            };
            LimitsCheck {
                check: check.to_string(),
                passed,
                detail,
            }
        })
        .collect()
}

/// What flashing `new` changes on a pen holding `old` at counter `old_counter`.
pub fn changes(old: &Limits, old_counter: u32, new: &LimitsBody) -> Vec<String> {
    let mm = |um: u16| Micrometres(u32::from(um)).to_string();
    let l = &new.limits;
    let mut out = Vec::new();
    let mut line = |what: &str, before: String, after: String| {
        let mark = if before == after { " (unchanged)" } else { "" };
        out.push(format!("{what} {before} -> {after}{mark}"));
    };
    line("max depth", mm(old.max_depth_um), mm(l.max_depth_um));
    line(
        "stroke rate",
        format!("{}-{}/s", old.stroke_rate_min, old.stroke_rate_max),
        format!("{}-{}/s", l.stroke_rate_min, l.stroke_rate_max),
    );
    line(
        "calibration interval",
        format!("{} days", old.calibration_interval_days),
        format!("{} days", l.calibration_interval_days),
    );
    line("counter", old_counter.to_string(), new.counter.to_string());
    out
}

/// The summary of a pen's limits: a verified bundle's, or the defaults.
pub fn summary(body: Option<&LimitsBody>) -> LimitsSummary {
    match body {
        Some(body) => LimitsSummary {
            limits: body.limits,
            counter: body.counter,
            key_id: keyfile::hex(&body.key_id),
            issued_unix_s: body.issued_unix_s,
        },
        None => LimitsSummary {
            limits: Limits::DEFAULT,
            counter: 0,
            key_id: String::new(),
            issued_unix_s: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(max: u16) -> LimitsBody {
        LimitsBody {
            serial: "P".try_into().unwrap(),
            limits: Limits {
                max_depth_um: max,
                ..Limits::DEFAULT
            },
            counter: 4,
            issued_unix_s: 1,
            key_id: [1; 8],
        }
    }

    #[test]
    fn checks_before_a_failure_pass_and_after_it_are_not_reached() {
        let report = checks(&Err(LimitsError::Rollback { bundle: 4, pen: 4 }));
        assert_eq!(report.len(), CHECKS.len());
        assert!(report[..7].iter().all(|c| c.passed == Some(true)));
        assert_eq!(report[7].passed, Some(false));
        assert!(report[7].detail.contains("rollback"));
        assert!(report[8..].iter().all(|c| c.passed.is_none()));
        assert!(checks(&Ok(body(800)))
            .iter()
            .all(|c| c.passed == Some(true)));
    }

    #[test]
    fn changes_read_like_a_diff() {
        let lines = changes(&Limits::DEFAULT, 0, &body(800));
        assert_eq!(lines[0], "max depth 1.000 mm -> 0.800 mm");
        assert!(lines[1].ends_with("(unchanged)"));
        assert_eq!(lines[3], "counter 0 -> 4");
    }
}
