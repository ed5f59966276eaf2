//! Real-host tests: IM's records as real installs write them (issue 22, points 1, 5 and 10).
//! IM listed as a package group of its own, interim fixes nested in `installed.xml`, and the
//! messages an administrator reads about them. See main.rs.

use serde_json::Value;

use crate::common::Env;
use lockstep_sample::{SampleOptions, Shape};

const AGENT: &str = "/var/ibm/InstallationManager";
const IM: &str = "/opt/IBM/InstallationManager";

fn read(env: &Env, logical: &str) -> String {
    std::fs::read_to_string(env.physical(logical)).unwrap()
}

fn write(env: &Env, logical: &str, text: &str) {
    std::fs::write(env.physical(logical), text).unwrap();
}

/// Replaces `from` by `to` in the record at `logical`, which must contain it.
fn edit(env: &Env, logical: &str, from: &str, to: &str) {
    let text = read(env, logical);
    assert!(text.contains(from), "{logical} has no {from:?}:\n{text}");
    write(env, logical, &text.replace(from, to));
}

fn discover(env: &Env) -> Value {
    env.run(&["discover", "--json"]).ok().json()["instances"][0].clone()
}

/// `(role, path)` of every member discover lists.
fn members(instance: &Value) -> Vec<(String, String)> {
    instance["set"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn products(instance: &Value) -> Vec<String> {
    members(instance)
        .into_iter()
        .filter(|(role, _)| role == "product")
        .map(|(_, path)| path)
        .collect()
}

fn group_ids(instance: &Value) -> Vec<String> {
    instance["inventory"]["package_groups"]
        .as_array()
        .expect("package groups")
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts IM is IM on this host: one `im-install` member at `install`, no product member and
/// no package group for IM's own `eclipse` directory, and the sample's two products.
#[track_caller]
fn assert_im_is_im(env: &Env, install: &str) {
    let instance = discover(env);
    let all = members(&instance);
    assert!(
        all.contains(&("im-install".to_owned(), install.to_owned())),
        "{all:?}"
    );
    let products = products(&instance);
    assert_eq!(products.len(), 2, "{products:?}");
    assert!(
        products.iter().all(|p| !p.ends_with("/eclipse")),
        "IM's own directory is listed as a product: {products:?}"
    );
    let groups = group_ids(&instance);
    assert!(
        !groups.iter().any(|g| g.contains("Installation Manager")),
        "{groups:?}"
    );
    assert_eq!(
        instance["inventory"]["im_version"].as_str(),
        Some("1.9.2"),
        "{}",
        instance["inventory"]
    );
}

#[test]
fn im_own_package_group_is_im_not_a_product() {
    // The sample writes IM's location (kind='self') and profile the way real installs do.
    let env = Env::new(Shape::Admin);
    let registry = read(&env, &format!("{AGENT}/installRegistry.xml"));
    assert!(
        registry.contains("<profile id='IBM Installation Manager'"),
        "{registry}"
    );
    assert_im_is_im(&env, IM);

    // Whatever the attribute order and quoting, and with or without kind='self'.
    for (from, to) in [
        (
            "<profile id='IBM Installation Manager' kind='self'>",
            "<profile\n    kind=\"self\"\n    id=\"IBM Installation Manager\">",
        ),
        (
            "<profile\n    kind=\"self\"\n    id=\"IBM Installation Manager\">",
            "<profile id=\"IBM Installation Manager\">",
        ),
    ] {
        edit(&env, &format!("{AGENT}/installRegistry.xml"), from, to);
        assert_im_is_im(&env, IM);
    }
    edit(
        &env,
        &format!("{AGENT}/installed.xml"),
        "<location id='IBM Installation Manager' kind='self' path='/opt/IBM/InstallationManager/eclipse'>",
        "<location path=\"/opt/IBM/InstallationManager/eclipse\" kind=\"self\" id=\"IBM Installation Manager\">",
    );
    assert_im_is_im(&env, IM);

    // The non-admin host writes them the other way round (double quotes, no kind in the registry).
    let env = Env::new(Shape::NonAdmin);
    let instance = discover(&env);
    let products = products(&instance);
    assert_eq!(products.len(), 2, "{products:?}");
    assert!(
        products.iter().all(|p| !p.ends_with("/eclipse")),
        "{products:?}"
    );
}

/// Moves IM's install directory from the sample's `/opt/IBM/InstallationManager` to `to` (the
/// parent of its `eclipse`), rewriting every record that names it.
#[test]
fn im_installed_inside_a_product_directory_or_elsewhere_is_im() {
    for place in [
        // Inside a product directory: /opt/Apps/WebSphere/was8.5/product/eclipse.
        "/opt/HCL/WebSphere/AppServer/IIM",
        // Beside the products: …/was8.5/IIM/eclipse.
        "/opt/HCL/WebSphere/IIM",
    ] {
        let mut env = Env::new(Shape::Admin);
        lockstep_sample::relocate_im(&mut env.host, 0, place).unwrap();
        assert_im_is_im(&env, place);
    }
}

/// The changes `status --json` reports for `role`.
fn changed_in(status: &Value, role: &str) -> u64 {
    let c = &status["files"][role];
    c["added"].as_u64().unwrap_or(0)
        + c["changed"].as_u64().unwrap_or(0)
        + c["removed"].as_u64().unwrap_or(0)
}

#[test]
fn status_attributes_an_im_update_to_im_install() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    // IM updates itself: a file in its eclipse directory changes.
    let ini = format!("{IM}/eclipse/configuration/config.ini");
    let text = read(&env, &ini);
    write(&env, &ini, &format!("{text}# updated by IM\n"));
    let status = env.run(&["status", "--json"]).json();
    assert_eq!(changed_in(&status, "im-install"), 1, "{status:#}");
    assert_eq!(changed_in(&status, "product"), 0, "{status:#}");
}

#[test]
fn restore_only_product_leaves_im_out() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let out = env
        .run(&["restore", "latest", "--only", "product", "--dry-run"])
        .ok();
    assert!(
        out.stdout.contains("/opt/HCL/WebSphere/AppServer"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("InstallationManager"),
        "IM's directory is restored as a product:\n{}",
        out.stdout
    );
}

#[test]
fn im_version_comes_from_its_own_offering_when_only_the_registry_has_it() {
    // No version in InstallationManager.dat or config.ini, and installed.xml without IM's own
    // location: installRegistry.xml's com.ibm.cic.agent says which IM this is.
    let env = Env::new(Shape::Admin);
    edit(
        &env,
        "/etc/.ibm/registry/InstallationManager.dat",
        "version=1.9.2\n",
        "",
    );
    let ini = format!("{IM}/eclipse/configuration/config.ini");
    let text = read(&env, &ini);
    let text: String = text
        .lines()
        .filter(|l| !l.starts_with("im.version=") && !l.starts_with("im.internal.version="))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&env, &ini, &text);
    let installed = format!("{AGENT}/installed.xml");
    let text = read(&env, &installed);
    let start = text
        .find("  <location id='IBM Installation Manager'")
        .unwrap();
    let end = text[start..].find("</location>\n").unwrap() + start + "</location>\n".len();
    write(
        &env,
        &installed,
        &format!("{}{}", &text[..start], &text[end..]),
    );

    let instance = discover(&env);
    let version = instance["inventory"]["im_version"].as_str().unwrap_or("");
    assert!(version.starts_with("1.9.2"), "{}", instance["inventory"]);
    assert!(
        !group_ids(&instance)
            .iter()
            .any(|g| g.contains("Installation Manager"))
    );
}

/// The fix ids the inventory lists, over all package groups.
fn fixes(instance: &Value) -> Vec<String> {
    instance["inventory"]["package_groups"]
        .as_array()
        .expect("package groups")
        .iter()
        .flat_map(|g| g["fixes"].as_array().cloned().unwrap_or_default())
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn fixes_nested_in_installed_xml_stay_in_the_inventory_without_the_registry() {
    let env = Env::new(Shape::Admin);
    let with_both = fixes(&discover(&env));
    assert_eq!(with_both, ["9.5.0.0-DXPortal-IFPH59321"], "{with_both:?}");
    let installed = read(&env, &format!("{AGENT}/installed.xml"));
    assert!(
        installed.contains("<package id='9.5.0.0-DXPortal-IFPH59321' kind='fix'"),
        "{installed}"
    );

    std::fs::remove_file(env.physical(&format!("{AGENT}/installRegistry.xml"))).unwrap();
    assert_eq!(fixes(&discover(&env)), with_both);
    let text = env.run(&["discover"]).ok().stdout;
    assert!(text.contains("fix 9.5.0.0-DXPortal-IFPH59321"), "{text}");
}

#[test]
fn doctor_without_install_registry_does_not_say_no_packages_are_installed() {
    let env = Env::new(Shape::Admin);
    assert_eq!(env.run(&["doctor"]).code, 0);
    std::fs::remove_file(env.physical(&format!("{AGENT}/installRegistry.xml"))).unwrap();
    let out = env.run(&["doctor"]);
    let shown = format!("{}{}", out.stdout, out.stderr);
    assert!(!shown.contains("knows of no installed packages"), "{shown}");
    assert!(shown.contains("installRegistry.xml"), "{shown}");
    // It names what installed.xml still lists.
    assert!(
        shown.contains("installed.xml lists 2 package groups"),
        "{shown}"
    );
    assert_eq!(out.code, 1, "{shown}");
}

#[test]
fn summary_names_each_product_once_by_its_common_name() {
    let env = Env::new(Shape::Admin);
    let installed = format!("{AGENT}/installed.xml");
    // A real DX group holds several PORTAL offerings; WAS groups carry IBM's Java as an offering.
    let text = read(&env, &installed);
    let at = text
        .find("id='com.ibm.websphere.PORTAL.SERVER.v95'")
        .and_then(|i| text[..i].rfind("<package"))
        .unwrap_or_else(|| panic!("{text}"));
    let mut extra = String::new();
    for (id, name, version, display) in [
        (
            "com.ibm.websphere.PORTAL.SERVER.v85",
            "IBM WebSphere Portal Server",
            "8.5.0.20140424_2155",
            "8.5.0.0",
        ),
        (
            "com.ibm.websphere.PORTAL.ENABLE.v85",
            "IBM WebSphere Portal Enable",
            "8.5.0.20140424_2155",
            "8.5.0.0",
        ),
        (
            "com.ibm.websphere.IBMJAVA.v80",
            "IBM WebSphere SDK Java Technology Edition",
            "8.0.3000.20160526_1317",
            "8.0.3.0",
        ),
    ] {
        if !text.contains(&format!("id='{id}'")) {
            extra.push_str(&format!(
                "<package kind='offering' name='{name}' id='{id}' version='{version}'>\n      \
                 <property name='cic.info.version' value='{display}'/>\n    </package>\n    "
            ));
        }
    }
    write(
        &env,
        &installed,
        &format!("{}{extra}{}", &text[..at], &text[at..]),
    );
    let out = env.run(&["discover"]).ok().stdout;
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with("inventory:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!line.contains("IBMJAVA"), "{line}");
    assert_eq!(line.matches("DX ").count(), 1, "{line}");
    assert!(line.contains("DX 9.5 CF"), "{line}");
    assert!(line.contains("WAS ND 9.0.5."), "{line}");
    assert!(line.contains("IM 1.9.2"), "{line}");
}

#[test]
fn non_admin_host_records_read_the_same() {
    let env = Env::with(SampleOptions {
        shape: Shape::Group,
        ..SampleOptions::default()
    });
    let instance = discover(&env);
    assert_eq!(products(&instance).len(), 2);
    assert_eq!(fixes(&instance).len(), 1);
}

/// A product-only dry run after a fix pack says IM's records stay as they are (they are not
/// restored), not that they "change back".
#[test]
fn a_product_only_dry_run_says_im_records_stay() {
    let env = Env::new(Shape::Admin);
    let before = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    lockstep_sample::apply_fix_pack(&env.host, 0).unwrap();
    let out = env.run(&[
        "restore",
        &before,
        "--only",
        "product",
        "--dry-run",
        "--force-desync",
    ]);
    assert!(
        !out.stdout.contains("change back"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("IM's records are not restored"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert_eq!(env.snapshot_count(), 1, "a dry run wrote a snapshot");
    let whole = env.run(&["restore", &before, "--dry-run"]);
    assert!(
        whole.stdout.contains("IM's records change back"),
        "{}\n{}",
        whole.stdout,
        whole.stderr
    );
}
