//! Fault-suite rows: see `harness::Area` for what this file covers.
//!
//! IM's records: `installed.xml` gone, or replaced by something that is not a file (a named
//! pipe, a directory, a link to `/dev/zero`), unreadable, truncated or garbage — each must stop
//! the backup (rule 6: the set never shrinks silently) and show as drift in `status`, without
//! ever blocking on a special file; a member at `/`; the shapes of Java properties files IM and
//! administrators write; and registry `location=` values that are not a directory IM could use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lockstep_sample::Shape;

use crate::common::{Env, Run, is_root};
use crate::harness::{Area, Fault, State, one_line};

pub fn rows() -> Vec<Fault> {
    let mut rows = shrink_rows();
    rows.extend(root_member_rows());
    rows.extend(properties_rows());
    rows.extend(location_rows());
    rows.extend(windows_record_rows());
    rows.extend(version_file_rows());
    rows.extend(nested_fix_rows());
    rows
}

fn shrink_rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "installed_xml_deleted",
            area: Area::ImRecords,
            fault: "IM's `installed.xml` is deleted after a backup; the next backup would find no \
                    package group.",
            outcome: "Exit 3: the backup names the members that would vanish (AppServer, \
                      PortalServer …), the file and what is wrong with it, and \
                      `--accept-smaller-set`; no snapshot is added.",
            test: installed_xml_deleted,
        },
        Fault {
            id: "installed_xml_is_a_fifo",
            area: Area::ImRecords,
            fault: "`installed.xml` is replaced by a named pipe (FIFO) that nothing writes to.",
            outcome: "Exit 3 at once (the pipe is never read): the line names the file as a named \
                      pipe; nothing changes.",
            test: installed_xml_is_a_fifo,
        },
        Fault {
            id: "installed_xml_is_a_directory",
            area: Area::ImRecords,
            fault: "`installed.xml` is replaced by a directory.",
            outcome: "Exit 3: the line names the file as a directory; nothing changes.",
            test: installed_xml_is_a_directory,
        },
        Fault {
            id: "installed_xml_links_to_dev_zero",
            area: Area::ImRecords,
            fault: "`installed.xml` is a symbolic link to `/dev/zero` (a device that reads \
                    forever).",
            outcome: "Exit 3 at once (the device is never read): the line names the file and \
                      what it is; nothing changes.",
            test: installed_xml_links_to_dev_zero,
        },
        Fault {
            id: "installed_xml_unreadable",
            area: Area::ImRecords,
            fault: "`installed.xml` cannot be read by the user running the backup (mode 000).",
            outcome: "Exit 3: the line names the file and the permission error; nothing changes.",
            test: installed_xml_unreadable,
        },
        Fault {
            id: "installed_xml_truncated",
            area: Area::ImRecords,
            fault: "`installed.xml` is cut in half (a full disk or a crash while IM wrote it).",
            outcome: "Exit 3: the line names the file and the line where it breaks; nothing \
                      changes.",
            test: installed_xml_truncated,
        },
        Fault {
            id: "installed_xml_garbage",
            area: Area::ImRecords,
            fault: "`installed.xml` holds binary garbage (not text).",
            outcome: "Exit 3: the line names the file and why it is not IM's XML; nothing \
                      changes.",
            test: installed_xml_garbage,
        },
        Fault {
            id: "installed_xml_missing_on_a_first_backup",
            area: Area::ImRecords,
            fault: "The very first backup of a set runs with `installed.xml` missing (no \
                    earlier snapshot to compare with).",
            outcome: "Exit 3: IM's records cannot be read, so the set is not what IM manages; the \
                      line names the file; no snapshot is written.",
            test: installed_xml_missing_on_a_first_backup,
        },
        Fault {
            id: "package_group_uninstalled_since_the_parent",
            area: Area::ImRecords,
            fault: "IM's records are intact but no longer list a package group the previous \
                    snapshot held (PortalServer uninstalled, or its entry lost).",
            outcome: "Exit 3: the line names the package group and its directory and \
                      `--accept-smaller-set`; no snapshot is added.",
            test: package_group_uninstalled_since_the_parent,
        },
        Fault {
            id: "accept_smaller_set",
            area: Area::ImRecords,
            fault: "The administrator backs up a set whose `installed.xml` is missing with \
                    `backup --accept-smaller-set`.",
            outcome: "Exit 0: the snapshot is written, and its manifest records what was \
                      accepted (the vanished members and the unreadable file).",
            test: accept_smaller_set,
        },
        Fault {
            id: "status_with_installed_xml_deleted",
            area: Area::ImRecords,
            fault: "`status` runs after `installed.xml` was deleted.",
            outcome: "Exit 1, DRIFT: the report names the members that vanished and the file \
                      that is missing.",
            test: status_with_installed_xml_deleted,
        },
    ]
}

