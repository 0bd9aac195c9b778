//! Fitting raw counts to micrometres.
//!
//! The model is a cubic polynomial fitted by least squares, checked to be strictly
//! increasing over the measured span. Why a cubic: the pen's map is a near-unity gain (lead
//! screw pitch error) plus a small term that grows with extension (flexure), which a cubic
//! captures with room to spare; with at least five points it still leaves degrees of freedom,
//! so the residuals measure how well the model fits instead of being zero by construction
//! (as a spline through the points would make them). What it cannot follow (the screw's
//! once-per-turn error) shows up honestly in the residuals and hence in the margin. Why
//! monotonic: a depth must have exactly one motor position; a fit that turns back is refused.

use pen_protocol::{CalibrationTable, RawCounts, MAX_CAL_POINTS};

/// Why no usable fit came out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Fewer distinct positions than the model needs with a spare.
    #[error("only {distinct} distinct positions were measured; the fit needs at least 5")]
    TooFewPoints {
        /// How many there were.
        distinct: usize,
    },
    /// The fitted curve is not strictly increasing: the measurements are inconsistent.
    #[error("the fitted curve turns back near {raw} counts; the measurements are inconsistent (loose gauge or fixture?)")]
    NotMonotonic {
        /// Where.
        raw: i32,
    },
    /// The equations had no stable solution.
    #[error("the fit's equations are singular; the measured positions are too close together")]
    Singular,
}

/// A fitted map from counts to micrometres.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Coefficients of 1, t, t^2, t^3 where t = (raw - center) / scale.
    pub coefficients: [f64; 4],
    center: f64,
    scale: f64,
    /// Lowest and highest raw position measured.
    pub span: (i32, i32),
}

impl Fit {
    /// Least-squares cubic through `(raw, micrometres)` points.
    pub fn cubic(points: &[(i32, f64)]) -> Result<Fit, FitError> {
        let mut distinct: Vec<i32> = points.iter().map(|p| p.0).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 5 {
            return Err(FitError::TooFewPoints {
                distinct: distinct.len(),
            });
        }
        let (lo, hi) = (distinct[0], distinct[distinct.len() - 1]);
        let center = (f64::from(lo) + f64::from(hi)) / 2.0;
        let scale = ((f64::from(hi) - f64::from(lo)) / 2.0).max(1.0);
        // Normal equations: (A^T A) c = A^T y with rows [1, t, t^2, t^3].
        let mut ata = [[0.0f64; 4]; 4];
        let mut aty = [0.0f64; 4];
        for &(raw, y) in points {
            let t = (f64::from(raw) - center) / scale;
            let row = [1.0, t, t * t, t * t * t];
            for i in 0..4 {
                aty[i] += row[i] * y;
                for j in 0..4 {
                    ata[i][j] += row[i] * row[j];
                }
            }
        }
        let coefficients = solve4(ata, aty).ok_or(FitError::Singular)?;
        let fit = Fit {
            coefficients,
            center,
            scale,
            span: (lo, hi),
        };
        fit.check_monotonic()?;
        Ok(fit)
    }

    fn t(&self, raw: f64) -> f64 {
        (raw - self.center) / self.scale
    }

    /// Micrometres at `raw` counts.
    pub fn depth_um(&self, raw: f64) -> f64 {
        let t = self.t(raw);
        let [a, b, c, d] = self.coefficients;
        a + t * (b + t * (c + t * d))
    }

    /// Micrometres per count at `raw`.
    pub fn slope(&self, raw: f64) -> f64 {
        let t = self.t(raw);
        let [_, b, c, d] = self.coefficients;
        (b + t * (2.0 * c + t * 3.0 * d)) / self.scale
    }

    fn check_monotonic(&self) -> Result<(), FitError> {
        let (lo, hi) = (f64::from(self.span.0), f64::from(self.span.1));
        for i in 0..=256 {
            let raw = lo + (hi - lo) * f64::from(i) / 256.0;
            if self.slope(raw) <= 0.0 {
                return Err(FitError::NotMonotonic { raw: raw as i32 });
            }
        }
        Ok(())
    }

