//! IBM Installation Manager's own files: its install directory (launcher, `IBMIM.ini`, `imcl`,
//! `config.ini`, JRE), and its agent data: `installed.xml`, `installRegistry.xml`, adapters,
//! offerings, licences, preferences, histories and logs (docs/im-facts.md).

use std::io;

use crate::dates::{date_tag, iso, java_date};
use crate::facts::{
    BASE_TIME, DAY, ELF_MAGIC, IM_INSTALL_TIME, IM_INTERNAL, IM_JRE, IM_VERSION, KIT_DIR,
    SDK_INTERNAL,
};
use crate::options::Layout;
use crate::plan::{Mode, Plan};
use crate::text::stub_script;
use crate::writer::Writer;

/// `installed.xml` and `installRegistry.xml` of an IM with no package installed yet: IM's own
/// location and profile only, and no `cacheLocation` (IM names one with the first package).
pub(crate) fn im_only_records(plan: &Plan) -> (String, String) {
    let im = plan.im.as_deref().unwrap_or(KIT_DIR);
    let access = plan.mode.access_rights();
    let installed = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?installInfo version='0.0.3'?>\n\
         <?xml-stylesheet type='text/xsl' href='installed.xsl'?>\n\
         <installInfo xmlns:installed='http://www.ibm.com/rational/com.ibm.cic.installed'>\n  \
         <property name='agent.launch.command' value='{im}/eclipse/tools/imcl'/>\n  \
         <property name='agent.install.location' value='{im}/eclipse'/>\n  \
         <property name='cic.appDataLocation' value='{agent}'/>\n  \
         <property name='accessRights' value='{access}'/>\n  \
         <location id='IBM Installation Manager' kind='self' path='{im}/eclipse'>\n    \
         <property name='agent.jre' value='{IM_JRE}'/>\n    \
         <package kind='offering' name='IBM® Installation Manager' id='com.ibm.cic.agent' version='{IM_INTERNAL}'>\n      \
         <property name='cic.info.version' value='{IM_VERSION}'/>\n    </package>\n  </location>\n\
         </installInfo>\n",
        agent = plan.agent
    );
    let registry = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<installRegistry>\n  \
         <property name='accessRights' value='{access}'/>\n  \
         <profile id='IBM Installation Manager' kind='self'>\n    \
         <property name='installLocation' value='{im}/eclipse'/>\n    \
         <offering id='com.ibm.cic.agent'>\n      <version value='{IM_INTERNAL}' \
         repoInfo='repositoryLocation={KIT_DIR},repositoryKind=file'/>\n    </offering>\n  \
         </profile>\n</installRegistry>\n"
    );
    (installed, registry)
}

