//! Discovery: find every IM instance on a host and the sync set each one manages.
//!
//! Follows IM's own records first — registry file → `config.ini` → agent data's
//! `installRegistry.xml` and `installed.xml` → WebSphere's `profileRegistry.xml` — and falls back
//! to the documented defaults of the instance's mode only where the records are silent. Each
//! path's origin is kept in [`Instance::origins`] so an administrator can see why lockstep chose
//! it. Hosts without a registry file (container-style installs made with
//! `imcl -dataLocation …`) are discovered from an explicit agent-data path.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config_ini::{ConfigIni, parse_config_ini};
use super::defaults::{Mode, Platform, default_locations, registry_file_candidates};
use super::install_registry::{InstallRegistryXml, parse_install_registry};
use super::installed::{InstalledXml, parse_installed};
use super::profile_registry::parse_profile_registry;
use super::registry::{RegistryFile, is_windows_path, not_a_directory_path, parse_registry};
use super::{ImError, read_properties, read_text};
use crate::host::root::{HostRoot, clean};
use crate::host::set::{Member, Role, SyncSet};
use crate::im::inventory::Inventory;
use crate::{Error, Result};

/// What discovery should look for besides IM's own records.
#[derive(Debug, Clone, Default)]
pub struct DiscoverOptions {
    /// Start from this agent-data directory (logical path) instead of registry files.
    pub agent_data: Option<PathBuf>,
    /// Extra members (logical paths) added to every instance's set.
    pub extras: Vec<PathBuf>,
}

/// Where a path in the set came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The role whose path this explains.
    pub role: Role,
    /// The logical path.
    pub path: PathBuf,
    /// The record or default it came from, e.g. `config.ini cic.appDataLocation`.
    pub source: String,
}

/// One IM instance on the host, with its sync set and inventory.
#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    /// A short name: `admin`, or the owning user's name (`wasadm`, `wasadm-group`), or
    /// `agent-data` for instances found through `--agent-data`.
    pub name: String,
    /// IM's mode.
    pub mode: Mode,
    /// The registry file (logical path), when there is one.
    pub registry: Option<PathBuf>,
    /// IM's install directory, when there is one.
    pub install: Option<PathBuf>,
    /// IM's agent data directory.
    pub agent_data: PathBuf,
    /// IM's shared resources directory, when known.
    pub shared: Option<PathBuf>,
    /// The members that must stay in lockstep.
    pub set: SyncSet,
    /// What IM says is installed.
    pub inventory: Inventory,
    /// Why each path was chosen.
    pub origins: Vec<Origin>,
    /// What discovery left out of the set, and why, one line each: a path a record holds that
    /// this host cannot use (a Windows path, `/`), naming the record and the value, or a member
    /// IM's records do not name and that does not exist (an IM-only host's shared resources).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Reads an IM record (XML) by its logical path; errors name the logical path.
fn read_logical(host: &HostRoot, logical: &Path) -> Result<String> {
    let physical = host.physical(&host.resolve(logical)?);
    Ok(read_text(&physical).map_err(|e| e.with_path(logical))?)
}

/// Reads a Java properties record by its logical path; errors name the logical path.
fn read_logical_properties(host: &HostRoot, logical: &Path) -> Result<String> {
    let physical = host.physical(&host.resolve(logical)?);
    Ok(read_properties(&physical).map_err(|e| e.with_path(logical))?)
}

/// Whether there is any entry at `logical` — a file, but also a directory, a pipe, a device or
/// a link (dangling or not) where a record should be. Only a name with nothing behind it is an
/// absent record; anything else is read, and reported as what it is when it is not a file.
fn present(host: &HostRoot, logical: &Path) -> Result<bool> {
    let (Some(parent), Some(name)) = (logical.parent(), logical.file_name()) else {
        return Ok(false);
    };
    let entry = host.physical(&host.resolve(parent)?.join(name));
    Ok(std::fs::symlink_metadata(entry).is_ok())
}

/// A directory path read from IM's record `file` (key or element `what`), checked to be one a
/// set can hold.
fn record_dir(value: &str, file: &Path, what: &str) -> Result<PathBuf> {
    if is_windows_path(value) {
        // The record is intact; only its path belongs to another platform.
        return Err(Error::Other(format!(
            "{}: {what} is '{}', a Windows path (a record copied from a Windows install?), \
             which this host cannot hold, so it is left out of the set; restore this host's own \
             IM records, or read the Windows install on Windows",
            file.display(),
            value.trim()
        )));
    }
    if let Some(why) = not_a_directory_path(value.trim()) {
        return Err(Error::Im(ImError::parse(
            file,
            None,
            format!("{what} is '{value}', {why}, so it cannot be a directory of the set"),
        )));
    }
    clean(Path::new(value.trim()))
}

