//! `penctl limits`: signing tools for the manufacturer (offline: they never talk to a
//! daemon), and showing and flashing limits through the daemon.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pen_protocol::api::LimitsFlashReport;
use pen_protocol::limits::{
    key_id, keyfile, public_key, sign_bundle, Limits, LimitsBody, MAX_BUNDLE_LEN,
};
use pen_protocol::Micrometres;
use penctl::{exit, Client, ClientError};

use crate::report_error;

/// What `limits sign` was asked to put in the bundle.
pub struct SignRequest<'a> {
    pub key: &'a Path,
    pub pen: &'a str,
    pub max_depth_um: u32,
    pub stroke_rates: (u16, u16),
    pub calibration_interval_days: u16,
    pub counter: Option<u32>,
    pub out: &'a Path,
}

fn fail(message: impl std::fmt::Display) -> u8 {
    eprintln!("penctl: {message}");
    exit::FAILURE
}

/// `penctl limits keygen --out DIR`: a new signing key pair.
pub fn keygen(out: &Path, name: &str) -> u8 {
    let mut secret = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut secret) {
        return fail(format!("no randomness for a key: {e}"));
    }
    let public = public_key(&secret);
    let secret_path = out.join(format!("{name}.key"));
    let public_path = out.join(format!("{name}.pub"));
    if secret_path.exists() || public_path.exists() {
        return fail(format!(
            "{} or {} exists already; keys are never overwritten",
            secret_path.display(),
            public_path.display()
        ));
    }
    let written = std::fs::create_dir_all(out).and_then(|()| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&secret_path)?;
        file.write_all(keyfile::format_secret(&secret).as_bytes())?;
        std::fs::write(&public_path, keyfile::format_public(&public))
    });
    if let Err(e) = written {
        return fail(format!("cannot write the keys to {}: {e}", out.display()));
    }
    println!("secret key (keep it offline): {}", secret_path.display());
    println!(
        "public key (give it to every station): {}",
        public_path.display()
    );
    println!("key id {}", keyfile::hex(&key_id(&public)));
    exit::OK
}

/// `penctl limits sign`: a signed bundle for one pen.
pub fn sign(request: SignRequest<'_>) -> u8 {
    let text = match std::fs::read_to_string(request.key) {
        Ok(text) => text,
        Err(e) => return fail(format!("cannot read {}: {e}", request.key.display())),
    };
    let Some(secret) = keyfile::parse_secret(&text) else {
        return fail(format!(
            "{} is not a limits secret key file",
            request.key.display()
        ));
    };
    let Ok(max_depth_um) = u16::try_from(request.max_depth_um) else {
        return fail("the maximum depth is far over the ceiling");
    };
    let limits = Limits {
        max_depth_um,
        stroke_rate_min: request.stroke_rates.0,
        stroke_rate_max: request.stroke_rates.1,
        calibration_interval_days: request.calibration_interval_days,
    };
    // Refuse here what every pen would refuse: a signed bundle over the ceiling must not
    // even exist.
    if let Err(why) = limits.check() {
        return fail(format!("not signed: {why}"));
    }
    let Ok(serial) = request.pen.try_into() else {
        return fail("the pen serial is longer than 24 bytes");
    };
    let issued = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let body = LimitsBody {
        serial,
        limits,
        // Issue times only grow: a sensible default for a counter that must.
        counter: request.counter.unwrap_or(issued as u32),
        issued_unix_s: issued,
        key_id: key_id(&public_key(&secret)),
    };
    let bytes = sign_bundle(&body, &secret);
    if let Err(e) = std::fs::write(request.out, &bytes) {
        return fail(format!("cannot write {}: {e}", request.out.display()));
    }
    println!(
        "{}: limits for {} (max depth {}, {}-{} strokes/s, calibration every {} days), counter {}, {} bytes",
        request.out.display(),
        request.pen,
        Micrometres(request.max_depth_um),
        limits.stroke_rate_min,
        limits.stroke_rate_max,
        limits.calibration_interval_days,
        body.counter,
        bytes.len()
    );
    exit::OK
}

/// `penctl limits show PEN`.
pub async fn show(client: &mut Client, pen: &str, json: bool) -> Result<(), ClientError> {
    let report = client.pen_status(pen).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report.limits).expect("JSON prints")
        );
        return Ok(());
    }
    match report.limits {
        None => println!(
            "{}: limits UNVERIFIED (not signed by a key this station trusts); the pen is not used until field service reflashes them",
            report.serial
        ),
        Some(summary) => {
            let l = summary.limits;
            println!("{:<22}{}", "pen", report.serial);
            println!("{:<22}{}", "max depth", Micrometres(u32::from(l.max_depth_um)));
            println!("{:<22}{}-{}/s", "stroke rate", l.stroke_rate_min, l.stroke_rate_max);
            println!("{:<22}{} days", "calibration interval", l.calibration_interval_days);
            if summary.counter == 0 {
                println!("{:<22}none (factory defaults)", "bundle");
            } else {
                println!("{:<22}counter {}, key {}", "bundle", summary.counter, summary.key_id);
            }
        }
    }
    Ok(())
}

fn print_report(report: &LimitsFlashReport) {
    for check in &report.checks {
        let mark = match check.passed {
            Some(true) => "ok  ",
            Some(false) => "FAIL",
            None => "  - ",
        };
        if check.detail.is_empty() {
            println!("  [{mark}] {}", check.check);
        } else {
            println!("  [{mark}] {}: {}", check.check, check.detail);
        }
    }
    for change in &report.changes {
        println!("  {change}");
    }
}

/// `penctl limits flash PEN FILE [--dry-run]`; returns the exit code.
pub async fn flash(client: &mut Client, pen: &str, file: &Path, dry_run: bool, json: bool) -> u8 {
    let bundle = match std::fs::metadata(file).and_then(|m| {
        if m.len() > (MAX_BUNDLE_LEN as u64) * 4 {
            Err(std::io::Error::other(format!(
                "{} bytes is no limits bundle",
                m.len()
            )))
        } else {
            std::fs::read(file)
        }
    }) {
        Ok(bytes) => bytes,
        Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
    };
    match client.flash_limits(pen, bundle, dry_run).await {
        Ok(report) => {
            let all_passed = report.checks.iter().all(|c| c.passed == Some(true));
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("JSON prints")
                );
            } else {
                let what = if report.flashed {
                    "flashed"
                } else if all_passed {
                    "would be flashed (dry run)"
                } else {
                    "would be REFUSED (dry run); nothing was written"
                };
                println!("{}: {} {what}", report.serial, file.display());
                print_report(&report);
            }
            if all_passed {
                exit::OK
            } else {
                exit::LIMITS_REFUSED
            }
        }
        Err(error) => {
            report_error(&error, json);
            exit::code_for(&error)
        }
    }
}
