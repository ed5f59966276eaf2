//! Many hosts on one distributed store (issue 25): a Garage cluster of three nodes
//! (`scripts/garage.sh cluster`: one process per node, one zone each, replication factor 3, so
//! reads and writes need two nodes of three) that loses nodes while lockstep works, and hosts of
//! one set backing up into one bucket at once while another host's snapshots are pruned.
//!
//! Each test starts a cluster of its own and talks to node 1; the node that dies is never the
//! one lockstep talks to (that is a dead endpoint, covered in s3.rs). They run where the suite's
//! Garage runs (`./scripts/test.sh`), and say SKIPPED otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::s3::{Garage, S3, command, configure, prefix, server};
use crate::common::{self, Env, Run, listing, run};
use lockstep_sample::listing::Listing;
use lockstep_sample::{SampleOptions, Shape, apply_fix_pack};

/// A sample host of the set `admin`, told apart from the others by one file of its own.
fn host(i: usize, files: usize, bytes: u64) -> Env {
    let env = Env::bare(SampleOptions {
        shape: Shape::Admin,
        files,
        bytes,
        ..SampleOptions::default()
    });
    std::fs::write(env.physical(&format!("/opt/node-{i}.txt")), format!("{i}")).expect("node file");
    env
}

/// Runs lockstep as host `name` of `env`, configured by `config`'s lockstep.toml.
fn as_host(config: &Env, s3: &S3, env: &Env, name: &str, args: &[&str]) -> Command {
    command(config, s3, &env.root(), name, args)
}

/// Waits for `child` and returns what it printed and its exit code.
fn finish(child: Child) -> Run {
    let out = child.wait_with_output().expect("wait for lockstep");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The snapshots in the repository: (id, host).
fn snapshots(config: &Env, s3: &S3, env: &Env) -> Vec<(String, String)> {
    let out = run(&mut as_host(config, s3, env, "", &["snapshots", "--json"]))
        .ok()
        .json();
    out["snapshots"]
        .as_array()
        .expect("snapshots")
        .iter()
        .map(|s| {
            (
                s["id"].as_str().expect("id").to_owned(),
                s["host"].as_str().expect("host").to_owned(),
            )
        })
        .collect()
}

/// Restores snapshot `id` into a new directory of `config` and checks it entry by entry against
/// `expected` (the host's listing when it was backed up).
fn assert_restores(config: &Env, s3: &S3, id: &str, expected: &Listing, members: &[PathBuf]) {
    let target = config.path(&format!("restored-{}", &id[..8]));
    run(&mut as_host(
        config,
        s3,
        config,
        "",
        &["restore", id, "--target", target.to_str().expect("utf-8")],
    ))
    .ok();
    common::assert_restored(expected, &target, members);
}

#[test]
fn a_node_killed_mid_backup_leaves_quorum_backups_restores_and_copies_go_on() {
    if server().is_none() {
        return;
    }
    let garage = Garage::cluster();
    let s3 = &garage.s3;
    let hosts: Vec<Env> = (0..4).map(|i| host(i, 1500, 48 << 20)).collect();
    let config = &hosts[0];
    configure(config, s3, &prefix("node-loss"), "");
    run(&mut as_host(config, s3, config, "node0", &["init"])).ok();
    let members = config.member_paths(&[]);
    let before: Vec<Listing> = hosts.iter().map(|h| listing(&h.root(), &members)).collect();

    // Four hosts back up at once; the first SIGKILLs node 3 once it has fingerprinted its set
    // (the fault point `backup-reading`), while the others are somewhere in theirs.
    let children: Vec<Child> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let mut cmd = as_host(config, s3, h, &format!("node{i}"), &["backup", "--json"]);
            if i == 0 {
                cmd.env(
                    "LOCKSTEP_FAULT_BACKUP_READING",
                    format!("run:{}", garage.kill_command(3)),
                );
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn lockstep")
        })
        .collect();
    let runs: Vec<Run> = children.into_iter().map(finish).collect();
    assert!(!garage.running(3), "node 3 was killed during the backups");
    for (i, r) in runs.iter().enumerate() {
        let name = format!("node{i}");
        if r.code == 0 {
            continue;
        }
        // A backup the lost node failed: one line naming the store, and no snapshot of it.
        let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: not one clear line: {}", r.stderr);
        assert!(lines[0].contains(&s3.endpoint), "{name}: {}", lines[0]);
        assert!(
            !snapshots(config, s3, config)
                .iter()
                .any(|(_, h)| *h == name),
            "{name} failed but left a snapshot"
        );
        eprintln!("{name}'s backup as node 3 died: {}", lines[0]);
        // The retry, with node 3 still down, completes.
        run(&mut as_host(config, s3, &hosts[i], &name, &["backup"])).ok();
    }

    // With node 3 still down: every host's snapshot is there and restores entry by entry,
    // `check --read-data` reads every pack, and a local repository copies to the cluster.
    let snaps = snapshots(config, s3, config);
    assert_eq!(snaps.len(), hosts.len(), "{snaps:?}");
    for (i, listing) in before.iter().enumerate() {
        let (id, _) = snaps
            .iter()
            .find(|(_, name)| *name == format!("node{i}"))
            .expect("a snapshot of every host");
        assert_restores(config, s3, id, listing, &members);
    }
    check_read_data(config, s3);

    let local = Env::new(Shape::Admin);
    let remote_root = prefix("node-loss-copy");
    std::fs::write(
        local.path("lockstep.toml"),
        s3.toml("remote", &remote_root, true),
    )
    .expect("lockstep.toml");
    s3.init(&local, &remote_root);
    let local_before = listing(&local.root(), &local.member_paths(&[]));
    local.backup(&[]);
    assert_eq!(local.run(&["copy", "--json"]).ok().json()["copied"], 1);
    let from_remote = local.path("from-remote");
    local
        .run(&[
            "restore",
            "latest",
            "--from",
            "remote",
            "--target",
            from_remote.to_str().expect("utf-8"),
        ])
        .ok();
    common::assert_restored(&local_before, &from_remote, &local.member_paths(&[]));

    // Node 3 comes back (without the objects written while it was away); every pack still
    // reads back.
    garage.restart(3);
    check_read_data(config, s3);
    // The copy's remote checks too (s3.init left a configuration naming it as the repository).
    run(local
        .command()
        .env_remove("LOCKSTEP_REPOSITORY")
        .env("LOCKSTEP_CONFIG", local.path("remote.toml"))
        .args(["check", "--read-data"]))
    .ok();
}

