//! Readiness: the list of problems that stop clinical use of a pen right now, in words a
//! practitioner can act on. Pure: the date comes in as an argument.

use pen_protocol::api::{CalibrationSummary, PenState, Problem, ProblemKind};

use crate::policy::{check_calibration_age, CalibrationClock};

fn problem(kind: ProblemKind, message: impl Into<String>) -> Problem {
    Problem {
        kind,
        message: message.into(),
    }
}

/// The pen's problems, given its state, its calibration and whether one is running; empty
/// when it may be used.
pub fn problems(
    state: &PenState,
    calibration: Option<&CalibrationSummary>,
    calibrating: bool,
    limits_verified: bool,
    clock: CalibrationClock,
) -> Vec<Problem> {
    let mut found = Vec::new();
    if calibrating {
        found.push(problem(
            ProblemKind::CalibrationInProgress,
            "a bench calibration is running on the pen; wait for it to finish",
        ));
    }
    match state {
        PenState::Ready => {}
        PenState::Connecting => found.push(problem(
            ProblemKind::Connecting,
            "the pen is still connecting; wait a moment",
        )),
        PenState::Offline => found.push(problem(
            ProblemKind::Offline,
            "the pen is unplugged or switched off; reconnect it",
        )),
        PenState::Incompatible { reason } => found.push(problem(
            ProblemKind::FirmwareMismatch,
            format!("the pen's firmware does not match this software: {reason}"),
        )),
        PenState::Faulted { reason } => found.push(problem(
            ProblemKind::FaultLatched,
            format!("{reason}; check the pen, then reconnect it to clear the fault"),
        )),
        PenState::NotAnswering => found.push(problem(
            ProblemKind::NotAnswering,
            "the pen stopped answering; check its cable",
        )),
        PenState::NoAccess { node, fix } => found.push(problem(
            ProblemKind::NoAccess,
            format!("pend may not open {node}: {fix}"),
        )),
    }
    // Before the handshake the calibration is simply not read yet: not a problem of its own.
    if matches!(
        state,
        PenState::Connecting | PenState::Offline | PenState::NoAccess { .. }
    ) {
        return found;
    }
    if !limits_verified && !matches!(state, PenState::Incompatible { .. }) {
        found.push(problem(
            ProblemKind::LimitsUnverified,
            "the pen's limits could not be verified (signed by a key this station does not trust, or altered); have field service reflash them",
        ));
    }
    match calibration {
        None => found.push(problem(
            ProblemKind::NotCalibrated,
            "the pen holds no valid calibration; have it calibrated on the bench",
        )),
        Some(cal) => {
            if let Err(refusal) = check_calibration_age(cal.calibrated_at_unix_s, clock) {
                let words = refusal.to_string();
                let words = words.strip_prefix("refused: ").unwrap_or(&words);
                found.push(problem(ProblemKind::CalibrationExpired, words));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;
    const CLOCK: CalibrationClock = CalibrationClock {
        now_unix_s: 100 * DAY,
        max_age_s: 30 * DAY,
    };

    fn calibration(days_ago: u64) -> CalibrationSummary {
        CalibrationSummary {
            id: 1,
            calibrated_at_unix_s: CLOCK.now_unix_s - days_ago * DAY,
            margin_um: 10,
            usable_ceiling_um: 990,
            points: 6,
        }
    }

    fn kinds(found: &[Problem]) -> Vec<ProblemKind> {
        found.iter().map(|p| p.kind).collect()
    }

    #[test]
    fn a_ready_pen_with_a_fresh_calibration_has_no_problems() {
        assert!(problems(&PenState::Ready, Some(&calibration(5)), false, true, CLOCK).is_empty());
    }

    #[test]
    fn every_problem_is_listed() {
        let state = PenState::Faulted {
            reason: "pen latched a fault: motor stalled".into(),
        };
        let found = problems(&state, None, false, true, CLOCK);
        assert_eq!(
            kinds(&found),
            [ProblemKind::FaultLatched, ProblemKind::NotCalibrated]
        );
        assert!(found[0].message.contains("motor stalled"));
    }

    #[test]
    fn an_old_calibration_is_a_problem_in_days() {
        let found = problems(&PenState::Ready, Some(&calibration(45)), false, true, CLOCK);
        assert_eq!(kinds(&found), [ProblemKind::CalibrationExpired]);
        assert!(found[0]
            .message
            .starts_with("the pen's calibration is 45 days old"));
    }

    #[test]
    fn a_connecting_pen_is_not_also_uncalibrated() {
        let found = problems(&PenState::Connecting, None, false, true, CLOCK);
        assert_eq!(kinds(&found), [ProblemKind::Connecting]);
    }

    #[test]
    fn unverified_limits_are_a_problem() {
        let found = problems(&PenState::Ready, Some(&calibration(1)), false, false, CLOCK);
        assert_eq!(kinds(&found), [ProblemKind::LimitsUnverified]);
    }

    #[test]
    fn a_calibration_under_way_is_a_problem_for_treatment() {
        let found = problems(&PenState::Ready, Some(&calibration(1)), true, true, CLOCK);
        assert_eq!(kinds(&found), [ProblemKind::CalibrationInProgress]);
    }
}