    /// The calibration table this fit gives: points spread evenly over the measured span,
    /// plus one below it continuing the fit's slope into the retracted region (depths below
    /// the face, which no setpoint reaches, so that 0 um lies inside the table). Depths are
    /// rounded up, so the table never claims less depth than the fit: rounding errs shallow.
    pub fn table(&self, id: u32, calibrated_at_unix_s: u64, margin_um: u16) -> CalibrationTable {
        let (lo, hi) = self.span;
        let below = 400;
        let mut points = vec![(
            lo - below,
            (self.depth_um(f64::from(lo)) - self.slope(f64::from(lo)) * f64::from(below)).ceil()
                as i32,
        )];
        let spread = MAX_CAL_POINTS - 1;
        for i in 0..spread {
            let raw = lo + ((i64::from(hi - lo) * i as i64) / (spread as i64 - 1)) as i32;
            points.push((raw, self.depth_um(f64::from(raw)).ceil() as i32));
        }
        // Ceiling can make two close depths equal; keep the table strictly increasing.
        points.dedup_by(|b, a| b.1 <= a.1);
        CalibrationTable::from_points(id, calibrated_at_unix_s, margin_um, &points)
            .expect("at most MAX_CAL_POINTS points")
    }

    /// The raw position the fit puts at `depth_um` (by bisection over the measured span).
    pub fn raw_for(&self, depth_um: f64) -> Option<RawCounts> {
        let (mut lo, mut hi) = (f64::from(self.span.0), f64::from(self.span.1));
        if depth_um < self.depth_um(lo) || depth_um > self.depth_um(hi) {
            return None;
        }
        for _ in 0..64 {
            let mid = (lo + hi) / 2.0;
            if self.depth_um(mid) < depth_um {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(RawCounts(lo.floor() as i32))
    }
}

/// Solves a 4x4 linear system by Gaussian elimination with partial pivoting.
fn solve4(mut a: [[f64; 4]; 4], mut b: [f64; 4]) -> Option<[f64; 4]> {
    for col in 0..4 {
        let pivot = (col..4).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col];
        for row in col + 1..4 {
            let factor = a[row][col] / pivot_row[col];
            for (cell, above) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; 4];
    for row in (0..4).rev() {
        let tail: f64 = (row + 1..4).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recovers_a_cubic_exactly() {
        let truth = |raw: f64| 2.0 + 0.25 * raw + 1e-7 * raw * raw - 2e-12 * raw * raw * raw;
        let points: Vec<(i32, f64)> = (0..=8)
            .map(|i| (i * 500, truth(f64::from(i * 500))))
            .collect();
        let fit = Fit::cubic(&points).unwrap();
        for raw in [0.0, 1234.0, 4000.0] {
            assert!((fit.depth_um(raw) - truth(raw)).abs() < 1e-6);
        }
    }

    #[test]
    fn refuses_too_few_points_and_curves_that_turn_back() {
        let few = [(0, 0.0), (100, 25.0), (200, 50.0), (200, 50.5)];
        assert_eq!(
            Fit::cubic(&few),
            Err(FitError::TooFewPoints { distinct: 3 })
        );
        let zigzag = [
            (0, 0.0),
            (100, 50.0),
            (200, 0.0),
            (300, 50.0),
            (400, 0.0),
            (500, 50.0),
        ];
        assert!(matches!(
            Fit::cubic(&zigzag),
            Err(FitError::NotMonotonic { .. })
        ));
    }

    #[test]
    fn tables_from_a_fit_are_valid_and_err_shallow() {
        let points: Vec<(i32, f64)> = (0..6)
            .map(|i| (i * 800, f64::from(i) * 199.7 + 0.4))
            .collect();
        let fit = Fit::cubic(&points).unwrap();
        let table = fit.table(3, 1_800_000_000, 6);
        assert_eq!(table.validate(), Ok(()));
        assert!(table.points.len() <= MAX_CAL_POINTS);
        assert!(
            table.depth_span_um().unwrap().0 < 0,
            "0 um must be inside the table"
        );
        for depth in [0, 250, 500, 750, 990] {
            if let Some(raw) = table.raw_for_depth(depth) {
                // Commanding `depth` through the table never goes deeper than the fit says.
                assert!(fit.depth_um(f64::from(raw.0)) <= f64::from(depth) + 1e-9);
            }
        }
        let raw = fit.raw_for(500.0).unwrap();
        assert!((fit.depth_um(f64::from(raw.0)) - 500.0).abs() < 0.3);
    }

    proptest! {
        #[test]
        fn any_increasing_measurements_give_a_valid_table_or_a_clear_error(
            steps in prop::collection::vec((200i32..1200, 30.0f64..300.0), 5..10),
            noise in prop::collection::vec(-3.0f64..3.0, 10),
        ) {
            let mut points = vec![(0, 0.0)];
            for (i, (dr, dy)) in steps.iter().enumerate() {
                let (r, y) = *points.last().unwrap();
                points.push((r + dr, y + dy + noise[i % noise.len()]));
            }
            match Fit::cubic(&points) {
                Ok(fit) => prop_assert_eq!(fit.table(1, 1, 5).validate(), Ok(())),
                Err(FitError::NotMonotonic { .. }) => {}
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}
