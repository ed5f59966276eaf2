//! Realistic sample hosts for the demo and the integration tests.
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
//! Limits: the IM files follow the shapes in `docs/im-facts.md`, not copies from a real
//! system; jars are random bytes behind a zip signature, not valid archives; the scripts are
//! stand-ins that run nothing; ownership (uid/gid 1001) is applied only when the build runs as root.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use serde::{Deserialize, Serialize};

/// Which kind of host to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// root install: registry /etc/.ibm/registry/InstallationManager.dat, IM /opt/IBM/InstallationManager,
    /// agent data /var/ibm/InstallationManager, shared /opt/IBM/IMShared
    Admin,
    /// user `wasadm` (home /home/wasadm, uid 1001 gid 1001): registry $HOME/etc/.ibm/registry/InstallationManager.dat,
    /// IM $HOME/IBM/InstallationManager, agent data $HOME/var/ibm/InstallationManager, shared $HOME/IBM/IMShared;
    /// products under /opt/HCL (owned by 1001 when running as root)
    NonAdmin,
    /// group mode: $HOME/IBM/InstallationManager_Group, $HOME/var/ibm/InstallationManager_Group, $HOME/IBM/IMShared, registry like non-admin
    Group,
    /// container style: NO registry file and NO IM install dir; agent data /opt/IBM/WebSphere/AppServerIMData,
    /// shared /opt/IBM/WebSphere/AppServerIMShared, product /opt/IBM/WebSphere/AppServer (docs/im-facts.md §1)
    Container,
    /// an Admin instance plus a NonAdmin instance of user wasadm on the same host (each with its own products)
    TwoInstances,
    /// Admin, with the AppServer path IM records (`<top>/AppServer`) a symlink to the relocated
    /// disk directory [`RELOCATED_APPSERVER`] (docs/im-facts.md §9, layouts)
    SymlinkedProduct,
    /// NonAdmin of user wasadm whose home is `/users/wasadm` (AIX), known only from the host's
    /// `/etc/passwd`; nothing under `/home`
    UsersHome,
    /// Admin IM with no package installed yet: no product, no profile, no `cacheLocation` in
    /// any record and no shared resources directory
    ImOnly,
    /// Admin, whose `installed.xml` and `installRegistry.xml` were copied from Windows: every
    /// package group, IM's own location and `cacheLocation` are `C:\…` paths
    WindowsRecords,
}

/// Where [`Shape::SymlinkedProduct`] keeps the AppServer's data (a relocated disk).
pub const RELOCATED_APPSERVER: &str = "/jennex/WebSphere/AppServer";
/// The home of user wasadm on a [`Shape::UsersHome`] host.
pub const USERS_HOME: &str = "/users/wasadm";

/// Which product branding and directory layout the package groups use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// HCL DX 9.5: /opt/HCL/WebSphere/{AppServer,PortalServer,wp_profile,ConfigEngine}
    Hcl,
    /// older IBM-branded: /opt/IBM/WebSphere/{AppServer,PortalServer,wp_profile}
    Ibm,
}

/// What to build; see [`build`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleOptions {
    /// Which kind of host.
    pub shape: Shape,
    /// Which product branding and layout.
    pub layout: Layout,
    /// approximate number of regular files in the whole host (default 400)
    pub files: usize,
    /// approximate total bytes of file content (default 4 MiB)
    pub bytes: u64,
    /// Seed for all generated content; the same options always give the same tree.
    pub seed: u64,
    /// The WebSphere edition IM installed (default Network Deployment).
    #[serde(default)]
    pub was_edition: WasEdition,
}

impl Default for SampleOptions {
    fn default() -> Self {
        SampleOptions {
            shape: Shape::Admin,
            layout: Layout::Hcl,
            files: 400,
            bytes: 4 * 1024 * 1024,
            seed: 1,
            was_edition: WasEdition::default(),
        }
    }
}

/// A WebSphere edition: its offering id segment (`com.ibm.websphere.<SEGMENT>.v90`), the
/// `was.install.productid` IM records for it, and the `.product` file it writes
/// (docs/im-facts.md §9, "WAS editions").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WasEdition {
    /// Network Deployment: `ND`, `ND.product` (the default hosts).
    #[default]
    Nd,
    /// Base: `BASE`, `WAS.product` with id `BASE`.
    Base,
    /// For developers: `DEVELOPERSILAN`, `WAS.product` with id `BASE`.
    DevelopersIlan,
    /// Network Deployment trial: `NDTRIAL`, `WAS.product` with id `ND`.
    NdTrial,
}

impl WasEdition {
    const ALL: [WasEdition; 4] = [
        WasEdition::Nd,
        WasEdition::Base,
        WasEdition::DevelopersIlan,
        WasEdition::NdTrial,
    ];
    fn segment(self) -> &'static str {
        match self {
            WasEdition::Nd => "ND",
            WasEdition::Base => "BASE",
            WasEdition::DevelopersIlan => "DEVELOPERSILAN",
            WasEdition::NdTrial => "NDTRIAL",
        }
    }
    /// `was.install.productid`: the id inside the `.product` file.
    fn product_id(self) -> &'static str {
        match self {
            WasEdition::Nd | WasEdition::NdTrial => "ND",
            WasEdition::Base | WasEdition::DevelopersIlan => "BASE",
        }
    }
    /// The version file under `properties/version/`; the default hosts keep `ND.product`.
    fn file(self) -> &'static str {
        match self {
            WasEdition::Nd => "ND.product",
            _ => "WAS.product",
        }
    }
    fn offering(self, line: &WasLine) -> String {
        line.id
            .replacen(".ND.", &format!(".{}.", self.segment()), 1)
    }
    fn name(self, line: &WasLine) -> String {
        match self {
            WasEdition::Nd => line.name.to_string(),
            WasEdition::Base => "IBM WebSphere Application Server".to_string(),
            WasEdition::DevelopersIlan => {
                "IBM WebSphere Application Server for Developers".to_string()
            }
            WasEdition::NdTrial => {
                "IBM WebSphere Application Server Network Deployment Trial".to_string()
            }
        }
    }
}

/// What was built: logical paths (as the host sees them, starting with '/') of each role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleHost {
    /// The directory that stands for the host's `/`.
    pub root: PathBuf,
    /// The IM instances on the host, admin first.
    pub instances: Vec<SampleInstance>,
}

impl SampleHost {
    /// The physical path under [`SampleHost::root`] of a logical host path such as `/opt/IBM`.
    pub fn path(&self, logical: &str) -> PathBuf {
        phys(&self.root, logical)
    }
}

/// One IM instance and the paths of its sync set (all logical, starting with '/').
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleInstance {
    /// The registry file `InstallationManager.dat`; `None` for the container shape.
    pub registry: Option<String>,
    /// The IM install dir (without `/eclipse`); `None` for the container shape.
    pub install: Option<String>,
    /// The agent data dir (`cic.appDataLocation`).
    pub agent_data: String,
    /// The shared resources dir (`cacheLocation`).
    pub shared: String,
    /// Package-group install dirs: AppServer first, then PortalServer when present.
    pub products: Vec<String>,
    /// Profile dirs outside the package groups (wp_profile, ConfigEngine): recommended `extra` members.
    pub profiles: Vec<String>,
    /// uid,gid the instance's files were chowned to; `None` when they belong to root or the build
    /// did not run as root (then every file belongs to the user who ran it).
    pub owner: Option<(u32, u32)>,
}

impl SampleInstance {
    /// Every path of this instance's sync set: registry, IM install dir, agent data, shared
    /// resources, package groups and profiles.
    pub fn members(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(self.registry.iter().cloned());
        out.extend(self.install.iter().cloned());
        out.push(self.agent_data.clone());
        // empty on an IM-only host, which has no shared resources directory
        if !self.shared.is_empty() {
            out.push(self.shared.clone());
        }
        out.extend(self.products.iter().cloned());
        out.extend(self.profiles.iter().cloned());
        out
    }
}

/// What a fix pack changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FixPackReport {
    /// Existing regular files rewritten (product files, version files, IM records).
    pub files_changed: usize,
    /// Regular files created (product files, rollback payload, agent-data log).
    pub files_added: usize,
    /// Regular files deleted from the package groups.
    pub files_removed: usize,
    /// Bytes of content written.
    pub bytes_written: u64,
    /// Display versions before, e.g. `WAS 9.0.5.17, DX 9.5 CF219`.
    pub from_version: String,
    /// Display versions after, e.g. `WAS 9.0.5.18, DX 9.5 CF220`.
    pub to_version: String,
}

/// Extended attribute set on one product file (`AppServer/properties/sas.client.props`).
pub const TEST_XATTR: &str = "user.lockstep.test";

// ---------------------------------------------------------------------------------------------
// Fixed facts of the sample world
// ---------------------------------------------------------------------------------------------

const DAY: i64 = 86_400;
/// 2024-04-04 10:14:00 UTC: when the package groups were installed.
const BASE_TIME: i64 = 1_712_225_640;
/// When IM itself was installed.
const IM_INSTALL_TIME: i64 = BASE_TIME - 30 * DAY;
/// Fix pack `k` is applied at `BASE_TIME + k * FIX_STEP`.
const FIX_STEP: i64 = 91 * DAY;
const WAS_STEP: i64 = 91 * DAY;
const CF_STEP: i64 = 35 * DAY;
const USER_HOME: &str = "/home/wasadm";
const USER_OWNER: (u32, u32) = (1001, 1001);
const HOST_NAME: &str = "lockstep01";
const IM_VERSION: &str = "1.9.2.8";
const IM_INTERNAL: &str = "1.9.2008.20240227_0018";
const IM_JRE: &str = "jre_8.0.8015.20231211_1016";
const SDK_INTERNAL: &str = "8.0.8015.20231211_1016";
const KIT_DIR: &str = "/tmp/imkit";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04\x14\x00\x08\x00";
const ELF_MAGIC: &[u8] = b"\x7fELF\x02\x01\x01\x00";
const P12_MAGIC: &[u8] = b"\x30\x82\x0a\x1c\x02\x01\x03";
/// Extensions a fix pack may rewrite or remove.
const FIXABLE_EXT: &[&str] = &["jar", "xml", "xmi", "properties", "jsp", "html", "css"];

/// A WebSphere Application Server release line.
struct WasLine {
    group: &'static str,
    id: &'static str,
    name: &'static str,
    product_name: &'static str,
    major: &'static str,
    platform: &'static str,
    first_fp: u32,
    first_build: i64,
    repo: &'static str,
}

/// A Portal / DX release line.
struct PortalLine {
    group: &'static str,
    id: &'static str,
    name: &'static str,
    product_name: &'static str,
    release: &'static str,
    base: &'static str,
    product_version: &'static str,
    first_cf: u32,
    first_build: i64,
    repo: &'static str,
    ifix: &'static str,
}

const HCL_WAS: WasLine = WasLine {
    group: "IBM WebSphere Application Server V9.0",
    id: "com.ibm.websphere.ND.v90",
    name: "IBM WebSphere Application Server Network Deployment",
    product_name: "IBM WebSphere Application Server - ND",
    major: "9.0.5",
    platform: "9.0",
    first_fp: 17,
    first_build: 1_680_618_300, // 2023-04-04 14:25
    repo: "/mnt/repo/was90",
};

const IBM_WAS: WasLine = WasLine {
    group: "IBM WebSphere Application Server V8.5",
    id: "com.ibm.websphere.ND.v85",
    name: "IBM WebSphere Application Server Network Deployment",
    product_name: "IBM WebSphere Application Server - ND",
    major: "8.5.5",
    platform: "8.5",
    first_fp: 20,
    first_build: 1_626_087_780, // 2021-07-12 11:03
    repo: "/mnt/repo/was85",
};

const HCL_PORTAL: PortalLine = PortalLine {
    group: "HCL Digital Experience",
    id: "com.ibm.websphere.PORTAL.SERVER.v95",
    name: "HCL Digital Experience Server",
    product_name: "HCL Digital Experience",
    release: "9.5",
    base: "9.5.0",
    product_version: "9.5.0.0",
    first_cf: 219,
    first_build: 1_710_494_100, // 2024-03-15 09:15
    repo: "/mnt/repo/dx95",
    ifix: "PH59321",
};

const IBM_PORTAL: PortalLine = PortalLine {
    group: "IBM WebSphere Portal Server V8.5",
    id: "com.ibm.websphere.PORTAL.SERVER.v85",
    name: "IBM WebSphere Portal Server",
    product_name: "IBM WebSphere Portal Server",
    release: "8.5",
    base: "8.5.0",
    product_version: "8.5.0.0",
    first_cf: 17,
    first_build: 1_560_519_000, // 2019-06-14 13:30
    repo: "/mnt/repo/wp85",
    ifix: "PI98765",
};

const WAS_LINES: [&WasLine; 2] = [&HCL_WAS, &IBM_WAS];
const PORTAL_LINES: [&PortalLine; 2] = [&HCL_PORTAL, &IBM_PORTAL];

impl WasLine {
    fn display(&self, fp: u32) -> String {
        format!("{}.{fp}", self.major)
    }
    fn build_time(&self, fp: u32) -> i64 {
        self.first_build + i64::from(fp.saturating_sub(self.first_fp)) * WAS_STEP
    }
    fn internal(&self, fp: u32) -> String {
        format!("{}{fp:03}.{}", self.major, date_tag(self.build_time(fp)))
    }
    fn level(&self, fp: u32) -> String {
        let c = Civil::of(self.build_time(fp));
        let week = ((c.month - 1) * 4 + c.day / 7 + 1).min(52);
        format!(
            "cf{:02}{:02}{week:02}.{:02}",
            fp % 100,
            c.year % 100,
            fp % 7 + 1
        )
    }
    fn repo_info(&self, fp: u32) -> String {
        let location = if fp == self.first_fp {
            format!("{}/WAS_ND_V{}_MP_ML", self.repo, self.platform)
        } else {
            format!("{}/{}-WS-WAS-FP{fp:03}", self.repo, self.major)
        };
        format!("repositoryLocation={location},repositoryKind=file")
    }
    /// The edition's `.product` file; editions other than ND declare the DTD by its SYSTEM id,
    /// as real `WAS.product` files do.
    fn product_xml(&self, fp: u32, edition: WasEdition) -> String {
        let xml = product_xml(
            self.product_name,
            edition.product_id(),
            &self.display(fp),
            self.build_time(fp),
            &self.level(fp),
        );
        if edition == WasEdition::Nd {
            xml
        } else {
            xml.replacen(
                "<!DOCTYPE product PUBLIC \"productId\" \"product.dtd\">",
                "<!DOCTYPE product SYSTEM \"product.dtd\">",
                1,
            )
        }
    }
}

