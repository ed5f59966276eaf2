//! The packages an administrator installs (`scripts/package.sh`; README, "Install as a package"),
//! used as installed: the `.deb` installed with dpkg, run, and removed; the `.rpm`'s contents read
//! with rpm.
//!
//! The packages hold the binary under test (`package.sh --binary`, with the metadata the release
//! uses), so the suite needs no release build. The `.deb` is installed into this machine itself:
//! CI's container is thrown away, and `dpkg --root` would run the maintainer scripts chrooted
//! into an empty root. It does so only where nothing of lockstep is installed (no lockstep
//! package, no /etc/lockstep, no /var/lib/lockstep), and purges everything it installed or
//! created afterwards, also when it fails. Elsewhere it says SKIPPED (in CI it fails instead).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, Env, Run, have, is_root, require, run};
use lockstep_sample::{SampleOptions, Shape};

const UNITS: [&str; 5] = [
    "lockstep-backup.service",
    "lockstep-backup.timer",
    "lockstep-drill.service",
    "lockstep-drill.timer",
    "lockstep-failure@.service",
];

/// The example configuration with its settings uncommented is a configuration lockstep accepts
/// (every key in it is one lockstep knows), and as shipped it sets nothing.
#[test]
fn the_example_configuration_names_only_keys_lockstep_knows() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/package/lockstep.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let shipped = lockstep::config::Config::parse(&text, &path).unwrap();
    assert_eq!(shipped, lockstep::config::Config::default());
    // Settings are `#key = …` and `#[table]`; prose is `# …`.
    let settings: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with([' ', '#']) && !rest.is_empty() => rest,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let all = lockstep::config::Config::parse(&settings, &path)
        .unwrap_or_else(|e| panic!("{e}\n{settings}"));
    assert_eq!(
        all.password_file.as_deref(),
        Some(Path::new("/etc/lockstep/password"))
    );
    assert_eq!(all.forget.keep_daily, Some(14));
    assert_eq!(all.set.as_deref(), Some("dx-prod-cell1"));
    assert!(all.password_command.is_some());
    assert_eq!(all.remote_options["bucket"], "dx-backups");
}

#[test]
fn the_deb_installs_runs_and_is_removed_without_touching_repository_or_configuration() {
    // Installs into this machine: no other test may see it half installed (common::machine).
    let _machine = common::machine();
    if !is_root() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs the suite as root"
        );
        eprintln!("SKIPPED: installing a package needs root");
        return;
    }
    let tools = ["dpkg", "rpm", "cargo-deb", "cargo-generate-rpm", "strip"];
    if !tools.iter().all(|t| require(t)) {
        return;
    }
    let installed_before = Command::new("dpkg-query")
        .args(["-W", "lockstep"])
        .output()
        .unwrap()
        .status
        .success();
    let present: Vec<&str> = ["/etc/lockstep", "/var/lib/lockstep", "/usr/bin/lockstep"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    if installed_before || !present.is_empty() {
        let why = format!(
            "lockstep is installed on this machine (package known to dpkg: {installed_before}; \
             present: {present:?}); this test installs and purges the package and never runs \
             where it could delete an installation"
        );
        assert!(std::env::var_os("CI").is_none(), "{why}");
        eprintln!("SKIPPED: {why}");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("packages");
    let built = run(
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package.sh"))
            .arg("--binary")
            .arg(env!("CARGO_BIN_EXE_lockstep"))
            .arg("--out")
            .arg(&out)
            .arg("--fast"),
    );
    assert_eq!(
        built.code, 0,
        "package.sh:\n{}\n{}",
        built.stdout, built.stderr
    );
    let deb = only_file(&out, ".deb");
    let rpm = only_file(&out, ".rpm");

    check_rpm(&rpm);

    let _cleanup = Purge;
    let install = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert_eq!(
        install.code, 0,
        "dpkg -i:\n{}{}",
        install.stdout, install.stderr
    );

    // On PATH, the version built.
    let version = installed(dir.path(), &["--version"]).ok();
    assert_eq!(
        version.stdout.trim(),
        concat!("lockstep ", env!("CARGO_PKG_VERSION"))
    );

    // The README's second set-up command works as installed.
    let demo = installed(dir.path(), &["demo"]).ok();
    assert!(demo.stdout.contains("identical"), "{}", demo.stdout);

    // Safe modes: the state and repository directory is root's alone, and so is the
    // configuration (remote options can hold credentials); dpkg knows it as a conffile.
    for (path, want) in [
        ("/var/lib/lockstep", 0o700),
        ("/etc/lockstep/lockstep.toml", 0o600),
    ] {
        assert_eq!(
            mode(path),
            want,
            "{path}: mode {:o}, not {want:o}",
            mode(path)
        );
    }
    let conffiles = run(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "lockstep"]));
    assert!(
        conffiles.stdout.contains("/etc/lockstep/lockstep.toml"),
        "{}",
        conffiles.stdout
    );

    check_man_completions_and_units();

    // Used as an administrator would: the password file named in the installed configuration,
    // the default repository under /var/lib/lockstep, a backup of a host.
    std::fs::write("/etc/lockstep/password", "package-test\n").unwrap();
    std::fs::set_permissions("/etc/lockstep/password", PermissionsExt::from_mode(0o600)).unwrap();
    let config = std::fs::read_to_string("/etc/lockstep/lockstep.toml").unwrap()
        + "password-file = \"/etc/lockstep/password\"\n";
    std::fs::write("/etc/lockstep/lockstep.toml", &config).unwrap();
    installed(dir.path(), &["init"]).ok();
    let host = Env::bare(SampleOptions {
        shape: Shape::Admin,
        ..SampleOptions::default()
    });
    let root = host.root();
    installed(
        dir.path(),
        &[
            "--root",
            root.to_str().unwrap(),
            "backup",
            "--label",
            "before-remove",
        ],
    )
    .ok();

    let remove = run(Command::new("dpkg").args(["-r", "lockstep"]));
    assert_eq!(
        remove.code, 0,
        "dpkg -r:\n{}{}",
        remove.stdout, remove.stderr
    );
    assert!(
        !Path::new("/usr/bin/lockstep").exists(),
        "the binary is removed"
    );
    assert_eq!(
        std::fs::read_to_string("/etc/lockstep/lockstep.toml").unwrap(),
        config,
        "the edited configuration stays after removal"
    );
    // The repository is still there and whole: this build lists its snapshot with the
    // configuration and password the package left.
    let snapshots =
        run(bare(Path::new(env!("CARGO_BIN_EXE_lockstep")), dir.path())
            .args(["--json", "snapshots"]))
        .ok()
        .json();
    let list = snapshots["snapshots"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{snapshots}");
    assert_eq!(list[0]["label"], "before-remove", "{snapshots}");
}

