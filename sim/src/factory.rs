//! The factory calibration table a simulated pen ships with.
//!
//! A real factory measures each pen once on a quick fixture. Ours does too, and the fixture is
//! a little off: a zero error and a scale error per pen, so the table is close enough to use
//! but leaves a bench calibration something to correct. The table claims a margin that covers
//! its worst error, so the ceiling policy stays safe with it.

use pen_protocol::CalibrationTable;

use crate::firmware::{FIRMWARE_MAX_COUNTS, PARK_COUNTS};
use crate::physics::{PenParams, COUNTS_PER_UM};
use crate::rng::Rng;

/// The margin the factory table declares, micrometres: the ceiling policy accepts no
/// setpoint deeper than `1000 - FACTORY_MARGIN_UM` with it.
pub const FACTORY_MARGIN_UM: u16 = 20;

/// How far the true protrusion can be from what the factory table says, micrometres, for a
/// position approached from below: fixture zero error (4) + scale error (5) + interpolation
/// between points (0.5) + rounding (0.5 + 0.25) + settling noise (0.9), rounded up.
pub const FACTORY_TABLE_MAX_ERROR_UM: f64 = 12.0;

/// Fixture zero error bound, micrometres.
const FIXTURE_ZERO_ERROR_UM: f64 = 4.0;
/// Fixture scale error bound at 1 mm, micrometres.
const FIXTURE_SCALE_ERROR_UM: f64 = 5.0;

/// The factory table for the pen with these parameters, made at `made_at_unix_s`; `seed`
/// picks the fixture's error.
pub fn factory_table(params: &PenParams, seed: u64, made_at_unix_s: u64) -> CalibrationTable {
    let mut rng = Rng::new(seed ^ 0xFAC7_0000);
    let zero_error = rng.uniform(-FIXTURE_ZERO_ERROR_UM, FIXTURE_ZERO_ERROR_UM);
    let scale_error = rng.uniform(-FIXTURE_SCALE_ERROR_UM, FIXTURE_SCALE_ERROR_UM);
    let mut raw_points: Vec<i32> = vec![PARK_COUNTS.0];
    raw_points.extend((0..=9).map(|i| i * 100 * COUNTS_PER_UM));
    raw_points.push(FIRMWARE_MAX_COUNTS.0);
    let points: Vec<(i32, i32)> = raw_points
        .into_iter()
        .map(|raw| {
            let travel_um = f64::from(raw) / f64::from(COUNTS_PER_UM);
            let measured =
                params.protrusion_um(travel_um) + zero_error + scale_error * travel_um / 1000.0;
            (raw, measured.round() as i32)
        })
        .collect();
    CalibrationTable::from_points(0, made_at_unix_s, FACTORY_MARGIN_UM, &points)
        .expect("the factory measures 12 points, fewer than a table holds")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::physics::nominal_um;

    #[test]
    fn factory_tables_are_valid_and_within_their_stated_error() {
        for seed in 0..500 {
            let params = PenParams::from_seed(seed);
            let table = factory_table(&params, seed, 1);
            assert_eq!(table.validate(), Ok(()), "seed {seed}");
            let (lo, hi) = table.depth_span_um().unwrap();
            for depth in (lo..=hi).step_by(7) {
                let raw = table.raw_for_depth(depth).unwrap();
                // Noise is not in params.protrusion_um; add its bound to the comparison.
                let truth = params.protrusion_um(nominal_um(raw));
                let error = (truth - f64::from(depth)).abs() + 0.9;
                assert!(
                    error <= FACTORY_TABLE_MAX_ERROR_UM,
                    "seed {seed}: {depth} um maps to true {truth:.2} um"
                );
            }
        }
    }

    #[test]
    fn factory_tables_are_a_little_off() {
        // Off enough that a bench calibration has something to correct on most pens.
        let off = (0..100)
            .filter(|&seed| {
                let params = PenParams::from_seed(seed);
                let table = factory_table(&params, seed, 1);
                let raw = table.raw_for_depth(500).unwrap();
                (params.protrusion_um(nominal_um(raw)) - 500.0).abs() > 1.0
            })
            .count();
        assert!(
            off > 60,
            "only {off} of 100 factory tables are off by > 1 um"
        );
    }
}