impl PortalLine {
    fn display(&self, cf: u32) -> String {
        format!("{} CF{cf}", self.release)
    }
    fn build_time(&self, cf: u32) -> i64 {
        self.first_build + i64::from(cf.saturating_sub(self.first_cf)) * CF_STEP
    }
    fn internal(&self, cf: u32) -> String {
        format!("{}.{}", self.base, date_tag(self.build_time(cf)))
    }
    fn repo_info(&self, cf: u32) -> String {
        let location = if cf == self.first_cf {
            format!("{}/server/{}", self.repo, self.product_version)
        } else {
            format!("{}/cf/CF{cf}", self.repo)
        };
        format!("repositoryLocation={location},repositoryKind=file")
    }
    fn product_xml(&self, cf: u32) -> String {
        product_xml(
            self.product_name,
            "MP",
            self.product_version,
            self.build_time(cf),
            &format!("CF{cf}"),
        )
    }
    /// `wps.properties` with the keys Portal writes (docs/im-facts.md §9): `version`,
    /// `fixlevel`, `WPFamilyName`, `PortalRootDir`, `ProfileName`, `ProfileDirectory`,
    /// `cwProfileHome`.
    fn wps_properties(&self, cf: u32, portal: &str, profile: &str, was: &str) -> String {
        format!(
            "#{}\nWPFamilyName=MultiPlatform\nversion={}\nfixlevel=CF{cf}\n\
             PortalRootDir={portal}\nProfileName={}\nProfileDirectory={profile}\n\
             cwProfileHome={was}/profiles/cw_profile\n",
            java_date(self.build_time(cf)),
            self.product_version,
            profile.rsplit('/').next().unwrap_or("wp_profile"),
        )
    }
    /// Every PORTAL offering IM installs into the group, as (id, name, release, base): the
    /// SERVER and ENABLE offerings of 8.5, and on 9.5 those of 9.5 too (9.5 goes into the same
    /// group). `self.id` is the SERVER offering of the newest release.
    fn offerings(&self) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
        let v85 = [
            (
                "com.ibm.websphere.PORTAL.SERVER.v85",
                "IBM WebSphere Portal Server",
                "8.5",
                "8.5.0",
            ),
            (
                "com.ibm.websphere.PORTAL.ENABLE.v85",
                "IBM WebSphere Portal Enable",
                "8.5",
                "8.5.0",
            ),
        ];
        if self.id == HCL_PORTAL.id {
            let mut all = v85.to_vec();
            all.push((self.id, self.name, self.release, self.base));
            all.push((
                "com.ibm.websphere.PORTAL.ENABLE.v95",
                "HCL Digital Experience Enable",
                "9.5",
                "9.5.0",
            ));
            all
        } else {
            v85.to_vec()
        }
    }
}

/// Sets the `fixlevel` of a `wps.properties` text, keeping everything else.
fn with_fixlevel(text: &str, cf: u32) -> String {
    text.lines()
        .map(|l| {
            if l.starts_with("fixlevel=") {
                format!("fixlevel=CF{cf}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn product_xml(name: &str, id: &str, version: &str, date: i64, level: &str) -> String {
    let c = Civil::of(date);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE product PUBLIC \"productId\" \"product.dtd\">\n\
         <product name=\"{name}\">\n   <id>{id}</id>\n   <version>{version}</version>\n   \
         <build-info date=\"{}/{}/{:02}\" level=\"{level}\"/>\n</product>\n",
        c.month,
        c.day,
        c.year % 100
    )
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness, hashing, dates
// ---------------------------------------------------------------------------------------------

/// SplitMix64: tiny, fast and good enough for sample content; never seeded from the OS.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
    fn word(&mut self) -> &'static str {
        WORDS[self.index(WORDS.len())]
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items.get(self.index(items.len())).copied().unwrap_or("txt")
    }
    /// A size between half and one and a half times `mean`.
    fn around(&mut self, mean: u64) -> u64 {
        mean / 2 + self.below(mean + 1)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

/// FNV-1a, for deriving per-path values.
fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    h
}

/// Incompressible content behind a format signature.
fn blob(rng: &mut Rng, magic: &[u8], size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size.max(magic.len())];
    rng.fill(&mut data);
    data[..magic.len()].copy_from_slice(magic);
    data
}

/// A UTC calendar time.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: i64,
}

impl Civil {
    /// Howard Hinnant's `civil_from_days`.
    fn of(t: i64) -> Civil {
        let days = t.div_euclid(DAY);
        let secs = t.rem_euclid(DAY);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Civil {
            year,
            month,
            day,
            hour: secs / 3600,
            minute: secs % 3600 / 60,
            second: secs % 60,
            weekday: (days + 4).rem_euclid(7),
        }
    }
}

/// `20240404_1014`, IM's timestamp form for versions and log names.
fn date_tag(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}{:02}{:02}_{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `2024-04-04T10:14:00`.
fn iso(t: i64) -> String {
    let c = Civil::of(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `Thu Apr 04 10:14:00 UTC 2024`, as `java.util.Properties.store` writes it.
fn java_date(t: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::of(t);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[c.weekday as usize % 7],
        MONTHS[(c.month as usize + 11) % 12],
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.year
    )
}

/// `[4/4/24 10:14:00:000 UTC]`, the WebSphere log stamp.
fn was_stamp(t: i64, millis: u64) -> String {
    let c = Civil::of(t);
    format!(
        "[{}/{}/{:02} {}:{:02}:{:02}:{:03} UTC]",
        c.month,
        c.day,
        c.year % 100,
        c.hour,
        c.minute,
        c.second,
        millis % 1000
    )
}

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "portal", "theme", "content", "navigation", "security", "admin", "config", "resource", "cache",
    "datasource", "jcr", "search", "page", "layout", "render", "module", "service", "registry",
    "ldap", "federated", "credential", "vault", "scheduler", "transport", "channel", "cluster",
    "node", "cell", "server", "deploy", "template", "skin", "dynamic", "personalization", "wcm",
    "library", "authoring", "syndication", "workflow", "policy", "virtual", "mapping", "friendly",
    "selection", "model", "state", "engine", "webdav", "remote", "composite", "application",
    "palette", "toolbar", "mobile", "analytics", "audit", "tracing", "logging", "session",
    "identity",
];

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn random_value(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => rng.below(65_536).to_string(),
        1 => rng.word().to_string(),
        2 => format!("${{WAS_INSTALL_ROOT}}/lib/{}.jar", rng.word()),
        3 => (rng.below(2) == 0).to_string(),
        _ => format!("{}.{}.{}", rng.word(), rng.word(), rng.below(100)),
    }
}

/// Plausible, compressible text for a file with extension `ext`, about `size` bytes long.
fn gen_text(rng: &mut Rng, ext: &str, size: usize) -> String {
    let mut s = String::with_capacity(size + 256);
    match ext {
        "xml" | "xmi" => {
            let ns = rng.word();
            let root = capitalize(rng.word());
            let id = rng.below(1 << 40);
            s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            s.push_str(&format!(
                "<{ns}:{root} xmi:version=\"2.0\" xmlns:xmi=\"http://www.omg.org/XMI\" \
                 xmlns:{ns}=\"http://www.ibm.com/websphere/appserver/schemas/5.0/{ns}.xmi\" \
                 xmi:id=\"{root}_{id}\">\n"
            ));
            while s.len() < size {
                let (a, b) = (rng.word(), rng.word());
                let id = rng.below(1 << 40);
                let value = random_value(rng);
                s.push_str(&format!(
                    "  <{a}Entries xmi:id=\"{}_{id}\" name=\"{a}.{b}\" value=\"{value}\"/>\n",
                    capitalize(a)
                ));
            }
            s.push_str(&format!("</{ns}:{root}>\n"));
        }
        "properties" | "props" | "conf" => {
            s.push_str(&format!(
                "# {} settings\n# Changes take effect after a server restart.\n",
                capitalize(rng.word())
            ));
            while s.len() < size {
                let (a, b, c) = (rng.word(), rng.word(), rng.word());
                let value = random_value(rng);
                s.push_str(&format!("{a}.{b}.{c}={value}\n"));
            }
        }
        "jsp" => {
            s.push_str(
                "<%@ page session=\"false\" buffer=\"none\" %>\n\
                 <%@ taglib uri=\"http://www.ibm.com/xmlns/prod/websphere/portal/v8.5/portal-core\" \
                 prefix=\"portal-core\" %>\n",
            );
            while s.len() < size {
                let (a, b, c) = (rng.word(), rng.word(), rng.word());
                s.push_str(&format!(
                    "<div class=\"wptheme{}\"><portal-core:text key=\"{a}.{b}\" bundle=\"nls.{c}\"/></div>\n",
                    capitalize(a)
                ));
            }
        }
        "html" => {
            s.push_str(&format!(
                "<!DOCTYPE html>\n<html><head><title>{}</title></head><body>\n",
                capitalize(rng.word())
            ));
            while s.len() < size {
                let mut para = String::from("<p>");
                for _ in 0..12 {
                    para.push_str(rng.word());
                    para.push(' ');
                }
                para.push_str("</p>\n");
                s.push_str(&para);
            }
            s.push_str("</body></html>\n");
        }
        "css" => {
            while s.len() < size {
                let a = capitalize(rng.word());
                let color = rng.below(0x100_0000);
                let margin = rng.below(32);
                s.push_str(&format!(
                    ".wptheme{a} {{ color: #{color:06x}; margin: {margin}px; }}\n"
                ));
            }
        }
        "log" => {
            let mut t = BASE_TIME + rng.below(14 * DAY as u64) as i64;
            while s.len() < size {
                t += rng.below(90) as i64;
                let millis = rng.below(1000);
                let thread = rng.below(0x100);
                let comp = capitalize(rng.word());
                let code = rng.below(10_000);
                let (a, b) = (rng.word(), rng.word());
                s.push_str(&format!(
                    "{} {thread:08x} {comp}Impl I   WSVR{code:04}I: {a} {b} completed\n",
                    was_stamp(t, millis)
                ));
            }
        }
        _ => {
            while s.len() < size {
                let mut line = String::new();
                for _ in 0..10 {
                    line.push_str(rng.word());
                    line.push(' ');
                }
                line.push('\n');
                s.push_str(&line);
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Filesystem helpers
// ---------------------------------------------------------------------------------------------

/// Maps a logical host path (`/opt/IBM`) to its place under `root`.
fn phys(root: &Path, logical: &str) -> PathBuf {
    root.join(logical.trim_start_matches('/'))
}

/// `true` when `path` is `base` or lies below it.
fn within(path: &str, base: &str) -> bool {
    path == base
        || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
        || base == "/"
}

fn parent_of(logical: &str) -> Option<&str> {
    match logical.rsplit_once('/') {
        Some(("", _)) => Some("/"),
        Some((parent, _)) => Some(parent),
        None => None,
    }
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Creates `logical` and any missing ancestors (mode 0755, umask-independent); returns the
/// directories it created, outermost first.
fn mkdir_all(root: &Path, logical: &str) -> io::Result<Vec<String>> {
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
fn walk<F>(root: &Path, logical: &str, visit: &mut F) -> io::Result<()>
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
fn normalize(path: &str) -> String {
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

fn set_times(path: &Path, meta: &fs::Metadata, t: i64) -> io::Result<()> {
    let ft = FileTime::from_unix_time(t, 0);
    if meta.file_type().is_symlink() {
        filetime::set_symlink_file_times(path, ft, ft)
    } else {
        filetime::set_file_times(path, ft, ft)
    }
}

// ---------------------------------------------------------------------------------------------
// The writer: every byte of a sample host goes through it
// ---------------------------------------------------------------------------------------------

/// A jar written into a product or IM dir, kept so shared payloads can repeat it byte-for-byte.
struct Jar {
    logical: String,
    data: Vec<u8>,
}

struct Writer {
    root: PathBuf,
    rng: Rng,
    files: usize,
    bytes: u64,
    taken: BTreeSet<String>,
    jars: Vec<Jar>,
    /// Explicit mtimes (IM logs carry their time in their name, records their last update).
    stamps: BTreeMap<String, i64>,
}

impl Writer {
    fn stamp(&mut self, logical: &str, t: i64) {
        self.stamps.insert(logical.to_string(), t);
    }
    fn dir(&mut self, logical: &str) -> io::Result<()> {
        mkdir_all(&self.root, logical).map(|_| ())
    }
    fn dir_mode(&mut self, logical: &str, mode: u32) -> io::Result<()> {
        self.dir(logical)?;
        set_mode(&phys(&self.root, logical), mode)
    }
    fn write(&mut self, logical: &str, data: &[u8], mode: u32) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            self.dir(parent)?;
        }
        let path = phys(&self.root, logical);
        fs::write(&path, data)?;
        set_mode(&path, mode)?;
        self.files += 1;
        self.bytes += data.len() as u64;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    fn text(&mut self, logical: &str, text: &str) -> io::Result<()> {
        self.write(logical, text.as_bytes(), 0o644)
    }
    fn script(&mut self, logical: &str, text: &str) -> io::Result<()> {
        self.write(logical, text.as_bytes(), 0o755)
    }
    fn generated(&mut self, logical: &str, ext: &str, size: usize) -> io::Result<()> {
        let text = gen_text(&mut self.rng, ext, size);
        self.text(logical, &text)
    }
    fn binary(&mut self, logical: &str, magic: &[u8], size: usize, mode: u32) -> io::Result<()> {
        let data = blob(&mut self.rng, magic, size);
        self.write(logical, &data, mode)
    }
    fn jar(&mut self, logical: &str, size: usize) -> io::Result<()> {
        let data = blob(&mut self.rng, ZIP_MAGIC, size);
        self.write(logical, &data, 0o644)?;
        self.jars.push(Jar {
            logical: logical.to_string(),
            data,
        });
        Ok(())
    }
    fn symlink(&mut self, logical: &str, target: &str) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            self.dir(parent)?;
        }
        std::os::unix::fs::symlink(target, phys(&self.root, logical))?;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    fn hardlink(&mut self, existing: &str, logical: &str) -> io::Result<()> {
        fs::hard_link(phys(&self.root, existing), phys(&self.root, logical))?;
        self.files += 1;
        self.taken.insert(logical.to_string());
        Ok(())
    }
    /// `dir/stem.ext`, or `dir/stem_N.ext` when that name is already used.
    fn fresh(&self, dir: &str, stem: &str, ext: &str) -> String {
        let mut candidate = format!("{dir}/{stem}.{ext}");
        let mut n = 2;
        while self.taken.contains(&candidate) {
            candidate = format!("{dir}/{stem}_{n}.{ext}");
            n += 1;
        }
        candidate
    }
}

// ---------------------------------------------------------------------------------------------
// Instance plans
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Admin,
    NonAdmin,
    Group,
    Container,
}

impl Mode {
    fn access_rights(self) -> &'static str {
        match self {
            Mode::Admin => "admin",
            Mode::NonAdmin | Mode::Container => "nonAdmin",
            Mode::Group => "group",
        }
    }
    fn user(self) -> &'static str {
        match self {
            Mode::Admin | Mode::Container => "root",
            Mode::NonAdmin | Mode::Group => "wasadm",
        }
    }
}

/// Everything needed to write one instance.
struct Plan {
    mode: Mode,
    layout: Layout,
    registry: Option<String>,
    im: Option<String>,
    agent: String,
    shared: String,
    was: String,
    portal: Option<String>,
    profile: String,
    /// The profile lives outside the package groups (and so is an `extra` member).
    profile_extra: bool,
    config_engine: Option<String>,
    /// Subtrees chowned to the user when running as root.
    chown: Vec<String>,
    files: usize,
    bytes: u64,
    /// The WebSphere edition (set from the options after planning).
    edition: WasEdition,
}

impl Plan {
    fn was_line(&self) -> &'static WasLine {
        match self.layout {
            Layout::Hcl => &HCL_WAS,
            Layout::Ibm => &IBM_WAS,
        }
    }
    fn portal_line(&self) -> &'static PortalLine {
        match self.layout {
            Layout::Hcl => &HCL_PORTAL,
            Layout::Ibm => &IBM_PORTAL,
        }
    }
    fn cell(&self) -> String {
        if self.portal.is_some() {
            format!("{HOST_NAME}Cell")
        } else {
            "DefaultCell01".to_string()
        }
    }
    fn node(&self) -> String {
        if self.portal.is_some() {
            format!("{HOST_NAME}Node")
        } else {
            "DefaultNode01".to_string()
        }
    }
    fn server(&self) -> &'static str {
        if self.portal.is_some() {
            "WebSphere_Portal"
        } else {
            "server1"
        }
    }
}

