//! [`build`]: the host's own files, then each instance in turn (registry file, IM, products,
//! profiles, agent data, bulk content), the shapes real hosts add, group permissions and
//! ownership, and last every mtime. Returns the [`SampleHost`]: where each role ended up.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bulk::{bulk_jars, bulk_shared, bulk_text};
use crate::disk::{is_root, phys, set_mode, set_times, walk, within};
use crate::facts::{BASE_TIME, DAY, HOST_NAME, IM_INSTALL_TIME, IM_INTERNAL, USER_OWNER};
use crate::im::{write_agent_data, write_im};
use crate::options::SampleOptions;
use crate::plan::{Mode, Plan, plans};
use crate::products::{write_config_engine, write_portal, write_profile, write_was};
use crate::rng::{Rng, fnv};
use crate::shapes::reshape;
use crate::writer::Writer;

/// What was built: logical paths (as the host sees them, starting with '/') of each role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleHost {
    /// The directory that stands for the host's `/`.
    pub root: PathBuf,
    /// The IM instances on the host, admin first.
    pub instances: Vec<SampleInstance>,
}

impl SampleHost {
    /// The physical path under [`SampleHost::root`] of a logical host path such as `/opt/IBM`.
    pub fn path(&self, logical: &str) -> PathBuf {
        phys(&self.root, logical)
    }
}

/// One IM instance and the paths of its sync set (all logical, starting with '/').
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleInstance {
    /// The registry file `InstallationManager.dat`; `None` for the container shape.
    pub registry: Option<String>,
    /// The IM install dir (without `/eclipse`); `None` for the container shape.
    pub install: Option<String>,
    /// The agent data dir (`cic.appDataLocation`).
    pub agent_data: String,
    /// The shared resources dir (`cacheLocation`).
    pub shared: String,
    /// Package-group install dirs: AppServer first, then PortalServer when present.
    pub products: Vec<String>,
    /// Profile dirs outside the package groups (wp_profile, ConfigEngine): recommended `extra` members.
    pub profiles: Vec<String>,
    /// uid,gid the instance's files were chowned to; `None` when they belong to root or the build
    /// did not run as root (then every file belongs to the user who ran it).
    pub owner: Option<(u32, u32)>,
}

impl SampleInstance {
    /// Every path of this instance's sync set: registry, IM install dir, agent data, shared
    /// resources, package groups and profiles.
    pub fn members(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.registry.iter().cloned());
        out.extend(self.install.iter().cloned());
        out.push(self.agent_data.clone());
        // empty on an IM-only host, which has no shared resources directory
        if !self.shared.is_empty() {
            out.push(self.shared.clone());
        }
        out.extend(self.products.iter().cloned());
        out.extend(self.profiles.iter().cloned());
        out
    }
}

/// Builds a sample host under `root`, which stands for the host's `/`.
///
/// `root` must be absent or an empty directory; it is created. The same options always produce
/// the same tree (content, modes, mtimes, symlink targets). When running as root, the files of
/// a non-admin or group instance are chowned to uid/gid 1001.
pub fn build(root: &Path, opts: &SampleOptions) -> io::Result<SampleHost> {
    match fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} is not empty; a sample host needs an empty or absent directory",
                        root.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(root)?,
        Err(e) => return Err(e),
    }
    set_mode(root, 0o755)?;

    let mut w = Writer {
        root: root.to_path_buf(),
        rng: Rng::new(opts.seed),
        files: 0,
        bytes: 0,
        taken: BTreeSet::new(),
        jars: Vec::new(),
        stamps: BTreeMap::new(),
    };
    w.text("/etc/hostname", &format!("{HOST_NAME}\n"))?;
    w.text(
        "/etc/os-release",
        "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"8.9 (Ootpa)\"\nID=\"rhel\"\nVERSION_ID=\"8.9\"\n",
    )?;
    w.dir("/tmp")?;
    set_mode(&phys(root, "/tmp"), 0o1777)?;

    let plans = plans(opts);
    let as_root = is_root();
    let mut instances = Vec::new();
    for plan in &plans {
        instances.push(build_instance(&mut w, plan, as_root)?);
    }
    reshape(&mut w, opts.shape, &plans, &mut instances)?;

    // Group mode needs the IM dirs writable by the group (docs/im-facts.md §1).
    for plan in plans.iter().filter(|p| p.mode == Mode::Group) {
        let trees = plan.im.iter().chain([&plan.agent, &plan.shared]);
        for tree in trees {
            walk(root, tree, &mut |logical, meta| {
                if meta.file_type().is_symlink() {
                    return Ok(());
                }
                set_mode(&phys(root, logical), (meta.mode() & 0o7777) | 0o020)
            })?;
        }
    }
    if as_root {
        for plan in &plans {
            for tree in &plan.chown {
                walk(root, tree, &mut |logical, _| {
                    std::os::unix::fs::lchown(
                        phys(root, logical),
                        Some(USER_OWNER.0),
                        Some(USER_OWNER.1),
                    )
                })?;
            }
        }
    }

    // Last, so no later write disturbs a directory mtime; `walk` goes bottom-up.
    let mut windows: Vec<(String, i64, i64)> = Vec::new();
    for plan in &plans {
        for tree in plan.im.iter().chain(plan.registry.iter()) {
            windows.push((tree.clone(), IM_INSTALL_TIME, DAY));
        }
        for tree in [&plan.agent, &plan.shared] {
            windows.push((tree.clone(), IM_INSTALL_TIME, BASE_TIME - IM_INSTALL_TIME));
        }
    }
    walk(root, "/", &mut |logical, meta| {
        let t = match w.stamps.get(logical) {
            Some(t) => *t,
            None => build_mtime(logical, &windows),
        };
        set_times(&phys(root, logical), meta, t)
    })?;

    Ok(SampleHost {
        root: root.to_path_buf(),
        instances,
    })
}