/// The .rpm holds the same files in the places RPM-based distributions use, with the
/// configuration marked as such and the safe modes.
fn check_rpm(rpm: &Path) {
    let files = run(Command::new("rpm").arg("-qlp").arg(rpm)).ok().stdout;
    let files: Vec<&str> = files.lines().collect();
    let mut expected = vec![
        "/usr/bin/lockstep".to_string(),
        "/usr/share/man/man1/lockstep.1.gz".into(),
        "/usr/share/man/man1/lockstep-backup.1.gz".into(),
        "/usr/share/man/man1/lockstep-restore.1.gz".into(),
        "/usr/share/man/man5/lockstep.toml.5.gz".into(),
        "/usr/share/bash-completion/completions/lockstep".into(),
        "/usr/share/zsh/site-functions/_lockstep".into(),
        "/usr/share/fish/vendor_completions.d/lockstep.fish".into(),
        "/usr/share/lockstep/cron.d/lockstep".into(),
        "/etc/lockstep/lockstep.toml".into(),
    ];
    expected.extend(UNITS.iter().map(|u| format!("/usr/lib/systemd/system/{u}")));
    for path in &expected {
        assert!(
            files.contains(&path.as_str()),
            "{path} not in the rpm:\n{files:#?}"
        );
    }
    // man pages ship gzipped, as the distributions' own do
    let pages: Vec<&Path> = files
        .iter()
        .filter(|f| f.contains("/man/man"))
        .map(Path::new)
        .collect();
    assert!(
        pages.len() > 20 && pages.iter().all(|f| f.extension() == Some("gz".as_ref())),
        "{pages:#?}"
    );
    let config = run(Command::new("rpm").arg("-qcp").arg(rpm)).ok().stdout;
    assert_eq!(config.trim(), "/etc/lockstep/lockstep.toml");
    let long = run(Command::new("rpm").arg("-qlvp").arg(rpm)).ok().stdout;
    let mode_of = |path: &str| {
        long.lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("{path} not in:\n{long}"))
            .to_string()
    };
    // /var/lib/lockstep is made by the post-install script, the same lines as the .deb's
    // postinst, which the installed .deb shows to work.
    let scripts = run(Command::new("rpm").args(["-qp", "--scripts"]).arg(rpm))
        .ok()
        .stdout;
    assert!(
        scripts.contains("postinstall scriptlet")
            && scripts.contains("mkdir -m 0700 /var/lib/lockstep"),
        "{scripts}"
    );
    assert_eq!(mode_of("/etc/lockstep/lockstep.toml"), "-rw-------");
    assert_eq!(mode_of("/usr/bin/lockstep"), "-rwxr-xr-x");
}