/// A path in IM's record `file` that the set cannot hold (`err` names the record and the
/// value): discovery never stops at it. It is said in the instance's notes, and kept in
/// `problems` (lenient discovery) so that `doctor` reports it and `backup` refuses to leave
/// the directory out without the administrator's word.
fn unusable(
    instance: &mut Instance,
    problems: &mut Option<&mut Vec<RecordProblem>>,
    file: &Path,
    err: &Error,
) {
    instance.notes.push(err.to_string());
    if let Some(list) = problems {
        list.push(RecordProblem {
            path: file.to_path_buf(),
            message: err.to_string(),
        });
    }
}

/// A home directory on the host and the user it belongs to.
struct Home {
    user: String,
    path: PathBuf,
}

/// Finds every IM instance on the host.
///
/// # Errors
/// When an IM record exists but cannot be read or parsed (naming the file), or when
/// `--agent-data` points at a directory without `installed.xml`.
pub fn discover(host: &HostRoot, opts: &DiscoverOptions) -> Result<Vec<Instance>> {
    Ok(discover_inner(host, opts, false)?
        .into_iter()
        .map(|(instance, _)| instance)
        .collect())
}

/// An IM record (`installed.xml`, `installRegistry.xml`) that exists but cannot be read or
/// parsed, met by [`discover_lenient`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordProblem {
    /// The record's logical path.
    pub path: PathBuf,
    /// What is wrong with it, naming the file (and line, where known).
    pub message: String,
}

/// Like [`discover`], but a damaged `installed.xml` or `installRegistry.xml` (not a file,
/// unreadable, not parsing), a missing `installed.xml` and a package group recorded at a path
/// that cannot be a member (`/`, relative) are returned as [`RecordProblem`]s beside their
/// instance instead of failing discovery: the instance's inventory then comes from whichever
/// record is intact. For `doctor`, which must report the damage rather than stop at it, and for
/// `backup` and `status`, which must say what the damage takes out of the set.
///
/// # Errors
/// As [`discover`], except for damaged agent-data records.
pub fn discover_lenient(
    host: &HostRoot,
    opts: &DiscoverOptions,
) -> Result<Vec<(Instance, Vec<RecordProblem>)>> {
    discover_inner(host, opts, true)
}

/// The instance `name` selects (see [`select`]) found by [`discover_lenient`], with every
/// problem its records have, [`missing_records`] included: for the commands that must say what
/// damaged records take out of the set (`backup`, `status`) rather than stop at them.
///
/// # Errors
/// As [`discover_lenient`] and [`select`].
pub fn discover_one_lenient(
    host: &HostRoot,
    opts: &DiscoverOptions,
    name: Option<&str>,
) -> Result<(Instance, Vec<RecordProblem>)> {
    let all = discover_lenient(host, opts)?;
    let instances: Vec<Instance> = all.iter().map(|(i, _)| i.clone()).collect();
    if instances.is_empty() && name.is_none() {
        return Err(nothing_found(host));
    }
    let chosen = select(&instances, name)?.name.clone();
    let (instance, mut problems) = all
        .into_iter()
        .find(|(i, _)| i.name == chosen)
        .ok_or_else(|| Error::Other(format!("IM instance {chosen} vanished while it was read")))?;
    problems.extend(missing_records(host, &instance)?);
    Ok((instance, problems))
}

/// The IM records `instance` should have and has not: `installed.xml` in an agent-data
/// directory that exists. IM records every install there, itself included, so without it the
/// instance's package groups are unknown — the state rule 6 of the design guards against (its
/// set would shrink to IM's own directories without a word).
///
/// # Errors
/// On a symlink loop in the agent data's path.
pub fn missing_records(host: &HostRoot, instance: &Instance) -> Result<Vec<RecordProblem>> {
    let file = instance.agent_data.join("installed.xml");
    let agent_data = host.physical(&host.resolve(&instance.agent_data)?);
    if !agent_data.is_dir() || present(host, &file)? {
        return Ok(Vec::new());
    }
    Ok(vec![RecordProblem {
        message: ImError::parse(
            &file,
            None,
            "missing: IM records every installation there, itself included, so its package \
             groups are unknown",
        )
        .to_string(),
        path: file,
    }])
}

