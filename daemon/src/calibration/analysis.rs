//! From measurements to a verdict: per-point means, repeatability, hysteresis, the fit and
//! its residuals, the uncertainty budget, the decision, and the new table. Pure.

use serde::Serialize;

use pen_protocol::{CalibrationTable, CEILING_UM};

use super::fit::{Fit, FitError};

/// Which way the carriage came to a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Moving outward, as every setpoint does: these readings make the fit.
    FromBelow,
    /// Moving inward from above: these readings measure hysteresis.
    FromAbove,
}

/// One settled gauge reading at a commanded position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// The depth aimed at, through the table in use at the time.
    pub target_um: u16,
    /// How the carriage arrived.
    pub direction: Direction,
    /// The motor position.
    pub raw: i32,
    /// What the gauge read, micrometres.
    pub reading_um: f64,
}

/// What the reference gauge contributes to the uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GaugeCharacter {
    /// Maximum permissible error of the gauge, micrometres (from its specification).
    pub mpe_um: f64,
    /// One digit, micrometres.
    pub resolution_um: f64,
}

/// The uncertainty budget: standard uncertainties of each source, and their combination.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UncertaintyBudget {
    /// Gauge error, taken as rectangular within +/- MPE: MPE / sqrt(3).
    pub gauge_um: f64,
    /// Gauge resolution, rectangular within half a digit: digit / (2 sqrt(3)).
    pub resolution_um: f64,
    /// Repeatability of the mean of the repeats: pooled standard deviation / sqrt(repeats).
    pub repeatability_um: f64,
    /// Fit: the residuals' standard deviation (what the model cannot follow).
    pub fit_um: f64,
    /// Combined standard uncertainty: root sum of squares.
    pub combined_um: f64,
    /// Coverage factor.
    pub k: f64,
    /// Expanded uncertainty, k times combined (about 95 % coverage).
    pub expanded_um: f64,
}

/// The results at one calibration point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointResult {
    /// The depth aimed at.
    pub target_um: u16,
    /// The motor position (from below).
    pub raw: i32,
    /// Mean reading from below.
    pub mean_um: f64,
    /// Standard deviation of the readings from below.
    pub sd_um: f64,
    /// How many readings from below.
    pub repeats: usize,
    /// Mean reading minus the fit there.
    pub residual_um: f64,
    /// Mean from above minus mean from below, where both were measured.
    pub hysteresis_um: Option<f64>,
}

/// Pass or fail, and the rule that decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Whether every point conforms.
    pub pass: bool,
    /// The tolerance, +/- micrometres.
    pub tolerance_um: f64,
    /// The rule, in words.
    pub decision_rule: String,
    /// The worst |error| + U found, micrometres.
    pub worst_um: f64,
}

/// The decision rule every verdict states.
pub const DECISION_RULE: &str = "guarded acceptance (ISO 14253-1): a point conforms when |error| + U(k=2) <= tolerance; the calibration passes when every point conforms";

/// Decides conformance of `errors` under `tolerance_um` with expanded uncertainty `u`.
pub fn verdict(errors: impl IntoIterator<Item = f64>, u: f64, tolerance_um: f64) -> Verdict {
    let worst = errors.into_iter().map(|e| e.abs() + u).fold(0.0, f64::max);
    Verdict {
        pass: worst <= tolerance_um,
        tolerance_um,
        decision_rule: DECISION_RULE.to_string(),
        worst_um: worst,
    }
}

/// Everything concluded from the fit measurements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    /// Per point.
    pub points: Vec<PointResult>,
    /// The fit's coefficients (of 1, t, t^2, t^3 over the normalised span).
    pub fit_coefficients: [f64; 4],
    /// The largest |residual|.
    pub worst_residual_um: f64,
    /// The pooled repeatability (standard deviation).
    pub repeatability_sd_um: f64,
    /// The largest |hysteresis| measured.
    pub max_hysteresis_um: f64,
    /// The uncertainty budget.
    pub uncertainty: UncertaintyBudget,
    /// Margin the new table keeps from the ceiling: U plus the worst residual, rounded up.
    pub margin_um: u16,
    /// Pass or fail on the fit.
    pub verdict: Verdict,
    /// The table to write if it passed.
    #[serde(skip)]
    pub table: CalibrationTable,
    #[serde(skip)]
    pub(crate) fit: Option<Fit>,
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn sd(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let m = mean(values);
    (values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (values.len() - 1) as f64).sqrt()
}