pub(crate) fn write_im(w: &mut Writer, plan: &Plan, im: &str) -> io::Result<()> {
    let access = plan.mode.access_rights();
    let ecl = format!("{im}/eclipse");
    w.script(
        &format!("{ecl}/IBMIM"),
        &stub_script("IBMIM", "Installation Manager launcher", "IM_HOME", im),
    )?;
    w.text(
        &format!("{ecl}/IBMIM.ini"),
        &format!(
            "-vm\n{ecl}/{IM_JRE}/jre/bin/java\n-accessRights\n{access}\n-vmargs\n-Xquickstart\n-Xgcpolicy:gencon\n"
        ),
    )?;
    w.text(
        &format!("{ecl}/.eclipseproduct"),
        &format!("name=IBM Installation Manager\nid=com.ibm.cic.agent\nversion={IM_VERSION}\n"),
    )?;
    w.script(
        &format!("{ecl}/tools/imcl"),
        &format!(
            "#!/bin/sh\n# imcl: command line of IBM Installation Manager {IM_VERSION} ({access} mode).\n\
             # Stand-in written by lockstep's sample host builder; it only answers \"version\".\n\
             case \"$1\" in\n  version)\n    echo \"Installation Manager (installed)\"\n    \
             echo \"Version: 1.9.2\"\n    echo \"Internal Version: {IM_INTERNAL}\"\n    \
             echo \"Architecture: 64-bit\"\n    ;;\n  *)\n    \
             echo \"imcl: this sample host has no runnable Installation Manager\" >&2\n    exit 1\n    ;;\nesac\n"
        ),
    )?;
    w.script(
        &format!("{ecl}/tools/imutilsc"),
        &stub_script("imutilsc", "Installation Manager utilities", "IM_HOME", im),
    )?;
    w.text(
        &format!("{ecl}/configuration/config.ini"),
        &format!(
            "#Configuration File\n#{}\neclipse.product=com.ibm.cic.agent.ui.product\n\
             osgi.bundles=org.eclipse.equinox.common@2:start,org.eclipse.update.configurator@3:start,\
             org.eclipse.core.runtime@start,com.ibm.cic.agent.core.nl1,com.ibm.cic.agent.ui.nl1\n\
             osgi.bundles.defaultStartLevel=4\nosgi.instance.area=@noDefault\nosgi.configuration.cascaded=false\n\
             osgi.os=linux\nosgi.ws=gtk\nosgi.arch=x86_64\ncic.appDataLocation={}\nim.version={IM_VERSION}\n\
             im.internal.version={IM_INTERNAL}\nim.installer.version={IM_VERSION}\n\
             im.installer.internal.version={IM_INTERNAL}\nim.installer.jre.version={SDK_INTERNAL}\n",
            java_date(IM_INSTALL_TIME),
            plan.agent
        ),
    )?;
    w.dir(&format!("{ecl}/configuration/org.eclipse.osgi"))?;
    let jre = format!("{ecl}/{IM_JRE}/jre");
    w.binary(&format!("{jre}/bin/java"), ELF_MAGIC, 16 * 1024, 0o755)?;
    w.text(
        &format!("{jre}/release"),
        "JAVA_VERSION=\"1.8.0_401\"\nOS_NAME=\"Linux\"\nOS_ARCH=\"amd64\"\nIMPLEMENTOR=\"IBM Corporation\"\n",
    )?;
    w.generated(
        &format!("{jre}/lib/security/java.security"),
        "properties",
        6 * 1024,
    )?;
    w.jar(
        &format!("{ecl}/plugins/com.ibm.cic.agent.core_{IM_INTERNAL}.jar"),
        32 * 1024,
    )?;
    Ok(())
}

pub(crate) fn im_log(t: i64, access: &str, user: &str, messages: &[String]) -> String {
    let mut s = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet href='log.xsl' type='text/xsl'?>\n<log>\n",
    );
    let mut all = vec![
        format!("Installation Manager mode: {access}"),
        format!("user.name: {user}, {access}"),
    ];
    all.extend_from_slice(messages);
    for (i, message) in all.iter().enumerate() {
        s.push_str(&format!(
            "<entry time='{}.{:03}+00:00' level='INFO' thread='main'>\n<message><![CDATA[{message}]]></message>\n</entry>\n",
            iso(t + i as i64),
            (i * 137) % 1000
        ));
    }
    s.push_str("</log>\n");
    s
}

