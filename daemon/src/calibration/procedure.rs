//! The bench calibration procedure as a step machine. Pure: it hands out [`Action`]s (home,
//! read, move and read, write, restore, finish) and is told their results; the runner does
//! the I/O.
//!
//! 1. Home, then read the gauge with the pen parked: a zeroed gauge reads a little below 0.
//! 2. As-found: a few depths through the pen's current table, approached from below.
//! 3. Measure: each point, `repeats` times from below (these make the fit) and, where there
//!    is room under the ceiling, from above (hysteresis).
//! 4. Analyse: fit, residuals, uncertainty, verdict. A failed verdict writes nothing.
//! 5. Write the new table (the runner stages, checks the checksum, commits).
//! 6. As-left: depths through the new table, approached from below; if they fail the
//!    verdict, the old table is written back.
//!
//! Every move goes through [`approve_for_calibration`]: the procedure never commands a depth
//! the ceiling policy would refuse with the table in use, so a point above the usable
//! ceiling is measured at that ceiling instead. And every reading over the ceiling aborts.

use std::collections::VecDeque;

use serde::Serialize;

use pen_protocol::limits::Limits;
use pen_protocol::{CalibrationTable, CEILING_UM};

use super::analysis::{analyze, verdict, Analysis, Direction, GaugeCharacter, Sample, Verdict};
use crate::policy::approve_for_calibration;

/// What the technician asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Depths to measure for the fit, micrometres.
    pub points_um: Vec<u16>,
    /// Readings per point and direction.
    pub repeats: u8,
    /// Tolerance, +/- micrometres.
    pub tolerance_um: f64,
    /// Depths to check through the old table before anything changes.
    pub as_found_um: Vec<u16>,
    /// Depths to check through the new table after it is written.
    pub as_left_um: Vec<u16>,
    /// How far above a point the from-above approach starts, micrometres.
    pub overshoot_um: u16,
    /// Where a zeroed gauge must read with the pen parked, micrometres.
    pub parked_window_um: (f64, f64),
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            points_um: vec![0, 200, 400, 600, 800, 1000],
            repeats: 3,
            tolerance_um: 10.0,
            as_found_um: vec![200, 500, 800],
            as_left_um: vec![100, 300, 500, 700, 900],
            overshoot_um: 50,
            parked_window_um: (-200.0, -20.0),
        }
    }
}

/// Why a plan cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Not enough distinct points under the usable ceiling for a fit.
    #[error("the plan has only {usable} distinct points the current table can reach; a fit needs at least 5")]
    TooFewPoints {
        /// How many.
        usable: usize,
    },
    /// No repeats.
    #[error("repeats must be at least 1")]
    NoRepeats,
    /// A depth over the ceiling was asked for.
    #[error(
        "calibration points over the {CEILING_UM} um ceiling are never measured ({0} um asked)"
    )]
    OverCeiling(u16),
}

/// What a measurement is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Purpose {
    /// Before anything changes, through the old table.
    AsFound,
    /// For the fit (and hysteresis).
    Fit,
    /// After writing, through the new table.
    AsLeft,
}

/// One move-and-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Measurement {
    /// What for.
    pub purpose: Purpose,
    /// The depth aimed at.
    pub target_um: u16,
    /// How to arrive.
    pub direction: Direction,
    /// Which repeat, from 1.
    pub repeat: u8,
    /// The motor position of the target.
    pub raw: i32,
    /// For a from-above approach, the position to go to first.
    pub via: Option<i32>,
}

/// What the runner must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Home the pen (it parks retracted); then call [`Procedure::homed`].
    Home,
    /// Read the settled gauge without moving; then [`Procedure::reading`].
    ReadParked,
    /// Move as described and read the settled gauge; then [`Procedure::reading`].
    Measure(Measurement),
    /// Stage, verify and commit this table; then [`Procedure::written`].
    Write(CalibrationTable),
    /// Put this (the previous) table back; then [`Procedure::restored`].
    Restore(CalibrationTable),
    /// Done: the conclusion to record.
    Finish(Box<Conclusion>),
}