/// The bound on a command against a store that answers every request with an error: the
/// engine retries each request 5 times (`retry`, default 5) with exponential back-off from 1 s
/// and jitter, 31 s to 62 s of waiting in all; the rest is lockstep's own start.
const DEFAULT_RETRY_BOUND: Duration = Duration::from_secs(75);

#[test]
fn two_nodes_down_fails_within_the_retry_bound_naming_the_store() {
    if server().is_none() {
        return;
    }
    let garage = Garage::cluster();
    let s3 = &garage.s3;
    let env = host(0, 400, 4 << 20);
    let root = prefix("two-down");
    configure(&env, s3, &root, "");
    run(&mut as_host(&env, s3, &env, "node0", &["init"])).ok();
    run(&mut as_host(&env, s3, &env, "node0", &["backup"])).ok();

    garage.kill(2);
    garage.kill(3);
    // A nightly backup with the default retries, of a set that changed, so its first write is a
    // pack (a set unchanged writes only its snapshot file, and the one live node may keep that
    // from the failed request and list it once the others are back, before they hold it: a
    // snapshot that appears after its backup failed, which no test here pins down yet): it
    // fails, within the bound, in one line that names the store and says what to do.
    std::fs::write(env.physical("/opt/node-0.txt"), "changed during the outage")
        .expect("node file");
    let started = Instant::now();
    let r = run(&mut as_host(&env, s3, &env, "node0", &["backup"]));
    let took = started.elapsed();
    eprintln!(
        "backup with two of three nodes down: exit {} after {took:?}: {}",
        r.code,
        r.stderr.trim()
    );
    assert_ne!(r.code, 0, "the backup succeeded without quorum");
    assert!(
        took < DEFAULT_RETRY_BOUND,
        "took {took:?}, more than {DEFAULT_RETRY_BOUND:?}"
    );
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one clear line: {}", r.stderr);
    for part in [
        s3.bucket.as_str(),
        &s3.endpoint,
        &root,
        "HTTP 503",
        "unavailable",
    ] {
        assert!(lines[0].contains(part), "no {part:?} in: {}", lines[0]);
    }

    // Fewer retries make it fail sooner; the restore refuses the same way and writes nothing.
    std::fs::write(
        env.path("lockstep.toml"),
        std::fs::read_to_string(env.path("lockstep.toml")).expect("config") + "retry = '1'\n",
    )
    .expect("config");
    let target = env.path("restored");
    let r = run(&mut as_host(
        &env,
        s3,
        &env,
        "node0",
        &[
            "restore",
            "latest",
            "--target",
            target.to_str().expect("utf-8"),
        ],
    ));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stderr.contains(&s3.endpoint), "{}", r.stderr);
    assert!(
        !target.exists(),
        "the failed restore wrote {}",
        target.display()
    );

    // With both nodes back, the backup goes through and the repository checks.
    garage.restart(2);
    garage.restart(3);
    run(&mut as_host(&env, s3, &env, "node0", &["backup"])).ok();
    let snaps = snapshots(&env, s3, &env);
    assert_eq!(snaps.len(), 2, "{snaps:?}");
    check_read_data(&env, s3);
}

/// Backs `env`'s host up as `name` and returns the snapshot's id.
fn backup(config: &Env, s3: &S3, env: &Env, name: &str) -> String {
    let out = run(&mut as_host(config, s3, env, name, &["backup", "--json"]))
        .ok()
        .json();
    out["snapshot"].as_str().expect("id").to_owned()
}

/// `check --read-data` of the repository `config` names passes: every pack reads back.
fn check_read_data(config: &Env, s3: &S3) {
    run(&mut as_host(
        config,
        s3,
        config,
        "",
        &["check", "--read-data"],
    ))
    .ok();
}

