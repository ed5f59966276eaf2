//! Bulk content to reach the requested size: jars in the product and IM dirs, shared resources
//! that repeat them byte-for-byte, and text files in the places products keep them.

use std::io;

use crate::facts::{IM_INTERNAL, IM_JRE};
use crate::options::Layout;
use crate::plan::Plan;
use crate::text::capitalize;
use crate::writer::Writer;

pub(crate) fn bulk_jars(w: &mut Writer, plan: &Plan, count: usize, bytes: u64) -> io::Result<()> {
    // (dir, name prefix, name suffix)
    let mut dests: Vec<(String, &str, String)> = Vec::new();
    if let Some(im) = &plan.im {
        dests.push((
            format!("{im}/eclipse/plugins"),
            "com.ibm.cic.",
            format!("_{IM_INTERNAL}"),
        ));
        dests.push((format!("{im}/eclipse/{IM_JRE}/jre/lib"), "", String::new()));
    }
    let was = &plan.was;
    dests.push((format!("{was}/plugins"), "com.ibm.ws.", String::new()));
    dests.push((format!("{was}/lib"), "", String::new()));
    dests.push((format!("{was}/java/8.0/jre/lib"), "", String::new()));
    if let Some(portal) = &plan.portal {
        for _ in 0..3 {
            let word = w.rng.word();
            dests.push((
                format!("{portal}/base/wp.{word}/shared/app"),
                "wp.",
                String::new(),
            ));
        }
        dests.push((format!("{portal}/shared/app"), "", String::new()));
    }
    if let Some(ce) = &plan.config_engine {
        dests.push((format!("{ce}/lib"), "", String::new()));
    }
    let mean = (bytes / count.max(1) as u64).max(1024);
    for _ in 0..count {
        let (dir, prefix, suffix) = &dests[w.rng.index(dests.len())];
        let stem = format!("{prefix}{}.{}{suffix}", w.rng.word(), w.rng.word());
        let logical = w.fresh(dir, &stem, "jar");
        let size = w.rng.around(mean) as usize;
        w.jar(&logical, size)?;
    }
    Ok(())
}

/// Shared resources repeat product and IM jars byte-for-byte, as IM's saved artifacts do.
pub(crate) fn bulk_shared(w: &mut Writer, plan: &Plan, bytes: u64) -> io::Result<()> {
    let mut order: Vec<usize> = (0..w.jars.len()).collect();
    w.rng.shuffle(&mut order);
    let mut copied = 0u64;
    let mut copies = 0usize;
    for i in order {
        if copied >= bytes && copies >= 2 {
            break;
        }
        let (logical, data) = match w.jars.get(i) {
            Some(jar) => (jar.logical.clone(), jar.data.clone()),
            None => continue,
        };
        let name = logical.rsplit('/').next().unwrap_or("payload.jar");
        let stem = name.trim_end_matches(".jar");
        let dest = if logical.contains("/plugins/") {
            w.fresh(&format!("{}/plugins", plan.shared), stem, "jar")
        } else {
            w.fresh(&format!("{}/native", plan.shared), stem, "zip")
        };
        w.write(&dest, &data, 0o644)?;
        copied += data.len() as u64;
        copies += 1;
    }
    Ok(())
}

pub(crate) fn bulk_text(w: &mut Writer, plan: &Plan, count: usize, bytes: u64) -> io::Result<()> {
    pub(crate) const CONF: &[&str] = &["xml", "properties"];
    pub(crate) const WEB: &[&str] = &["jsp", "html", "css"];
    pub(crate) const XML: &[&str] = &["xml"];
    pub(crate) const PROPS: &[&str] = &["properties"];
    pub(crate) const LOG: &[&str] = &["log"];
    let mut slots: Vec<(String, &[&str])> = Vec::new();
    let was = &plan.was;
    slots.push((format!("{was}/properties"), CONF));
    slots.push((format!("{was}/etc"), XML));
    slots.push((
        format!("{was}/systemApps/isclite.ear/isclite.war/WEB-INF"),
        XML,
    ));
    slots.push((
        format!("{was}/systemApps/isclite.ear/isclite.war/{}", w.rng.word()),
        WEB,
    ));
    slots.push((
        format!(
            "{was}/profileTemplates/default/documents/config/templates/{}",
            w.rng.word()
        ),
        XML,
    ));
    if let Some(portal) = &plan.portal {
        for _ in 0..2 {
            slots.push((format!("{portal}/base/wp.{}/config", w.rng.word()), CONF));
        }
        let theme = format!(
            "{portal}/theme/wp.theme.themes/default85/installedApps/DefaultTheme85.ear/DefaultTheme85.war/themes/html"
        );
        slots.push((format!("{theme}/{}", w.rng.word()), WEB));
        slots.push((format!("{theme}/{}", w.rng.word()), WEB));
        slots.push((format!("{portal}/config/templates"), XML));
    }
    let p = &plan.profile;
    let (cell, node, server) = (plan.cell(), plan.node(), plan.server());
    let cells = format!("{p}/config/cells/{cell}");
    slots.push((cells.clone(), XML));
    slots.push((format!("{cells}/nodes/{node}/servers/{server}"), XML));
    let app = w.rng.word();
    slots.push((
        format!("{cells}/applications/{app}.ear/deployments/{app}"),
        XML,
    ));
    slots.push((format!("{p}/installedApps/{cell}/{app}.ear/{app}.war"), WEB));
    slots.push((format!("{p}/logs/{server}"), LOG));
    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        slots.push((format!("{p}/ConfigEngine/properties"), PROPS));
        slots.push((format!("{p}/ConfigEngine/config/work"), XML));
    }
    if let Some(ce) = &plan.config_engine {
        slots.push((format!("{ce}/config/includes"), XML));
        slots.push((format!("{ce}/properties"), PROPS));
    }
    let mean = (bytes / count.max(1) as u64).max(256);
    for _ in 0..count {
        let (dir, exts) = &slots[w.rng.index(slots.len())];
        let ext = w.rng.pick(exts);
        let stem = format!("{}{}", w.rng.word(), capitalize(w.rng.word()));
        let logical = w.fresh(dir, &stem, ext);
        let size = w.rng.around(mean) as usize;
        w.generated(&logical, ext, size)?;
    }
    Ok(())
}