fn product_plan(mode: Mode, layout: Layout, top: &str, chown: Vec<String>) -> Plan {
    let (registry, im, agent, shared) = match mode {
        Mode::Admin => (
            "/etc/.ibm/registry/InstallationManager.dat".to_string(),
            "/opt/IBM/InstallationManager".to_string(),
            "/var/ibm/InstallationManager".to_string(),
            "/opt/IBM/IMShared".to_string(),
        ),
        Mode::Group => (
            format!("{USER_HOME}/etc/.ibm/registry/InstallationManager.dat"),
            format!("{USER_HOME}/IBM/InstallationManager_Group"),
            format!("{USER_HOME}/var/ibm/InstallationManager_Group"),
            format!("{USER_HOME}/IBM/IMShared"),
        ),
        Mode::NonAdmin | Mode::Container => (
            format!("{USER_HOME}/etc/.ibm/registry/InstallationManager.dat"),
            format!("{USER_HOME}/IBM/InstallationManager"),
            format!("{USER_HOME}/var/ibm/InstallationManager"),
            format!("{USER_HOME}/IBM/IMShared"),
        ),
    };
    Plan {
        mode,
        layout,
        registry: Some(registry),
        im: Some(im),
        agent,
        shared,
        was: format!("{top}/AppServer"),
        portal: Some(format!("{top}/PortalServer")),
        profile: format!("{top}/wp_profile"),
        profile_extra: true,
        config_engine: (layout == Layout::Hcl).then(|| format!("{top}/ConfigEngine")),
        chown,
        files: 0,
        bytes: 0,
        edition: WasEdition::Nd,
    }
}

fn container_plan(layout: Layout) -> Plan {
    let was = "/opt/IBM/WebSphere/AppServer".to_string();
    Plan {
        mode: Mode::Container,
        layout,
        registry: None,
        im: None,
        agent: "/opt/IBM/WebSphere/AppServerIMData".to_string(),
        shared: "/opt/IBM/WebSphere/AppServerIMShared".to_string(),
        profile: format!("{was}/profiles/AppSrv01"),
        was,
        portal: None,
        profile_extra: false,
        config_engine: None,
        chown: Vec::new(),
        files: 0,
        bytes: 0,
        edition: WasEdition::Nd,
    }
}

fn plans(opts: &SampleOptions) -> Vec<Plan> {
    let layout = opts.layout;
    let (top, user_top, owned_top) = match layout {
        Layout::Hcl => (
            "/opt/HCL/WebSphere",
            format!("{USER_HOME}/HCL/WebSphere"),
            "/opt/HCL",
        ),
        Layout::Ibm => (
            "/opt/IBM/WebSphere",
            format!("{USER_HOME}/IBM/WebSphere"),
            "/opt/IBM/WebSphere",
        ),
    };
    let user_trees = vec![USER_HOME.to_string(), owned_top.to_string()];
    let mut plans = match opts.shape {
        Shape::Admin => vec![product_plan(Mode::Admin, layout, top, Vec::new())],
        Shape::NonAdmin => vec![product_plan(Mode::NonAdmin, layout, top, user_trees)],
        Shape::Group => vec![product_plan(Mode::Group, layout, top, user_trees)],
        Shape::Container => vec![container_plan(layout)],
        Shape::SymlinkedProduct | Shape::ImOnly | Shape::WindowsRecords => {
            vec![product_plan(Mode::Admin, layout, top, Vec::new())]
        }
        Shape::UsersHome => vec![in_users_home(product_plan(
            Mode::NonAdmin,
            layout,
            top,
            user_trees,
        ))],
        Shape::TwoInstances => vec![
            product_plan(Mode::Admin, layout, top, Vec::new()),
            product_plan(
                Mode::NonAdmin,
                layout,
                &user_top,
                vec![USER_HOME.to_string()],
            ),
        ],
    };
    let n = plans.len();
    for plan in &mut plans {
        plan.files = opts.files / n;
        plan.bytes = opts.bytes / n as u64;
        plan.edition = opts.was_edition;
    }
    plans
}

// ---------------------------------------------------------------------------------------------
// build
// ---------------------------------------------------------------------------------------------

/// Builds a sample host under `root`, which stands for the host's `/`.
///
/// `root` must be absent or an empty directory; it is created. The same options always produce
/// the same tree (content, modes, mtimes, symlink targets). When running as root, the files of
/// a non-admin or group instance are chowned to uid/gid 1001.
pub fn build(root: &Path, opts: &SampleOptions) -> io::Result<SampleHost> {
    match fs::read_dir(root) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} is not empty; a sample host needs an empty or absent directory",
                        root.display()
                    ),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(root)?,
        Err(e) => return Err(e),
    }
    set_mode(root, 0o755)?;

    let mut w = Writer {
        root: root.to_path_buf(),
        rng: Rng::new(opts.seed),
        files: 0,
        bytes: 0,
        taken: BTreeSet::new(),
        jars: Vec::new(),
        stamps: BTreeMap::new(),
    };
    w.text("/etc/hostname", &format!("{HOST_NAME}\n"))?;
    w.text(
        "/etc/os-release",
        "NAME=\"Red Hat Enterprise Linux\"\nVERSION=\"8.9 (Ootpa)\"\nID=\"rhel\"\nVERSION_ID=\"8.9\"\n",
    )?;
    w.dir("/tmp")?;
    set_mode(&phys(root, "/tmp"), 0o1777)?;

    let plans = plans(opts);
    let as_root = is_root();
    let mut instances = Vec::new();
    for plan in &plans {
        instances.push(build_instance(&mut w, plan, as_root)?);
    }
    reshape(&mut w, opts.shape, &plans, &mut instances)?;

    // Group mode needs the IM dirs writable by the group (docs/im-facts.md §1).
    for plan in plans.iter().filter(|p| p.mode == Mode::Group) {
        let trees = plan.im.iter().chain([&plan.agent, &plan.shared]);
        for tree in trees {
            walk(root, tree, &mut |logical, meta| {
                if meta.file_type().is_symlink() {
                    return Ok(());
                }
                set_mode(&phys(root, logical), (meta.mode() & 0o7777) | 0o020)
            })?;
        }
    }
    if as_root {
        for plan in &plans {
            for tree in &plan.chown {
                walk(root, tree, &mut |logical, _| {
                    std::os::unix::fs::lchown(
                        phys(root, logical),
                        Some(USER_OWNER.0),
                        Some(USER_OWNER.1),
                    )
                })?;
            }
        }
    }

    // Last, so no later write disturbs a directory mtime; `walk` goes bottom-up.
    let mut windows: Vec<(String, i64, i64)> = Vec::new();
    for plan in &plans {
        for tree in plan.im.iter().chain(plan.registry.iter()) {
            windows.push((tree.clone(), IM_INSTALL_TIME, DAY));
        }
        for tree in [&plan.agent, &plan.shared] {
            windows.push((tree.clone(), IM_INSTALL_TIME, BASE_TIME - IM_INSTALL_TIME));
        }
    }
    walk(root, "/", &mut |logical, meta| {
        let t = match w.stamps.get(logical) {
            Some(t) => *t,
            None => build_mtime(logical, &windows),
        };
        set_times(&phys(root, logical), meta, t)
    })?;

    Ok(SampleHost {
        root: root.to_path_buf(),
        instances,
    })
}

/// Deterministic build-time mtime of a path without an explicit stamp: logs from the days after
/// the product install, IM's own files from its install a month earlier (`windows`: tree, start,
/// length), everything else from product build dates before the install.
fn build_mtime(logical: &str, windows: &[(String, i64, i64)]) -> i64 {
    let h = fnv(logical.as_bytes());
    let spread = |range: i64| (h % range.max(1) as u64) as i64;
    if logical.contains("/logs/") || logical.contains("/log/") || logical.ends_with(".log") {
        return BASE_TIME + 600 + spread(14 * DAY);
    }
    match windows.iter().find(|(tree, _, _)| within(logical, tree)) {
        Some((_, start, length)) => start + spread(*length),
        None => BASE_TIME - spread(45 * DAY),
    }
}

fn build_instance(w: &mut Writer, plan: &Plan, as_root: bool) -> io::Result<SampleInstance> {
    let start_files = w.files;
    let start_bytes = w.bytes;
    w.jars.clear();

    if let (Some(registry), Some(im)) = (&plan.registry, &plan.im) {
        w.stamp(registry, IM_INSTALL_TIME + 30);
        w.text(
            registry,
            &format!(
                "location={im}\nlauncher={im}/eclipse/IBMIM\nversion=1.9.2\ninternalVersion={IM_INTERNAL}\n\
                 is64bit=true\nappDataLocation={}\n",
                plan.agent
            ),
        )?;
    }
    if let Some(im) = &plan.im {
        write_im(w, plan, im)?;
    }
    write_was(w, plan)?;
    if let Some(portal) = &plan.portal {
        write_portal(w, plan, portal)?;
    }
    write_profile(w, plan)?;
    if let Some(ce) = &plan.config_engine {
        write_config_engine(w, ce)?;
    }
    write_agent_data(w, plan)?;
    for sub in ["plugins", "native", "files"] {
        w.dir(&format!("{}/{sub}", plan.shared))?;
    }

    // Bulk content to reach the requested size: 40% jars, 20% shared copies, the rest text.
    let skeleton_files = w.files - start_files;
    let skeleton_bytes = w.bytes - start_bytes;
    let jar_bytes = plan.bytes * 2 / 5;
    let shared_bytes = plan.bytes / 5;
    let jar_files = (plan.files.saturating_sub(skeleton_files) * 3 / 20).max(6);
    bulk_jars(w, plan, jar_files, jar_bytes)?;
    bulk_shared(w, plan, shared_bytes)?;
    let text_files = plan.files.saturating_sub(w.files - start_files).max(8);
    let text_bytes = plan
        .bytes
        .saturating_sub(skeleton_bytes + jar_bytes + shared_bytes)
        .max(text_files as u64 * 256);
    bulk_text(w, plan, text_files, text_bytes)?;

    let mut products = vec![plan.was.clone()];
    products.extend(plan.portal.iter().cloned());
    let mut profiles = Vec::new();
    if plan.profile_extra {
        profiles.push(plan.profile.clone());
    }
    profiles.extend(plan.config_engine.iter().cloned());
    Ok(SampleInstance {
        registry: plan.registry.clone(),
        install: plan.im.clone(),
        agent_data: plan.agent.clone(),
        shared: plan.shared.clone(),
        products,
        profiles,
        owner: (as_root && !plan.chown.is_empty()).then_some(USER_OWNER),
    })
}

/// `plan` with wasadm's home at [`USERS_HOME`] instead of `/home/wasadm`.
fn in_users_home(mut plan: Plan) -> Plan {
    let moved = |p: &str| match p.strip_prefix(USER_HOME) {
        Some(rest) => format!("{USERS_HOME}{rest}"),
        None => p.to_string(),
    };
    plan.registry = plan.registry.as_deref().map(moved);
    plan.im = plan.im.as_deref().map(moved);
    plan.agent = moved(&plan.agent);
    plan.shared = moved(&plan.shared);
    plan.chown = plan.chown.iter().map(|p| moved(p)).collect();
    plan
}

