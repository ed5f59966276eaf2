//! Discovery through the real binary on sample hosts of every shape.

use crate::common::Env;
use lockstep_sample::{Layout, SampleOptions, Shape};
use serde_json::Value;

fn discover(env: &Env, extra: &[&str]) -> Value {
    let mut args = vec!["discover", "--json"];
    args.extend_from_slice(extra);
    env.run(&args).ok().json()
}

/// role → paths of one instance in the JSON output.
fn members(instance: &Value, role: &str) -> Vec<String> {
    instance["set"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == role)
        .map(|m| m["path"].as_str().unwrap().to_owned())
        .collect()
}

/// Every member of every instance exists and is a logical path (never under the test's root).
fn assert_logical_and_present(env: &Env, out: &Value) {
    let root = env.root().display().to_string();
    for i in out["instances"].as_array().unwrap() {
        for m in i["set"]["members"].as_array().unwrap() {
            let path = m["path"].as_str().unwrap();
            assert!(path.starts_with('/') && !path.contains(&root), "{path}");
            assert_eq!(m["exists"], true, "{m}");
        }
    }
}

fn check_instance(env: &Env, instance: &Value, index: usize) {
    let expected = &env.host.instances[index];
    assert_eq!(
        members(instance, "im-agent-data"),
        vec![expected.agent_data.clone()]
    );
    assert_eq!(
        members(instance, "im-shared"),
        vec![expected.shared.clone()]
    );
    assert_eq!(
        members(instance, "im-registry"),
        expected.registry.iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(
        members(instance, "im-install"),
        expected.install.iter().cloned().collect::<Vec<_>>()
    );
    let mut products = members(instance, "product");
    products.sort();
    let mut want = expected.products.clone();
    want.sort();
    assert_eq!(products, want);
    for profile in &expected.profiles {
        assert!(
            members(instance, "extra").contains(profile),
            "profile {profile} missing from {instance}"
        );
    }
    let groups = instance["inventory"]["package_groups"].as_array().unwrap();
    assert_eq!(groups.len(), expected.products.len());
    assert!(
        groups
            .iter()
            .all(|g| !g["offerings"].as_array().unwrap().is_empty())
    );
}

#[test]
fn admin_host_follows_ims_records() {
    let env = Env::bare(SampleOptions::default());
    let out = discover(&env, &[]);
    assert_eq!(out["instances"].as_array().unwrap().len(), 1);
    let i = &out["instances"][0];
    assert_eq!(i["name"], "admin");
    assert_eq!(i["mode"], "admin");
    check_instance(&env, i, 0);
    assert_logical_and_present(&env, &out);
}

#[test]
fn non_admin_and_group_hosts() {
    for (shape, name, mode) in [
        (Shape::NonAdmin, "wasadm", "non-admin"),
        (Shape::Group, "wasadm-group", "group"),
    ] {
        let env = Env::bare(SampleOptions {
            shape,
            ..SampleOptions::default()
        });
        let out = discover(&env, &[]);
        assert_eq!(out["instances"].as_array().unwrap().len(), 1, "{shape:?}");
        let i = &out["instances"][0];
        assert_eq!(i["name"], name);
        assert_eq!(i["mode"], mode);
        check_instance(&env, i, 0);
        assert_logical_and_present(&env, &out);
    }
}

#[test]
fn older_ibm_layout() {
    let env = Env::bare(SampleOptions {
        layout: Layout::Ibm,
        ..SampleOptions::default()
    });
    let out = discover(&env, &[]);
    check_instance(&env, &out["instances"][0], 0);
    assert!(
        members(&out["instances"][0], "product")
            .iter()
            .all(|p| p.starts_with("/opt/IBM/WebSphere/"))
    );
}

#[test]
fn container_host_needs_agent_data() {
    let env = Env::bare(SampleOptions {
        shape: Shape::Container,
        ..SampleOptions::default()
    });
    // No registry: nothing is found, and the message says what to do.
    let out = discover(&env, &[]);
    assert!(out["instances"].as_array().unwrap().is_empty());
    let backup = env.run(&["backup"]);
    assert_ne!(backup.code, 0);
    assert!(backup.stderr.contains("--agent-data"), "{}", backup.stderr);

    let agent = env.host.instances[0].agent_data.clone();
    let out = discover(&env, &["--agent-data", &agent]);
    let i = &out["instances"][0];
    assert!(members(i, "im-registry").is_empty());
    check_instance(&env, i, 0);
    assert_logical_and_present(&env, &out);
}

#[test]
fn two_instances_need_a_choice() {
    let env = Env::with(SampleOptions {
        shape: Shape::TwoInstances,
        ..SampleOptions::default()
    });
    let out = discover(&env, &[]);
    let names: Vec<&str> = out["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "wasadm"]);
    check_instance(&env, &out["instances"][0], 0);
    check_instance(&env, &out["instances"][1], 1);

    let refused = env.run(&["backup"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--instance"), "{}", refused.stderr);
    assert!(refused.stderr.contains("wasadm"), "{}", refused.stderr);
    assert_eq!(env.snapshot_count(), 0);

    let out = env.backup(&["--instance", "wasadm"]);
    assert_eq!(out["set"], "wasadm");
    let unknown = env.run(&["--instance", "nobody", "backup"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("admin, wasadm"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn extra_members_from_flag_and_config() {
    let env = Env::bare(SampleOptions::default());
    std::fs::create_dir_all(env.physical("/opt/custom/ssl")).unwrap();
    std::fs::create_dir_all(env.physical("/etc/custom")).unwrap();
    std::fs::write(env.path("lockstep.toml"), "extras = ['/etc/custom']\n").unwrap();
    let out = discover(
        &env,
        &["--extra", "/opt/custom/ssl", "--extra", "/opt/missing"],
    );
    let extras = members(&out["instances"][0], "extra");
    assert!(extras.contains(&"/opt/custom/ssl".to_owned()));
    assert!(extras.contains(&"/etc/custom".to_owned()));
    let missing = out["instances"][0]["set"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == "/opt/missing")
        .unwrap()
        .clone();
    assert_eq!(missing["exists"], false);
}

#[test]
fn human_output_names_roles_and_inventory() {
    let env = Env::bare(SampleOptions::default());
    let out = env.run(&["discover"]).ok();
    assert!(
        out.stdout.contains("instance admin (admin mode"),
        "{}",
        out.stdout
    );
    for role in [
        "im-registry",
        "im-install",
        "im-agent-data",
        "im-shared",
        "product",
    ] {
        assert!(out.stdout.contains(role), "{role} missing:\n{}", out.stdout);
    }
    assert!(!out.stdout.contains(&env.root().display().to_string()));
}