/// How a calibration ended, with everything measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conclusion {
    /// Whether the pen passed and carries the new table.
    pub passed: bool,
    /// Why not, in words.
    pub failure: Option<String>,
    /// The gauge reading with the pen parked.
    pub parked_um: Option<f64>,
    /// As-found readings through the old table.
    pub as_found: Vec<Sample>,
    /// Fit readings.
    pub samples: Vec<Sample>,
    /// The analysis, if the measurements got that far.
    pub analysis: Option<Analysis>,
    /// As-left readings through the new table.
    pub as_left: Vec<Sample>,
    /// The verdict on the as-left readings.
    pub as_left_verdict: Option<Verdict>,
    /// The new table, if it is in effect now.
    #[serde(skip)]
    pub new_table: Option<CalibrationTable>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Start,
    AwaitHome,
    AwaitParked,
    Measuring,
    AwaitReading(Measurement),
    AwaitWrite,
    Verifying,
    /// As-left passed but showed a larger error than the fit's residuals: the table is
    /// written once more with the margin that error calls for.
    AwaitMarginWrite(CalibrationTable),
    AwaitRestore,
    Finished,
}

/// A calibration under way.
#[derive(Debug, Clone)]
pub struct Procedure {
    plan: Plan,
    old: CalibrationTable,
    limits: Limits,
    gauge: GaugeCharacter,
    now_unix_s: u64,
    new_id: u32,
    state: State,
    queue: VecDeque<Measurement>,
    planned: usize,
    done: usize,
    conclusion: Conclusion,
    written: bool,
}

/// Progress, for people watching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// What is happening, in words.
    pub step: String,
    /// Percent done.
    pub percent: u8,
}

fn measurements(
    purpose: Purpose,
    targets: &[u16],
    repeats: u8,
    table: &CalibrationTable,
    limits: &Limits,
    overshoot_um: Option<u16>,
) -> Vec<Measurement> {
    let top = table.deepest_usable_um().min(limits.max_depth_um);
    let mut capped: Vec<u16> = targets.iter().map(|&t| t.min(top)).collect();
    capped.dedup();
    let mut out = Vec::new();
    for target in capped {
        let Ok(at) = approve_for_calibration(target.into(), table, limits) else {
            continue;
        };
        let via = overshoot_um
            .and_then(|o| {
                approve_for_calibration(u32::from(target) + u32::from(o), table, limits).ok()
            })
            .map(|a| a.target().0);
        for repeat in 1..=repeats {
            out.push(Measurement {
                purpose,
                target_um: target,
                direction: Direction::FromBelow,
                repeat,
                raw: at.target().0,
                via: None,
            });
        }
        if let Some(via) = via {
            for repeat in 1..=repeats {
                out.push(Measurement {
                    purpose,
                    target_um: target,
                    direction: Direction::FromAbove,
                    repeat,
                    raw: at.target().0,
                    via: Some(via),
                });
            }
        }
    }
    out
}

impl Procedure {
    /// A calibration of a pen holding `old` under `limits`, with a gauge of `gauge`'s
    /// character, writing a table numbered `new_id` dated `now_unix_s`.
    pub fn new(
        plan: Plan,
        old: CalibrationTable,
        limits: Limits,
        gauge: GaugeCharacter,
        now_unix_s: u64,
        new_id: u32,
    ) -> Result<Procedure, PlanError> {
        if plan.repeats == 0 {
            return Err(PlanError::NoRepeats);
        }
        if let Some(&over) = plan.points_um.iter().find(|&&p| p > CEILING_UM) {
            return Err(PlanError::OverCeiling(over));
        }
        let mut queue: VecDeque<Measurement> =
            measurements(Purpose::AsFound, &plan.as_found_um, 1, &old, &limits, None).into();
        let fit = measurements(
            Purpose::Fit,
            &plan.points_um,
            plan.repeats,
            &old,
            &limits,
            Some(plan.overshoot_um),
        );
        let mut distinct: Vec<i32> = fit.iter().map(|m| m.raw).collect();
        distinct.dedup();
        if distinct.len() < 5 {
            return Err(PlanError::TooFewPoints {
                usable: distinct.len(),
            });
        }
        queue.extend(fit);
        let planned = queue.len() + plan.as_left_um.len() + 2;
        Ok(Procedure {
            plan,
            old,
            limits,
            gauge,
            now_unix_s,
            new_id,
            state: State::Start,
            queue,
            planned,
            done: 0,
            conclusion: Conclusion {
                passed: false,
                failure: None,
                parked_um: None,
                as_found: Vec::new(),
                samples: Vec::new(),
                analysis: None,
                as_left: Vec::new(),
                as_left_verdict: None,
                new_table: None,
            },
            written: false,
        })
    }

