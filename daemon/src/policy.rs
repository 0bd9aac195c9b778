//! The ceiling policy: the daemon's decision, for every setpoint, whether it may go to a pen.
//!
//! Pure code: no I/O, no clock, no async. Every setpoint the daemon forwards has passed
//! [`approve_setpoint`]; the only way to get an [`ApprovedSetpoint`] is through it.
//!
//! A setpoint is refused, never clamped, when:
//! 1. it is over the hard ceiling ([`CEILING_UM`]);
//! 2. the pen holds no calibration, or one that fails validation, or one that is older than
//!    allowed (or of unknown date);
//! 3. it is over the calibration's usable ceiling (hard ceiling minus the table's margin);
//! 4. it lies outside the span the calibration measured (no extrapolation);
//! 5. the raw position it maps to reads back, through the same table, above the usable
//!    ceiling (a belt-and-braces check on the interpolation).

use std::fmt;

use pen_protocol::limits::Limits;
use pen_protocol::{
    CalibrationError, CalibrationTable, DepthUm, Micrometres, RawCounts, CEILING_UM,
};

/// What the policy needs to know about time: the wall-clock date (read at the edge and
/// passed in) and how old a calibration may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationClock {
    /// Now, in seconds since the Unix epoch.
    pub now_unix_s: u64,
    /// The oldest a calibration may be, in seconds.
    pub max_age_s: u64,
}

const DAY_S: u64 = 24 * 60 * 60;

/// Checks a calibration's date: refused when unknown (0) or older than allowed.
pub fn check_calibration_age(
    calibrated_at_unix_s: u64,
    clock: CalibrationClock,
) -> Result<(), Refusal> {
    if calibrated_at_unix_s == 0 {
        return Err(Refusal::CalibrationDateUnknown);
    }
    let age_s = clock.now_unix_s.saturating_sub(calibrated_at_unix_s);
    if age_s > clock.max_age_s {
        return Err(Refusal::CalibrationExpired {
            age_days: age_s / DAY_S,
            max_days: clock.max_age_s / DAY_S,
        });
    }
    Ok(())
}

/// A setpoint the policy accepted: the depth asked for, unchanged, and the raw position it
/// maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovedSetpoint {
    depth: DepthUm,
    target: RawCounts,
}

impl ApprovedSetpoint {
    /// The accepted depth: exactly what was asked for.
    pub fn depth(&self) -> DepthUm {
        self.depth
    }

    /// The raw motor position to command.
    pub fn target(&self) -> RawCounts {
        self.target
    }
}

