//! Preflight: is it safe to take (or restore) a consistent snapshot of the set right now?
//!
//! Checks, each reported with the rule that ran:
//! - **IM running** — any process whose executable or command line points into the instance's
//!   `eclipse` directory or its agent data, or (on the running host only) is named like an IM
//!   program (`IBMIM`, `imcl`, `installc` …). IM running always refuses: it may be rewriting its
//!   records. With `--root DIR` only path matches count, against the DIR-prefixed paths, because a
//!   bare name may belong to the machine running lockstep rather than the mounted host.
//! - **Product servers running** — WebSphere writes `<profile>/logs/<server>/<server>.pid`; a pid
//!   file whose process is alive is a running server. Allowed (an *online* backup, recorded as
//!   such) unless `--offline`.
//! - **Set members** exist and are readable (missing ones refuse, unless allowed per role).
//! - **Free space** in a local repository's filesystem.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sysinfo::{ProcessRefreshKind, RefreshKind, System, UpdateKind};

use crate::host::root::HostRoot;
use crate::host::set::Role;
use crate::im::discover::Instance;

/// Process names of IM's programs (docs/im-facts.md §3).
pub const IM_PROGRAM_NAMES: [&str; 7] = [
    "IBMIM",
    "IBMIMc",
    "imcl",
    "imutilsc",
    "installc",
    "userinstc",
    "groupinstc",
];

/// What the caller will do with the set, which decides what refuses.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// Running product servers refuse (`--offline`).
    pub offline: bool,
    /// Roles whose members may be missing (`--allow-missing ROLE`).
    pub allow_missing: Vec<Role>,
    /// The local repository directory, for the free-space check.
    pub repository_dir: Option<PathBuf>,
    /// Whether the set already has a snapshot (an incremental backup needs far less room).
    pub incremental: bool,
    /// The set's size when it is already known (the previous snapshot's), which saves a walk
    /// of the whole set for the free-space estimate.
    pub known_set_bytes: Option<u64>,
}

/// A process that looks like IM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImProcess {
    /// Its process id.
    pub pid: u32,
    /// Its command line.
    pub command: String,
    /// Why it counts: `path` (points into IM's directories) or `name`.
    pub matched_by: String,
}

/// A running (or stale) WebSphere server found through its pid file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// The server name (`WebSphere_Portal`, `dmgr`, `server1` …).
    pub name: String,
    /// The pid file (logical path).
    pub pid_file: PathBuf,
    /// The pid it names.
    pub pid: u32,
}

/// Free space in the repository's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Space {
    /// The directory checked.
    pub path: PathBuf,
    /// Bytes available to lockstep.
    pub available: u64,
    /// Bytes the backup may need (the whole set for a first backup, a twentieth for an
    /// incremental one, at least 16 MiB).
    pub needed: u64,
}

/// What preflight found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreflightReport {
    /// Which process rule ran: `path+name` on the running host, `path` under `--root`.
    pub process_rule: String,
    /// IM processes found (any refuses).
    pub im_processes: Vec<ImProcess>,
    /// Product servers whose pid file names a live process.
    pub servers_running: Vec<Server>,
    /// Pid files naming a dead process (informational).
    pub stale_pid_files: Vec<PathBuf>,
    /// Members that do not exist (logical paths, with role).
    pub missing: Vec<(Role, PathBuf)>,
    /// Members that exist but cannot be read.
    pub unreadable: Vec<(Role, PathBuf)>,
    /// Free-space check, for a local repository.
    pub space: Option<Space>,
    /// `online` when product servers were running, else `offline`.
    pub mode: String,
    /// Reasons the operation must not proceed (empty: go ahead).
    pub refusals: Vec<String>,
    /// Things worth knowing that do not refuse.
    pub warnings: Vec<String>,
}

impl PreflightReport {
    /// Whether the operation may proceed.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// Runs every check for `instance`'s set.
#[must_use]
pub fn preflight(host: &HostRoot, instance: &Instance, opts: &PreflightOptions) -> PreflightReport {
    let mut report = PreflightReport {
        process_rule: if host.is_system_root() {
            "path+name".into()
        } else {
            "path".into()
        },
        ..PreflightReport::default()
    };
    report.check_im(host, instance);
    report.check_servers(host, instance, opts);
    report.check_members(host, instance, opts);
    report.check_space(host, instance, opts);
    report
}

impl PreflightReport {
    /// IM running always refuses: it may be rewriting its records.
    fn check_im(&mut self, host: &HostRoot, instance: &Instance) {
        self.im_processes = im_processes(host, instance);
        for p in &self.im_processes {
            self.refusals.push(format!(
                "IBM Installation Manager is running (pid {}: {}); wait for it to finish or stop it, then run again",
                p.pid, p.command
            ));
        }
    }

