//! Backup: the whole sync set as ONE restic-format snapshot.
//!
//! Every member (registry file, IM install, agent data, shared resources, package groups,
//! profiles) goes into a single snapshot tree at its logical path, so the snapshot is one
//! moment of the whole set. The snapshot carries the manifest and the tags `lockstep` and
//! `set=<name>`; its parent is the previous snapshot of the same set and host, so unchanged
//! files are not read again.
//!
//! The set never shrinks silently (rule 6 of the design): before anything is read, the set is
//! compared with the parent snapshot's. A member or package group the parent had and the set
//! has lost, or an IM record that cannot be read (missing, damaged, not a file), refuses the
//! backup naming what vanished and why — unless the administrator accepts the smaller set
//! (`--accept-smaller-set`), which the manifest then records. A member that is the whole
//! filesystem, or that holds the repository, is refused too.
//!
//! rustic_core *skips* entries it cannot read (with a log line) and still writes the snapshot.
//! A set with a hole in it is not a backup an administrator can trust, so [`SetSource`] records
//! every walk, open and read error, and [`backup`] removes such a snapshot and fails.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustic_core::repofile::SnapshotFile;
use rustic_core::{
    BackupOptions, IndexedIdsStatus, LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions,
    ReadSource, ReadSourceEntry, ReadSourceOpen, RusticResult, SnapshotOptions,
};
use serde::Serialize;

use crate::host::digest::state_digest;
use crate::host::excludes::{Excludes, role_paths};
use crate::host::fingerprint::{Changes, Fingerprint};
use crate::host::root::HostRoot;
use crate::host::state::RestoreRecord;
use crate::im::discover::{DiscoverOptions, Instance, discover_one_lenient, select};
use crate::ops::hooks::{Hooks, run_phase};
use crate::ops::preflight::{PreflightOptions, PreflightReport, preflight};
use crate::repo::OpenRepo;
use crate::repo::manifest::{
    Consistency, Manifest, PreflightRecord, SCHEMA_VERSION, TAG, Verdict, set_tag,
};
use crate::repo::manifest::{HookPhase, HookReport};
use crate::repo::tree::dir_node;
use crate::util::fault;
use crate::{Error, Result};

/// The repository with its index loaded, as a backup needs it.
type IndexedRepo = rustic_core::Repository<IndexedIdsStatus>;

/// What to back up, how to label it and which safety rules apply.
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// The host's filesystem.
    pub host: &'a HostRoot,
    /// The discovered instance whose set is backed up.
    pub instance: &'a Instance,
    /// How the instance was discovered (to read IM's records again after the snapshot).
    pub discover: DiscoverOptions,
    /// The set's name (tags and parent selection).
    pub set_name: String,
    /// The host name recorded in the snapshot.
    pub host_name: String,
    /// A free-text label (`--label`).
    pub label: Option<String>,
    /// Glob patterns (logical paths) left out of product and extra members.
    pub excludes: Vec<String>,
    /// Preflight policy (offline, allowed missing roles, repository directory).
    pub preflight: PreflightOptions,
    /// Attempts after an inconsistent one.
    pub retries: u32,
    /// Hooks around the backup.
    pub hooks: Hooks,
    /// Back up the set as it is even when it lost members or package groups since its parent
    /// snapshot, or IM's records cannot be read (`--accept-smaller-set`); recorded in the
    /// manifest.
    pub accept_smaller_set: bool,
    /// What was last restored in place for this set and host (lockstep's state directory):
    /// the backup right after a rollback proves the live set is that snapshot from metadata
    /// alone ([`crate::ops::restore::proof`]).
    pub last_restore: Option<RestoreRecord>,
}

impl<'a> BackupRequest<'a> {
    /// A request with the default policy: online allowed, nothing missing allowed, 2 retries,
    /// no hooks, no excludes, no free-space check.
    #[must_use]
    pub fn new(
        host: &'a HostRoot,
        instance: &'a Instance,
        discover: DiscoverOptions,
        host_name: String,
    ) -> Self {
        Self {
            host,
            instance,
            discover,
            set_name: instance.name.clone(),
            host_name,
            label: None,
            excludes: Vec::new(),
            preflight: PreflightOptions::default(),
            retries: 2,
            hooks: Hooks::default(),
            accept_smaller_set: false,
            last_restore: None,
        }
    }
}

/// The instance a backup acts on: found like [`crate::im::discover::discover`], except that
/// damaged agent-data records do not stop discovery here — the backup itself refuses them
/// (exit 3, naming what the set would lose) or, with `--accept-smaller-set`, backs up what is
/// left.
///
/// # Errors
/// As discovery, for everything but damaged agent-data records; when `name` selects nothing.
pub fn backup_instance(
    host: &HostRoot,
    opts: &DiscoverOptions,
    name: Option<&str>,
) -> Result<Instance> {
    Ok(discover_one_lenient(host, opts, name)?.0)
}

/// What a backup of the set would lose: the members and package groups of the parent snapshot
/// that the set no longer has, and IM's records that cannot be read.
#[derive(Debug, Clone, Default)]
struct Shrink {
    /// Each vanished member or package group, in words.
    vanished: Vec<String>,
    /// Each record that cannot be read, naming the file and what is wrong with it.
    records: Vec<String>,
}

impl Shrink {
    /// Compares the request's set with the parent's manifest and reads IM's records leniently.
    fn of(req: &BackupRequest<'_>, parent: Option<&Manifest>) -> Result<Self> {
        let mut shrink = Self::default();
        if let Some(parent) = parent {
            let set = &req.instance.set;
            let gone = set.vanished_since(&parent.members);
            for m in &gone {
                shrink.vanished.push(match &m.package_group {
                    Some(group) => {
                        format!("{} {} (package group '{group}')", m.role, m.path.display())
                    }
                    None => format!("{} {}", m.role, m.path.display()),
                });
            }
            let now = &req.instance.inventory.package_groups;
            for g in &parent.inventory.package_groups {
                let kept = now.iter().any(|n| n.id == g.id && n.path == g.path);
                let named = gone.iter().any(|m| m.path == Path::new(&g.path));
                if !kept && !named {
                    shrink
                        .vanished
                        .push(format!("package group '{}' ({})", g.id, g.path));
                }
            }
        }
        let (_, problems) =
            discover_one_lenient(req.host, &req.discover, Some(&req.instance.name))?;
        shrink
            .records
            .extend(problems.into_iter().map(|p| p.message));
        Ok(shrink)
    }