/// Every instance on the host, each with the record problems lenient discovery kept (none when
/// `lenient` is false: a damaged record is then an error), and the extra members added to each.
fn discover_inner(
    host: &HostRoot,
    opts: &DiscoverOptions,
    lenient: bool,
) -> Result<Vec<(Instance, Vec<RecordProblem>)>> {
    let mut instances = if let Some(agent_data) = &opts.agent_data {
        let agent_data = clean(agent_data)?;
        let mut problems = Vec::new();
        let instance = from_agent_data(host, &agent_data, lenient.then_some(&mut problems))?;
        vec![(instance, problems)]
    } else {
        from_registries(host, lenient)?
    };
    for (instance, _) in &mut instances {
        add_extras(host, instance, &opts.extras)?;
    }
    Ok(instances)
}

/// A registry file IM may keep: the instance's name, the mode the place implies, the file's
/// logical path and the home it lies under.
type RegistryCandidate = (String, Mode, PathBuf, String);

/// Where IM may keep its registry files on this host: the admin ones first, then those under
/// each home [`homes`] finds, so instance names and order do not depend on the filesystem.
fn registry_candidates(host: &HostRoot) -> Vec<RegistryCandidate> {
    let mut registries: Vec<RegistryCandidate> = Vec::new();
    for candidate in registry_file_candidates(Platform::Linux, Mode::Admin, "/") {
        registries.push((
            "admin".into(),
            Mode::Admin,
            candidate.into(),
            "/root".into(),
        ));
    }
    for home in homes(host) {
        let home_str = home.path.to_string_lossy().into_owned();
        for candidate in registry_file_candidates(Platform::Linux, Mode::NonAdmin, &home_str) {
            registries.push((
                home.user.clone(),
                Mode::NonAdmin,
                candidate.into(),
                home_str.clone(),
            ));
        }
    }
    registries
}

/// The instances of every registry file present on the host, in [`registry_candidates`]'
/// order. Two registry files naming the same IM install are one instance (the first found): a
/// user's file can point at the admin's IM.
fn from_registries(host: &HostRoot, lenient: bool) -> Result<Vec<(Instance, Vec<RecordProblem>)>> {
    let mut instances: Vec<(Instance, Vec<RecordProblem>)> = Vec::new();
    for (name, mode, registry, home) in registry_candidates(host) {
        if !present(host, &registry)? {
            continue;
        }
        let mut problems = Vec::new();
        let instance = from_registry(
            host,
            &name,
            mode,
            &registry,
            &home,
            lenient.then_some(&mut problems),
        )?;
        if !instances
            .iter()
            .any(|(i, _)| i.install.is_some() && i.install == instance.install)
        {
            instances.push((instance, problems));
        }
    }
    Ok(instances)
}

/// Adds the administrator's extra members (`--extra`, `extras` in the configuration) to
/// `instance`'s set.
///
/// # Errors
/// A usage error for a path that is not clean or is `/`: no restore could put the whole
/// filesystem back as one directory of the set.
fn add_extras(host: &HostRoot, instance: &mut Instance, extras: &[PathBuf]) -> Result<()> {
    for extra in extras {
        let path = clean(extra).map_err(|e| {
            Error::Usage(format!(
                "extra member '{}' (--extra or `extras` in the configuration): {e}",
                extra.display()
            ))
        })?;
        if path == Path::new("/") {
            return Err(Error::Usage(format!(
                "extra member '{}' (--extra or `extras` in the configuration) is the whole \
                 filesystem, which no restore could put back as one directory of the set; \
                 name the directories to add instead",
                extra.display()
            )));
        }
        add_member(
            host,
            instance,
            Role::Extra,
            path,
            None,
            "--extra / configuration",
        )?;
    }
    Ok(())
}