    /// Running product servers make the operation `online`: a warning, or a refusal with
    /// `--offline`. Stale pid files are recorded too.
    fn check_servers(&mut self, host: &HostRoot, instance: &Instance, opts: &PreflightOptions) {
        let (running, stale) = servers(host, instance);
        self.servers_running = running;
        self.stale_pid_files = stale;
        self.mode = if self.servers_running.is_empty() {
            "offline".into()
        } else {
            "online".into()
        };
        if !self.servers_running.is_empty() {
            let names: Vec<String> = self
                .servers_running
                .iter()
                .map(|s| format!("{} (pid {})", s.name, s.pid))
                .collect();
            if opts.offline {
                self.refusals.push(format!(
                    "product servers are running: {}; stop them (stopServer.sh) for an --offline backup",
                    names.join(", ")
                ));
            } else {
                self.warnings.push(format!(
                    "online backup: product servers are running ({}); their logs and caches may change while they are read",
                    names.join(", ")
                ));
            }
        }
    }

    /// Every set member exists (unless its role may be missing) and can be read.
    fn check_members(&mut self, host: &HostRoot, instance: &Instance, opts: &PreflightOptions) {
        for m in &instance.set.members {
            if !m.exists {
                self.missing.push((m.role, m.path.clone()));
                if !opts.allow_missing.contains(&m.role) {
                    self.refusals.push(format!(
                        "set member {} {} does not exist on the host; restore it, check IM's records with `lockstep discover`, or allow it with --allow-missing {}",
                        m.role,
                        m.path.display(),
                        m.role
                    ));
                }
            } else if !readable(&host.physical(m.data_path()), m.is_file) {
                self.unreadable.push((m.role, m.path.clone()));
                self.refusals.push(format!(
                    "set member {} {} cannot be read by this user; run lockstep as the owner of the installation (or root)",
                    m.role,
                    m.path.display()
                ));
            }
        }
    }