fn root_member_rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "extra_member_is_the_root",
            area: Area::Usage,
            fault: "`backup --extra /`: the whole filesystem as a member of the set.",
            outcome: "Exit 2 before anything is read: the line names `--extra` and `/`; no \
                      snapshot is written.",
            test: extra_member_is_the_root,
        },
        Fault {
            id: "package_group_at_the_root",
            area: Area::ImRecords,
            fault: "`installed.xml` records a package group whose directory is `/`.",
            outcome: "Exit 3 before anything is read: the line names the package group, `/` and \
                      `installed.xml`; no snapshot is written.",
            test: package_group_at_the_root,
        },
    ]
}

fn properties_rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "config_ini_latin1_comment",
            area: Area::ImRecords,
            fault: "IM's `config.ini` holds a comment with a Latin-1 \"é\" (an administrator's \
                    edit in ISO-8859-1, the encoding Java reads it in).",
            outcome: "The backup succeeds and finds the agent data where `config.ini` says.",
            test: config_ini_latin1_comment,
        },
        Fault {
            id: "config_ini_key_without_value",
            area: Area::ImRecords,
            fault: "`config.ini` has a line holding a key and no separator (`osgi.noShutdown`), \
                    which Java reads as a key with an empty value.",
            outcome: "The backup succeeds and finds the agent data where `config.ini` says.",
            test: config_ini_key_without_value,
        },
        Fault {
            id: "config_ini_colon_and_space_separators",
            area: Area::ImRecords,
            fault: "`config.ini` writes its keys as `key: value` and `key value`.",
            outcome: "The backup succeeds and finds the agent data where `config.ini` says.",
            test: config_ini_colon_and_space_separators,
        },
        Fault {
            id: "config_ini_continuation_and_escapes",
            area: Area::ImRecords,
            fault: "`config.ini` continues `cic.appDataLocation` over two lines (a backslash at \
                    the end of the line) and writes a letter of it as a `\\uXXXX` escape, with \
                    `!` comments.",
            outcome: "The backup succeeds and finds the agent data at the joined, unescaped path.",
            test: config_ini_continuation_and_escapes,
        },
        Fault {
            id: "registry_dat_utf16",
            area: Area::ImRecords,
            fault: "`InstallationManager.dat` is written in UTF-16 with a byte-order mark.",
            outcome: "The backup succeeds and finds IM where the file says.",
            test: registry_dat_utf16,
        },
        Fault {
            id: "config_ini_malformed_unicode_escape",
            area: Area::ImRecords,
            fault: "`config.ini` holds a malformed `\\uXXXX` escape, which Java itself refuses \
                    to load.",
            outcome: "Exit 1: the line names `config.ini` and the line of the bad escape; no \
                      snapshot is written.",
            test: config_ini_malformed_unicode_escape,
        },
    ]
}

