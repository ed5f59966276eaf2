//! The host's filesystem as lockstep sees it: logical paths and the root they live under.
//!
//! Everything lockstep shows or stores is a *logical* path — the path as the host itself sees it
//! (`/opt/IBM/InstallationManager`). With `--root DIR` the host's filesystem is mounted or
//! unpacked under DIR, and [`HostRoot`] maps logical paths to the physical ones. Symbolic links
//! met on the way are resolved *inside* the root (an absolute link target means DIR/target), the
//! way a chrooted host would see them, so that a mounted host is never confused with the machine
//! running lockstep.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Symlink hops allowed while resolving one path (like the kernel's ELOOP limit).
const MAX_SYMLINK_HOPS: usize = 40;

/// The root directory under which the host's filesystem lives (`/` for the running host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoot {
    root: PathBuf,
}

impl Default for HostRoot {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
        }
    }
}

impl HostRoot {
    /// A host whose filesystem root is `root` (absolute, or relative to the current directory).
    ///
    /// # Errors
    /// When `root` does not exist or is not a directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let root = std::fs::canonicalize(root).map_err(|e| {
            Error::Usage(format!(
                "--root {}: {e}; give the directory where the host's filesystem is mounted",
                root.display()
            ))
        })?;
        if !root.is_dir() {
            return Err(Error::Usage(format!(
                "--root {} is not a directory",
                root.display()
            )));
        }
        Ok(Self { root })
    }

    /// The physical root directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is the running host's own root.
    #[must_use]
    pub fn is_system_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The physical path of a logical path, without resolving symlinks.
    #[must_use]
    pub fn physical(&self, logical: &Path) -> PathBuf {
        let rel = logical.strip_prefix("/").unwrap_or(logical);
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    /// The logical path of a physical path under this root, if it is under it.
    #[must_use]
    pub fn logical(&self, physical: &Path) -> Option<PathBuf> {
        physical
            .strip_prefix(&self.root)
            .ok()
            .map(|rel| Path::new("/").join(rel))
    }

    /// Resolves every symlink in `logical` inside this root and returns the resolved *logical*
    /// path. Components that do not exist are kept as they are (so a missing directory resolves
    /// to itself and can be reported as missing).
    ///
    /// # Errors
    /// On a symlink loop.
    pub fn resolve(&self, logical: &Path) -> Result<PathBuf> {
        let mut resolved = PathBuf::from("/");
        let mut pending: Vec<std::ffi::OsString> =
            normal_components(logical)?.into_iter().rev().collect();
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&name);
            let physical = self.physical(&candidate);
            match std::fs::symlink_metadata(&physical) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(Error::Other(format!(
                            "too many symbolic links while resolving {}; check the links on the host",
                            logical.display()
                        )));
                    }
                    let target = std::fs::read_link(&physical)
                        .map_err(|e| Error::io("cannot read symlink", &physical, e))?;
                    if target.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    let mut rest: Vec<std::ffi::OsString> = Vec::new();
                    for comp in target.components() {
                        match comp {
                            Component::Normal(c) => rest.push(c.to_os_string()),
                            Component::ParentDir => rest.push("..".into()),
                            _ => {}
                        }
                    }
                    pending.extend(rest.into_iter().rev());
                }
                _ => resolved = candidate,
            }
        }
        Ok(resolved)
    }
}

/// Checks that `path` is an absolute logical path without `..` and returns its normal
/// components.
///
/// # Errors
/// For relative paths and paths with `..`: IM's records or the configuration are not trusted to
/// point outside the host.
pub fn normal_components(path: &Path) -> Result<Vec<std::ffi::OsString>> {
    if !path.is_absolute() {
        return Err(Error::Usage(format!(
            "{} is not an absolute path; set members are given as the host sees them, starting with /",
            path.display()
        )));
    }
    let mut out = Vec::new();
    for comp in path.components() {
        match comp {
            Component::Normal(c) => out.push(c.to_os_string()),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::Usage(format!(
                    "{} contains '..'; give the path without it",
                    path.display()
                )));
            }
        }
    }
    Ok(out)
}

/// `path` rebuilt from its normal components (removes `.` and duplicate slashes).
///
/// # Errors
/// As [`normal_components`].
pub fn clean(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::from("/");
    out.extend(normal_components(path)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_logical_and_physical() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        let p = host.physical(Path::new("/opt/IBM"));
        assert_eq!(p, host.root().join("opt/IBM"));
        assert_eq!(host.logical(&p).unwrap(), Path::new("/opt/IBM"));
        assert_eq!(host.physical(Path::new("/")), host.root());
    }

    #[test]
    fn resolves_absolute_links_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        std::fs::create_dir_all(host.root().join("data/IBM/WebSphere")).unwrap();
        std::fs::create_dir_all(host.root().join("opt")).unwrap();
        std::os::unix::fs::symlink("/data/IBM", host.root().join("opt/IBM")).unwrap();
        std::os::unix::fs::symlink("../data", host.root().join("opt/rel")).unwrap();
        assert_eq!(
            host.resolve(Path::new("/opt/IBM/WebSphere")).unwrap(),
            Path::new("/data/IBM/WebSphere")
        );
        assert_eq!(
            host.resolve(Path::new("/opt/rel/IBM")).unwrap(),
            Path::new("/data/IBM")
        );
        assert_eq!(
            host.resolve(Path::new("/opt/missing/x")).unwrap(),
            Path::new("/opt/missing/x")
        );
    }

    #[test]
    fn link_loops_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let host = HostRoot::new(dir.path()).unwrap();
        std::os::unix::fs::symlink("/b", host.root().join("a")).unwrap();
        std::os::unix::fs::symlink("/a", host.root().join("b")).unwrap();
        assert!(host.resolve(Path::new("/a/x")).is_err());
    }

    #[test]
    fn rejects_relative_and_dotdot() {
        assert!(normal_components(Path::new("opt/IBM")).is_err());
        assert!(normal_components(Path::new("/opt/../etc")).is_err());
        assert_eq!(
            clean(Path::new("/opt//IBM/./x")).unwrap(),
            Path::new("/opt/IBM/x")
        );
    }
}
