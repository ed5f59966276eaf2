//! Reading IBM Installation Manager's own records: where IM, its agent data and its shared
//! resources live, and which package groups and offerings it believes are installed.
//!
//! This is the only place in lockstep that knows IBM's file formats. Every parser here takes
//! the file's text plus its path (for error messages) and returns plain data; nothing here
//! reads a record except [`read_bytes`] (through [`read_text`] and [`read_properties`]), which
//! never blocks on a pipe or reads a device, and nothing writes. The parsers are tolerant of
//! what real hosts contain (byte-order marks, CRLF line endings, Latin-1 and UTF-16 properties
//! files, either XML quote style, any attribute order, elements and keys IBM adds in later
//! releases) and strict about what a backup depends on: a missing install path or a damaged
//! file is an error, never a guess.
//!
//! 1. Where IM is: [`defaults`] (each platform's and install mode's default locations),
//!    [`registry`] (`InstallationManager.dat`), [`config_ini`] (the agent data's location).
//! 2. What IM believes is installed: [`installed`] (`installed.xml`), [`install_registry`]
//!    (`installRegistry.xml`), [`profile_registry`] (WebSphere profiles), [`product_version`]
//!    (products' own version files).
//! 3. The instances and their sets: [`discover`].
//! 4. The inventory those records give ([`inventory`]) and how two inventories differ
//!    ([`drift`]: upgrades, downgrades, fixes added or removed).

pub mod config_ini;
pub mod defaults;
pub mod discover;
pub mod drift;
pub mod install_registry;
pub mod installed;
pub mod inventory;
pub mod product_version;
pub mod profile_registry;
pub mod registry;
mod text;
mod xml;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::error::ImError;

/// A map value, with an empty or blank value read as absent: IM writes `key=` or `value=''`
/// for settings it has no value for.
pub(crate) fn non_empty<'m>(map: &'m BTreeMap<String, String>, key: &str) -> Option<&'m str> {
    map.get(key)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// The largest IM record lockstep reads (real `installed.xml` files are 1.5–2.5 MB): a record
/// larger than this is not one IM wrote, and reading it whole would only waste memory.
const MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// What a directory entry is, in words, when it is not a regular file.
fn not_a_file(meta: &std::fs::Metadata) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_file() {
        None
    } else if t.is_dir() {
        Some("a directory")
    } else if t.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else if t.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Reads an IM record's bytes, never blocking and never reading forever: the file is opened
/// without waiting (`O_NONBLOCK`, so a named pipe with no writer does not hang the open) and
/// checked on the open descriptor to be a regular file of a sane size before anything is read.
/// A pipe, a device (a link to `/dev/zero`), a directory or a socket where IM keeps a file is
/// reported as what it is.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ImError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| ImError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(what) = not_a_file(&meta) {
        return Err(ImError::parse(
            path,
            None,
            format!("{what} where IM keeps a regular file; it was not read"),
        ));
    }
    if meta.len() > MAX_RECORD_BYTES {
        return Err(ImError::parse(
            path,
            None,
            format!(
                "{} bytes, far larger than any record IM writes; it was not read",
                meta.len()
            ),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

/// Reads an IM file as text: strips a UTF-8 byte-order mark and refuses anything that is not
/// valid UTF-8 (IM writes its XML records in UTF-8 or plain ASCII; anything else means the file
/// is damaged). Java properties files are read with [`read_properties`] instead.
pub fn read_text(path: &Path) -> Result<String, ImError> {
    let bytes = read_bytes(path)?;
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with(text::BOM) {
                text.drain(..text::BOM.len_utf8());
            }
            Ok(text)
        }
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            let line = bytes[..valid].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(ImError::parse(
                path,
                u32::try_from(line).ok(),
                format!("not valid UTF-8 text (bad byte at offset {valid})"),
            ))
        }
    }
}

/// Reads a Java properties file (`InstallationManager.dat`, `config.ini`) as Java does: see
/// [`text::decode_properties`] for the encodings.
pub fn read_properties(path: &Path) -> Result<String, ImError> {
    text::decode_properties(&read_bytes(path)?, path)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lockstep-im-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parse_error_names_file_and_line() {
        let err = ImError::parse(Path::new("/var/ibm/x.xml"), Some(7), "broken");
        assert_eq!(
            err.to_string(),
            "/var/ibm/x.xml:7: broken (IM's records may be damaged; check the file or restore it from a lockstep snapshot)"
        );
    }

    #[test]
    fn parse_error_without_line_omits_it() {
        let err = ImError::parse(Path::new("/etc/a.dat"), None, "no location");
        assert!(err.to_string().starts_with("/etc/a.dat: no location ("));
    }

    #[test]
    fn read_text_strips_bom() {
        let dir = scratch_dir("bom");
        let file = dir.join("config.ini");
        std::fs::write(&file, b"\xEF\xBB\xBFim.version=1.9.2.8\n").unwrap();
        assert_eq!(read_text(&file).unwrap(), "im.version=1.9.2.8\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_text_keeps_plain_text() {
        let dir = scratch_dir("plain");
        let file = dir.join("a.dat");
        std::fs::write(&file, "location=/opt/IBM/InstallationManager\n").unwrap();
        assert_eq!(
            read_text(&file).unwrap(),
            "location=/opt/IBM/InstallationManager\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_text_rejects_invalid_utf8_with_line() {
        let dir = scratch_dir("utf8");
        let file = dir.join("installed.xml");
        std::fs::write(&file, b"<a>\n<b>\xFF\xFE</b>\n</a>").unwrap();
        let err = read_text(&file).unwrap_err();
        assert!(
            matches!(err, ImError::Parse { line: Some(2), .. }),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(shown.contains(&format!("{}:2:", file.display())), "{shown}");
        assert!(shown.contains("UTF-8"), "{shown}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_text_missing_file_is_io_error_naming_it() {
        let err =
            read_text(Path::new("/nonexistent/lockstep/InstallationManager.dat")).unwrap_err();
        assert!(matches!(err, ImError::Io { .. }));
        assert!(
            err.to_string()
                .contains("cannot read /nonexistent/lockstep/InstallationManager.dat")
        );
    }
}