/// `logical` (`/opt/HCL/WebSphere/AppServer`) as the same install writes it on Windows
/// (`C:\Program Files\HCL\WebSphere\AppServer`).
fn windows_path(logical: &str) -> String {
    let rest = logical
        .strip_prefix("/opt/")
        .or_else(|| logical.strip_prefix("/var/ibm/"))
        .unwrap_or(logical.trim_start_matches('/'));
    let base = if logical.starts_with("/var/ibm/") {
        r"C:\ProgramData\IBM\"
    } else {
        r"C:\Program Files\"
    };
    format!("{base}{}", rest.replace('/', r"\"))
}

/// The shapes real hosts have beyond the install modes (issue 22), made from the host the plan
/// built by moving what real hosts move. Runs before the mtimes are set.
fn reshape(
    w: &mut Writer,
    shape: Shape,
    plans: &[Plan],
    instances: &mut [SampleInstance],
) -> io::Result<()> {
    let (Some(plan), Some(inst)) = (plans.first(), instances.first_mut()) else {
        return Ok(());
    };
    let agent = plan.agent.clone();
    match shape {
        Shape::SymlinkedProduct => {
            // The AppServer moved to another disk; IM still records the old path, now a link.
            if let Some(parent) = parent_of(RELOCATED_APPSERVER) {
                w.dir(parent)?;
            }
            fs::rename(phys(&w.root, &plan.was), phys(&w.root, RELOCATED_APPSERVER))?;
            w.symlink(&plan.was, RELOCATED_APPSERVER)?;
        }
        Shape::UsersHome => {
            w.text(
                "/etc/passwd",
                &format!(
                    "root:x:0:0:root:/root:/usr/bin/ksh\ndaemon:x:1:1::/etc:\nbin:x:2:2::/bin:\n\
                     nobody:x:4294967294:4294967294::/:\n\
                     wasadm:x:1001:1001:WebSphere administrator:{USERS_HOME}:/usr/bin/ksh\n"
                ),
            )?;
        }
        Shape::ImOnly => {
            let gone = inst
                .products
                .iter()
                .chain(&inst.profiles)
                .chain([&inst.shared]);
            for tree in gone {
                match fs::remove_dir_all(phys(&w.root, tree)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            let (installed, registry) = im_only_records(plan);
            w.text(&format!("{agent}/installed.xml"), &installed)?;
            w.text(&format!("{agent}/installRegistry.xml"), &registry)?;
            inst.products.clear();
            inst.profiles.clear();
            inst.shared.clear();
        }
        Shape::WindowsRecords => {
            let mut moved: Vec<&String> = vec![&plan.was, &plan.profile, &plan.shared, &plan.agent];
            moved.extend(plan.portal.iter().chain(&plan.im));
            moved.extend(&plan.config_engine);
            for name in ["installed.xml", "installRegistry.xml"] {
                let logical = format!("{agent}/{name}");
                let mut text = fs::read_to_string(phys(&w.root, &logical))?;
                for path in &moved {
                    text = text.replace(path.as_str(), &windows_path(path));
                }
                w.text(&logical, &text)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `installed.xml` and `installRegistry.xml` of an IM with no package installed yet: IM's own
/// location and profile only, and no `cacheLocation` (IM names one with the first package).
fn im_only_records(plan: &Plan) -> (String, String) {
    let im = plan.im.as_deref().unwrap_or(KIT_DIR);
    let access = plan.mode.access_rights();
    let installed = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?installInfo version='0.0.3'?>\n\
         <?xml-stylesheet type='text/xsl' href='installed.xsl'?>\n\
         <installInfo xmlns:installed='http://www.ibm.com/rational/com.ibm.cic.installed'>\n  \
         <property name='agent.launch.command' value='{im}/eclipse/tools/imcl'/>\n  \
         <property name='agent.install.location' value='{im}/eclipse'/>\n  \
         <property name='cic.appDataLocation' value='{agent}'/>\n  \
         <property name='accessRights' value='{access}'/>\n  \
         <location id='IBM Installation Manager' kind='self' path='{im}/eclipse'>\n    \
         <property name='agent.jre' value='{IM_JRE}'/>\n    \
         <package kind='offering' name='IBM® Installation Manager' id='com.ibm.cic.agent' version='{IM_INTERNAL}'>\n      \
         <property name='cic.info.version' value='{IM_VERSION}'/>\n    </package>\n  </location>\n\
         </installInfo>\n",
        agent = plan.agent
    );
    let registry = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<installRegistry>\n  \
         <property name='accessRights' value='{access}'/>\n  \
         <profile id='IBM Installation Manager' kind='self'>\n    \
         <property name='installLocation' value='{im}/eclipse'/>\n    \
         <offering id='com.ibm.cic.agent'>\n      <version value='{IM_INTERNAL}' \
         repoInfo='repositoryLocation={KIT_DIR},repositoryKind=file'/>\n    </offering>\n  \
         </profile>\n</installRegistry>\n"
    );
    (installed, registry)
}

fn stub_script(name: &str, what: &str, home_var: &str, home: &str) -> String {
    format!(
        "#!/bin/sh\n# {name}: {what} command.\n# Stand-in written by lockstep's sample host builder; it runs nothing.\n\
         {home_var}=\"{home}\"\nexport {home_var}\n\
         echo \"{name}: this sample host has no runnable {what}\" >&2\nexit 1\n"
    )
}

fn write_im(w: &mut Writer, plan: &Plan, im: &str) -> io::Result<()> {
    let access = plan.mode.access_rights();
    let ecl = format!("{im}/eclipse");
    w.script(
        &format!("{ecl}/IBMIM"),
        &stub_script("IBMIM", "Installation Manager launcher", "IM_HOME", im),
    )?;
    w.text(
        &format!("{ecl}/IBMIM.ini"),
        &format!(
            "-vm\n{ecl}/{IM_JRE}/jre/bin/java\n-accessRights\n{access}\n-vmargs\n-Xquickstart\n-Xgcpolicy:gencon\n"
        ),
    )?;
    w.text(
        &format!("{ecl}/.eclipseproduct"),
        &format!("name=IBM Installation Manager\nid=com.ibm.cic.agent\nversion={IM_VERSION}\n"),
    )?;
    w.script(
        &format!("{ecl}/tools/imcl"),
        &format!(
            "#!/bin/sh\n# imcl: command line of IBM Installation Manager {IM_VERSION} ({access} mode).\n\
             # Stand-in written by lockstep's sample host builder; it only answers \"version\".\n\
             case \"$1\" in\n  version)\n    echo \"Installation Manager (installed)\"\n    \
             echo \"Version: 1.9.2\"\n    echo \"Internal Version: {IM_INTERNAL}\"\n    \
             echo \"Architecture: 64-bit\"\n    ;;\n  *)\n    \
             echo \"imcl: this sample host has no runnable Installation Manager\" >&2\n    exit 1\n    ;;\nesac\n"
        ),
    )?;
    w.script(
        &format!("{ecl}/tools/imutilsc"),
        &stub_script("imutilsc", "Installation Manager utilities", "IM_HOME", im),
    )?;
    w.text(
        &format!("{ecl}/configuration/config.ini"),
        &format!(
            "#Configuration File\n#{}\neclipse.product=com.ibm.cic.agent.ui.product\n\
             osgi.bundles=org.eclipse.equinox.common@2:start,org.eclipse.update.configurator@3:start,\
             org.eclipse.core.runtime@start,com.ibm.cic.agent.core.nl1,com.ibm.cic.agent.ui.nl1\n\
             osgi.bundles.defaultStartLevel=4\nosgi.instance.area=@noDefault\nosgi.configuration.cascaded=false\n\
             osgi.os=linux\nosgi.ws=gtk\nosgi.arch=x86_64\ncic.appDataLocation={}\nim.version={IM_VERSION}\n\
             im.internal.version={IM_INTERNAL}\nim.installer.version={IM_VERSION}\n\
             im.installer.internal.version={IM_INTERNAL}\nim.installer.jre.version={SDK_INTERNAL}\n",
            java_date(IM_INSTALL_TIME),
            plan.agent
        ),
    )?;
    w.dir(&format!("{ecl}/configuration/org.eclipse.osgi"))?;
    let jre = format!("{ecl}/{IM_JRE}/jre");
    w.binary(&format!("{jre}/bin/java"), ELF_MAGIC, 16 * 1024, 0o755)?;
    w.text(
        &format!("{jre}/release"),
        "JAVA_VERSION=\"1.8.0_401\"\nOS_NAME=\"Linux\"\nOS_ARCH=\"amd64\"\nIMPLEMENTOR=\"IBM Corporation\"\n",
    )?;
    w.generated(
        &format!("{jre}/lib/security/java.security"),
        "properties",
        6 * 1024,
    )?;
    w.jar(
        &format!("{ecl}/plugins/com.ibm.cic.agent.core_{IM_INTERNAL}.jar"),
        32 * 1024,
    )?;
    Ok(())
}

fn write_was(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let was = &plan.was;
    let line = plan.was_line();
    let fp = line.first_fp;
    for name in [
        "startServer.sh",
        "stopServer.sh",
        "serverStatus.sh",
        "versionInfo.sh",
        "wsadmin.sh",
        "manageprofiles.sh",
        "setupCmdLine.sh",
    ] {
        w.script(
            &format!("{was}/bin/{name}"),
            &stub_script(name, "WebSphere Application Server", "WAS_HOME", was),
        )?;
    }
    let version = format!("{was}/properties/version");
    w.text(
        &format!("{version}/platform.websphere"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE websphere PUBLIC \"websphere\" \"websphere.dtd\">\n\
             <websphere name=\"IBM WebSphere Application Server\" version=\"{}\"/>\n",
            line.platform
        ),
    )?;
    w.text(
        &format!("{version}/{}", plan.edition.file()),
        &line.product_xml(fp, plan.edition),
    )?;
    // WebSphere's list of profiles: discovery adds them to the set from here.
    let profile_name = plan.profile.rsplit('/').next().unwrap_or("AppSrv01");
    w.text(
        &format!("{was}/properties/profileRegistry.xml"),
        &format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><profiles>\n    <profile isAReservationTicket=\"false\" isDefault=\"true\" name=\"{profile_name}\" path=\"{}\" template=\"{was}/profileTemplates/default\"/>\n</profiles>\n",
            plan.profile
        ),
    )?;
    w.dir(&format!("{version}/history"))?;
    w.text(
        &format!("{version}/log/{}-install-ND.log", date_tag(BASE_TIME)),
        &format!(
            "{} Installed {} {} ({}) into {was}\n",
            iso(BASE_TIME),
            plan.edition.offering(line),
            line.display(fp),
            line.internal(fp)
        ),
    )?;

    // Edge cases: hard-linked pair, relative symlinks to a file and to a dir, an xattr,
    // odd names, an empty dir.
    w.generated(
        &format!("{was}/properties/wsadmin.properties"),
        "properties",
        3 * 1024,
    )?;
    let sas = format!("{was}/properties/sas.client.props");
    w.generated(&sas, "properties", 2 * 1024)?;
    // Filesystems without user xattrs (tmpfs on old kernels) simply go without.
    let _ = xattr::set(phys(&w.root, &sas), TEST_XATTR, b"sample");
    let jaas = format!("{was}/properties/wsjaas.conf");
    w.generated(&jaas, "conf", 1500)?;
    w.hardlink(&jaas, &format!("{was}/properties/wsjaas_client.conf"))?;
    w.jar(&format!("{was}/lib/j2ee.jar"), 24 * 1024)?;
    w.symlink(&format!("{was}/lib/j2ee-current.jar"), "j2ee.jar")?;
    w.dir(&format!("{was}/lib/ext"))?;
    w.binary(
        &format!("{was}/java/8.0/bin/java"),
        ELF_MAGIC,
        16 * 1024,
        0o755,
    )?;
    w.symlink(&format!("{was}/java/current"), "8.0")?;
    w.generated(&format!("{was}/readme/Release Notes.txt"), "txt", 2 * 1024)?;
    w.generated(
        &format!("{was}/readme/Übersicht_für_Administratoren.txt"),
        "txt",
        1024,
    )?;

    w.generated(&format!("{was}/logs/install/log.txt"), "log", 3 * 1024)?;
    w.generated(
        &format!(
            "{was}/logs/manageprofiles/{}_create.log",
            plan.profile.rsplit('/').next().unwrap_or("wp_profile")
        ),
        "log",
        2 * 1024,
    )?;
    w.dir(&format!("{was}/logs/postinstall"))?;
    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        let cw = format!("{was}/profiles/cw_profile");
        w.script(
            &format!("{cw}/bin/setupCmdLine.sh"),
            &stub_script(
                "setupCmdLine.sh",
                "configuration wizard profile",
                "USER_INSTALL_ROOT",
                &cw,
            ),
        )?;
        w.generated(&format!("{cw}/config/cells/cw_cell/cell.xml"), "xml", 1024)?;
        w.dir(&format!("{cw}/logs"))?;
    }
    Ok(())
}

fn write_portal(w: &mut Writer, plan: &Plan, portal: &str) -> io::Result<()> {
    let line = plan.portal_line();
    let cf = line.first_cf;
    w.text(
        &format!("{portal}/version/MP.product"),
        &line.product_xml(cf),
    )?;
    for comp in ["base", "jcr", "wp.theme.modules", "search"] {
        w.text(
            &format!("{portal}/version/{comp}.component"),
            &format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<component name=\"{comp}\">\n   \
                 <spec-version>{}</spec-version>\n   <build-version>{}</build-version>\n</component>\n",
                line.product_version,
                line.internal(cf)
            ),
        )?;
    }
    w.dir(&format!("{portal}/version/history"))?;
    w.text(
        &format!(
            "{portal}/version/log/{}-install-MP.log",
            date_tag(BASE_TIME)
        ),
        &format!(
            "{} Installed {} {} into {portal}\n",
            iso(BASE_TIME),
            line.id,
            line.display(cf)
        ),
    )?;
    // Portal's own wps.properties, and the profile's copy of it.
    let wps = line.wps_properties(cf, portal, &plan.profile, &plan.was);
    w.text(&format!("{portal}/wps.properties"), &wps)?;
    w.text(
        &format!("{}/PortalServer/wps.properties", plan.profile),
        &wps,
    )?;
    for name in ["WPVersionInfo.sh", "WPGenVersionReport.sh"] {
        w.script(
            &format!("{portal}/bin/{name}"),
            &stub_script(name, "Portal", "PORTAL_HOME", portal),
        )?;
    }
    w.jar(
        &format!("{portal}/base/wp.base/shared/app/wp.base.jar"),
        24 * 1024,
    )?;
    w.dir(&format!("{portal}/log"))?;
    Ok(())
}

fn write_profile(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let p = &plan.profile;
    let was = &plan.was;
    let (cell, node, server) = (plan.cell(), plan.node(), plan.server());
    for name in [
        "startServer.sh",
        "stopServer.sh",
        "serverStatus.sh",
        "setupCmdLine.sh",
    ] {
        w.script(
            &format!("{p}/bin/{name}"),
            &stub_script(name, "WebSphere profile", "USER_INSTALL_ROOT", p),
        )?;
    }
    // Absolute symlinks: to a file and to a directory of the AppServer package group.
    w.symlink(
        &format!("{p}/bin/versionInfo.sh"),
        &format!("{was}/bin/versionInfo.sh"),
    )?;
    w.symlink(&format!("{p}/java_home"), &format!("{was}/java/8.0"))?;

    let cells = format!("{p}/config/cells/{cell}");
    for name in [
        "cell.xml",
        "security.xml",
        "resources.xml",
        "virtualhosts.xml",
    ] {
        w.generated(&format!("{cells}/{name}"), "xml", 3 * 1024)?;
    }
    let nodes = format!("{cells}/nodes/{node}");
    for name in ["serverindex.xml", "node.xml"] {
        w.generated(&format!("{nodes}/{name}"), "xml", 2 * 1024)?;
    }
    w.generated(
        &format!("{nodes}/servers/{server}/server.xml"),
        "xml",
        4 * 1024,
    )?;
    w.binary(&format!("{nodes}/key.p12"), P12_MAGIC, 2604, 0o600)?;
    w.binary(&format!("{nodes}/trust.p12"), P12_MAGIC, 1980, 0o600)?;
    w.generated(&format!("{p}/etc/ltpa.keys"), "properties", 600)?;
    set_mode(&phys(&w.root, &format!("{p}/etc/ltpa.keys")), 0o600)?;
    w.dir_mode(&format!("{p}/etc"), 0o700)?;
    w.generated(
        &format!("{p}/properties/ssl.client.props"),
        "properties",
        2 * 1024,
    )?;
    w.generated(
        &format!("{p}/properties/soap.client.props"),
        "properties",
        1024,
    )?;

    // No server.pid: the sample servers are stopped.
    w.generated(&format!("{p}/logs/{server}/SystemOut.log"), "log", 8 * 1024)?;
    w.text(&format!("{p}/logs/{server}/SystemErr.log"), "")?;
    w.generated(&format!("{p}/logs/{server}/startServer.log"), "log", 1024)?;
    w.dir(&format!("{p}/logs/ffdc"))?;
    w.dir_mode(&format!("{p}/logs"), 0o750)?;
    w.dir(&format!("{p}/temp"))?;
    w.dir(&format!("{p}/wstemp"))?;

    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        let ce = format!("{p}/ConfigEngine");
        w.script(
            &format!("{ce}/ConfigEngine.sh"),
            &stub_script("ConfigEngine.sh", "ConfigEngine", "CONFIGENGINE_HOME", &ce),
        )?;
        w.generated(
            &format!("{ce}/properties/wkplc.properties"),
            "properties",
            6 * 1024,
        )?;
        w.generated(
            &format!("{ce}/properties/wkplc_comp.properties"),
            "properties",
            4 * 1024,
        )?;
        w.dir(&format!("{ce}/config/work"))?;
    }
    Ok(())
}

fn write_config_engine(w: &mut Writer, ce: &str) -> io::Result<()> {
    w.script(
        &format!("{ce}/ConfigEngine.sh"),
        &stub_script("ConfigEngine.sh", "ConfigEngine", "CONFIGENGINE_HOME", ce),
    )?;
    w.generated(
        &format!("{ce}/config/includes/cfg_portal.xml"),
        "xml",
        4 * 1024,
    )?;
    w.generated(
        &format!("{ce}/properties/wkplc.properties"),
        "properties",
        4 * 1024,
    )?;
    Ok(())
}

fn im_log(t: i64, access: &str, user: &str, messages: &[String]) -> String {
    let mut s = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?xml-stylesheet href='log.xsl' type='text/xsl'?>\n<log>\n",
    );
    let mut all = vec![
        format!("Installation Manager mode: {access}"),
        format!("user.name: {user}, {access}"),
    ];
    all.extend_from_slice(messages);
    for (i, message) in all.iter().enumerate() {
        s.push_str(&format!(
            "<entry time='{}.{:03}+00:00' level='INFO' thread='main'>\n<message><![CDATA[{message}]]></message>\n</entry>\n",
            iso(t + i as i64),
            (i * 137) % 1000
        ));
    }
    s.push_str("</log>\n");
    s
}

fn installed_xml(plan: &Plan) -> String {
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    let (launch, location) = match &plan.im {
        Some(im) => (format!("{im}/eclipse/tools/imcl"), format!("{im}/eclipse")),
        None => (format!("{KIT_DIR}/tools/imcl"), KIT_DIR.to_string()),
    };
    let mut s = String::from(
        "<?xml version='1.0' encoding='UTF-8'?>\n<?installInfo version='0.0.3'?>\n\
         <?xml-stylesheet type='text/xsl' href='installed.xsl'?>\n\
         <installInfo xmlns:installed='http://www.ibm.com/rational/com.ibm.cic.installed'>\n",
    );
    for (name, value) in [
        ("agent.launch.command", launch.as_str()),
        ("agent.install.location", location.as_str()),
        ("cic.appDataLocation", plan.agent.as_str()),
        ("accessRights", plan.mode.access_rights()),
        ("cacheLocation", plan.shared.as_str()),
    ] {
        s.push_str(&format!("  <property name='{name}' value='{value}'/>\n"));
    }
    let selectors = "    <property name='cic.selector.os' value='linux'/>\n    \
                     <property name='cic.selector.ws' value='gtk'/>\n    \
                     <property name='cic.selector.arch' value='x86_64'/>\n    \
                     <property name='cic.selector.nl' value='en'/>\n";
    let feature = |id: &str, kind: &str| {
        format!(
            "      <package kind='feature' id='{id}'><property name='cic.feature.kind' value='{kind}'/></package>\n"
        )
    };

    let was = &plan.was;
    s.push_str(&format!(
        "  <location id='{}' kind='product' path='{was}'>\n    <property name='eclipseLocation' value='{was}'/>\n{selectors}",
        was_line.group
    ));
    s.push_str(&format!(
        "    <package kind='offering' name='{}' id='{}' version='{}'>\n      \
         <property name='cic.info.version' value='{}'/>\n      \
         <property name='agent.sourceRepositoryLocation' value='{}/WAS_ND_V{}_MP_ML'/>\n      \
         <property name='was.install.productid' value='{}'/>\n",
        plan.edition.name(was_line),
        plan.edition.offering(was_line),
        was_line.internal(was_line.first_fp),
        was_line.display(was_line.first_fp),
        was_line.repo,
        was_line.platform,
        plan.edition.product_id()
    ));
    s.push_str(&feature("core.feature", "RequiredAndNotVisible"));
    s.push_str(&feature("ejbdeploy", "OptionalAndVisible"));
    s.push_str(&feature("thinclient", "OptionalAndVisible"));
    s.push_str("    </package>\n");
    s.push_str(&format!(
        "    <package kind='offering' name='IBM SDK, Java Technology Edition, Version 8' id='com.ibm.java.jdk.v8' version='{SDK_INTERNAL}'>\n      \
         <property name='cic.info.version' value='8.0.8.15'/>\n"
    ));
    s.push_str(&feature("com.ibm.sdk.8", "RequiredAndNotVisible"));
    s.push_str("    </package>\n  </location>\n");

    if let Some(portal) = &plan.portal {
        s.push_str(&format!(
            "  <location id='{}' kind='product' path='{portal}'>\n    <property name='eclipseLocation' value='{portal}'/>\n{selectors}",
            portal_line.group
        ));
        s.push_str(&format!(
            "    <package kind='offering' name='{}' id='{}' version='{}'>\n      \
             <property name='cic.info.version' value='{}'/>\n      \
             <property name='user.was.installLocation' value='{was}'/>\n      \
             <property name='user.wp.profile' value='{}'/>\n",
            portal_line.name,
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.display(portal_line.first_cf),
            plan.profile
        ));
        s.push_str(&feature("portal.binary", "RequiredAndNotVisible"));
        s.push_str(&feature("portal.profile", "OptionalAndVisible"));
        s.push_str("    </package>\n");
        // The group's other PORTAL offerings (ENABLE, and the 8.5 ones under 9.5), at the same CF.
        let cf = portal_line.first_cf;
        for (id, name, release, base) in portal_line.offerings() {
            if id == portal_line.id {
                continue;
            }
            s.push_str(&format!(
                "    <package kind='offering' name='{name}' id='{id}' version='{base}.{}'>\n      \
                 <property name='cic.info.version' value='{release} CF{cf}'/>\n    </package>\n",
                date_tag(portal_line.build_time(cf))
            ));
        }
        // Interim fixes are packages nested in the product's location (docs/im-facts.md §9),
        // written in the attribute order real files use.
        let (fix_id, fix_version) = portal_fix(plan);
        s.push_str(&format!(
            "    <package id='{fix_id}' kind='fix' name='Interim fix {}' version='{fix_version}'>\n      \
             <property name='cic.info.version' value='{fix_version}'/>\n    </package>\n  </location>\n",
            portal_line.ifix
        ));
    }

    if let Some(im) = &plan.im {
        // IM lists itself as a package group of its own (docs/im-facts.md §9); real files vary
        // attribute order and quoting, so the non-admin hosts write it the other way round.
        let own = if plan.mode == Mode::Admin {
            format!("<location id='IBM Installation Manager' kind='self' path='{im}/eclipse'>")
        } else {
            format!(
                "<location kind=\"self\" path=\"{im}/eclipse\" id=\"IBM Installation Manager\">"
            )
        };
        s.push_str(&format!(
            "  {own}\n    \
             <property name='agent.java.home' value='{im}/eclipse/{IM_JRE}/jre'/>\n    \
             <property name='agent.jre' value='{IM_JRE}'/>\n    \
             <property name='agent.launcher' value='{im}/eclipse/IBMIM'/>\n    \
             <package kind='offering' name='IBM® Installation Manager' id='com.ibm.cic.agent' version='{IM_INTERNAL}'>\n      \
             <property name='cic.info.version' value='{IM_VERSION}'/>\n"
        ));
        s.push_str(&feature("agent_core", "RequiredAndNotVisible"));
        s.push_str(&feature("agent_jre", "RequiredAndNotVisible"));
        s.push_str("    </package>\n  </location>\n");
    }
    s.push_str("</installInfo>\n");
    s
}

fn install_registry_xml(plan: &Plan) -> String {
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    let mut s = format!(
        "<?xml version='1.0' encoding='UTF-8'?>\n<installRegistry>\n  \
         <property name='cacheLocation' value='{}'/>\n  <property name='accessRights' value='{}'/>\n",
        plan.shared,
        plan.mode.access_rights()
    );
    let profile_head = |group: &str, path: &str| {
        format!(
            "  <profile id='{group}'>\n    <property name='installLocation' value='{path}'/>\n    \
             <property name='eclipseLocation' value='{path}'/>\n    <property name='cic.selector.nl' value='en'/>\n"
        )
    };
    s.push_str(&profile_head(was_line.group, &plan.was));
    s.push_str(&format!(
        "    <offering id='{}'>\n      <version value='{}' repoInfo='{}'/>\n    </offering>\n",
        plan.edition.offering(was_line),
        was_line.internal(was_line.first_fp),
        was_line.repo_info(was_line.first_fp)
    ));
    s.push_str(&format!(
        "    <offering id='com.ibm.java.jdk.v8'>\n      <version value='{SDK_INTERNAL}' \
         repoInfo='repositoryLocation=/mnt/repo/sdk8/8.0.8.15,repositoryKind=file'/>\n    </offering>\n  </profile>\n"
    ));
    if let Some(portal) = &plan.portal {
        s.push_str(&profile_head(portal_line.group, portal));
        s.push_str(&format!(
            "    <offering id='{}'>\n      <version value='{}' repoInfo='{}'/>\n    </offering>\n",
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.repo_info(portal_line.first_cf)
        ));
        let cf = portal_line.first_cf;
        for (id, _, _, base) in portal_line.offerings() {
            if id != portal_line.id {
                s.push_str(&format!(
                    "    <offering id='{id}'>\n      <version value='{base}.{}' repoInfo='{}'/>\n    </offering>\n",
                    date_tag(portal_line.build_time(cf)),
                    portal_line.repo_info(cf)
                ));
            }
        }
        let (fix_id, fix_version) = portal_fix(plan);
        s.push_str(&format!(
            "    <fix id='{fix_id}'>\n      <version value='{fix_version}' \
             repoInfo='repositoryLocation={}/ifix/{},repositoryKind=file'/>\n    </fix>\n  </profile>\n",
            portal_line.repo, portal_line.ifix
        ));
    }
    if let Some(im) = &plan.im {
        // IM keeps a profile for itself too (docs/im-facts.md §9). IM's response files write it
        // with kind='self'; registry files may lack the attribute, so the non-admin hosts omit it.
        let kind = if plan.mode == Mode::Admin {
            " kind='self'"
        } else {
            ""
        };
        s.push_str(&format!(
            "  <profile id='IBM Installation Manager'{kind}>\n    \
             <property name='installLocation' value='{im}/eclipse'/>\n    \
             <property name='cic.selector.nl' value='en'/>\n    \
             <offering id='com.ibm.cic.agent'>\n      <version value='{IM_INTERNAL}' \
             repoInfo='repositoryLocation=/mnt/repo/im/{IM_VERSION},repositoryKind=file'/>\n    \
             </offering>\n  </profile>\n"
        ));
    }
    s.push_str("</installRegistry>\n");
    s
}

/// The interim fix the sample's Portal carries: its id and version, the same in both records.
fn portal_fix(plan: &Plan) -> (String, String) {
    let line = plan.portal_line();
    let fix_time = line.build_time(line.first_cf) + 7 * DAY;
    (
        format!(
            "{}-{}-IF{}",
            line.product_version,
            if plan.layout == Layout::Hcl {
                "DXPortal"
            } else {
                "WP"
            },
            line.ifix
        ),
        format!("{}.{}", line.base, date_tag(fix_time)),
    )
}

fn write_agent_data(w: &mut Writer, plan: &Plan) -> io::Result<()> {
    let a = &plan.agent;
    let was_line = plan.was_line();
    let portal_line = plan.portal_line();
    w.text(&format!("{a}/installed.xml"), &installed_xml(plan))?;
    w.text(
        &format!("{a}/installRegistry.xml"),
        &install_registry_xml(plan),
    )?;
    w.text(
        &format!("{a}/installed.xsl"),
        "<?xml version='1.0' encoding='UTF-8'?>\n<xsl:stylesheet version='1.0' \
         xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\n  <xsl:template match='/'>\n    \
         <html><body><xsl:apply-templates select='installInfo/location'/></body></html>\n  \
         </xsl:template>\n</xsl:stylesheet>\n",
    )?;

    let mut offerings = vec![(
        was_line.id,
        was_line.internal(was_line.first_fp),
        was_line.display(was_line.first_fp),
        was_line.group,
    )];
    if plan.portal.is_some() {
        offerings.push((
            portal_line.id,
            portal_line.internal(portal_line.first_cf),
            portal_line.display(portal_line.first_cf),
            portal_line.group,
        ));
    }
    for (id, internal, display, group) in &offerings {
        w.text(
            &format!("{a}/adapters/native/{id}_{internal}.xml"),
            &format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n<adapterData offering='{id}' version='{internal}' \
                 profile='{group}'>\n  <rollbackState saved='true'/>\n</adapterData>\n"
            ),
        )?;
        w.text(
            &format!("{a}/installRegistry/offerings/{id}_{internal}.xml"),
            &format!(
                "<?xml version='1.0' encoding='UTF-8'?>\n<offering id='{id}' version='{internal}' \
                 displayVersion='{display}'>\n  <property name='profile' value='{group}'/>\n</offering>\n"
            ),
        )?;
        w.generated(&format!("{a}/license/{id}/lic_en.txt"), "txt", 3 * 1024)?;
    }
    w.jar(
        &format!("{a}/bundles/com.ibm.cic.licensing.common.core_8.1.0.v20230711_1525.jar"),
        12 * 1024,
    )?;
    w.text(
        &format!("{a}/.settings/com.ibm.cic.agent.core.prefs"),
        &format!(
            "eclipse.preferences.version=1\ncom.ibm.cic.agent.core.pref.offering.service.repositories.areUsed=false\n\
             RepositoryLocations=\\n{}\n",
            was_line.repo
        ),
    )?;
    w.text(
        &format!("{a}/.settings/com.ibm.cic.common.core.preferences.prefs"),
        "eclipse.preferences.version=1\ncom.ibm.cic.common.core.preferences.preserveDownloadedArtifacts=true\n\
         com.ibm.cic.common.core.preferences.keepFetchedFiles=false\n",
    )?;
    w.text(
        &format!("{a}/histories/{}_install.xml", date_tag(BASE_TIME)),
        &format!(
            "<?xml version='1.0' encoding='UTF-8'?>\n<history time='{}'>\n{}</history>\n",
            iso(BASE_TIME),
            offerings
                .iter()
                .map(|(id, internal, _, group)| {
                    format!("  <install offering='{id}' version='{internal}' profile='{group}'/>\n")
                })
                .collect::<String>()
        ),
    )?;
    let mut messages = Vec::new();
    if let Some(im) = &plan.im {
        messages.push(format!(
            "Installed com.ibm.cic.agent_{IM_INTERNAL} to the {im} directory."
        ));
        let log = format!("{a}/logs/{}.xml", date_tag(IM_INSTALL_TIME));
        w.stamp(&log, IM_INSTALL_TIME + 60);
        w.text(
            &log,
            &im_log(
                IM_INSTALL_TIME,
                plan.mode.access_rights(),
                plan.mode.user(),
                &messages,
            ),
        )?;
        messages.clear();
    }
    for (id, internal, _, group) in &offerings {
        messages.push(format!(
            "Installed {id}_{internal} to the package group {group}."
        ));
    }
    let log = format!("{a}/logs/{}.xml", date_tag(BASE_TIME));
    w.stamp(&log, BASE_TIME + 60);
    w.text(
        &log,
        &im_log(
            BASE_TIME,
            plan.mode.access_rights(),
            plan.mode.user(),
            &messages,
        ),
    )?;
    w.text(
        &format!("{a}/logs/log.properties"),
        "# Installation Manager logging\nglobal.level=INFO\ncom.ibm.cic.agent.core.level=INFO\n",
    )?;
    w.generated(
        &format!(
            "{a}/p2/org.eclipse.equinox.p2.engine/profileRegistry/{}.profile/1.profile",
            was_line.group.replace(' ', "_")
        ),
        "xml",
        4 * 1024,
    )?;
    w.text(
        &format!("{a}/p2/org.eclipse.equinox.p2.core/cache/artifacts.xml"),
        "<?xml version='1.0' encoding='UTF-8'?>\n<repository name='download cache' type='org.eclipse.equinox.p2.artifact.repository.simpleRepository' version='1'>\n  <artifacts size='0'/>\n</repository>\n",
    )?;
    w.generated(&format!("{a}/pluginState/.metadata/.log"), "log", 2 * 1024)?;
    w.dir(&format!("{a}/pluginState/.metadata/.plugins"))?;
    w.dir(&format!("{a}/temp"))?;
    for name in ["uninstall", "uninstallc"] {
        w.script(
            &format!("{a}/uninstall/{name}"),
            &stub_script(name, "Installation Manager uninstaller", "IM_DATA", a),
        )?;
    }
    w.text(
        &format!("{a}/uninstall/uninstall.ini"),
        &format!("-accessRights\n{}\n", plan.mode.access_rights()),
    )?;
    Ok(())
}

