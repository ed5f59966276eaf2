//! Reading and editing IM's records of a built host: the levels `installed.xml` names, an
//! offering's version replaced or appended, Portal's `wps.properties` files.

use std::fs;
use std::io;
use std::path::Path;

use crate::disk::phys;
use crate::options::WasEdition;
use crate::releases::{PORTAL_LINES, PortalLine, WAS_LINES, WasLine};

pub(crate) fn bad_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Byte range of the quoted value that follows `needle` (which ends with the opening quote).
pub(crate) fn quoted_after(text: &str, from: usize, needle: &str) -> Option<(usize, usize)> {
    let start = text.get(from..)?.find(needle)? + from + needle.len();
    let end = text.get(start..)?.find('\'')? + start;
    Some((start, end))
}

/// Replaces the offering's `version` attribute and its `cic.info.version` property in
/// installed.xml; returns the old (internal, display) pair.
pub(crate) fn replace_offering(
    installed: &mut String,
    id: &str,
    internal: &str,
    display: &str,
) -> Option<(String, String)> {
    let (vs, ve) = quoted_after(installed, 0, &format!("id='{id}' version='"))?;
    let old_internal = installed[vs..ve].to_string();
    installed.replace_range(vs..ve, internal);
    let (ds, de) = quoted_after(installed, vs, "<property name='cic.info.version' value='")?;
    let old_display = installed[ds..de].to_string();
    installed.replace_range(ds..de, display);
    Some((old_internal, old_display))
}

/// Reads the offering's current (internal, display) versions from installed.xml.
pub(crate) fn read_offering(installed: &str, id: &str) -> Option<(String, String)> {
    let (vs, ve) = quoted_after(installed, 0, &format!("id='{id}' version='"))?;
    let (ds, de) = quoted_after(installed, vs, "<property name='cic.info.version' value='")?;
    Some((installed[vs..ve].to_string(), installed[ds..de].to_string()))
}

pub(crate) fn location_path(installed: &str, group: &str) -> Option<String> {
    let (s, e) = quoted_after(
        installed,
        0,
        &format!("<location id='{group}' kind='product' path='"),
    )?;
    Some(installed[s..e].to_string())
}

/// Appends a `<version>` to the offering in installRegistry.xml, keeping the older ones.
pub(crate) fn append_registry_version(
    registry: &mut String,
    id: &str,
    internal: &str,
    repo_info: &str,
) -> bool {
    let Some(start) = registry.find(&format!("<offering id='{id}'>")) else {
        return false;
    };
    let Some(close) = registry[start..].find("</offering>").map(|i| i + start) else {
        return false;
    };
    let line_start = registry[..close].rfind('\n').map_or(close, |i| i + 1);
    registry.insert_str(
        line_start,
        &format!("      <version value='{internal}' repoInfo='{repo_info}'/>\n"),
    );
    true
}

/// The levels IM records for an instance: the WebSphere line and fix pack, its directory, and
/// the Portal line, cumulative fix and directory when Portal is installed.
pub(crate) struct Levels {
    pub(crate) was_line: &'static WasLine,
    pub(crate) edition: WasEdition,
    /// The WebSphere offering's id (its edition's).
    pub(crate) was_id: String,
    pub(crate) fp: u32,
    pub(crate) was_dir: String,
    pub(crate) portal: Option<(&'static PortalLine, u32, String)>,
}

/// Reads the current levels back from installed.xml's text.
pub(crate) fn current_levels(installed: &str, installed_logical: &str) -> io::Result<Levels> {
    let (was_line, edition) = WAS_LINES
        .into_iter()
        .flat_map(|l| WasEdition::ALL.into_iter().map(move |e| (l, e)))
        .find(|(l, e)| installed.contains(&format!("id='{}' version='", e.offering(l))))
        .ok_or_else(|| bad_data(format!("{installed_logical} has no WebSphere offering")))?;
    let was_id = edition.offering(was_line);
    let (_, was_display) = read_offering(installed, &was_id)
        .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {was_id}")))?;
    let fp: u32 = was_display
        .strip_prefix(&format!("{}.", was_line.major))
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= was_line.first_fp)
        .ok_or_else(|| {
            bad_data(format!(
                "{installed_logical}: unexpected WAS level {was_display}"
            ))
        })?;
    let was_dir = location_path(installed, was_line.group).ok_or_else(|| {
        bad_data(format!(
            "{installed_logical}: no location for {}",
            was_line.group
        ))
    })?;
    let portal = match PORTAL_LINES
        .into_iter()
        .find(|l| installed.contains(&format!("id='{}' version='", l.id)))
    {
        Some(line) => {
            let (_, display) = read_offering(installed, line.id)
                .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {}", line.id)))?;
            let cf: u32 = display
                .rsplit_once(" CF")
                .and_then(|(_, n)| n.parse().ok())
                .ok_or_else(|| {
                    bad_data(format!(
                        "{installed_logical}: unexpected CF level {display}"
                    ))
                })?;
            let dir = location_path(installed, line.group).ok_or_else(|| {
                bad_data(format!(
                    "{installed_logical}: no location for {}",
                    line.group
                ))
            })?;
            Some((line, cf, dir))
        }
        None => None,
    };
    Ok(Levels {
        was_line,
        edition,
        was_id,
        fp,
        was_dir,
        portal,
    })
}

/// Portal's `wps.properties` under `portal` and the profile's copy (found through its
/// `ProfileDirectory`), as (logical path, text).
pub(crate) fn wps_files(root: &Path, portal: &str) -> io::Result<Vec<(String, String)>> {
    let main = format!("{portal}/wps.properties");
    let text = fs::read_to_string(phys(root, &main))?;
    let copy = text
        .lines()
        .find_map(|l| l.strip_prefix("ProfileDirectory="))
        .map(|p| format!("{}/PortalServer/wps.properties", p.trim()));
    let mut out = vec![(main, text.clone())];
    if let Some(copy) = copy
        && let Ok(copy_text) = fs::read_to_string(phys(root, &copy))
    {
        out.push((copy, copy_text));
    }
    Ok(out)
}