    fn is_empty(&self) -> bool {
        self.vanished.is_empty() && self.records.is_empty()
    }

    /// What the manifest records when the smaller set is accepted.
    fn accepted(&self) -> Vec<String> {
        let vanished = self.vanished.iter().map(|v| format!("vanished: {v}"));
        let records = self.records.iter().map(|r| format!("unreadable: {r}"));
        vanished.chain(records).collect()
    }

    /// The one-line refusal.
    fn refusal(&self, set: &str, parent: Option<&str>) -> String {
        let list = |items: &[String]| {
            let mut out = items.iter().take(4).cloned().collect::<Vec<_>>().join(", ");
            if items.len() > 4 {
                out.push_str(&format!(" and {} more", items.len() - 4));
            }
            out
        };
        let mut msg = if self.vanished.is_empty() {
            format!(
                "IM's records for the set {set} cannot be read, so the set may be missing what \
                 they record: {}",
                self.records.join("; ")
            )
        } else {
            let why = if self.records.is_empty() {
                "IM's records and the configuration no longer name them".to_owned()
            } else {
                format!("IM's records are damaged: {}", self.records.join("; "))
            };
            format!(
                "the set {set} would lose {} it had in snapshot {}: {} — because {why}",
                if self.vanished.len() == 1 {
                    "1 member".to_owned()
                } else {
                    format!("{} members", self.vanished.len())
                },
                parent.map(crate::util::report::short).unwrap_or_default(),
                list(&self.vanished)
            )
        };
        msg.push_str(
            "; nothing was backed up — repair IM's records or restore them from a snapshot, or, \
             if the smaller set is intended, run the backup again with --accept-smaller-set",
        );
        msg
    }
}

/// Refuses members no backup of the set may have: the whole filesystem, or a member that holds
/// the repository (the backup would read its own output).
fn unsafe_members(req: &BackupRequest<'_>) -> Result<()> {
    let origin = |path: &Path| {
        req.instance
            .origins
            .iter()
            .find(|o| o.path == path)
            .map(|o| format!(" (from {})", o.source))
            .unwrap_or_default()
    };
    if let Some(m) = req.instance.set.at_root().next() {
        return Err(Error::Refused(format!(
            "set member {} '{}'{} is the whole filesystem ('/'), which no restore could put back \
             as one directory of the set; nothing was backed up — correct the record or the \
             configuration that names it",
            m.role,
            m.path.display(),
            origin(&m.path)
        )));
    }
    let Some(repo) = &req.preflight.repository_dir else {
        return Ok(());
    };
    let repo = std::fs::canonicalize(repo).unwrap_or_else(|_| repo.clone());
    for m in req.instance.set.members.iter().filter(|m| m.exists) {
        let physical = req.host.physical(m.data_path());
        let physical = std::fs::canonicalize(&physical).unwrap_or(physical);
        if repo.starts_with(&physical) {
            return Err(Error::Refused(format!(
                "the repository {} is inside set member {} '{}'{}: the backup would read its \
                 own repository; nothing was backed up — keep the repository outside the set",
                repo.display(),
                m.role,
                m.path.display(),
                origin(&m.path)
            )));
        }
    }
    Ok(())
}

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The new snapshot's id.
    pub snapshot: String,
    /// The parent snapshot used for change detection, if any.
    pub parent: Option<String>,
    /// The set name.
    pub set: String,
    /// The host name.
    pub host: String,
    /// Files seen for the first time.
    pub files_new: u64,
    /// Files changed since the parent.
    pub files_changed: u64,
    /// Files unchanged since the parent (not read again).
    pub files_unmodified: u64,
    /// The set's metadata was exactly as the parent recorded it, so the snapshot reuses the
    /// parent's tree and the engine did not walk or read the set.
    pub unchanged: bool,
    /// Bytes in all files of the set.
    pub bytes_total: u64,
    /// New data added to the repository, before compression.
    pub bytes_added: u64,
    /// New data added to the repository, as stored (compressed, encrypted).
    pub bytes_stored: u64,
    /// Wall time of the snapshot, in seconds.
    pub seconds: f64,
    /// The consistency check's result.
    pub consistency: Consistency,
    /// What preflight found.
    pub preflight: PreflightReport,
    /// Every hook that ran, in order.
    pub hooks: Vec<HookReport>,
}

/// Why a backup failed, with what ran on the way.
#[derive(Debug)]
pub struct BackupFailure {
    /// The error to show.
    pub error: Error,
    /// Hooks that ran (before, on-failure, finally).
    pub hooks: Vec<HookReport>,
    /// The preflight report, when preflight ran.
    pub preflight: Option<Box<PreflightReport>>,
}

impl From<Error> for BackupFailure {
    fn from(error: Error) -> Self {
        Self {
            error,
            hooks: Vec::new(),
            preflight: None,
        }
    }
}

/// Paths of entries that changed while the product members were read, kept in the manifest.
const PRODUCT_CHANGES_KEPT: usize = 50;

