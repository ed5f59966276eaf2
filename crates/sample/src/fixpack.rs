//! [`apply_fix_pack`]: the next fix pack / cumulative fix applied to one instance the way IM would,
//! product files, version files and IM's records together.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::changes::no_link_out_of_the_root;
use crate::dates::date_tag;
use crate::disk::{
    is_root, mkdir_all, normalize, parent_of, phys, set_mode, set_times, walk, within,
};
use crate::facts::{BASE_TIME, FIX_STEP, FIXABLE_EXT, USER_HOME, ZIP_MAGIC};
use crate::host::SampleHost;
use crate::im::im_log;
use crate::plan::Mode;
use crate::records::{
    Levels, append_registry_version, bad_data, current_levels, quoted_after, replace_offering,
    wps_files,
};
use crate::releases::{HCL_PORTAL, with_fixlevel};
use crate::rng::{Rng, blob, fnv};
use crate::text::gen_text;

/// What a fix pack changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FixPackReport {
    /// Existing regular files rewritten (product files, version files, IM records).
    pub files_changed: usize,
    /// Regular files created (product files, rollback payload, agent-data log).
    pub files_added: usize,
    /// Regular files deleted from the package groups.
    pub files_removed: usize,
    /// Bytes of content written.
    pub bytes_written: u64,
    /// Display versions before, e.g. `WAS 9.0.5.17, DX 9.5 CF219`.
    pub from_version: String,
    /// Display versions after, e.g. `WAS 9.0.5.18, DX 9.5 CF220`.
    pub to_version: String,
}

/// Tracks what a fix pack touched so mtimes, ownership and the report come out right.
pub(crate) struct Touched {
    pub(crate) files: Vec<String>,
    pub(crate) dirs: BTreeSet<String>,
    pub(crate) created: Vec<String>,
    pub(crate) report: FixPackReport,
}

impl Touched {
    pub(crate) fn rewrite(&mut self, root: &Path, logical: &str, data: &[u8]) -> io::Result<()> {
        // In place, so the inode, mode, owner and xattrs stay, and the parent dir is undisturbed.
        fs::write(phys(root, logical), data)?;
        self.files.push(logical.to_string());
        self.report.files_changed += 1;
        self.report.bytes_written += data.len() as u64;
        Ok(())
    }
    pub(crate) fn add(
        &mut self,
        root: &Path,
        logical: &str,
        data: &[u8],
        mode: u32,
    ) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            for dir in mkdir_all(root, parent)? {
                if let Some(up) = parent_of(&dir) {
                    self.dirs.insert(up.to_string());
                }
                self.dirs.insert(dir.clone());
                self.created.push(dir);
            }
            self.dirs.insert(parent.to_string());
        }
        let path = phys(root, logical);
        fs::write(&path, data)?;
        set_mode(&path, mode)?;
        self.files.push(logical.to_string());
        self.created.push(logical.to_string());
        self.report.files_added += 1;
        self.report.bytes_written += data.len() as u64;
        Ok(())
    }
    pub(crate) fn remove(&mut self, root: &Path, logical: &str) -> io::Result<()> {
        fs::remove_file(phys(root, logical))?;
        if let Some(parent) = parent_of(logical) {
            self.dirs.insert(parent.to_string());
        }
        self.report.files_removed += 1;
        Ok(())
    }
}

