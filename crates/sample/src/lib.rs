//! Realistic sample hosts for lockstep's demo and integration tests, and the tests' independent
//! listing oracle.
//!
//! [`build`] writes a fake host filesystem under a directory that stands for the host's `/`: one or
//! two IBM Installation Manager (IM) instances, each with its registry file, install dir, agent
//! data and shared resources, plus the WebSphere Application Server and HCL/IBM Portal package
//! groups the instance manages and their profiles. The tree carries the edge cases a backup tool
//! must restore exactly: relative and absolute symlinks, a hard-linked pair, empty and restricted
//! directories, odd file names, a zero-byte file, an extended attribute and a user-owned install.
//!
//! Everything is derived from [`SampleOptions::seed`] with a small built-in PRNG, so the same
//! options always give byte-identical trees with identical modes and mtimes (only ctime and inode
//! numbers differ). [`apply_fix_pack`] then moves one instance forward by one level the way IM
//! would, so tests can show what happens when product files and IM's records change together.
//!
//! This crate depends on nothing of lockstep's: a sample host is made the way IM and the products
//! make a real one, not the way lockstep reads it, and [`listing`] reads trees without lockstep's
//! code, so a test that compares a restore with its host does not trust what it tests.
//!
//! # What a built host holds
//!
//! [`build`] (`host.rs`) takes [`SampleOptions`] (`options.rs`) and writes, in this order:
//!
//! 1. The host's own files: `/etc/hostname`, `/etc/os-release` and `/tmp` (`host.rs`).
//! 2. For each IM instance the [`Shape`] has (admin, non-admin, group, container, or two), a plan
//!    of where each part goes: registry, IM install dir, agent data, shared resources, package
//!    groups, profiles, and what belongs to the user (`plan.rs`). Then, per instance:
//!    1. IM's registry file `InstallationManager.dat`, naming IM's install dir and agent data
//!       (`host.rs`); none in a container.
//!    2. IM's install dir: launcher, `IBMIM.ini`, `imcl`, `configuration/config.ini`, its JRE and
//!       plugins (`im.rs`).
//!    3. The WebSphere package group: scripts, version files (`platform.websphere`, `ND.product`
//!       or `WAS.product`), `profileRegistry.xml`, and the edge cases a restore must reproduce
//!       (`products.rs`); its versions and their formats come from the release lines
//!       (`releases.rs`) and the date forms IM writes (`dates.rs`).
//!    4. The Portal package group: `MP.product`, components, `wps.properties` (`products.rs`).
//!    5. The profile (`wp_profile`, or `AppSrv01` in a container) with its cells, keystores and
//!       logs, and ConfigEngine (`products.rs`).
//!    6. IM's agent data: `installed.xml`, `installRegistry.xml`, adapters, offerings, licences,
//!       preferences, histories and logs (`im.rs`).
//!    7. Bulk content up to the requested size: jars, the shared resources that repeat them
//!       byte-for-byte, and text files (`bulk.rs`), written from a seeded generator (`rng.rs`)
//!       as plausible text (`text.rs`) through one writer that counts them (`writer.rs`).
//! 3. What real hosts add beyond the install modes: an AppServer moved behind a symlink, a home
//!    under `/users`, an IM with no package yet, records copied from Windows (`shapes.rs`).
//! 4. Group-writable IM dirs in group mode, the user's files chowned when run as root, and last
//!    every mtime, from the fixed dates of the sample world (`facts.rs`; paths, modes and the
//!    walk in `disk.rs`).
//!
//! After the build, a test can change the host as IM or an administrator would:
//! [`apply_fix_pack`] (`fixpack.rs`, reading and editing IM's records through `records.rs`),
//! [`desync_product_files`] and [`relocate_im`] (`changes.rs`). [`listing`] (`listing.rs`) lists
//! trees entry by entry and tells two listings apart.
//!
//! Limits: the IM files follow the shapes in `docs/im-facts.md`, not copies from a real
//! system; jars are random bytes behind a zip signature, not valid archives; the scripts are
//! stand-ins that run nothing; ownership (uid/gid 1001) is applied only when the build runs as root.

mod bulk;
mod changes;
mod dates;
mod disk;
mod facts;
mod fixpack;
mod host;
mod im;
pub mod listing;
mod options;
mod plan;
mod products;
mod records;
mod releases;
mod rng;
mod shapes;
#[cfg(test)]
mod testutil;
mod text;
mod writer;

pub use changes::{desync_product_files, relocate_im};
pub use fixpack::{FixPackReport, apply_fix_pack};
pub use host::{SampleHost, SampleInstance, build};
pub use options::{Layout, RELOCATED_APPSERVER, SampleOptions, Shape, USERS_HOME, WasEdition};
pub use products::TEST_XATTR;
