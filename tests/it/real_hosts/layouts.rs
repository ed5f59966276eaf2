//! Real-host tests: see main.rs. The layouts real hosts have (issue 22, points 6–9): a product
//! path that is a symlink to a relocated disk, a home outside `/home`, records copied from
//! Windows, and an IM-only host.

use std::path::Path;

use lockstep_sample::{RELOCATED_APPSERVER, SampleOptions, Shape, USERS_HOME};
use serde_json::Value;

use crate::common::Env;

fn env(shape: Shape) -> Env {
    Env::with(SampleOptions {
        shape,
        files: 200,
        bytes: 512 * 1024,
        ..SampleOptions::default()
    })
}

fn instances(env: &Env) -> Vec<Value> {
    env.run(&["discover", "--json"]).ok().json()["instances"]
        .as_array()
        .expect("instances")
        .clone()
}

fn members(instance: &Value, role: &str) -> Vec<String> {
    instance["set"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter(|m| m["role"] == role)
        .map(|m| m["path"].as_str().expect("path").to_string())
        .collect()
}

fn notes(instance: &Value) -> String {
    instance["notes"]
        .as_array()
        .map(|n| {
            n.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Point 6: IM records `/opt/HCL/WebSphere/AppServer`, a symlink to a relocated disk. A restore
/// into a new root recreates the link and its target, and `doctor` passes on the restored tree;
/// an in-place restore keeps the link.
#[test]
fn symlinked_product_path_survives_every_restore() {
    let env = env(Shape::SymlinkedProduct);
    let was = env.host.instances[0].products[0].clone();
    let link = std::fs::read_link(env.physical(&was)).expect("AppServer is a link");
    assert_eq!(link, Path::new(RELOCATED_APPSERVER));

    let instance = &instances(&env)[0];
    let product = instance["set"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == was.as_str())
        .expect("the AppServer member, as IM records it");
    assert_eq!(product["resolved"], RELOCATED_APPSERVER);
    env.run(&["doctor"]).ok();

    let snap = env.backup(&[])["snapshot"].as_str().unwrap().to_string();
    let target = env.path("restored");
    env.run(&["restore", &snap, "--target", target.to_str().unwrap()])
        .ok();
    let restored_link = target.join(was.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_link(&restored_link).expect("the restored AppServer path is a link"),
        Path::new(RELOCATED_APPSERVER)
    );
    assert!(
        target
            .join(RELOCATED_APPSERVER.trim_start_matches('/'))
            .join("properties/version")
            .is_dir(),
        "the link's target is restored"
    );
    let doctor = crate::common::run(env.command_at(&target).args(["doctor", "--json"]));
    assert_eq!(
        doctor.code, 0,
        "doctor on the restored tree:\n{}\n{}",
        doctor.stdout, doctor.stderr
    );

    // In place: the link stays a link to the relocated disk.
    env.run(&["restore", &snap, "--in-place", "--force"]).ok();
    assert_eq!(
        std::fs::read_link(env.physical(&was)).expect("still a link after restoring in place"),
        Path::new(RELOCATED_APPSERVER)
    );
    env.run(&["doctor"]).ok();

    // A host that lost the link (rebuilt, the disk remounted): restoring in place puts it back.
    std::fs::remove_file(env.physical(&was)).unwrap();
    assert_eq!(env.run(&["doctor"]).code, 1);
    env.run(&["restore", &snap, "--in-place", "--force"]).ok();
    assert_eq!(
        std::fs::read_link(env.physical(&was)).expect("the link is recreated in place"),
        Path::new(RELOCATED_APPSERVER)
    );
    env.run(&["doctor"]).ok();
}

/// Point 7: a non-admin IM whose user's home is `/users/wasadm` (AIX), known only from the
/// host's `/etc/passwd`, is found; with no IM at all the message says where lockstep looked.
#[test]
fn home_outside_home_is_found_from_passwd() {
    let env = env(Shape::UsersHome);
    assert!(!env.physical("/home").exists());
    let all = instances(&env);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["name"], "wasadm");
    assert_eq!(
        members(&all[0], "im-registry"),
        vec![format!(
            "{USERS_HOME}/etc/.ibm/registry/InstallationManager.dat"
        )]
    );
    assert_eq!(members(&all[0], "product").len(), 2, "{:?}", all[0]);
    env.backup(&[]);

    // Without the registry, nothing is found and the message names where it looked.
    std::fs::remove_file(env.physical(&format!(
        "{USERS_HOME}/etc/.ibm/registry/InstallationManager.dat"
    )))
    .unwrap();
    let out = env.run(&["backup"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.starts_with("lockstep: ") && out.stderr.contains(USERS_HOME),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("/etc/passwd"), "{}", out.stderr);
    let text = env.run(&["discover"]).ok();
    assert!(text.stdout.contains(USERS_HOME), "{}", text.stdout);
}

/// Point 7: `--extra PATH` takes a single file (a certificate store, a custom properties file).
#[test]
fn extra_accepts_a_single_file() {
    let env = env(Shape::Admin);
    let file = "/opt/HCL/custom/ssl/key.p12";
    std::fs::create_dir_all(env.physical("/opt/HCL/custom/ssl")).unwrap();
    std::fs::write(env.physical(file), b"\x30\x82keystore").unwrap();
    let out = env
        .run(&["discover", "--json", "--extra", file])
        .ok()
        .json();
    let extra = out["instances"][0]["set"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["path"] == file)
        .expect("the extra file is a member")
        .clone();
    assert_eq!(extra["exists"], true, "{extra}");
    assert_eq!(extra["is_file"], true, "{extra}");
    let snap = env.backup(&["--extra", file])["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    let target = env.path("restored");
    env.run(&["restore", &snap, "--target", target.to_str().unwrap()])
        .ok();
    assert_eq!(
        std::fs::read(target.join(file.trim_start_matches('/'))).unwrap(),
        b"\x30\x82keystore"
    );
}

/// Point 8: records copied from Windows hold `C:\…` paths. Discovery reports each record and
/// path it cannot use and goes on; `doctor` reports them instead of aborting.
#[test]
fn windows_records_are_reported_not_fatal() {
    let env = env(Shape::WindowsRecords);
    let out = env.run(&["discover", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let instance = &out.json()["instances"][0];
    assert!(members(instance, "product").is_empty(), "{instance}");
    assert_eq!(members(instance, "im-registry").len(), 1);
    assert_eq!(members(instance, "im-agent-data").len(), 1);
    let said = notes(instance);
    assert!(said.contains("installed.xml"), "{said}");
    assert!(
        said.contains(r"C:\Program Files\HCL\WebSphere\AppServer"),
        "{said}"
    );
    assert!(said.contains(r"C:\Program Files\IBM\IMShared"), "{said}");

    let human = env.run(&["discover"]);
    assert_eq!(human.code, 0, "{}", human.stderr);

    let doctor = env.run(&["doctor", "--json"]);
    assert!(
        doctor.code == 0 || doctor.code == 1,
        "doctor aborted:\n{}\n{}",
        doctor.stdout,
        doctor.stderr
    );
    assert!(
        doctor
            .stdout
            .contains(r"C:\\Program Files\\HCL\\WebSphere\\AppServer"),
        "{}",
        doctor.stdout
    );
}

/// Point 9: IM installed, no package yet: no `cacheLocation` anywhere and no shared resources
/// directory. That member is left out (and discovery says so); the backup needs no flag.
#[test]
fn im_only_host_backs_up_without_flags() {
    let env = env(Shape::ImOnly);
    let instance = &instances(&env)[0];
    assert!(members(instance, "im-shared").is_empty(), "{instance}");
    assert_eq!(members(instance, "im-install").len(), 1);
    let said = notes(instance);
    assert!(said.contains("shared resources"), "{said}");
    assert!(said.contains("/opt/IBM/IMShared"), "{said}");
    let text = env.run(&["discover"]).ok();
    assert!(
        text.stdout.contains("note:") && text.stdout.contains("/opt/IBM/IMShared"),
        "{}",
        text.stdout
    );
    let out = env.backup(&[]);
    assert!(out["snapshot"].is_string(), "{out}");
}

/// Point 8: a `config.ini` copied from Windows names the agent data as
/// `C:\ProgramData\IBM\Installation Manager`; discovery notes it and uses the registry file's
/// `appDataLocation` instead of stopping.
#[test]
fn windows_agent_data_in_config_ini_falls_back() {
    let env = env(Shape::Admin);
    let im = env.host.instances[0].install.clone().unwrap();
    let config = env.physical(&format!("{im}/eclipse/configuration/config.ini"));
    let text = std::fs::read_to_string(&config).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("cic.appDataLocation=") {
                r"cic.appDataLocation=C\:\\ProgramData\\IBM\\Installation Manager".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();
    let instance = &instances(&env)[0];
    assert_eq!(
        members(instance, "im-agent-data"),
        vec![env.host.instances[0].agent_data.clone()]
    );
    let said = notes(instance);
    assert!(said.contains("config.ini"), "{said}");
    assert!(
        said.contains(r"C:\ProgramData\IBM\Installation Manager"),
        "{said}"
    );
    env.run(&["doctor"]).ok();
}