fn bulk_jars(w: &mut Writer, plan: &Plan, count: usize, bytes: u64) -> io::Result<()> {
    // (dir, name prefix, name suffix)
    let mut dests: Vec<(String, &str, String)> = Vec::new();
    if let Some(im) = &plan.im {
        dests.push((
            format!("{im}/eclipse/plugins"),
            "com.ibm.cic.",
            format!("_{IM_INTERNAL}"),
        ));
        dests.push((format!("{im}/eclipse/{IM_JRE}/jre/lib"), "", String::new()));
    }
    let was = &plan.was;
    dests.push((format!("{was}/plugins"), "com.ibm.ws.", String::new()));
    dests.push((format!("{was}/lib"), "", String::new()));
    dests.push((format!("{was}/java/8.0/jre/lib"), "", String::new()));
    if let Some(portal) = &plan.portal {
        for _ in 0..3 {
            let word = w.rng.word();
            dests.push((
                format!("{portal}/base/wp.{word}/shared/app"),
                "wp.",
                String::new(),
            ));
        }
        dests.push((format!("{portal}/shared/app"), "", String::new()));
    }
    if let Some(ce) = &plan.config_engine {
        dests.push((format!("{ce}/lib"), "", String::new()));
    }
    let mean = (bytes / count.max(1) as u64).max(1024);
    for _ in 0..count {
        let (dir, prefix, suffix) = &dests[w.rng.index(dests.len())];
        let stem = format!("{prefix}{}.{}{suffix}", w.rng.word(), w.rng.word());
        let logical = w.fresh(dir, &stem, "jar");
        let size = w.rng.around(mean) as usize;
        w.jar(&logical, size)?;
    }
    Ok(())
}