/// Picks the instance a command acts on.
///
/// # Errors
/// When there is none, or several and `name` does not say which.
pub fn select<'a>(instances: &'a [Instance], name: Option<&str>) -> Result<&'a Instance> {
    match (name, instances) {
        (None, []) => Err(Error::Other(
            "no IBM Installation Manager found on this host (no registry file under /etc/.ibm/registry or the etc/.ibm/registry of /root, of any home in /etc/passwd or of /home/*); for an install without a registry give --agent-data DIR"
                .into(),
        )),
        (None, [one]) => Ok(one),
        (None, many) => Err(Error::Usage(format!(
            "this host has {} IM instances ({}); choose one with --instance NAME",
            many.len(),
            many.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
        ))),
        (Some(n), all) => all.iter().find(|i| i.name == n).ok_or_else(|| {
            Error::Usage(format!(
                "no IM instance named '{n}' on this host; instances: {}",
                if all.is_empty() {
                    "none".to_owned()
                } else {
                    all.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")
                }
            ))
        }),
    }
}

/// Every home a non-admin or group IM may keep its registry file in: `/root`, each account's
/// home in the host's own `/etc/passwd` (AIX keeps them under `/users`, Solaris under
/// `/export/home`, service accounts under `/opt/…`), then every directory in `/home` not
/// listed there. A home of `/` is left out: its registry path is the admin one.
fn homes(host: &HostRoot) -> Vec<Home> {
    let mut out = vec![Home {
        user: "root".into(),
        path: PathBuf::from("/root"),
    }];
    let passwd = std::fs::read(host.physical(Path::new("/etc/passwd"))).unwrap_or_default();
    let mut listed: Vec<Home> = String::from_utf8_lossy(&passwd)
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let (user, home) = (fields.first()?.trim(), fields.get(5)?.trim());
            // The classic system accounts (uid 1–99: bin, daemon, adm …) install nothing.
            let uid: u32 = fields.get(2)?.trim().parse().ok()?;
            let path = clean(Path::new(home)).ok()?;
            let usable = !user.is_empty()
                && !user.starts_with('#')
                && !(1..100).contains(&uid)
                && path != Path::new("/")
                && host.physical(&path).is_dir();
            usable.then(|| Home {
                user: user.to_owned(),
                path,
            })
        })
        .collect();
    listed.sort_by(|a, b| a.user.cmp(&b.user));
    for home in listed {
        if !out.iter().any(|h| h.path == home.path) {
            out.push(home);
        }
    }
    if let Ok(entries) = std::fs::read_dir(host.physical(Path::new("/home"))) {
        let mut users: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        users.sort();
        for user in users {
            let path = PathBuf::from("/home").join(&user);
            if !out.iter().any(|h| h.path == path) {
                out.push(Home { user, path });
            }
        }
    }
    out
}

/// Where discovery looks for IM's registry file on this host (logical paths): the admin file
/// and the one under each home [`homes`] finds, with the `/etc/passwd` it read them from. For
/// the message that says nothing was found.
#[must_use]
pub fn searched(host: &HostRoot) -> String {
    let mut places = vec!["/etc/.ibm/registry".to_owned()];
    places.extend(
        homes(host)
            .iter()
            .map(|h| format!("{}/etc/.ibm/registry", h.path.display())),
    );
    format!(
        "no InstallationManager.dat in {} (homes from /etc/passwd and /home)",
        places.join(", ")
    )
}

/// The error for a host where discovery found no IM instance, saying where it looked.
#[must_use]
pub fn nothing_found(host: &HostRoot) -> Error {
    Error::Other(format!(
        "no IBM Installation Manager found on this host: {}; for an install without a registry \
         file give --agent-data DIR",
        searched(host)
    ))
}

