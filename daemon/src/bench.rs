//! The bench calibration runner: drives the pure [`Procedure`] with a real gauge and the
//! pen's session task, reports progress as events, and stores the record.
//!
//! Everything that moves the pen goes through the pen's session (which holds the pen for
//! the calibration and checks every move against the ceiling once more); the gauge is read
//! here. Whatever ends the calibration (finished, failed, aborted, gauge or pen gone), the
//! pen is retracted, a new table that was not verified is replaced by the previous one, and
//! a record is kept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pen_protocol::api::{ApiError, ErrorKind, Event, SessionHolder};
use pen_protocol::pen::Approach;
use pen_protocol::{CalibrationTable, RawCounts};
use pen_sim::gauge::SimGauge;
use pen_sim::gauge_pty::GaugePty;
use serde_json::json;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::audit;
use crate::calibration::analysis::Direction;
use crate::calibration::procedure::{Action, Conclusion, Measurement, Plan, Procedure};
use crate::calibration::settle::Settler;
use crate::gauge::reply::Date;
use crate::gauge::serial::{Dialect, SerialGauge};
use crate::gauge::spec::GaugeSpec;
use crate::gauge::{Gauge, GaugeError, GaugeInfo, Reading};
use crate::records::RecordStore;
use crate::registry::PenHandle;
use crate::roles::lookup_user;
use crate::session::PenCommand;

/// Settings of bench calibrations.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// A reference gauge whose own calibration is older than this is refused.
    pub max_gauge_age_days: i64,
    /// Consecutive readings that must agree within a digit.
    pub settle_readings: usize,
    /// How long readings may take to settle.
    pub settle_limit: Duration,
    /// The longest any one pen command of the calibration may take.
    pub step_timeout: Duration,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            max_gauge_age_days: 365,
            settle_readings: 3,
            settle_limit: Duration::from_secs(3),
            step_timeout: Duration::from_secs(10),
        }
    }
}