/// Shared resources repeat product and IM jars byte-for-byte, as IM's saved artifacts do.
fn bulk_shared(w: &mut Writer, plan: &Plan, bytes: u64) -> io::Result<()> {
    let mut order: Vec<usize> = (0..w.jars.len()).collect();
    w.rng.shuffle(&mut order);
    let mut copied = 0u64;
    let mut copies = 0usize;
    for i in order {
        if copied >= bytes && copies >= 2 {
            break;
        }
        let (logical, data) = match w.jars.get(i) {
            Some(jar) => (jar.logical.clone(), jar.data.clone()),
            None => continue,
        };
        let name = logical.rsplit('/').next().unwrap_or("payload.jar");
        let stem = name.trim_end_matches(".jar");
        let dest = if logical.contains("/plugins/") {
            w.fresh(&format!("{}/plugins", plan.shared), stem, "jar")
        } else {
            w.fresh(&format!("{}/native", plan.shared), stem, "zip")
        };
        w.write(&dest, &data, 0o644)?;
        copied += data.len() as u64;
        copies += 1;
    }
    Ok(())
}

fn bulk_text(w: &mut Writer, plan: &Plan, count: usize, bytes: u64) -> io::Result<()> {
    const CONF: &[&str] = &["xml", "properties"];
    const WEB: &[&str] = &["jsp", "html", "css"];
    const XML: &[&str] = &["xml"];
    const PROPS: &[&str] = &["properties"];
    const LOG: &[&str] = &["log"];
    let mut slots: Vec<(String, &[&str])> = Vec::new();
    let was = &plan.was;
    slots.push((format!("{was}/properties"), CONF));
    slots.push((format!("{was}/etc"), XML));
    slots.push((
        format!("{was}/systemApps/isclite.ear/isclite.war/WEB-INF"),
        XML,
    ));
    slots.push((
        format!("{was}/systemApps/isclite.ear/isclite.war/{}", w.rng.word()),
        WEB,
    ));
    slots.push((
        format!(
            "{was}/profileTemplates/default/documents/config/templates/{}",
            w.rng.word()
        ),
        XML,
    ));
    if let Some(portal) = &plan.portal {
        for _ in 0..2 {
            slots.push((format!("{portal}/base/wp.{}/config", w.rng.word()), CONF));
        }
        let theme = format!(
            "{portal}/theme/wp.theme.themes/default85/installedApps/DefaultTheme85.ear/DefaultTheme85.war/themes/html"
        );
        slots.push((format!("{theme}/{}", w.rng.word()), WEB));
        slots.push((format!("{theme}/{}", w.rng.word()), WEB));
        slots.push((format!("{portal}/config/templates"), XML));
    }
    let p = &plan.profile;
    let (cell, node, server) = (plan.cell(), plan.node(), plan.server());
    let cells = format!("{p}/config/cells/{cell}");
    slots.push((cells.clone(), XML));
    slots.push((format!("{cells}/nodes/{node}/servers/{server}"), XML));
    let app = w.rng.word();
    slots.push((
        format!("{cells}/applications/{app}.ear/deployments/{app}"),
        XML,
    ));
    slots.push((format!("{p}/installedApps/{cell}/{app}.ear/{app}.war"), WEB));
    slots.push((format!("{p}/logs/{server}"), LOG));
    if plan.layout == Layout::Hcl && plan.portal.is_some() {
        slots.push((format!("{p}/ConfigEngine/properties"), PROPS));
        slots.push((format!("{p}/ConfigEngine/config/work"), XML));
    }
    if let Some(ce) = &plan.config_engine {
        slots.push((format!("{ce}/config/includes"), XML));
        slots.push((format!("{ce}/properties"), PROPS));
    }
    let mean = (bytes / count.max(1) as u64).max(256);
    for _ in 0..count {
        let (dir, exts) = &slots[w.rng.index(slots.len())];
        let ext = w.rng.pick(exts);
        let stem = format!("{}{}", w.rng.word(), capitalize(w.rng.word()));
        let logical = w.fresh(dir, &stem, ext);
        let size = w.rng.around(mean) as usize;
        w.generated(&logical, ext, size)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// apply_fix_pack
// ---------------------------------------------------------------------------------------------

fn bad_data(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Byte range of the quoted value that follows `needle` (which ends with the opening quote).
fn quoted_after(text: &str, from: usize, needle: &str) -> Option<(usize, usize)> {
    let start = text.get(from..)?.find(needle)? + from + needle.len();
    let end = text.get(start..)?.find('\'')? + start;
    Some((start, end))
}

/// Replaces the offering's `version` attribute and its `cic.info.version` property in
/// installed.xml; returns the old (internal, display) pair.
fn replace_offering(
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
fn read_offering(installed: &str, id: &str) -> Option<(String, String)> {
    let (vs, ve) = quoted_after(installed, 0, &format!("id='{id}' version='"))?;
    let (ds, de) = quoted_after(installed, vs, "<property name='cic.info.version' value='")?;
    Some((installed[vs..ve].to_string(), installed[ds..de].to_string()))
}

fn location_path(installed: &str, group: &str) -> Option<String> {
    let (s, e) = quoted_after(
        installed,
        0,
        &format!("<location id='{group}' kind='product' path='"),
    )?;
    Some(installed[s..e].to_string())
}

/// Appends a `<version>` to the offering in installRegistry.xml, keeping the older ones.
fn append_registry_version(
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

/// Tracks what a fix pack touched so mtimes, ownership and the report come out right.
struct Touched {
    files: Vec<String>,
    dirs: BTreeSet<String>,
    created: Vec<String>,
    report: FixPackReport,
}

impl Touched {
    fn rewrite(&mut self, root: &Path, logical: &str, data: &[u8]) -> io::Result<()> {
        // In place, so the inode, mode, owner and xattrs stay, and the parent dir is undisturbed.
        fs::write(phys(root, logical), data)?;
        self.files.push(logical.to_string());
        self.report.files_changed += 1;
        self.report.bytes_written += data.len() as u64;
        Ok(())
    }
    fn add(&mut self, root: &Path, logical: &str, data: &[u8], mode: u32) -> io::Result<()> {
        if let Some(parent) = parent_of(logical) {
            for dir in mkdir_all(root, parent)? {
                if let Some(up) = parent_of(&dir) {
                    self.dirs.insert(up.to_string());
                }
                self.dirs.insert(dir.clone());
                self.created.push(dir);
            }
            self.dirs.insert(parent.to_string());
        }
        let path = phys(root, logical);
        fs::write(&path, data)?;
        set_mode(&path, mode)?;
        self.files.push(logical.to_string());
        self.created.push(logical.to_string());
        self.report.files_added += 1;
        self.report.bytes_written += data.len() as u64;
        Ok(())
    }
    fn remove(&mut self, root: &Path, logical: &str) -> io::Result<()> {
        fs::remove_file(phys(root, logical))?;
        if let Some(parent) = parent_of(logical) {
            self.dirs.insert(parent.to_string());
        }
        self.report.files_removed += 1;
        Ok(())
    }
}

/// The levels IM records for an instance: the WebSphere line and fix pack, its directory, and
/// the Portal line, cumulative fix and directory when Portal is installed.
struct Levels {
    was_line: &'static WasLine,
    edition: WasEdition,
    /// The WebSphere offering's id (its edition's).
    was_id: String,
    fp: u32,
    was_dir: String,
    portal: Option<(&'static PortalLine, u32, String)>,
}

/// Reads the current levels back from installed.xml's text.
fn current_levels(installed: &str, installed_logical: &str) -> io::Result<Levels> {
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
fn wps_files(root: &Path, portal: &str) -> io::Result<Vec<(String, String)>> {
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

/// Refuses to change a host whose product paths are symlinks: the sample's writers follow the
/// physical path, and an absolute link (`/opt/…/AppServer` → `/jennex/…`) would lead them out of
/// the sample's root onto the machine running the tests.
fn no_link_out_of_the_root(root: &Path, inst: &SampleInstance) -> io::Result<()> {
    for product in &inst.products {
        if fs::symlink_metadata(phys(root, product)).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{product} is a symlink: the sample's fix packs do not write through it (it may lead out of the sample root); change the files at its target instead"
                ),
            ));
        }
    }
    Ok(())
}

/// Moves instance `index`'s IM install directory to `to` (a logical path) and rewrites IM's
/// records to name it there, as when IM was installed inside a product directory
/// (`/opt/Apps/WebSphere/was8.5/product/eclipse`) or beside the products (`…/was8.5/IIM`);
/// the host's record of the instance follows (docs/im-facts.md §9).
///
/// # Errors
/// When the instance has no IM install directory (the container shape), or a file cannot be
/// moved, read or written.
pub fn relocate_im(host: &mut SampleHost, index: usize, to: &str) -> io::Result<()> {
    let root = host.root.clone();
    let inst = host.instances.get_mut(index).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no instance {index}"))
    })?;
    let Some(from) = inst.install.clone() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "this instance has no IM install directory to move",
        ));
    };
    if let Some(parent) = parent_of(to) {
        fs::create_dir_all(phys(&root, parent))?;
    }
    fs::rename(phys(&root, &from), phys(&root, to))?;
    let records = inst.registry.iter().cloned().chain([
        format!("{}/installed.xml", inst.agent_data),
        format!("{}/installRegistry.xml", inst.agent_data),
    ]);
    for record in records {
        let path = phys(&root, &record);
        let text = fs::read_to_string(&path)?;
        fs::write(&path, text.replace(&from, to))?;
    }
    inst.install = Some(to.to_owned());
    Ok(())
}

