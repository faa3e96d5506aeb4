//! HTML mail made safe to show: ammonia keeps harmless markup only (no
//! scripts, event handlers, style sheets, forms or `javascript:` links),
//! inline CSS and presentational attributes keep what styles a receipt or
//! a newsletter but nothing that loads or escapes ([`clean_style`]),
//! remote images are left out until the reader allows them, and the
//! result is a whole document whose own Content-Security-Policy forbids
//! every load the reader did not allow. The web shows it in a sandboxed
//! frame besides.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Images a message carries itself, by Content-ID, as `data:` URLs.
pub type InlineImages = HashMap<String, String>;

/// A sanitised HTML document, and whether remote images were left out.
pub fn document(html: &str, inline: &InlineImages, allow_remote: bool) -> (String, bool) {
    let blocked = Arc::new(AtomicBool::new(false));
    let body = {
        let blocked = Arc::clone(&blocked);
        let inline = inline.clone();
        ammonia::Builder::default()
            // cid: is turned into data: by the filter below (ammonia checks
            // schemes before and after it).
            .add_url_schemes(["data", "cid"])
            .link_rel(Some("noopener noreferrer"))
            .set_tag_attribute_value("a", "target", "_blank")
            .add_tags(["font", "center"])
            .add_generic_attributes(PRESENTATIONAL)
            .add_tag_attributes("font", ["color", "face", "size"])
            .attribute_filter(move |element, attribute, value| match (element, attribute) {
                ("img", "src") => image_source(value, &inline, allow_remote, &blocked),
                (_, "style") => clean_style(value).map(Into::into),
                // data: is for inline images only.
                (_, "href") if value.trim_start().to_ascii_lowercase().starts_with("data:") => None,
                _ => Some(value.into()),
            })
            .clean(html)
            .to_string()
    };
    let images = if allow_remote { "data: https: http:" } else { "data:" };
    let doc = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src {images}; style-src 'unsafe-inline'\">\
         <style>html,body{{margin:0;padding:0}}body{{padding:4px 2px;font:15px/1.5 system-ui,sans-serif;color:#1f2430;\
         overflow-wrap:anywhere}}img{{max-width:100%;height:auto}}table{{max-width:100%}}a{{color:#2456c9}}</style>\
         </head><body>{body}</body></html>"
    );
    (doc, blocked.load(Ordering::Relaxed))
}

/// Attributes that only change how a mail looks, kept everywhere.
const PRESENTATIONAL: [&str; 10] = [
    "style",
    "bgcolor",
    "align",
    "valign",
    "width",
    "height",
    "border",
    "cellpadding",
    "cellspacing",
    "color",
];

/// CSS properties inline styles keep: colours, type, spacing, borders,
/// sizes and table layout. Not `position`, `z-index`, `transform` or
/// anything else that lets a mail move itself over the page around it or
/// cover its own content, and no value that could load something.
const KEPT_PROPERTIES: [&str; 24] = [
    "color",
    "background",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-transform",
    "line-height",
    "letter-spacing",
    "white-space",
    "vertical-align",
    "display",
    "width",
    "max-width",
    "min-width",
    "height",
    "border-collapse",
    "border-spacing",
    "table-layout",
    "list-style",
];

/// Properties kept with any of their sides (`margin-top`, `border-left-color`…).
const KEPT_PREFIXES: [&str; 3] = ["margin", "padding", "border"];

