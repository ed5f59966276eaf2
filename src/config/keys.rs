//! Every key of the configuration file, described once: `lockstep man --dir` renders this list
//! as the `lockstep.toml(5)` page. A unit test below parses each key's example with
//! [`Config::parse`](super::Config::parse), so nothing is documented that lockstep would refuse;
//! the integration tests check the other way, that every field of [`Config`](super::Config) is
//! on the page.

/// One key: the table it sits in (`""` at the top), its name, an example value (TOML) and what
/// it does.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The table (`hooks`, `backup` …), or `""` for a top-level key.
    pub table: &'static str,
    /// The key as written in the file.
    pub name: &'static str,
    /// An example value, as TOML.
    pub example: &'static str,
    /// What it does, in one paragraph.
    pub doc: &'static str,
}

/// One table of the file: its name and what its keys are for.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// `""` for the top-level keys.
    pub name: &'static str,
    /// What the table is for.
    pub doc: &'static str,
}

/// The tables, in the order the page shows them.
pub const TABLES: &[Table] = &[
    Table {
        name: "",
        doc: "Where the repository is, how it is unlocked, what this host is called and what \
              besides IM's records belongs to the set.",
    },
    Table {
        name: "repository-options",
        doc: "Backend options of the repository, with rustic's names (bucket, endpoint, region, \
              root, retry, access_key_id, secret_access_key …); any key is passed on as a string.",
    },
    Table {
        name: "remote-options",
        doc: "Backend options of the remote, the same keys as [repository-options].",
    },
    Table {
        name: "hooks",
        doc: "Commands run around a backup, each through sh -c in its own process group with \
              stdin from /dev/null; their environment carries LOCKSTEP_PHASE, LOCKSTEP_SET, \
              LOCKSTEP_HOST, LOCKSTEP_ROOT and, after a backup, LOCKSTEP_SNAPSHOT. The flags of \
              the same phase (backup --before …) replace these.",
    },
    Table {
        name: "backup",
        doc: "How backups behave.",
    },
    Table {
        name: "forget",
        doc: "The retention policy lockstep forget applies to each set and host; each forget \
              flag overrides its key, and the labels of both are kept.",
    },
    Table {
        name: "notify",
        doc: "Commands told how an unattended command (backup, guard, drill, check, copy, \
              forget, prune, status) ended: run as hooks are, with LOCKSTEP_EVENT, \
              LOCKSTEP_COMMAND and LOCKSTEP_EXIT_CODE added and the command's JSON document \
              (its report, or the error document) on stdin. Each key takes one command or a \
              list. A notification never changes the command's exit code.",
    },
];