/// Applies the next cumulative fix (CF) / fix pack to instance `index` of the host, as IM would:
/// changes ~3% of the product files (rewrites some, adds a few, removes a few), bumps the offering
/// versions in the agent data's installed.xml and installRegistry.xml (appending a new `<version>`
/// in installRegistry.xml, replacing the version in installed.xml), updates the product version
/// files, adds a rollback payload file under the shared resources dir, and writes a new
/// agent-data log under logs/. Calling it again applies the following level.
///
/// The current levels are read back from installed.xml, so a host built by another process works
/// as long as the same [`SampleHost`] is passed. Only the instance's agent data, shared resources,
/// package groups and profiles are touched; everything written gets the mtime of fix level `k`
/// (`2024-04-04 10:14 UTC + k * 91 days`), as do the directories whose entries changed.
pub fn apply_fix_pack(host: &SampleHost, index: usize) -> io::Result<FixPackReport> {
    let inst = host.instances.get(index).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the sample host has {} instance(s); there is no instance {index}",
                host.instances.len()
            ),
        )
    })?;
    let root = host.root.as_path();
    no_link_out_of_the_root(root, inst)?;
    let installed_logical = format!("{}/installed.xml", inst.agent_data);
    let registry_logical = format!("{}/installRegistry.xml", inst.agent_data);
    let mut installed = fs::read_to_string(phys(root, &installed_logical))?;
    let mut registry = fs::read_to_string(phys(root, &registry_logical))?;
    let group_mode = installed.contains("<property name='accessRights' value='group'/>");

    let Levels {
        was_line,
        edition,
        was_id,
        fp,
        was_dir,
        portal,
    } = current_levels(&installed, &installed_logical)?;
    let was_id = was_id.as_str();
    let new_fp = fp + 1;
    let level = new_fp - was_line.first_fp;
    let fix_time = BASE_TIME + i64::from(level) * FIX_STEP;

    let mut rng = Rng::new(fnv(inst.agent_data.as_bytes()) ^ u64::from(level));
    let mut t = Touched {
        files: Vec::new(),
        dirs: BTreeSet::new(),
        created: Vec::new(),
        report: FixPackReport::default(),
    };

    // Product files: about 3% of them, chosen among ordinary files so no symlink dangles and no
    // hard-linked, restricted or oddly named file loses its special property.
    let mut all_files: Vec<(String, fs::Metadata)> = Vec::new();
    let mut link_targets: BTreeSet<String> = BTreeSet::new();
    for tree in inst.products.iter().chain(&inst.profiles) {
        let is_product = inst.products.contains(tree);
        walk(root, tree, &mut |logical, meta| {
            if meta.file_type().is_symlink() {
                let target = fs::read_link(phys(root, logical))?;
                let target = target.to_string_lossy();
                let resolved = if target.starts_with('/') {
                    normalize(&target)
                } else {
                    normalize(&format!("{}/{target}", parent_of(logical).unwrap_or("/")))
                };
                link_targets.insert(resolved);
            } else if meta.is_file() && is_product {
                all_files.push((logical.to_string(), meta.clone()));
            }
            Ok(())
        })?;
    }
    let mut candidates: Vec<String> = all_files
        .iter()
        .filter(|(logical, meta)| fixable(logical, meta, &link_targets))
        .map(|(logical, _)| logical.clone())
        .collect();
    rng.shuffle(&mut candidates);
    let n = ((all_files.len() * 3 + 50) / 100).max(3);
    let n_add = (n / 5).max(1);
    let n_remove = (n / 5).max(1);
    let n_change = n.saturating_sub(n_add + n_remove).max(1);

    let mut payload = ZIP_MAGIC.to_vec();
    let mut jar_dirs: Vec<String> = Vec::new();
    for (i, logical) in candidates.iter().take(n_change + n_remove).enumerate() {
        let old = fs::read(phys(root, logical))?;
        payload.extend_from_slice(&old);
        let ext = logical.rsplit('.').next().unwrap_or("txt");
        if ext == "jar"
            && let Some(parent) = parent_of(logical)
        {
            jar_dirs.push(parent.to_string());
        }
        if i < n_change {
            let size = rng.around(old.len() as u64).max(64) as usize;
            let data = if ext == "jar" {
                blob(&mut rng, ZIP_MAGIC, size)
            } else {
                gen_text(&mut rng, ext, size).into_bytes()
            };
            t.rewrite(root, logical, &data)?;
        } else {
            t.remove(root, logical)?;
        }
    }
    if jar_dirs.is_empty() {
        jar_dirs.push(format!("{was_dir}/lib"));
    }
    for i in 0..n_add {
        let dir = &jar_dirs[rng.index(jar_dirs.len())];
        let mut logical = format!("{dir}/com.ibm.fix.l{level}.{}{i}.jar", rng.word());
        while fs::symlink_metadata(phys(root, &logical)).is_ok() {
            logical = format!("{dir}/com.ibm.fix.l{level}.{}{i}.jar", rng.word());
        }
        let size = 4096 + rng.below(24 * 1024) as usize;
        let data = blob(&mut rng, ZIP_MAGIC, size);
        t.add(root, &logical, &data, 0o644)?;
    }

    // What the products say they are.
    t.rewrite(
        root,
        &format!("{was_dir}/properties/version/{}", edition.file()),
        was_line.product_xml(new_fp, edition).as_bytes(),
    )?;
    if let Some((line, cf, dir)) = &portal {
        t.rewrite(
            root,
            &format!("{dir}/version/MP.product"),
            line.product_xml(cf + 1).as_bytes(),
        )?;
        for (logical, text) in wps_files(root, dir)? {
            t.rewrite(root, &logical, with_fixlevel(&text, cf + 1).as_bytes())?;
        }
    }

    // What IM says they are.
    let (old_was_internal, _) = replace_offering(
        &mut installed,
        was_id,
        &was_line.internal(new_fp),
        &was_line.display(new_fp),
    )
    .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {was_id}")))?;
    if !append_registry_version(
        &mut registry,
        was_id,
        &was_line.internal(new_fp),
        &was_line.repo_info(new_fp),
    ) {
        return Err(bad_data(format!(
            "{registry_logical} has no offering {was_id}"
        )));
    }
    let mut messages = vec![format!(
        "Updated {}_{old_was_internal} to {}_{} in the package group {}.",
        was_id,
        was_id,
        was_line.internal(new_fp),
        was_line.group
    )];
    let mut from = format!("WAS {}", was_line.display(fp));
    let mut to = format!("WAS {}", was_line.display(new_fp));
    if let Some((line, cf, _)) = &portal {
        let brand = if line.id == HCL_PORTAL.id {
            "DX"
        } else {
            "Portal"
        };
        let (old_internal, _) = replace_offering(
            &mut installed,
            line.id,
            &line.internal(cf + 1),
            &line.display(cf + 1),
        )
        .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {}", line.id)))?;
        if !append_registry_version(
            &mut registry,
            line.id,
            &line.internal(cf + 1),
            &line.repo_info(cf + 1),
        ) {
            return Err(bad_data(format!(
                "{registry_logical} has no offering {}",
                line.id
            )));
        }
        // The group's other PORTAL offerings move to the same CF.
        for (id, _, release, base) in line.offerings() {
            if id == line.id {
                continue;
            }
            let internal = format!("{base}.{}", date_tag(line.build_time(cf + 1)));
            replace_offering(
                &mut installed,
                id,
                &internal,
                &format!("{release} CF{}", cf + 1),
            )
            .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {id}")))?;
            if !append_registry_version(&mut registry, id, &internal, &line.repo_info(cf + 1)) {
                return Err(bad_data(format!("{registry_logical} has no offering {id}")));
            }
        }
        messages.push(format!(
            "Updated {}_{old_internal} to {}_{} in the package group {}.",
            line.id,
            line.id,
            line.internal(cf + 1),
            line.group
        ));
        from.push_str(&format!(", {brand} {}", line.display(*cf)));
        to.push_str(&format!(", {brand} {}", line.display(cf + 1)));
    }
    t.rewrite(root, &installed_logical, installed.as_bytes())?;
    t.rewrite(root, &registry_logical, registry.as_bytes())?;

    // Saved files for rollback: the replaced and removed files, byte-for-byte.
    let extra_mode = if group_mode { 0o020 } else { 0 };
    t.add(
        root,
        &format!(
            "{}/files/rollback/{}_{old_was_internal}.zip",
            inst.shared, was_line.id
        ),
        &payload,
        0o644 | extra_mode,
    )?;
    let access = quoted_after(&installed, 0, "<property name='accessRights' value='")
        .map_or("admin", |(s, e)| &installed[s..e])
        .to_string();
    let user = if inst.owner.is_some() || within(&inst.agent_data, USER_HOME) {
        Mode::NonAdmin.user()
    } else {
        Mode::Admin.user()
    };
    t.add(
        root,
        &format!("{}/logs/{}.xml", inst.agent_data, date_tag(fix_time)),
        im_log(fix_time, &access, user, &messages).as_bytes(),
        0o644 | extra_mode,
    )?;
    if group_mode {
        for dir in &t.created {
            let path = phys(root, dir);
            if fs::symlink_metadata(&path)?.is_dir() && within(dir, &inst.shared) {
                set_mode(&path, 0o775)?;
            }
        }
    }

    if let Some((uid, gid)) = inst.owner
        && is_root()
    {
        for logical in &t.created {
            std::os::unix::fs::lchown(phys(root, logical), Some(uid), Some(gid))?;
        }
    }

    // mtimes last: files first, then directories deepest first.
    for (i, logical) in t.files.iter().enumerate() {
        let path = phys(root, logical);
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, fix_time + i as i64)?;
    }
    let mut dirs: Vec<&String> = t.dirs.iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in dirs {
        let path = phys(root, dir);
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, fix_time + 600)?;
    }

    let mut report = t.report;
    report.from_version = from;
    report.to_version = to;
    Ok(report)
}