/// A calibration ready to run: pen held, gauge open and vetted, plan accepted.
pub struct Prepared {
    handle: PenHandle,
    serial: String,
    connection: u64,
    holder: SessionHolder,
    /// The role the calibration was started under, for the audit trail.
    role: String,
    gauge: SerialGauge,
    /// Keeps the simulated gauge alive while it is used.
    _sim_gauge: Option<GaugePty>,
    info: GaugeInfo,
    old: CalibrationTable,
    procedure: Procedure,
    started_at: u64,
    config: BenchConfig,
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn gauge_problem(error: impl std::fmt::Display) -> ApiError {
    ApiError::new(ErrorKind::GaugeProblem, error.to_string())
}

/// Opens the gauge the spec names; a simulated gauge touches `handle`'s simulated pen.
fn open_gauge(
    spec: &GaugeSpec,
    handle: &PenHandle,
    today: Date,
) -> Result<(SerialGauge, Option<GaugePty>), ApiError> {
    match spec {
        GaugeSpec::Sylvac { port } => Ok((
            SerialGauge::open(port, Dialect::Sylvac, None).map_err(gauge_problem)?,
            None,
        )),
        GaugeSpec::Mitutoyo { port, calibrated } => Ok((
            SerialGauge::open(port, Dialect::Mitutoyo, *calibrated).map_err(gauge_problem)?,
            None,
        )),
        GaugeSpec::Sim { faults, calibrated } => {
            let probe = handle.sim_probe().ok_or_else(|| {
                gauge_problem(
                    "the simulated gauge can only touch a pen simulated inside pend (pend --sim N)",
                )
            })?;
            let (y, m, d) = calibrated
                .unwrap_or(Date {
                    days: today.days - 60,
                })
                .ymd();
            let seed = handle.serial().bytes().map(u64::from).sum();
            let gauge = SimGauge::new(seed, &format!("{d:02}.{m:02}.{y:04}"), *faults);
            let truth = Box::new(move || probe().true_protrusion_um);
            let pty = GaugePty::spawn(gauge, truth).map_err(gauge_problem)?;
            let path = pty.path().to_string_lossy().into_owned();
            let serial = SerialGauge::open(&path, Dialect::Sylvac, None).map_err(gauge_problem)?;
            Ok((serial, Some(pty)))
        }
    }
}

/// Gets a calibration ready: gauge opened, identified and in date, pen held, plan checked.
/// On any failure nothing has changed and the pen is free again.
pub async fn prepare(
    handle: PenHandle,
    connection: u64,
    holder: SessionHolder,
    role: String,
    gauge_spec: &str,
    plan: Plan,
    config: BenchConfig,
) -> Result<Prepared, ApiError> {
    let spec: GaugeSpec = gauge_spec
        .parse()
        .map_err(|e: crate::gauge::spec::BadGaugeSpec| {
            ApiError::new(ErrorKind::BadRequest, e.to_string())
        })?;
    let started_at = now_unix_s();
    let today = Date::from_unix_s(started_at);
    let (mut gauge, sim_gauge) = open_gauge(&spec, &handle, today)?;
    let info = gauge.info().await.map_err(gauge_problem)?;
    let Some(calibrated) = info.calibrated else {
        return Err(gauge_problem(format!(
            "{} cannot report its own calibration date; add it to the spec, e.g. {gauge_spec},calibrated=YYYY-MM-DD",
            info.model
        )));
    };
    let age = today.days - calibrated.days;
    if age > config.max_gauge_age_days {
        return Err(gauge_problem(format!(
            "the reference gauge {} was last calibrated on {calibrated}, {age} days ago, more than the {} days allowed; have the gauge recalibrated first",
            info.model, config.max_gauge_age_days
        )));
    }
    let limit = config.step_timeout;
    let (old, limits) = handle
        .ask(limit, |reply| PenCommand::BeginCalibration {
            connection,
            holder: holder.clone(),
            reply,
        })
        .await?;
    let new_id = old.id + 1;
    let procedure = match Procedure::new(
        plan,
        old.clone(),
        limits,
        info.character,
        started_at,
        new_id,
    ) {
        Ok(procedure) => procedure,
        Err(plan_error) => {
            let (reply, _) = oneshot::channel();
            let _ = handle.send(PenCommand::EndCalibration { connection, reply });
            return Err(ApiError::new(ErrorKind::BadRequest, plan_error.to_string()));
        }
    };
    Ok(Prepared {
        serial: handle.serial(),
        handle,
        connection,
        holder,
        role,
        gauge,
        _sim_gauge: sim_gauge,
        info,
        old,
        procedure,
        started_at,
        config,
    })
}

/// Reads the gauge until `needed` readings agree within a digit.
async fn read_settled(
    gauge: &mut SerialGauge,
    digit_nm: i64,
    needed: usize,
    limit: Duration,
) -> Result<Reading, GaugeError> {
    let mut settler = Settler::new(needed, digit_nm);
    let deadline = Instant::now() + limit;
    loop {
        if Instant::now() > deadline {
            return Err(GaugeError::Unsettled {
                ms: limit.as_millis() as u64,
                last: settler.last().map(|r| r.to_string()).unwrap_or_default(),
            });
        }
        if let Some(settled) = settler.push(gauge.read().await?) {
            return Ok(settled);
        }
    }
}

impl Prepared {
    /// The pen's serial.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    fn progress(&self, events: &broadcast::Sender<Event>) {
        let progress = self.procedure.progress();
        let _ = events.send(Event::CalibrationProgress {
            serial: self.serial.clone(),
            step: progress.step,
            percent: progress.percent,
        });
    }