    /// The plan being carried out.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The next thing to do.
    pub fn next_action(&mut self) -> Action {
        match self.state.clone() {
            State::Start => {
                self.state = State::AwaitHome;
                Action::Home
            }
            State::AwaitHome => Action::Home,
            State::AwaitParked => Action::ReadParked,
            State::Measuring | State::Verifying => match self.queue.pop_front() {
                Some(m) => {
                    self.state = State::AwaitReading(m);
                    Action::Measure(m)
                }
                None if self.state == State::Measuring => self.conclude_measuring(),
                None => self.conclude_verifying(),
            },
            State::AwaitReading(m) => Action::Measure(m),
            State::AwaitWrite => Action::Write(
                self.conclusion
                    .analysis
                    .as_ref()
                    .expect("analysed")
                    .table
                    .clone(),
            ),
            State::AwaitMarginWrite(table) => Action::Write(table),
            State::AwaitRestore => Action::Restore(self.old.clone()),
            State::Finished => Action::Finish(Box::new(self.conclusion.clone())),
        }
    }

    /// The pen is homed.
    pub fn homed(&mut self) {
        if self.state == State::AwaitHome {
            self.done += 1;
            self.state = State::AwaitParked;
        }
    }

    /// The settled gauge reading for the last `ReadParked` or `Measure`.
    pub fn reading(&mut self, reading_um: f64) {
        if reading_um > f64::from(CEILING_UM) {
            return self.fail(format!(
                "the gauge read {reading_um:.1} um, over the {CEILING_UM} um ceiling: calibration stopped and the pen retracted; check the pen and the fixture"
            ));
        }
        match self.state.clone() {
            State::AwaitParked => {
                self.done += 1;
                self.conclusion.parked_um = Some(reading_um);
                let (lo, hi) = self.plan.parked_window_um;
                if !(lo..=hi).contains(&reading_um) {
                    return self.fail(format!(
                        "with the pen parked the gauge reads {reading_um:.1} um, outside {lo}..{hi} um: zero the gauge against the cartridge face and start again"
                    ));
                }
                self.state = State::Measuring;
            }
            State::AwaitReading(m) => {
                self.done += 1;
                let sample = Sample {
                    target_um: m.target_um,
                    direction: m.direction,
                    raw: m.raw,
                    reading_um,
                };
                match m.purpose {
                    Purpose::AsFound => self.conclusion.as_found.push(sample),
                    Purpose::Fit => self.conclusion.samples.push(sample),
                    Purpose::AsLeft => self.conclusion.as_left.push(sample),
                }
                self.state = match m.purpose {
                    Purpose::AsLeft => State::Verifying,
                    _ => State::Measuring,
                };
            }
            _ => {}
        }
    }

    /// The new table is committed on the pen.
    pub fn written(&mut self) {
        if let State::AwaitMarginWrite(table) = &self.state {
            let margin = table.margin_um;
            if let Some(analysis) = self.conclusion.analysis.as_mut() {
                analysis.margin_um = margin;
                analysis.table.margin_um = margin;
            }
            self.conclusion.new_table = Some(table.clone());
            self.conclusion.passed = true;
            self.state = State::Finished;
            return;
        }
        if self.state != State::AwaitWrite {
            return;
        }
        self.written = true;
        let table = self
            .conclusion
            .analysis
            .as_ref()
            .expect("analysed")
            .table
            .clone();
        self.queue = measurements(
            Purpose::AsLeft,
            &self.plan.as_left_um,
            1,
            &table,
            &self.limits,
            None,
        )
        .into();
        self.conclusion.new_table = Some(table);
        self.state = State::Verifying;
    }

    /// The old table is back on the pen.
    pub fn restored(&mut self) {
        if self.state == State::AwaitRestore {
            self.written = false;
            self.conclusion.new_table = None;
            self.state = State::Finished;
        }
    }

    /// The table to put back if the calibration is abandoned now (the new one is in effect
    /// but not verified).
    pub fn needs_restore(&self) -> Option<&CalibrationTable> {
        (self.written && !self.conclusion.passed).then_some(&self.old)
    }

    /// Ends the calibration early (I/O failure, abort) with `why`.
    pub fn abandon(&mut self, why: impl Into<String>) -> Conclusion {
        self.fail(why.into());
        self.conclusion.clone()
    }