/// Backs up the instance's set as one consistent snapshot: before hooks → preflight →
/// fingerprint → snapshot → fingerprint again (retrying when IM's roles changed) → after hooks;
/// on-failure hooks when anything failed, finally hooks always.
///
/// # Errors
/// Refused (exit 3) by preflight or when the set kept changing; an error when a hook failed,
/// any file of the set could not be read (the snapshot is discarded), or the repository fails.
pub fn backup(repo: OpenRepo, req: &BackupRequest<'_>) -> Result<BackupReport, BackupFailure> {
    let _step = crate::repo::progress::step("backup");
    let mut env: Vec<(&str, String)> = vec![
        ("LOCKSTEP_SET", req.set_name.clone()),
        ("LOCKSTEP_HOST", req.host_name.clone()),
        ("LOCKSTEP_ROOT", req.host.root().display().to_string()),
    ];
    let mut hooks = run_phase(&req.hooks, HookPhase::Before, &env);
    let mut preflight_report = None;
    let result = match hooks.iter().find(|h| !h.ok()) {
        Some(failed) => Err(Error::Other(format!(
            "{}; nothing was backed up",
            failed.describe()
        ))),
        None => {
            let before = hooks.clone();
            attempt(repo, req, before, &mut preflight_report)
        }
    };
    let result = result.and_then(|mut outcome| {
        env.push(("LOCKSTEP_SNAPSHOT", outcome.snapshot.clone()));
        let after = run_phase(&req.hooks, HookPhase::After, &env);
        let failed = after.iter().find(|h| !h.ok()).map(HookReport::describe);
        hooks.extend(after);
        match failed {
            Some(msg) => Err(Error::Other(format!(
                "snapshot {} was saved, but the {msg}",
                crate::util::report::short(&outcome.snapshot)
            ))),
            None => {
                outcome.hooks.clone_from(&hooks);
                Ok(outcome)
            }
        }
    });
    let result = match result {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            hooks.extend(run_phase(&req.hooks, HookPhase::OnFailure, &env));
            Err(error)
        }
    };
    hooks.extend(run_phase(&req.hooks, HookPhase::Finally, &env));
    match result {
        Ok(mut outcome) => {
            outcome.hooks = hooks;
            Ok(outcome)
        }
        Err(error) => Err(BackupFailure {
            error,
            hooks,
            preflight: preflight_report.map(Box::new),
        }),
    }
}

/// Preflight, then snapshot attempts until one is consistent.
fn attempt(
    repo: OpenRepo,
    req: &BackupRequest<'_>,
    before_hooks: Vec<HookReport>,
    preflight_out: &mut Option<PreflightReport>,
) -> Result<BackupReport> {
    let parent_snap = crate::repo::newest_consistent(&repo, &req.set_name, &req.host_name)?;
    let parent = parent_snap.as_ref().map(crate::repo::SetSnapshot::id);
    // Rule 6, before the set is walked or read: nothing vanishes without the administrator's
    // word, and nothing that cannot be a member is read.
    let shrink = Shrink::of(req, parent_snap.as_ref().and_then(|s| s.manifest.as_ref()))?;
    if !shrink.is_empty() && !req.accept_smaller_set {
        return Err(Error::Refused(
            shrink.refusal(&req.set_name, parent.as_deref()),
        ));
    }
    unsafe_members(req)?;
    let mut walk = Walk::new(req, parent)?;
    // The parent's recorded state: when the set's metadata still has exactly that digest, the
    // parent's tree *is* the set, and no file needs to be looked at again.
    let parent_state = parent_snap
        .as_ref()
        .and_then(|s| s.manifest.as_ref()?.consistency.set_state.clone());
    // The first backup after an in-place restore reads the index to prove the set is the
    // restored snapshot (`try_restored`): it is read while the set is fingerprinted.
    let repo = if req.last_restore.as_ref().is_some_and(|r| r.proof.is_some()) {
        Err(std::thread::spawn(move || repo.to_indexed_ids()))
    } else {
        Ok(repo)
    };
    let (pf_opts, mut first_fingerprints) =
        walk.preflight_options(parent_snap.as_ref(), parent_state.is_some());
    let report = walk.preflight(&pf_opts, preflight_out)?;
    let mut manifest = walk.manifest(&report, &shrink, before_hooks);
    use std::ops::ControlFlow::{Break, Continue};
    let repo = match repo {
        Ok(repo) => match walk.try_unchanged(
            &repo,
            &mut manifest,
            parent_snap.as_ref(),
            parent_state.as_deref(),
            first_fingerprints.as_ref(),
        )? {
            Some(outcome) => Break(outcome),
            None => {
                let _t = crate::util::timing::phase("backup: index");
                Continue(repo.to_indexed_ids()?)
            }
        },
        Err(reading) => {
            let t = crate::util::timing::phase("backup: index");
            let repo = reading
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            drop(t);
            match walk.try_unchanged(
                &repo,
                &mut manifest,
                parent_snap.as_ref(),
                parent_state.as_deref(),
                first_fingerprints.as_ref(),
            )? {
                Some(outcome) => Break(outcome),
                None => Continue(repo),
            }
        }
    };
    let repo = match repo {
        Continue(repo) => repo,
        Break(outcome) => {
            return Ok(BackupReport {
                preflight: report,
                ..outcome
            });
        }
    };
    if let Some(outcome) = walk.try_restored(
        &repo,
        &mut manifest,
        parent_snap.as_ref(),
        &mut first_fingerprints,
    )? {
        return Ok(BackupReport {
            preflight: report,
            ..outcome
        });
    }

    let attempts = req.retries + 1;
    let mut last_changes = Changes::default();
    let mut last_error: Option<String> = None;
    for n in 1..=attempts {
        let before = first_fingerprints
            .take()
            .unwrap_or_else(|| walk.fingerprints());
        match walk.try_once(&repo, n, before, &mut manifest)? {
            Tried::Consistent(outcome) => {
                return Ok(BackupReport {
                    preflight: report,
                    ..*outcome
                });
            }
            Tried::Moved { changes, error } => {
                last_changes = changes;
                last_error = error;
            }
        }
    }
    Err(Error::Refused(format!(
        "IM's directories kept changing while they were read ({attempts} attempt{}): {}; no snapshot was kept — make sure Installation Manager is not running and nothing else writes there, then run again",
        if attempts == 1 { "" } else { "s" },
        last_error.unwrap_or_else(|| last_changes.sample(5))
    )))
}