/// The instance of registry file `registry` (logical path), found under `home` for `user` in
/// `registry_mode`, with its set: the registry file, IM's install, its agent data and what
/// [`finish`] adds.
///
/// Follows IM's records in the order IM itself does: the registry file names the install,
/// the install's `config.ini` (or else the registry file, or else the mode's default) the agent
/// data, and the agent data's records the mode, the packages and the rest of the set.
fn from_registry(
    host: &HostRoot,
    user: &str,
    registry_mode: Mode,
    registry: &Path,
    home: &str,
    mut problems: Option<&mut Vec<RecordProblem>>,
) -> Result<Instance> {
    let reg = parse_registry(&read_logical_properties(host, registry)?, registry)?;
    let install = install_location(&reg, registry)?;
    let config_logical = install.join("eclipse/configuration/config.ini");
    let config = read_config(host, &config_logical)?;
    let mut notes = Vec::new();
    let (agent_data, agent_source) = agent_data_location(
        &reg,
        config.as_ref(),
        &config_logical,
        registry,
        registry_mode,
        home,
        &mut notes,
    )?;
    let origins = registry_origins(registry, &install, &agent_data, agent_source);

    let records = read_records(host, &agent_data, problems.as_deref_mut())?;
    let mode = records
        .installed
        .as_ref()
        .and_then(|i| i.access_rights())
        .and_then(Mode::from_access_rights)
        .unwrap_or(registry_mode);
    let name = match (registry_mode, mode) {
        (Mode::Admin, _) => "admin".to_owned(),
        (_, Mode::Group) => format!("{user}-group"),
        _ => user.to_owned(),
    };
    let im_version = reg
        .version
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.im_version.clone()))
        .or_else(|| records.self_version());

    let mut instance = Instance {
        name,
        mode,
        registry: Some(registry.to_path_buf()),
        install: Some(install.clone()),
        agent_data: agent_data.clone(),
        shared: None,
        set: SyncSet::default(),
        inventory: records.inventory(im_version, mode),
        origins,
        notes,
    };
    add_member(
        host,
        &mut instance,
        Role::ImRegistry,
        registry.to_path_buf(),
        None,
        "",
    )?;
    add_member(host, &mut instance, Role::ImInstall, install, None, "")?;
    add_member(host, &mut instance, Role::ImAgentData, agent_data, None, "")?;
    finish(
        host,
        &mut instance,
        &records,
        default_shared(mode, home),
        problems,
    )?;
    Ok(instance)
}

/// IM's install directory, from the registry file's `location`: without it the registry file
/// names no IM, which is an error in the file, not an IM to skip.
fn install_location(reg: &RegistryFile, registry: &Path) -> Result<PathBuf> {
    let location = reg.location.clone().ok_or_else(|| {
        Error::Im(ImError::Parse {
            path: registry.to_path_buf(),
            line: None,
            msg: "no 'location' key".into(),
        })
    })?;
    record_dir(&location, registry, "`location`")
}

/// Why the registry file, IM's install and its agent data are in a registry-file instance's
/// set: the install comes from the registry file's `location`, the agent data from
/// `agent_source` (see [`agent_data_location`]).
fn registry_origins(
    registry: &Path,
    install: &Path,
    agent_data: &Path,
    agent_source: String,
) -> Vec<Origin> {
    vec![
        Origin {
            role: Role::ImRegistry,
            path: registry.to_path_buf(),
            source: "registry file".into(),
        },
        Origin {
            role: Role::ImInstall,
            path: install.to_path_buf(),
            source: format!("{} location", registry.display()),
        },
        Origin {
            role: Role::ImAgentData,
            path: agent_data.to_path_buf(),
            source: agent_source,
        },
    ]
}

/// IM's `config.ini` at `config_logical`, when there is one (IM can run without it).
fn read_config(host: &HostRoot, config_logical: &Path) -> Result<Option<ConfigIni>> {
    Ok(if present(host, config_logical)? {
        Some(parse_config_ini(
            &read_logical_properties(host, config_logical)?,
            config_logical,
        )?)
    } else {
        None
    })
}

/// Where a registry-file instance keeps its agent data, and which record or default says so:
/// `config.ini`'s `cic.appDataLocation`, else the registry file's `appDataLocation`, else the
/// default of `registry_mode` under `home` — IM's own order.
///
/// A Windows path (config.ini or the registry file copied from a Windows install) cannot be
/// this host's agent data: it is said in `notes` and the next source is used, never a reason to
/// stop.
///
/// # Errors
/// When a record's path cannot be a directory, or when no record names the agent data and the
/// mode has no default.
fn agent_data_location(
    reg: &RegistryFile,
    config: Option<&ConfigIni>,
    config_logical: &Path,
    registry: &Path,
    registry_mode: Mode,
    home: &str,
    notes: &mut Vec<String>,
) -> Result<(PathBuf, String)> {
    let defaults = default_locations(Platform::Linux, registry_mode, home);
    let mut usable = |value: Option<String>, file: &Path, what: &str| match value {
        Some(p) if is_windows_path(&p) => {
            if let Err(err) = record_dir(&p, file, what) {
                notes.push(err.to_string());
            }
            None
        }
        other => other,
    };
    let config_value = usable(
        config.and_then(|c| c.app_data_location.clone()),
        config_logical,
        "`cic.appDataLocation`",
    );
    let registry_value = usable(reg.app_data_location.clone(), registry, "`appDataLocation`");
    if let Some(p) = config_value {
        Ok((
            record_dir(&p, config_logical, "`cic.appDataLocation`")?,
            format!("{} cic.appDataLocation", config_logical.display()),
        ))
    } else if let Some(p) = registry_value {
        Ok((
            record_dir(&p, registry, "`appDataLocation`")?,
            format!("{} appDataLocation", registry.display()),
        ))
    } else if let Some(d) = &defaults {
        Ok((
            clean(Path::new(&d.agent_data))?,
            format!("default for {} mode", registry_mode.as_str()),
        ))
    } else {
        Err(Error::Other(format!(
            "cannot tell where IM's agent data is for {}; give --agent-data DIR",
            registry.display()
        )))
    }
}

