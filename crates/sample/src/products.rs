//! The package groups and profiles: WebSphere Application Server (scripts, version files,
//! profile registry and the edge cases a restore must reproduce), Portal (version files,
//! `wps.properties`), the profile (cells, nodes, keystores, logs) and ConfigEngine.

use std::io;

use crate::dates::{date_tag, iso};
use crate::disk::{phys, set_mode};
use crate::facts::{BASE_TIME, ELF_MAGIC, P12_MAGIC};
use crate::options::Layout;
use crate::plan::Plan;
use crate::text::stub_script;
use crate::writer::Writer;

/// Extended attribute set on one product file (`AppServer/properties/sas.client.props`).
pub const TEST_XATTR: &str = "user.lockstep.test";

pub(crate) fn write_was(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let was = &plan.was;
    let line = plan.was_line();
    let fp = line.first_fp;
    for name in [
        "startServer.sh",
        "stopServer.sh",
        "serverStatus.sh",
        "versionInfo.sh",
        "wsadmin.sh",
        "manageprofiles.sh",
        "setupCmdLine.sh",
    ] {
        w.script(
            &format!("{was}/bin/{name}"),
            &stub_script(name, "WebSphere Application Server", "WAS_HOME", was),
        )?;
    }
    let version = format!("{was}/properties/version");
    w.text(
        &format!("{version}/platform.websphere"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE websphere PUBLIC \"websphere\" \"websphere.dtd\">\n\
             <websphere name=\"IBM WebSphere Application Server\" version=\"{}\"/>\n",
            line.platform
        ),
    )?;
    w.text(
        &format!("{version}/{}", plan.edition.file()),
        &line.product_xml(fp, plan.edition),
    )?;
    // WebSphere's list of profiles: discovery adds them to the set from here.
    let profile_name = plan.profile.rsplit('/').next().unwrap_or("AppSrv01");
    w.text(
        &format!("{was}/properties/profileRegistry.xml"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><profiles>\n    <profile isAReservationTicket=\"false\" isDefault=\"true\" name=\"{profile_name}\" path=\"{}\" template=\"{was}/profileTemplates/default\"/>\n</profiles>\n",
            plan.profile
        ),
    )?;
    w.dir(&format!("{version}/history"))?;
    w.text(
        &format!("{version}/log/{}-install-ND.log", date_tag(BASE_TIME)),
        &format!(
            "{} Installed {} {} ({}) into {was}\n",
            iso(BASE_TIME),
            plan.edition.offering(line),
            line.display(fp),
            line.internal(fp)
        ),
    )?;

    // Edge cases: hard-linked pair, relative symlinks to a file and to a dir, an xattr,
    // odd names, an empty dir.
    w.generated(
        &format!("{was}/properties/wsadmin.properties"),
        "properties",
        3 * 1024,
    )?;
    let sas = format!("{was}/properties/sas.client.props");
    w.generated(&sas, "properties", 2 * 1024)?;
    // Filesystems without user xattrs (tmpfs on old kernels) simply go without.
    let _ = xattr::set(phys(&w.root, &sas), TEST_XATTR, b"sample");
    let jaas = format!("{was}/properties/wsjaas.conf");
    w.generated(&jaas, "conf", 1500)?;
    w.hardlink(&jaas, &format!("{was}/properties/wsjaas_client.conf"))?;
    w.jar(&format!("{was}/lib/j2ee.jar"), 24 * 1024)?;
    w.symlink(&format!("{was}/lib/j2ee-current.jar"), "j2ee.jar")?;
    w.dir(&format!("{was}/lib/ext"))?;
    w.binary(
        &format!("{was}/java/8.0/bin/java"),
        ELF_MAGIC,
        16 * 1024,
        0o755,
    )?;
    w.symlink(&format!("{was}/java/current"), "8.0")?;
    w.generated(&format!("{was}/readme/Release Notes.txt"), "txt", 2 * 1024)?;
    w.generated(
        &format!("{was}/readme/Übersicht_für_Administratoren.txt"),
        "txt",
        1024,
    )?;

    w.generated(&format!("{was}/logs/install/log.txt"), "log", 3 * 1024)?;
    w.generated(
        &format!(
            "{was}/logs/manageprofiles/{}_create.log",
            plan.profile.rsplit('/').next().unwrap_or("wp_profile")
        ),
        "log",
        2 * 1024,
    )?;
    w.dir(&format!("{was}/logs/postinstall"))?;
    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        let cw = format!("{was}/profiles/cw_profile");
        w.script(
            &format!("{cw}/bin/setupCmdLine.sh"),
            &stub_script(
                "setupCmdLine.sh",
                "configuration wizard profile",
                "USER_INSTALL_ROOT",
                &cw,
            ),
        )?;
        w.generated(&format!("{cw}/config/cells/cw_cell/cell.xml"), "xml", 1024)?;
        w.dir(&format!("{cw}/logs"))?;
    }
    Ok(())
}

