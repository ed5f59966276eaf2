//! The sync guard's eyes: `status`, `diff` and `doctor` on sample hosts, through the real binary.

use crate::common::Env;
use lockstep_sample::{SampleOptions, Shape, apply_fix_pack, desync_product_files};
use serde_json::Value;

const ND: &str = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
const MP: &str = "/opt/HCL/WebSphere/PortalServer/version/MP.product";
const PORTAL: &str = "/opt/HCL/WebSphere/PortalServer";

fn short(id: &Value) -> String {
    id.as_str().unwrap()[..8].to_owned()
}

fn count(files: &Value, role: &str, what: &str) -> u64 {
    files[role][what]
        .as_u64()
        .unwrap_or_else(|| panic!("no {role}.{what} in {files}"))
}

#[test]
fn status_sees_a_fix_pack_as_drift_until_the_next_backup() {
    let env = Env::new(Shape::Admin);

    let none = env.run(&["status"]);
    assert_eq!(none.code, 1, "{}", none.stdout);
    assert!(
        none.stdout.starts_with("no snapshot yet"),
        "{}",
        none.stdout
    );
    assert_eq!(
        env.run(&["status", "--json"]).json()["verdict"],
        "no-snapshot"
    );

    let s1 = env.backup(&[])["snapshot"].clone();
    let clean = env.run(&["status"]).ok();
    let first = clean.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("in sync with {} (", short(&s1))) && first.ends_with("s ago)"),
        "{first}"
    );

    apply_fix_pack(&env.host, 0).unwrap();
    let drift = env.run(&["status"]);
    assert_eq!(drift.code, 1, "{}\n{}", drift.stdout, drift.stderr);
    let first = drift.stdout.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("DRIFT since {} (", short(&s1))),
        "{first}"
    );
    assert!(
        first.ends_with(
            // The DX group moves its four PORTAL offerings at once; DX is named once.
            "5 offerings upgraded (DX 9.5 CF219 → 9.5 CF220, WAS ND 9.0.5.17 → 9.0.5.18)"
        ),
        "{first}"
    );
    assert!(
        drift
            .stdout
            .contains("com.ibm.websphere.ND.v90 upgraded 9.0.5.17 → 9.0.5.18"),
        "{}",
        drift.stdout
    );
    let json = env.run(&["status", "--json"]).json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["verdict"], "drift");
    assert_eq!(json["snapshot"]["id"], s1);
    let upgraded: Vec<&str> = json["inventory_diff"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["offerings"].as_array().unwrap())
        .filter(|o| o["change"] == "upgraded")
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    // Every offering the fix pack moved is listed: the DX group's four PORTAL offerings and WAS.
    assert_eq!(
        upgraded,
        vec![
            "com.ibm.websphere.PORTAL.ENABLE.v85",
            "com.ibm.websphere.PORTAL.ENABLE.v95",
            "com.ibm.websphere.PORTAL.SERVER.v85",
            "com.ibm.websphere.PORTAL.SERVER.v95",
            "com.ibm.websphere.ND.v90"
        ]
    );
    let files = &json["files"];
    assert_eq!(count(files, "im-agent-data", "changed"), 2, "{files}");
    assert!(count(files, "product", "changed") >= 3, "{files}");
    assert!(files["product"].get("changed_paths").is_none());

    let s2 = env.backup(&["--label", "after fix pack"])["snapshot"].clone();
    let synced = env.run(&["status"]).ok();
    assert!(
        synced
            .stdout
            .starts_with(&format!("in sync with {} (", short(&s2))),
        "{}",
        synced.stdout
    );
    let json = env.run(&["status", "--json"]).ok().json();
    assert_eq!(json["verdict"], "in-sync");
    assert_eq!(json["snapshot"]["id"], s2);
    for (role, c) in json["files"].as_object().unwrap() {
        assert_eq!(
            (&c["added"], &c["changed"], &c["removed"]),
            (&Value::from(0), &Value::from(0), &Value::from(0)),
            "{role}"
        );
    }
}

#[test]
fn product_only_changes_are_reported_but_im_changes_are_drift() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    // A product writes a log: reported, still in sync.
    let log = env.physical("/opt/HCL/WebSphere/AppServer/logs/install/log.txt");
    let mut text = std::fs::read_to_string(&log).unwrap();
    text.push_str("one more line\n");
    std::fs::write(&log, text).unwrap();
    let run = env.run(&["status", "--json"]).ok();
    let json = run.json();
    assert_eq!(json["verdict"], "in-sync");
    assert_eq!(count(&json["files"], "product", "changed"), 1);
    let text = env.run(&["status", "--verbose"]).ok().stdout;
    assert!(
        text.contains("~ /opt/HCL/WebSphere/AppServer/logs/install/log.txt"),
        "{text}"
    );

    // IM's agent data changes without an inventory change: drift all the same.
    let agent = env.host.instances[0].agent_data.clone();
    std::fs::write(
        env.physical(&format!("{agent}/logs/20991231_0000.xml")),
        "<log/>",
    )
    .unwrap();
    let run = env.run(&["status"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .lines()
            .next()
            .unwrap()
            .ends_with("IM's files changed (im-agent-data 1 added, 0 changed, 0 removed)"),
        "{}",
        run.stdout
    );
}

