//! Plausible, compressible file content: XML, properties, JSP, HTML, CSS and log text made of
//! portal words, and the stand-in scripts that run nothing.

use crate::dates::was_stamp;
use crate::facts::{BASE_TIME, DAY};
use crate::rng::Rng;

#[rustfmt::skip]
pub(crate) const WORDS: &[&str] = &[
    "portal", "theme", "content", "navigation", "security", "admin", "config", "resource", "cache",
    "datasource", "jcr", "search", "page", "layout", "render", "module", "service", "registry",
    "ldap", "federated", "credential", "vault", "scheduler", "transport", "channel", "cluster",
    "node", "cell", "server", "deploy", "template", "skin", "dynamic", "personalization", "wcm",
    "library", "authoring", "syndication", "workflow", "policy", "virtual", "mapping", "friendly",
    "selection", "model", "state", "engine", "webdav", "remote", "composite", "application",
    "palette", "toolbar", "mobile", "analytics", "audit", "tracing", "logging", "session",
    "identity",
];

pub(crate) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(crate) fn random_value(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => rng.below(65_536).to_string(),
        1 => rng.word().to_string(),
        2 => format!("${{WAS_INSTALL_ROOT}}/lib/{}.jar", rng.word()),
        3 => (rng.below(2) == 0).to_string(),
        _ => format!("{}.{}.{}", rng.word(), rng.word(), rng.below(100)),
    }
}

/// Plausible, compressible text for a file with extension `ext`, about `size` bytes long.
pub(crate) fn gen_text(rng: &mut Rng, ext: &str, size: usize) -> String {
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

pub(crate) fn stub_script(name: &str, what: &str, home_var: &str, home: &str) -> String {
    format!(
        "#!/bin/sh\n# {name}: {what} command.\n# Stand-in written by lockstep's sample host builder; it runs nothing.\n\
         {home_var}=\"{home}\"\nexport {home_var}\n\
         echo \"{name}: this sample host has no runnable {what}\" >&2\nexit 1\n"
    )
}
