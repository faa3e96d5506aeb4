//! A stored message as the reader sees it in the browser.

use base64::Engine;
use mailroom_shared::dto::{AttachmentInfo, MessageSummary, MessageView};

use super::html::{self, InlineImages};
use super::{Leaf, first_text, header, leaves};

/// Inline images larger than this are offered as attachments only.
const MAX_INLINE_IMAGE: usize = 5 << 20;

/// The reading view of `raw`. `summary` is the message's line in the list.
pub fn view(raw: &[u8], summary: MessageSummary, allow_remote: bool) -> MessageView {
    let uid = summary.uid;
    let Ok(mail) = mailparse::parse_mail(raw) else {
        return MessageView {
            uid,
            text: String::from_utf8_lossy(raw).into_owned(),
            ..empty(summary)
        };
    };
    let leaves = leaves(&mail);
    let html_part = first_text(&leaves, "text/html");
    let text = first_text(&leaves, "text/plain")
        .or_else(|| html_part.as_deref().map(html::to_text))
        .unwrap_or_default();
    let (html, remote_images) = match html_part {
        Some(h) => {
            let (doc, blocked) = html::document(&h, &inline_images(&leaves), allow_remote);
            (Some(doc), blocked)
        }
        None => (None, false),
    };
    MessageView {
        uid,
        from: header(&mail, "From"),
        to: header(&mail, "To"),
        cc: header(&mail, "Cc"),
        reply_to: header(&mail, "Reply-To"),
        bcc: header(&mail, "Bcc"),
        message_id: header(&mail, "Message-ID"),
        in_reply_to: header(&mail, "In-Reply-To"),
        references: header(&mail, "References"),
        text,
        html,
        remote_images,
        attachments: attachments(&leaves),
        rights: Default::default(),
        team: Default::default(),
        summary,
    }
}

fn empty(summary: MessageSummary) -> MessageView {
    MessageView {
        uid: summary.uid,
        summary,
        from: String::new(),
        to: String::new(),
        cc: String::new(),
        reply_to: String::new(),
        bcc: String::new(),
        message_id: String::new(),
        in_reply_to: String::new(),
        references: String::new(),
        text: String::new(),
        html: None,
        remote_images: false,
        attachments: Vec::new(),
        rights: Default::default(),
        team: Default::default(),
    }
}

fn attachments(leaves: &[Leaf]) -> Vec<AttachmentInfo> {
    leaves
        .iter()
        .enumerate()
        .filter(|(_, l)| l.is_attachment())
        .map(|(i, l)| AttachmentInfo {
            index: i as u32,
            filename: l.filename.clone().unwrap_or_else(|| format!("part-{}", i + 1)),
            content_type: l.mimetype().to_owned(),
            size: l.part.get_body_raw().map_or(0, |b| b.len() as u32),
        })
        .collect()
}

/// Images with a Content-ID, for `cid:` references in the HTML.
fn inline_images(leaves: &[Leaf]) -> InlineImages {
    let b64 = base64::engine::general_purpose::STANDARD;
    leaves
        .iter()
        .filter(|l| l.mimetype().starts_with("image/"))
        .filter_map(|l| {
            let id = l.content_id()?;
            let bytes = l.part.get_body_raw().ok()?;
            (bytes.len() <= MAX_INLINE_IMAGE)
                .then(|| (id, format!("data:{};base64,{}", l.mimetype(), b64.encode(bytes))))
        })
        .collect()
}

/// A downloadable part: its file name, type and decoded bytes.
pub fn attachment(raw: &[u8], index: u32) -> Option<(String, String, Vec<u8>)> {
    let mail = mailparse::parse_mail(raw).ok()?;
    let leaves = leaves(&mail);
    let leaf = leaves.get(index as usize)?;
    let bytes = leaf.part.get_body_raw().ok()?;
    let name = leaf.filename.clone().unwrap_or_else(|| format!("part-{}", index + 1));
    Some((name, leaf.mimetype().to_owned(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(uid: u32) -> MessageSummary {
        MessageSummary {
            uid,
            seen: false,
            flagged: false,
            answered: false,
            draft: false,
            deleted: false,
            sender: String::new(),
            recipients: String::new(),
            subject: String::new(),
            date: 0,
            size: 0,
            has_attachments: false,
            preview: String::new(),
            local: Default::default(),
            mailbox: None,
            assignee: None,
            status: Default::default(),
            thread: String::new(),
        }
    }

    const RELATED: &[u8] = b"From: a@b\r\nTo: c@d\r\nSubject: pic\r\nContent-Type: multipart/related; boundary=r\r\n\r\n\
--r\r\nContent-Type: text/html\r\n\r\n<p>logo <img src=\"cid:logo@x\"></p>\r\n\
--r\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n\
--r\r\nContent-Type: text/csv; name=\"data.csv\"\r\nContent-Disposition: attachment; filename=\"data.csv\"\r\n\r\na,b\r\n--r--\r\n";

    #[test]
    fn cid_images_are_inlined_and_attachments_listed() {
        let v = view(RELATED, summary(7), false);
        let html = v.html.expect("html part");
        assert!(html.contains("src=\"data:image/png;base64,iVBORw==\""), "{html}");
        assert_eq!(v.text.trim(), "logo");
        let names: Vec<_> = v.attachments.iter().map(|a| (a.filename.as_str(), a.index)).collect();
        assert_eq!(names, [("data.csv", 2)]);
        let (name, ctype, bytes) = attachment(RELATED, 2).expect("attachment");
        assert_eq!(
            (name.as_str(), ctype.as_str(), bytes.as_slice()),
            ("data.csv", "text/csv", &b"a,b"[..])
        );
        assert!(attachment(RELATED, 9).is_none());
    }
}
