//! New messages written in the browser, built with mail-builder (which
//! encodes headers and bodies and keeps line lengths legal).

use base64::Engine;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mailroom_shared::dto::Draft;

/// A message ready to store and deliver.
pub struct Composed {
    /// What the recipients get (no Bcc header).
    pub bytes: Vec<u8>,
    /// The sender's own copy, for Sent: the same message with its Bcc
    /// header, so the sender sees whom they sent it to blind.
    pub sent_copy: Vec<u8>,
    /// Every address of To, Cc and Bcc.
    pub recipients: Vec<String>,
}

/// The addresses of a To/Cc field (`a@x, "B" <b@y>`), or what is wrong
/// with it.
pub fn parse_recipients(field: &str) -> Result<Vec<(Option<String>, String)>, String> {
    if field.trim().is_empty() {
        return Ok(Vec::new());
    }
    let list = mailparse::addrparse(field).map_err(|e| format!("cannot read the addresses {field:?}: {e}"))?;
    let mut out = Vec::new();
    for addr in list.iter() {
        match addr {
            mailparse::MailAddr::Single(s) => out.push((s.display_name.clone(), s.addr.clone())),
            mailparse::MailAddr::Group(g) => {
                out.extend(g.addrs.iter().map(|s| (s.display_name.clone(), s.addr.clone())));
            }
        }
    }
    for (_, addr) in &out {
        let valid = addr
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty());
        if !valid {
            return Err(format!("{addr:?} is not an e-mail address"));
        }
    }
    Ok(out)
}

fn address_list(list: &[(Option<String>, String)]) -> Address<'static> {
    Address::new_list(
        list.iter()
            .map(|(name, addr)| Address::new_address(name.clone(), addr.clone()))
            .collect(),
    )
}

/// Who a message is from: an address of theirs and their name.
pub struct Sender<'a> {
    pub name: &'a str,
    pub address: &'a str,
}

/// Builds the message `from` sends. `id_domain` names the server in the
/// new Message-ID. Bcc recipients are among the recipients, never in
/// the message.
pub fn compose(from: &Sender, draft: &Draft, date: i64, id_domain: &str) -> Result<Composed, String> {
    let id = message_id(date, id_domain);
    let mut composed = build(from, draft, date, &id, false, false)?;
    if !draft.bcc.trim().is_empty() {
        composed.sent_copy = build(from, draft, date, &id, false, true)?.bytes;
    }
    Ok(composed)
}

fn message_id(date: i64, id_domain: &str) -> String {
    format!("{:016x}.{date}@{id_domain}", rand::random::<u64>())
}

/// Builds a draft to keep: like [`compose`], but with its Bcc header, so
/// the draft opens again with them, and with an address field that is not
/// (yet) valid kept as typed — a draft must never be lost to a typo.
pub fn compose_draft(from: &Sender, draft: &Draft, date: i64, id_domain: &str) -> Result<Composed, String> {
    build(from, draft, date, &message_id(date, id_domain), true, true)
}

