//! What to build: the kind of host ([`Shape`]), the products' branding and layout ([`Layout`]),
//! the WebSphere edition ([`WasEdition`]) and the size and seed ([`SampleOptions`]).

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

/// What to build; see [`build`](crate::build).
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
