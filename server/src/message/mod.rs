//! Messages as the web shows and writes them: a summary for lists and
//! search, the reading view (with sanitised HTML), attachments, and new
//! messages composed in the browser. mailparse reads, mail-builder writes,
//! ammonia cleans HTML; IMAP's own MIME needs live in `imap::mime`.

pub mod auto_reply;
mod compose;
mod html;
mod view;

use mailparse::{DispositionType, MailHeaderMap, ParsedMail};

pub use compose::{Composed, Sender, compose, compose_draft, parse_recipients};
pub use view::{attachment, view};

/// How deep multiparts are followed: hostile nesting ends here.
const MAX_DEPTH: usize = 32;
/// How much text of one message goes into the search index.
const MAX_INDEXED_TEXT: usize = 1 << 20;
const PREVIEW_CHARS: usize = 160;

/// What a message list and the search index need of a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub sender: String,
    pub recipients: String,
    pub subject: String,
    /// The Date header, Unix seconds (absent or unreadable: `None`).
    pub sent_at: Option<i64>,
    pub has_attachments: bool,
    pub preview: String,
    /// The decoded text of the body and the attachments' names, for the
    /// search index.
    pub text: String,
    /// The senders' and recipients' names and addresses, for the search
    /// index (`from:`, `to:`); an address also as its parts, so `from:alice`
    /// finds `alice@example.com` whatever the index splits words at.
    pub sender_words: String,
    pub recipient_words: String,
}

/// Reads the summary of a raw message; never fails (a message that does
/// not parse is summarised from its bytes). NULs are dropped: PostgreSQL
/// text cannot hold them.
pub fn summarize(raw: &[u8]) -> Summary {
    let mut s = read_summary(raw);
    for field in [
        &mut s.sender,
        &mut s.recipients,
        &mut s.subject,
        &mut s.preview,
        &mut s.text,
        &mut s.sender_words,
        &mut s.recipient_words,
    ] {
        if field.contains('\0') {
            *field = field.replace('\0', "");
        }
    }
    s
}

fn read_summary(raw: &[u8]) -> Summary {
    let Ok(mail) = mailparse::parse_mail(raw) else {
        let text = String::from_utf8_lossy(raw).into_owned();
        return Summary {
            preview: preview(&text),
            text: truncated(text, MAX_INDEXED_TEXT),
            ..Summary::default()
        };
    };
    let leaves = leaves(&mail);
    let text = body_text(&leaves);
    // Each name also split into its words: `q3-figures.pdf` is one word
    // to PostgreSQL's parser, and `figures` should find it.
    let attachment_names: Vec<String> = leaves
        .iter()
        .filter_map(|l| l.filename.as_deref())
        .map(|name| format!("{name} {}", name.replace(['-', '.', '_', '+'], " ")))
        .collect();
    let indexed = match attachment_names.is_empty() {
        true => text.clone(),
        false => format!("{text}\n{}", attachment_names.join(" ")),
    };
    Summary {
        sender: names(&mail, &["From"]),
        recipients: names(&mail, &["To", "Cc"]),
        sender_words: address_words(&mail, &["From", "Sender", "Reply-To"]),
        recipient_words: address_words(&mail, &["To", "Cc"]),
        subject: header(&mail, "Subject"),
        sent_at: mail
            .headers
            .get_first_value("Date")
            .and_then(|d| mailparse::dateparse(&d).ok()),
        has_attachments: leaves.iter().any(|l| l.is_attachment()),
        preview: preview(&text),
        text: truncated(indexed, MAX_INDEXED_TEXT),
    }
}