fn location_rows() -> Vec<Fault> {
    vec![
        Fault {
            id: "registry_location_relative",
            area: Area::ImRecords,
            fault: "`InstallationManager.dat` says `location=opt/IBM/InstallationManager` (a \
                    relative path).",
            outcome: "Exit 1: the line names `InstallationManager.dat` and the value; nothing \
                      changes.",
            test: registry_location_relative,
        },
        Fault {
            id: "registry_location_with_dot_dot",
            area: Area::ImRecords,
            fault: "`InstallationManager.dat` says `location=/opt/IBM/../IBM/InstallationManager`.",
            outcome: "Exit 1: the line names `InstallationManager.dat` and the value; nothing \
                      changes.",
            test: registry_location_with_dot_dot,
        },
        Fault {
            id: "registry_location_root",
            area: Area::ImRecords,
            fault: "`InstallationManager.dat` says `location=/`.",
            outcome: "Exit 1: the line names `InstallationManager.dat` and the value; nothing \
                      changes.",
            test: registry_location_root,
        },
    ]
}

// ---- helpers ----

/// How long a command may take before the row calls it blocked.
const BOUND: Duration = Duration::from_secs(120);

/// Runs lockstep with `args`, failing the row (and killing the process) when it has not ended
/// within [`BOUND`]: a special file read the wrong way blocks or reads forever.
fn run_bounded(env: &Env, args: &[&str]) -> Run {
    use std::io::Read;
    let mut child = env
        .command()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start lockstep");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lockstep {args:?} was still running after {BOUND:?}: it blocked");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .ok();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .ok();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// The logical path of the admin instance's `installed.xml`.
fn installed_logical(env: &Env) -> String {
    format!("{}/installed.xml", env.host.instances[0].agent_data)
}

fn installed(env: &Env) -> PathBuf {
    env.physical(&installed_logical(env))
}

/// A host with one backup of its whole set, then `damage` done to it; the next backup is refused
/// with exit 3, naming the damaged file, the members that would vanish and `needles`, and
/// leaves the host and the repository as they were.
fn refused_after_damage(damage: impl FnOnce(&Env), needles: &[&str]) -> (Env, String) {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    damage(&env);
    let state = State::of(&env);
    let run = run_bounded(&env, &["backup"]);
    let file = installed_logical(&env);
    let mut all = vec![file.as_str(), "--accept-smaller-set"];
    all.extend_from_slice(needles);
    let line = one_line(&run, 3, &all);
    assert!(
        !line.contains(&env.root().display().to_string()),
        "physical path shown: {line}"
    );
    state.assert_unchanged(&env);
    (env, line)
}

/// The product members (AppServer, PortalServer) that vanish with `installed.xml`.
fn products(env: &Env) -> Vec<String> {
    env.host.instances[0].products.clone()
}

fn installed_xml_deleted() {
    let (env, line) = refused_after_damage(
        |env| std::fs::remove_file(installed(env)).unwrap(),
        &["missing"],
    );
    for p in products(&env) {
        assert!(line.contains(&p), "{p} not named: {line}");
    }
}

fn installed_xml_is_a_fifo() {
    refused_after_damage(
        |env| {
            let file = installed(env);
            std::fs::remove_file(&file).unwrap();
            rustix::fs::mknodat(
                rustix::fs::CWD,
                &file,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap();
        },
        &["named pipe"],
    );
}

fn installed_xml_is_a_directory() {
    refused_after_damage(
        |env| {
            let file = installed(env);
            std::fs::remove_file(&file).unwrap();
            std::fs::create_dir(&file).unwrap();
        },
        &["directory"],
    );
}

fn installed_xml_links_to_dev_zero() {
    refused_after_damage(
        |env| {
            let file = installed(env);
            std::fs::remove_file(&file).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
            // Links resolve inside the host's root: give that root a real /dev/zero.
            if is_root() {
                std::fs::create_dir_all(env.physical("/dev")).unwrap();
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    env.physical("/dev/zero"),
                    rustix::fs::FileType::CharacterDevice,
                    rustix::fs::Mode::from_raw_mode(0o666),
                    rustix::fs::makedev(1, 5),
                )
                .unwrap();
            }
        },
        &[if is_root() { "device" } else { "missing" }],
    );
}