    /// How far along it is.
    pub fn progress(&self) -> Progress {
        let step = match &self.state {
            State::Start | State::AwaitHome => "homing".to_string(),
            State::AwaitParked => "checking the gauge's zero".to_string(),
            State::AwaitReading(m) => {
                let what = match m.purpose {
                    Purpose::AsFound => "as-found",
                    Purpose::Fit => "measuring",
                    Purpose::AsLeft => "as-left",
                };
                let way = match m.direction {
                    Direction::FromBelow => "from below",
                    Direction::FromAbove => "from above",
                };
                let depth = format!("{}.{:03} mm", m.target_um / 1000, m.target_um % 1000);
                match m.purpose {
                    Purpose::Fit => format!(
                        "{what} {depth} {way}, reading {} of {}",
                        m.repeat, self.plan.repeats
                    ),
                    Purpose::AsFound | Purpose::AsLeft => format!("{what} {depth} {way}"),
                }
            }
            State::Measuring | State::Verifying => "moving on".to_string(),
            State::AwaitWrite => "writing the new table".to_string(),
            State::AwaitMarginWrite(_) => "writing the final margin".to_string(),
            State::AwaitRestore => "restoring the previous table".to_string(),
            State::Finished => "done".to_string(),
        };
        let percent = (self.done * 100 / self.planned.max(1)).min(100) as u8;
        Progress { step, percent }
    }

    fn fail(&mut self, why: String) {
        if self.conclusion.failure.is_none() {
            self.conclusion.failure = Some(why);
        }
        self.conclusion.passed = false;
        self.state = if self.written {
            State::AwaitRestore
        } else {
            State::Finished
        };
    }

    fn conclude_measuring(&mut self) -> Action {
        let analysis = analyze(
            &self.conclusion.samples,
            self.gauge,
            self.plan.tolerance_um,
            self.new_id,
            self.now_unix_s,
        );
        match analysis {
            Err(fit) => self.fail(fit.to_string()),
            Ok(analysis) => {
                let pass = analysis.verdict.pass;
                let worst = analysis.verdict.worst_um;
                self.conclusion.analysis = Some(analysis);
                if pass {
                    self.state = State::AwaitWrite;
                } else {
                    self.fail(format!(
                        "out of tolerance: worst |error| + U is {worst:.1} um against +/-{} um; nothing was written",
                        self.plan.tolerance_um
                    ));
                }
            }
        }
        self.next_action()
    }

    fn conclude_verifying(&mut self) -> Action {
        let u = self
            .conclusion
            .analysis
            .as_ref()
            .map(|a| a.uncertainty.expanded_um)
            .unwrap_or(0.0);
        let errors: Vec<f64> = self
            .conclusion
            .as_left
            .iter()
            .map(|s| s.reading_um - f64::from(s.target_um))
            .collect();
        let worst_as_left = errors.iter().map(|e| e.abs()).fold(0.0, f64::max);
        let as_left = verdict(errors, u, self.plan.tolerance_um);
        let pass = as_left.pass;
        let worst = as_left.worst_um;
        self.conclusion.as_left_verdict = Some(as_left);
        if pass {
            // The ceiling keeps U plus the worst error seen, residual or as-left.
            let needed = (u + worst_as_left).ceil().min(f64::from(CEILING_UM - 1)) as u16;
            match self.conclusion.new_table.clone() {
                Some(mut table) if needed > table.margin_um => {
                    table.margin_um = needed;
                    self.state = State::AwaitMarginWrite(table);
                }
                _ => {
                    self.conclusion.passed = true;
                    self.state = State::Finished;
                }
            }
        } else {
            self.fail(format!(
                "as-left out of tolerance: worst |error| + U is {worst:.1} um; the previous table was put back"
            ));
        }
        self.next_action()
    }