pub(crate) fn installed_xml(plan: &Plan) -> String {
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    let (launch, location) = match &plan.im {
        Some(im) => (format!("{im}/eclipse/tools/imcl"), format!("{im}/eclipse")),
        None => (format!("{KIT_DIR}/tools/imcl"), KIT_DIR.to_string()),
    };
    let mut s = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?installInfo version='0.0.3'?>\n\
         <?xml-stylesheet type='text/xsl' href='installed.xsl'?>\n\
         <installInfo xmlns:installed='http://www.ibm.com/rational/com.ibm.cic.installed'>\n",
    );
    for (name, value) in [
        ("agent.launch.command", launch.as_str()),
        ("agent.install.location", location.as_str()),
        ("cic.appDataLocation", plan.agent.as_str()),
        ("accessRights", plan.mode.access_rights()),
        ("cacheLocation", plan.shared.as_str()),
    ] {
        s.push_str(&format!("  <property name='{name}' value='{value}'/>\n"));
    }
    let selectors = "    <property name='cic.selector.os' value='linux'/>\n    \
                     <property name='cic.selector.ws' value='gtk'/>\n    \
                     <property name='cic.selector.arch' value='x86_64'/>\n    \
                     <property name='cic.selector.nl' value='en'/>\n";
    let feature = |id: &str, kind: &str| {
        format!(
            "      <package kind='feature' id='{id}'><property name='cic.feature.kind' value='{kind}'/></package>\n"
        )
    };

    let was = &plan.was;
    s.push_str(&format!(
        "  <location id='{}' kind='product' path='{was}'>\n    <property name='eclipseLocation' value='{was}'/>\n{selectors}",
        was_line.group
    ));
    s.push_str(&format!(
        "    <package kind='offering' name='{}' id='{}' version='{}'>\n      \
         <property name='cic.info.version' value='{}'/>\n      \
         <property name='agent.sourceRepositoryLocation' value='{}/WAS_ND_V{}_MP_ML'/>\n      \
         <property name='was.install.productid' value='{}'/>\n",
        plan.edition.name(was_line),
        plan.edition.offering(was_line),
        was_line.internal(was_line.first_fp),
        was_line.display(was_line.first_fp),
        was_line.repo,
        was_line.platform,
        plan.edition.product_id()
    ));
    s.push_str(&feature("core.feature", "RequiredAndNotVisible"));
    s.push_str(&feature("ejbdeploy", "OptionalAndVisible"));
    s.push_str(&feature("thinclient", "OptionalAndVisible"));
    s.push_str("    </package>\n");
    s.push_str(&format!(
        "    <package kind='offering' name='IBM SDK, Java Technology Edition, Version 8' id='com.ibm.java.jdk.v8' version='{SDK_INTERNAL}'>\n      \
         <property name='cic.info.version' value='8.0.8.15'/>\n"
    ));
    s.push_str(&feature("com.ibm.sdk.8", "RequiredAndNotVisible"));
    s.push_str("    </package>\n  </location>\n");

    if let Some(portal) = &plan.portal {
        s.push_str(&format!(
            "  <location id='{}' kind='product' path='{portal}'>\n    <property name='eclipseLocation' value='{portal}'/>\n{selectors}",
            portal_line.group
        ));
        s.push_str(&format!(
            "    <package kind='offering' name='{}' id='{}' version='{}'>\n      \
             <property name='cic.info.version' value='{}'/>\n      \
             <property name='user.was.installLocation' value='{was}'/>\n      \
             <property name='user.wp.profile' value='{}'/>\n",
            portal_line.name,
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.display(portal_line.first_cf),
            plan.profile
        ));
        s.push_str(&feature("portal.binary", "RequiredAndNotVisible"));
        s.push_str(&feature("portal.profile", "OptionalAndVisible"));
        s.push_str("    </package>\n");
        // The group's other PORTAL offerings (ENABLE, and the 8.5 ones under 9.5), at the same CF.
        let cf = portal_line.first_cf;
        for (id, name, release, base) in portal_line.offerings() {
            if id == portal_line.id {
                continue;
            }
            s.push_str(&format!(
                "    <package kind='offering' name='{name}' id='{id}' version='{base}.{}'>\n      \
                 <property name='cic.info.version' value='{release} CF{cf}'/>\n    </package>\n",
                date_tag(portal_line.build_time(cf))
            ));
        }
        // Interim fixes are packages nested in the product's location (docs/im-facts.md §9),
        // written in the attribute order real files use.
        let (fix_id, fix_version) = portal_fix(plan);
        s.push_str(&format!(
            "    <package id='{fix_id}' kind='fix' name='Interim fix {}' version='{fix_version}'>\n      \
             <property name='cic.info.version' value='{fix_version}'/>\n    </package>\n  </location>\n",
            portal_line.ifix
        ));
    }

    if let Some(im) = &plan.im {
        // IM lists itself as a package group of its own (docs/im-facts.md §9); real files vary
        // attribute order and quoting, so the non-admin hosts write it the other way round.
        let own = if plan.mode == Mode::Admin {
            format!("<location id='IBM Installation Manager' kind='self' path='{im}/eclipse'>")
        } else {
            format!(
                "<location kind=\"self\" path=\"{im}/eclipse\" id=\"IBM Installation Manager\">"
            )
        };
        s.push_str(&format!(
            "  {own}\n    \
             <property name='agent.java.home' value='{im}/eclipse/{IM_JRE}/jre'/>\n    \
             <property name='agent.jre' value='{IM_JRE}'/>\n    \
             <property name='agent.launcher' value='{im}/eclipse/IBMIM'/>\n    \
             <package kind='offering' name='IBM® Installation Manager' id='com.ibm.cic.agent' version='{IM_INTERNAL}'>\n      \
             <property name='cic.info.version' value='{IM_VERSION}'/>\n"
        ));
        s.push_str(&feature("agent_core", "RequiredAndNotVisible"));
        s.push_str(&feature("agent_jre", "RequiredAndNotVisible"));
        s.push_str("    </package>\n  </location>\n");
    }
    s.push_str("</installInfo>\n");
    s
}

