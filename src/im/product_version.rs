//! Reads the version file a WebSphere or Portal product keeps about itself, such as
//! `<AppServer>/properties/version/ND.product` or `<PortalServer>/version/*.product`, so its
//! answer can be compared with what IM recorded: a host whose product files were restored
//! without IM's records (or the reverse) disagrees here.
//!
//! Only the `<product name="…"><id/><version/></product>` shape is read; the build info,
//! `.component` files and the `history/` folder are not.

use std::path::Path;

use roxmltree::Node;
use serde::{Deserialize, Serialize};

use super::ImError;
use super::xml::{attr, children, line_of, parse_document, root};

/// What a product's `.product` file says it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductVersion {
    /// The product id, e.g. `ND`, `BASE`, `PORTAL`.
    pub id: String,
    /// The product's display name (`name` attribute), where present.
    pub name: Option<String>,
    /// The product version, e.g. `9.0.5.17`.
    pub version: String,
}

/// Parses the text of a `.product` file; `path` is used in error messages only.
///
/// Fails if the text is not well-formed XML, if the root element is not `product`, or if the
/// `<id>` or `<version>` element is missing or empty.
pub fn parse_product_file(text: &str, path: &Path) -> Result<ProductVersion, ImError> {
    let doc = parse_document(text, path)?;
    let product = root(&doc, "product", path)?;
    Ok(ProductVersion {
        id: child_text(product, "id", path)?,
        name: attr(product, "name")
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        version: child_text(product, "version", path)?,
    })
}

/// The trimmed text of the first `name` child of `product`; missing or empty is an error.
fn child_text(product: Node<'_, '_>, name: &'static str, path: &Path) -> Result<String, ImError> {
    let text: Option<String> = children(product, name).next().map(|node| {
        node.descendants()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .collect()
    });
    match text {
        Some(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        _ => Err(ImError::parse(
            path,
            Some(line_of(product)),
            format!("product file has no <{name}> value"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/opt/IBM/WebSphere/AppServer/properties/version/ND.product";

    /// A WAS 9 `ND.product`, as `versionInfo.sh` reads it.
    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE product PUBLIC "productId" "product.dtd">

<product name="IBM WebSphere Application Server - ND">
   <id>ND</id>
   <version>9.0.5.17</version>
   <build-info date="7/25/23" level="cf172329.03"/>
</product>
"#;

    fn parse(text: &str) -> Result<ProductVersion, ImError> {
        parse_product_file(text, Path::new(PATH))
    }

    #[test]
    fn realistic_sample() {
        assert_eq!(
            parse(SAMPLE).unwrap(),
            ProductVersion {
                id: "ND".into(),
                name: Some("IBM WebSphere Application Server - ND".into()),
                version: "9.0.5.17".into(),
            }
        );
    }

    #[test]
    fn portal_product_file() {
        let text = "<?xml version='1.0' encoding='UTF-8'?>\n<product name='IBM WebSphere Portal Server'>\
            <id>PORTAL</id><version>\n  8.5.0.0\n</version><build-info date='4/24/14' level='wp850_2155'/></product>";
        let p = parse(text).unwrap();
        assert_eq!(p.id, "PORTAL");
        assert_eq!(p.version, "8.5.0.0");
    }

    #[test]
    fn bom_crlf_and_single_quotes_are_tolerated() {
        let text = format!("\u{feff}{}", SAMPLE.replace('\n', "\r\n").replace('"', "'"));
        assert_eq!(parse(&text).unwrap(), parse(SAMPLE).unwrap());
    }

    #[test]
    fn unknown_content_and_namespaces_are_ignored() {
        let text = r#"<p:product xmlns:p="urn:p" edition="x" name="N"><extra/><p:id>BASE</p:id><!-- c --><p:version><![CDATA[9.0.5.17]]></p:version><later><id>no</id></later></p:product>"#;
        let p = parse(text).unwrap();
        assert_eq!((p.id.as_str(), p.version.as_str()), ("BASE", "9.0.5.17"));
        assert_eq!(p.name.as_deref(), Some("N"));
    }

    #[test]
    fn missing_name_is_none() {
        let p = parse("<product><id>ND</id><version>9.0</version></product>").unwrap();
        assert_eq!(p.name, None);
    }

    #[test]
    fn missing_version_is_an_error_with_line() {
        let err = parse("<?xml version='1.0'?>\n<product name='x'>\n<id>ND</id>\n<version> </version>\n</product>")
            .unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with(&format!("{PATH}:2: ")), "{shown}");
        assert!(shown.contains("<version>"), "{shown}");
        assert!(parse("<product><version>9</version></product>").is_err());
    }

    #[test]
    fn wrong_root_garbage_and_truncation_are_errors_naming_the_file() {
        let cut = &SAMPLE[..SAMPLE.find("<version>").unwrap()];
        for bad in [
            "<websphere name='x' version='9.0'/>",
            "",
            "ND 9.0.5.17",
            cut,
        ] {
            match parse(bad) {
                Err(err @ ImError::Parse { .. }) => {
                    assert!(err.to_string().contains(PATH), "{err}")
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