/// What one backup's steps share: the request, the parent snapshot, the set's paths (IM's and
/// the products') and the exclude rules, which leave out of the fingerprints what they leave out
/// of the snapshot.
struct Walk<'r, 'a> {
    req: &'r BackupRequest<'a>,
    parent: Option<String>,
    /// The engine may take a file as the parent's when its mtime and size are (not its inode
    /// and ctime): after an in-place restore, whose proof covers every entry but those changed
    /// since, and those differ from the parent in mtime or size ([`crate::ops::restore::proof`]).
    trust_mtime: bool,
    im_paths: Vec<PathBuf>,
    other_paths: Vec<PathBuf>,
    excludes: Excludes,
}

/// How one snapshot attempt ended.
enum Tried {
    /// Nothing moved while the set was read: the sealed snapshot.
    Consistent(Box<BackupReport>),
    /// The set moved (or IM's records could not be read); the snapshot was discarded.
    Moved {
        /// What changed under the backup.
        changes: Changes,
        /// Why IM's records could not be read, when that was the reason.
        error: Option<String>,
    },
}

impl<'r, 'a> Walk<'r, 'a> {
    /// The set's paths split by role, and the exclude rules.
    fn new(req: &'r BackupRequest<'a>, parent: Option<String>) -> Result<Self> {
        let set = &req.instance.set;
        let im_paths = role_paths(set, true);
        let other_paths = role_paths(set, false);
        // What the backup leaves out is left out of its fingerprints too: a log it does not read
        // may be written while it runs, and the set's state is what the snapshot holds.
        let excludes = Excludes::new(&req.excludes, &im_paths)?;
        Ok(Self {
            req,
            parent,
            trust_mtime: false,
            im_paths,
            other_paths,
            excludes,
        })
    }

    /// The fingerprints of IM's paths and of the products' paths, taken before data is read.
    fn fingerprints(&self) -> (Fingerprint, Fingerprint) {
        let _t = crate::util::timing::phase("backup: fingerprint before");
        (
            Fingerprint::take(self.req.host, &self.im_paths, &self.excludes),
            Fingerprint::take(self.req.host, &self.other_paths, &self.excludes),
        )
    }

    /// The set's state digest from its two fingerprints.
    fn digest(&self, im: &Fingerprint, other: &Fingerprint) -> Result<Option<String>> {
        state_digest(
            self.req.host,
            &self.req.instance.set,
            &self.req.excludes,
            [im, other],
        )
    }

    /// The preflight options for this backup, and the first attempt's fingerprints when they are
    /// needed before preflight: to compare with the parent's recorded state, or to give a first
    /// backup the set's size for its free-space estimate (so the set is walked once for both).
    fn preflight_options(
        &self,
        parent_snap: Option<&crate::repo::SetSnapshot>,
        parent_state: bool,
    ) -> (PreflightOptions, Option<(Fingerprint, Fingerprint)>) {
        let mut pf_opts = self.req.preflight.clone();
        pf_opts.incremental = parent_snap.is_some();
        pf_opts.known_set_bytes = parent_snap
            .and_then(|s| s.snapshot.summary.as_ref())
            .map(|s| s.total_bytes_processed);
        let mut first_fingerprints = None;
        if parent_state || (pf_opts.known_set_bytes.is_none() && pf_opts.repository_dir.is_some()) {
            let (im, other) = self.fingerprints();
            pf_opts
                .known_set_bytes
                .get_or_insert(im.file_bytes() + other.file_bytes());
            first_fingerprints = Some((im, other));
        }
        (pf_opts, first_fingerprints)
    }

    /// Runs preflight, hands its report to the caller, and refuses the backup on its first
    /// refusal (counting the others).
    fn preflight(
        &self,
        pf_opts: &PreflightOptions,
        preflight_out: &mut Option<PreflightReport>,
    ) -> Result<PreflightReport> {
        let t = crate::util::timing::phase("backup: preflight");
        let report = preflight(self.req.host, self.req.instance, pf_opts);
        drop(t);
        *preflight_out = Some(report.clone());
        if let Some(first) = report.refusals.first() {
            let more = report.refusals.len() - 1;
            return Err(Error::Refused(if more == 0 {
                first.clone()
            } else {
                format!("{first} (and {more} more: see `lockstep preflight`)")
            }));
        }
        Ok(report)
    }

    /// The snapshot's manifest before any attempt: the set, its inventory and what preflight
    /// found; the consistency is filled in by the attempt that succeeds.
    fn manifest(
        &self,
        report: &PreflightReport,
        shrink: &Shrink,
        before_hooks: Vec<HookReport>,
    ) -> Manifest {
        let req = self.req;
        Manifest {
            schema_version: SCHEMA_VERSION,
            lockstep_version: env!("CARGO_PKG_VERSION").into(),
            set: req.set_name.clone(),
            host: req.host_name.clone(),
            mode: req.instance.mode.as_str().into(),
            im_version: req.instance.inventory.im_version.clone(),
            members: req.instance.set.members.clone(),
            inventory: req.instance.inventory.clone(),
            excludes: Some(req.excludes.clone()),
            consistency: Consistency::default(),
            preflight: PreflightRecord {
                mode: report.mode.clone(),
                process_rule: report.process_rule.clone(),
                servers_running: report
                    .servers_running
                    .iter()
                    .map(|s| format!("{} (pid {})", s.name, s.pid))
                    .collect(),
                missing_allowed: report.missing.iter().map(|(_, p)| p.clone()).collect(),
                skipped: if report.space.is_none() {
                    vec!["free space: the repository is not a local directory".into()]
                } else {
                    Vec::new()
                },
                accepted_smaller_set: shrink.accepted(),
            },
            hooks: before_hooks,
        }
    }

    /// The no-change backup, when the set's digest now equals the parent's recorded state (see
    /// [`unchanged`]); `None` when it does not, or the set moved meanwhile.
    fn try_unchanged<S: rustic_core::Open>(
        &self,
        repo: &rustic_core::Repository<S>,
        manifest: &mut Manifest,
        parent_snap: Option<&crate::repo::SetSnapshot>,
        parent_state: Option<&str>,
        first_fingerprints: Option<&(Fingerprint, Fingerprint)>,
    ) -> Result<Option<BackupReport>> {
        let t = crate::util::timing::phase("backup: state digest");
        let unchanged_now = match (parent_state, first_fingerprints) {
            (Some(state), Some((im, other))) => self.digest(im, other)?.as_deref() == Some(state),
            _ => false,
        };
        drop(t);
        if unchanged_now
            && let (Some(parent), Some(state), Some((im, other))) =
                (parent_snap, parent_state, first_fingerprints)
        {
            return unchanged(
                repo,
                self.req,
                manifest,
                parent,
                (im, other),
                (&self.im_paths, &self.other_paths, &self.excludes),
                state,
            );
        }
        Ok(None)
    }