/// The names and addresses of address headers, each address also split
/// at `@`, `.`, `-`, `_` and `+`, for the search index.
fn address_words(mail: &ParsedMail, headers: &[&str]) -> String {
    let mut out = Vec::new();
    for name in headers {
        for h in mail.headers.get_all_headers(name) {
            let Ok(list) = mailparse::addrparse_header(h) else {
                out.push(h.get_value());
                continue;
            };
            for addr in list.iter() {
                let singles = match addr {
                    mailparse::MailAddr::Single(s) => std::slice::from_ref(s),
                    mailparse::MailAddr::Group(g) => g.addrs.as_slice(),
                };
                for s in singles {
                    out.extend(s.display_name.clone());
                    out.push(s.addr.clone());
                    out.push(s.addr.replace(['@', '.', '-', '_', '+'], " "));
                }
            }
        }
    }
    out.join(" ")
}

/// A decoded header value, or "".
fn header(mail: &ParsedMail, name: &str) -> String {
    mail.headers.get_first_value(name).unwrap_or_default().trim().to_owned()
}

/// The people in address headers, by display name where there is one.
fn names(mail: &ParsedMail, headers: &[&str]) -> String {
    let mut out = Vec::new();
    for name in headers {
        for h in mail.headers.get_all_headers(name) {
            match mailparse::addrparse_header(h) {
                Ok(list) => {
                    for addr in list.iter() {
                        match addr {
                            mailparse::MailAddr::Single(s) => {
                                out.push(s.display_name.clone().unwrap_or(s.addr.clone()))
                            }
                            mailparse::MailAddr::Group(g) => out.push(g.group_name.clone()),
                        }
                    }
                }
                Err(_) => out.push(h.get_value().trim().to_owned()),
            }
        }
    }
    out.join(", ")
}

/// One leaf part of a message, in depth-first order.
pub(crate) struct Leaf<'a> {
    pub part: &'a ParsedMail<'a>,
    pub filename: Option<String>,
    disposition: DispositionType,
}

impl Leaf<'_> {
    pub fn mimetype(&self) -> &str {
        &self.part.ctype.mimetype
    }

    /// Offered for download: marked as an attachment, or named, or
    /// anything that is not a text to show.
    pub fn is_attachment(&self) -> bool {
        if self.disposition == DispositionType::Attachment {
            return true;
        }
        if self.mimetype().starts_with("image/") && self.content_id().is_some() {
            return false; // shown in the HTML through cid:
        }
        self.filename.is_some() || !self.mimetype().starts_with("text/")
    }

    pub fn content_id(&self) -> Option<String> {
        let id = self.part.headers.get_first_value("Content-ID")?;
        Some(id.trim().trim_start_matches('<').trim_end_matches('>').to_owned())
    }
}

pub(crate) fn leaves<'a>(mail: &'a ParsedMail<'a>) -> Vec<Leaf<'a>> {
    let mut out = Vec::new();
    collect_leaves(mail, &mut out, 0);
    out
}

fn collect_leaves<'a>(mail: &'a ParsedMail<'a>, out: &mut Vec<Leaf<'a>>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if mail.subparts.is_empty() {
        let disposition = mail.get_content_disposition();
        let filename = disposition
            .params
            .get("filename")
            .or_else(|| mail.ctype.params.get("name"))
            .map(|f| f.replace(['/', '\\', '"', '\r', '\n'], "_"));
        if mail.ctype.mimetype.starts_with("multipart/") {
            return;
        }
        out.push(Leaf {
            part: mail,
            filename,
            disposition: disposition.disposition,
        });
    } else {
        for part in &mail.subparts {
            collect_leaves(part, out, depth + 1);
        }
    }
}

/// The first text part of a type that is meant to be read in place.
pub(crate) fn first_text<'a>(leaves: &'a [Leaf<'a>], mimetype: &str) -> Option<String> {
    leaves
        .iter()
        .find(|l| l.mimetype() == mimetype && !l.is_attachment())
        .and_then(|l| l.part.get_body().ok())
}

/// The readable text: the plain part, else the HTML part's text.
fn body_text(leaves: &[Leaf]) -> String {
    first_text(leaves, "text/plain")
        .or_else(|| first_text(leaves, "text/html").map(|h| html::to_text(&h)))
        .unwrap_or_default()
}