/// Why a setpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Over the hard 1 mm ceiling.
    OverHardCeiling {
        /// What was asked for, micrometres.
        requested_um: u32,
    },
    /// Over the maximum depth flashed into the pen's limits.
    OverLimit {
        /// What was asked for, micrometres.
        requested_um: u32,
        /// The pen's limit, micrometres.
        limit_um: u16,
    },
    /// The pen has no calibration.
    NotCalibrated,
    /// The pen's calibration table fails validation.
    InvalidCalibration(CalibrationError),
    /// The calibration carries no date, so its age cannot be checked.
    CalibrationDateUnknown,
    /// The calibration is older than allowed.
    CalibrationExpired {
        /// Its age, whole days.
        age_days: u64,
        /// The most allowed, whole days.
        max_days: u64,
    },
    /// Over the hard ceiling minus the calibration's margin.
    OverUsableCeiling {
        /// What was asked for, micrometres.
        requested_um: u32,
        /// The deepest depth this calibration allows, micrometres.
        usable_um: u16,
        /// The calibration's margin, micrometres.
        margin_um: u16,
    },
    /// Outside the depths the calibration measured.
    OutsideCalibratedRange {
        /// What was asked for, micrometres.
        requested_um: u32,
        /// Shallowest measured depth, micrometres.
        shallowest_um: i32,
        /// Deepest measured depth, micrometres.
        deepest_um: i32,
    },
    /// The raw position reads back deeper than allowed (should not happen with a valid table;
    /// checked anyway).
    MapsBeyondCeiling {
        /// What was asked for, micrometres.
        requested_um: u32,
        /// The raw position it mapped to.
        target: RawCounts,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ceiling = Micrometres(u32::from(CEILING_UM));
        match self {
            Refusal::OverHardCeiling { requested_um } => write!(
                f,
                "refused: {} is over the {ceiling} ceiling",
                Micrometres(*requested_um)
            ),
            Refusal::OverLimit {
                requested_um,
                limit_um,
            } => write!(
                f,
                "refused: {} is over this pen's flashed limit of {} (under the {ceiling} ceiling)",
                Micrometres(*requested_um),
                Micrometres(u32::from(*limit_um)),
            ),
            Refusal::NotCalibrated => write!(
                f,
                "refused: the pen holds no calibration, so no depth can be set; calibrate it on the bench first"
            ),
            Refusal::InvalidCalibration(why) => write!(
                f,
                "refused: the pen's calibration is unusable ({why}); recalibrate it on the bench"
            ),
            Refusal::CalibrationDateUnknown => write!(
                f,
                "refused: the pen's calibration carries no date, so it cannot be trusted; recalibrate it on the bench"
            ),
            Refusal::CalibrationExpired { age_days, max_days } => write!(
                f,
                "refused: the pen's calibration is {age_days} days old, more than the {max_days} days allowed; recalibrate it on the bench"
            ),
            Refusal::OverUsableCeiling {
                requested_um,
                usable_um,
                margin_um,
            } => write!(
                f,
                "refused: {} is over this pen's usable ceiling of {} (the {ceiling} ceiling minus its {margin_um} um calibration margin)",
                Micrometres(*requested_um),
                Micrometres(u32::from(*usable_um)),
            ),
            Refusal::OutsideCalibratedRange {
                requested_um,
                shallowest_um,
                deepest_um,
            } => write!(
                f,
                "refused: {} is outside the depths this pen's calibration measured ({shallowest_um} to {deepest_um} um); depths under the {ceiling} ceiling beyond that need a bench calibration",
                Micrometres(*requested_um),
            ),
            Refusal::MapsBeyondCeiling {
                requested_um,
                target,
            } => write!(
                f,
                "refused: {} maps to {target}, which reads back over the usable ceiling (the {ceiling} ceiling minus margin); check the pen's calibration",
                Micrometres(*requested_um),
            ),
        }
    }
}

/// Decides whether `requested_um` may be sent to a pen holding `calibration`, at the date
/// and age limit `clock` gives.
pub fn approve_setpoint(
    requested_um: u32,
    calibration: Option<&CalibrationTable>,
    clock: CalibrationClock,
    limits: &Limits,
) -> Result<ApprovedSetpoint, Refusal> {
    let interval_s = u64::from(limits.calibration_interval_days) * DAY_S;
    let clock = CalibrationClock {
        max_age_s: clock.max_age_s.min(interval_s),
        ..clock
    };
    approve(requested_um, calibration, Some(clock), limits)
}

/// The policy for the moves of a bench calibration: everything [`approve_setpoint`] checks
/// except the table's age, because recalibrating an expired pen is the point. The bench is
/// no treatment, and the calibration also aborts on any gauge reading over the ceiling.
pub fn approve_for_calibration(
    requested_um: u32,
    calibration: &CalibrationTable,
    limits: &Limits,
) -> Result<ApprovedSetpoint, Refusal> {
    approve(requested_um, Some(calibration), None, limits)
}