    /// The backups after an in-place restore, while every snapshot of the set taken since has
    /// the restored snapshot's tree: when the restore's proof covers the live set
    /// ([`crate::ops::restore::proof`]), a set unchanged since is a new snapshot with that tree,
    /// as a no-change backup reuses its parent's; a set changed since goes the ordinary way with
    /// the restored snapshot as parent, the engine taking files by mtime and size (the proof
    /// covers the others; the changed ones differ in one or the other), so only the changes
    /// are read. `None` to go the ordinary way (the fingerprints, taken here when the caller
    /// had none, are left for it).
    fn try_restored(
        &mut self,
        repo: &IndexedRepo,
        manifest: &mut Manifest,
        parent_snap: Option<&crate::repo::SetSnapshot>,
        first_fingerprints: &mut Option<(Fingerprint, Fingerprint)>,
    ) -> Result<Option<BackupReport>> {
        let req = self.req;
        let Some((record, proof)) = req
            .last_restore
            .as_ref()
            .and_then(|r| Some((r, r.proof.as_ref()?)))
        else {
            return Ok(None);
        };
        let Some(snapshot) = repo
            .get_snapshots(&[record.snapshot.as_str()])
            .ok()
            .and_then(|mut s| s.pop())
        else {
            return Ok(None);
        };
        let restored = crate::repo::SetSnapshot {
            manifest: Manifest::from_description(snapshot.description.as_deref())
                .ok()
                .flatten(),
            snapshot,
        };
        // A snapshot taken since the restore with another tree recorded the set as it is.
        let restored_at = record.time.parse::<rustic_core::jiff::Timestamp>().ok();
        let parent = match parent_snap {
            Some(p) if Some(p.snapshot.time.timestamp()) >= restored_at => {
                if p.snapshot.tree != restored.snapshot.tree {
                    return Ok(None);
                }
                p
            }
            _ => &restored,
        };
        // The restored snapshot's tree is this backup's only if it was taken of the same set,
        // members and excludes, and proved consistent.
        let Some(taken) = restored.manifest.as_ref() else {
            return Ok(None);
        };
        if taken.set != req.set_name
            || taken.consistency.verdict != Verdict::Consistent
            || taken.members != req.instance.set.members
            || taken.excludes.as_ref() != Some(&req.excludes)
        {
            return Ok(None);
        }
        let t = crate::util::timing::phase("backup: prove the restored set");
        let (im, other) = first_fingerprints.get_or_insert_with(|| self.fingerprints());
        let since = crate::ops::restore::proof::prove(
            repo,
            &restored.snapshot,
            proof,
            req.host,
            [im, other],
        )?;
        drop(t);
        match since {
            None => Ok(None),
            Some(since) if since.is_empty() => {
                let Some(state) = self.digest(im, other)? else {
                    return Ok(None);
                };
                unchanged(
                    repo,
                    req,
                    manifest,
                    parent,
                    (im, other),
                    (&self.im_paths, &self.other_paths, &self.excludes),
                    &state,
                )
            }
            Some(_) => {
                self.parent = Some(parent.id());
                self.trust_mtime = true;
                Ok(None)
            }
        }
    }

    /// Attempt `n`: reads IM's records (again, after the first), writes a snapshot and
    /// fingerprints the set afterwards. IM's side moving discards the snapshot for another
    /// attempt; product files moving under `--offline` refuses the backup; otherwise the
    /// snapshot is sealed.
    fn try_once(
        &self,
        repo: &IndexedRepo,
        n: u32,
        (im_before, other_before): (Fingerprint, Fingerprint),
        manifest: &mut Manifest,
    ) -> Result<Tried> {
        let req = self.req;
        // IM's records are read after the fingerprint, so a change after this point shows.
        let inventory = if n == 1 {
            Ok(req.instance.inventory.clone())
        } else {
            rediscover(req)
        };
        // Where the crash and race tests step in: after the fingerprint, before any data is read.
        fault::point("backup-reading");
        let inventory = match inventory {
            Ok(inventory) => inventory,
            Err(e) => {
                return Ok(Tried::Moved {
                    changes: Changes::default(),
                    error: Some(e.to_string()),
                });
            }
        };
        let group_paths = |inv: &crate::im::inventory::Inventory| -> Vec<String> {
            inv.package_groups.iter().map(|g| g.path.clone()).collect()
        };
        if group_paths(&inventory) != group_paths(&req.instance.inventory) {
            return Err(Error::Refused(
                "IM's package groups changed while lockstep was backing them up (an install or uninstall finished); no snapshot was kept — run the backup again".into(),
            ));
        }
        manifest.im_version.clone_from(&inventory.im_version);
        manifest.inventory = inventory.clone();
        manifest.consistency = Consistency {
            verdict: Verdict::Unverified,
            attempts: n,
            ..Consistency::default()
        };
        let t = crate::util::timing::phase("backup: engine");
        let set_bytes = im_before.file_bytes() + other_before.file_bytes();
        let snap = write_snapshot(
            repo,
            req,
            manifest,
            (self.parent.as_ref(), self.trust_mtime),
            &self.excludes,
            Some(set_bytes),
        )?;
        drop(t);
        let t = crate::util::timing::phase("backup: fingerprint after");
        fault::point("backup-written");

        let changes = self.im_changes(&im_before, &inventory);
        if !changes.is_empty() {
            repo.delete_snapshots(&[snap.id])?;
            return Ok(Tried::Moved {
                changes,
                error: None,
            });
        }
        let product_changes = other_before.changes_now(req.host, &self.other_paths, &self.excludes);
        if req.preflight.offline && !product_changes.is_empty() {
            repo.delete_snapshots(&[snap.id])?;
            return Err(Error::Refused(format!(
                "product files changed while they were read ({}), which an --offline backup does not allow; the snapshot was discarded — stop whatever writes there and run again",
                product_changes.sample(3)
            )));
        }
        drop(t);
        let outcome = self.seal_consistent(
            repo,
            n,
            snap,
            manifest,
            &product_changes,
            (&im_before, &other_before),
        )?;
        Ok(Tried::Consistent(Box::new(outcome)))
    }