    /// The new table, once it is in effect on the pen.
    pub fn new_table(&self) -> Option<&CalibrationTable> {
        self.conclusion.new_table.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pen_protocol::limits::Limits;

    const GAUGE: GaugeCharacter = GaugeCharacter {
        mpe_um: 2.0,
        resolution_um: 1.0,
    };

    fn factory() -> CalibrationTable {
        let points: Vec<(i32, i32)> = (-1..=10).map(|i| (i * 400, i * 100)).collect();
        CalibrationTable::from_points(0, 1, 20, &points).unwrap()
    }

    /// Runs the procedure against a perfect pen whose truth is `truth(raw)`.
    fn run(plan: Plan, truth: impl Fn(i32) -> f64) -> Conclusion {
        let mut p =
            Procedure::new(plan, factory(), Limits::DEFAULT, GAUGE, 1_800_000_000, 1).unwrap();
        let mut at = -400;
        for _ in 0..10_000 {
            match p.next_action() {
                Action::Home => {
                    at = -400;
                    p.homed();
                }
                Action::ReadParked => p.reading(truth(at)),
                Action::Measure(m) => {
                    at = m.raw;
                    p.reading(truth(at));
                }
                Action::Write(_) => p.written(),
                Action::Restore(_) => p.restored(),
                Action::Finish(c) => return *c,
            }
        }
        panic!("the procedure never finished");
    }

    #[test]
    fn a_linear_pen_passes_and_gets_a_table() {
        let c = run(Plan::default(), |raw| f64::from(raw) * 0.25 * 0.99 + 1.0);
        assert!(c.passed, "{:?}", c.failure);
        let table = c.new_table.unwrap();
        assert_eq!(table.id, 1);
        assert_eq!(c.as_found.len(), 3);
        // Six points capped at the factory table's usable 980 um; 3 repeats from below, and
        // from above where 50 um of room remain (all but the top).
        assert_eq!(c.samples.len(), 6 * 3 + 5 * 3);
        assert_eq!(c.as_left.len(), 5);
        assert!(c.as_left_verdict.unwrap().pass);
    }

    #[test]
    fn the_top_point_is_capped_at_the_usable_ceiling() {
        let c = run(Plan::default(), |raw| f64::from(raw) * 0.25);
        let top = c.samples.iter().map(|s| s.target_um).max().unwrap();
        assert_eq!(top, 980);
    }

    #[test]
    fn a_reading_over_the_ceiling_stops_everything() {
        let c = run(Plan::default(), |raw| f64::from(raw) * 0.3);
        assert!(!c.passed);
        assert!(c.failure.unwrap().contains("over the 1000 um ceiling"));
        assert!(c.new_table.is_none());
    }

    #[test]
    fn an_unzeroed_gauge_is_caught_before_anything_moves() {
        let c = run(Plan::default(), |raw| f64::from(raw) * 0.25 + 500.0);
        assert!(c.failure.unwrap().contains("zero the gauge"));
        assert!(c.samples.is_empty() && c.as_found.is_empty());
    }

    #[test]
    fn a_failed_as_left_puts_the_old_table_back() {
        // A pen that changes its mind after the write: truth shifts by 30 um once the new
        // table is in use (as-left targets are not among the fit targets).
        let shifted = std::cell::Cell::new(false);
        let mut p =
            Procedure::new(Plan::default(), factory(), Limits::DEFAULT, GAUGE, 1, 1).unwrap();
        let truth = |raw: i32| f64::from(raw) * 0.25 + if shifted.get() { 30.0 } else { 0.0 };
        let mut at = -400;
        let mut restored = false;
        let c = loop {
            match p.next_action() {
                Action::Home => p.homed(),
                Action::ReadParked => p.reading(truth(at)),
                Action::Measure(m) => {
                    at = m.raw;
                    p.reading(truth(at));
                }
                Action::Write(_) => {
                    shifted.set(true);
                    p.written();
                    assert!(p.needs_restore().is_none() || p.new_table().is_some());
                }
                Action::Restore(old) => {
                    assert_eq!(old, factory());
                    restored = true;
                    p.restored();
                }
                Action::Finish(c) => break *c,
            }
        };
        assert!(restored && !c.passed && c.new_table.is_none());
        assert!(c.failure.unwrap().contains("previous table was put back"));
    }

    #[test]
    fn the_margin_covers_the_worst_as_left_error() {
        // A pen whose depth error grows between measured points (a ripple the cubic cannot
        // follow): as-left, between the fit points, shows more error than the residuals.
        let ripple = |raw: i32| {
            let um = f64::from(raw) * 0.25;
            um + 3.0 * (um * std::f64::consts::PI / 200.0).sin()
        };
        let c = run(Plan::default(), ripple);
        assert!(c.passed, "{:?}", c.failure);
        let u = c.analysis.as_ref().unwrap().uncertainty.expanded_um;
        let worst_as_left = c
            .as_left
            .iter()
            .map(|s| (s.reading_um - f64::from(s.target_um)).abs())
            .fold(0.0, f64::max);
        let margin = f64::from(c.new_table.as_ref().unwrap().margin_um);
        assert!(
            margin >= u + worst_as_left,
            "{margin} < {u} + {worst_as_left}"
        );
        assert_eq!(
            c.analysis.unwrap().margin_um,
            c.new_table.unwrap().margin_um
        );
    }

    #[test]
    fn plans_that_cannot_work_are_refused() {
        let few = Plan {
            points_um: vec![0, 500, 900],
            ..Plan::default()
        };
        assert!(matches!(
            Procedure::new(few, factory(), Limits::DEFAULT, GAUGE, 1, 1),
            Err(PlanError::TooFewPoints { usable: 3 })
        ));
        let over = Plan {
            points_um: vec![0, 200, 400, 600, 800, 1200],
            ..Plan::default()
        };
        assert_eq!(
            Procedure::new(over, factory(), Limits::DEFAULT, GAUGE, 1, 1).err(),
            Some(PlanError::OverCeiling(1200))
        );
    }
}