fn installed_xml_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let file = installed(&env);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = env.command_for_another_user();
    cmd.arg("backup");
    if is_root() {
        // root reads everything: run the backup as `nobody`, who may use the repository but
        // cannot read the file.
        const NOBODY: u32 = 65534;
        std::fs::set_permissions(env.path("password"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        for entry in walkdir::WalkDir::new(env.repo()) {
            std::os::unix::fs::lchown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
        }
        std::fs::create_dir_all(env.path("state")).unwrap();
        std::os::unix::fs::chown(env.path("state"), Some(NOBODY), Some(NOBODY)).unwrap();
        cmd.uid(NOBODY).gid(NOBODY);
    }
    let state = State::of(&env);
    let run = crate::common::run(&mut cmd);
    one_line(
        &run,
        3,
        &[
            &installed_logical(&env),
            "ermission denied",
            "--accept-smaller-set",
        ],
    );
    state.assert_unchanged(&env);
}

fn installed_xml_truncated() {
    let (env, line) = refused_after_damage(
        |env| {
            let file = installed(env);
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&file, &text[..text.len() / 2]).unwrap();
        },
        &[],
    );
    assert!(
        line.contains(&format!("{}:", installed_logical(&env))),
        "{line}"
    );
}

fn installed_xml_garbage() {
    refused_after_damage(
        |env| {
            let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
            std::fs::write(installed(env), garbage).unwrap();
        },
        &[],
    );
}

fn installed_xml_missing_on_a_first_backup() {
    let env = Env::new(Shape::Admin);
    std::fs::remove_file(installed(&env)).unwrap();
    let state = State::of(&env);
    let run = run_bounded(&env, &["backup"]);
    one_line(
        &run,
        3,
        &[&installed_logical(&env), "missing", "--accept-smaller-set"],
    );
    state.assert_unchanged(&env);
}

fn package_group_uninstalled_since_the_parent() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    let portal = products(&env)[1].clone();
    // An uninstall takes the group out of both of IM's records.
    let agent = env.host.instances[0].agent_data.clone();
    drop_element(
        &installed(&env),
        &format!("kind='product' path='{portal}'"),
        "location",
    );
    drop_element(
        &env.physical(&format!("{agent}/installRegistry.xml")),
        &format!("value='{portal}'"),
        "profile",
    );
    let state = State::of(&env);
    let run = run_bounded(&env, &["backup"]);
    one_line(
        &run,
        3,
        &[
            &portal,
            "package group",
            "no longer name",
            "--accept-smaller-set",
        ],
    );
    state.assert_unchanged(&env);
}

/// Removes from `file` the `<tag …>…</tag>` element that holds `marker`.
fn drop_element(file: &Path, marker: &str, tag: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    let start = text
        .find(marker)
        .and_then(|at| text[..at].rfind(&format!("<{tag}")))
        .unwrap_or_else(|| panic!("{marker} in {}", file.display()));
    let close = format!("</{tag}>");
    let end = start + text[start..].find(&close).expect("its end") + close.len();
    let mut out = text[..start].to_string();
    out.push_str(&text[end..]);
    std::fs::write(file, out).unwrap();
}

fn accept_smaller_set() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    std::fs::remove_file(installed(&env)).unwrap();
    let out = env.backup(&["--accept-smaller-set"]);
    let id = out["snapshot"].as_str().expect("snapshot id").to_owned();
    let list = env.run(&["snapshots", "--json"]).ok().json();
    let snap = list["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not listed: {list}"))
        .clone();
    let accepted = snap["manifest"]["preflight"]["accepted_smaller_set"].to_string();
    assert!(accepted.contains(&installed_logical(&env)), "{snap}");
    for p in products(&env) {
        assert!(accepted.contains(&p), "{p} not recorded: {snap}");
    }
    // The snapshot's set is what was accepted: the products are not in it.
    let members = snap["manifest"]["members"].to_string();
    assert!(!members.contains(&products(&env)[0]), "{members}");
}