/// Makes instance `index` of the host *desynced*: its product version files (WebSphere's
/// `ND.product` or `WAS.product`, Portal's `MP.product`, `wps.properties` and the profile's copy
/// of it) are rewritten to the level one
/// below what IM records — or one above, when IM records the first level the sample knows —
/// while IM's records stay as they are. That is the state of a host whose product files were
/// restored without IM (or IM without the products): what `lockstep doctor` must find.
///
/// Only those version files change (rewritten in place; their mtime becomes one day after the
/// build). Product files other than the version files are left alone.
pub fn desync_product_files(host: &SampleHost, index: usize) -> io::Result<()> {
    let inst = host.instances.get(index).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the sample host has {} instance(s); there is no instance {index}",
                host.instances.len()
            ),
        )
    })?;
    let root = host.root.as_path();
    no_link_out_of_the_root(root, inst)?;
    let installed_logical = format!("{}/installed.xml", inst.agent_data);
    let installed = fs::read_to_string(phys(root, &installed_logical))?;
    let levels = current_levels(&installed, &installed_logical)?;
    let other = |level: u32, first: u32| if level > first { level - 1 } else { level + 1 };
    let mut written: Vec<(String, String)> = vec![(
        format!(
            "{}/properties/version/{}",
            levels.was_dir,
            levels.edition.file()
        ),
        levels
            .was_line
            .product_xml(other(levels.fp, levels.was_line.first_fp), levels.edition),
    )];
    if let Some((line, cf, dir)) = &levels.portal {
        let cf = other(*cf, line.first_cf);
        written.push((format!("{dir}/version/MP.product"), line.product_xml(cf)));
        for (logical, text) in wps_files(root, dir)? {
            written.push((logical, with_fixlevel(&text, cf)));
        }
    }
    for (i, (logical, text)) in written.iter().enumerate() {
        let path = phys(root, logical);
        fs::write(&path, text)?;
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, BASE_TIME + DAY + i as i64)?;
    }
    Ok(())
}

/// Applies the next cumulative fix (CF) / fix pack to instance `index` of the host, as IM would:
/// changes ~3% of the product files (rewrites some, adds a few, removes a few), bumps the offering
/// versions in the agent data's installed.xml and installRegistry.xml (appending a new `<version>`
/// in installRegistry.xml, replacing the version in installed.xml), updates the product version
/// files, adds a rollback payload file under the shared resources dir, and writes a new
/// agent-data log under logs/. Calling it again applies the following level.
///
/// The current levels are read back from installed.xml, so a host built by another process works
/// as long as the same [`SampleHost`] is passed. Only the instance's agent data, shared resources,
/// package groups and profiles are touched; everything written gets the mtime of fix level `k`
/// (`2024-04-04 10:14 UTC + k * 91 days`), as do the directories whose entries changed.
pub fn apply_fix_pack(host: &SampleHost, index: usize) -> io::Result<FixPackReport> {
    let inst = host.instances.get(index).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the sample host has {} instance(s); there is no instance {index}",
                host.instances.len()
            ),
        )
    })?;
    let root = host.root.as_path();
    no_link_out_of_the_root(root, inst)?;
    let installed_logical = format!("{}/installed.xml", inst.agent_data);
    let registry_logical = format!("{}/installRegistry.xml", inst.agent_data);
    let mut installed = fs::read_to_string(phys(root, &installed_logical))?;
    let mut registry = fs::read_to_string(phys(root, &registry_logical))?;
    let group_mode = installed.contains("<property name='accessRights' value='group'/>");

    let Levels {
        was_line,
        edition,
        was_id,
        fp,
        was_dir,
        portal,
    } = current_levels(&installed, &installed_logical)?;
    let was_id = was_id.as_str();
    let new_fp = fp + 1;
    let level = new_fp - was_line.first_fp;
    let fix_time = BASE_TIME + i64::from(level) * FIX_STEP;

    let mut rng = Rng::new(fnv(inst.agent_data.as_bytes()) ^ u64::from(level));
    let mut t = Touched {
        files: Vec::new(),
        dirs: BTreeSet::new(),
        created: Vec::new(),
        report: FixPackReport::default(),
    };

    // Product files: about 3% of them, chosen among ordinary files so no symlink dangles and no
    // hard-linked, restricted or oddly named file loses its special property.
    let mut all_files: Vec<(String, fs::Metadata)> = Vec::new();
    let mut link_targets: BTreeSet<String> = BTreeSet::new();
    for tree in inst.products.iter().chain(&inst.profiles) {
        let is_product = inst.products.contains(tree);
        walk(root, tree, &mut |logical, meta| {
            if meta.file_type().is_symlink() {
                let target = fs::read_link(phys(root, logical))?;
                let target = target.to_string_lossy();
                let resolved = if target.starts_with('/') {
                    normalize(&target)
                } else {
                    normalize(&format!("{}/{target}", parent_of(logical).unwrap_or("/")))
                };
                link_targets.insert(resolved);
            } else if meta.is_file() && is_product {
                all_files.push((logical.to_string(), meta.clone()));
            }
            Ok(())
        })?;
    }
    let mut candidates: Vec<String> = all_files
        .iter()
        .filter(|(logical, meta)| fixable(logical, meta, &link_targets))
        .map(|(logical, _)| logical.clone())
        .collect();
    rng.shuffle(&mut candidates);
    let n = ((all_files.len() * 3 + 50) / 100).max(3);
    let n_add = (n / 5).max(1);
    let n_remove = (n / 5).max(1);
    let n_change = n.saturating_sub(n_add + n_remove).max(1);

    let mut payload = ZIP_MAGIC.to_vec();
    let mut jar_dirs: Vec<String> = Vec::new();
    for (i, logical) in candidates.iter().take(n_change + n_remove).enumerate() {
        let old = fs::read(phys(root, logical))?;
        payload.extend_from_slice(&old);
        let ext = logical.rsplit('.').next().unwrap_or("txt");
        if ext == "jar"
            && let Some(parent) = parent_of(logical)
        {
            jar_dirs.push(parent.to_string());
        }
        if i < n_change {
            let size = rng.around(old.len() as u64).max(64) as usize;
            let data = if ext == "jar" {
                blob(&mut rng, ZIP_MAGIC, size)
            } else {
                gen_text(&mut rng, ext, size).into_bytes()
            };
            t.rewrite(root, logical, &data)?;
        } else {
            t.remove(root, logical)?;
        }
    }
    if jar_dirs.is_empty() {
        jar_dirs.push(format!("{was_dir}/lib"));
    }
    for i in 0..n_add {
        let dir = &jar_dirs[rng.index(jar_dirs.len())];
        let mut logical = format!("{dir}/com.ibm.fix.l{level}.{}{i}.jar", rng.word());
        while fs::symlink_metadata(phys(root, &logical)).is_ok() {
            logical = format!("{dir}/com.ibm.fix.l{level}.{}{i}.jar", rng.word());
        }
        let size = 4096 + rng.below(24 * 1024) as usize;
        let data = blob(&mut rng, ZIP_MAGIC, size);
        t.add(root, &logical, &data, 0o644)?;
    }

    // What the products say they are.
    t.rewrite(
        root,
        &format!("{was_dir}/properties/version/{}", edition.file()),
        was_line.product_xml(new_fp, edition).as_bytes(),
    )?;
    if let Some((line, cf, dir)) = &portal {
        t.rewrite(
            root,
            &format!("{dir}/version/MP.product"),
            line.product_xml(cf + 1).as_bytes(),
        )?;
        for (logical, text) in wps_files(root, dir)? {
            t.rewrite(root, &logical, with_fixlevel(&text, cf + 1).as_bytes())?;
        }
    }

    // What IM says they are.
    let (old_was_internal, _) = replace_offering(
        &mut installed,
        was_id,
        &was_line.internal(new_fp),
        &was_line.display(new_fp),
    )
    .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {was_id}")))?;
    if !append_registry_version(
        &mut registry,
        was_id,
        &was_line.internal(new_fp),
        &was_line.repo_info(new_fp),
    ) {
        return Err(bad_data(format!(
            "{registry_logical} has no offering {was_id}"
        )));
    }
    let mut messages = vec![format!(
        "Updated {}_{old_was_internal} to {}_{} in the package group {}.",
        was_id,
        was_id,
        was_line.internal(new_fp),
        was_line.group
    )];
    let mut from = format!("WAS {}", was_line.display(fp));
    let mut to = format!("WAS {}", was_line.display(new_fp));
    if let Some((line, cf, _)) = &portal {
        let brand = if line.id == HCL_PORTAL.id {
            "DX"
        } else {
            "Portal"
        };
        let (old_internal, _) = replace_offering(
            &mut installed,
            line.id,
            &line.internal(cf + 1),
            &line.display(cf + 1),
        )
        .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {}", line.id)))?;
        if !append_registry_version(
            &mut registry,
            line.id,
            &line.internal(cf + 1),
            &line.repo_info(cf + 1),
        ) {
            return Err(bad_data(format!(
                "{registry_logical} has no offering {}",
                line.id
            )));
        }
        // The group's other PORTAL offerings move to the same CF.
        for (id, _, release, base) in line.offerings() {
            if id == line.id {
                continue;
            }
            let internal = format!("{base}.{}", date_tag(line.build_time(cf + 1)));
            replace_offering(
                &mut installed,
                id,
                &internal,
                &format!("{release} CF{}", cf + 1),
            )
            .ok_or_else(|| bad_data(format!("{installed_logical}: unreadable {id}")))?;
            if !append_registry_version(&mut registry, id, &internal, &line.repo_info(cf + 1)) {
                return Err(bad_data(format!("{registry_logical} has no offering {id}")));
            }
        }
        messages.push(format!(
            "Updated {}_{old_internal} to {}_{} in the package group {}.",
            line.id,
            line.id,
            line.internal(cf + 1),
            line.group
        ));
        from.push_str(&format!(", {brand} {}", line.display(*cf)));
        to.push_str(&format!(", {brand} {}", line.display(cf + 1)));
    }
    t.rewrite(root, &installed_logical, installed.as_bytes())?;
    t.rewrite(root, &registry_logical, registry.as_bytes())?;

    // Saved files for rollback: the replaced and removed files, byte-for-byte.
    let extra_mode = if group_mode { 0o020 } else { 0 };
    t.add(
        root,
        &format!(
            "{}/files/rollback/{}_{old_was_internal}.zip",
            inst.shared, was_line.id
        ),
        &payload,
        0o644 | extra_mode,
    )?;
    let access = quoted_after(&installed, 0, "<property name='accessRights' value='")
        .map_or("admin", |(s, e)| &installed[s..e])
        .to_string();
    let user = if inst.owner.is_some() || within(&inst.agent_data, USER_HOME) {
        Mode::NonAdmin.user()
    } else {
        Mode::Admin.user()
    };
    t.add(
        root,
        &format!("{}/logs/{}.xml", inst.agent_data, date_tag(fix_time)),
        im_log(fix_time, &access, user, &messages).as_bytes(),
        0o644 | extra_mode,
    )?;
    if group_mode {
        for dir in &t.created {
            let path = phys(root, dir);
            if fs::symlink_metadata(&path)?.is_dir() && within(dir, &inst.shared) {
                set_mode(&path, 0o775)?;
            }
        }
    }

    if let Some((uid, gid)) = inst.owner
        && is_root()
    {
        for logical in &t.created {
            std::os::unix::fs::lchown(phys(root, logical), Some(uid), Some(gid))?;
        }
    }

    // mtimes last: files first, then directories deepest first.
    for (i, logical) in t.files.iter().enumerate() {
        let path = phys(root, logical);
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, fix_time + i as i64)?;
    }
    let mut dirs: Vec<&String> = t.dirs.iter().collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    for dir in dirs {
        let path = phys(root, dir);
        let meta = fs::symlink_metadata(&path)?;
        set_times(&path, &meta, fix_time + 600)?;
    }

    let mut report = t.report;
    report.from_version = from;
    report.to_version = to;
    Ok(report)
}

