//! The install files, checked without systemd: the udev rule parses and gives the pen to a
//! system group the sysusers snippet creates (never `plugdev`, never with `uaccess`), the
//! units say what pend relies on (notify, sockets in the order pend takes them, hardening
//! that still lets it reach USB and serial devices), and the README's install section names
//! the files the package installs. `scripts/check-install.sh` runs systemd's own verifiers.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One udev rule: `KEY{attr}OP"value"` items separated by commas.
fn parse_rule(line: &str) -> Result<Vec<(String, String, String)>, String> {
    const OPERATORS: [&str; 6] = ["==", "!=", "+=", "-=", ":=", "="];
    const KEYS: [&str; 12] = [
        "SUBSYSTEM",
        "ENV",
        "ATTR",
        "ATTRS",
        "GROUP",
        "MODE",
        "SYMLINK",
        "KERNEL",
        "TAG",
        "OWNER",
        "ACTION",
        "SUBSYSTEMS",
    ];
    let mut items = Vec::new();
    for item in line.split(", ") {
        // The first operator in the item, the longest at that place (`==` before `=`).
        let op = OPERATORS
            .iter()
            .filter_map(|op| {
                item.find(op)
                    .map(|at| (at, std::cmp::Reverse(op.len()), *op))
            })
            .min()
            .map(|(at, _, op)| (at, op))
            .ok_or_else(|| format!("no operator in {item:?}"))?;
        let (key, rest) = item.split_at(op.0);
        let value = &rest[op.1.len()..];
        let name = key.split('{').next().unwrap_or(key);
        if !KEYS.contains(&name) {
            return Err(format!("unknown key {key:?}"));
        }
        if !(value.starts_with('"') && value.ends_with('"') && value.len() >= 2) {
            return Err(format!("value of {key} not quoted: {value}"));
        }
        items.push((
            key.to_string(),
            op.1.to_string(),
            value[1..value.len() - 1].to_string(),
        ));
    }
    Ok(items)
}

fn rules() -> Vec<Vec<(String, String, String)>> {
    read("udev/70-pen.rules")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| parse_rule(l).unwrap_or_else(|e| panic!("{e} in rule: {l}")))
        .collect()
}

#[test]
fn the_udev_rule_gives_the_pen_to_the_system_group_from_sysusers() {
    let rules = rules();
    let pen = rules
        .iter()
        .find(|r| {
            r.iter()
                .any(|(k, _, v)| k == "ATTR{idVendor}" && v == "1209")
        })
        .expect("a rule for the pen's VID");
    let get = |key: &str| {
        pen.iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v.as_str())
    };
    assert_eq!(get("ATTR{idProduct}"), Some("0001"));
    assert_eq!(get("SUBSYSTEM"), Some("usb"));
    assert_eq!(get("GROUP"), Some("pen"));
    assert_eq!(get("MODE"), Some("0660"));
    let text = read("udev/70-pen.rules");
    let active: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !active.iter().any(|l| l.contains("plugdev")),
        "plugdev is ignored by systemd 258+"
    );
    assert!(
        !active.iter().any(|l| l.contains("uaccess")),
        "the pen is the daemon's, not the seat's"
    );
    let sysusers = read("udev/pend.sysusers.conf");
    assert!(
        sysusers.lines().any(|l| l.trim() == "g pen -"),
        "sysusers creates group pen"
    );
    assert!(
        sysusers.lines().any(|l| l.trim() == "m pend pen"),
        "pend is in group pen"
    );
    assert!(
        sysusers.lines().any(|l| l.starts_with("u pend ")),
        "sysusers creates user pend"
    );
    // Every group a rule names is one the snippet makes (a system group).
    for rule in &rules {
        for (key, _, value) in rule {
            if key == "GROUP" {
                assert!(
                    sysusers.contains(&format!("g {value} ")),
                    "group {value} is not created"
                );
            }
        }
    }
    assert!(
        rules
            .iter()
            .any(|r| r.iter().any(|(k, _, v)| k == "SUBSYSTEM" && v == "tty")),
        "a rule for the reference gauges' serial ports"
    );
}

#[test]
fn the_units_say_what_pend_relies_on() {
    let service = read("udev/pend.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/pend",
        "User=pend",
        "SupplementaryGroups=pen",
        "StateDirectory=pend",
        "RuntimeDirectory=pend",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "RestrictAddressFamilies=AF_UNIX AF_NETLINK",
        "DeviceAllow=char-usb_device rw",
        "DeviceAllow=char-ttyUSB rw",
        "Requires=pend.socket",
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "pend.service lacks {line}"
        );
    }
    assert!(service.lines().any(|l| l.starts_with("WatchdogSec=")));
    assert!(
        !service.contains("PrivateDevices=yes"),
        "it would hide the pens"
    );
    let socket = read("udev/pend.socket");
    let listen: Vec<&str> = socket
        .lines()
        .filter_map(|l| l.strip_prefix("ListenStream="))
        .collect();
    // pend takes the first inherited socket as the postcard one, the second as JSON.
    assert_eq!(listen, ["/run/pend/pend.sock", "/run/pend/pend.json.sock"]);
    assert_eq!(
        pend::paths::SYSTEM_SOCKET,
        listen[0],
        "penctl looks for the service where the unit puts it"
    );
    let tmpfiles = read("udev/pend.tmpfiles.conf");
    assert!(tmpfiles.contains("d /run/pend ") && tmpfiles.contains("d /var/lib/pend "));
}

#[test]
fn the_readme_install_section_matches_the_package() {
    let readme = read("README.md");
    let section = readme
        .split("## Install on a clinic PC")
        .nth(1)
        .expect("README has an install section")
        .split("\n## ")
        .next()
        .unwrap()
        .to_string();
    let manifest = read("daemon/Cargo.toml");
    let metadata = manifest
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("cargo-deb metadata");
    let installed: Vec<String> = metadata
        .lines()
        .filter_map(|l| l.trim().strip_prefix("[\""))
        .filter_map(|l| l.split("\", \"").nth(1).map(str::to_string))
        .collect();
    assert!(installed.len() >= 10, "{installed:?}");
    // Every installed file is named, but the docs and the completions (named as a group);
    // `usr/bin/` stands for the two binaries.
    let named = installed
        .iter()
        .filter(|d| !d.contains("/doc/") && !d.contains("completion"))
        .map(|d| match d.strip_suffix('/') {
            Some(dir) => format!("/{dir}/pend"),
            None => format!("/{d}"),
        });
    for destination in named {
        assert!(
            section.contains(&destination),
            "the README's install section does not mention {destination}"
        );
    }
    for command in [
        "systemctl enable --now pend.socket",
        "pend --check-config",
        "penctl list",
    ] {
        assert!(
            section.contains(command),
            "the install section lacks `{command}`"
        );
    }
}