fn from_agent_data(
    host: &HostRoot,
    agent_data: &Path,
    mut problems: Option<&mut Vec<RecordProblem>>,
) -> Result<Instance> {
    let installed_logical = agent_data.join("installed.xml");
    if !present(host, &installed_logical)? {
        return Err(Error::Usage(format!(
            "{} has no installed.xml: is it IM's agent data directory (the -dataLocation given to imcl)?",
            agent_data.display()
        )));
    }
    let records = read_records(host, agent_data, problems.as_deref_mut())?;
    let mode = records
        .installed
        .as_ref()
        .and_then(|i| i.access_rights())
        .and_then(Mode::from_access_rights)
        .unwrap_or(Mode::NonAdmin);
    // IM itself, when installed: the kind='self' location is IM's eclipse directory. Without
    // one, `agent.install.location` names the imcl that last ran — in container builds a kit
    // unpacked in /tmp and gone since — so it counts only when it is still there.
    let eclipse_to_root = |p: &str| -> Result<PathBuf> {
        let p = p.trim_end_matches('/');
        clean(Path::new(p.strip_suffix("/eclipse").unwrap_or(p)))
    };
    let installed = records.installed.as_ref();
    let install = match installed.and_then(InstalledXml::self_location) {
        Some(own) => Some(eclipse_to_root(&own.path)?),
        None => match installed.and_then(|i| i.agent_install_location()) {
            Some(p) => {
                let root = eclipse_to_root(p)?;
                host.physical(&host.resolve(&root)?)
                    .is_dir()
                    .then_some(root)
            }
            None => None,
        },
    };
    let mut instance = Instance {
        name: "agent-data".into(),
        mode,
        registry: None,
        install: install.clone(),
        agent_data: agent_data.to_path_buf(),
        shared: None,
        set: SyncSet::default(),
        inventory: records.inventory(records.self_version(), mode),
        origins: vec![Origin {
            role: Role::ImAgentData,
            path: agent_data.to_path_buf(),
            source: "--agent-data".into(),
        }],
        notes: Vec::new(),
    };
    if let Some(install) = install {
        add_member(
            host,
            &mut instance,
            Role::ImInstall,
            install,
            None,
            "installed.xml (IM's own location)",
        )?;
    }
    add_member(
        host,
        &mut instance,
        Role::ImAgentData,
        agent_data.to_path_buf(),
        None,
        "",
    )?;
    finish(host, &mut instance, &records, None, problems)?;
    Ok(instance)
}

/// The mode's default shared-resources directory.
fn default_shared(mode: Mode, home: &str) -> Option<String> {
    default_locations(Platform::Linux, mode, home).map(|d| d.shared)
}

/// Adds shared resources, package groups and WebSphere profiles to the instance's set.
///
/// A path in IM's records the set cannot hold is left out and said (see [`unusable`]); the
/// other members are still added.
fn finish(
    host: &HostRoot,
    instance: &mut Instance,
    records: &Records,
    default_shared: Option<String>,
    mut problems: Option<&mut Vec<RecordProblem>>,
) -> Result<()> {
    add_shared(host, instance, records, default_shared, &mut problems)?;
    let groups: Vec<(String, String)> = instance
        .inventory
        .package_groups
        .iter()
        .map(|g| (g.id.clone(), g.path.clone()))
        .collect();
    let installed = instance.agent_data.join("installed.xml");
    for (id, path) in groups {
        // A package group recorded at `/` (or at a path that is not absolute) is not a
        // directory lockstep can back up and restore as one member: it is reported, never
        // backed up as the whole filesystem.
        let path = match record_dir(&path, &installed, &format!("package group '{id}'")) {
            Ok(path) => path,
            Err(err) => {
                unusable(instance, &mut problems, &installed, &err);
                continue;
            }
        };
        add_member(
            host,
            instance,
            Role::Product,
            path.clone(),
            Some(id),
            "installed.xml package group",
        )?;
        add_config_engine(host, instance, &path)?;
        add_profiles(host, instance, &path, &mut problems)?;
    }
    Ok(())
}

