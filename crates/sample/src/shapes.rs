//! The shapes real hosts have beyond the install modes (issue 22): an AppServer relocated behind
//! a symlink, a user home under `/users`, an IM with no package yet, records copied from Windows.

use std::fs;
use std::io;

use crate::disk::{parent_of, phys};
use crate::host::SampleInstance;
use crate::im::im_only_records;
use crate::options::{RELOCATED_APPSERVER, Shape, USERS_HOME};
use crate::plan::Plan;
use crate::writer::Writer;

/// `logical` (`/opt/HCL/WebSphere/AppServer`) as the same install writes it on Windows
/// (`C:\Program Files\HCL\WebSphere\AppServer`).
pub(crate) fn windows_path(logical: &str) -> String {
    let rest = logical
        .strip_prefix("/opt/")
        .or_else(|| logical.strip_prefix("/var/ibm/"))
        .unwrap_or(logical.trim_start_matches('/'));
    let base = if logical.starts_with("/var/ibm/") {
        r"C:\ProgramData\IBM\"
    } else {
        r"C:\Program Files\"
    };
    format!("{base}{}", rest.replace('/', r"\"))
}

/// The shapes real hosts have beyond the install modes (issue 22), made from the host the plan
/// built by moving what real hosts move. Runs before the mtimes are set.
pub(crate) fn reshape(
    w: &mut Writer,
    shape: Shape,
    plans: &[Plan],
    instances: &mut [SampleInstance],
) -> io::Result<()> {
    let (Some(plan), Some(inst)) = (plans.first(), instances.first_mut()) else {
        return Ok(());
    };
    let agent = plan.agent.clone();
    match shape {
        Shape::SymlinkedProduct => {
            // The AppServer moved to another disk; IM still records the old path, now a link.
            if let Some(parent) = parent_of(RELOCATED_APPSERVER) {
                w.dir(parent)?;
            }
            fs::rename(phys(&w.root, &plan.was), phys(&w.root, RELOCATED_APPSERVER))?;
            w.symlink(&plan.was, RELOCATED_APPSERVER)?;
        }
        Shape::UsersHome => {
            w.text(
                "/etc/passwd",
                &format!(
                    "root:x:0:0:root:/root:/usr/bin/ksh\ndaemon:x:1:1::/etc:\nbin:x:2:2::/bin:\n\
                     nobody:x:4294967294:4294967294::/:\n\
                     wasadm:x:1001:1001:WebSphere administrator:{USERS_HOME}:/usr/bin/ksh\n"
                ),
            )?;
        }
        Shape::ImOnly => {
            let gone = inst
                .products
                .iter()
                .chain(&inst.profiles)
                .chain([&inst.shared]);
            for tree in gone {
                match fs::remove_dir_all(phys(&w.root, tree)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            let (installed, registry) = im_only_records(plan);
            w.text(&format!("{agent}/installed.xml"), &installed)?;
            w.text(&format!("{agent}/installRegistry.xml"), &registry)?;
            inst.products.clear();
            inst.profiles.clear();
            inst.shared.clear();
        }
        Shape::WindowsRecords => {
            let mut moved: Vec<&String> = vec![&plan.was, &plan.profile, &plan.shared, &plan.agent];
            moved.extend(plan.portal.iter().chain(&plan.im));
            moved.extend(&plan.config_engine);
            for name in ["installed.xml", "installRegistry.xml"] {
                let logical = format!("{agent}/{name}");
                let mut text = fs::read_to_string(phys(&w.root, &logical))?;
                for path in &moved {
                    text = text.replace(path.as_str(), &windows_path(path));
                }
                w.text(&logical, &text)?;
            }
        }
        _ => {}
    }
    Ok(())
}
