//! Where an instance's parts go: a [`Plan`] per IM instance of the [`Shape`] (admin, non-admin,
//! group or container mode; the products' top directory; what is chowned to the user).

use crate::facts::{HOST_NAME, USER_HOME};
use crate::options::{Layout, SampleOptions, Shape, USERS_HOME, WasEdition};
use crate::releases::{HCL_PORTAL, HCL_WAS, IBM_PORTAL, IBM_WAS, PortalLine, WasLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Admin,
    NonAdmin,
    Group,
    Container,
}

impl Mode {
    pub(crate) fn access_rights(self) -> &'static str {
        match self {
            Mode::Admin => "admin",
            Mode::NonAdmin | Mode::Container => "nonAdmin",
            Mode::Group => "group",
        }
    }
    pub(crate) fn user(self) -> &'static str {
        match self {
            Mode::Admin | Mode::Container => "root",
            Mode::NonAdmin | Mode::Group => "wasadm",
        }
    }
}

/// Everything needed to write one instance.
pub(crate) struct Plan {
    pub(crate) mode: Mode,
    pub(crate) layout: Layout,
    pub(crate) registry: Option<String>,
    pub(crate) im: Option<String>,
    pub(crate) agent: String,
    pub(crate) shared: String,
    pub(crate) was: String,
    pub(crate) portal: Option<String>,
    pub(crate) profile: String,
    /// The profile lives outside the package groups (and so is an `extra` member).
    pub(crate) profile_extra: bool,
    pub(crate) config_engine: Option<String>,
    /// Subtrees chowned to the user when running as root.
    pub(crate) chown: Vec<String>,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
    /// The WebSphere edition (set from the options after planning).
    pub(crate) edition: WasEdition,
}

impl Plan {
    pub(crate) fn was_line(&self) -> &'static WasLine {
        match self.layout {
            Layout::Hcl => &HCL_WAS,
            Layout::Ibm => &IBM_WAS,
        }
    }
    pub(crate) fn portal_line(&self) -> &'static PortalLine {
        match self.layout {
            Layout::Hcl => &HCL_PORTAL,
            Layout::Ibm => &IBM_PORTAL,
        }
    }
    pub(crate) fn cell(&self) -> String {
        if self.portal.is_some() {
            format!("{HOST_NAME}Cell")
        } else {
            "DefaultCell01".to_string()
        }
    }
    pub(crate) fn node(&self) -> String {
        if self.portal.is_some() {
            format!("{HOST_NAME}Node")
        } else {
            "DefaultNode01".to_string()
        }
    }
    pub(crate) fn server(&self) -> &'static str {
        if self.portal.is_some() {
            "WebSphere_Portal"
        } else {
            "server1"
        }
    }
}

pub(crate) fn product_plan(mode: Mode, layout: Layout, top: &str, chown: Vec<String>) -> Plan {
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

pub(crate) fn container_plan(layout: Layout) -> Plan {
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

pub(crate) fn plans(opts: &SampleOptions) -> Vec<Plan> {
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

/// `plan` with wasadm's home at [`USERS_HOME`] instead of `/home/wasadm`.
pub(crate) fn in_users_home(mut plan: Plan) -> Plan {
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
