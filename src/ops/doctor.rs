//! Live desync detection: IM's records against what is on disk, on the live host.
//!
//! [`doctor`] checks each IM instance for the damage that makes a host impossible to update or
//! roll back: agent-data records (`installed.xml`, `installRegistry.xml`) that do not parse,
//! package-group directories IM lists that are missing or empty, product version files whose
//! level disagrees with the offering IM records (the product files and IM's records are not from
//! the same moment — the "not recoverable" case), and a missing IM install, agent data or
//! shared-resources directory. It reads only; every finding says what to do.
//!
//! The IBM file formats are read by [`crate::im`]; this module only turns their answers into
//! findings. A version file lockstep cannot compare is an *info* finding, never an error.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::Result;
use crate::host::root::HostRoot;
use crate::host::set::Role;
use crate::im::discover::{DiscoverOptions, Instance, RecordProblem, discover_lenient};
use crate::im::inventory::PackageGroup;
use crate::im::product_version::{ProductFileCheck, VersionCheck, check_group, product_ids};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// IM and the products are out of step, or IM's records are damaged.
    Error,
    /// Something to look at; IM can probably still work.
    Warning,
    /// A check lockstep could not make.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One thing `doctor` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub what: String,
    /// The file or directory concerned (logical path).
    pub path: PathBuf,
    /// What to do about it.
    pub todo: String,
}

/// What `doctor` looked at, so a clean report says how much was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// IM records read (`installed.xml`, `installRegistry.xml`).
    pub records: usize,
    /// Package groups IM lists.
    pub package_groups: usize,
    /// Product version files compared with IM's records.
    pub version_files: usize,
}

/// The findings for one IM instance.
#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    /// The instance's name.
    pub instance: String,
    /// IM's agent data directory.
    pub agent_data: PathBuf,
    /// What was checked.
    pub checked: Checked,
    /// The findings, errors first.
    pub findings: Vec<Finding>,
}

impl DoctorReport {
    /// Number of findings of `severity`.
    #[must_use]
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// Whether any finding is an error.
    #[must_use]
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
}

const RESTORE_WHOLE_SET: &str = "restore the whole set (IM and products together) from a lockstep snapshot whose inventory matches the products on disk (`lockstep snapshots`, `lockstep diff`), never IM or the products alone";

/// Checks every IM instance on the host (or only `instance`, by name).
///
/// # Errors
/// When discovery fails for a reason other than a damaged agent-data record (an unreadable
/// registry file, an unknown instance name …).
pub fn doctor(
    host: &HostRoot,
    opts: &DiscoverOptions,
    instance: Option<&str>,
) -> Result<Vec<DoctorReport>> {
    let all = discover_lenient(host, opts)?;
    let names: Vec<Instance> = all.iter().map(|(i, _)| i.clone()).collect();
    if let Some(name) = instance {
        crate::im::discover::select(&names, Some(name))?;
    }
    Ok(all
        .into_iter()
        .filter(|(i, _)| instance.is_none_or(|n| i.name == n))
        .map(|(i, problems)| check_instance(host, &i, &problems))
        .collect())
}

/// The findings for one instance found by lenient discovery.
///
/// The checks run in this order, and a finding's place among those of equal severity follows it:
/// IM's own directories, IM's records (damaged, then missing), then each package group and its
/// products' version files.
#[must_use]
pub fn check_instance(
    host: &HostRoot,
    instance: &Instance,
    problems: &[RecordProblem],
) -> DoctorReport {
    let mut checked = Checked::default();
    let mut findings = missing_directories(instance);
    findings.extend(damaged_records(problems));
    findings.extend(missing_records(host, instance, problems, &mut checked));
    findings.extend(package_groups(host, instance, &mut checked));
    findings.sort_by_key(|f| f.severity);
    DoctorReport {
        instance: instance.name.clone(),
        agent_data: instance.agent_data.clone(),
        checked,
        findings,
    }
}