pub(crate) fn install_registry_xml(plan: &Plan) -> String {
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    let mut s = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<installRegistry>\n  \
         <property name='cacheLocation' value='{}'/>\n  <property name='accessRights' value='{}'/>\n",
        plan.shared,
        plan.mode.access_rights()
    );
    let profile_head = |group: &str, path: &str| {
        format!(
            "  <profile id='{group}'>\n    <property name='installLocation' value='{path}'/>\n    \
             <property name='eclipseLocation' value='{path}'/>\n    <property name='cic.selector.nl' value='en'/>\n"
        )
    };
    s.push_str(&profile_head(was_line.group, &plan.was));
    s.push_str(&format!(
        "    <offering id='{}'>\n      <version value='{}' repoInfo='{}'/>\n    </offering>\n",
        plan.edition.offering(was_line),
        was_line.internal(was_line.first_fp),
        was_line.repo_info(was_line.first_fp)
    ));
    s.push_str(&format!(
        "    <offering id='com.ibm.java.jdk.v8'>\n      <version value='{SDK_INTERNAL}' \
         repoInfo='repositoryLocation=/mnt/repo/sdk8/8.0.8.15,repositoryKind=file'/>\n    </offering>\n  </profile>\n"
    ));
    if let Some(portal) = &plan.portal {
        s.push_str(&profile_head(portal_line.group, portal));
        s.push_str(&format!(
            "    <offering id='{}'>\n      <version value='{}' repoInfo='{}'/>\n    </offering>\n",
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.repo_info(portal_line.first_cf)
        ));
        let cf = portal_line.first_cf;
        for (id, _, _, base) in portal_line.offerings() {
            if id != portal_line.id {
                s.push_str(&format!(
                    "    <offering id='{id}'>\n      <version value='{base}.{}' repoInfo='{}'/>\n    </offering>\n",
                    date_tag(portal_line.build_time(cf)),
                    portal_line.repo_info(cf)
                ));
            }
        }
        let (fix_id, fix_version) = portal_fix(plan);
        s.push_str(&format!(
            "    <fix id='{fix_id}'>\n      <version value='{fix_version}' \
             repoInfo='repositoryLocation={}/ifix/{},repositoryKind=file'/>\n    </fix>\n  </profile>\n",
            portal_line.repo, portal_line.ifix
        ));
    }
    if let Some(im) = &plan.im {
        // IM keeps a profile for itself too (docs/im-facts.md §9). IM's response files write it
        // with kind='self'; registry files may lack the attribute, so the non-admin hosts omit it.
        let kind = if plan.mode == Mode::Admin {
            " kind='self'"
        } else {
            ""
        };
        s.push_str(&format!(
            "  <profile id='IBM Installation Manager'{kind}>\n    \
             <property name='installLocation' value='{im}/eclipse'/>\n    \
             <property name='cic.selector.nl' value='en'/>\n    \
             <offering id='com.ibm.cic.agent'>\n      <version value='{IM_INTERNAL}' \
             repoInfo='repositoryLocation=/mnt/repo/im/{IM_VERSION},repositoryKind=file'/>\n    \
             </offering>\n  </profile>\n"
        ));
    }
    s.push_str("</installRegistry>\n");
    s
}

/// The interim fix the sample's Portal carries: its id and version, the same in both records.
pub(crate) fn portal_fix(plan: &Plan) -> (String, String) {
    let line = plan.portal_line();
    let fix_time = line.build_time(line.first_cf) + 7 * DAY;
    (
        format!(
            "{}-{}-IF{}",
            line.product_version,
            if plan.layout == Layout::Hcl {
                "DXPortal"
            } else {
                "WP"
            },
            line.ifix
        ),
        format!("{}.{}", line.base, date_tag(fix_time)),
    )
}

