//! The product release lines the sample knows (WebSphere 9.0 and 8.5, DX 9.5 and Portal 8.5):
//! their offering ids, display and internal versions at each fix level, repository locations,
//! and the version files (`ND.product`, `WAS.product`, `MP.product`, `wps.properties`) each
//! level writes; and what each [`WasEdition`] changes in them (docs/im-facts.md §9).

use crate::dates::{Civil, date_tag, java_date};
use crate::facts::{CF_STEP, WAS_STEP};
use crate::options::WasEdition;

/// A WebSphere Application Server release line.
pub(crate) struct WasLine {
    pub(crate) group: &'static str,
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) product_name: &'static str,
    pub(crate) major: &'static str,
    pub(crate) platform: &'static str,
    pub(crate) first_fp: u32,
    pub(crate) first_build: i64,
    pub(crate) repo: &'static str,
}

/// A Portal / DX release line.
pub(crate) struct PortalLine {
    pub(crate) group: &'static str,
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) product_name: &'static str,
    pub(crate) release: &'static str,
    pub(crate) base: &'static str,
    pub(crate) product_version: &'static str,
    pub(crate) first_cf: u32,
    pub(crate) first_build: i64,
    pub(crate) repo: &'static str,
    pub(crate) ifix: &'static str,
}

pub(crate) const HCL_WAS: WasLine = WasLine {
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

pub(crate) const IBM_WAS: WasLine = WasLine {
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

pub(crate) const HCL_PORTAL: PortalLine = PortalLine {
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

pub(crate) const IBM_PORTAL: PortalLine = PortalLine {
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

pub(crate) const WAS_LINES: [&WasLine; 2] = [&HCL_WAS, &IBM_WAS];
pub(crate) const PORTAL_LINES: [&PortalLine; 2] = [&HCL_PORTAL, &IBM_PORTAL];

impl WasEdition {
    pub(crate) const ALL: [WasEdition; 4] = [
        WasEdition::Nd,
        WasEdition::Base,
        WasEdition::DevelopersIlan,
        WasEdition::NdTrial,
    ];
    pub(crate) fn segment(self) -> &'static str {
        match self {
            WasEdition::Nd => "ND",
            WasEdition::Base => "BASE",
            WasEdition::DevelopersIlan => "DEVELOPERSILAN",
            WasEdition::NdTrial => "NDTRIAL",
        }
    }
    /// `was.install.productid`: the id inside the `.product` file.
    pub(crate) fn product_id(self) -> &'static str {
        match self {
            WasEdition::Nd | WasEdition::NdTrial => "ND",
            WasEdition::Base | WasEdition::DevelopersIlan => "BASE",
        }
    }
    /// The version file under `properties/version/`; the default hosts keep `ND.product`.
    pub(crate) fn file(self) -> &'static str {
        match self {
            WasEdition::Nd => "ND.product",
            _ => "WAS.product",
        }
    }
    pub(crate) fn offering(self, line: &WasLine) -> String {
        line.id
            .replacen(".ND.", &format!(".{}.", self.segment()), 1)
    }
    pub(crate) fn name(self, line: &WasLine) -> String {
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

impl WasLine {
    pub(crate) fn display(&self, fp: u32) -> String {
        format!("{}.{fp}", self.major)
    }
    pub(crate) fn build_time(&self, fp: u32) -> i64 {
        self.first_build + i64::from(fp.saturating_sub(self.first_fp)) * WAS_STEP
    }
    pub(crate) fn internal(&self, fp: u32) -> String {
        format!("{}{fp:03}.{}", self.major, date_tag(self.build_time(fp)))
    }
    pub(crate) fn level(&self, fp: u32) -> String {
        let c = Civil::of(self.build_time(fp));
        let week = ((c.month - 1) * 4 + c.day / 7 + 1).min(52);
        format!(
            "cf{:02}{:02}{week:02}.{:02}",
            fp % 100,
            c.year % 100,
            fp % 7 + 1
        )
    }
    pub(crate) fn repo_info(&self, fp: u32) -> String {
        let location = if fp == self.first_fp {
            format!("{}/WAS_ND_V{}_MP_ML", self.repo, self.platform)
        } else {
            format!("{}/{}-WS-WAS-FP{fp:03}", self.repo, self.major)
        };
        format!("repositoryLocation={location},repositoryKind=file")
    }
    /// The edition's `.product` file; editions other than ND declare the DTD by its SYSTEM id,
    /// as real `WAS.product` files do.
    pub(crate) fn product_xml(&self, fp: u32, edition: WasEdition) -> String {
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
    pub(crate) fn display(&self, cf: u32) -> String {
        format!("{} CF{cf}", self.release)
    }
    pub(crate) fn build_time(&self, cf: u32) -> i64 {
        self.first_build + i64::from(cf.saturating_sub(self.first_cf)) * CF_STEP
    }
    pub(crate) fn internal(&self, cf: u32) -> String {
        format!("{}.{}", self.base, date_tag(self.build_time(cf)))
    }
    pub(crate) fn repo_info(&self, cf: u32) -> String {
        let location = if cf == self.first_cf {
            format!("{}/server/{}", self.repo, self.product_version)
        } else {
            format!("{}/cf/CF{cf}", self.repo)
        };
        format!("repositoryLocation={location},repositoryKind=file")
    }
    pub(crate) fn product_xml(&self, cf: u32) -> String {
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
    pub(crate) fn wps_properties(&self, cf: u32, portal: &str, profile: &str, was: &str) -> String {
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
    pub(crate) fn offerings(
        &self,
    ) -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
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
pub(crate) fn with_fixlevel(text: &str, cf: u32) -> String {
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

pub(crate) fn product_xml(name: &str, id: &str, version: &str, date: i64, level: &str) -> String {
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