    /// What moved on IM's side while the snapshot was written: IM's paths fingerprinted again,
    /// and IM's records read again — a different inventory, or records that no longer parse
    /// (caught half-written), mean the set moved under the backup.
    fn im_changes(
        &self,
        im_before: &Fingerprint,
        inventory: &crate::im::inventory::Inventory,
    ) -> Changes {
        let req = self.req;
        let mut changes = im_before.changes_now(req.host, &self.im_paths, &self.excludes);
        if rediscover(req).ok().as_ref() != Some(inventory)
            && !changes
                .changed
                .iter()
                .any(|p| p.starts_with(&req.instance.agent_data))
        {
            changes
                .changed
                .push(req.instance.agent_data.join("installed.xml"));
        }
        changes
    }

    /// Seals a consistent attempt's snapshot: records the consistency (with the set's state
    /// digest when nothing at all moved) and returns the outcome (its preflight report is the
    /// caller's to fill in).
    fn seal_consistent(
        &self,
        repo: &IndexedRepo,
        n: u32,
        snap: SnapshotFile,
        manifest: &mut Manifest,
        product_changes: &Changes,
        (im_before, other_before): (&Fingerprint, &Fingerprint),
    ) -> Result<BackupReport> {
        let req = self.req;
        let paths = product_changes.paths();
        // Nothing moved while the set was read: the tree is exactly the state fingerprinted.
        let set_state = if paths.is_empty() {
            let _t = crate::util::timing::phase("backup: state digest");
            self.digest(im_before, other_before)?
        } else {
            None
        };
        manifest.consistency = Consistency {
            verdict: Verdict::Consistent,
            attempts: n,
            product_changes: paths.len(),
            product_changed_paths: paths.into_iter().take(PRODUCT_CHANGES_KEPT).collect(),
            set_state,
        };
        let t = crate::util::timing::phase("backup: seal");
        let final_id = seal(repo, snap.clone(), manifest)?;
        drop(t);
        let summary = snap.summary.clone().unwrap_or_default();
        Ok(BackupReport {
            snapshot: final_id,
            parent: self.parent.clone(),
            set: req.set_name.clone(),
            host: req.host_name.clone(),
            files_new: summary.files_new,
            files_changed: summary.files_changed,
            files_unmodified: summary.files_unmodified,
            unchanged: false,
            bytes_total: summary.total_bytes_processed,
            bytes_added: summary.data_added,
            bytes_stored: summary.data_added_packed,
            seconds: summary.total_duration,
            consistency: manifest.consistency.clone(),
            preflight: PreflightReport::default(),
            hooks: Vec::new(),
        })
    }
}

/// The no-change backup. The set's metadata digest equals the parent's recorded state, so the
/// parent's tree is the set as it is now: the new snapshot points at that tree, and no file is
/// read or listed by the engine. The set is fingerprinted again afterwards, as every backup is;
/// when anything moved, `None` sends the caller down the ordinary path.
fn unchanged<S: rustic_core::Open>(
    repo: &rustic_core::Repository<S>,
    req: &BackupRequest<'_>,
    manifest: &mut Manifest,
    parent: &crate::repo::SetSnapshot,
    (im_before, other_before): (&Fingerprint, &Fingerprint),
    (im_paths, other_paths, excludes): (&[PathBuf], &[PathBuf], &Excludes),
    state: &str,
) -> Result<Option<BackupReport>> {
    let started = std::time::Instant::now();
    fault::point("backup-reading");
    let t = crate::util::timing::phase("backup: fingerprint after");
    if !im_before
        .changes_now(req.host, im_paths, excludes)
        .is_empty()
        || rediscover(req).ok().as_ref() != Some(&req.instance.inventory)
        || !other_before
            .changes_now(req.host, other_paths, excludes)
            .is_empty()
    {
        return Ok(None);
    }
    drop(t);
    manifest.consistency = Consistency {
        verdict: Verdict::Consistent,
        attempts: 1,
        set_state: Some(state.to_owned()),
        ..Consistency::default()
    };
    let mut snap = SnapshotOptions::default()
        .host(req.host_name.clone())
        .label(req.label.clone().unwrap_or_default())
        .description(describe(manifest)?)
        .add_tags(&format!("{TAG},{}", set_tag(&req.set_name)))
        .map_err(Error::from)?
        .to_snapshot()?;
    let from = &parent.snapshot;
    snap.tree = from.tree;
    snap.paths = from.paths.clone();
    snap.parent = Some(from.id);
    snap.parents = vec![from.id];
    let totals = from.summary.clone().unwrap_or_default();
    let mut summary = rustic_core::repofile::SnapshotSummary::default();
    summary.files_unmodified = totals.total_files_processed;
    summary.total_files_processed = totals.total_files_processed;
    summary.total_bytes_processed = totals.total_bytes_processed;
    summary.dirs_unmodified = totals.total_dirs_processed;
    summary.total_dirs_processed = totals.total_dirs_processed;
    summary.total_dirsize_processed = totals.total_dirsize_processed;
    summary.command = "lockstep backup (unchanged set)".into();
    summary.backup_end = rustic_core::jiff::Zoned::now();
    summary.backup_duration = started.elapsed().as_secs_f64();
    summary.total_duration = summary.backup_duration;
    snap.summary = Some(summary.clone());
    let _t = crate::util::timing::phase("backup: seal");
    let id = save(repo, snap, None)?;
    Ok(Some(BackupReport {
        snapshot: id,
        parent: Some(parent.id()),
        set: req.set_name.clone(),
        host: req.host_name.clone(),
        files_new: 0,
        files_changed: 0,
        files_unmodified: summary.files_unmodified,
        unchanged: true,
        bytes_total: summary.total_bytes_processed,
        bytes_added: 0,
        bytes_stored: 0,
        seconds: summary.total_duration,
        consistency: manifest.consistency.clone(),
        preflight: PreflightReport::default(),
        hooks: Vec::new(),
    }))
}

