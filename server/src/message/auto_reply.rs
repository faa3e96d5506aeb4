//! Vacation replies (RFC 3834, and Sieve's vacation, RFC 5230): whom a
//! robot must never answer, and the answer itself.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::raw::Raw;
use mailparse::MailHeaderMap;

use super::compose::Sender;

/// Local parts that belong to robots and lists, never to a person who
/// wrote (RFC 5230 §4.6 lists the same kind).
const ROBOTS: [&str; 8] = [
    "mailer-daemon",
    "postmaster",
    "listserv",
    "majordomo",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
];

/// The address an automatic reply to this message goes to, or `None`
/// when the message must not be answered: no sender (a bounce), a robot's
/// or a list's address, mail that is itself automatic (`Auto-Submitted`),
/// bulk or list mail (`Precedence`, `List-*`).
pub fn answerable(raw: &[u8], envelope_from: Option<&str>) -> Option<String> {
    let sender = envelope_from?.trim().trim_matches(['<', '>']).to_ascii_lowercase();
    let (local, domain) = sender.split_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let robot = ROBOTS.contains(&local)
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
        || local.contains("+bounce");
    if robot {
        return None;
    }
    let (headers, _) = mailparse::parse_headers(raw).ok()?;
    let value = |name: &str| headers.get_first_value(name).map(|v| v.trim().to_ascii_lowercase());
    if value("Auto-Submitted").is_some_and(|v| v != "no") {
        return None;
    }
    if value("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "list" | "junk")) {
        return None;
    }
    if value("X-Auto-Response-Suppress").is_some_and(|v| v.contains("all") || v.contains("oof")) {
        return None;
    }
    let from_list = ["List-Id", "List-Unsubscribe", "List-Post", "List-Help"]
        .iter()
        .any(|name| headers.get_first_header(name).is_some());
    (!from_list).then_some(sender)
}

/// The reply `from` sends to `to` with `text`, answering `raw`.
pub fn reply(from: &Sender, to: &str, raw: &[u8], text: &str, date: i64, id_domain: &str) -> Result<Vec<u8>, String> {
    let (headers, _) = mailparse::parse_headers(raw).map_err(|e| e.to_string())?;
    let subject = headers.get_first_value("Subject").unwrap_or_default();
    let subject = subject.trim();
    let subject = match subject.is_empty() {
        true => "Automatic reply".to_owned(),
        false => format!("Auto: {subject}"),
    };
    let ids = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|id| id.trim_matches(['<', '>']).to_owned())
            .filter(|id| !id.is_empty())
            .collect()
    };
    let original = headers
        .get_first_value("Message-ID")
        .map(|m| ids(&m))
        .unwrap_or_default();
    let mut references = headers
        .get_first_value("References")
        .map(|r| ids(&r))
        .unwrap_or_default();
    references.extend(original.iter().cloned());
    let id = format!("{:016x}.{date}.auto@{id_domain}", rand::random::<u64>());
    let mut builder = MessageBuilder::new()
        .from(Address::new_address(
            Some(from.name.trim().to_owned()).filter(|n| !n.is_empty()),
            from.address.to_owned(),
        ))
        .to(Address::new_address(None::<String>, to.to_owned()))
        .subject(subject)
        .date(date)
        .message_id(id)
        .header("Auto-Submitted", Raw::new("auto-replied (vacation)"))
        .text_body(text.replace("\r\n", "\n"));
    if !original.is_empty() {
        builder = builder.in_reply_to(original);
    }
    if !references.is_empty() {
        builder = builder.references(references);
    }
    builder.write_to_vec().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: &[u8] =
        b"From: Carol <carol@example.org>\r\nSubject: Lunch?\r\nMessage-ID: <m1@example.org>\r\n\r\nHi";

    #[test]
    fn people_are_answered_robots_and_lists_are_not() {
        assert_eq!(
            answerable(PERSON, Some("Carol@Example.org")).as_deref(),
            Some("carol@example.org")
        );
        assert_eq!(answerable(PERSON, None), None, "a bounce has no sender");
        assert_eq!(answerable(PERSON, Some("")), None);
        for robot in [
            "MAILER-DAEMON@example.org",
            "owner-rust@lists.example",
            "rust-request@lists.example",
            "noreply@shop.example",
        ] {
            assert_eq!(answerable(PERSON, Some(robot)), None, "{robot}");
        }
        for header in [
            "Auto-Submitted: auto-replied",
            "Precedence: bulk",
            "Precedence: list",
            "List-Id: <rust.lists.example>",
            "List-Unsubscribe: <mailto:leave@lists.example>",
        ] {
            let raw = format!("{header}\r\n{}", String::from_utf8_lossy(PERSON));
            assert_eq!(answerable(raw.as_bytes(), Some("carol@example.org")), None, "{header}");
        }
        let written = format!("Auto-Submitted: no\r\n{}", String::from_utf8_lossy(PERSON));
        assert!(answerable(written.as_bytes(), Some("carol@example.org")).is_some());
    }

    #[test]
    fn the_reply_says_it_is_automatic_and_threads() {
        let from = Sender {
            name: "Alice",
            address: "alice@example.com",
        };
        let raw = reply(
            &from,
            "carol@example.org",
            PERSON,
            "Away until Monday.",
            1_800_000_000,
            "example.com",
        )
        .unwrap();
        let mail = mailparse::parse_mail(&raw).unwrap();
        let h = &mail.headers;
        assert_eq!(h.get_first_value("Subject").as_deref(), Some("Auto: Lunch?"));
        assert_eq!(
            h.get_first_value("Auto-Submitted").as_deref(),
            Some("auto-replied (vacation)")
        );
        assert_eq!(h.get_first_value("In-Reply-To").as_deref(), Some("<m1@example.org>"));
        assert_eq!(h.get_first_value("To").as_deref(), Some("<carol@example.org>"));
        assert!(mail.get_body().unwrap().contains("Away until Monday."));
        assert!(
            answerable(&raw, Some("alice@example.com")).is_none(),
            "a reply is never answered"
        );
    }
}