/// Deterministic build-time mtime of a path without an explicit stamp: logs from the days after
/// the product install, IM's own files from its install a month earlier (`windows`: tree, start,
/// length), everything else from product build dates before the install.
// the generator's names are lower-case by construction: `.log` is the suffix, case and all
#[allow(clippy::case_sensitive_file_extension_comparisons)]
pub(crate) fn build_mtime(logical: &str, windows: &[(String, i64, i64)]) -> i64 {
    let h = fnv(logical.as_bytes());
    let spread = |range: i64| (h % range.max(1) as u64) as i64;
    if logical.contains("/logs/") || logical.contains("/log/") || logical.ends_with(".log") {
        return BASE_TIME + 600 + spread(14 * DAY);
    }
    match windows.iter().find(|(tree, _, _)| within(logical, tree)) {
        Some((_, start, length)) => start + spread(*length),
        None => BASE_TIME - spread(45 * DAY),
    }
}

pub(crate) fn build_instance(
    w: &mut Writer,
    plan: &Plan,
    as_root: bool,
) -> io::Result<SampleInstance> {
    let start_files = w.files;
    let start_bytes = w.bytes;
    w.jars.clear();

    if let (Some(registry), Some(im)) = (&plan.registry, &plan.im) {
        w.stamp(registry, IM_INSTALL_TIME + 30);
        w.text(
            registry,
            &format!(
                "location={im}\nlauncher={im}/eclipse/IBMIM\nversion=1.9.2\ninternalVersion={IM_INTERNAL}\n\
                 is64bit=true\nappDataLocation={}\n",
                plan.agent
            ),
        )?;
    }
    if let Some(im) = &plan.im {
        write_im(w, plan, im)?;
    }
    write_was(w, plan)?;
    if let Some(portal) = &plan.portal {
        write_portal(w, plan, portal)?;
    }
    write_profile(w, plan)?;
    if let Some(ce) = &plan.config_engine {
        write_config_engine(w, ce)?;
    }
    write_agent_data(w, plan)?;
    for sub in ["plugins", "native", "files"] {
        w.dir(&format!("{}/{sub}", plan.shared))?;
    }

    // Bulk content to reach the requested size: 40% jars, 20% shared copies, the rest text.
    let skeleton_files = w.files - start_files;
    let skeleton_bytes = w.bytes - start_bytes;
    let jar_bytes = plan.bytes * 2 / 5;
    let shared_bytes = plan.bytes / 5;
    let jar_files = (plan.files.saturating_sub(skeleton_files) * 3 / 20).max(6);
    bulk_jars(w, plan, jar_files, jar_bytes)?;
    bulk_shared(w, plan, shared_bytes)?;
    let text_files = plan.files.saturating_sub(w.files - start_files).max(8);
    let text_bytes = plan
        .bytes
        .saturating_sub(skeleton_bytes + jar_bytes + shared_bytes)
        .max(text_files as u64 * 256);
    bulk_text(w, plan, text_files, text_bytes)?;

    let mut products = vec![plan.was.clone()];
    products.extend(plan.portal.iter().cloned());
    let mut profiles = Vec::new();
    if plan.profile_extra {
        profiles.push(plan.profile.clone());
    }
    profiles.extend(plan.config_engine.iter().cloned());
    Ok(SampleInstance {
        registry: plan.registry.clone(),
        install: plan.im.clone(),
        agent_data: plan.agent.clone(),
        shared: plan.shared.clone(),
        products,
        profiles,
        owner: (as_root && !plan.chown.is_empty()).then_some(USER_OWNER),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::{is_root, within};
    use crate::facts::{HOST_NAME, USER_OWNER};
    use crate::options::{Layout, SampleOptions, Shape};
    use crate::products::TEST_XATTR;
    use crate::testutil::{Entry, listing, opts, read, small};
    use std::collections::BTreeSet;

    const SHAPES: [Shape; 5] = [
        Shape::Admin,
        Shape::NonAdmin,
        Shape::Group,
        Shape::Container,
        Shape::TwoInstances,
    ];

    #[test]
    fn every_shape_builds_with_its_roles_and_requested_size() {
        for layout in [Layout::Hcl, Layout::Ibm] {
            for shape in SHAPES {
                let dir = tempfile::tempdir().unwrap();
                let root = dir.path().join("host");
                let o = opts(shape, layout);
                let host = build(&root, &o).unwrap();
                let expected = if shape == Shape::TwoInstances { 2 } else { 1 };
                assert_eq!(host.instances.len(), expected, "{shape:?}");
                for inst in &host.instances {
                    for member in inst.members() {
                        assert!(
                            fs::symlink_metadata(host.path(&member)).is_ok(),
                            "{shape:?}/{layout:?}: {member} missing"
                        );
                    }
                    let installed = read(&host, &format!("{}/installed.xml", inst.agent_data));
                    assert!(installed.contains("<?installInfo version='0.0.3'?>"));
                    assert!(installed.contains(&format!(
                        "<property name='cacheLocation' value='{}'/>",
                        inst.shared
                    )));
                    for product in &inst.products {
                        assert!(installed.contains(&format!("kind='product' path='{product}'")));
                    }
                    if let Some(im) = &inst.install {
                        let dat = read(&host, inst.registry.as_ref().unwrap());
                        assert!(dat.contains(&format!("location={im}\n")));
                        let config = read(&host, &format!("{im}/eclipse/configuration/config.ini"));
                        assert!(
                            config.contains(&format!("cic.appDataLocation={}\n", inst.agent_data))
                        );
                        let imcl =
                            fs::metadata(host.path(&format!("{im}/eclipse/tools/imcl"))).unwrap();
                        assert_eq!(imcl.mode() & 0o755, 0o755);
                    }
                }
                let all = listing(&root);
                let files: Vec<&Entry> = all.values().filter(|e| e.kind == 'f').collect();
                let bytes: u64 = files.iter().map(|e| e.size).sum();
                assert!(
                    (300..=520).contains(&files.len()),
                    "{shape:?}/{layout:?}: {} files",
                    files.len()
                );
                assert!(
                    (3 << 20..=5 << 20).contains(&bytes),
                    "{shape:?}/{layout:?}: {bytes} bytes"
                );
            }
        }
    }

    #[test]
    fn the_same_options_give_identical_trees() {
        for shape in [Shape::TwoInstances, Shape::Group, Shape::Container] {
            let dir = tempfile::tempdir().unwrap();
            let a = build(&dir.path().join("a"), &small(shape, Layout::Hcl)).unwrap();
            let b = build(&dir.path().join("b"), &small(shape, Layout::Hcl)).unwrap();
            assert_eq!(listing(&a.root), listing(&b.root), "{shape:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let a = build(&dir.path().join("a"), &small(Shape::Admin, Layout::Ibm)).unwrap();
        let other = SampleOptions {
            seed: 2,
            ..small(Shape::Admin, Layout::Ibm)
        };
        let b = build(&dir.path().join("b"), &other).unwrap();
        assert_ne!(listing(&a.root), listing(&b.root));
    }

    #[test]
    fn build_refuses_a_non_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), "x").unwrap();
        let err = build(dir.path(), &SampleOptions::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn container_has_no_registry_and_no_im_install() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Container, Layout::Hcl)).unwrap();
        let inst = &host.instances[0];
        assert!(inst.registry.is_none() && inst.install.is_none());
        assert_eq!(inst.agent_data, "/opt/IBM/WebSphere/AppServerIMData");
        assert_eq!(inst.shared, "/opt/IBM/WebSphere/AppServerIMShared");
        assert_eq!(
            inst.products,
            vec!["/opt/IBM/WebSphere/AppServer".to_string()]
        );
        assert!(!host.path("/etc/.ibm").exists());
        assert!(!host.path("/opt/IBM/InstallationManager").exists());
        let installed = read(&host, &format!("{}/installed.xml", inst.agent_data));
        assert!(!installed.contains("kind='self'"));
        assert!(installed.contains("value='nonAdmin'"));
    }

    #[test]
    // the generator's names are lower-case by construction
    #[allow(clippy::case_sensitive_file_extension_comparisons)]
    fn edge_cases_are_present() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Admin, Layout::Hcl)).unwrap();
        let was = "/opt/HCL/WebSphere/AppServer";
        let p = "/opt/HCL/WebSphere/wp_profile";
        let meta = |l: &str| fs::symlink_metadata(host.path(l)).unwrap();
        let link = |l: &str| {
            fs::read_link(host.path(l))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(link(&format!("{was}/lib/j2ee-current.jar")), "j2ee.jar");
        assert_eq!(link(&format!("{was}/java/current")), "8.0");
        assert_eq!(
            link(&format!("{p}/bin/versionInfo.sh")),
            format!("{was}/bin/versionInfo.sh")
        );
        assert_eq!(link(&format!("{p}/java_home")), format!("{was}/java/8.0"));
        let a = meta(&format!("{was}/properties/wsjaas.conf"));
        let b = meta(&format!("{was}/properties/wsjaas_client.conf"));
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        assert_eq!(meta(&format!("{p}/etc")).mode() & 0o7777, 0o700);
        assert_eq!(meta(&format!("{p}/logs")).mode() & 0o7777, 0o750);
        assert_eq!(
            meta(&format!(
                "{p}/config/cells/{HOST_NAME}Cell/nodes/{HOST_NAME}Node/key.p12"
            ))
            .mode()
                & 0o7777,
            0o600
        );
        assert_eq!(
            meta(&format!("{p}/logs/WebSphere_Portal/SystemErr.log")).len(),
            0
        );
        assert!(meta(&format!("{was}/readme/Release Notes.txt")).is_file());
        assert!(meta(&format!("{was}/readme/Übersicht_für_Administratoren.txt")).is_file());
        assert!(
            fs::read_dir(host.path(&format!("{p}/logs/ffdc")))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(
            fs::read_dir(host.path(&format!("{p}/logs/WebSphere_Portal")))
                .unwrap()
                .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".pid") })
        );
        let sas = host.path(&format!("{was}/properties/sas.client.props"));
        if let Ok(Some(value)) = xattr::get(&sas, TEST_XATTR) {
            assert_eq!(value, b"sample");
        }
        // Shared payloads repeat product jars byte-for-byte.
        let all = listing(&host.root);
        let inst = &host.instances[0];
        let product_hashes: BTreeSet<u64> = all
            .iter()
            .filter(|(l, e)| e.kind == 'f' && l.ends_with(".jar") && !within(l, &inst.shared))
            .map(|(_, e)| e.hash)
            .collect();
        let repeated = all
            .iter()
            .filter(|(l, e)| {
                e.kind == 'f' && within(l, &inst.shared) && product_hashes.contains(&e.hash)
            })
            .count();
        assert!(
            repeated >= 2,
            "only {repeated} shared payloads repeat a jar"
        );
    }

    #[test]
    fn user_instances_are_owned_by_wasadm_when_built_as_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(
            &dir.path().join("h"),
            &small(Shape::TwoInstances, Layout::Hcl),
        )
        .unwrap();
        let (admin, user) = (&host.instances[0], &host.instances[1]);
        assert_eq!(admin.owner, None);
        if !is_root() {
            assert_eq!(user.owner, None);
            return;
        }
        assert_eq!(user.owner, Some(USER_OWNER));
        assert_eq!(user.products[0], "/home/wasadm/HCL/WebSphere/AppServer");
        let all = listing(&host.root);
        for (logical, e) in &all {
            let in_user = user.members().iter().any(|m| within(logical, m));
            let in_admin = admin.members().iter().any(|m| within(logical, m));
            if in_user {
                assert_eq!((e.uid, e.gid), USER_OWNER, "{logical}");
            }
            if in_admin {
                assert_eq!((e.uid, e.gid), (0, 0), "{logical}");
            }
        }
    }
}