/// The instance's inventory as IM records it now (with `--accept-smaller-set`, read as the
/// backup's instance was: damage accepted before the backup is no change).
fn rediscover(req: &BackupRequest<'_>) -> Result<crate::im::inventory::Inventory> {
    if req.accept_smaller_set {
        return Ok(backup_instance(req.host, &req.discover, Some(&req.instance.name))?.inventory);
    }
    // The records read cleanly when the backup began: one that no longer does was caught
    // half-written, and is a change.
    let all = crate::im::discover::discover(req.host, &req.discover)?;
    Ok(select(&all, Some(&req.instance.name))?.inventory.clone())
}

/// Writes one snapshot of the set with `manifest`; discards it when anything could not be read.
fn write_snapshot(
    repo: &IndexedRepo,
    req: &BackupRequest<'_>,
    manifest: &Manifest,
    (parent, trust_mtime): (Option<&String>, bool),
    excludes: &Excludes,
    set_bytes: Option<u64>,
) -> Result<SnapshotFile> {
    let mut snap_opts = SnapshotOptions::default()
        .host(req.host_name.clone())
        .label(req.label.clone().unwrap_or_default())
        .description(describe(manifest)?);
    snap_opts = snap_opts
        .add_tags(&format!("{TAG},{}", set_tag(&req.set_name)))
        .map_err(Error::from)?;
    let snap = snap_opts.to_snapshot()?;

    let mut opts = BackupOptions::default();
    // The engine would walk the set a second time to learn its size; the fingerprint knows it
    // (the source answers the engine's question from it), so the bar has its total and ETA
    // from the start.
    opts.no_scan = set_bytes.is_none();
    match parent {
        Some(id) => {
            opts.parent_opts.parents = vec![id.clone()];
            opts.parent_opts.ignore_ctime = trust_mtime;
            // Inodes are not compared either way: rustic_core 0.13's parent match (archiver/
            // parent.rs, `is_parent`) reads `ignore_inode` inverted — it compares inodes only
            // when told to ignore them — so the default leaves them out, as `trust_mtime`
            // needs. Setting it here would make every restored file (new inode) a change.
        }
        // Never let rustic pick a parent from another set by its own grouping.
        None => opts.parent_opts.force = true,
    }
    let paths = req.instance.set.top_level_paths();
    let mut source = SetSource::new(req.host.clone(), paths.clone(), excludes.clone());
    source.known_size = set_bytes;
    // With no parent the engine reads every file of the set: read ahead of it.
    source.read_ahead(parent.is_none());
    let problems = source.problems();
    let snap = repo.archive(&opts, &source, snap, &paths)?;
    let problems = problems.lock().map(|p| p.clone()).unwrap_or_default();
    if let Some(first) = problems.first() {
        repo.delete_snapshots(&[snap.id])?;
        return Err(Error::Other(format!(
            "backup incomplete: {} entr{} of the set could not be read (first: {first}); the snapshot was discarded — fix the cause and run the backup again",
            problems.len(),
            if problems.len() == 1 { "y" } else { "ies" }
        )));
    }
    Ok(snap)
}

fn describe(manifest: &Manifest) -> Result<String> {
    manifest
        .to_description()
        .map_err(|e| Error::Other(format!("cannot encode the manifest: {e}")))
}

/// Replaces the unverified snapshot by one carrying the final manifest; returns its id.
fn seal(repo: &IndexedRepo, snap: SnapshotFile, manifest: &Manifest) -> Result<String> {
    // Bookkeeping, not a step anyone waits for: no "removing snapshots..." in a backup's log.
    let _quiet = crate::repo::progress::step(crate::repo::progress::QUIET);
    let old = snap.id;
    let mut sealed = snap;
    sealed.description = Some(describe(manifest)?);
    let new = save(repo, sealed, Some(old))?;
    repo.delete_snapshots(&[old])?;
    Ok(new)
}

/// Saves `snap` and returns its id (the engine computes it while saving and does not return it;
/// the saved file is found again by tree, time and description, other than `not`).
fn save<S: rustic_core::Open>(
    repo: &rustic_core::Repository<S>,
    snap: SnapshotFile,
    not: Option<rustic_core::repofile::SnapshotId>,
) -> Result<String> {
    let (tree, time, description) = (snap.tree, snap.time.clone(), snap.description.clone());
    repo.save_snapshots(vec![snap])?;
    let new = crate::repo::all_snapshots(repo)?
        .into_iter()
        .find(|s| {
            s.tree == tree && s.time == time && s.description == description && Some(s.id) != not
        })
        .ok_or_else(|| {
            Error::Repo("the verified snapshot could not be found after saving it; run `lockstep snapshots`".into())
        })?;
    Ok(new.id.to_hex().as_str().to_owned())
}

/// Shared list of problems met while reading the set.
type Problems = Arc<Mutex<Vec<String>>>;

fn record(problems: &Problems, msg: String) {
    if let Ok(mut p) = problems.lock() {
        p.push(msg);
    }
}

/// A `ReadSource` over the set's members that presents every entry at its *logical* path (so a
/// host under `--root` is stored as the host sees itself), records the metadata of member roots
/// and their parent directories, and records every error instead of skipping it silently.
pub struct SetSource {
    host: HostRoot,
    members: Vec<PathBuf>,
    excludes: Excludes,
    problems: Problems,
    read_ahead: bool,
    /// The bytes of the set's files, when a fingerprint has counted them: the engine's
    /// question for the size of the source, answered without a walk.
    pub known_size: Option<u64>,
}

impl SetSource {
    /// A source over `members` (logical data paths; nested ones already removed).
    #[must_use]
    pub fn new(host: HostRoot, mut members: Vec<PathBuf>, excludes: Excludes) -> Self {
        members.sort();
        Self {
            host,
            members,
            excludes,
            problems: Arc::default(),
            read_ahead: false,
            known_size: None,
        }
    }