/// Makes a named pipe (for a fault hook that waits for the test).
fn fifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

#[test]
fn eight_hosts_back_up_at_once_while_forget_prune_runs_and_nothing_is_lost() {
    if server().is_none() {
        return;
    }
    let garage = Garage::cluster();
    let s3 = &garage.s3;
    const HOSTS: usize = 8;
    let hosts: Vec<Env> = (0..HOSTS).map(|i| host(i, 400, 4 << 20)).collect();
    let config = &hosts[0];
    configure(config, s3, &prefix("eight-hosts"), "");
    run(&mut as_host(config, s3, config, "node0", &["init"])).ok();
    let members = config.member_paths(&[]);

    // node0 was backed up before and after two fix packs. Forgetting all but its newest
    // snapshot leaves the data only the older one used (the files the fix packs replaced)
    // unused — unless a backup running at the same time needs it again, as node5..node7 do: they
    // are still at the first level and back up for the first time.
    let mut expected: Vec<(String, Listing)> = Vec::new();
    let forgotten = backup(config, s3, config, "node0");
    for (i, h) in hosts.iter().enumerate().take(5) {
        apply_fix_pack(&h.host, 0).expect("fix pack");
        apply_fix_pack(&h.host, 0).expect("fix pack");
        std::fs::write(h.physical(&format!("/opt/node-{i}.txt")), "level 2").expect("write");
    }
    expected.push((
        backup(config, s3, config, "node0"),
        listing(&config.root(), &members),
    ));
    // node1 and node2 have a snapshot at level 2 already; node3..node7 none.
    for (i, h) in hosts.iter().enumerate().skip(1).take(2) {
        expected.push((
            backup(config, s3, h, &format!("node{i}")),
            listing(&h.root(), &members),
        ));
    }

    // `forget --keep-last 1 --prune` as node0 plans its prune from the repository as it is, then
    // waits (fault point `prune-planned`) while all eight hosts back up at once, then carries
    // its plan out. The pipes make that order certain: the prune says it has planned by writing
    // to `planned`, and goes on when the test writes to `go`.
    let planned = config.path("planned");
    let go = config.path("go");
    fifo(&planned);
    fifo(&go);
    let prune = as_host(
        config,
        s3,
        config,
        "node0",
        &["forget", "--keep-last", "1", "--prune", "--json"],
    )
    .env(
        "LOCKSTEP_FAULT_PRUNE_PLANNED",
        format!(
            "run:echo planned > '{}' && cat '{}' > /dev/null",
            planned.display(),
            go.display()
        ),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn forget");
    let said = std::fs::read_to_string(&planned).expect("read the pipe");
    assert_eq!(said.trim(), "planned");

    let backups: Vec<Child> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            as_host(config, s3, h, &format!("node{i}"), &["backup", "--json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn lockstep")
        })
        .collect();
    for (i, r) in backups.into_iter().map(finish).enumerate() {
        let r = r.ok();
        expected.push((
            r.json()["snapshot"].as_str().expect("id").to_owned(),
            listing(&hosts[i].root(), &members),
        ));
    }
    std::fs::write(&go, "go\n").expect("write the pipe");
    let forget = finish(prune).ok().json();
    eprintln!("forget --prune while eight hosts backed up: {forget}");
    let pruned = &forget["prune"];
    assert!(
        pruned["bytes_unused"].as_u64() > Some(0)
            && pruned["packs_repacked"].as_u64().unwrap_or(0)
                + pruned["packs_marked"].as_u64().unwrap_or(0)
                > 0,
        "the prune had nothing to remove, so it proved nothing: {pruned}"
    );

    // The forget removed node0's older snapshot (and only that); the prune found data to drop.
    let snaps = snapshots(config, s3, config);
    assert!(!snaps.iter().any(|(id, _)| *id == forgotten), "{snaps:?}");
    assert_eq!(snaps.len(), expected.len(), "{snaps:?}");
    // Nothing any snapshot needs was deleted: the repository checks, reading every pack, and
    // every snapshot kept restores exactly what its host had.
    check_read_data(config, s3);
    for (id, listing) in &expected {
        if snaps.iter().any(|(s, _)| s == id) {
            assert_restores(config, s3, id, listing, &members);
        }
    }

    // fleet: the five hosts at level 2 are the majority; node5..node7, left behind, differ.
    let fleet = run(&mut as_host(config, s3, config, "", &["fleet", "--json"]))
        .ok()
        .json();
    let ratio = fleet["dedup"]["ratio"].as_f64().expect("ratio");
    assert!(ratio > 0.0 && ratio < 0.5, "{fleet}");
    let entries = fleet["hosts"].as_array().expect("hosts");
    assert_eq!(entries.len(), HOSTS, "{fleet}");
    for h in entries {
        let behind = ["node5", "node6", "node7"].contains(&h["host"].as_str().expect("host"));
        let expected = if behind { "differs" } else { "majority" };
        assert_eq!(h["agreement"], expected, "{h}");
    }
}
