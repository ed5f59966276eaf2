//! Real-host tests: the products' own version files against IM's records (issue 22, points 2, 3
//! and 4) — Portal's `wps.properties` with the keys Portal writes (`version`, `fixlevel`), a DX
//! package group holding several PORTAL offerings (8.5 and 9.5, SERVER and ENABLE) beside a Remote
//! Search group of its own, and WebSphere editions whose `WAS.product` is matched through
//! `was.install.productid`. Each desynced host fails `doctor` naming the levels; its consistent
//! twin passes. See main.rs.

use serde_json::Value;

use crate::common::Env;
use lockstep_sample::{Layout, SampleOptions, WasEdition, apply_fix_pack, desync_product_files};

const HCL_PORTAL: &str = "/opt/HCL/WebSphere/PortalServer";
const IBM_PORTAL: &str = "/opt/IBM/WebSphere/PortalServer";
const IBM_VERSION: &str = "/opt/IBM/WebSphere/AppServer/properties/version";

fn read(env: &Env, logical: &str) -> String {
    std::fs::read_to_string(env.physical(logical)).unwrap()
}

/// Replaces `from` by `to` in the file at `logical`, which must contain it.
fn edit(env: &Env, logical: &str, from: &str, to: &str) {
    let text = read(env, logical);
    assert!(text.contains(from), "{logical} has no {from:?}:\n{text}");
    std::fs::write(env.physical(logical), text.replace(from, to)).unwrap();
}