/// An ordinary product file a fix pack may rewrite or remove.
fn fixable(logical: &str, meta: &fs::Metadata, link_targets: &BTreeSet<String>) -> bool {
    let name = logical.rsplit('/').next().unwrap_or_default();
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    meta.mode() & 0o7777 == 0o644
        && meta.nlink() == 1
        && meta.len() > 0
        && name.is_ascii()
        && !name.contains(' ')
        && FIXABLE_EXT.contains(&ext)
        && name != "wps.properties"
        && !link_targets.contains(logical)
        && !logical.contains("/logs/")
        && !logical.contains("/version/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line of a tree listing: everything a restore must reproduce (except ctime/inode).
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Entry {
        kind: char,
        mode: u32,
        uid: u32,
        gid: u32,
        size: u64,
        hash: u64,
        mtime: (i64, u32),
        target: Option<String>,
    }

    fn listing(root: &Path) -> BTreeMap<String, Entry> {
        let mut out = BTreeMap::new();
        walk(root, "/", &mut |logical, meta| {
            let path = phys(root, logical);
            let ft = meta.file_type();
            let (kind, hash, target) = if ft.is_symlink() {
                let target = fs::read_link(&path)?.to_string_lossy().into_owned();
                ('l', 0, Some(target))
            } else if ft.is_dir() {
                ('d', 0, None)
            } else {
                ('f', fnv(&fs::read(&path)?), None)
            };
            out.insert(
                logical.to_string(),
                Entry {
                    kind,
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    gid: meta.gid(),
                    size: if kind == 'd' { 0 } else { meta.len() },
                    hash,
                    mtime: (meta.mtime(), meta.mtime_nsec() as u32),
                    target,
                },
            );
            Ok(())
        })
        .unwrap();
        out
    }

    fn read(host: &SampleHost, logical: &str) -> String {
        fs::read_to_string(host.path(logical)).unwrap()
    }

    fn opts(shape: Shape, layout: Layout) -> SampleOptions {
        SampleOptions {
            shape,
            layout,
            ..SampleOptions::default()
        }
    }

    /// A smaller host for tests that do not depend on the size (the sample disk may be slow).
    fn small(shape: Shape, layout: Layout) -> SampleOptions {
        SampleOptions {
            files: 150,
            bytes: 512 * 1024,
            ..opts(shape, layout)
        }
    }

    const SHAPES: [Shape; 5] = [
        Shape::Admin,
        Shape::NonAdmin,
        Shape::Group,
        Shape::Container,
        Shape::TwoInstances,
    ];

    #[test]
    fn every_shape_builds_with_its_roles_and_requested_size() {
        for layout in [Layout::Hcl, Layout::Ibm] {
            for shape in SHAPES {
                let dir = tempfile::tempdir().unwrap();
                let root = dir.path().join("host");
                let o = opts(shape, layout);
                let host = build(&root, &o).unwrap();
                let expected = if shape == Shape::TwoInstances { 2 } else { 1 };
                assert_eq!(host.instances.len(), expected, "{shape:?}");
                for inst in &host.instances {
                    for member in inst.members() {
                        assert!(
                            fs::symlink_metadata(host.path(&member)).is_ok(),
                            "{shape:?}/{layout:?}: {member} missing"
                        );
                    }
                    let installed = read(&host, &format!("{}/installed.xml", inst.agent_data));
                    assert!(installed.contains("<?installInfo version='0.0.3'?>"));
                    assert!(installed.contains(&format!(
                        "<property name='cacheLocation' value='{}'/>",
                        inst.shared
                    )));
                    for product in &inst.products {
                        assert!(installed.contains(&format!("kind='product' path='{product}'")));
                    }
                    if let Some(im) = &inst.install {
                        let dat = read(&host, inst.registry.as_ref().unwrap());
                        assert!(dat.contains(&format!("location={im}\n")));
                        let config = read(&host, &format!("{im}/eclipse/configuration/config.ini"));
                        assert!(
                            config.contains(&format!("cic.appDataLocation={}\n", inst.agent_data))
                        );
                        let imcl =
                            fs::metadata(host.path(&format!("{im}/eclipse/tools/imcl"))).unwrap();
                        assert_eq!(imcl.mode() & 0o755, 0o755);
                    }
                }
                let all = listing(&root);
                let files: Vec<&Entry> = all.values().filter(|e| e.kind == 'f').collect();
                let bytes: u64 = files.iter().map(|e| e.size).sum();
                assert!(
                    (300..=520).contains(&files.len()),
                    "{shape:?}/{layout:?}: {} files",
                    files.len()
                );
                assert!(
                    (3 << 20..=5 << 20).contains(&bytes),
                    "{shape:?}/{layout:?}: {bytes} bytes"
                );
            }
        }
    }

    #[test]
    fn the_same_options_give_identical_trees() {
        for shape in [Shape::TwoInstances, Shape::Group, Shape::Container] {
            let dir = tempfile::tempdir().unwrap();
            let a = build(&dir.path().join("a"), &small(shape, Layout::Hcl)).unwrap();
            let b = build(&dir.path().join("b"), &small(shape, Layout::Hcl)).unwrap();
            assert_eq!(listing(&a.root), listing(&b.root), "{shape:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let a = build(&dir.path().join("a"), &small(Shape::Admin, Layout::Ibm)).unwrap();
        let other = SampleOptions {
            seed: 2,
            ..small(Shape::Admin, Layout::Ibm)
        };
        let b = build(&dir.path().join("b"), &other).unwrap();
        assert_ne!(listing(&a.root), listing(&b.root));
    }

    #[test]
    fn build_refuses_a_non_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("x"), "x").unwrap();
        let err = build(dir.path(), &SampleOptions::default()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    }

    #[test]
    fn container_has_no_registry_and_no_im_install() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Container, Layout::Hcl)).unwrap();
        let inst = &host.instances[0];
        assert!(inst.registry.is_none() && inst.install.is_none());
        assert_eq!(inst.agent_data, "/opt/IBM/WebSphere/AppServerIMData");
        assert_eq!(inst.shared, "/opt/IBM/WebSphere/AppServerIMShared");
        assert_eq!(
            inst.products,
            vec!["/opt/IBM/WebSphere/AppServer".to_string()]
        );
        assert!(!host.path("/etc/.ibm").exists());
        assert!(!host.path("/opt/IBM/InstallationManager").exists());
        let installed = read(&host, &format!("{}/installed.xml", inst.agent_data));
        assert!(!installed.contains("kind='self'"));
        assert!(installed.contains("value='nonAdmin'"));
    }

    #[test]
    fn edge_cases_are_present() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Admin, Layout::Hcl)).unwrap();
        let was = "/opt/HCL/WebSphere/AppServer";
        let p = "/opt/HCL/WebSphere/wp_profile";
        let meta = |l: &str| fs::symlink_metadata(host.path(l)).unwrap();
        let link = |l: &str| {
            fs::read_link(host.path(l))
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(link(&format!("{was}/lib/j2ee-current.jar")), "j2ee.jar");
        assert_eq!(link(&format!("{was}/java/current")), "8.0");
        assert_eq!(
            link(&format!("{p}/bin/versionInfo.sh")),
            format!("{was}/bin/versionInfo.sh")
        );
        assert_eq!(link(&format!("{p}/java_home")), format!("{was}/java/8.0"));
        let a = meta(&format!("{was}/properties/wsjaas.conf"));
        let b = meta(&format!("{was}/properties/wsjaas_client.conf"));
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        assert_eq!(meta(&format!("{p}/etc")).mode() & 0o7777, 0o700);
        assert_eq!(meta(&format!("{p}/logs")).mode() & 0o7777, 0o750);
        assert_eq!(
            meta(&format!(
                "{p}/config/cells/{HOST_NAME}Cell/nodes/{HOST_NAME}Node/key.p12"
            ))
            .mode()
                & 0o7777,
            0o600
        );
        assert_eq!(
            meta(&format!("{p}/logs/WebSphere_Portal/SystemErr.log")).len(),
            0
        );
        assert!(meta(&format!("{was}/readme/Release Notes.txt")).is_file());
        assert!(meta(&format!("{was}/readme/Übersicht_für_Administratoren.txt")).is_file());
        assert!(
            fs::read_dir(host.path(&format!("{p}/logs/ffdc")))
                .unwrap()
                .next()
                .is_none()
        );
        assert!(
            fs::read_dir(host.path(&format!("{p}/logs/WebSphere_Portal")))
                .unwrap()
                .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".pid") })
        );
        let sas = host.path(&format!("{was}/properties/sas.client.props"));
        if let Ok(Some(value)) = xattr::get(&sas, TEST_XATTR) {
            assert_eq!(value, b"sample");
        }
        // Shared payloads repeat product jars byte-for-byte.
        let all = listing(&host.root);
        let inst = &host.instances[0];
        let product_hashes: BTreeSet<u64> = all
            .iter()
            .filter(|(l, e)| e.kind == 'f' && l.ends_with(".jar") && !within(l, &inst.shared))
            .map(|(_, e)| e.hash)
            .collect();
        let repeated = all
            .iter()
            .filter(|(l, e)| {
                e.kind == 'f' && within(l, &inst.shared) && product_hashes.contains(&e.hash)
            })
            .count();
        assert!(
            repeated >= 2,
            "only {repeated} shared payloads repeat a jar"
        );
    }

    #[test]
    fn user_instances_are_owned_by_wasadm_when_built_as_root() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(
            &dir.path().join("h"),
            &small(Shape::TwoInstances, Layout::Hcl),
        )
        .unwrap();
        let (admin, user) = (&host.instances[0], &host.instances[1]);
        assert_eq!(admin.owner, None);
        if !is_root() {
            assert_eq!(user.owner, None);
            return;
        }
        assert_eq!(user.owner, Some(USER_OWNER));
        assert_eq!(user.products[0], "/home/wasadm/HCL/WebSphere/AppServer");
        let all = listing(&host.root);
        for (logical, e) in &all {
            let in_user = user.members().iter().any(|m| within(logical, m));
            let in_admin = admin.members().iter().any(|m| within(logical, m));
            if in_user {
                assert_eq!((e.uid, e.gid), USER_OWNER, "{logical}");
            }
            if in_admin {
                assert_eq!((e.uid, e.gid), (0, 0), "{logical}");
            }
        }
    }

    /// Applies a fix pack to `index` and checks what changed against the listing before.
    fn check_fix_pack(shape: Shape, layout: Layout, index: usize) {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &opts(shape, layout)).unwrap();
        let inst = host.instances[index].clone();
        let before = listing(&host.root);
        let report = apply_fix_pack(&host, index).unwrap();
        let after = listing(&host.root);

        let in_set = |l: &str| {
            std::iter::once(&inst.agent_data)
                .chain([&inst.shared])
                .chain(&inst.products)
                .chain(&inst.profiles)
                .any(|m| within(l, m))
        };
        for (logical, entry) in &before {
            if !in_set(logical) {
                assert_eq!(
                    after.get(logical),
                    Some(entry),
                    "{shape:?}: {logical} was touched"
                );
            }
        }
        for logical in after.keys() {
            assert!(
                in_set(logical) || before.contains_key(logical),
                "{logical} appeared"
            );
        }
        let files_before = before.values().filter(|e| e.kind == 'f').count();
        let changed = before
            .iter()
            .filter(|(l, e)| e.kind == 'f' && after.get(*l).is_some_and(|a| a.hash != e.hash))
            .count();
        let removed = before
            .iter()
            .filter(|(l, e)| e.kind == 'f' && !after.contains_key(*l))
            .count();
        let added = after
            .iter()
            .filter(|(l, e)| e.kind == 'f' && !before.contains_key(*l))
            .count();
        assert_eq!(
            (
                report.files_changed,
                report.files_added,
                report.files_removed
            ),
            (changed, added, removed),
            "{shape:?}: report disagrees with the tree"
        );
        let share = (changed + added + removed) as f64 / files_before as f64;
        assert!(
            (0.02..=0.05).contains(&share),
            "{shape:?}: {share} of files changed"
        );
        // Everything it wrote has a new mtime, later than anything the build wrote.
        let newest_before = before.values().map(|e| e.mtime).max().unwrap();
        for (logical, e) in &after {
            if before.get(logical) != Some(e) && e.kind == 'f' {
                assert!(e.mtime > newest_before, "{logical} kept an old mtime");
            }
        }
    }

    #[test]
    fn fix_pack_changes_a_few_percent_and_only_the_instance() {
        check_fix_pack(Shape::Admin, Layout::Hcl, 0);
        check_fix_pack(Shape::Container, Layout::Ibm, 0);
        check_fix_pack(Shape::Group, Layout::Ibm, 0);
        check_fix_pack(Shape::TwoInstances, Layout::Hcl, 0);
        check_fix_pack(Shape::TwoInstances, Layout::Hcl, 1);
    }

    #[test]
    fn fix_pack_bumps_versions_everywhere_and_can_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &SampleOptions::default()).unwrap();
        let inst = &host.instances[0];
        let a = &inst.agent_data;
        let installed_path = format!("{a}/installed.xml");
        let registry_path = format!("{a}/installRegistry.xml");
        let nd = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
        assert!(read(&host, &installed_path).contains("version='9.0.5017.20230404_1425'"));
        assert!(read(&host, nd).contains("<version>9.0.5.17</version>"));

        let report = apply_fix_pack(&host, 0).unwrap();
        assert_eq!(report.from_version, "WAS 9.0.5.17, DX 9.5 CF219");
        assert_eq!(report.to_version, "WAS 9.0.5.18, DX 9.5 CF220");
        let installed = read(&host, &installed_path);
        assert!(installed.contains("<property name='cic.info.version' value='9.0.5.18'/>"));
        assert!(installed.contains("<property name='cic.info.version' value='9.5 CF220'/>"));
        assert!(!installed.contains("9.0.5017.20230404_1425"));
        let registry = read(&host, &registry_path);
        assert!(registry.contains("<version value='9.0.5017.20230404_1425'"));
        assert!(registry.contains(&format!("<version value='{}'", HCL_WAS.internal(18))));
        assert!(registry.contains(&format!("<version value='{}'", HCL_PORTAL.internal(220))));
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(
            read(&host, "/opt/HCL/WebSphere/PortalServer/version/MP.product")
                .contains("level=\"CF220\"")
        );
        for wps in [
            "/opt/HCL/WebSphere/PortalServer/wps.properties",
            "/opt/HCL/WebSphere/wp_profile/PortalServer/wps.properties",
        ] {
            assert!(read(&host, wps).contains("\nfixlevel=CF220\n"), "{wps}");
        }
        // Every PORTAL offering of the group moved with the server.
        let installed = read(&host, &format!("{a}/installed.xml"));
        for id in ["SERVER.v85", "ENABLE.v85", "SERVER.v95", "ENABLE.v95"] {
            let at = installed
                .find(&format!("id='com.ibm.websphere.PORTAL.{id}'"))
                .unwrap();
            assert!(installed[at..].contains(" CF220'/>"), "{id}");
        }
        assert!(
            host.path(&format!("{a}/logs/{}.xml", date_tag(BASE_TIME + FIX_STEP)))
                .is_file()
        );
        assert!(
            host.path(&format!(
                "{}/files/rollback/com.ibm.websphere.ND.v90_9.0.5017.20230404_1425.zip",
                inst.shared
            ))
            .is_file()
        );

        let again = apply_fix_pack(&host, 0).unwrap();
        assert_eq!(again.to_version, "WAS 9.0.5.19, DX 9.5 CF221");
        let registry = read(&host, &registry_path);
        assert_eq!(registry.matches("<version value='9.0.50").count(), 3);
        assert!(read(&host, nd).contains("<version>9.0.5.19</version>"));
        assert!(apply_fix_pack(&host, 1).is_err());
    }

    #[test]
    fn desync_moves_only_the_product_version_files() {
        let dir = tempfile::tempdir().unwrap();
        let host = build(&dir.path().join("h"), &small(Shape::Admin, Layout::Hcl)).unwrap();
        let nd = "/opt/HCL/WebSphere/AppServer/properties/version/ND.product";
        let mp = "/opt/HCL/WebSphere/PortalServer/version/MP.product";
        let wps = "/opt/HCL/WebSphere/PortalServer/wps.properties";
        let wps_copy = "/opt/HCL/WebSphere/wp_profile/PortalServer/wps.properties";
        let before = listing(&host.root);
        desync_product_files(&host, 0).unwrap();
        // At the first level the sample knows, the files move forward.
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(read(&host, mp).contains("level=\"CF220\""));
        assert!(read(&host, wps).contains("\nfixlevel=CF220\n"));
        assert!(read(&host, wps).contains("\nversion=9.5.0.0\n"));
        assert!(read(&host, wps_copy).contains("\nfixlevel=CF220\n"));
        let after = listing(&host.root);
        let changed: Vec<&String> = before
            .keys()
            .filter(|l| after.get(*l) != before.get(*l))
            .collect();
        assert_eq!(changed, vec![nd, mp, wps, wps_copy]);

        // After a fix pack, they move back below IM's records.
        apply_fix_pack(&host, 0).unwrap();
        apply_fix_pack(&host, 0).unwrap();
        desync_product_files(&host, 0).unwrap();
        assert!(read(&host, nd).contains("<version>9.0.5.18</version>"));
        assert!(read(&host, wps).contains("\nfixlevel=CF220\n"));
        let installed = read(&host, "/var/ibm/InstallationManager/installed.xml");
        assert!(installed.contains("value='9.0.5.19'"));
        assert!(desync_product_files(&host, 1).is_err());
    }

    #[test]
    fn fix_pack_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let a = build(&dir.path().join("a"), &SampleOptions::default()).unwrap();
        let b = build(&dir.path().join("b"), &SampleOptions::default()).unwrap();
        let ra = apply_fix_pack(&a, 0).unwrap();
        let rb = apply_fix_pack(&b, 0).unwrap();
        assert_eq!(ra.bytes_written, rb.bytes_written);
        assert_eq!(listing(&a.root), listing(&b.root));
    }

    #[test]
    fn dates_format_like_im() {
        assert_eq!(date_tag(BASE_TIME), "20240404_1014");
        assert_eq!(java_date(BASE_TIME), "Thu Apr 04 10:14:00 UTC 2024");
        assert_eq!(HCL_WAS.internal(17), "9.0.5017.20230404_1425");
        assert_eq!(HCL_PORTAL.internal(219), "9.5.0.20240315_0915");
        assert_eq!(normalize("/a/b/../c/./d"), "/a/c/d");
    }
}