#[test]
fn diff_names_the_upgrade_between_snapshots_and_against_the_live_host() {
    let env = Env::new(Shape::Admin);
    let s1 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();
    let report = apply_fix_pack(&env.host, 0).unwrap();
    let s2 = env.backup(&[])["snapshot"].as_str().unwrap().to_owned();

    // The fix pack rewrote installed.xml and installRegistry.xml besides the product files (and
    // the Portal profile's copy of wps.properties, an extra member), and added a rollback payload
    // and an agent log besides its new product files.
    let expect = |files: &Value| {
        assert_eq!(
            count(files, "product", "changed") as usize,
            report.files_changed - 3,
            "{files}"
        );
        assert_eq!(
            count(files, "product", "added") as usize,
            report.files_added - 2,
            "{files}"
        );
        assert_eq!(
            count(files, "product", "removed") as usize,
            report.files_removed,
            "{files}"
        );
        assert_eq!(count(files, "im-agent-data", "changed"), 2, "{files}");
        assert_eq!(count(files, "extra", "changed"), 1, "{files}");
    };

    let between = env.run(&["diff", &s1[..10], &s2, "--json"]).ok().json();
    assert_eq!(between["schema_version"], 1);
    assert_eq!(between["from"]["id"], s1.as_str());
    assert_eq!(between["to"]["id"], s2.as_str());
    expect(&between["files"]);
    let text = env.run(&["diff", &s1, &s2]).ok().stdout;
    assert!(
        text.contains("com.ibm.websphere.ND.v90 upgraded 9.0.5.17 → 9.0.5.18"),
        "{text}"
    );
    assert!(
        text.contains("com.ibm.websphere.PORTAL.SERVER.v95 upgraded 9.5 CF219 → 9.5 CF220"),
        "{text}"
    );
    assert!(!text.contains(ND), "paths without --verbose: {text}");

    let live = env.run(&["diff", &s1, "--json"]).ok().json();
    assert!(live["to"].is_null());
    expect(&live["files"]);
    assert_eq!(live["inventory_diff"], between["inventory_diff"]);
    let verbose = env.run(&["diff", &s1, "--verbose"]).ok().stdout;
    assert!(verbose.contains("to the live host"), "{verbose}");
    assert!(verbose.contains(&format!("~ {ND}")), "{verbose}");
    assert!(verbose.contains(&format!("~ {MP}")), "{verbose}");

    // The newest snapshot against the live host: nothing changed.
    let none = env.run(&["diff", "latest", "--json"]).ok().json();
    assert_eq!(none["from"]["id"], s2.as_str());
    assert!(
        none["inventory_diff"]["groups"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let text = env.run(&["diff", "latest"]).ok().stdout;
    assert!(text.contains("IM's records: no change"), "{text}");
    assert!(!text.contains(" added,"), "{text}");

    let bad = env.run(&["diff", "ffffffff"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("lockstep snapshots"), "{}", bad.stderr);
}

/// The findings of the first instance, as (severity, path) pairs.
fn findings(json: &Value) -> Vec<(String, String)> {
    json["instances"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap().to_owned(),
                f["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn error_paths(json: &Value) -> Vec<String> {
    findings(json)
        .into_iter()
        .filter(|(s, _)| s == "error")
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn doctor_finds_a_clean_sample_host_clean() {
    for shape in [Shape::Admin, Shape::NonAdmin] {
        let env = Env::bare(SampleOptions {
            shape,
            ..SampleOptions::default()
        });
        let run = env.run(&["doctor"]).ok();
        assert!(run.stdout.contains(": clean ("), "{}", run.stdout);
        assert!(
            // ND.product, MP.product, wps.properties and the profile's copy of it.
            run.stdout.contains("4 version files checked"),
            "{}",
            run.stdout
        );
        let json = env.run(&["doctor", "--json"]).ok().json();
        assert_eq!(json["errors"], 0);
        assert!(findings(&json).is_empty(), "{json}");
        // Still clean after a fix pack: IM and the products moved together.
        apply_fix_pack(&env.host, 0).unwrap();
        env.run(&["doctor"]).ok();
    }
}

#[test]
fn doctor_finds_product_version_files_that_disagree_with_im() {
    let env = Env::bare(SampleOptions::default());
    desync_product_files(&env.host, 0).unwrap();
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json = run.json();
    let errors = error_paths(&json);
    assert!(errors.contains(&ND.to_owned()), "{errors:?}");
    assert!(errors.contains(&MP.to_owned()), "{errors:?}");
    assert!(
        errors.contains(&format!("{PORTAL}/wps.properties")),
        "{errors:?}"
    );
    let text = env.run(&["doctor"]).stdout;
    assert!(
        text.contains(
            "the product says it is at 9.0.5.18, but IM records com.ibm.websphere.ND.v90 at 9.0.5.17"
        ),
        "{text}"
    );
    assert!(text.contains("do: "), "{text}");
}

#[test]
fn doctor_finds_missing_and_empty_package_group_dirs() {
    let env = Env::bare(SampleOptions::default());
    std::fs::remove_dir_all(env.physical(PORTAL)).unwrap();
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(error_paths(&run.json()), vec![PORTAL.to_owned()]);
    assert!(
        env.run(&["doctor"])
            .stdout
            .contains("but the directory is missing"),
    );
    std::fs::create_dir(env.physical(PORTAL)).unwrap();
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("but the directory is empty"),
        "{}",
        run.stdout
    );
}

#[test]
fn doctor_reports_a_truncated_installed_xml_instead_of_failing() {
    let env = Env::bare(SampleOptions::default());
    let agent = env.host.instances[0].agent_data.clone();
    let installed = format!("{agent}/installed.xml");
    let file = env.physical(&installed);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, &text[..text.len() / 2]).unwrap();
    let run = env.run(&["doctor", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let json = run.json();
    assert_eq!(error_paths(&json), vec![installed.clone()]);
    // installRegistry.xml still names the package groups, so they are still checked.
    assert_eq!(json["instances"][0]["checked"]["package_groups"], 2);
    let text = env.run(&["doctor"]).stdout;
    assert!(text.contains("IM's record cannot be used"), "{text}");
    assert!(
        !text.contains(&env.root().display().to_string()),
        "physical path shown: {text}"
    );
}