/// Adds IM's shared resources directory: the `cacheLocation` IM's records hold
/// (`installRegistry.xml` first), else the mode's default when it exists.
///
/// A default that does not exist is no missing member: IM names its shared resources with the
/// first package it installs, so an IM-only host has none; that is said in the notes.
fn add_shared(
    host: &HostRoot,
    instance: &mut Instance,
    records: &Records,
    default_shared: Option<String>,
    problems: &mut Option<&mut Vec<RecordProblem>>,
) -> Result<()> {
    let registry_xml = instance.agent_data.join("installRegistry.xml");
    let installed_xml = instance.agent_data.join("installed.xml");
    let recorded = if let Some(p) = records.registry.as_ref().and_then(|r| r.cache_location()) {
        Some((p.to_owned(), registry_xml))
    } else {
        records
            .installed
            .as_ref()
            .and_then(|i| i.cache_location())
            .map(|p| (p.to_owned(), installed_xml))
    };
    match (recorded, default_shared) {
        (Some((value, file)), _) => {
            let what = "`cacheLocation` (the shared resources directory)";
            match record_dir(&value, &file, what) {
                Ok(path) => {
                    instance.shared = Some(path.clone());
                    let source = format!(
                        "{} cacheLocation",
                        file.file_name().unwrap_or_default().to_string_lossy()
                    );
                    add_member(host, instance, Role::ImShared, path, None, &source)?;
                }
                Err(err) => unusable(instance, problems, &file, &err),
            }
        }
        (None, Some(default)) => {
            let path = clean(Path::new(&default))?;
            if host.physical(&host.resolve(&path)?).is_dir() {
                instance.shared = Some(path.clone());
                let source = format!("default for {} mode", instance.mode.as_str());
                add_member(host, instance, Role::ImShared, path, None, &source)?;
            } else {
                // IM names its shared resources with the first package it installs; before
                // that (an IM-only host) there are none, which is not a missing member.
                instance.notes.push(format!(
                    "im-shared: IM's records name no shared resources directory (no \
                     cacheLocation in installRegistry.xml or installed.xml) and the {} mode \
                     default {} does not exist, so the set has none; IM creates it with the \
                     first package it installs",
                    instance.mode.as_str(),
                    path.display()
                ));
            }
        }
        (None, None) => {}
    }
    Ok(())
}

/// Adds HCL DX's `ConfigEngine` beside a package group at `…/PortalServer`, when it exists:
/// DX keeps ConfigEngine_root there (wpsdirstr), configuration that must match the Portal
/// binaries.
fn add_config_engine(host: &HostRoot, instance: &mut Instance, group: &Path) -> Result<()> {
    if group.file_name().is_some_and(|n| n == "PortalServer")
        && let Some(parent) = group.parent()
    {
        let config_engine = parent.join("ConfigEngine");
        if host.physical(&host.resolve(&config_engine)?).is_dir() {
            add_member(
                host,
                instance,
                Role::Extra,
                config_engine,
                None,
                "ConfigEngine_root beside PortalServer",
            )?;
        }
    }
    Ok(())
}

/// Adds the WebSphere profiles (wp_profile, cw_profile …) the package group at `group` lists
/// in `properties/profileRegistry.xml`: they hold the runtime configuration and must be
/// restored with the binaries. A profile path the set cannot hold is left out and said.
fn add_profiles(
    host: &HostRoot,
    instance: &mut Instance,
    group: &Path,
    problems: &mut Option<&mut Vec<RecordProblem>>,
) -> Result<()> {
    let profile_registry = group.join("properties/profileRegistry.xml");
    if !present(host, &profile_registry)? {
        return Ok(());
    }
    let profiles =
        parse_profile_registry(&read_logical(host, &profile_registry)?, &profile_registry)?;
    for profile in profiles {
        let what = format!("profile '{}'", profile.name);
        let profile_path = match record_dir(&profile.path, &profile_registry, &what) {
            Ok(path) => path,
            Err(err) => {
                unusable(instance, problems, &profile_registry, &err);
                continue;
            }
        };
        add_member(
            host,
            instance,
            Role::Extra,
            profile_path,
            None,
            &format!("{} profile {}", profile_registry.display(), profile.name),
        )?;
    }
    Ok(())
}

