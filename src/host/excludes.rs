//! What a backup leaves out: exclude patterns on logical paths, never applied inside IM's
//! directories (IM's records must stay whole, or the set is not what IM believes).

use std::path::{Path, PathBuf};

use crate::host::set::SyncSet;
use crate::{Error, Result};

/// Exclude patterns on logical paths, never applied inside IM's directories.
#[derive(Debug, Clone, Default)]
pub struct Excludes {
    set: Option<globset::GlobSet>,
    protected: Vec<PathBuf>,
}

impl Excludes {
    /// Compiles `patterns`; `protected` are the IM roles' paths, where nothing is excluded.
    ///
    /// # Errors
    /// On an invalid pattern.
    pub fn new(patterns: &[String], protected: &[PathBuf]) -> Result<Self> {
        if patterns.is_empty() {
            return Ok(Self::default());
        }
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(p)
                .literal_separator(true)
                .build()
                .map_err(|e| {
                    Error::Usage(format!(
                        "exclude pattern '{p}' in the configuration is not a valid glob ({e}); correct `excludes` and run again"
                    ))
                })?;
            builder.add(glob);
        }
        Ok(Self {
            set: Some(
                builder
                    .build()
                    .map_err(|e| {
                        Error::Usage(format!(
                            "the configuration's exclude patterns cannot be compiled ({e}); correct `excludes` and run again"
                        ))
                    })?,
            ),
            protected: protected.to_vec(),
        })
    }

    /// Whether the entry at logical `path` is left out.
    #[must_use]
    pub fn excludes(&self, path: &Path) -> bool {
        match &self.set {
            Some(set) => !self.protected.iter().any(|p| path.starts_with(p)) && set.is_match(path),
            None => false,
        }
    }
}

/// `patterns` as a backup of `set` applies them: never inside IM's directories.
///
/// # Errors
/// On an invalid pattern.
pub(crate) fn set_excludes(set: &SyncSet, patterns: &[String]) -> Result<Excludes> {
    Excludes::new(patterns, &role_paths(set, true))
}

/// Existing data paths of IM roles (`im == true`) or of the other roles.
pub(crate) fn role_paths(set: &SyncSet, im: bool) -> Vec<PathBuf> {
    let mut only = set.clone();
    only.members.retain(|m| m.role.is_im() == im);
    only.top_level_paths()
}
