//! The simulated pen's mechanics: motor counts to needle protrusion.
//!
//! The motor turns a lead screw that drives the needle carriage. The encoder counts motor
//! position at a nominal [`COUNTS_PER_UM`] counts per micrometre of carriage travel. Real pens
//! are not that tidy, and neither is this one:
//!
//! - gain error: the screw's pitch is off by up to -1.5 % (a lead-screw pitch error);
//! - a small quadratic term (flexure that grows with extension);
//! - a periodic error once per screw turn (0.5 mm), 1 to 2.5 um in amplitude;
//! - a zero offset: the cartridge face sits up to 5 um off nominal;
//! - backlash of 4 to 8 um between screw and carriage, so the carriage lags the motor after
//!   every reversal;
//! - settling noise: where the carriage comes to rest varies by a bounded random amount.
//!
//! Every pen draws its variation from a seed, so a seed is a pen, the same on every run.

use pen_protocol::RawCounts;

use crate::rng::Rng;

/// Nominal encoder counts per micrometre of carriage travel.
pub const COUNTS_PER_UM: i32 = 4;

/// Lead screw pitch: the periodic error repeats once per turn.
const SCREW_PITCH_UM: f64 = 500.0;

/// Standard deviation of where the carriage settles, micrometres (cut off at 3 sigma).
pub const SETTLE_NOISE_SIGMA_UM: f64 = 0.3;

/// The bounds every simulated pen's variation is drawn from.
#[derive(Debug, Clone, Copy)]
struct VariationBounds {
    gain: (f64, f64),
    quadratic_um_at_1mm: (f64, f64),
    periodic_amplitude_um: (f64, f64),
    offset_um: (f64, f64),
    backlash_um: (f64, f64),
}

const BOUNDS: VariationBounds = VariationBounds {
    gain: (0.985, 1.0),
    quadratic_um_at_1mm: (3.0, 12.0),
    periodic_amplitude_um: (1.0, 2.5),
    offset_um: (-5.0, 5.0),
    backlash_um: (4.0, 8.0),
};

/// One pen's mechanical character.
#[derive(Debug, Clone, PartialEq)]
pub struct PenParams {
    /// Protrusion per nominal micrometre of carriage travel.
    pub gain: f64,
    /// Extra protrusion at 1 mm of travel from the quadratic term, micrometres.
    pub quadratic_um_at_1mm: f64,
    /// Amplitude of the once-per-turn error, micrometres.
    pub periodic_amplitude_um: f64,
    /// Phase of the once-per-turn error, radians.
    pub periodic_phase: f64,
    /// Protrusion at zero travel, micrometres.
    pub offset_um: f64,
    /// Play between screw and carriage, micrometres.
    pub backlash_um: f64,
}

impl PenParams {
    /// The pen made from `seed`.
    pub fn from_seed(seed: u64) -> PenParams {
        let mut rng = Rng::new(seed ^ 0x0005_EED0_F9E4);
        let mut draw = |(lo, hi): (f64, f64)| rng.uniform(lo, hi);
        PenParams {
            gain: draw(BOUNDS.gain),
            quadratic_um_at_1mm: draw(BOUNDS.quadratic_um_at_1mm),
            periodic_amplitude_um: draw(BOUNDS.periodic_amplitude_um),
            periodic_phase: draw((0.0, 2.0 * core::f64::consts::PI)),
            offset_um: draw(BOUNDS.offset_um),
            backlash_um: draw(BOUNDS.backlash_um),
        }
    }

    /// Protrusion (micrometres) with the carriage at `travel_um` nominal micrometres, at rest
    /// and without noise.
    pub fn protrusion_um(&self, travel_um: f64) -> f64 {
        let mm = travel_um / 1000.0;
        self.offset_um
            + self.gain * travel_um
            + self.quadratic_um_at_1mm * mm * mm.abs()
            + self.periodic_amplitude_um
                * (2.0 * core::f64::consts::PI * travel_um / SCREW_PITCH_UM + self.periodic_phase)
                    .sin()
    }

    /// The deepest any pen within the variation bounds can be at `travel_um` (positive
    /// travel), noise included. The firmware's compiled-in maximum is chosen with this.
    pub fn worst_case_protrusion_um(travel_um: f64) -> f64 {
        let mm = travel_um / 1000.0;
        BOUNDS.offset_um.1
            + BOUNDS.gain.1 * travel_um
            + BOUNDS.quadratic_um_at_1mm.1 * mm * mm
            + BOUNDS.periodic_amplitude_um.1
            + 3.0 * SETTLE_NOISE_SIGMA_UM
    }
}

/// Converts motor counts to nominal micrometres of travel.
pub fn nominal_um(counts: RawCounts) -> f64 {
    f64::from(counts.0) / f64::from(COUNTS_PER_UM)
}

