//! What an administrator meets before any backup: `--help`, the manual pages (`lockstep(1)`, a
//! page per command, `lockstep.toml(5)`), shell completion, and the text tables.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::Path;
use std::rc::Rc;

use crate::common::{Env, have, run};
use lockstep_sample::Shape;

/// The eleven options every command takes.
const GLOBAL: [&str; 11] = [
    "--root",
    "--repo",
    "--config",
    "--instance",
    "--agent-data",
    "--extra",
    "--host",
    "--state-dir",
    "--json",
    "--progress",
    "--metrics-file",
];

#[test]
fn a_command_s_help_lists_its_own_options_before_the_global_ones() {
    let env = Env::new(Shape::Admin);
    for (command, own) in [
        ("backup", "--label"),
        ("restore", "--only"),
        ("snapshots", "--set"),
        ("forget", "--keep-daily"),
        ("guard", "--rollback"),
    ] {
        let help = env.run(&[command, "--help"]).ok().stdout;
        let heading = help
            .find("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("no 'Global options' heading in {command} --help:\n{help}"));
        let (mine, global) = help.split_at(heading);
        assert!(
            mine.contains("\nOptions:\n") && mine.contains(&format!("  {own} ")),
            "{command}'s own options come first:\n{help}"
        );
        for flag in GLOBAL {
            assert!(
                !mine.contains(&format!("  {flag} ")),
                "{flag} is listed among {command}'s own options:\n{help}"
            );
            assert!(
                global.contains(&format!("  {flag} ")) || global.contains(&format!("  {flag}\n")),
                "{flag} missing under 'Global options' of {command}:\n{help}"
            );
        }
    }
}

/// The pages `lockstep man --dir` writes: (file name, roff).
fn man_pages(env: &Env) -> Vec<(String, String)> {
    let dir = env.path("man");
    env.run(&["man", "--dir", dir.to_str().unwrap()]).ok();
    let mut pages: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    pages.sort();
    pages
}

/// The `.SH` sections of a roff page: (heading, body), hyphens unescaped.
fn sections(roff: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in roff.replace("\\-", "-").lines() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            out.push((heading.trim_matches('"').to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

#[test]
fn man_pages_have_exit_status_environment_and_files_and_no_extra() {
    let env = Env::new(Shape::Admin);
    let pages = man_pages(&env);
    let commands: Vec<&(String, String)> =
        pages.iter().filter(|(n, _)| n.ends_with(".1")).collect();
    assert!(
        commands.len() > 20,
        "{:?}",
        pages.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    for (name, roff) in &commands {
        let headings: Vec<String> = sections(roff).into_iter().map(|(h, _)| h).collect();
        for wanted in [
            "NAME",
            "SYNOPSIS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "SEE ALSO",
        ] {
            assert!(
                headings.iter().any(|h| h == wanted),
                "{name}: no {wanted} in {headings:?}"
            );
        }
        assert!(
            !headings.iter().any(|h| h == "EXTRA"),
            "{name}: {headings:?}"
        );
    }
    let (_, main) = pages.iter().find(|(n, _)| n == "lockstep.1").unwrap();
    let sections = sections(main);
    let body = |heading: &str| {
        sections
            .iter()
            .find(|(h, _)| h == heading)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    };
    for code in ["0", "1", "2", "3", "141"] {
        assert!(
            body("EXIT STATUS").contains(&format!("\\fB{code}\\fR")),
            "exit code {code}:\n{}",
            body("EXIT STATUS")
        );
    }
    // Every LOCKSTEP_ variable lockstep reads or sets is on the page (the fault-injection
    // switches of the test suite aside).
    let environment = body("ENVIRONMENT");
    for name in lockstep_variables(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        assert!(
            environment.contains(&name),
            "{name} is not under ENVIRONMENT:\n{environment}"
        );
    }
    assert!(body("FILES").contains("/etc/lockstep/lockstep.toml"));
    // as installed: `man` renders it with the section headings
    if have("man") {
        let out = run(std::process::Command::new("man")
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .arg("-l")
            .arg(env.path("man").join("lockstep.1")));
        for heading in ["EXIT STATUS", "ENVIRONMENT", "FILES", "GLOBAL OPTIONS"] {
            assert!(
                out.stdout.contains(&format!("\n{heading}\n")),
                "{heading}:\n{}",
                out.stdout
            );
        }
    }
}

/// The `"LOCKSTEP_…"` names in lockstep's sources.
fn lockstep_variables(dir: &Path) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            names.extend(lockstep_variables(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("\"LOCKSTEP_") {
                let name: String = text[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if !name.starts_with("LOCKSTEP_FAULT_") {
                    names.insert(name);
                }
            }
        }
    }
    names
}

#[test]
fn lockstep_toml_5_names_every_configuration_key() {
    let env = Env::new(Shape::Admin);
    let pages = man_pages(&env);
    let (_, page) = pages
        .iter()
        .find(|(n, _)| n == "lockstep.toml.5")
        .expect("lockstep man --dir writes lockstep.toml.5");
    assert!(page.contains(".TH lockstep.toml 5"), "{page}");
    let sections = sections(page);
    let tagged = |heading: &str, key: &str| {
        sections
            .iter()
            .any(|(h, body)| h == heading && body.contains(&format!("\\fB{key}\\fR = ")))
    };
    let keys = config_keys();
    assert!(keys.len() > 30, "{keys:?}");
    for key in &keys {
        match key.split_once('.') {
            Some((table, name)) => assert!(
                tagged(&format!("[{table}]"), name),
                "[{table}] {name} is not on lockstep.toml(5)"
            ),
            None => assert!(
                tagged("KEYS", key) || sections.iter().any(|(h, _)| *h == format!("[{key}]")),
                "{key} is not on lockstep.toml(5)"
            ),
        }
    }
    if have("man") {
        let out = run(std::process::Command::new("man")
            .env("MANPAGER", "cat")
            .arg("-l")
            .arg(env.path("man").join("lockstep.toml.5")));
        assert!(out.stdout.contains("keep-within"), "{}", out.stdout);
    }
}

/// Every key `Config` accepts, as `key` or `table.key`: read from its `Deserialize`
/// implementation by a deserializer that answers every question with an empty value and notes
/// the fields each struct asks for.
fn config_keys() -> Vec<String> {
    use serde::Deserialize;
    let found = Rc::new(RefCell::new(Vec::new()));
    lockstep::config::Config::deserialize(Probe {
        path: String::new(),
        found: found.clone(),
    })
    .unwrap();
    found.take()
}

#[derive(Debug)]
struct Stop(String);

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl serde::de::Error for Stop {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

struct Probe {
    path: String,
    found: Rc<RefCell<Vec<String>>>,
}

impl Probe {
    fn at(&self, field: &str) -> Probe {
        Probe {
            path: if self.path.is_empty() {
                field.to_owned()
            } else {
                format!("{}.{field}", self.path)
            },
            found: self.found.clone(),
        }
    }
}

impl<'de> serde::Deserializer<'de> for Probe {
    type Error = Stop;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        // an untagged "one or many": the empty list
        v.visit_seq(serde::de::value::SeqDeserializer::<_, Stop>::new(
            std::iter::empty::<()>(),
        ))
    }
    fn deserialize_option<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_none()
    }
    fn deserialize_bool<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_bool(false)
    }
    fn deserialize_u32<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_u64(0)
    }
    fn deserialize_u64<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_u64(0)
    }
    fn deserialize_str<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_str("")
    }
    fn deserialize_string<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_str("")
    }
    fn deserialize_seq<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        self.deserialize_any(v)
    }
    fn deserialize_map<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, Stop> {
        v.visit_map(serde::de::value::MapDeserializer::<_, Stop>::new(
            std::iter::empty::<((), ())>(),
        ))
    }
    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Stop> {
        v.visit_map(Fields {
            probe: self,
            fields: fields.iter(),
            current: "",
        })
    }
    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit unit_struct
        newtype_struct tuple tuple_struct enum identifier ignored_any
    }
}