fn status_with_installed_xml_deleted() {
    let env = Env::new(Shape::Admin);
    env.backup(&[]);
    std::fs::remove_file(installed(&env)).unwrap();
    let state = State::of(&env);
    let run = run_bounded(&env, &["status"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("DRIFT"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&installed_logical(&env)),
        "{}",
        run.stdout
    );
    for p in products(&env) {
        assert!(run.stdout.contains(&p), "{p} not named:\n{}", run.stdout);
    }
    let json = run_bounded(&env, &["status", "--json"]);
    assert_eq!(json.code, 1);
    assert_eq!(json.json()["verdict"], "drift");
    state.assert_unchanged(&env);
}

fn extra_member_is_the_root() {
    let env = Env::new(Shape::Admin);
    let state = State::of(&env);
    let run = run_bounded(&env, &["--extra", "/", "backup"]);
    let line = one_line(&run, 2, &["--extra", "'/'"]);
    assert!(!line.contains("is not an absolute path"), "{line}");
    state.assert_unchanged(&env);
}

fn package_group_at_the_root() {
    let env = Env::new(Shape::Admin);
    let file = installed(&env);
    let portal = products(&env)[1].clone();
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replace(
        &format!("kind='product' path='{portal}'"),
        "kind='product' path='/'",
    );
    std::fs::write(&file, text).unwrap();
    let state = State::of(&env);
    let run = run_bounded(&env, &["backup"]);
    one_line(&run, 3, &["'/'", "installed.xml", "package group"]);
    state.assert_unchanged(&env);
}

/// The admin instance's `config.ini` (physical path).
fn config_ini(env: &Env) -> PathBuf {
    let im = env.host.instances[0].install.clone().expect("IM install");
    env.physical(&format!("{im}/eclipse/configuration/config.ini"))
}

/// Rewrites `config.ini` with `edit`, then backs up: the backup succeeds and the agent data is
/// where the sample put it.
fn backs_up_with_config(edit: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let env = Env::new(Shape::Admin);
    let file = config_ini(&env);
    let text = std::fs::read(&file).unwrap();
    std::fs::write(&file, edit(text)).unwrap();
    found_where_expected(&env);
}

/// Discovery finds the sample's paths and a backup of them succeeds.
fn found_where_expected(env: &Env) {
    let out = run_bounded(env, &["discover", "--json"]).ok().json();
    let inst = &out["instances"][0];
    let sample = &env.host.instances[0];
    assert_eq!(inst["agent_data"], sample.agent_data.as_str(), "{inst}");
    assert_eq!(
        inst["install"],
        sample.install.as_deref().unwrap_or_default(),
        "{inst}"
    );
    let backup = run_bounded(env, &["backup", "--json"]).ok().json();
    assert_eq!(backup["consistency"]["verdict"], "consistent", "{backup}");
    let members = inst["set"]["members"].to_string();
    for p in &sample.products {
        assert!(
            members.contains(p.as_str()),
            "{p} not in the set: {members}"
        );
    }
}

/// `text` with the `cic.appDataLocation` line replaced by `line`.
fn with_agent_line(text: Vec<u8>, line: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(text).unwrap();
    let mut out = Vec::new();
    for l in text.lines() {
        if l.starts_with("cic.appDataLocation=") {
            out.extend_from_slice(line);
        } else {
            out.extend_from_slice(l.as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn config_ini_latin1_comment() {
    backs_up_with_config(|mut text| {
        let mut out = b"# Modifi\xe9 par l'administrateur\n".to_vec();
        out.append(&mut text);
        out
    });
}

fn config_ini_key_without_value() {
    backs_up_with_config(|mut text| {
        text.extend_from_slice(b"osgi.noShutdown\n   \n");
        text
    });
}

fn config_ini_colon_and_space_separators() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    backs_up_with_config(|text| {
        let text = String::from_utf8(text)
            .unwrap()
            .replace("osgi.os=linux", "osgi.os: linux")
            .replace("osgi.ws=gtk", "osgi.ws gtk")
            .into_bytes();
        with_agent_line(text, format!("cic.appDataLocation : {agent}").as_bytes())
    });
}

fn config_ini_continuation_and_escapes() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    // "/var/ibm/InstallationManager" as "/var/ibm/\" + newline + "    Installation\u004danager".
    let (head, tail) = agent.split_at(agent.rfind('/').unwrap() + 1);
    let tail = tail.replacen('M', "\\u004d", 1);
    backs_up_with_config(|text| {
        let mut out = b"! written by hand\n!\n".to_vec();
        out.extend(with_agent_line(
            text,
            format!("cic.appDataLocation={head}\\\n    {tail}").as_bytes(),
        ));
        out
    });
}

fn registry_dat_utf16() {
    let env = Env::new(Shape::Admin);
    let dat = env.physical(env.host.instances[0].registry.as_deref().unwrap());
    let text = std::fs::read_to_string(&dat).unwrap();
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    std::fs::write(&dat, bytes).unwrap();
    found_where_expected(&env);
}

fn config_ini_malformed_unicode_escape() {
    let env = Env::new(Shape::Admin);
    let file = config_ini(&env);
    let mut text = std::fs::read(&file).unwrap();
    text.extend_from_slice(b"cic.broken=C\\:\\\\Users\\\\x\\uZZZZ\n");
    std::fs::write(&file, text).unwrap();
    let state = State::of(&env);
    let run = run_bounded(&env, &["backup"]);
    one_line(&run, 1, &["eclipse/configuration/config.ini:", "\\u"]);
    state.assert_unchanged(&env);
}

/// Sets `location=` in the registry file to `value`; every command that discovers fails with
/// one line naming the file and the value, and nothing changes.
fn registry_location(value: &str) {
    let env = Env::new(Shape::Admin);
    let logical = env.host.instances[0].registry.clone().unwrap();
    let dat = env.physical(&logical);
    let text = std::fs::read_to_string(&dat).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("location=") {
                format!("location={value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&dat, text).unwrap();
    let state = State::of(&env);
    for cmd in [&["backup"][..], &["discover"]] {
        let run = run_bounded(&env, cmd);
        one_line(&run, 1, &[&logical, &format!("'{value}'")]);
    }
    state.assert_unchanged(&env);
}

fn registry_location_relative() {
    registry_location("opt/IBM/InstallationManager");
}

fn registry_location_with_dot_dot() {
    registry_location("/opt/IBM/../IBM/InstallationManager");
}

fn registry_location_root() {
    registry_location("/");
}

fn windows_record_rows() -> Vec<Fault> {
    vec![Fault {
        id: "records_hold_windows_paths",
        area: Area::ImRecords,
        fault: "`installed.xml` and `installRegistry.xml` were copied from a Windows install: \
                every package group and `cacheLocation` is a `C:\\…` path.",
        outcome: "`discover` exits 0 and notes each record and Windows path it left out; \
                  `doctor` reports them (exit 1) instead of aborting; the backup is refused \
                  (exit 3) naming the record and the path, since the set would shrink; the host \
                  is unchanged.",
        test: records_hold_windows_paths,
    }]
}

fn records_hold_windows_paths() {
    let env = Env::new(Shape::WindowsRecords);
    let state = State::of(&env);
    let discover = run_bounded(&env, &["discover", "--json"]);
    assert_eq!(discover.code, 0, "{}", discover.stderr);
    let notes = discover.json()["instances"][0]["notes"].to_string();
    assert!(notes.contains("installed.xml"), "{notes}");
    assert!(notes.contains(r"C:\\Program Files"), "{notes}");
    let doctor = run_bounded(&env, &["doctor"]);
    assert_eq!(doctor.code, 1, "{}\n{}", doctor.stdout, doctor.stderr);
    let backup = run_bounded(&env, &["backup"]);
    let needles = ["installed.xml", r"C:\Program Files", "Windows path"];
    one_line(&backup, 3, &needles);
    state.assert_unchanged(&env);
}

fn version_file_rows() -> Vec<Fault> {
    vec![Fault {
        id: "product_version_files_lockstep_cannot_compare",
        area: Area::ImRecords,
        fault: "The products' own version files are of a shape lockstep cannot compare: Portal's \
                `wps.properties` has no `version`/`fixlevel` keys and a relative \
                `ProfileDirectory`, and `ND.product` names an edition (`<id>EXPRESS</id>`) no \
                offering's `was.install.productid` names.",
        outcome: "`doctor` exits 0: each file is a note naming the file and why it was not \
                  compared (the product id and version it holds); nothing is called a desync, \
                  nothing aborts, and the host is unchanged.",
        test: product_version_files_lockstep_cannot_compare,
    }]
}

fn product_version_files_lockstep_cannot_compare() {
    let env = Env::new(Shape::Admin);
    let wps = "/opt/HCL/WebSphere/PortalServer/wps.properties";
    let nd = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
    std::fs::write(
        env.physical(wps),
        "#hand-edited\nWPFamilyName=MultiPlatform\nProfileDirectory=wp_profile\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(env.physical(nd)).unwrap();
    std::fs::write(
        env.physical(nd),
        text.replace("<id>ND</id>", "<id>EXPRESS</id>"),
    )
    .unwrap();
    let state = State::of(&env);
    let doctor = run_bounded(&env, &["doctor"]);
    assert_eq!(doctor.code, 0, "{}\n{}", doctor.stdout, doctor.stderr);
    assert!(
        doctor.stdout.contains(wps) && doctor.stdout.contains("no version key"),
        "{}",
        doctor.stdout
    );
    assert!(
        doctor.stdout.contains(nd) && doctor.stdout.contains("product id EXPRESS (9.0.5.17)"),
        "{}",
        doctor.stdout
    );
    assert!(!doctor.stdout.contains("ERROR"), "{}", doctor.stdout);
    state.assert_unchanged(&env);
}

fn nested_fix_rows() -> Vec<Fault> {
    vec![Fault {
        id: "installed_xml_fix_without_version",
        area: Area::ImRecords,
        fault: "An interim fix nested in a product's location of `installed.xml` \
                (`<package kind='fix'>`) has no `version` attribute.",
        outcome: "`doctor` exits 1 naming `installed.xml`, its line, the fix and the missing \
                  `version`; the package groups `installRegistry.xml` records are still checked, \
                  nothing aborts, and the host is unchanged.",
        test: installed_xml_fix_without_version,
    }]
}

fn installed_xml_fix_without_version() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    let installed = env.physical(&format!("{agent}/installed.xml"));
    let text = std::fs::read_to_string(&installed).unwrap();
    let fix = text.find("kind='fix'").expect("the sample nests a fix");
    let version = text[fix..].find(" version='").unwrap() + fix;
    let end = text[version + 10..].find('\'').unwrap() + version + 11;
    std::fs::write(&installed, format!("{}{}", &text[..version], &text[end..])).unwrap();
    let state = State::of(&env);
    let doctor = run_bounded(&env, &["doctor"]);
    assert_eq!(doctor.code, 1, "{}\n{}", doctor.stdout, doctor.stderr);
    let line = 1 + text[..fix].matches('\n').count();
    assert!(
        doctor
            .stdout
            .contains(&format!("{agent}/installed.xml:{line}:"))
            && doctor.stdout.contains("`version`"),
        "{}",
        doctor.stdout
    );
    assert!(doctor.stdout.contains("DXPortal-IF"), "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("2 package groups"),
        "{}",
        doctor.stdout
    );
    state.assert_unchanged(&env);
}