fn approve(
    requested_um: u32,
    calibration: Option<&CalibrationTable>,
    clock: Option<CalibrationClock>,
    limits: &Limits,
) -> Result<ApprovedSetpoint, Refusal> {
    let depth =
        DepthUm::new(requested_um).map_err(|_| Refusal::OverHardCeiling { requested_um })?;
    if depth.um() > limits.max_depth_um {
        return Err(Refusal::OverLimit {
            requested_um,
            limit_um: limits.max_depth_um,
        });
    }
    let table = calibration.ok_or(Refusal::NotCalibrated)?;
    table.validate().map_err(Refusal::InvalidCalibration)?;
    if let Some(clock) = clock {
        check_calibration_age(table.calibrated_at_unix_s, clock)?;
    }
    let usable_um = table.usable_ceiling_um();
    if depth.um() > usable_um {
        return Err(Refusal::OverUsableCeiling {
            requested_um,
            usable_um,
            margin_um: table.margin_um,
        });
    }
    let depth_i32 = i32::from(depth.um());
    let outside = || {
        let (shallowest_um, deepest_um) = table.depth_span_um().unwrap_or((0, 0));
        Refusal::OutsideCalibratedRange {
            requested_um,
            shallowest_um,
            deepest_um,
        }
    };
    let target = table.raw_for_depth(depth_i32).ok_or_else(outside)?;
    match table.depth_at_raw(target) {
        Some(back) if back <= i32::from(usable_um) => Ok(ApprovedSetpoint { depth, target }),
        _ => Err(Refusal::MapsBeyondCeiling {
            requested_um,
            target,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Tables made on day 1000; the clock says day 1010 and allows a year.
    const MADE: u64 = 1000 * DAY_S;
    const CLOCK: CalibrationClock = CalibrationClock {
        now_unix_s: MADE + 10 * DAY_S,
        max_age_s: 365 * DAY_S,
    };

    fn table(points: &[(i32, i32)], margin_um: u16) -> CalibrationTable {
        CalibrationTable::from_points(1, MADE, margin_um, points).unwrap()
    }

    fn approve(
        requested_um: u32,
        table: Option<&CalibrationTable>,
    ) -> Result<ApprovedSetpoint, Refusal> {
        approve_setpoint(requested_um, table, CLOCK, &Limits::DEFAULT)
    }

    fn linear() -> CalibrationTable {
        table(&[(-400, -100), (0, 0), (4400, 1100)], 20)
    }

    #[test]
    fn accepts_a_depth_under_the_usable_ceiling_unchanged() {
        let approved = approve(500, Some(&linear())).unwrap();
        assert_eq!(approved.depth().um(), 500);
        assert_eq!(approved.target(), RawCounts(2000));
    }

    #[test]
    fn refuses_over_the_hard_ceiling_naming_it() {
        for um in [1001, 1200, u32::MAX] {
            let refusal = approve(um, Some(&linear())).unwrap_err();
            assert_eq!(refusal, Refusal::OverHardCeiling { requested_um: um });
            assert!(
                refusal.to_string().contains("1.000 mm ceiling"),
                "{refusal}"
            );
        }
    }

    #[test]
    fn refuses_between_usable_and_hard_ceiling() {
        let refusal = approve(990, Some(&linear())).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::OverUsableCeiling {
                requested_um: 990,
                usable_um: 980,
                margin_um: 20
            }
        );
        assert!(refusal.to_string().contains("0.980 mm"), "{refusal}");
        assert!(approve(980, Some(&linear())).is_ok());
    }

    #[test]
    fn flashed_limits_lower_the_ceiling_and_shorten_the_interval() {
        let limits = Limits {
            max_depth_um: 600,
            calibration_interval_days: 5,
            ..Limits::DEFAULT
        };
        let refusal = approve_setpoint(601, Some(&linear()), CLOCK, &limits).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::OverLimit {
                requested_um: 601,
                limit_um: 600
            }
        );
        assert!(
            refusal.to_string().contains("flashed limit of 0.600 mm"),
            "{refusal}"
        );
        // The table is 10 days old: fine for a year, too old for 5 days.
        assert!(matches!(
            approve_setpoint(500, Some(&linear()), CLOCK, &limits),
            Err(Refusal::CalibrationExpired {
                age_days: 10,
                max_days: 5
            })
        ));
        let lenient = Limits {
            max_depth_um: 600,
            ..Limits::DEFAULT
        };
        assert!(approve_setpoint(600, Some(&linear()), CLOCK, &lenient).is_ok());
    }

    #[test]
    fn refuses_without_a_valid_calibration() {
        assert_eq!(approve(100, None), Err(Refusal::NotCalibrated));
        let flat = table(&[(0, 0), (100, 0)], 0);
        assert!(matches!(
            approve(0, Some(&flat)),
            Err(Refusal::InvalidCalibration(_))
        ));
    }

    #[test]
    fn refuses_an_expired_or_undated_calibration() {
        let old = CalibrationClock {
            now_unix_s: MADE + 400 * DAY_S,
            ..CLOCK
        };
        let refusal = approve_setpoint(500, Some(&linear()), old, &Limits::DEFAULT).unwrap_err();
        assert_eq!(
            refusal,
            Refusal::CalibrationExpired {
                age_days: 400,
                max_days: 365
            }
        );
        assert!(refusal.to_string().contains("400 days old"), "{refusal}");
        let mut undated = linear();
        undated.calibrated_at_unix_s = 0;
        assert_eq!(
            approve(500, Some(&undated)),
            Err(Refusal::CalibrationDateUnknown)
        );
    }

    #[test]
    fn refuses_outside_the_measured_span_instead_of_extrapolating() {
        let short = table(&[(0, 0), (2000, 500)], 0);
        let refusal = approve(600, Some(&short)).unwrap_err();
        assert!(matches!(refusal, Refusal::OutsideCalibratedRange { .. }));
        let offset = table(&[(0, 10), (2000, 510)], 0);
        assert!(matches!(
            approve(5, Some(&offset)),
            Err(Refusal::OutsideCalibratedRange { .. })
        ));
    }

    /// Strictly increasing tables from two sorted sets: raw positions and depths, spanning
    /// well past the ceiling, with margins from none to more than the whole ceiling.
    fn any_table() -> impl Strategy<Value = CalibrationTable> {
        (
            prop::collection::btree_set(-2000i32..6000, 2..=16),
            prop::collection::btree_set(-300i32..1500, 2..=16),
            0u16..1100,
        )
            .prop_map(|(raws, depths, margin)| {
                let points: Vec<(i32, i32)> = raws.into_iter().zip(depths).collect();
                table(&points, margin)
            })
    }

    proptest! {
        /// The central safety property: whatever is asked and whatever the table, an accepted
        /// setpoint is exactly what was asked, and its raw target reads back through the
        /// table at or under the usable ceiling, so never over 1000 um.
        #[test]
        fn nothing_accepted_maps_beyond_the_ceiling(
            requested in prop_oneof![0u32..1200, any::<u32>()],
            t in any_table(),
        ) {
            if let Ok(approved) = approve(requested, Some(&t)) {
                prop_assert_eq!(u32::from(approved.depth().um()), requested);
                let back = t.depth_at_raw(approved.target()).expect("target inside the table");
                prop_assert!(back <= i32::from(t.usable_ceiling_um()));
                prop_assert!(back <= i32::from(CEILING_UM));
                prop_assert!(approved.target() <= t.points.last().unwrap().raw);
            }
        }

        #[test]
        fn calibration_moves_obey_the_same_ceiling(
            requested in prop_oneof![0u32..1200, any::<u32>()],
            t in any_table(),
        ) {
            if let Ok(approved) = approve_for_calibration(requested, &t, &Limits::DEFAULT) {
                let back = t.depth_at_raw(approved.target()).expect("target inside the table");
                prop_assert!(back <= i32::from(t.usable_ceiling_um()));
                prop_assert_eq!(u32::from(approved.depth().um()), requested);
            }
        }

        #[test]
        fn everything_over_the_ceiling_is_refused(requested in 1001u32.., t in any_table()) {
            prop_assert_eq!(
                approve(requested, Some(&t)),
                Err(Refusal::OverHardCeiling { requested_um: requested })
            );
        }
    }
}