/// Runs `doctor --json`, checks its exit code, and returns the one instance's report.
#[track_caller]
fn doctor(env: &Env, code: i32) -> Value {
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(
        run.code, code,
        "doctor exit\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.json()["instances"][0].clone()
}

/// `(path, what)` of the findings of `severity`.
fn findings(report: &Value, severity: &str) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] == severity)
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["what"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn version_files(report: &Value) -> u64 {
    report["checked"]["version_files"].as_u64().unwrap()
}

#[test]
fn portal_wps_properties_at_another_cf_than_im_records_fails_doctor() {
    let env = Env::bare(SampleOptions {
        layout: Layout::Ibm,
        ..SampleOptions::default()
    });
    let wps = format!("{IBM_PORTAL}/wps.properties");
    let copy = "/opt/IBM/WebSphere/wp_profile/PortalServer/wps.properties";
    // Portal's own keys, as real files have them (no WPVersion / WPCumulativeFix).
    for file in [wps.as_str(), copy] {
        let text = read(&env, file);
        for key in [
            "\nversion=8.5.0.0\n",
            "\nfixlevel=CF17\n",
            "\nProfileDirectory=",
        ] {
            assert!(text.contains(key), "{file}: {key:?}\n{text}");
        }
        assert!(!text.contains("WPCumulativeFix"), "{text}");
    }

    // The consistent twin: every version file compared, nothing found.
    let clean = doctor(&env, 0);
    assert!(
        clean["findings"].as_array().unwrap().is_empty(),
        "{clean:#}"
    );
    // ND.product, MP.product, wps.properties and the profile's copy.
    assert_eq!(version_files(&clean), 4, "{clean:#}");

    // Portal files at CF16 under IM records of CF17: only wps.properties says so.
    edit(&env, &wps, "\nfixlevel=CF17\n", "\nfixlevel=CF16\n");
    let report = doctor(&env, 1);
    let errors = findings(&report, "error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, wps);
    assert!(
        errors[0].1.contains("8.5.0.0 CF16")
            && errors[0]
                .1
                .contains("com.ibm.websphere.PORTAL.SERVER.v85 at 8.5 CF17"),
        "{errors:?}"
    );
    // The profile's copy is compared too.
    edit(&env, copy, "\nfixlevel=CF17\n", "\nfixlevel=CF18\n");
    let errors = findings(&doctor(&env, 1), "error");
    assert!(
        errors
            .iter()
            .any(|(path, what)| path == copy && what.contains("CF18")),
        "{errors:?}"
    );
    let text = env.run(&["doctor"]).stdout;
    assert!(text.contains("CF16") && text.contains("CF17"), "{text}");
}

#[test]
fn a_dx_95_group_with_85_and_95_offerings_is_compared_with_its_95_server() {
    let env = Env::bare(SampleOptions::default());
    let installed = read(&env, "/var/ibm/InstallationManager/installed.xml");
    for id in ["SERVER.v85", "ENABLE.v85", "SERVER.v95", "ENABLE.v95"] {
        assert!(
            installed.contains(&format!("id='com.ibm.websphere.PORTAL.{id}'")),
            "{id}"
        );
    }

    // Twin: consistent, clean, and the Portal files were compared (not skipped as ambiguous).
    let clean = doctor(&env, 0);
    assert!(
        clean["findings"].as_array().unwrap().is_empty(),
        "{clean:#}"
    );
    assert_eq!(version_files(&clean), 4, "{clean:#}");
    // Still clean after a CF moved IM and every offering of the group together.
    apply_fix_pack(&env.host, 0).unwrap();
    doctor(&env, 0);

    desync_product_files(&env.host, 0).unwrap();
    let report = doctor(&env, 1);
    let errors = findings(&report, "error");
    let portal: Vec<&(String, String)> = errors
        .iter()
        .filter(|(path, _)| path.starts_with(HCL_PORTAL) || path.contains("wp_profile"))
        .collect();
    assert_eq!(portal.len(), 3, "{errors:?}");
    for (path, what) in portal {
        assert!(
            what.contains("9.5.0.0 CF219")
                && what.contains("com.ibm.websphere.PORTAL.SERVER.v95 at 9.5 CF220"),
            "{path}: {what}"
        );
    }
}

/// Adds a Remote Search package group of its own to the host's records and disk, at `cf`.
fn add_remote_search(env: &Env, cf: u32) -> String {
    let dir = "/opt/HCL/WebSphere/RemoteSearch".to_owned();
    edit(
        env,
        "/var/ibm/InstallationManager/installed.xml",
        "</installInfo>",
        &format!(
            "  <location id='IBM WebSphere Portal Remote Search V8.5' kind='product' path='{dir}'>\n    \
             <package kind='offering' name='IBM WebSphere Portal Remote Search' id='com.ibm.websphere.PORTAL.REMOTESEARCH.v85' version='8.5.0.20240315_0915'>\n      \
             <property name='cic.info.version' value='8.5 CF{cf}'/>\n    </package>\n  </location>\n</installInfo>"
        ),
    );
    let version = env.physical(&format!("{dir}/version"));
    std::fs::create_dir_all(&version).unwrap();
    std::fs::write(
        version.join("RS.product"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE product SYSTEM \"product.dtd\">\n\
             <product name=\"IBM WebSphere Portal Remote Search\"><id>RS</id><version>8.5.0.0</version>\
             <build-info date=\"3/15/24\" level=\"CF{cf}\"/></product>\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_remote_search_group_of_its_own_is_not_falsely_flagged() {
    let env = Env::bare(SampleOptions::default());
    let rs = add_remote_search(&env, 219);
    let clean = doctor(&env, 0);
    assert!(
        clean["findings"].as_array().unwrap().is_empty(),
        "{clean:#}"
    );
    assert_eq!(version_files(&clean), 5, "{clean:#}");

    // The DX server desynced: the findings are the server's, none the Remote Search group's.
    desync_product_files(&env.host, 0).unwrap();
    let report = doctor(&env, 1);
    let all: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(!all.iter().any(|p| p.starts_with(&rs)), "{all:?}");
    assert!(all.iter().any(|p| p.starts_with(HCL_PORTAL)), "{all:?}");
}

/// A WebSphere edition's host: twin clean with `WAS.product` (DOCTYPE and all) compared; desynced
/// fails naming the edition's offering.
fn edition_host(edition: WasEdition, offering: &str, product_id: &str) {
    let env = Env::bare(SampleOptions {
        layout: Layout::Ibm,
        was_edition: edition,
        ..SampleOptions::default()
    });
    let installed = read(&env, "/var/ibm/InstallationManager/installed.xml");
    assert!(
        installed.contains(&format!("id='{offering}'")),
        "{installed}"
    );
    assert!(
        installed.contains(&format!(
            "<property name='was.install.productid' value='{product_id}'/>"
        )),
        "{installed}"
    );
    let was_product = format!("{IBM_VERSION}/WAS.product");
    let text = read(&env, &was_product);
    assert!(
        text.contains("<!DOCTYPE product SYSTEM \"product.dtd\">")
            && text.contains(&format!("<id>{product_id}</id>")),
        "{text}"
    );

    let clean = doctor(&env, 0);
    assert!(
        clean["findings"].as_array().unwrap().is_empty(),
        "{clean:#}"
    );
    assert_eq!(version_files(&clean), 4, "{clean:#}");

    desync_product_files(&env.host, 0).unwrap();
    let report = doctor(&env, 1);
    let errors = findings(&report, "error");
    let was: Vec<&(String, String)> = errors.iter().filter(|(p, _)| *p == was_product).collect();
    assert_eq!(was.len(), 1, "{errors:?}");
    assert!(
        was[0].1.contains(&format!(
            "at 8.5.5.21, but IM records {offering} at 8.5.5.20"
        )),
        "{:?}",
        was[0]
    );
}

#[test]
fn a_developers_edition_was_product_is_compared_through_its_product_id() {
    edition_host(
        WasEdition::DevelopersIlan,
        "com.ibm.websphere.DEVELOPERSILAN.v85",
        "BASE",
    );
}

#[test]
fn an_nd_trial_was_product_is_compared_through_its_product_id() {
    edition_host(WasEdition::NdTrial, "com.ibm.websphere.NDTRIAL.v85", "ND");
}

#[test]
fn a_product_path_that_is_a_symlink_still_has_its_version_files_compared() {
    // AppServer is an absolute link to a relocated disk: the version files are read through it
    // inside the host's root, never skipped.
    let env = Env::bare(SampleOptions {
        shape: lockstep_sample::Shape::SymlinkedProduct,
        ..SampleOptions::default()
    });
    let clean = doctor(&env, 0);
    assert_eq!(version_files(&clean), 4, "{clean:#}");
    // The file on the relocated disk moves a fix pack ahead of IM's records.
    edit(
        &env,
        &format!(
            "{}/properties/version/ND.product",
            lockstep_sample::RELOCATED_APPSERVER
        ),
        "<version>9.0.5.17</version>",
        "<version>9.0.5.18</version>",
    );
    let errors = findings(&doctor(&env, 1), "error");
    assert!(
        errors.iter().any(|(path, what)| path
            == "/opt/HCL/WebSphere/AppServer/properties/version/ND.product"
            && what.contains("9.0.5.18")),
        "{errors:?}"
    );
}
