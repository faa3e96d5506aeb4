//! Links between the pages: the mail view's state lives in its query
//! string, so every view can be bookmarked, reloaded and opened without
//! JavaScript.

use leptos_router::params::ParamsMap;
use mailroom_shared::dto::{Anchor, SortKey};

/// Percent-encodes a query value. Written here because it is six lines
/// and both the server and the browser build need it.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What the mail view shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailView {
    pub mailbox: String,
    pub uid: Option<u32>,
    pub page: u32,
    /// The message the page is read from (`after=UID`, `before=UID`), so
    /// that a deep page of a big folder is an index range.
    pub anchor: Option<Anchor>,
    pub sort: SortKey,
    pub search: Option<String>,
    pub images: bool,
    /// The list shows one line per conversation (its newest message).
    pub threads: bool,
}

impl MailView {
    pub fn from_query(q: &ParamsMap) -> MailView {
        MailView {
            mailbox: q.get("box").filter(|b| !b.is_empty()).unwrap_or_else(|| "INBOX".into()),
            uid: q.get("uid").and_then(|u| u.parse().ok()),
            page: q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0),
            anchor: q
                .get("after")
                .and_then(|u| u.parse().ok())
                .map(Anchor::After)
                .or_else(|| q.get("before").and_then(|u| u.parse().ok()).map(Anchor::Before)),
            sort: q.get("sort").map_or(SortKey::Date, |s| SortKey::parse(&s)),
            search: q.get("q").filter(|s| !s.trim().is_empty()),
            images: q.get("images").as_deref() == Some("1"),
            threads: q.get("threads").as_deref() == Some("1"),
        }
    }

    /// The list this view is on, without an open message.
    pub fn list(&self) -> MailView {
        MailView {
            uid: None,
            images: false,
            ..self.clone()
        }
    }

    pub fn with_uid(&self, uid: u32) -> MailView {
        MailView {
            uid: Some(uid),
            images: false,
            ..self.clone()
        }
    }

    pub fn href(&self) -> String {
        let mut s = format!("/mail?box={}", encode(&self.mailbox));
        if let Some(q) = &self.search {
            s.push_str(&format!("&q={}", encode(q)));
        }
        if self.sort != SortKey::Date {
            s.push_str(&format!("&sort={}", self.sort.as_str()));
        }
        if self.page > 0 {
            s.push_str(&format!("&page={}", self.page));
            match self.anchor {
                Some(Anchor::After(uid)) => s.push_str(&format!("&after={uid}")),
                Some(Anchor::Before(uid)) => s.push_str(&format!("&before={uid}")),
                None => {}
            }
        }
        if self.threads {
            s.push_str("&threads=1");
        }
        if let Some(uid) = self.uid {
            s.push_str(&format!("&uid={uid}"));
        }
        if self.images {
            s.push_str("&images=1");
        }
        s
    }
}

/// The mail view of a folder's first page.
pub fn folder_href(mailbox: &str) -> String {
    format!("/mail?box={}", encode(mailbox))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_round_trip_through_their_links() {
        let v = MailView {
            mailbox: "~bob/Team & Co".into(),
            uid: Some(7),
            page: 2,
            anchor: Some(Anchor::After(40)),
            sort: SortKey::Sender,
            search: Some("a+b".into()),
            images: true,
            threads: true,
        };
        let href = v.href();
        assert_eq!(
            href,
            "/mail?box=~bob/Team%20%26%20Co&q=a%2Bb&sort=sender&page=2&after=40&threads=1&uid=7&images=1"
        );
        let query = ParamsMap::from_iter(
            href.trim_start_matches("/mail?")
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        v.replace("%20", " ").replace("%26", "&").replace("%2B", "+"),
                    )
                }),
        );
        assert_eq!(MailView::from_query(&query), v);
    }
}