/// IM's own directories (install, agent data, shared resources) and extra set members that are
/// missing: without the first three IM cannot update or roll back at all.
///
/// A missing shared-resources directory is an error only when IM's records name it; the default
/// location may simply never have been created.
fn missing_directories(instance: &Instance) -> Vec<Finding> {
    let mut findings = Vec::new();
    for m in instance.set.missing() {
        let (what, severity) = match m.role {
            Role::ImInstall => ("IM's install directory is missing", Severity::Error),
            Role::ImAgentData => ("IM's agent data directory is missing", Severity::Error),
            Role::ImShared if instance.inventory.shared_location.is_some() => (
                "IM's shared resources directory (cacheLocation in IM's records) is missing",
                Severity::Error,
            ),
            Role::ImShared => (
                "IM's shared resources directory (the default for this mode; IM's records name none) is missing",
                Severity::Warning,
            ),
            Role::Extra => ("a set member (extra) is missing", Severity::Warning),
            // Package groups are checked below; the registry file was read to find the instance.
            Role::Product | Role::ImRegistry => continue,
        };
        findings.push(Finding {
            severity,
            what: what.into(),
            path: m.path.clone(),
            todo: if m.role == Role::Extra {
                "restore it, or remove it from the set (--extra / `extras` in the configuration)"
                    .into()
            } else {
                format!(
                    "IM cannot update or roll back without it: {RESTORE_WHOLE_SET}, or reinstall IM"
                )
            },
        });
    }
    findings
}

/// One error per IM record lenient discovery could not use, so a damaged record is reported
/// instead of failing the whole check.
fn damaged_records(problems: &[RecordProblem]) -> impl Iterator<Item = Finding> + '_ {
    problems.iter().map(|p| Finding {
        severity: Severity::Error,
        // a record that parses may still hold what lockstep cannot use (a Windows path)
        what: format!("IM's record cannot be used: {}", p.message),
        path: p.path.clone(),
        todo: format!(
            "IM cannot update or roll back while it is damaged (an interrupted update can cut it short): {RESTORE_WHOLE_SET}"
        ),
    })
}

/// Counts the usable agent-data records (`installed.xml`, `installRegistry.xml`) in `checked`
/// and reports each one missing from an agent data directory that exists.
///
/// A missing record is a warning while IM lists no package groups (IM may be empty), an error
/// when the other record still lists some: those installs can no longer be updated.
fn missing_records(
    host: &HostRoot,
    instance: &Instance,
    problems: &[RecordProblem],
    checked: &mut Checked,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for name in ["installed.xml", "installRegistry.xml"] {
        let logical = instance.agent_data.join(name);
        let damaged = problems.iter().any(|p| p.path == logical);
        if host.physical(&logical).is_file() {
            if !damaged {
                checked.records += 1;
            }
        } else if host.physical(&instance.agent_data).is_dir() {
            findings.push(missing_record(instance, name, logical));
        }
    }
    findings
}