/// A struct's fields, each noted and answered with a [`Probe`].
struct Fields {
    probe: Probe,
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
}

impl<'de> serde::de::MapAccess<'de> for Fields {
    type Error = Stop;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Stop> {
        use serde::de::IntoDeserializer;
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = field;
        self.probe
            .found
            .borrow_mut()
            .push(self.probe.at(field).path);
        seed.deserialize((*field).into_deserializer()).map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Stop> {
        seed.deserialize(self.probe.at(self.current))
    }
}

#[test]
fn bash_completes_role_names_for_an_option_that_takes_a_role() {
    let env = Env::new(Shape::Admin);
    for shell in ["bash", "zsh", "fish"] {
        let script = env.run(&["completions", shell]).ok().stdout;
        assert!(script.contains("im-agent-data"), "{shell}:\n{script}");
    }
    if !have("bash") {
        eprintln!("SKIPPED: bash is not installed; the completion was not run");
        return;
    }
    let script = env.path("lockstep.bash");
    std::fs::write(&script, env.run(&["completions", "bash"]).ok().stdout).unwrap();
    // what bash does on `lockstep backup --allow-missing im-<TAB>`
    let complete = |words: &str| {
        let out = run(std::process::Command::new("bash").arg("-c").arg(format!(
            ". {} && COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && \
             _lockstep lockstep \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        )))
        .ok()
        .stdout;
        out.lines().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(
        complete("lockstep backup --allow-missing im-"),
        ["im-registry", "im-install", "im-agent-data", "im-shared"]
    );
    assert_eq!(
        complete("lockstep restore latest --only ''"),
        [
            "im-registry",
            "im-install",
            "im-agent-data",
            "im-shared",
            "product",
            "extra"
        ]
    );
    // and a wrong role is a usage error that names the right ones
    let wrong = env.run(&["backup", "--allow-missing", "profiles"]);
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(wrong.stderr.contains("im-agent-data"), "{}", wrong.stderr);
}

#[test]
fn tables_keep_their_columns_aligned_with_a_forty_character_host_name() {
    let env = Env::new(Shape::Admin);
    let long = "dx-portal-node-07.cell1.prod.example.net";
    assert_eq!(long.len(), 40);
    let backup_as = |host: &str| {
        let out = run(env
            .bare_command(Path::new(env!("CARGO_BIN_EXE_lockstep")))
            .arg("--root")
            .arg(env.root())
            .args(["--host", host, "backup", "--label", "nightly"]));
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    backup_as("dx1");
    backup_as(long);
    let listing = |args: &[&str]| {
        run(env
            .bare_command(Path::new(env!("CARGO_BIN_EXE_lockstep")))
            .args(args))
        .ok()
        .stdout
    };
    for (command, columns) in [
        (
            "snapshots",
            &["id", "time", "host", "set", "label", "proven", "inventory"][..],
        ),
        (
            "fleet",
            &[
                "set",
                "host",
                "latest",
                "age",
                "drill",
                "agreement",
                "inventory",
            ][..],
        ),
    ] {
        let out = listing(&[command]);
        let lines: Vec<&str> = out.lines().collect();
        let header = lines[0];
        let rows: Vec<&str> = lines[1..]
            .iter()
            .copied()
            .filter(|l| l.contains(long) || l.contains("dx1 "))
            .collect();
        assert_eq!(rows.len(), 2, "{command}:\n{out}");
        let starts: Vec<usize> = columns
            .iter()
            .map(|c| {
                header
                    .find(&format!("{c} "))
                    .or_else(|| header.ends_with(c).then(|| header.len() - c.len()))
                    .unwrap_or_else(|| panic!("{command}: no column {c}:\n{out}"))
            })
            .collect();
        for row in &rows {
            for (c, &at) in columns.iter().zip(&starts).skip(1) {
                let before = row.as_bytes().get(at - 1).copied();
                let first = row.as_bytes().get(at).copied();
                assert!(
                    before == Some(b' ') && first.is_some_and(|b| b != b' '),
                    "{command}: column {c} does not start at {at} in\n{row}\n(header: {header})\n{out}"
                );
            }
        }
        assert!(
            out.contains(long),
            "{command}: the host name is whole:\n{out}"
        );
    }
}