    /// The problems recorded so far (shared with the running backup).
    #[must_use]
    pub fn problems(&self) -> Problems {
        Arc::clone(&self.problems)
    }

    /// Whether the source hints the files it lists to the kernel ahead of the engine
    /// ([`crate::host::prefetch`]): worth it only when the engine reads every file, as in a backup
    /// with no parent. Off by default.
    pub fn read_ahead(&mut self, on: bool) {
        self.read_ahead = on;
    }
}

type LocalOpen = <LocalSource as ReadSource>::Open;
type Entry = RusticResult<ReadSourceEntry<TrackedOpen>>;

impl ReadSource for SetSource {
    type Open = TrackedOpen;
    type Iter = Box<dyn Iterator<Item = Entry> + Send>;

    fn size(&self) -> RusticResult<Option<u64>> {
        Ok(self.known_size)
    }

    fn entries(&self) -> Self::Iter {
        let entries = self.member_entries();
        if !self.read_ahead {
            return entries;
        }
        let host = self.host.clone();
        Box::new(crate::host::prefetch::Prefetch::new(
            entries,
            move |entry: &Entry| {
                let entry = entry.as_ref().ok()?;
                (entry.open.is_some() && entry.node.is_file())
                    .then(|| (host.physical(&entry.path), entry.node.meta.size))
            },
        ))
    }
}

impl SetSource {
    /// Every member's entries, in tree order.
    fn member_entries(&self) -> Box<dyn Iterator<Item = Entry> + Send> {
        let mut parts: Vec<Box<dyn Iterator<Item = Entry> + Send>> = Vec::new();
        let mut emitted: BTreeSet<PathBuf> = BTreeSet::new();
        for member in &self.members {
            let physical = self.host.physical(member);
            // Parent directories first, each once, with their real metadata.
            let mut ancestors: Vec<&Path> = member.ancestors().skip(1).collect();
            ancestors.reverse();
            let mut heads = Vec::new();
            for dir in ancestors {
                if dir == Path::new("/") || !emitted.insert(dir.to_path_buf()) {
                    continue;
                }
                heads.push(self.dir_entry(dir));
            }
            let is_dir = std::fs::symlink_metadata(&physical).is_ok_and(|m| m.is_dir());
            if is_dir {
                heads.push(self.dir_entry(member));
            }
            parts.push(Box::new(heads.into_iter().flatten()));
            parts.push(self.walk(member.clone(), physical));
        }
        Box::new(parts.into_iter().flatten())
    }
}

impl SetSource {
    /// The entry for directory `logical` itself (not its contents).
    fn dir_entry(&self, logical: &Path) -> Option<Entry> {
        let name = logical.file_name().unwrap_or(OsStr::new("/"));
        match dir_node(name, &self.host.physical(logical)) {
            Ok(node) => Some(Ok(ReadSourceEntry {
                path: logical.to_path_buf(),
                node,
                open: None,
            })),
            Err(e) => {
                record(&self.problems, format!("{}: {e}", logical.display()));
                None
            }
        }
    }

    /// The member's contents, renamed from physical to logical paths.
    fn walk(&self, logical: PathBuf, physical: PathBuf) -> Box<dyn Iterator<Item = Entry> + Send> {
        let source = match LocalSource::new(
            LocalSourceSaveOptions::default(),
            &rustic_core::Excludes::default(),
            &LocalSourceFilterOptions::default(),
            std::slice::from_ref(&physical),
        ) {
            Ok(s) => s,
            Err(e) => {
                record(
                    &self.problems,
                    format!(
                        "{}: {}",
                        logical.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                return Box::new(std::iter::empty());
            }
        };
        let problems = Arc::clone(&self.problems);
        let excludes = self.excludes.clone();
        // Entries arrive in tree order, so an excluded directory's contents follow it directly.
        let mut excluded_dir: Option<PathBuf> = None;
        Box::new(source.entries().filter_map(move |item| match item {
            Ok(ReadSourceEntry { path, node, open }) => {
                let rel = path.strip_prefix(&physical).unwrap_or(Path::new(""));
                let logical_path = if rel.as_os_str().is_empty() {
                    logical.clone()
                } else {
                    logical.join(rel)
                };
                if excluded_dir
                    .as_ref()
                    .is_some_and(|d| logical_path.starts_with(d))
                {
                    return None;
                }
                if excludes.excludes(&logical_path) {
                    if node.is_dir() {
                        excluded_dir = Some(logical_path);
                    }
                    return None;
                }
                let open = open.map(|inner| TrackedOpen {
                    inner,
                    path: logical_path.clone(),
                    problems: Arc::clone(&problems),
                });
                Some(Ok(ReadSourceEntry {
                    path: logical_path,
                    node,
                    open,
                }))
            }
            Err(e) => {
                record(
                    &problems,
                    format!(
                        "under {}: {}",
                        logical.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                None
            }
        }))
    }
}

/// Opens a file of the set, recording failures.
pub struct TrackedOpen {
    inner: LocalOpen,
    path: PathBuf,
    problems: Problems,
}

impl ReadSourceOpen for TrackedOpen {
    type Reader = TrackedReader<<LocalOpen as ReadSourceOpen>::Reader>;

    fn open(self) -> RusticResult<Self::Reader> {
        match self.inner.open() {
            Ok(reader) => Ok(TrackedReader {
                inner: reader,
                path: self.path,
                problems: self.problems,
            }),
            Err(e) => {
                record(
                    &self.problems,
                    format!(
                        "{}: {}",
                        self.path.display(),
                        crate::error::rustic_message(&e)
                    ),
                );
                Err(e)
            }
        }
    }
}

/// Reads a file of the set, recording read errors.
pub struct TrackedReader<R> {
    inner: R,
    path: PathBuf,
    problems: Problems,
}

impl<R: Read> Read for TrackedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            record(&self.problems, format!("{}: {e}", self.path.display()));
        })
    }
}