/// Analyses the fit measurements into a verdict and a new table (`id`, made at `now`).
pub fn analyze(
    samples: &[Sample],
    gauge: GaugeCharacter,
    tolerance_um: f64,
    table_id: u32,
    now_unix_s: u64,
) -> Result<Analysis, FitError> {
    let below: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.direction == Direction::FromBelow)
        .collect();
    let fit_points: Vec<(i32, f64)> = below.iter().map(|s| (s.raw, s.reading_um)).collect();
    let fit = Fit::cubic(&fit_points)?;
    let mut targets: Vec<u16> = below.iter().map(|s| s.target_um).collect();
    targets.sort_unstable();
    targets.dedup();
    let mut points = Vec::new();
    let mut variances = Vec::new();
    let mut repeats = usize::MAX;
    for target in targets {
        let at = |d: Direction| -> Vec<&Sample> {
            samples
                .iter()
                .filter(|s| s.target_um == target && s.direction == d)
                .collect()
        };
        let from_below = at(Direction::FromBelow);
        let readings: Vec<f64> = from_below.iter().map(|s| s.reading_um).collect();
        let raw = from_below[0].raw;
        let mean_um = mean(&readings);
        let from_above: Vec<f64> = at(Direction::FromAbove)
            .iter()
            .map(|s| s.reading_um)
            .collect();
        variances.push(sd(&readings).powi(2));
        repeats = repeats.min(readings.len());
        points.push(PointResult {
            target_um: target,
            raw,
            mean_um,
            sd_um: sd(&readings),
            repeats: readings.len(),
            residual_um: mean_um - fit.depth_um(f64::from(raw)),
            hysteresis_um: (!from_above.is_empty()).then(|| mean(&from_above) - mean_um),
        });
    }
    let residuals: Vec<f64> = points.iter().map(|p| p.residual_um).collect();
    let dof = fit_points.len().saturating_sub(4).max(1);
    let fit_sd = (fit_points
        .iter()
        .map(|&(raw, y)| (y - fit.depth_um(f64::from(raw))).powi(2))
        .sum::<f64>()
        / dof as f64)
        .sqrt();
    let repeatability_sd_um = mean(&variances).sqrt();
    let gauge_um = gauge.mpe_um / 3f64.sqrt();
    let resolution_um = gauge.resolution_um / (2.0 * 3f64.sqrt());
    let repeatability_um = repeatability_sd_um / (repeats.max(1) as f64).sqrt();
    let combined_um =
        (gauge_um.powi(2) + resolution_um.powi(2) + repeatability_um.powi(2) + fit_sd.powi(2))
            .sqrt();
    let k = 2.0;
    let uncertainty = UncertaintyBudget {
        gauge_um,
        resolution_um,
        repeatability_um,
        fit_um: fit_sd,
        combined_um,
        k,
        expanded_um: k * combined_um,
    };
    let worst_residual_um = residuals.iter().map(|r| r.abs()).fold(0.0, f64::max);
    let max_hysteresis_um = points
        .iter()
        .filter_map(|p| p.hysteresis_um)
        .map(f64::abs)
        .fold(0.0, f64::max);
    let margin = (uncertainty.expanded_um + worst_residual_um)
        .ceil()
        .min(f64::from(CEILING_UM - 1)) as u16;
    let verdict = verdict(residuals, uncertainty.expanded_um, tolerance_um);
    let table = fit.table(table_id, now_unix_s, margin);
    Ok(Analysis {
        points,
        fit_coefficients: fit.coefficients,
        worst_residual_um,
        repeatability_sd_um,
        max_hysteresis_um,
        uncertainty,
        margin_um: margin,
        verdict,
        table,
        fit: Some(fit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAUGE: GaugeCharacter = GaugeCharacter {
        mpe_um: 2.0,
        resolution_um: 1.0,
    };

    fn samples(noise: &[f64]) -> Vec<Sample> {
        let mut out = Vec::new();
        for (i, target) in [0u16, 200, 400, 600, 800, 980].into_iter().enumerate() {
            let raw = i32::from(target) * 4;
            for (r, n) in noise.iter().enumerate() {
                let truth = f64::from(target) * 0.99 + 1.5 + (i + r) as f64 * 0.0;
                out.push(Sample {
                    target_um: target,
                    direction: Direction::FromBelow,
                    raw,
                    reading_um: truth + n,
                });
            }
            if target <= 800 {
                out.push(Sample {
                    target_um: target,
                    direction: Direction::FromAbove,
                    raw,
                    reading_um: f64::from(target) * 0.99 + 1.5 + 6.0,
                });
            }
        }
        out
    }

    #[test]
    fn a_good_pen_passes_with_a_stated_budget() {
        let a = analyze(&samples(&[0.0, 0.5, -0.5]), GAUGE, 10.0, 4, 1_800_000_000).unwrap();
        assert!(a.verdict.pass, "{:?}", a.verdict);
        assert!(a.worst_residual_um < 0.01);
        assert!((a.max_hysteresis_um - 6.0).abs() < 1e-9);
        // MPE 2 um rectangular dominates: U about 2 x 1.2 um.
        assert!(
            (a.uncertainty.expanded_um - 2.57).abs() < 0.1,
            "{:?}",
            a.uncertainty
        );
        assert_eq!(a.margin_um, 3);
        assert_eq!(a.table.validate(), Ok(()));
        assert_eq!(a.table.margin_um, 3);
        assert_eq!(a.table.id, 4);
        assert_eq!(a.verdict.decision_rule, DECISION_RULE);
    }

    #[test]
    fn scatter_beyond_tolerance_fails() {
        let a = analyze(&samples(&[0.0, 12.0, -12.0]), GAUGE, 10.0, 4, 1).unwrap();
        assert!(!a.verdict.pass);
        assert!(a.uncertainty.repeatability_um > 5.0);
    }

    #[test]
    fn the_verdict_guards_with_the_uncertainty() {
        assert!(verdict([7.0], 3.0, 10.0).pass);
        assert!(!verdict([7.1], 3.0, 10.0).pass);
        assert!(!verdict([-7.1], 3.0, 10.0).pass);
    }
}