/// The message: with `keeping`, address fields that do not parse are kept
/// as typed (a draft); with `with_bcc`, the Bcc header is written.
fn build(from: &Sender, draft: &Draft, date: i64, id: &str, keeping: bool, with_bcc: bool) -> Result<Composed, String> {
    let mut as_typed = Vec::new();
    let mut field = |name: &'static str, text: &str| match parse_recipients(text) {
        Err(_) if keeping => {
            // On one line, so nothing typed can add a header.
            as_typed.push((name, text.replace(['\r', '\n'], " ")));
            Ok(Vec::new())
        }
        parsed => parsed,
    };
    let to = field("To", &draft.to)?;
    let cc = field("Cc", &draft.cc)?;
    let bcc = field("Bcc", &draft.bcc)?;
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(
            Some(from.name.trim().to_owned()).filter(|n| !n.is_empty()),
            from.address.to_owned(),
        ))
        .subject(draft.subject.clone())
        .date(date)
        .message_id(id.to_owned())
        .text_body(draft.body.replace("\r\n", "\n"));
    if !to.is_empty() {
        builder = builder.to(address_list(&to));
    }
    if !cc.is_empty() {
        builder = builder.cc(address_list(&cc));
    }
    if with_bcc && !bcc.is_empty() {
        builder = builder.bcc(address_list(&bcc));
    }
    for (name, text) in as_typed {
        builder = builder.header(name, mail_builder::headers::raw::Raw::new(text));
    }
    let ids = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|id| id.trim_matches(['<', '>']).to_owned())
            .filter(|id| !id.is_empty())
            .collect()
    };
    let in_reply_to = ids(&draft.in_reply_to);
    if !in_reply_to.is_empty() {
        builder = builder.in_reply_to(in_reply_to);
    }
    let references = ids(&draft.references);
    if !references.is_empty() {
        builder = builder.references(references);
    }
    for a in &draft.attachments {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.data.trim())
            .map_err(|_| format!("the attachment {} is not valid base64", a.filename))?;
        let ctype = if a.content_type.contains('/') && !a.content_type.contains(['\r', '\n', ';']) {
            a.content_type.clone()
        } else {
            "application/octet-stream".to_owned()
        };
        let filename = a.filename.replace(['\r', '\n', '"'], "_");
        if ctype == "message/rfc822" {
            // A message forwarded whole: sent as it is (RFC 2046 allows a
            // message/rfc822 part no encoding but 7bit, 8bit or binary).
            let part = mail_builder::mime::MimePart::new(ctype, bytes)
                .attachment(filename)
                .transfer_encoding("8bit");
            builder.attachments.get_or_insert_with(Vec::new).push(part);
            continue;
        }
        builder = builder.attachment(ctype, filename, bytes);
    }
    let bytes = builder.write_to_vec().map_err(|e| e.to_string())?;
    let recipients = to.into_iter().chain(cc).chain(bcc).map(|(_, a)| a).collect();
    Ok(Composed {
        sent_copy: bytes.clone(),
        bytes,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailroom_shared::dto::DraftAttachment;

    const ALICE: Sender = Sender {
        name: "Alice Smith",
        address: "alice@example.com",
    };

    #[test]
    fn composes_a_reply_with_an_attachment() {
        let draft = Draft {
            from: String::new(),
            to: "Bob <bob@example.com>, carol@example.com".into(),
            cc: String::new(),
            subject: "Re: Café\r\nBcc: injected@evil".into(),
            body: "Thanks!\n".into(),
            bcc: "hidden@example.com".into(),
            in_reply_to: "<orig@example.com>".into(),
            references: "<first@example.com> <orig@example.com>".into(),
            attachments: vec![DraftAttachment {
                filename: "notes.txt".into(),
                content_type: "text/plain".into(),
                data: "aGVsbG8=".into(),
            }],
        };
        let c = compose(&ALICE, &draft, 1_800_000_000, "example.com").expect("composed");
        assert_eq!(
            c.recipients,
            ["bob@example.com", "carol@example.com", "hidden@example.com"]
        );
        let mail = mailparse::parse_mail(&c.bytes).expect("parses");
        use mailparse::MailHeaderMap;
        assert_eq!(
            mail.headers.get_first_value("From").as_deref(),
            Some("\"Alice Smith\" <alice@example.com>")
        );
        assert_eq!(
            mail.headers.get_first_value("In-Reply-To").as_deref(),
            Some("<orig@example.com>")
        );
        assert!(
            mail.headers.get_first_value("Bcc").is_none(),
            "header injection, or Bcc sent"
        );
        // The sender's own copy names the Bcc recipients; it is the same
        // message otherwise.
        let own = mailparse::parse_mail(&c.sent_copy).expect("parses");
        assert_eq!(own.headers.get_all_values("Bcc"), ["<hidden@example.com>"]);
        assert_eq!(
            own.headers.get_first_value("Message-ID"),
            mail.headers.get_first_value("Message-ID")
        );
        let kept = compose_draft(&ALICE, &draft, 1_800_000_000, "example.com").expect("composed");
        let kept = mailparse::parse_mail(&kept.bytes).expect("parses");
        assert_eq!(kept.headers.get_all_values("Bcc"), ["<hidden@example.com>"]);
        let s = super::super::summarize(&c.bytes);
        assert!(s.has_attachments);
        assert!(s.text.contains("Thanks!"));
    }

    #[test]
    fn bad_addresses_are_refused() {
        assert!(parse_recipients("not an address").is_err());
        assert!(parse_recipients("").expect("empty is fine").is_empty());
    }

    #[test]
    fn a_draft_keeps_an_address_not_finished_yet() {
        let draft = Draft {
            to: "bob@".into(),
            cc: "carol@example.com".into(),
            bcc: "half\r\nX-Injected: yes".into(),
            ..Draft::default()
        };
        assert!(compose(&ALICE, &draft, 1_800_000_000, "example.com").is_err());
        let kept = compose_draft(&ALICE, &draft, 1_800_000_000, "example.com").expect("kept");
        let mail = mailparse::parse_mail(&kept.bytes).expect("parses");
        use mailparse::MailHeaderMap;
        assert_eq!(mail.headers.get_first_value("To").as_deref(), Some("bob@"));
        assert_eq!(
            mail.headers.get_first_value("Bcc").as_deref(),
            Some("half  X-Injected: yes")
        );
        assert!(mail.headers.get_first_value("X-Injected").is_none());
        assert_eq!(kept.recipients, ["carol@example.com"]);
    }
}
