//! Consistent snapshots: preflight refusals, change detection with retries, hooks, configuration.

use std::io::Write;
use std::process::{Child, Command, Stdio};

use crate::common::{self, Env, run};
use lockstep_sample::Shape;

/// A process that blocks until its stdin is closed, with `arg0` in its command line.
fn blocking_process(arg0: &std::path::Path) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg("read line")
        .arg(arg0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Lets a blocking process end and reaps it.
fn finish(mut child: Child) {
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    child.wait().unwrap();
}

#[test]
fn running_imcl_refuses_the_backup_until_it_ends() {
    let env = Env::new(Shape::Admin);
    let install = env.host.instances[0].install.clone().unwrap();
    let imcl = env.physical(&format!("{install}/eclipse/tools/imcl"));
    let child = blocking_process(&imcl);
    let pid = child.id();

    let refused = env.run(&["backup"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(&format!("pid {pid}")),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("Installation Manager is running"),
        "{}",
        refused.stderr
    );
    assert_eq!(env.snapshot_count(), 0);

    let pre = env.run(&["preflight", "--json"]);
    assert_eq!(pre.code, 3);
    let report = pre.json();
    assert_eq!(
        report["process_rule"], "path",
        "--root uses path matches only"
    );
    assert_eq!(report["im_processes"][0]["pid"], pid);
    assert!(
        report["im_processes"][0]["command"]
            .as_str()
            .unwrap()
            .contains("eclipse/tools/imcl")
    );

    finish(child);
    let out = env.backup(&[]);
    assert_eq!(out["consistency"]["verdict"], "consistent");
}

#[test]
fn running_server_makes_an_online_backup_and_offline_refuses() {
    let env = Env::new(Shape::Admin);
    let profile = env.host.instances[0]
        .profiles
        .iter()
        .find(|p| p.ends_with("wp_profile"))
        .unwrap()
        .clone();
    let logs = env.physical(&format!("{profile}/logs/WebSphere_Portal"));
    std::fs::create_dir_all(&logs).unwrap();
    let server = blocking_process(std::path::Path::new("WebSphere_Portal"));
    std::fs::write(
        logs.join("WebSphere_Portal.pid"),
        format!("{}\n", server.id()),
    )
    .unwrap();

    let report = env.run(&["preflight", "--json"]).ok().json();
    assert_eq!(report["servers_running"][0]["name"], "WebSphere_Portal");
    assert_eq!(report["servers_running"][0]["pid"], server.id());
    assert_eq!(report["mode"], "online");

    let offline = env.run(&["backup", "--offline"]);
    assert_eq!(offline.code, 3, "{}", offline.stderr);
    assert!(
        offline.stderr.contains("WebSphere_Portal"),
        "{}",
        offline.stderr
    );
    assert_eq!(env.snapshot_count(), 0);

    let online = env.backup(&[]);
    assert_eq!(online["preflight"]["mode"], "online");
    let listed = env.run(&["snapshots", "--json"]).ok().json();
    let manifest = &listed["snapshots"][0]["manifest"];
    assert_eq!(manifest["preflight"]["mode"], "online");
    assert!(
        manifest["preflight"]["servers_running"][0]
            .as_str()
            .unwrap()
            .starts_with("WebSphere_Portal")
    );

    // A pid file whose process is gone is stale, not a running server.
    finish(server);
    let report = env.run(&["preflight", "--json"]).ok().json();
    assert!(report["servers_running"].as_array().unwrap().is_empty());
    assert!(
        report["stale_pid_files"][0]
            .as_str()
            .unwrap()
            .ends_with("WebSphere_Portal.pid")
    );
    env.backup(&["--offline"]);
}

/// A script for the `backup-reading` fault point that appends to `target` on the first
/// `times` calls (all calls when `times` is 0).
fn writer(env: &Env, target: &str, times: u32) -> String {
    let script = env.path("writer.sh");
    let counter = env.path("writer.count");
    std::fs::write(
        &script,
        format!(
            "n=$(cat '{c}' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '{c}'\n\
             if [ {times} -eq 0 ] || [ $n -le {times} ]; then echo \"<entry n='$n'/>\" >> '{t}'; fi\n",
            c = counter.display(),
            t = env.physical(target).display(),
        ),
    )
    .unwrap();
    format!("run:sh {}", script.display())
}

fn calls(env: &Env) -> u32 {
    std::fs::read_to_string(env.path("writer.count"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_change_in_agent_data_during_the_backup_is_retried() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    let target = format!("{agent}/logs/native.log");
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_FAULT_BACKUP_READING", writer(&env, &target, 1))
        .args(["backup", "--json"]);
    let out = run(&mut cmd).ok().json();
    assert_eq!(out["consistency"]["verdict"], "consistent");
    assert_eq!(out["consistency"]["attempts"], 2);
    assert_eq!(calls(&env), 2);
    // Only the consistent snapshot is left, and it holds the writer's change.
    let listed = env.run(&["snapshots", "--json"]).ok().json();
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 1);
    assert_eq!(listed["snapshots"][0]["id"], out["snapshot"]);
    let restored = env.path("restored");
    env.run(&["restore", "latest", "--target", restored.to_str().unwrap()])
        .ok();
    let text = std::fs::read_to_string(restored.join(target.trim_start_matches('/'))).unwrap();
    assert!(text.contains("<entry n='1'/>"));
}

#[test]
fn a_writer_that_never_stops_ends_in_a_refusal_and_no_snapshot() {
    let env = Env::new(Shape::Admin);
    let agent = env.host.instances[0].agent_data.clone();
    let target = format!("{agent}/installRegistry.xml");
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_FAULT_BACKUP_READING", writer(&env, &target, 0))
        .args(["backup", "--retries", "1"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains(&target), "{}", out.stderr);
    assert!(out.stderr.contains("2 attempts"), "{}", out.stderr);
    assert_eq!(calls(&env), 2);
    assert_eq!(
        env.snapshot_count(),
        0,
        "no consistent-looking snapshot may be left"
    );
}

#[test]
fn product_changes_are_warnings_online_and_failures_offline() {
    let env = Env::new(Shape::Admin);
    let product = env.host.instances[0].products[0].clone();
    let target = format!("{product}/logs/server.log");
    let mut cmd = env.command();
    cmd.env("LOCKSTEP_FAULT_BACKUP_READING", writer(&env, &target, 0))
        .args(["backup", "--json"]);
    let out = run(&mut cmd).ok().json();
    assert_eq!(out["consistency"]["verdict"], "consistent");
    assert_eq!(out["consistency"]["attempts"], 1);
    assert!(out["consistency"]["product_changes"].as_u64().unwrap() >= 1);
    let paths = out["consistency"]["product_changed_paths"]
        .as_array()
        .unwrap();
    assert!(paths.iter().any(|p| p == target.as_str()), "{paths:?}");

    let mut cmd = env.command();
    cmd.env("LOCKSTEP_FAULT_BACKUP_READING", writer(&env, &target, 0))
        .args(["backup", "--offline"]);
    let offline = run(&mut cmd);
    assert_eq!(offline.code, 3, "{}", offline.stderr);
    assert!(offline.stderr.contains(&target), "{}", offline.stderr);
    assert_eq!(env.snapshot_count(), 1);
}

fn hook_log(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("hooks.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn log_hook(env: &Env, word: &str) -> String {
    format!(
        "echo {word} $LOCKSTEP_SNAPSHOT >> '{}'",
        env.path("hooks.log").display()
    )
}

#[test]
fn hooks_run_in_order_around_a_successful_backup() {
    let env = Env::new(Shape::Admin);
    let out = env.backup(&[
        "--before",
        &log_hook(&env, "before"),
        "--after",
        &log_hook(&env, "after"),
        "--on-failure",
        &log_hook(&env, "failed"),
        "--finally",
        &log_hook(&env, "finally"),
    ]);
    let id = out["snapshot"].as_str().unwrap();
    assert_eq!(
        hook_log(&env),
        vec![
            "before".to_owned(),
            format!("after {id}"),
            format!("finally {id}")
        ]
    );
    let hooks = out["hooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 3);
    assert_eq!(hooks[0]["phase"], "before");
    // The manifest records the before hook.
    let listed = env.run(&["snapshots", "--json"]).ok().json();
    assert_eq!(
        listed["snapshots"][0]["manifest"]["hooks"][0]["phase"],
        "before"
    );
}

#[test]
fn a_failing_before_hook_aborts_and_still_runs_finally() {
    let env = Env::new(Shape::Admin);
    let out = env.run(&[
        "backup",
        "--before",
        "echo cannot stop the server >&2; exit 7",
        "--after",
        &log_hook(&env, "after"),
        "--on-failure",
        &log_hook(&env, "failed"),
        "--finally",
        &log_hook(&env, "finally"),
    ]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("exited 7: cannot stop the server"),
        "{}",
        out.stderr
    );
    assert_eq!(
        hook_log(&env),
        vec!["failed".to_owned(), "finally".to_owned()]
    );
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn a_refused_backup_runs_on_failure_and_finally() {
    let env = Env::new(Shape::Admin);
    let shared = env.host.instances[0].shared.clone();
    std::fs::remove_dir_all(env.physical(&shared)).unwrap();
    let out = env.run(&[
        "backup",
        "--before",
        &log_hook(&env, "before"),
        "--on-failure",
        &log_hook(&env, "failed"),
        "--finally",
        &log_hook(&env, "finally"),
    ]);
    assert_eq!(out.code, 3);
    assert_eq!(
        hook_log(&env),
        vec![
            "before".to_owned(),
            "failed".to_owned(),
            "finally".to_owned()
        ]
    );
    // --allow-missing lets it through, and the manifest says what was missing.
    let out = env.backup(&["--allow-missing", "im-shared"]);
    assert_eq!(out["consistency"]["verdict"], "consistent");
}

#[test]
fn a_hook_that_hangs_is_killed_at_its_timeout() {
    let env = Env::new(Shape::Admin);
    let out = env.run(&[
        "backup",
        "--hook-timeout",
        "1",
        "--before",
        "exec tail -f /dev/null",
        "--finally",
        &log_hook(&env, "finally"),
    ]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);
    assert_eq!(hook_log(&env), vec!["finally".to_owned()]);
    assert_eq!(env.snapshot_count(), 0);
}

#[test]
fn hooks_and_policy_from_the_config_file() {
    let env = Env::new(Shape::Admin);
    std::fs::write(
        env.path("lockstep.toml"),
        format!(
            "[hooks]\nbefore = [\"{}\"]\n[backup]\nretries = 0\n",
            log_hook(&env, "config-before").replace('"', "\\\"")
        ),
    )
    .unwrap();
    env.backup(&[]);
    assert_eq!(hook_log(&env), vec!["config-before".to_owned()]);
    // A flag replaces the configuration's hooks of that phase.
    env.backup(&["--before", &log_hook(&env, "flag-before")]);
    assert_eq!(hook_log(&env)[1], "flag-before");

    std::fs::write(env.path("lockstep.toml"), "[backup]\nretrys = 1\n").unwrap();
    let bad = env.run(&["backup"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("retrys"), "{}", bad.stderr);
}

#[test]
fn repository_location_flag_beats_env_beats_file() {
    let env = Env::bare(lockstep_sample::SampleOptions::default());
    let (flag, from_env, from_file) = (env.path("r-flag"), env.path("r-env"), env.path("r-file"));
    std::fs::write(
        env.path("lockstep.toml"),
        format!("repository = '{}'\n", from_file.display()),
    )
    .unwrap();
    let init = |cmd: &mut Command| run(cmd.arg("init")).ok();

    init(
        env.command()
            .arg("--repo")
            .arg(&flag)
            .env("LOCKSTEP_REPOSITORY", &from_env),
    );
    assert!(flag.join("config").is_file() && !from_env.exists() && !from_file.exists());
    init(env.command().env("LOCKSTEP_REPOSITORY", &from_env));
    assert!(from_env.join("config").is_file() && !from_file.exists());
    init(env.command().env_remove("LOCKSTEP_REPOSITORY"));
    assert!(from_file.join("config").is_file());
}

#[test]
fn default_repository_for_a_non_root_user_is_under_xdg_data_home() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::bare(lockstep_sample::SampleOptions::default());
    let xdg = env.path("xdg");
    std::fs::create_dir_all(&xdg).unwrap();
    let mut cmd = env.command_for_another_user();
    cmd.env_remove("LOCKSTEP_REPOSITORY")
        .env("XDG_DATA_HOME", &xdg)
        .arg("init");
    if common::is_root() {
        const NOBODY: u32 = 65534;
        for p in [
            env.dir.path().to_path_buf(),
            env.path("password"),
            env.path("lockstep.toml"),
        ] {
            let mode = if p.is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        std::os::unix::fs::chown(&xdg, Some(NOBODY), Some(NOBODY)).unwrap();
        cmd.uid(NOBODY).gid(NOBODY);
    }
    run(&mut cmd).ok();
    assert!(xdg.join("lockstep/repo/config").is_file());
}