    async fn measure(&mut self, m: Measurement) -> Result<Reading, String> {
        let connection = self.connection;
        let limit = self.config.step_timeout;
        let mut moves = Vec::new();
        match (m.direction, m.via) {
            (Direction::FromAbove, Some(via)) => {
                moves.push((RawCounts(via), Approach::FromBelow));
                moves.push((RawCounts(m.raw), Approach::Direct));
            }
            _ => moves.push((RawCounts(m.raw), Approach::FromBelow)),
        }
        for (target, approach) in moves {
            self.handle
                .ask(limit, |reply| PenCommand::CalibrationMove {
                    connection,
                    target,
                    approach,
                    reply,
                })
                .await
                .map_err(|e| e.message)?;
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Reading, String> {
        let digit_nm = (self.info.character.resolution_um * 1000.0) as i64;
        read_settled(
            &mut self.gauge,
            digit_nm,
            self.config.settle_readings,
            self.config.settle_limit,
        )
        .await
        .map_err(|e| e.to_string())
    }

    /// Carries out one action; `Err` abandons the calibration with the reason.
    async fn step(&mut self, action: Action) -> Result<(), String> {
        let connection = self.connection;
        let limit = self.config.step_timeout;
        match action {
            Action::Home => {
                self.handle
                    .ask(limit, |reply| PenCommand::CalibrationHome {
                        connection,
                        reply,
                    })
                    .await
                    .map_err(|e| e.message)?;
                self.procedure.homed();
            }
            Action::ReadParked => {
                let reading = self.read().await?;
                self.procedure.reading(reading.um());
            }
            Action::Measure(m) => {
                let reading = self.measure(m).await?;
                self.procedure.reading(reading.um());
            }
            Action::Write(table) => {
                self.handle
                    .ask(limit, |reply| PenCommand::CalibrationWrite {
                        connection,
                        table,
                        reply,
                    })
                    .await
                    .map_err(|e| e.message)?;
                self.procedure.written();
            }
            Action::Restore(table) => {
                self.handle
                    .ask(limit, |reply| PenCommand::CalibrationRestore {
                        table,
                        reply,
                    })
                    .await
                    .map_err(|e| e.message)?;
                self.procedure.restored();
            }
            Action::Finish(_) => unreachable!("handled by the caller"),
        }
        Ok(())
    }

    /// Runs the calibration to its end and records it.
    pub async fn run(mut self, events: broadcast::Sender<Event>, records: RecordStore) {
        info!(pen = %self.serial, gauge = %self.info.model, "calibration running");
        let conclusion = loop {
            let action = self.procedure.next_action();
            self.progress(&events);
            match action {
                Action::Finish(conclusion) => break *conclusion,
                action => {
                    if let Err(why) = self.step(action).await {
                        break self.abandon(&why).await;
                    }
                }
            }
        };
        let finished_at = now_unix_s();
        let record = self.record(&conclusion, finished_at);
        let mut passed = conclusion.passed;
        let mut summary = summary(&conclusion);
        let stored = records
            .add_calibration(
                &self.serial,
                self.started_at,
                finished_at,
                passed,
                move |id| {
                    let mut record = record;
                    record["record_id"] = json!(id);
                    record["certificate_id"] = json!(format!("CAL-{id:06}"));
                    record.to_string()
                },
            )
            .await;
        let record_id = match stored {
            Ok(id) => id,
            Err(error) => {
                warn!(pen = %self.serial, %error, "could not store the calibration record");
                if passed {
                    // A table without its record is not acceptable: put the old one back.
                    let old = self.old.clone();
                    let restored = self
                        .handle
                        .ask(self.config.step_timeout, |reply| {
                            PenCommand::CalibrationRestore { table: old, reply }
                        })
                        .await;
                    passed = false;
                    summary = format!(
                        "the calibration passed but its record could not be stored ({error}); {}",
                        if restored.is_ok() {
                            "the previous table was put back"
                        } else {
                            "and the previous table could not be put back: recalibrate"
                        }
                    );
                }
                0
            }
        };
        let connection = self.connection;
        if let Err(error) = self
            .handle
            .ask(self.config.step_timeout, |reply| {
                PenCommand::EndCalibration { connection, reply }
            })
            .await
        {
            warn!(pen = %self.serial, %error, "could not confirm the pen retracted after calibration");
        }
        info!(pen = %self.serial, passed, record_id, "calibration finished: {summary}");
        let old_id = self.old.id;
        let new = conclusion
            .new_table
            .as_ref()
            .map(|t| format!("table #{old_id} -> #{} (margin {} um)", t.id, t.margin_um))
            .unwrap_or_else(|| format!("table #{old_id} kept"));
        let record = audit::Record {
            uid: self.holder.uid,
            user: lookup_user(self.holder.uid),
            role: self.role.clone(),
            action: "calibration".into(),
            pen: self.serial.clone(),
            outcome: if passed { "passed" } else { "failed" }.into(),
            details: format!("record {record_id}; {new}; {summary}"),
        };
        if let Err(error) = records.append_audit(record, finished_at).await {
            warn!(pen = %self.serial, %error, "could not append to the audit trail");
        }
        let _ = events.send(Event::CalibrationFinished {
            serial: self.serial.clone(),
            passed,
            record_id,
            summary,
        });
    }

    /// Stops the calibration for `why`; a committed but unverified table is replaced by the
    /// previous one.
    async fn abandon(&mut self, why: &str) -> Conclusion {
        warn!(pen = %self.serial, why, "calibration abandoned");
        if let Some(old) = self.procedure.needs_restore().cloned() {
            let restored = self
                .handle
                .ask(self.config.step_timeout, |reply| {
                    PenCommand::CalibrationRestore { table: old, reply }
                })
                .await;
            if restored.is_ok() {
                self.procedure.restored();
            }
        }
        self.procedure
            .abandon(format!("calibration stopped: {why}"))
    }

    fn record(&self, c: &Conclusion, finished_at: u64) -> serde_json::Value {
        let date = |s: u64| Date::from_unix_s(s).to_string();
        let errors = |samples: &[crate::calibration::analysis::Sample]| -> Vec<serde_json::Value> {
            samples
                .iter()
                .map(|s| {
                    json!({
                        "target_um": s.target_um,
                        "direction": s.direction,
                        "raw": s.raw,
                        "reading_um": s.reading_um,
                        "error_um": s.reading_um - f64::from(s.target_um),
                    })
                })
                .collect()
        };
        let table = c.new_table.as_ref().map(|t| {
            json!({
                "id": t.id,
                "margin_um": t.margin_um,
                "usable_ceiling_um": t.deepest_usable_um(),
                "points": t.points.iter().map(|p| [p.raw.0, p.depth_um]).collect::<Vec<_>>(),
            })
        });
        let due = self.info.calibrated.map(|d| {
            Date {
                days: d.days + self.config.max_gauge_age_days,
            }
            .to_string()
        });
        json!({
            "certificate_id": null,
            "record_id": null,
            "item": {
                "description": "motor-driven microneedling pen, needle depth",
                "serial": self.serial,
                "table_before": self.old.id,
            },
            "method": "pend bench calibration: comparison against a reference dial gauge on the needle carriage; each point approached from below for the fit and from above for hysteresis; a reading is accepted when consecutive readings agree within one digit; cubic least-squares fit, checked monotonic",
            "reference_standard": {
                "model": self.info.model,
                "port": self.info.port,
                "calibrated": self.info.calibrated.map(|d| d.to_string()),
                "due": due,
                "mpe_um": self.info.character.mpe_um,
                "resolution_um": self.info.character.resolution_um,
            },
            "operator": {
                "client_name": self.holder.client_name,
                "uid": self.holder.uid,
                "pid": self.holder.pid,
            },
            "started_at": self.started_at,
            "finished_at": finished_at,
            "date": date(finished_at),
            "plan": self.procedure.plan(),
            "parked_um": c.parked_um,
            "as_found": errors(&c.as_found),
            "measurements": c.samples,
            "analysis": c.analysis,
            "units": "micrometres (um); readings are needle protrusion past the cartridge face",
            "decision_rule": crate::calibration::analysis::DECISION_RULE,
            "tolerance_um": self.procedure.plan().tolerance_um,
            "result": if c.passed { "pass" } else { "fail" },
            "failure": c.failure,
            "table_written": table,
            "as_left": errors(&c.as_left),
            "as_left_verdict": c.as_left_verdict,
        })
    }
}

fn summary(c: &Conclusion) -> String {
    match (&c.failure, &c.analysis) {
        (Some(why), _) => why.clone(),
        (None, Some(a)) => format!(
            "passed: U(k=2) = {:.1} um, worst residual {:.1} um, worst as-left |error| + U {:.1} um; new table with a {} um margin",
            a.uncertainty.expanded_um,
            a.worst_residual_um,
            c.as_left_verdict.as_ref().map(|v| v.worst_um).unwrap_or(0.0),
            a.margin_um
        ),
        (None, None) => "finished".into(),
    }
}
