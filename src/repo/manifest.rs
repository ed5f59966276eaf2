//! The lockstep manifest: what a snapshot holds, in IM's terms.
//!
//! Every lockstep snapshot carries a manifest (versioned JSON) in the snapshot file's
//! `description` field, so it is read together with the snapshot list — no data is restored to
//! see a snapshot's set, roles and inventory. restic and rustic keep the field and ignore it.
//! The snapshot is also tagged `lockstep` and `set=<name>`, and its hostname is the host's, so
//! plain restic can find a set's snapshots too.

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use crate::host::set::{Member, SyncSet};
use crate::im::inventory::Inventory;

/// The manifest schema this lockstep writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The tag every lockstep snapshot carries.
pub const TAG: &str = "lockstep";

/// The tag that names a snapshot's set.
#[must_use]
pub fn set_tag(set: &str) -> String {
    format!("set={set}")
}

/// Whether a snapshot is one consistent moment of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The IM roles and the inventory were the same before and after the data was read.
    Consistent,
    /// Not (yet) verified: lockstep stopped between writing and verifying the snapshot.
    #[default]
    Unverified,
}

/// The consistency check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consistency {
    /// The verdict.
    pub verdict: Verdict,
    /// Attempts made (1 = the first try was consistent).
    pub attempts: u32,
    /// Product/extra entries that changed while they were read (an online backup's logs).
    #[serde(default)]
    pub product_changes: usize,
    /// The first of those paths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_changed_paths: Vec<PathBuf>,
    /// A digest of the metadata of every entry of the set (and of the directories above its
    /// members, its members and excludes), recorded when nothing changed while the set was read.
    /// A later backup that finds the same digest knows the set is exactly this snapshot's tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_state: Option<String>,
}

/// What preflight saw, as recorded in the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightRecord {
    /// `online` (product servers running) or `offline`.
    pub mode: String,
    /// Which process rule ran (`path+name`, or `path` under `--root`).
    pub process_rule: String,
    /// Servers running during the backup.
    #[serde(default)]
    pub servers_running: Vec<String>,
    /// Members allowed to be missing and missing.
    #[serde(default)]
    pub missing_allowed: Vec<PathBuf>,
    /// Checks skipped, and why.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// What the administrator accepted with `backup --accept-smaller-set`: each member and
    /// package group the parent snapshot had and this one has not, and each of IM's records
    /// that could not be read. Empty for a backup that lost nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_smaller_set: Vec<String>,
}

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema of this document; readers refuse versions they do not know.
    pub schema_version: u32,
    /// The lockstep version that wrote it.
    pub lockstep_version: String,
    /// The set's name (usually the IM instance's name).
    pub set: String,
    /// The host the set was backed up from.
    pub host: String,
    /// IM's mode (`admin`, `nonAdmin`, `group`).
    pub mode: String,
    /// IM's version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub im_version: Option<String>,
    /// The members, with their roles and logical paths.
    pub members: Vec<Member>,
    /// What IM said was installed when the snapshot was taken.
    pub inventory: Inventory,
    /// The exclude patterns the snapshot was taken with (absent from snapshots of lockstep
    /// versions that did not record them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
    /// The consistency check.
    #[serde(default)]
    pub consistency: Consistency,
    /// What preflight saw.
    #[serde(default)]
    pub preflight: PreflightRecord,
    /// The `before` hooks that ran.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookReport>,
}

impl Manifest {
    /// The set the snapshot holds: its members.
    #[must_use]
    pub fn set(&self) -> SyncSet {
        SyncSet {
            members: self.members.clone(),
        }
    }

    /// The manifest as stored in a snapshot's description.
    ///
    /// # Errors
    /// Never in practice (plain data); kept fallible for serde's signature.
    pub fn to_description(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Reads a manifest from a snapshot's description: `None` when the snapshot was not written
    /// by lockstep (or its description is something else).
    ///
    /// # Errors
    /// When it is a lockstep manifest of a newer schema than this lockstep understands.
    pub fn from_description(description: Option<&str>) -> Result<Option<Self>, String> {
        let Some(text) = description else {
            return Ok(None);
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
            return Ok(None);
        };
        let Some(version) = value
            .get("schema_version")
            .and_then(serde_json::Value::as_u64)
        else {
            return Ok(None);
        };
        if version > u64::from(SCHEMA_VERSION) {
            return Err(format!(
                "the snapshot's manifest has schema {version}, this lockstep reads up to {SCHEMA_VERSION}: upgrade lockstep"
            ));
        }
        Ok(serde_json::from_value(value).ok())
    }
}

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPhase {
    /// Before the backup; a failure aborts it.
    Before,
    /// After a successful backup.
    After,
    /// When the backup (or a hook) failed.
    OnFailure,
    /// Always, last.
    Finally,
}

impl HookPhase {
    /// The phase's name in configuration and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Before => "before",
            HookPhase::After => "after",
            HookPhase::OnFailure => "on-failure",
            HookPhase::Finally => "finally",
        }
    }
}

/// How one hook ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookReport {
    /// Its phase.
    pub phase: HookPhase,
    /// The command.
    pub command: String,
    /// Its exit code (`None` when killed by a signal or the timeout).
    pub exit_code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Wall time in seconds.
    pub seconds: f64,
    /// The last lines of its output (stdout and stderr together).
    pub output: String,
}

impl HookReport {
    /// Whether the hook succeeded.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// One line for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        let how = if self.timed_out {
            format!("timed out after {:.0}s", self.seconds)
        } else {
            match self.exit_code {
                Some(c) => format!("exited {c}"),
                None => "was killed".to_owned(),
            }
        };
        let last = self.output.lines().last().unwrap_or("").trim();
        if last.is_empty() {
            format!("{} hook `{}` {how}", self.phase.as_str(), self.command)
        } else {
            format!(
                "{} hook `{}` {how}: {last}",
                self.phase.as_str(),
                self.command
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            lockstep_version: "0.1.0".into(),
            set: "admin".into(),
            host: "dx1".into(),
            mode: "admin".into(),
            im_version: Some("1.9.2".into()),
            members: vec![],
            inventory: Inventory::default(),
            excludes: Some(vec!["/opt/x/logs/**".into()]),
            consistency: Consistency::default(),
            preflight: PreflightRecord::default(),
            hooks: Vec::new(),
        }
    }

    #[test]
    fn round_trips_through_the_description() {
        let m = manifest();
        let text = m.to_description().unwrap();
        assert_eq!(Manifest::from_description(Some(&text)).unwrap(), Some(m));
    }

    #[test]
    fn foreign_descriptions_are_not_manifests() {
        assert_eq!(Manifest::from_description(None).unwrap(), None);
        assert_eq!(
            Manifest::from_description(Some("nightly run")).unwrap(),
            None
        );
        assert_eq!(Manifest::from_description(Some("{\"a\":1}")).unwrap(), None);
    }

    #[test]
    fn newer_schemas_are_refused() {
        let err = Manifest::from_description(Some("{\"schema_version\":99}")).unwrap_err();
        assert!(err.contains("upgrade lockstep"));
    }
}