fn preview(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for word in words {
        if out.chars().count() + word.chars().count() > PREVIEW_CHARS {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// What automated rules test, read from a message's header: the senders
/// (envelope and `From:`), the recipients (envelope and `To:`/`Cc:`), the
/// decoded subject and every header. Never fails: a header that does not
/// parse is tested as far as it parsed.
pub fn facts(raw: &[u8], envelope_from: Option<&str>, envelope_to: &[String]) -> mailroom_shared::rules::Facts {
    let headers = mailparse::parse_headers(raw).map(|(h, _)| h).unwrap_or_default();
    let addresses = |names: &[&str]| -> Vec<String> {
        headers
            .iter()
            .filter(|h| names.iter().any(|n| h.get_key_ref().eq_ignore_ascii_case(n)))
            .filter_map(|h| mailparse::addrparse_header(h).ok())
            .flat_map(|list| {
                list.iter()
                    .flat_map(|a| match a {
                        mailparse::MailAddr::Single(s) => vec![s.addr.clone()],
                        mailparse::MailAddr::Group(g) => g.addrs.iter().map(|s| s.addr.clone()).collect(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let mut senders: Vec<String> = envelope_from.into_iter().map(str::to_owned).collect();
    senders.extend(addresses(&["From"]));
    let mut recipients = envelope_to.to_vec();
    recipients.extend(addresses(&["To", "Cc"]));
    mailroom_shared::rules::Facts {
        senders,
        recipients,
        subject: headers.get_first_value("Subject").unwrap_or_default(),
        headers: headers.iter().map(|h| (h.get_key(), h.get_value())).collect(),
        size: raw.len() as u64,
    }
}

/// Bare LFs (and bare CRs) become CRLF.
pub fn crlf(content: Vec<u8>) -> Vec<u8> {
    let bare = content.iter().enumerate().any(|(i, &b)| {
        (b == b'\n' && (i == 0 || content[i - 1] != b'\r')) || (b == b'\r' && content.get(i + 1) != Some(&b'\n'))
    });
    if !bare {
        return content;
    }
    let mut out = Vec::with_capacity(content.len() + content.len() / 32);
    let mut i = 0;
    while i < content.len() {
        match content[i] {
            b'\r' if content.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] =
        b"From: Alice Smith <alice@example.com>\r\nTo: bob@example.com, \"Carol\" <carol@example.com>\r\n\
Subject: =?utf-8?q?Caf=C3=A9?= plans\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Lunch   at noon\r\nsee you\r\n--b\r\nContent-Type: application/pdf; name=menu.pdf\r\n\
Content-Disposition: attachment; filename=menu.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n";

    #[test]
    fn summary_of_a_multipart_message() {
        let s = summarize(MIXED);
        assert_eq!(s.sender, "Alice Smith");
        assert_eq!(s.recipients, "bob@example.com, Carol");
        assert_eq!(s.subject, "Café plans");
        assert_eq!(s.sent_at, Some(1_793_700_000));
        assert!(s.has_attachments);
        assert_eq!(s.preview, "Lunch at noon see you");
        assert!(s.text.contains("see you"));
        assert!(
            s.text.contains("menu.pdf"),
            "attachment names are searchable: {:?}",
            s.text
        );
        assert!(s.sender_words.contains("alice@example.com") && s.sender_words.contains("alice example com"));
        assert!(s.recipient_words.contains("carol@example.com"));
    }

    #[test]
    fn html_only_message_is_summarised_as_text() {
        let raw =
            b"From: x@y\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>there</b> &amp; you</p><script>evil()</script>";
        let s = summarize(raw);
        assert_eq!(s.preview, "Hello there & you");
        assert!(!s.has_attachments);
    }

    #[test]
    fn garbage_never_fails() {
        for raw in [
            &b"\xff\xfe no headers at all"[..],
            b"",
            b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x",
        ] {
            let s = summarize(raw);
            assert!(s.subject.is_empty() && s.sender.is_empty());
        }
    }
}
