//! Who may do what on the socket: roles from the peer's credentials.
//!
//! The daemon reads the peer's uid, gid and pid from the socket (`SO_PEERCRED`) and its
//! supplementary groups from `/proc/<pid>/status`, and maps them to a role:
//!
//! | role | may |
//! |---|---|
//! | read-only | list pens, status, events, calibration records |
//! | operator | also: treatment sessions, depth, needling, identify |
//! | technician | also: bench calibration, the audit trail |
//! | service | also: flash limits |
//!
//! Defaults (safe): root is service; the user the daemon runs as is technician (so a
//! developer running `pend --sim` as themselves can do everything but flash limits);
//! members of the groups given by `--operator-group`, `--technician-group` and
//! `--service-group` get those roles; everyone else who can reach the socket is read-only.
//! Nobody gets service unless configured.

use std::fmt;

use pen_protocol::api::Request;

/// A role; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Status and events.
    ReadOnly,
    /// Treatments.
    Operator,
    /// Bench calibration.
    Technician,
    /// Limits.
    Service,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::ReadOnly => "read-only",
            Role::Operator => "operator",
            Role::Technician => "technician",
            Role::Service => "service",
        })
    }
}

/// Which groups give which role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleConfig {
    /// The uid the daemon runs as (technician by default).
    pub daemon_uid: u32,
    /// Members are operators.
    pub operator_gid: Option<u32>,
    /// Members are technicians.
    pub technician_gid: Option<u32>,
    /// Members are service.
    pub service_gid: Option<u32>,
}

/// The peer as the socket and /proc describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
}

impl RoleConfig {
    /// The role `peer` has.
    pub fn role_of(&self, peer: &Peer) -> Role {
        if peer.uid == 0 {
            return Role::Service;
        }
        let member =
            |gid: Option<u32>| gid.is_some_and(|g| peer.gid == g || peer.groups.contains(&g));
        if member(self.service_gid) {
            Role::Service
        } else if member(self.technician_gid) || peer.uid == self.daemon_uid {
            Role::Technician
        } else if member(self.operator_gid) {
            Role::Operator
        } else {
            Role::ReadOnly
        }
    }

    /// The group that gives `role`, for the refusal message.
    pub fn group_for(&self, role: Role) -> Option<u32> {
        match role {
            Role::ReadOnly => None,
            Role::Operator => self.operator_gid,
            Role::Technician => self.technician_gid,
            Role::Service => self.service_gid,
        }
    }
}

/// The role a request needs.
pub fn required_role(request: &Request) -> Role {
    match request {
        Request::Hello { .. }
        | Request::ListPens
        | Request::PenStatus { .. }
        | Request::Subscribe
        | Request::Heartbeat
        | Request::CalibrationRecord { .. } => Role::ReadOnly,
        Request::OpenSession { .. }
        | Request::CloseSession { .. }
        | Request::SetDepth { .. }
        | Request::StartNeedling { .. }
        | Request::StopNeedling { .. }
        | Request::Identify { .. } => Role::Operator,
        Request::StartCalibration { .. }
        | Request::AbortCalibration { .. }
        | Request::Audit { .. }
        | Request::AuditVerify => Role::Technician,
        Request::FlashLimits { .. } => Role::Service,
    }
}

/// The supplementary groups in the text of `/proc/<pid>/status`.
pub fn groups_from_proc_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|ids| {
            ids.split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The gid of `name` in the text of `/etc/group` (or `name` itself if it is a number).
pub fn gid_of(name: &str, etc_group: &str) -> Option<u32> {
    if let Ok(gid) = name.parse() {
        return Some(gid);
    }
    etc_group.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

/// The name of `uid` in the text of `/etc/passwd`.
pub fn user_name(uid: u32, etc_passwd: &str) -> Option<String> {
    etc_passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        (fields.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
    })
}

/// The name of user `uid` on this machine, or `uid N`.
pub fn lookup_user(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| user_name(uid, &text))
        .unwrap_or_else(|| format!("uid {uid}"))
}

/// The supplementary groups of process `pid` (empty if it cannot be read).
pub fn process_groups(pid: i32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|status| groups_from_proc_status(&status))
        .unwrap_or_default()
}

/// The gid a `--*-group` option names: a number, or a name in `/etc/group`.
pub fn resolve_group(name: &str) -> Option<u32> {
    let etc_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    gid_of(name, &etc_group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn defaults_are_safe() {
        let config = RoleConfig {
            daemon_uid: 1000,
            ..RoleConfig::default()
        };
        assert_eq!(config.role_of(&peer(0, 0, &[])), Role::Service);
        assert_eq!(config.role_of(&peer(1000, 1000, &[])), Role::Technician);
        assert_eq!(config.role_of(&peer(1001, 1001, &[27])), Role::ReadOnly);
    }

    #[test]
    fn groups_give_roles_and_the_highest_wins() {
        let config = RoleConfig {
            daemon_uid: 999,
            operator_gid: Some(2001),
            technician_gid: Some(2002),
            service_gid: Some(2003),
        };
        assert_eq!(config.role_of(&peer(5, 2001, &[])), Role::Operator);
        assert_eq!(config.role_of(&peer(5, 5, &[2001, 2002])), Role::Technician);
        assert_eq!(config.role_of(&peer(5, 5, &[2003])), Role::Service);
    }

    #[test]
    fn each_request_needs_its_role() {
        assert_eq!(required_role(&Request::ListPens), Role::ReadOnly);
        let depth = Request::SetDepth {
            pen: "P".into(),
            depth_um: 1,
            wait: true,
        };
        assert_eq!(required_role(&depth), Role::Operator);
        let flash = Request::FlashLimits {
            pen: "P".into(),
            bundle: vec![],
            dry_run: true,
        };
        assert_eq!(required_role(&flash), Role::Service);
        assert!(Role::Service > Role::Technician && Role::Technician > Role::Operator);
    }

    #[test]
    fn system_files_are_read() {
        let status = "Name:\tx\nGroups:\t4 24 2001 \nUid:\t1\n";
        assert_eq!(groups_from_proc_status(status), [4, 24, 2001]);
        let group = "root:x:0:\npen-service:x:2003:alice,bob\n";
        assert_eq!(gid_of("pen-service", group), Some(2003));
        assert_eq!(gid_of("2999", group), Some(2999));
        assert_eq!(gid_of("nobody-here", group), None);
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\n";
        assert_eq!(user_name(1001, passwd).as_deref(), Some("alice"));
        assert_eq!(user_name(7, passwd), None);
    }
}
