//! Logical host paths (`/opt/IBM`, as the host sees them) and their place under the sample's
//! root; directories, modes, mtimes and a bottom-up walk that never follows symlinks.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use filetime::FileTime;

/// Maps a logical host path (`/opt/IBM`) to its place under `root`.
pub(crate) fn phys(root: &Path, logical: &str) -> PathBuf {
    root.join(logical.trim_start_matches('/'))
}

/// `true` when `path` is `base` or lies below it.
pub(crate) fn within(path: &str, base: &str) -> bool {
    path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
        || base == "/"
}

pub(crate) fn parent_of(logical: &str) -> Option<&str> {
    match logical.rsplit_once('/') {
        Some(("", _)) => Some("/"),
        Some((parent, _)) => Some(parent),
        None => None,
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Creates `logical` and any missing ancestors (mode 0755, umask-independent); returns the
/// directories it created, outermost first.
pub(crate) fn mkdir_all(root: &Path, logical: &str) -> io::Result<Vec<String>> {
    let mut created = Vec::new();
    let mut cur = String::new();
    for comp in logical.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(comp);
        let path = phys(root, &cur);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a directory", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path)?;
                set_mode(&path, 0o755)?;
                created.push(cur.clone());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

/// Visits `logical` and everything below it, children before their directory, in name order;
/// never follows symlinks.
pub(crate) fn walk<F>(root: &Path, logical: &str, visit: &mut F) -> io::Result<()>
where
    F: FnMut(&str, &fs::Metadata) -> io::Result<()>,
{
    let path = phys(root, logical);
    let meta = fs::symlink_metadata(&path)?;
    if meta.is_dir() {
        let mut names: Vec<String> = fs::read_dir(&path)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<io::Result<_>>()?;
        names.sort();
        for name in names {
            let child = if logical == "/" {
                format!("/{name}")
            } else {
                format!("{logical}/{name}")
            };
            walk(root, &child, visit)?;
        }
    }
    visit(logical, &meta)
}

/// Resolves `.` and `..` in an absolute logical path.
pub(crate) fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

pub(crate) fn set_times(path: &Path, meta: &fs::Metadata, t: i64) -> io::Result<()> {
    let ft = FileTime::from_unix_time(t, 0);
    if meta.file_type().is_symlink() {
        filetime::set_symlink_file_times(path, ft, ft)
    } else {
        filetime::set_file_times(path, ft, ft)
    }
}