/// An inline `style` with only the declarations that are safe to keep, or
/// nothing. Written here (a few lines) rather than with a CSS parser:
/// declarations are split at `;`, and any value that could smuggle
/// something in (a `url(`, an escape, a comment, `expression`) drops the
/// declaration whole, so a value split wrongly is dropped, never kept.
pub fn clean_style(style: &str) -> Option<String> {
    let kept: Vec<String> = style
        .split(';')
        .filter_map(|declaration| {
            let (property, value) = declaration.split_once(':')?;
            let property = property.trim().to_ascii_lowercase();
            let value = value.trim();
            let allowed = KEPT_PROPERTIES.contains(&property.as_str())
                || KEPT_PREFIXES
                    .iter()
                    .any(|p| property == *p || property.strip_prefix(p).is_some_and(|rest| rest.starts_with('-')));
            let lower = value.to_ascii_lowercase();
            let risky = [
                "url(",
                "expression",
                "javascript:",
                "\\",
                "/*",
                "@",
                "<",
                "image-set",
                "var(",
            ]
            .iter()
            .any(|r| lower.contains(r));
            (allowed && !risky && !value.is_empty()).then(|| format!("{property}: {value}"))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

fn image_source(
    value: &str,
    inline: &InlineImages,
    allow_remote: bool,
    blocked: &AtomicBool,
) -> Option<std::borrow::Cow<'static, str>> {
    let lower = value.trim().to_ascii_lowercase();
    if let Some(cid) = lower.strip_prefix("cid:") {
        let key = value.trim()[4..].trim_matches(['<', '>']);
        return inline
            .get(key)
            .or_else(|| inline.get(cid))
            .map(|url| url.clone().into());
    }
    if lower.starts_with("data:image/") {
        return Some(value.to_owned().into());
    }
    if lower.starts_with("http:") || lower.starts_with("https:") || lower.starts_with("//") {
        if allow_remote {
            return Some(value.to_owned().into());
        }
        blocked.store(true, Ordering::Relaxed);
    }
    None
}

/// The text of an HTML part, for previews, search and replies.
pub fn to_text(html: &str) -> String {
    let block = ["</p>", "<br", "</div>", "</tr>", "</li>", "</h"];
    let mut spaced = html.to_owned();
    for tag in block {
        spaced = spaced.replace(tag, &format!("\n{tag}"));
    }
    let stripped = ammonia::Builder::empty().clean(&spaced).to_string();
    unescape(&stripped)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<p onclick="steal()">Hi</p><script>alert(1)</script>
        <img src="x" onerror="alert(2)"><a href="javascript:alert(3)">click</a>
        <img src="https://tracker.example/pixel.png"><img src="cid:logo@x">
        <div style="position:fixed;top:0;left:0;width:100%;height:100%">cover</div>
        <style>body{display:none}</style><form action="https://evil"><input name=p></form>"#;

    #[test]
    fn hostile_markup_is_removed() {
        let inline = InlineImages::from([("logo@x".to_owned(), "data:image/png;base64,AAAA".to_owned())]);
        let (doc, blocked) = document(HOSTILE, &inline, false);
        assert!(blocked);
        for bad in [
            "<script",
            "onerror",
            "onclick",
            "javascript:",
            "tracker.example",
            "position:fixed",
            "<form",
            "<input",
        ] {
            assert!(!doc.contains(bad), "{bad} survived in {doc}");
        }
        assert!(doc.contains("data:image/png;base64,AAAA"));
        assert!(doc.contains("img-src data:;"));
        assert!(doc.contains(">cover</div>"));
    }

    #[test]
    fn inline_styles_keep_their_looks_and_lose_their_tricks() {
        let html = r##"<table bgcolor="#f4f4f4" width="600" cellpadding="8"><tr><td align="center"
            style="color: #333; font-size: 18px; position: fixed; top: 0; z-index: 9; padding-left: 4px;
            background: url(https://t.example/p.gif); background-color: #fff; width: expression(alert(1))">Total: <font color="red">$12</font></td></tr></table>"##;
        let (doc, _) = document(html, &InlineImages::new(), false);
        for kept in [
            "bgcolor=\"#f4f4f4\"",
            "width=\"600\"",
            "align=\"center\"",
            "color: #333; font-size: 18px; padding-left: 4px; background-color: #fff",
            "<font color=\"red\">",
        ] {
            assert!(doc.contains(kept), "{kept} lost in {doc}");
        }
        for dropped in ["position", "z-index", "top:", "t.example", "expression"] {
            assert!(!doc.contains(dropped), "{dropped} kept in {doc}");
        }
        assert_eq!(clean_style("position: absolute; left: 0"), None);
        assert_eq!(
            clean_style("border-top-color: red; borderline: 1"),
            Some("border-top-color: red".into())
        );
        assert_eq!(clean_style("color: red /* */ ; font: 12px \\75 rl(x)"), None);
    }

    #[test]
    fn remote_images_once_allowed() {
        let (doc, blocked) = document(HOSTILE, &InlineImages::new(), true);
        assert!(!blocked);
        assert!(doc.contains("https://tracker.example/pixel.png"));
        assert!(doc.contains("img-src data: https: http:"));
    }

    #[test]
    fn text_of_html() {
        assert_eq!(to_text("<p>a &amp; b</p><p>c</p>").trim(), "a & b\nc");
    }
}
