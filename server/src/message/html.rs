//! HTML mail made safe to show: ammonia keeps harmless markup only (no
//! scripts, event handlers, styles, forms or `javascript:` links), remote
//! images are left out until the reader allows them, and the result is a
//! whole document whose own Content-Security-Policy forbids every load the
//! reader did not allow. The web shows it in a sandboxed frame besides.

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
            .attribute_filter(move |element, attribute, value| match (element, attribute) {
                ("img", "src") => image_source(value, &inline, allow_remote, &blocked),
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