/// The finding for agent-data record `name` missing at `logical`.
fn missing_record(instance: &Instance, name: &str, logical: PathBuf) -> Finding {
    // The other record may still list package groups: then IM has installs it cannot
    // update, roll back or uninstall, which is an error, not an empty IM.
    let groups = &instance.inventory.package_groups;
    let other = if name == "installed.xml" {
        "installRegistry.xml"
    } else {
        "installed.xml"
    };
    let (severity, what, todo) = if groups.is_empty() {
        (
            Severity::Warning,
            format!("IM's agent data has no {name}, so IM knows of no installed packages"),
            format!("if packages are installed here, IM's records are lost: {RESTORE_WHOLE_SET}"),
        )
    } else {
        (
            Severity::Error,
            format!(
                "IM's agent data has no {name}, though {other} lists {} package group{} \
                 ({}): IM cannot update, roll back or uninstall them without it",
                groups.len(),
                if groups.len() == 1 { "" } else { "s" },
                groups
                    .iter()
                    .map(|g| g.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("IM's records are incomplete: {RESTORE_WHOLE_SET}"),
        )
    };
    Finding {
        severity,
        what,
        path: logical,
        todo,
    }
}

/// Each package group IM lists: its directory must exist and hold something, and its products'
/// version files must agree with the offering IM records (counted in `checked`).
fn package_groups(host: &HostRoot, instance: &Instance, checked: &mut Checked) -> Vec<Finding> {
    let mut findings = Vec::new();
    // WebSphere editions name their `.product` file through `was.install.productid`.
    let ids = product_ids(host, &instance.agent_data);
    for group in &instance.inventory.package_groups {
        if !group.path.starts_with('/') {
            // A path this host cannot have (a Windows path, a relative one) was reported above
            // as a record lockstep cannot use; there is no directory here to look at.
            continue;
        }
        checked.package_groups += 1;
        if let Some(finding) = group_directory(host, group) {
            findings.push(finding);
            continue;
        }
        for file in check_group(host, group, &ids) {
            if let Some(finding) = version_file(file, checked) {
                findings.push(finding);
            }
        }
    }
    findings
}

/// An error when the package group's directory is missing or empty: IM's records say a product
/// is installed there, so the product files and IM's records no longer match.
fn group_directory(host: &HostRoot, group: &PackageGroup) -> Option<Finding> {
    let logical = Path::new(&group.path);
    let physical = host
        .resolve(logical)
        .map_or_else(|_| host.physical(logical), |r| host.physical(&r));
    let state = match std::fs::read_dir(&physical) {
        Ok(mut entries) => entries.next().is_none().then_some("empty"),
        Err(_) => Some("missing"),
    }?;
    Some(Finding {
        severity: Severity::Error,
        what: format!(
            "IM lists package group {} ({}) here, but the directory is {state}",
            group.id,
            offerings_shown(group)
        ),
        path: logical.to_path_buf(),
        todo: format!(
            "{RESTORE_WHOLE_SET}; or, if the product is really gone, uninstall it with IM so its records match"
        ),
    })
}

/// The finding for one product version file, or none when it agrees with IM's records; a file
/// that was compared (agreeing or not) is counted in `checked`.
fn version_file(file: ProductFileCheck, checked: &mut Checked) -> Option<Finding> {
    let (severity, what, todo) = match file.check {
        VersionCheck::Agrees { .. } => {
            checked.version_files += 1;
            return None;
        }
        VersionCheck::Disagrees {
            offering,
            recorded,
            found,
        } => {
            checked.version_files += 1;
            (
                Severity::Error,
                format!(
                    "the product says it is at {found}, but IM records {offering} at {recorded}: the product files and IM's records are not from the same moment"
                ),
                format!(
                    "IM cannot safely update or roll back this package group: {RESTORE_WHOLE_SET}"
                ),
            )
        }
        VersionCheck::Unreadable { error } => (
            Severity::Warning,
            format!("the product's version file does not parse: {error}"),
            format!(
                "the product's version tools will fail too: {RESTORE_WHOLE_SET}, or reapply the current fix pack with IM"
            ),
        ),
        VersionCheck::Unknown { reason } => (
            Severity::Info,
            format!("not compared with IM's records: {reason}"),
            "nothing, unless you know this file should match; check it with the product's versionInfo tool".into(),
        ),
    };
    Some(Finding {
        severity,
        what,
        path: file.path,
        todo,
    })
}

/// The group's offerings as `id version` (the display version when IM records one), so a
/// missing directory's finding says which product is gone.
fn offerings_shown(group: &PackageGroup) -> String {
    let shown: Vec<String> = group
        .offerings
        .iter()
        .map(|o| {
            format!(
                "{} {}",
                o.id,
                o.display_version.as_deref().unwrap_or(&o.version)
            )
        })
        .collect();
    if shown.is_empty() {
        "no offerings".into()
    } else {
        shown.join(", ")
    }
}