/// The moving parts: motor, carriage with backlash, and the settled noise.
#[derive(Debug, Clone)]
pub struct Mechanism {
    params: PenParams,
    rng: Rng,
    motor: RawCounts,
    /// Carriage position in nominal micrometres; lies in `[motor, motor + backlash]`.
    carriage_um: f64,
    /// Where the carriage settled relative to the ideal, drawn at the end of each move.
    settle_um: f64,
    deepest_um: f64,
}

impl Mechanism {
    /// A pen at rest with the motor at `motor` and no play taken up either way.
    pub fn new(params: PenParams, noise_seed: u64, motor: RawCounts) -> Mechanism {
        let carriage_um = nominal_um(motor);
        let deepest_um = params.protrusion_um(carriage_um);
        Mechanism {
            params,
            rng: Rng::new(noise_seed),
            motor,
            carriage_um,
            settle_um: 0.0,
            deepest_um,
        }
    }

    /// The pen's mechanical character.
    pub fn params(&self) -> &PenParams {
        &self.params
    }

    /// Current motor position.
    pub fn motor(&self) -> RawCounts {
        self.motor
    }

    /// Turns the motor to `to` in one straight run and lets the carriage settle.
    pub fn move_motor(&mut self, to: RawCounts) {
        let motor_um = nominal_um(to);
        // The carriage is pushed when the screw reaches either side of the play.
        if motor_um > self.carriage_um {
            self.carriage_um = motor_um;
        } else if motor_um + self.params.backlash_um < self.carriage_um {
            self.carriage_um = motor_um + self.params.backlash_um;
        }
        self.motor = to;
        self.settle_um = self.rng.bounded_normal(SETTLE_NOISE_SIGMA_UM);
        self.deepest_um = self.deepest_um.max(self.true_protrusion_um());
    }

    /// The needle's true protrusion now, micrometres.
    pub fn true_protrusion_um(&self) -> f64 {
        self.params.protrusion_um(self.carriage_um) + self.settle_um
    }

    /// The deepest true protrusion since this mechanism was made, micrometres. A straight
    /// run is monotonic, so checking at rest after each run catches the deepest point.
    pub fn deepest_protrusion_um(&self) -> f64 {
        self.deepest_um
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_give_distinct_but_repeatable_pens() {
        assert_eq!(PenParams::from_seed(1), PenParams::from_seed(1));
        assert_ne!(PenParams::from_seed(1), PenParams::from_seed(2));
    }

    #[test]
    fn protrusion_is_monotonic_in_travel() {
        for seed in 0..200 {
            let p = PenParams::from_seed(seed);
            let mut last = p.protrusion_um(-150.0);
            for step in -149..=1100 {
                let now = p.protrusion_um(f64::from(step));
                assert!(now > last, "seed {seed} not monotonic at {step} um");
                last = now;
            }
        }
    }

    #[test]
    fn the_map_is_not_linear() {
        // The calibration issue needs something to fit: a straight line through the ends
        // must miss the middle by more than a micrometre on a typical pen.
        let p = PenParams::from_seed(3);
        let (a, b) = (p.protrusion_um(0.0), p.protrusion_um(1000.0));
        let worst = (1..10)
            .map(|i| f64::from(i) * 100.0)
            .map(|x| (p.protrusion_um(x) - (a + (b - a) * x / 1000.0)).abs())
            .fold(0.0, f64::max);
        assert!(worst > 1.0, "largest deviation from a line only {worst} um");
    }

    #[test]
    fn approaching_from_above_lands_deeper_by_the_backlash() {
        let params = PenParams::from_seed(5);
        let backlash = params.backlash_um;
        let mut from_below = Mechanism::new(params.clone(), 1, RawCounts(0));
        from_below.move_motor(RawCounts(2000));
        let mut from_above = Mechanism::new(params, 1, RawCounts(0));
        from_above.move_motor(RawCounts(2400));
        from_above.move_motor(RawCounts(2000));
        let gap = from_above.true_protrusion_um() - from_below.true_protrusion_um();
        // Noise is bounded at 3 sigma per rest, so the gap is the backlash within 2 x 0.9 um.
        assert!(
            (gap - backlash).abs() < 2.0,
            "gap {gap} um, backlash {backlash} um"
        );
    }

    #[test]
    fn the_carriage_never_passes_the_deepest_motor_position() {
        let mut m = Mechanism::new(PenParams::from_seed(9), 2, RawCounts(0));
        for target in [3000, 1000, 2990, 200, 3000] {
            m.move_motor(RawCounts(target));
        }
        let at_3000 = m.params().protrusion_um(750.0) + 3.0 * SETTLE_NOISE_SIGMA_UM;
        assert!(m.deepest_protrusion_um() <= at_3000);
    }
}