/// `man lockstep` and `man 5 lockstep.toml` (gzipped pages), tab completion in bash, and the
/// systemd units pointing at the installed binary (verified by systemd-analyze where it is
/// installed).
fn check_man_completions_and_units() {
    let installed_pages: Vec<PathBuf> = ["/usr/share/man/man1", "/usr/share/man/man5"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).into_iter().flatten())
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("lockstep")
        })
        .collect();
    for page in [
        "/usr/share/man/man1/lockstep.1.gz",
        "/usr/share/man/man1/lockstep-backup.1.gz",
        "/usr/share/man/man5/lockstep.toml.5.gz",
    ] {
        assert!(
            installed_pages.contains(&PathBuf::from(page)),
            "{page}: {installed_pages:?}"
        );
    }
    for page in &installed_pages {
        // gzip's magic number, not only the name
        let head = std::fs::read(page).unwrap();
        assert!(
            head.starts_with(&[0x1f, 0x8b]),
            "{} is not gzipped",
            page.display()
        );
    }
    if require("man") {
        // `man -w` finds the installed page; it is rendered from that file (`man PAGE` may show
        // a formatted copy man-db cached from an earlier install of the same date).
        for (section, page, file, heading) in [
            (None, "lockstep", "man1/lockstep.1.gz", "EXIT STATUS"),
            (
                None,
                "lockstep-backup",
                "man1/lockstep-backup.1.gz",
                "GLOBAL OPTIONS",
            ),
            (
                Some("5"),
                "lockstep.toml",
                "man5/lockstep.toml.5.gz",
                "keep-within",
            ),
        ] {
            let found = run(Command::new("man").arg("-w").args(section).arg(page));
            assert_eq!(
                found.stdout.trim(),
                format!("/usr/share/man/{file}"),
                "man -w {page}: {}",
                found.stderr
            );
            let out = run(Command::new("man")
                .env("MANPAGER", "cat")
                .arg("-l")
                .arg(found.stdout.trim()));
            assert_eq!(out.code, 0, "man {page}: {}", out.stderr);
            assert!(
                out.stdout.contains(page) && out.stdout.contains(heading),
                "man {page}:\n{}",
                out.stdout
            );
        }
    }
    if have("bash") {
        let complete = run(Command::new("bash")
            .arg("-c")
            .arg(". /usr/share/bash-completion/completions/lockstep && complete -p lockstep"))
        .ok();
        assert!(complete.stdout.contains("lockstep"), "{}", complete.stdout);
    }
    let units: Vec<PathBuf> = UNITS
        .iter()
        .map(|u| Path::new("/usr/lib/systemd/system").join(u))
        .collect();
    for unit in units.iter().filter(|u| u.extension().unwrap() == "service") {
        let text = std::fs::read_to_string(unit).unwrap();
        // The failure template runs a shell that reports, not lockstep.
        let runs_lockstep = !unit.to_string_lossy().contains('@');
        assert!(
            (!runs_lockstep || text.contains("ExecStart=/usr/bin/lockstep "))
                && !text.contains("/usr/local"),
            "{}:\n{text}",
            unit.display()
        );
    }
    if !have("systemd-analyze") {
        eprintln!(
            "SKIPPED: systemd-analyze is not installed; the installed units were not verified"
        );
        return;
    }
    // Documentation=man:lockstep(1) is looked up too, where man is installed.
    let man = if have("man") { "--man=yes" } else { "--man=no" };
    let out = run(Command::new("systemd-analyze")
        .args(["verify", man])
        .args(&units));
    assert!(
        out.code == 0 && out.stderr.is_empty(),
        "systemd-analyze verify:\n{}{}",
        out.stdout,
        out.stderr
    );
}

/// The installed `lockstep`, found on PATH, with an administrator's environment: no
/// LOCKSTEP_* variables, so it reads /etc/lockstep/lockstep.toml and its defaults.
fn installed(home: &Path, args: &[&str]) -> Run {
    run(bare(Path::new("lockstep"), home).args(args))
}

fn bare(program: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", home);
    cmd
}

fn mode(path: &str) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// Purges the package and what the test created beside it (the test ran only where none of
/// it existed before), whether the test passed or not.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "lockstep"]).output();
        let _ = std::fs::remove_dir_all("/var/lib/lockstep");
        let _ = std::fs::remove_dir_all("/etc/lockstep");
    }
}