    /// A local repository's filesystem has room for the backup: the whole set for a first one,
    /// a twentieth for an incremental one, at least 16 MiB.
    fn check_space(&mut self, host: &HostRoot, instance: &Instance, opts: &PreflightOptions) {
        let Some(dir) = &opts.repository_dir else {
            return;
        };
        let set_bytes = opts
            .known_set_bytes
            .unwrap_or_else(|| set_size(host, instance));
        let needed = if opts.incremental {
            (set_bytes / 20).max(16 << 20)
        } else {
            set_bytes.max(16 << 20)
        };
        if let Some((path, available)) = free_space(dir) {
            if available < needed {
                self.refusals.push(format!(
                    "not enough free space for the repository: {} available in {}, the backup may need about {}; free space or use another repository",
                    crate::util::report::bytes(available),
                    path.display(),
                    crate::util::report::bytes(needed)
                ));
            }
            self.space = Some(Space {
                path,
                available,
                needed,
            });
        }
    }
}

/// Processes that look like IM working on this instance.
fn im_processes(host: &HostRoot, instance: &Instance) -> Vec<ImProcess> {
    let mut needles: Vec<String> = Vec::new();
    if let Some(install) = &instance.install {
        needles.push(
            host.physical(&install.join("eclipse"))
                .to_string_lossy()
                .into_owned(),
        );
    }
    needles.push(
        host.physical(&instance.agent_data)
            .to_string_lossy()
            .into_owned(),
    );
    let by_name = host.is_system_root();
    let Ok(system) = System::new_with_specifics(
        RefreshKind::nothing().with_processes(
            ProcessRefreshKind::nothing()
                .with_cmd(UpdateKind::Always)
                .with_exe(UpdateKind::Always),
        ),
    ) else {
        return Vec::new();
    };
    let mine = own_line(&system);
    let mut found: Vec<ImProcess> = system
        .processes()
        .iter()
        .filter(|(pid, p)| !mine.contains(&pid.as_u32()) && p.thread_kind().is_none())
        .filter_map(|(pid, p)| {
            let cmd: Vec<String> = p
                .cmd()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let exe = p.exe().map(|e| e.to_string_lossy().into_owned());
            let points_into = |s: &str| needles.iter().any(|n| s.contains(n.as_str()));
            let matched_by =
                if exe.as_deref().is_some_and(points_into) || cmd.iter().any(|a| points_into(a)) {
                    "path"
                } else if by_name && is_im_name(p.name()) {
                    "name"
                } else {
                    return None;
                };
            Some(ImProcess {
                pid: pid.as_u32(),
                command: if cmd.is_empty() {
                    p.name().to_string_lossy().into_owned()
                } else {
                    cmd.join(" ")
                },
                matched_by: matched_by.into(),
            })
        })
        .collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// This process and its ancestors. They are never IM working beside lockstep: they are waiting
/// for it — `timeout 600 lockstep guard -- …/eclipse/tools/imcl …`, `sudo`, `bash -c`, a
/// scheduler — even when their command lines name IM's paths.
fn own_line(system: &System) -> Vec<u32> {
    let mut line = vec![std::process::id()];
    let mut pid = sysinfo::Pid::from_u32(std::process::id());
    while let Some(parent) = system.process(pid).and_then(sysinfo::Process::parent) {
        if line.contains(&parent.as_u32()) {
            break;
        }
        line.push(parent.as_u32());
        pid = parent;
    }
    line
}

fn is_im_name(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    let stem = name.strip_suffix(".exe").unwrap_or(&name);
    IM_PROGRAM_NAMES.contains(&stem)
}

/// Running servers and stale pid files under the set's product and extra members.
fn servers(host: &HostRoot, instance: &Instance) -> (Vec<Server>, Vec<PathBuf>) {
    let mut running = Vec::new();
    let mut stale = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for m in instance
        .set
        .members
        .iter()
        .filter(|m| m.exists && matches!(m.role, Role::Product | Role::Extra))
    {
        let base = m.data_path().to_path_buf();
        let mut profiles = vec![base.clone()];
        if let Ok(entries) = std::fs::read_dir(host.physical(&base.join("profiles"))) {
            let mut names: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            names.sort();
            profiles.extend(names.into_iter().map(|n| base.join("profiles").join(n)));
        }
        for profile in profiles {
            let logs = profile.join("logs");
            let Ok(entries) = std::fs::read_dir(host.physical(&logs)) else {
                continue;
            };
            let mut dirs: Vec<_> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .collect();
            dirs.sort();
            for server in dirs {
                let name = server.to_string_lossy().into_owned();
                let pid_file = logs.join(&server).join(format!("{name}.pid"));
                if !seen.insert(pid_file.clone()) {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(host.physical(&pid_file)) else {
                    continue;
                };
                let Ok(pid) = text.trim().parse::<u32>() else {
                    stale.push(pid_file);
                    continue;
                };
                if alive(pid) {
                    running.push(Server {
                        name,
                        pid_file,
                        pid,
                    });
                } else {
                    stale.push(pid_file);
                }
            }
        }
    }
    (running, stale)
}

/// Whether a process with this pid exists (and is not a zombie).
#[must_use]
pub fn alive(pid: u32) -> bool {
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid_t <= 0 {
        return false;
    }
    // signal 0 only checks for existence and permission
    let exists = rustix::process::Pid::from_raw(pid_t).is_some_and(|pid| {
        matches!(
            rustix::process::test_kill_process(pid),
            Ok(()) | Err(rustix::io::Errno::PERM)
        )
    });
    if !exists {
        return false;
    }
    // A zombie has exited; its pid file is stale.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => true,
    }
}

/// When the process `pid` started (clock ticks after boot, `/proc/<pid>/stat` field 22), to
/// tell a process from a later one that was given the same pid; `None` when it does not exist.
#[must_use]
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the fields after the command name, which may hold spaces and parentheses: state is field 3
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Whether the process `pid` that started at `started` (see [`start_time`]) still runs; a pid
/// taken over by another process since does not count. Without a start time, whether `pid` runs.
#[must_use]
pub fn alive_since(pid: u32, started: Option<u64>) -> bool {
    alive(pid) && started.is_none_or(|t| start_time(pid) == Some(t))
}

fn readable(path: &Path, is_file: bool) -> bool {
    if is_file {
        std::fs::File::open(path).is_ok()
    } else {
        std::fs::read_dir(path).is_ok()
    }
}

/// Bytes in the set's regular files (metadata only, walked in parallel).
fn set_size(host: &HostRoot, instance: &Instance) -> u64 {
    let paths = instance.set.top_level_paths();
    crate::host::fingerprint::Fingerprint::take(
        host,
        &paths,
        &crate::host::excludes::Excludes::default(),
    )
    .file_bytes()
}

/// Free bytes for an unprivileged writer in the filesystem holding `dir` (or its nearest
/// existing parent).
#[must_use]
pub fn free_space(dir: &Path) -> Option<(PathBuf, u64)> {
    let existing = dir.ancestors().find(|p| p.exists())?.to_path_buf();
    let stat = rustix::fs::statvfs(&existing).ok()?;
    Some((existing, stat.f_bavail * stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im_program_names() {
        assert!(is_im_name(OsStr::new("imcl")));
        assert!(is_im_name(OsStr::new("IBMIMc.exe")));
        assert!(!is_im_name(OsStr::new("java")));
    }

    #[test]
    fn own_and_dead_processes() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
        assert!(!alive(0));
    }

    #[test]
    fn free_space_of_an_existing_parent() {
        let dir = tempfile::tempdir().unwrap();
        let (path, free) = free_space(&dir.path().join("not/yet/there")).unwrap();
        assert_eq!(path, dir.path());
        assert!(free > 0);
    }
}