/// An ordinary product file a fix pack may rewrite or remove.
pub(crate) fn fixable(logical: &str, meta: &fs::Metadata, link_targets: &BTreeSet<String>) -> bool {
    let name = logical.rsplit('/').next().unwrap_or_default();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    meta.mode() & 0o7777 == 0o644
        && meta.nlink() == 1
        && meta.len() > 0
        && name.is_ascii()
        && !name.contains(' ')
        && FIXABLE_EXT.contains(&ext)
        && name != "wps.properties"
        && !link_targets.contains(logical)
        && !logical.contains("/logs/")
        && !logical.contains("/version/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::within;
    use crate::facts::{BASE_TIME, FIX_STEP};
    use crate::host::build;
    use crate::options::{Layout, SampleOptions, Shape};
    use crate::releases::{HCL_PORTAL, HCL_WAS};
    use crate::testutil::{listing, opts, read};

    /// Applies a fix pack to `index` and checks what changed against the listing before.
    fn check_fix_pack(shape: Shape, layout: Layout, index: usize) {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &opts(shape, layout)).unwrap();
        let inst = host.instances[index].clone();
        let before = listing(&host.root);
        let report = apply_fix_pack(&host, index).unwrap();
        let after = listing(&host.root);

        let in_set = |l: &str| {
            std::iter::once(&inst.agent_data)
                .chain([&inst.shared])
                .chain(&inst.products)
                .chain(&inst.profiles)
                .any(|m| within(l, m))
        };
        for (logical, entry) in &before {
            if !in_set(logical) {
                assert_eq!(
                    after.get(logical),
                    Some(entry),
                    "{shape:?}: {logical} was touched"
                );
            }
        }
        for logical in after.keys() {
            assert!(
                in_set(logical) || before.contains_key(logical),
                "{logical} appeared"
            );
        }
        let files_before = before.values().filter(|e| e.kind == 'f').count();
        let changed = before
            .iter()
            .filter(|(l, e)| e.kind == 'f' && after.get(*l).is_some_and(|a| a.hash != e.hash))
            .count();
        let removed = before
            .iter()
            .filter(|(l, e)| e.kind == 'f' && !after.contains_key(*l))
            .count();
        let added = after
            .iter()
            .filter(|(l, e)| e.kind == 'f' && !before.contains_key(*l))
            .count();
        assert_eq!(
            (
                report.files_changed,
                report.files_added,
                report.files_removed
            ),
            (changed, added, removed),
            "{shape:?}: report disagrees with the tree"
        );
        let share = (changed + added + removed) as f64 / files_before as f64;
        assert!(
            (0.02..=0.05).contains(&share),
            "{shape:?}: {share} of files changed"
        );
        // Everything it wrote has a new mtime, later than anything the build wrote.
        let newest_before = before.values().map(|e| e.mtime).max().unwrap();
        for (logical, e) in &after {
            if before.get(logical) != Some(e) && e.kind == 'f' {
                assert!(e.mtime > newest_before, "{logical} kept an old mtime");
            }
        }
    }

    #[test]
    fn fix_pack_changes_a_few_percent_and_only_the_instance() {
        check_fix_pack(Shape::Admin, Layout::Hcl, 0);
        check_fix_pack(Shape::Container, Layout::Ibm, 0);
        check_fix_pack(Shape::Group, Layout::Ibm, 0);
        check_fix_pack(Shape::TwoInstances, Layout::Hcl, 0);
        check_fix_pack(Shape::TwoInstances, Layout::Hcl, 1);
    }

    #[test]
    fn fix_pack_bumps_versions_everywhere_and_can_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &SampleOptions::default()).unwrap();
        let inst = &host.instances[0];
        let a = &inst.agent_data;
        let installed_path = format!("{a}/installed.xml");
        let registry_path = format!("{a}/installRegistry.xml");
        let nd = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
        assert!(read(&host, &installed_path).contains("version='9.0.5017.20230404_1425'"));
        assert!(read(&host, nd).contains("<version>9.0.5.17</version>"));

        let report = apply_fix_pack(&host, 0).unwrap();
        assert_eq!(report.from_version, "WAS 9.0.5.17, DX 9.5 CF219");
        assert_eq!(report.to_version, "WAS 9.0.5.18, DX 9.5 CF220");
        let installed = read(&host, &installed_path);
        assert!(installed.contains("<property name='cic.info.version' value='9.0.5.18'/>"));
        assert!(installed.contains("<property name='cic.info.version' value='9.5 CF220'/>"));
        assert!(!installed.contains("9.0.5017.20230404_1425"));
        let registry = read(&host, &registry_path);
        assert!(registry.contains("<version value='9.0.5017.20230404_1425'"));
        assert!(registry.contains(&format!("<version value='{}'", HCL_WAS.internal(18))));
        assert!(registry.contains(&format!("<version value='{}'", HCL_PORTAL.internal(220))));
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(
            read(&host, "/opt/HCL/WebSphere/PortalServer/version/MP.product")
                .contains("level=\"CF220\"")
        );
        for wps in [
            "/opt/HCL/WebSphere/PortalServer/wps.properties",
            "/opt/HCL/WebSphere/wp_profile/PortalServer/wps.properties",
        ] {
            assert!(read(&host, wps).contains("\nfixlevel=CF220\n"), "{wps}");
        }
        // Every PORTAL offering of the group moved with the server.
        let installed = read(&host, &format!("{a}/installed.xml"));
        for id in ["SERVER.v85", "ENABLE.v85", "SERVER.v95", "ENABLE.v95"] {
            let at = installed
                .find(&format!("id='com.ibm.websphere.PORTAL.{id}'"))
                .unwrap();
            assert!(installed[at..].contains(" CF220'/>"), "{id}");
        }
        assert!(
            host.path(&format!("{a}/logs/{}.xml", date_tag(BASE_TIME + FIX_STEP)))
                .is_file()
        );
        assert!(
            host.path(&format!(
                "{}/files/rollback/com.ibm.websphere.ND.v90_9.0.5017.20230404_1425.zip",
                inst.shared
            ))
            .is_file()
        );

        let again = apply_fix_pack(&host, 0).unwrap();
        assert_eq!(again.to_version, "WAS 9.0.5.19, DX 9.5 CF221");
        let registry = read(&host, &registry_path);
        assert_eq!(registry.matches("<version value='9.0.50").count(), 3);
        assert!(read(&host, nd).contains("<version>9.0.5.19</version>"));
        assert!(apply_fix_pack(&host, 1).is_err());
    }

    #[test]
    fn fix_pack_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let a = build(&dir.path().join("a"), &SampleOptions::default()).unwrap();
        let b = build(&dir.path().join("b"), &SampleOptions::default()).unwrap();
        let ra = apply_fix_pack(&a, 0).unwrap();
        let rb = apply_fix_pack(&b, 0).unwrap();
        assert_eq!(ra.bytes_written, rb.bytes_written);
        assert_eq!(listing(&a.root), listing(&b.root));
    }
}