pub(crate) fn write_portal(w: &mut Writer, plan: &Plan, portal: &str) -> io::Result<()> {
    let line = plan.portal_line();
    let cf = line.first_cf;
    w.text(
        &format!("{portal}/version/MP.product"),
        &line.product_xml(cf),
    )?;
    for comp in ["base", "jcr", "wp.theme.modules", "search"] {
        w.text(
            &format!("{portal}/version/{comp}.component"),
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<component name=\"{comp}\">\n   \
                 <spec-version>{}</spec-version>\n   <build-version>{}</build-version>\n</component>\n",
                line.product_version,
                line.internal(cf)
            ),
        )?;
    }
    w.dir(&format!("{portal}/version/history"))?;
    w.text(
        &format!(
            "{portal}/version/log/{}-install-MP.log",
            date_tag(BASE_TIME)
        ),
        &format!(
            "{} Installed {} {} into {portal}\n",
            iso(BASE_TIME),
            line.id,
            line.display(cf)
        ),
    )?;
    // Portal's own wps.properties, and the profile's copy of it.
    let wps = line.wps_properties(cf, portal, &plan.profile, &plan.was);
    w.text(&format!("{portal}/wps.properties"), &wps)?;
    w.text(
        &format!("{}/PortalServer/wps.properties", plan.profile),
        &wps,
    )?;
    for name in ["WPVersionInfo.sh", "WPGenVersionReport.sh"] {
        w.script(
            &format!("{portal}/bin/{name}"),
            &stub_script(name, "Portal", "PORTAL_HOME", portal),
        )?;
    }
    w.jar(
        &format!("{portal}/base/wp.base/shared/app/wp.base.jar"),
        24 * 1024,
    )?;
    w.dir(&format!("{portal}/log"))?;
    Ok(())
}

pub(crate) fn write_profile(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let p = &plan.profile;
    let was = &plan.was;
    let (cell, node, server) = (plan.cell(), plan.node(), plan.server());
    for name in [
        "startServer.sh",
        "stopServer.sh",
        "serverStatus.sh",
        "setupCmdLine.sh",
    ] {
        w.script(
            &format!("{p}/bin/{name}"),
            &stub_script(name, "WebSphere profile", "USER_INSTALL_ROOT", p),
        )?;
    }
    // Absolute symlinks: to a file and to a directory of the AppServer package group.
    w.symlink(
        &format!("{p}/bin/versionInfo.sh"),
        &format!("{was}/bin/versionInfo.sh"),
    )?;
    w.symlink(&format!("{p}/java_home"), &format!("{was}/java/8.0"))?;

    let cells = format!("{p}/config/cells/{cell}");
    for name in [
        "cell.xml",
        "security.xml",
        "resources.xml",
        "virtualhosts.xml",
    ] {
        w.generated(&format!("{cells}/{name}"), "xml", 3 * 1024)?;
    }
    let nodes = format!("{cells}/nodes/{node}");
    for name in ["serverindex.xml", "node.xml"] {
        w.generated(&format!("{nodes}/{name}"), "xml", 2 * 1024)?;
    }
    w.generated(
        &format!("{nodes}/servers/{server}/server.xml"),
        "xml",
        4 * 1024,
    )?;
    w.binary(&format!("{nodes}/key.p12"), P12_MAGIC, 2604, 0o600)?;
    w.binary(&format!("{nodes}/trust.p12"), P12_MAGIC, 1980, 0o600)?;
    w.generated(&format!("{p}/etc/ltpa.keys"), "properties", 600)?;
    set_mode(&phys(&w.root, &format!("{p}/etc/ltpa.keys")), 0o600)?;
    w.dir_mode(&format!("{p}/etc"), 0o700)?;
    w.generated(
        &format!("{p}/properties/ssl.client.props"),
        "properties",
        2 * 1024,
    )?;
    w.generated(
        &format!("{p}/properties/soap.client.props"),
        "properties",
        1024,
    )?;

    // No server.pid: the sample servers are stopped.
    w.generated(&format!("{p}/logs/{server}/SystemOut.log"), "log", 8 * 1024)?;
    w.text(&format!("{p}/logs/{server}/SystemErr.log"), "")?;
    w.generated(&format!("{p}/logs/{server}/startServer.log"), "log", 1024)?;
    w.dir(&format!("{p}/logs/ffdc"))?;
    w.dir_mode(&format!("{p}/logs"), 0o750)?;
    w.dir(&format!("{p}/temp"))?;
    w.dir(&format!("{p}/wstemp"))?;

    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        let ce = format!("{p}/ConfigEngine");
        w.script(
            &format!("{ce}/ConfigEngine.sh"),
            &stub_script("ConfigEngine.sh", "ConfigEngine", "CONFIGENGINE_HOME", &ce),
        )?;
        w.generated(
            &format!("{ce}/properties/wkplc.properties"),
            "properties",
            6 * 1024,
        )?;
        w.generated(
            &format!("{ce}/properties/wkplc_comp.properties"),
            "properties",
            4 * 1024,
        )?;
        w.dir(&format!("{ce}/config/work"))?;
    }
    Ok(())
}

pub(crate) fn write_config_engine(w: &mut Writer, ce: &str) -> io::Result<()> {
    w.script(
        &format!("{ce}/ConfigEngine.sh"),
        &stub_script("ConfigEngine.sh", "ConfigEngine", "CONFIGENGINE_HOME", ce),
    )?;
    w.generated(
        &format!("{ce}/config/includes/cfg_portal.xml"),
        "xml",
        4 * 1024,
    )?;
    w.generated(
        &format!("{ce}/properties/wkplc.properties"),
        "properties",
        4 * 1024,
    )?;
    Ok(())
}
