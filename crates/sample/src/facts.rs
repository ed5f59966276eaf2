//! Fixed facts of the sample world: when things were installed and fixed, IM's version, the
//! host's name and user, and the signatures behind binary content.

pub(crate) const DAY: i64 = 86_400;
/// 2024-04-04 10:14:00 UTC: when the package groups were installed.
pub(crate) const BASE_TIME: i64 = 1_712_225_640;
/// When IM itself was installed.
pub(crate) const IM_INSTALL_TIME: i64 = BASE_TIME - 30 * DAY;
/// Fix pack `k` is applied at `BASE_TIME + k * FIX_STEP`.
pub(crate) const FIX_STEP: i64 = 91 * DAY;
pub(crate) const WAS_STEP: i64 = 91 * DAY;
pub(crate) const CF_STEP: i64 = 35 * DAY;
pub(crate) const USER_HOME: &str = "/home/wasadm";
pub(crate) const USER_OWNER: (u32, u32) = (1001, 1001);
pub(crate) const HOST_NAME: &str = "lockstep01";
pub(crate) const IM_VERSION: &str = "1.9.2.8";
pub(crate) const IM_INTERNAL: &str = "1.9.2008.20240227_0018";
pub(crate) const IM_JRE: &str = "jre_8.0.8015.20231211_1016";
pub(crate) const SDK_INTERNAL: &str = "8.0.8015.20231211_1016";
pub(crate) const KIT_DIR: &str = "/tmp/imkit";
pub(crate) const ZIP_MAGIC: &[u8] = b"PK\x03\x04\x14\x00\x08\x00";
pub(crate) const ELF_MAGIC: &[u8] = b"\x7fELF\x02\x01\x01\x00";
pub(crate) const P12_MAGIC: &[u8] = b"\x30\x82\x0a\x1c\x02\x01\x03";
/// Extensions a fix pack may rewrite or remove.
pub(crate) const FIXABLE_EXT: &[&str] = &["jar", "xml", "xmi", "properties", "jsp", "html", "css"];
