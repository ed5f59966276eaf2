//! XML helpers shared by the `installed.xml`, `installRegistry.xml` and product-file readers:
//! parsing with errors that carry the file and line, and element/attribute lookup by local
//! name so that namespace prefixes IBM may add never change what we read.
//!
//! Only reading is supported; nothing here serialises XML.

use std::collections::BTreeMap;
use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

use super::{ImError, text};

/// Parses `text` (a leading byte-order mark is ignored). A DTD is allowed because WebSphere's
/// product files declare one; roxmltree never fetches it and guards against entity bombs.
pub(crate) fn parse_document<'a>(text: &'a str, path: &Path) -> Result<Document<'a>, ImError> {
    let options = ParsingOptions {
        allow_dtd: true,
        ..ParsingOptions::default()
    };
    let text = text::strip_bom(text);
    Document::parse_with_options(text, options).map_err(|err| {
        use roxmltree::Error as E;
        let (line, msg) = match err {
            // roxmltree has no position for these; the end of the text is where the cut is.
            E::UnclosedRootNode | E::UnexpectedEndOfStream => (
                u32::try_from(text::lines(text).len().max(1)).ok(),
                "the file ends before its root element is closed; it was probably cut short \
                 (full disk or interrupted copy)"
                    .to_string(),
            ),
            E::NoRootNode => (
                None,
                "no XML root element: the file is empty or is not XML".to_string(),
            ),
            E::NodesLimitReached | E::AttributesLimitReached | E::NamespacesLimitReached => {
                (None, format!("XML too large to read: {err}"))
            }
            other => (
                Some(other.pos().row),
                format!("not well-formed XML: {other}"),
            ),
        };
        ImError::parse(path, line, msg)
    })
}

/// The root element, after checking that its local name is `name`.
pub(crate) fn root<'a, 'i>(
    doc: &'a Document<'i>,
    name: &str,
    path: &Path,
) -> Result<Node<'a, 'i>, ImError> {
    let root = doc.root_element();
    if root.tag_name().name() == name {
        Ok(root)
    } else {
        Err(ImError::parse(
            path,
            Some(line_of(root)),
            format!(
                "root element is <{}>, expected <{name}>: this is not the file IM writes here",
                root.tag_name().name()
            ),
        ))
    }
}

/// 1-based line where `node` starts.
pub(crate) fn line_of(node: Node<'_, '_>) -> u32 {
    node.document().text_pos_at(node.range().start).row
}

/// Child elements of `node` whose local name is `name`, in document order.
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

/// The value of the attribute whose local name is `name`, whatever its namespace; an
/// unprefixed attribute wins over a prefixed one of the same local name.
pub(crate) fn attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    // roxmltree's own `attribute(name)` ignores the namespace, so the preference is explicit.
    let mut matching = node.attributes().filter(|a| a.name() == name);
    let first = matching.clone().next()?;
    Some(
        matching
            .find(|a| a.namespace().is_none())
            .unwrap_or(first)
            .value(),
    )
}

/// Like [`attr`], but a missing or empty attribute is an error naming `what` and the line.
pub(crate) fn required_attr<'a>(
    node: Node<'a, '_>,
    name: &str,
    what: &str,
    path: &Path,
) -> Result<&'a str, ImError> {
    match attr(node, name) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ImError::parse(
            path,
            Some(line_of(node)),
            format!("{what} has no `{name}` attribute"),
        )),
    }
}

/// The `<property name=… value=…/>` children of `node` as a map. A property without a name
/// is skipped; one without a value counts as empty; a repeated name keeps its last value.
pub(crate) fn properties(node: Node<'_, '_>) -> BTreeMap<String, String> {
    children(node, "property")
        .filter_map(|p| {
            let name = attr(p, "name")?;
            Some((name.to_string(), attr(p, "value").unwrap_or("").to_string()))
        })
        .collect()
}
