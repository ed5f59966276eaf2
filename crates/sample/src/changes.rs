//! The other changes tests make to a built host: IM's install directory moved
//! ([`relocate_im`]) and product version files out of step with IM's records
//! ([`desync_product_files`]).

use std::fs;
use std::io;
use std::path::Path;

use crate::disk::{parent_of, phys, set_times};
use crate::facts::{BASE_TIME, DAY};
use crate::host::{SampleHost, SampleInstance};
use crate::records::{current_levels, wps_files};
use crate::releases::with_fixlevel;

/// Refuses to change a host whose product paths are symlinks: the sample's writers follow the
/// physical path, and an absolute link (`/opt/…/AppServer` → `/jennex/…`) would lead them out of
/// the sample's root onto the machine running the tests.
pub(crate) fn no_link_out_of_the_root(root: &Path, inst: &SampleInstance) -> io::Result<()> {
    for product in &inst.products {
        if fs::symlink_metadata(phys(root, product)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{product} is a symlink: the sample's fix packs do not write through it (it may lead out of the sample root); change the files at its target instead"
                ),
            ));
        }
    }
    Ok(())
}

/// Moves instance `index`'s IM install directory to `to` (a logical path) and rewrites IM's
/// records to name it there, as when IM was installed inside a product directory
/// (`/opt/Apps/WebSphere/was8.5/product/eclipse`) or beside the products (`…/was8.5/IIM`);
/// the host's record of the instance follows (docs/im-facts.md §9).
///
/// # Errors
/// When the instance has no IM install directory (the container shape), or a file cannot be
/// moved, read or written.
pub fn relocate_im(host: &mut SampleHost, index: usize, to: &str) -> io::Result<()> {
    let root = host.root.clone();
    let inst = host.instances.get_mut(index).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no instance {index}"))
    })?;
    let Some(from) = inst.install.clone() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this instance has no IM install directory to move",
        ));
    };
    if let Some(parent) = parent_of(to) {
        fs::create_dir_all(phys(&root, parent))?;
    }
    fs::rename(phys(&root, &from), phys(&root, to))?;
    let records = inst.registry.iter().cloned().chain([
        format!("{}/installed.xml", inst.agent_data),
        format!("{}/installRegistry.xml", inst.agent_data),
    ]);
    for record in records {
        let path = phys(&root, &record);
        let text = fs::read_to_string(&path)?;
        fs::write(&path, text.replace(&from, to))?;
    }
    inst.install = Some(to.to_owned());
    Ok(())
}

/// Makes instance `index` of the host *desynced*: its product version files (WebSphere's
/// `ND.product` or `WAS.product`, Portal's `MP.product`, `wps.properties` and the profile's copy
/// of it) are rewritten to the level one
/// below what IM records — or one above, when IM records the first level the sample knows —
/// while IM's records stay as they are. That is the state of a host whose product files were
/// restored without IM (or IM without the products): what `lockstep doctor` must find.
///
/// Only those version files change (rewritten in place; their mtime becomes one day after the
/// build). Product files other than the version files are left alone.
pub fn desync_product_files(host: &SampleHost, index: usize) -> io::Result<()> {
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
    let installed = fs::read_to_string(phys(root, &installed_logical))?;
    let levels = current_levels(&installed, &installed_logical)?;
    let other = |level: u32, first: u32| if level > first { level - 1 } else { level + 1 };
    let mut written: Vec<(String, String)> = vec![(
        format!(
            "{}/properties/version/{}",
            levels.was_dir,
            levels.edition.file()
        ),
        levels
            .was_line
            .product_xml(other(levels.fp, levels.was_line.first_fp), levels.edition),
    )];
    if let Some((line, cf, dir)) = &levels.portal {
        let cf = other(*cf, line.first_cf);
        written.push((format!("{dir}/version/MP.product"), line.product_xml(cf)));
        for (logical, text) in wps_files(root, dir)? {
            written.push((logical, with_fixlevel(&text, cf)));
        }
    }
    for (i, (logical, text)) in written.iter().enumerate() {
        let path = phys(root, logical);
        fs::write(&path, text)?;
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, BASE_TIME + DAY + i as i64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixpack::apply_fix_pack;
    use crate::host::build;
    use crate::options::{Layout, Shape};
    use crate::testutil::{listing, read, small};

    #[test]
    fn desync_moves_only_the_product_version_files() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Admin, Layout::Hcl)).unwrap();
        let nd = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
        let mp = "/opt/HCL/WebSphere/PortalServer/version/MP.product";
        let wps = "/opt/HCL/WebSphere/PortalServer/wps.properties";
        let wps_copy = "/opt/HCL/WebSphere/wp_profile/PortalServer/wps.properties";
        let before = listing(&host.root);
        desync_product_files(&host, 0).unwrap();
        // At the first level the sample knows, the files move forward.
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(read(&host, mp).contains("level=\"CF220\""));
        assert!(read(&host, wps).contains("\nfixlevel=CF220\n"));
        assert!(read(&host, wps).contains("\nversion=9.5.0.0\n"));
        assert!(read(&host, wps_copy).contains("\nfixlevel=CF220\n"));
        let after = listing(&host.root);
        let changed: Vec<&String> = before
            .keys()
            .filter(|l| after.get(*l) != before.get(*l))
            .collect();
        assert_eq!(changed, vec![nd, mp, wps, wps_copy]);

        // After a fix pack, they move back below IM's records.
        apply_fix_pack(&host, 0).unwrap();
        apply_fix_pack(&host, 0).unwrap();
        desync_product_files(&host, 0).unwrap();
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(read(&host, wps).contains("\nfixlevel=CF220\n"));
        let installed = read(&host, "/var/ibm/InstallationManager/installed.xml");
        assert!(installed.contains("value='9.0.5.19'"));
        assert!(desync_product_files(&host, 1).is_err());
    }
}