pub(crate) fn write_agent_data(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let a = &plan.agent;
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    w.text(&format!("{a}/installed.xml"), &installed_xml(plan))?;
    w.text(
        &format!("{a}/installRegistry.xml"),
        &install_registry_xml(plan),
    )?;
    w.text(
        &format!("{a}/installed.xsl"),
        "<?xml version='1.0' encoding='UTF-8'?>\n<xsl:stylesheet version='1.0' \
         xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\n  <xsl:template match='/'>\n    \
         <html><body><xsl:apply-templates select='installInfo/location'/></body></html>\n  \
         </xsl:template>\n</xsl:stylesheet>\n",
    )?;

    let mut offerings = vec![(
        was_line.id,
        was_line.internal(was_line.first_fp),
        was_line.display(was_line.first_fp),
        was_line.group,
    )];
    if plan.portal.is_some() {
        offerings.push((
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.display(portal_line.first_cf),
            portal_line.group,
        ));
    }
    for (id, internal, display, group) in &offerings {
        w.text(
            &format!("{a}/adapters/native/{id}_{internal}.xml"),
            &format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n<adapterData offering='{id}' version='{internal}' \
                 profile='{group}'>\n  <rollbackState saved='true'/>\n</adapterData>\n"
            ),
        )?;
        w.text(
            &format!("{a}/installRegistry/offerings/{id}_{internal}.xml"),
            &format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n<offering id='{id}' version='{internal}' \
                 displayVersion='{display}'>\n  <property name='profile' value='{group}'/>\n</offering>\n"
            ),
        )?;
        w.generated(&format!("{a}/license/{id}/lic_en.txt"), "txt", 3 * 1024)?;
    }
    w.jar(
        &format!("{a}/bundles/com.ibm.cic.licensing.common.core_8.1.0.v20230711_1525.jar"),
        12 * 1024,
    )?;
    w.text(
        &format!("{a}/.settings/com.ibm.cic.agent.core.prefs"),
        &format!(
            "eclipse.preferences.version=1\ncom.ibm.cic.agent.core.pref.offering.service.repositories.areUsed=false\n\
             RepositoryLocations=\\n{}\n",
            was_line.repo
        ),
    )?;
    w.text(
        &format!("{a}/.settings/com.ibm.cic.common.core.preferences.prefs"),
        "eclipse.preferences.version=1\ncom.ibm.cic.common.core.preferences.preserveDownloadedArtifacts=true\n\
         com.ibm.cic.common.core.preferences.keepFetchedFiles=false\n",
    )?;
    w.text(
        &format!("{a}/histories/{}_install.xml", date_tag(BASE_TIME)),
        &format!(
            "<?xml version='1.0' encoding='UTF-8'?>\n<history time='{}'>\n{}</history>\n",
            iso(BASE_TIME),
            offerings
                .iter()
                .map(|(id, internal, _, group)| {
                    format!("  <install offering='{id}' version='{internal}' profile='{group}'/>\n")
                })
                .collect::<String>()
        ),
    )?;
    let mut messages = Vec::new();
    if let Some(im) = &plan.im {
        messages.push(format!(
            "Installed com.ibm.cic.agent_{IM_INTERNAL} to the {im} directory."
        ));
        let log = format!("{a}/logs/{}.xml", date_tag(IM_INSTALL_TIME));
        w.stamp(&log, IM_INSTALL_TIME + 60);
        w.text(
            &log,
            &im_log(
                IM_INSTALL_TIME,
                plan.mode.access_rights(),
                plan.mode.user(),
                &messages,
            ),
        )?;
        messages.clear();
    }
    for (id, internal, _, group) in &offerings {
        messages.push(format!(
            "Installed {id}_{internal} to the package group {group}."
        ));
    }
    let log = format!("{a}/logs/{}.xml", date_tag(BASE_TIME));
    w.stamp(&log, BASE_TIME + 60);
    w.text(
        &log,
        &im_log(
            BASE_TIME,
            plan.mode.access_rights(),
            plan.mode.user(),
            &messages,
        ),
    )?;
    w.text(
        &format!("{a}/logs/log.properties"),
        "# Installation Manager logging\nglobal.level=INFO\ncom.ibm.cic.agent.core.level=INFO\n",
    )?;
    w.generated(
        &format!(
            "{a}/p2/org.eclipse.equinox.p2.engine/profileRegistry/{}.profile/1.profile",
            was_line.group.replace(' ', "_")
        ),
        "xml",
        4 * 1024,
    )?;
    w.text(
        &format!("{a}/p2/org.eclipse.equinox.p2.core/cache/artifacts.xml"),
        "<?xml version='1.0' encoding='UTF-8'?>\n<repository name='download cache' type='org.eclipse.equinox.p2.artifact.repository.simpleRepository' version='1'>\n  <artifacts size='0'/>\n</repository>\n",
    )?;
    w.generated(&format!("{a}/pluginState/.metadata/.log"), "log", 2 * 1024)?;
    w.dir(&format!("{a}/pluginState/.metadata/.plugins"))?;
    w.dir(&format!("{a}/temp"))?;
    for name in ["uninstall", "uninstallc"] {
        w.script(
            &format!("{a}/uninstall/{name}"),
            &stub_script(name, "Installation Manager uninstaller", "IM_DATA", a),
        )?;
    }
    w.text(
        &format!("{a}/uninstall/uninstall.ini"),
        &format!("-accessRights\n{}\n", plan.mode.access_rights()),
    )?;
    Ok(())
}
