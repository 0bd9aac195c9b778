//! How `penctl` prints things for people.

use pen_protocol::api::{
    AuditEntry, CalibrationSummary, DepthSetReport, Event, EventFrame, PenReport, PenState,
};
use pen_protocol::Micrometres;

/// A depth in micrometres, signed, as `0.500 mm` / `-0.100 mm`.
pub fn depth(um: i32) -> String {
    let sign = if um < 0 { "-" } else { "" };
    format!("{sign}{}", Micrometres(um.unsigned_abs()))
}

fn calibration(cal: &Option<CalibrationSummary>) -> String {
    match cal {
        None => "none".to_string(),
        Some(c) if c.id == 0 => format!(
            "factory, max {}",
            Micrometres(u32::from(c.usable_ceiling_um))
        ),
        Some(c) => format!(
            "#{}, max {}",
            c.id,
            Micrometres(u32::from(c.usable_ceiling_um))
        ),
    }
}

/// The `list` table.
pub fn pen_table(pens: &[PenReport]) -> String {
    if pens.is_empty() {
        return "no pens connected\n".to_string();
    }
    let header = [
        "SERIAL",
        "STATE",
        "DEPTH",
        "CALIBRATION",
        "LINK",
        "MODEL",
        "FIRMWARE",
    ];
    let rows: Vec<[String; 7]> = pens
        .iter()
        .map(|p| {
            [
                p.serial.clone(),
                p.state.to_string(),
                p.depth_um.map(depth).unwrap_or_else(|| "-".into()),
                calibration(&p.calibration),
                p.link.clone(),
                p.model.clone(),
                p.firmware_version.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    // Present but not ours to open: say how to fix it, once per pen, the way probe-rs does.
    for pen in pens {
        if let PenState::NoAccess { node, fix } = &pen.state {
            out.push_str(&format!(
                "\n{}: permission denied on {node}.\n  fix: {fix}\n",
                pen.serial
            ));
        }
    }
    out
}

/// The `status` block.
pub fn pen_status(p: &PenReport) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<14}{value}\n"));
    field("serial", p.serial.clone());
    field("state", p.state.to_string());
    if p.problems.is_empty() {
        field("ready", "yes".into());
    } else {
        for (i, problem) in p.problems.iter().enumerate() {
            field(
                if i == 0 { "not ready" } else { "" },
                problem.message.clone(),
            );
        }
    }
    field(
        "session",
        p.session
            .as_ref()
            .map(|h| format!("held by {h}"))
            .unwrap_or_else(|| "free".into()),
    );
    field("model", p.model.clone());
    field("firmware", p.firmware_version.clone());
    field("link", p.link.clone());
    field(
        "position",
        p.position_counts
            .map(|c| format!("{c} counts"))
            .unwrap_or_else(|| "unknown".into()),
    );
    field(
        "depth",
        p.depth_um.map(depth).unwrap_or_else(|| "unknown".into()),
    );
    field(
        "setpoint",
        p.setpoint
            .map(|d| d.to_string())
            .unwrap_or_else(|| "none".into()),
    );
    field(
        "needling",
        p.needling
            .map(|rate| format!("{rate} strokes/s"))
            .unwrap_or_else(|| "off".into()),
    );
    field("calibration", calibration(&p.calibration));
    if let Some(c) = &p.calibration {
        field(
            "",
            format!("{} points, margin {} um", c.points, c.margin_um),
        );
    }
    if let Some(sim) = &p.sim {
        field(
            "sim truth",
            format!(
                "{:.1} um protrusion (deepest so far {:.1} um){}{}",
                sim.true_protrusion_um,
                sim.max_true_protrusion_um,
                if sim.needling { ", needling" } else { "" },
                if sim.identifying {
                    ", LED blinking"
                } else {
                    ""
                },
            ),
        );
    }
    out
}

/// The line `depth set` prints.
pub fn depth_set(r: &DepthSetReport) -> String {
    format!(
        "{}: depth set to {} (motor target {} counts{})\n",
        r.serial,
        r.depth,
        r.target_counts,
        if r.reached { ", reached" } else { ", moving" }
    )
}

/// The audit trail, one entry a line.
pub fn audit(entries: &[AuditEntry]) -> String {
    let mut out = String::new();
    for e in entries {
        let date = pend::gauge::reply::Date::from_unix_s(e.at_unix_s);
        let time = e.at_unix_s % 86_400;
        out.push_str(&format!(
            "{:>5}  {date} {:02}:{:02}:{:02}  {} ({}, uid {})  {}  {}  {}{}\n",
            e.id,
            time / 3600,
            time / 60 % 60,
            time % 60,
            e.user,
            e.role,
            e.uid,
            if e.pen.is_empty() { "-" } else { &e.pen },
            e.action,
            e.outcome,
            if e.details.is_empty() {
                String::new()
            } else {
                format!(": {}", e.details)
            }
        ));
    }
    if entries.is_empty() {
        out.push_str("no entries\n");
    }
    out
}

/// `penctl audit verify`: prints the verdict, returns the exit code.
pub fn audit_verify(
    result: Result<(u64, Option<(u64, String)>), penctl::ClientError>,
    json: bool,
) -> u8 {
    match result {
        Err(error) => {
            crate::report_error(&error, json);
            penctl::exit::code_for(&error)
        }
        Ok((entries, broken)) => {
            if json {
                let (id, reason) = broken
                    .clone()
                    .map_or((None, None), |(i, r)| (Some(i), Some(r)));
                println!(
                    "{}",
                    serde_json::json!({"entries": entries, "first_broken": id, "reason": reason})
                );
            }
            match broken {
                None => {
                    if !json {
                        println!("audit trail intact: {entries} entries, every link verified");
                    }
                    penctl::exit::OK
                }
                Some((id, why)) => {
                    if !json {
                        println!("audit trail BROKEN at entry {id}: {why}");
                    }
                    penctl::exit::AUDIT_BROKEN
                }
            }
        }
    }
}

/// One line per event, for `penctl watch`.
pub fn event(frame: &EventFrame) -> String {
    let event = match frame {
        EventFrame::Missed { count } => {
            return format!("(missed {count} events: this watcher fell behind)\n")
        }
        EventFrame::Event(event) => event,
    };
    let text = match event {
        Event::PenConnected { .. } => "connected, ready".to_string(),
        Event::PenDisconnected { .. } => "disconnected".to_string(),
        Event::SessionOpened { client_name, .. } => format!("session opened by {client_name:?}"),
        Event::SessionClosed { reason, .. } => format!("session closed: {reason}"),
        Event::DepthReached { depth, .. } => format!("depth {depth} reached"),
        Event::NeedlingStarted { strokes_per_s, .. } => {
            format!("needling started, {strokes_per_s} strokes/s")
        }
        Event::NeedlingStopped { .. } => "needling stopped".to_string(),
        Event::Fault { reason, .. } => format!("FAULT: {reason}"),
        Event::CalibrationProgress { step, percent, .. } => {
            format!("calibration {percent}%: {step}")
        }
        Event::CalibrationFinished {
            passed, summary, ..
        } => format!(
            "calibration {}: {summary}",
            if *passed { "passed" } else { "did not pass" }
        ),
    };
    format!("{}  {text}\n", event.serial())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(serial: &str, state: PenState) -> PenReport {
        PenReport {
            state,
            ..pend::session::initial_report(serial, "usb 1-1")
        }
    }

    #[test]
    fn list_names_the_pen_it_may_not_open_and_how_to_fix_it() {
        let pens = [
            report("PEN-A", PenState::Ready),
            report(
                "PEN-B",
                PenState::NoAccess {
                    node: "/dev/bus/usb/001/002".into(),
                    fix: "install the udev rule".into(),
                },
            ),
        ];
        let table = pen_table(&pens);
        assert!(
            table.contains("no access to /dev/bus/usb/001/002"),
            "{table}"
        );
        assert!(
            table.contains(
                "PEN-B: permission denied on /dev/bus/usb/001/002.\n  fix: install the udev rule"
            ),
            "{table}"
        );
        assert!(!table.contains("PEN-A: permission"), "{table}");
    }
}
