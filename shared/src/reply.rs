//! How a reply, reply-all or forward starts: recipients, subject,
//! threading headers and the quoted text.

use crate::dates::long_date;
use crate::dto::{Draft, MessageView};

/// What the compose form offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyMode {
    Reply,
    ReplyAll,
    Forward,
}

impl ReplyMode {
    pub fn parse(s: &str) -> Option<ReplyMode> {
        match s {
            "reply" => Some(ReplyMode::Reply),
            "all" => Some(ReplyMode::ReplyAll),
            "forward" => Some(ReplyMode::Forward),
            _ => None,
        }
    }
}

pub fn prefixed(prefix: &str, subject: &str) -> String {
    let lower = subject.to_lowercase();
    if lower.starts_with(&format!("{}:", prefix.to_lowercase())) {
        subject.to_owned()
    } else {
        format!("{prefix}: {subject}")
    }
}

/// The file name of a message forwarded as an attachment: its subject,
/// in characters every system takes, and `.eml`.
pub fn forwarded_file_name(subject: &str) -> String {
    let name: String = subject
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    match name.trim() {
        "" => "message.eml".to_owned(),
        name => format!("{name}.eml"),
    }
}

/// The addresses of a header value, without `me`.
fn others(list: &str, me: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty() && !a.to_lowercase().contains(&me.to_lowercase()))
        .map(str::to_owned)
        .collect()
}

fn quoted(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| if l.is_empty() { ">".to_owned() } else { format!("> {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The draft that answers or forwards `original`, written by `me`.
pub fn draft_for(mode: ReplyMode, me: &str, original: &MessageView) -> Draft {
    let s = &original.summary;
    let date = long_date(s.date, &s.local);
    if mode == ReplyMode::Forward {
        return Draft {
            subject: prefixed("Fwd", &s.subject),
            body: format!(
                "\n\n---------- Forwarded message ----------\nFrom: {}\nDate: {date}\nSubject: {}\nTo: {}\n\n{}",
                original.from, s.subject, original.to, original.text
            ),
            ..Draft::default()
        };
    }
    let author = if original.reply_to.is_empty() {
        &original.from
    } else {
        &original.reply_to
    };
    let cc = match mode {
        ReplyMode::ReplyAll => {
            let mut all = others(&original.to, me);
            all.extend(others(&original.cc, me));
            all.retain(|a| a != author);
            all.join(", ")
        }
        _ => String::new(),
    };
    let references = [original.references.trim(), original.message_id.trim()]
        .iter()
        .filter(|r| !r.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    Draft {
        to: author.clone(),
        cc,
        subject: prefixed("Re", &s.subject),
        body: format!("\n\nOn {date}, {} wrote:\n{}\n", original.from, quoted(&original.text)),
        in_reply_to: original.message_id.clone(),
        references,
        ..Draft::default()
    }
}

/// Addresses the way people type them: `<bob@example.com>` (how a saved
/// message writes an address without a name) back to `bob@example.com`.
fn as_typed(list: &str) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| a.strip_prefix('<').and_then(|a| a.strip_suffix('>')).unwrap_or(a))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A saved draft as the compose form takes it up again: its recipients,
/// subject, text and threading (its attachments are carried by the form).
pub fn draft_again(saved: &MessageView) -> Draft {
    let from = saved.from.trim();
    let from = match from.rsplit_once('<') {
        Some((_, rest)) => rest.trim_end_matches('>').trim(),
        None => from,
    };
    Draft {
        from: from.to_owned(),
        to: as_typed(&saved.to),
        cc: as_typed(&saved.cc),
        bcc: as_typed(&saved.bcc),
        subject: saved.summary.subject.clone(),
        body: saved.text.clone(),
        in_reply_to: saved.in_reply_to.clone(),
        references: saved.references.clone(),
        attachments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::MessageSummary;

    fn original() -> MessageView {
        MessageView {
            uid: 4,
            summary: MessageSummary {
                uid: 4,
                seen: true,
                flagged: false,
                answered: false,
                draft: false,
                deleted: false,
                sender: "Bob".into(),
                recipients: String::new(),
                subject: "Lunch".into(),
                date: 0,
                size: 10,
                has_attachments: false,
                preview: String::new(),
                local: Default::default(),
                mailbox: None,
                assignee: None,
                status: Default::default(),
                thread: String::new(),
            },
            from: "Bob <bob@example.com>".into(),
            to: "alice@example.com, carol@example.com".into(),
            cc: "dave@example.com".into(),
            reply_to: String::new(),
            bcc: String::new(),
            message_id: "<m1@example.com>".into(),
            in_reply_to: "<m0@example.com>".into(),
            references: "<m0@example.com>".into(),
            text: "Noon?\n\nBob".into(),
            html: None,
            remote_images: false,
            attachments: Vec::new(),
            rights: Default::default(),
            team: Default::default(),
        }
    }

    #[test]
    fn reply_all_quotes_and_threads() {
        let d = draft_for(ReplyMode::ReplyAll, "alice@example.com", &original());
        assert_eq!(d.to, "Bob <bob@example.com>");
        assert_eq!(d.cc, "carol@example.com, dave@example.com");
        assert_eq!(d.subject, "Re: Lunch");
        assert_eq!(d.references, "<m0@example.com> <m1@example.com>");
        assert!(d.body.contains("> Noon?\n>\n> Bob"));
        let again = draft_for(
            ReplyMode::Reply,
            "alice@example.com",
            &MessageView {
                summary: MessageSummary {
                    subject: "RE: Lunch".into(),
                    ..original().summary
                },
                ..original()
            },
        );
        assert_eq!(again.subject, "RE: Lunch");
        assert!(again.cc.is_empty());
    }

    #[test]
    fn forward_carries_the_text() {
        let d = draft_for(ReplyMode::Forward, "alice@example.com", &original());
        assert!(d.to.is_empty());
        assert_eq!(d.subject, "Fwd: Lunch");
        assert!(d.body.contains("Forwarded message") && d.body.contains("Noon?"));
    }

    #[test]
    fn a_draft_comes_back_as_it_was_saved() {
        let d = draft_again(&MessageView {
            to: "<alice@example.com>, Carol <carol@example.com>".into(),
            ..original()
        });
        assert_eq!(d.to, "alice@example.com, Carol <carol@example.com>");
        assert_eq!(d.cc, "dave@example.com");
        assert_eq!(d.subject, "Lunch");
        assert_eq!(d.body, "Noon?\n\nBob");
        assert_eq!(
            (d.in_reply_to.as_str(), d.references.as_str()),
            ("<m0@example.com>", "<m0@example.com>")
        );
    }
}