fn add_member(
    host: &HostRoot,
    instance: &mut Instance,
    role: Role,
    path: PathBuf,
    package_group: Option<String>,
    source: &str,
) -> Result<()> {
    let resolved = host.resolve(&path)?;
    let meta = std::fs::metadata(host.physical(&resolved)).ok();
    // The registry is a file; an extra may be one too (a keystore, a custom properties file).
    let is_file = role == Role::ImRegistry
        || (role == Role::Extra && meta.as_ref().is_some_and(std::fs::Metadata::is_file));
    let exists = meta.is_some_and(|m| if is_file { m.is_file() } else { m.is_dir() });
    if !source.is_empty() {
        instance.origins.push(Origin {
            role,
            path: path.clone(),
            source: source.to_owned(),
        });
    }
    instance.set.push(Member {
        role,
        resolved: (resolved != path).then_some(resolved),
        path,
        package_group,
        exists,
        is_file,
    });
    Ok(())
}

/// IM's records in one agent-data directory.
struct Records {
    installed: Option<InstalledXml>,
    registry: Option<InstallRegistryXml>,
    /// `installed.xml` exists but is damaged (lenient discovery only).
    installed_damaged: bool,
}

impl Records {
    fn inventory(&self, im_version: Option<String>, mode: Mode) -> Inventory {
        match &self.installed {
            Some(installed) => Inventory::from_records(
                installed,
                self.registry.as_ref(),
                im_version,
                Some(mode.as_str().to_owned()),
            ),
            // With installed.xml damaged, installRegistry.xml still names the package groups.
            None if self.installed_damaged && self.registry.is_some() => Inventory::from_records(
                &InstalledXml::default(),
                self.registry.as_ref(),
                im_version,
                Some(mode.as_str().to_owned()),
            ),
            None => Inventory {
                im_version,
                mode: Some(mode.as_str().to_owned()),
                ..Inventory::default()
            },
        }
    }

    /// IM's own version from its kind='self' location.
    /// From `installed.xml`, or else IM's own offering in `installRegistry.xml`.
    fn self_version(&self) -> Option<String> {
        let from_installed = self
            .installed
            .as_ref()
            .and_then(InstalledXml::agent_offering)
            .map(|o| {
                o.display_version
                    .clone()
                    .unwrap_or_else(|| o.version.clone())
            });
        from_installed.or_else(|| Some(self.registry.as_ref()?.agent_version()?.to_owned()))
    }
}

/// Reads `installed.xml` and `installRegistry.xml` when they exist. A record that exists but
/// does not read — not a regular file (a pipe, a directory, a device), unreadable, or not
/// parsing — is an error: IM's records are the ground truth and a damaged one must be seen.
/// With `problems` (lenient discovery) it is recorded there instead and read as absent.
fn read_records(
    host: &HostRoot,
    agent_data: &Path,
    mut problems: Option<&mut Vec<RecordProblem>>,
) -> Result<Records> {
    let (installed, installed_damaged) = read_record(
        host,
        &agent_data.join("installed.xml"),
        parse_installed,
        problems.as_deref_mut(),
    )?;
    let (registry, _) = read_record(
        host,
        &agent_data.join("installRegistry.xml"),
        parse_install_registry,
        problems,
    )?;
    Ok(Records {
        installed,
        registry,
        installed_damaged,
    })
}

/// One agent-data record: `(None, false)` when absent, `(None, true)` when damaged and
/// `problems` takes the damage.
fn read_record<T>(
    host: &HostRoot,
    logical: &Path,
    parse: fn(&str, &Path) -> Result<T, ImError>,
    problems: Option<&mut Vec<RecordProblem>>,
) -> Result<(Option<T>, bool)> {
    if !present(host, logical)? {
        return Ok((None, false));
    }
    let parsed = read_logical(host, logical).and_then(|text| Ok(parse(&text, logical)?));
    match (parsed, problems) {
        (Ok(record), _) => Ok((Some(record), false)),
        (Err(e), Some(list)) => {
            list.push(RecordProblem {
                path: logical.to_path_buf(),
                message: e.to_string(),
            });
            Ok((None, true))
        }
        (Err(e), None) => Err(e),
    }
}