/// Every key, table by table.
pub const KEYS: &[Key] = &[
    Key {
        table: "",
        name: "repository",
        example: "\"/var/lib/lockstep/repo\"",
        doc: "The repository: a directory, or a rustic backend string (opendal:s3, \
              opendal:sftp, rest:https://host:8000/repo) with [repository-options]. Default \
              /var/lib/lockstep/repo as root, $XDG_DATA_HOME/lockstep/repo otherwise. --repo and \
              LOCKSTEP_REPOSITORY override it.",
    },
    Key {
        table: "",
        name: "password-file",
        example: "\"/etc/lockstep/password\"",
        doc: "A file (mode 600) whose first line is the repository password. The password's \
              sources, the first one set wins: LOCKSTEP_PASSWORD_FILE, \
              LOCKSTEP_PASSWORD_COMMAND, LOCKSTEP_PASSWORD, password-file, password-command, \
              then a prompt on a terminal; an unattended run with none of them fails with \
              exit 2.",
    },
    Key {
        table: "",
        name: "password-command",
        example: "\"vault kv get -field=password secret/lockstep\"",
        doc: "A command printing the repository password on its first line, run with sh -c as \
              restic's --password-command. A command that fails or prints nothing fails the \
              lockstep command (exit 1) with one line naming where it was set.",
    },
    Key {
        table: "",
        name: "remote",
        example: "\"opendal:s3\"",
        doc: "The disaster-recovery repository that lockstep copy and backup --copy write to, in \
              the same forms as repository, with [remote-options].",
    },
    Key {
        table: "",
        name: "remote-password-file",
        example: "\"/etc/lockstep/remote-password\"",
        doc: "A file whose first line is the remote's password. Without it (and without \
              remote-password-command, LOCKSTEP_REMOTE_PASSWORD_FILE or \
              LOCKSTEP_REMOTE_PASSWORD_COMMAND) the remote is opened with the repository's \
              password.",
    },
    Key {
        table: "",
        name: "remote-password-command",
        example: "\"pass show backup/lockstep-dr\"",
        doc: "A command printing the remote's password, as password-command; \
              remote-password-file and the environment come first.",
    },
    Key {
        table: "",
        name: "host",
        example: "\"dx-node-1\"",
        doc: "The host name recorded in snapshots (default: this machine's host name). --host \
              and LOCKSTEP_HOST override it.",
    },
    Key {
        table: "",
        name: "set",
        example: "\"dx-prod-cell1\"",
        doc: "The name of the set this host's snapshots belong to: the hosts of one WebSphere \
              cell or DX farm share it, and lockstep fleet compares hosts within a set. Default: \
              the IM instance's name (its install mode: admin, nonAdmin, group). --set on backup, \
              guard and status overrides it.",
    },
    Key {
        table: "",
        name: "extras",
        example: "[\"/opt/HCL/ssl\", \"/opt/HCL/shared-libs\"]",
        doc: "More paths (as the host sees them) backed up with the set as extra members: \
              profiles, custom files. --extra adds to them.",
    },
    Key {
        table: "",
        name: "excludes",
        example: "[\"/opt/HCL/WebSphere/wp_profile/logs\"]",
        doc: "Glob patterns on paths as the host sees them, left out of product and extra \
              members, out of the fingerprints that prove a snapshot consistent, and left in \
              place by an in-place restore. Never applied inside IM's own directories. Name the \
              directory itself, not only its contents: a new file changes its mtime.",
    },
    Key {
        table: "",
        name: "repository-options",
        example: "{ bucket = \"dx-backups\", endpoint = \"https://s3.example.net\" }",
        doc: "The [repository-options] table, usually written as a table of its own (below).",
    },
    Key {
        table: "",
        name: "remote-options",
        example: "{ bucket = \"dx-dr\", region = \"eu-1\" }",
        doc: "The [remote-options] table, usually written as a table of its own (below).",
    },
    Key {
        table: "repository-options",
        name: "bucket",
        example: "\"dx-backups\"",
        doc: "For opendal:s3: the bucket. Likewise endpoint, region, root (a prefix inside the \
              bucket), retry (retries with backoff on transient errors, default \"5\", \"false\" \
              for none), access_key_id and secret_access_key (or AWS_ACCESS_KEY_ID, \
              AWS_SECRET_ACCESS_KEY, ~/.aws/credentials; never on the command line).",
    },
    Key {
        table: "remote-options",
        name: "bucket",
        example: "\"dx-dr\"",
        doc: "As in [repository-options], for the remote.",
    },
    Key {
        table: "hooks",
        name: "before",
        example: "[\"/opt/HCL/WebSphere/wp_profile/bin/stopServer.sh WebSphere_Portal\"]",
        doc: "Run before the backup; a failure aborts it.",
    },
    Key {
        table: "hooks",
        name: "after",
        example: "[\"logger lockstep backup done\"]",
        doc: "Run after a successful backup.",
    },
    Key {
        table: "hooks",
        name: "on-failure",
        example: "[\"logger -p user.err lockstep backup failed\"]",
        doc: "Run when the backup fails, for whatever reason.",
    },
    Key {
        table: "hooks",
        name: "finally",
        example: "[\"/opt/HCL/WebSphere/wp_profile/bin/startServer.sh WebSphere_Portal\"]",
        doc: "Always run, last.",
    },
    Key {
        table: "hooks",
        name: "timeout",
        example: "600",
        doc: "Seconds each hook may run before its process group is killed (default 300).",
    },
    Key {
        table: "backup",
        name: "offline",
        example: "true",
        doc: "Refuse to back up while product servers run (and when product files change while \
              read), as backup --offline.",
    },
    Key {
        table: "backup",
        name: "retries",
        example: "2",
        doc: "Attempts after one during which IM's directories changed (default 2).",
    },
    Key {
        table: "backup",
        name: "allow-missing",
        example: "[\"extra\"]",
        doc: "Roles whose members may be missing (im-registry, im-install, im-agent-data, \
              im-shared, product, extra), as backup --allow-missing.",
    },
    Key {
        table: "forget",
        name: "keep-last",
        example: "5",
        doc: "Keep the N newest snapshots of each set and host.",
    },
    Key {
        table: "forget",
        name: "keep-hourly",
        example: "24",
        doc: "Keep the newest snapshot of each of the N newest hours that have one.",
    },
    Key {
        table: "forget",
        name: "keep-daily",
        example: "14",
        doc: "Keep the newest snapshot of each of the N newest days that have one.",
    },
    Key {
        table: "forget",
        name: "keep-weekly",
        example: "8",
        doc: "Keep the newest snapshot of each of the N newest (ISO) weeks that have one.",
    },
    Key {
        table: "forget",
        name: "keep-monthly",
        example: "12",
        doc: "Keep the newest snapshot of each of the N newest months that have one.",
    },
    Key {
        table: "forget",
        name: "keep-yearly",
        example: "3",
        doc: "Keep the newest snapshot of each of the N newest years that have one.",
    },
    Key {
        table: "forget",
        name: "keep-within",
        example: "\"2d\"",
        doc: "Keep every snapshot taken within this duration before the newest one of its set \
              and host: 30d, 2w, 6m, 1y6m, 12h; as in restic m is months, minutes are written \
              min.",
    },
    Key {
        table: "forget",
        name: "keep-labels",
        example: "[\"before CF220\"]",
        doc: "Never forget snapshots with these labels.",
    },
    Key {
        table: "forget",
        name: "prune",
        example: "true",
        doc: "Prune after forgetting (lockstep forget then reclaims the space).",
    },
    Key {
        table: "notify",
        name: "on-failure",
        example: "\"mail -s 'lockstep failed' ops@example.net\"",
        doc: "Run when the command fails (any exit code but 0; drift found by status is \
              on-drift).",
    },
    Key {
        table: "notify",
        name: "on-success",
        example: "[\"curl -fsS -m 10 https://hc.example.net/ping/lockstep\"]",
        doc: "Run when the command succeeds.",
    },
    Key {
        table: "notify",
        name: "on-drift",
        example: "\"logger -p user.warning lockstep drift\"",
        doc: "Run when status finds the live host out of step with its latest snapshot.",
    },
    Key {
        table: "notify",
        name: "timeout",
        example: "30",
        doc: "Seconds each notification command may run (default 60).",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn every_documented_key_is_one_lockstep_accepts() {
        for key in KEYS {
            let text = if key.table.is_empty() {
                format!("{} = {}\n", key.name, key.example)
            } else {
                format!("[{}]\n{} = {}\n", key.table, key.name, key.example)
            };
            if let Err(e) = super::super::Config::parse(&text, Path::new("keys.rs")) {
                panic!("{text}: {e}");
            }
        }
    }

    #[test]
    fn every_key_sits_in_a_documented_table() {
        for key in KEYS {
            assert!(
                TABLES.iter().any(|t| t.name == key.table),
                "[{}] {}",
                key.table,
                key.name
            );
        }
    }
}
