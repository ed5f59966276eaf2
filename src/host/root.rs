//! The host's filesystem as lockstep sees it: logical paths and the root they live under.
//!
//! Everything lockstep shows or stores is a *logical* path — the path as the host itself sees it
//! (`/opt/IBM/InstallationManager`). With `--root DIR` the host's filesystem is mounted or
//! unpacked under DIR, and [`HostRoot`] maps logical paths to the physical ones. Symbolic links
//! met on the way are resolved *inside* the root (an absolute link target means DIR/target), the
//! way a chrooted host would see them, so that a mounted host is never confused with the machine
//! running lockstep.
//!
//! A Linux file name is bytes, not text: a product may hold a Latin-1 name, a newline or a name
//! of 255 bytes. [`shown`] is how lockstep *shows* any path (escaped, one line, never lossy), and
//! [`lossless`] how it *stores* one in its own JSON (the restore journal): serde's own encoding
//! refuses a path that is not UTF-8, which once failed every rollback of a set holding one.

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

/// Whether the physical path `path` is the root of a mount (a filesystem of its own, or a bind
/// mount): a rename can neither move it nor move anything across it. The kernel says so
/// (`statx`'s mount-root attribute, Linux 5.8+); where it cannot, a device that differs from the
/// parent's does. `false` when `path` cannot be inspected. Symlinks are not followed.
#[must_use]
pub fn is_mount_point(path: &Path) -> bool {
    use rustix::fs::{AtFlags, CWD, StatxAttributes, StatxFlags};
    use std::os::unix::fs::MetadataExt;
    let mount_root = StatxAttributes::MOUNT_ROOT;
    if let Ok(stx) = rustix::fs::statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::empty())
        && stx.stx_attributes_mask.contains(mount_root)
    {
        return stx.stx_attributes.contains(mount_root);
    }
    let (Ok(m), Some(parent)) = (std::fs::symlink_metadata(path), path.parent()) else {
        return false;
    };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}

/// `path` as lockstep shows it, on one line and without losing a byte: UTF-8 as it is, a byte
/// that is not UTF-8 as `\xNN`, a newline, tab or other control character escaped (`\n`,
/// `\u{1b}`), and a backslash doubled, so that two different names never look the same.
#[must_use]
pub fn shown(path: &Path) -> String {
    use std::fmt::Write;
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Serde for paths that keeps every byte (`#[serde(with = "crate::host::root::lossless")]`): a UTF-8
/// path is a JSON string, as serde writes it; any other is `{"base64": "…", "shown": "…"}` (the
/// bytes, and [`shown`] for a reader). Documents written before this encoding read unchanged.
pub mod lossless {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::{Path, PathBuf};

    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize)]
    #[serde(untagged)]
    enum Out<'a> {
        Text(&'a str),
        Bytes { base64: String, shown: String },
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum In {
        Text(String),
        Bytes { base64: String },
    }

    fn out(path: &Path) -> Out<'_> {
        match path.to_str() {
            Some(text) => Out::Text(text),
            None => Out::Bytes {
                base64: base64::engine::general_purpose::STANDARD
                    .encode(path.as_os_str().as_bytes()),
                shown: super::shown(path),
            },
        }
    }

    fn path<E: serde::de::Error>(value: In) -> Result<PathBuf, E> {
        match value {
            In::Text(text) => Ok(PathBuf::from(text)),
            In::Bytes { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64.as_bytes())
                .map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
                .map_err(|e| E::custom(format!("a path's bytes are not base64: {e}"))),
        }
    }

    /// Serialises one path.
    ///
    /// # Errors
    /// When the serializer fails.
    pub fn serialize<S: Serializer>(value: &Path, s: S) -> Result<S::Ok, S::Error> {
        out(value).serialize(s)
    }

    /// Deserialises one path.
    ///
    /// # Errors
    /// When the value is neither a string nor the bytes form.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        path(In::deserialize(d)?)
    }

    /// The same for a list of paths.
    pub mod vec {
        use super::{In, Path, PathBuf, out, path};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Serialises a list of paths.
        ///
        /// # Errors
        /// When the serializer fails.
        pub fn serialize<S: Serializer>(value: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(value.iter().map(|p| out(Path::new(p))))
        }

        /// Deserialises a list of paths.
        ///
        /// # Errors
        /// When an item is neither a string nor the bytes form.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
            Vec::<In>::deserialize(d)?.into_iter().map(path).collect()
        }
    }

    /// The same for a list of (path, value) pairs.
    pub mod pairs {
        use super::{In, PathBuf, out, path};
        use serde::{Deserialize, Deserializer, Serialize, Serializer};

        /// Serialises a list of pairs.
        ///
        /// # Errors
        /// When the serializer fails.
        pub fn serialize<S: Serializer, T: Serialize>(
            value: &[(PathBuf, T)],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(value.iter().map(|(p, v)| (out(p), v)))
        }

        /// Deserialises a list of pairs.
        ///
        /// # Errors
        /// When a path is neither a string nor the bytes form, or a value does not parse.
        pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
            d: D,
        ) -> Result<Vec<(PathBuf, T)>, D::Error> {
            Vec::<(In, T)>::deserialize(d)?
                .into_iter()
                .map(|(p, v)| Ok((path(p)?, v)))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    #[test]
    fn odd_names_are_shown_escaped_on_one_line() {
        let p = Path::new(OsStr::from_bytes(
            b"/opt/caf\xe9/two\nlines\\x/\xc3\xa9t\xc3\xa9",
        ));
        assert_eq!(
            super::shown(p),
            "/opt/caf\\xe9/two\\nlines\\\\x/\u{e9}t\u{e9}"
        );
        assert_eq!(super::shown(Path::new("/opt/plain")), "/opt/plain");
    }

    #[test]
    fn paths_round_trip_byte_for_byte() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Doc {
            #[serde(with = "super::lossless")]
            one: PathBuf,
            #[serde(with = "super::lossless::vec")]
            many: Vec<PathBuf>,
            #[serde(with = "super::lossless::pairs")]
            pairs: Vec<(PathBuf, u32)>,
        }
        let odd = PathBuf::from(OsStr::from_bytes(b"caf\xe9\n\xff"));
        let doc = Doc {
            one: odd.clone(),
            many: vec![PathBuf::from("plain/é"), odd.clone()],
            pairs: vec![(odd.clone(), 7), (PathBuf::new(), 8)],
        };
        let text = serde_json::to_string(&doc).unwrap();
        assert!(text.contains(r#""plain/é""#), "{text}");
        assert_eq!(serde_json::from_str::<Doc>(&text).unwrap(), doc);
        // What journals of earlier versions hold: plain strings.
        let old: Doc =
            serde_json::from_str(r#"{"one":"/a","many":["b"],"pairs":[["",1]]}"#).unwrap();
        assert_eq!(old.one, Path::new("/a"));
    }

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
