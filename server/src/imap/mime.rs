//! What FETCH and SEARCH need from a message's MIME structure: ENVELOPE,
//! BODY/BODYSTRUCTURE, body sections by part number, and decoded text.
//!
//! Parsing is mailparse's (the only MIME parser kept in one place, so it
//! can be swapped); mailparse does not descend into `message/rfc822`
//! parts, so this module parses their bodies itself. Messages are stored
//! with CRLF line ends, so byte ranges here are what clients receive.

use base64::Engine;
use mailparse::{MailHeaderMap, ParsedMail};

use super::address::{self, Entry};
use super::command::{Section, SectionText};
use super::response::{nstring, string};

/// Nesting deeper than this is not described (a hostile message cannot
/// make the server recurse without end).
const MAX_DEPTH: usize = 32;

/// A part's header block (with its final blank line) and its body.
#[derive(Clone, Copy)]
struct Part<'a> {
    header: &'a [u8],
    body: &'a [u8],
}

fn split(raw: &[u8]) -> Part<'_> {
    let at = match mailparse::parse_headers(raw) {
        Ok((_, offset)) => offset.min(raw.len()),
        Err(_) => 0,
    };
    Part {
        header: &raw[..at],
        body: &raw[at..],
    }
}

/// Parses a message leniently: a message mailparse refuses is treated
/// as a body without headers.
fn parse(raw: &[u8]) -> Option<ParsedMail<'_>> {
    mailparse::parse_mail(raw).ok()
}

fn is_message(mail: &ParsedMail) -> bool {
    mail.ctype.mimetype.eq_ignore_ascii_case("message/rfc822")
}

/// The bytes of a body section (RFC 3501 §6.4.5), or `None` when the
/// message has no such part.
pub fn section(raw: &[u8], section: &Section) -> Option<Vec<u8>> {
    if section.part.is_empty() {
        return Some(message_text(raw, section.text.as_ref()));
    }
    let mail = parse(raw)?;
    let (part_raw, part_is_message) = locate(&mail, &section.part, 0)?;
    let part = split(part_raw);
    match &section.text {
        None => Some(part.body.to_vec()),
        Some(SectionText::Mime) => Some(part.header.to_vec()),
        Some(text) if part_is_message => Some(message_text(part.body, Some(text))),
        Some(_) => None,
    }
}

/// A part with its Content-Transfer-Encoding undone (RFC 3516 BINARY):
/// `Ok(None)` when there is no such part, `Err` when its encoding is not
/// one this server can undo. A multipart or message part, and the whole
/// message, come as they are.
pub fn binary(raw: &[u8], part: &[u32]) -> Result<Option<Vec<u8>>, String> {
    if part.is_empty() {
        return Ok(Some(raw.to_vec()));
    }
    let Some(mail) = parse(raw) else { return Ok(None) };
    let Some((part_raw, is_message)) = locate(&mail, part, 0) else {
        return Ok(None);
    };
    let Some(parsed) = parse(part_raw) else { return Ok(None) };
    if is_message || !parsed.subparts.is_empty() {
        return Ok(Some(split(part_raw).body.to_vec()));
    }
    let encoding = parsed
        .headers
        .get_first_value("Content-Transfer-Encoding")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        encoding.as_str(),
        "" | "7bit" | "8bit" | "binary" | "base64" | "quoted-printable"
    ) {
        return Err(format!("[UNKNOWN-CTE] cannot decode {encoding}"));
    }
    Ok(Some(parsed.get_body_raw().unwrap_or_default()))
}

/// A message whose parts say `Content-Transfer-Encoding: binary` (as a
/// BINARY APPEND may bring), with those parts in base64 instead: stored
/// mail stays 7-bit-safe for every client. `None` when there is none.
pub fn binary_parts_to_base64(raw: &[u8]) -> Option<Vec<u8>> {
    let mail = parse(raw)?;
    let mut leaves: Vec<(usize, usize)> = Vec::new();
    collect_binary_leaves(&mail, raw, &mut leaves, 0);
    if leaves.is_empty() {
        return None;
    }
    let mut out = raw.to_vec();
    for (start, end) in leaves.into_iter().rev() {
        let part = split(&raw[start..end]);
        let mut replaced = Vec::with_capacity(part.body.len() * 4 / 3 + part.header.len() + 64);
        for line in header_lines(part.header) {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            if name.trim_ascii().eq_ignore_ascii_case(b"Content-Transfer-Encoding") {
                replaced.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n");
            } else {
                replaced.extend_from_slice(line);
            }
        }
        replaced.extend_from_slice(b"\r\n");
        let encoded = base64::engine::general_purpose::STANDARD.encode(part.body);
        for chunk in encoded.as_bytes().chunks(76) {
            replaced.extend_from_slice(chunk);
            replaced.extend_from_slice(b"\r\n");
        }
        out.splice(start..end, replaced);
    }
    Some(out)
}

/// The byte ranges, within `raw`, of the leaf parts in binary encoding.
fn collect_binary_leaves(mail: &ParsedMail, raw: &[u8], out: &mut Vec<(usize, usize)>, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if !mail.subparts.is_empty() {
        for part in &mail.subparts {
            collect_binary_leaves(part, raw, out, depth + 1);
        }
        return;
    }
    let binary = mail
        .headers
        .get_first_value("Content-Transfer-Encoding")
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("binary"));
    let start = (mail.raw_bytes.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    let end = start.wrapping_add(mail.raw_bytes.len());
    if binary && start <= end && end <= raw.len() {
        out.push((start, end));
    }
}

/// HEADER, HEADER.FIELDS, TEXT or the whole of a message.
fn message_text(raw: &[u8], text: Option<&SectionText>) -> Vec<u8> {
    let part = split(raw);
    match text {
        None | Some(SectionText::Mime) => raw.to_vec(),
        Some(SectionText::Header) => part.header.to_vec(),
        Some(SectionText::Text) => part.body.to_vec(),
        Some(SectionText::HeaderFields { not, fields }) => header_fields(part.header, fields, *not),
    }
}

/// The raw bytes of part `path` and whether it is a `message/rfc822`.
fn locate<'a>(mail: &ParsedMail<'a>, path: &[u32], depth: usize) -> Option<(&'a [u8], bool)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (&first, rest) = path.split_first()?;
    let index = usize::try_from(first).ok()?.checked_sub(1)?;
    let part = if mail.subparts.is_empty() {
        // A single-part message's only part is part 1: its body.
        if index != 0 {
            return None;
        }
        if rest.is_empty() {
            return Some((mail.raw_bytes, is_message(mail)));
        }
        if !is_message(mail) {
            return None;
        }
        let inner = parse(split(mail.raw_bytes).body)?;
        return locate(&inner, rest, depth + 1);
    } else {
        mail.subparts.get(index)?
    };
    if rest.is_empty() {
        return Some((part.raw_bytes, is_message(part)));
    }
    if is_message(part) {
        let inner = parse(split(part.raw_bytes).body)?;
        // `2.1` of a message/rfc822 part is part 1 of the inner message.
        return locate(&inner, rest, depth + 1);
    }
    locate(part, rest, depth + 1)
}

/// The header lines (with continuations) named in `fields`, or all but
/// those with `not`, then the blank line.
fn header_fields(header: &[u8], fields: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in header_lines(header) {
        let name = field.split(|&b| b == b':').next().unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        let listed = fields.iter().any(|f| f.eq_ignore_ascii_case(name.trim()));
        if listed != not {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Each header field with its continuation lines, CRLF included.
fn header_lines(header: &[u8]) -> Vec<&[u8]> {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    while pos < header.len() {
        let end = header[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(header.len(), |i| pos + i + 1);
        let line = &header[pos..end];
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation && pos > start {
            fields.push(&header[start..pos]);
            start = pos;
        }
        if line == b"\r\n" || line == b"\n" {
            start = end;
        }
        pos = end;
    }
    if start < header.len() {
        fields.push(&header[start..]);
    }
    fields
}

/// ENVELOPE (RFC 3501 §7.4.2).
pub fn envelope(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match parse(raw) {
        Some(mail) => write_envelope(&mut out, &mail),
        None => out.extend_from_slice(b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"),
    }
    out
}

fn write_envelope(out: &mut Vec<u8>, mail: &ParsedMail) {
    let raw = |name: &str| mail.headers.get_first_header(name).map(|h| unfold(h.get_value_raw()));
    out.push(b'(');
    nstring(out, raw("Date").as_deref());
    out.push(b' ');
    nstring(out, raw("Subject").as_deref());
    let from = addresses(mail, "From");
    for (name, fallback) in [
        ("From", None),
        ("Sender", Some(&from)),
        ("Reply-To", Some(&from)),
        ("To", None),
        ("Cc", None),
        ("Bcc", None),
    ] {
        out.push(b' ');
        let list = addresses(mail, name);
        let list = if list.is_empty() {
            fallback.unwrap_or(&list)
        } else {
            &list
        };
        write_addresses(out, list);
    }
    out.push(b' ');
    nstring(out, raw("In-Reply-To").as_deref());
    out.push(b' ');
    nstring(out, raw("Message-ID").as_deref());
    out.push(b')');
}

/// Header folding removed: ENVELOPE fields are single lines.
fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    while out.last().is_some_and(|b| b.is_ascii_whitespace()) {
        out.pop();
    }
    out
}

fn addresses(mail: &ParsedMail, header: &str) -> Vec<Entry> {
    mail.headers
        .get_all_headers(header)
        .iter()
        .flat_map(|h| address::parse(&unfold(h.get_value_raw())))
        .collect()
}

fn write_addresses(out: &mut Vec<u8>, list: &[Entry]) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for entry in list {
        match entry {
            Entry::Person(a) => {
                out.push(b'(');
                nstring(out, a.name.as_deref());
                out.push(b' ');
                nstring(out, a.route.as_deref());
                out.push(b' ');
                string(out, &a.mailbox);
                out.push(b' ');
                nstring(out, a.host.as_deref());
                out.push(b')');
            }
            Entry::GroupStart(name) => {
                out.extend_from_slice(b"(NIL NIL ");
                string(out, name);
                out.extend_from_slice(b" NIL)");
            }
            Entry::GroupEnd => out.extend_from_slice(b"(NIL NIL NIL NIL)"),
        }
    }
    out.push(b')');
}

/// BODYSTRUCTURE (`extended`) or BODY (RFC 3501 §7.4.2).
pub fn body_structure(raw: &[u8], extended: bool) -> Vec<u8> {
    let mut out = Vec::new();
    match parse(raw) {
        Some(mail) => write_structure(&mut out, &mail, extended, 0),
        None => out.extend_from_slice(b"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)"),
    }
    out
}

fn write_structure(out: &mut Vec<u8>, mail: &ParsedMail, extended: bool, depth: usize) {
    let (kind, subtype) = mail.ctype.mimetype.split_once('/').unwrap_or(("text", "plain"));
    if !mail.subparts.is_empty() && depth < MAX_DEPTH {
        out.push(b'(');
        for part in &mail.subparts {
            write_structure(out, part, extended, depth + 1);
        }
        out.push(b' ');
        string(out, subtype.to_ascii_uppercase().as_bytes());
        if extended {
            out.push(b' ');
            write_params(out, mail, false);
            write_extension(out, mail);
        }
        out.push(b')');
        return;
    }
    let body = split(mail.raw_bytes).body;
    out.push(b'(');
    string(out, kind.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    string(out, subtype.to_ascii_uppercase().as_bytes());
    out.push(b' ');
    write_params(out, mail, kind.eq_ignore_ascii_case("text"));
    for header in ["Content-ID", "Content-Description"] {
        out.push(b' ');
        let value = mail.headers.get_first_header(header).map(|h| unfold(h.get_value_raw()));
        nstring(out, value.as_deref());
    }
    out.push(b' ');
    let encoding = mail
        .headers
        .get_first_value("Content-Transfer-Encoding")
        .map_or_else(|| "7BIT".to_owned(), |e| e.trim().to_ascii_uppercase());
    string(out, encoding.as_bytes());
    out.extend_from_slice(format!(" {}", body.len()).as_bytes());
    let lines = body.iter().filter(|&&b| b == b'\n').count();
    if is_message(mail) && depth < MAX_DEPTH {
        match parse(body) {
            Some(inner) => {
                out.push(b' ');
                write_envelope(out, &inner);
                out.push(b' ');
                write_structure(out, &inner, extended, depth + 1);
            }
            None => out.extend_from_slice(b" (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) NIL"),
        }
        out.extend_from_slice(format!(" {lines}").as_bytes());
    } else if kind.eq_ignore_ascii_case("text") {
        out.extend_from_slice(format!(" {lines}").as_bytes());
    }
    if extended {
        out.push(b' ');
        let md5 = mail
            .headers
            .get_first_header("Content-MD5")
            .map(|h| unfold(h.get_value_raw()));
        nstring(out, md5.as_deref());
        write_extension(out, mail);
    }
    out.push(b')');
}

/// `("CHARSET" "UTF-8" …)` or NIL; text parts without a charset get
/// US-ASCII, as RFC 2045 says.
fn write_params(out: &mut Vec<u8>, mail: &ParsedMail, text: bool) {
    let mut params: Vec<(String, String)> = mail
        .ctype
        .params
        .iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
        .collect();
    params.sort();
    if text && !params.iter().any(|(k, _)| k == "CHARSET") {
        params.insert(0, ("CHARSET".into(), "US-ASCII".into()));
    }
    write_pairs(out, &params);
}

/// A parameter value as 7-bit text: mailparse decodes RFC 2231 values,
/// and IMAP clients expect them encoded, so non-ASCII is encoded again.
fn encoded_word(text: &str) -> Vec<u8> {
    if text.is_ascii() {
        return text.as_bytes().to_vec();
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    format!("=?utf-8?b?{b64}?=").into_bytes()
}

fn write_pairs(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, k.as_bytes());
        out.push(b' ');
        string(out, &encoded_word(v));
    }
    out.push(b')');
}

/// Disposition, language and location (BODYSTRUCTURE's extension data).
fn write_extension(out: &mut Vec<u8>, mail: &ParsedMail) {
    out.push(b' ');
    match mail.headers.get_first_value("Content-Disposition") {
        Some(value) => {
            let dsp = mailparse::parse_content_disposition(&value);
            let kind = match &dsp.disposition {
                mailparse::DispositionType::Inline => "INLINE".to_owned(),
                mailparse::DispositionType::Attachment => "ATTACHMENT".to_owned(),
                mailparse::DispositionType::FormData => "FORM-DATA".to_owned(),
                mailparse::DispositionType::Extension(other) => other.to_ascii_uppercase(),
            };
            out.push(b'(');
            string(out, kind.as_bytes());
            out.push(b' ');
            let mut params: Vec<(String, String)> = dsp
                .params
                .iter()
                .map(|(k, v)| (k.to_ascii_uppercase(), v.clone()))
                .collect();
            params.sort();
            write_pairs(out, &params);
            out.push(b')');
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    let language = mail
        .headers
        .get_first_header("Content-Language")
        .map(|h| unfold(h.get_value_raw()));
    nstring(out, language.as_deref());
    out.push(b' ');
    let location = mail
        .headers
        .get_first_header("Content-Location")
        .map(|h| unfold(h.get_value_raw()));
    nstring(out, location.as_deref());
}

/// The decoded text SEARCH looks in.
pub struct Searchable {
    /// Each header as (lower-case name, decoded value in lower case).
    pub headers: Vec<(String, String)>,
    /// The decoded text of the message's text parts, in lower case.
    /// Lower-cased once here, not once per search key: a SEARCH with a
    /// hundred keys must not fold a large body a hundred times.
    pub body: String,
    /// The Date header's calendar day, as days since 1970-01-01.
    pub sent_day: Option<i64>,
}

/// Decodes a message for SEARCH: header values with their encoded words
/// decoded, text parts with their transfer encoding and charset undone.
pub fn searchable(raw: &[u8]) -> Searchable {
    let Some(mail) = parse(raw) else {
        return Searchable {
            headers: Vec::new(),
            body: String::from_utf8_lossy(raw).to_lowercase(),
            sent_day: None,
        };
    };
    let headers = mail
        .headers
        .iter()
        .map(|h| {
            let name = h.get_key().to_ascii_lowercase();
            // Addresses as written out again: comments and quoting gone,
            // every member of every group there (RFC 3501 FROM/TO/CC/BCC).
            let value = if matches!(name.as_str(), "from" | "to" | "cc" | "bcc" | "sender" | "reply-to") {
                address::render(&address::parse(&unfold(h.get_value_raw())))
            } else {
                h.get_value()
            };
            (name, value.to_lowercase())
        })
        .collect();
    let mut body = String::new();
    collect_text(&mail, &mut body, 0);
    let body = body.to_lowercase();
    let sent_day = mail.headers.get_first_value("Date").and_then(|d| sent_day(&d));
    Searchable {
        headers,
        body,
        sent_day,
    }
}

fn collect_text(mail: &ParsedMail, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    if !mail.subparts.is_empty() {
        for part in &mail.subparts {
            collect_text(part, out, depth + 1);
        }
    } else if is_message(mail) {
        if let Some(inner) = parse(split(mail.raw_bytes).body) {
            for h in inner.headers.iter() {
                out.push_str(&h.get_value());
                out.push('\n');
            }
            collect_text(&inner, out, depth + 1);
        }
    } else if mail.ctype.mimetype.starts_with("text/")
        && let Ok(text) = mail.get_body()
    {
        out.push_str(&text);
        out.push('\n');
    }
}

/// The calendar day a Date header names, in the sender's own time zone
/// (SENTON and friends disregard time and zone, RFC 3501 §6.4.4).
fn sent_day(date: &str) -> Option<i64> {
    let utc = mailparse::dateparse(date).ok()?;
    let offset = zone_offset(date).unwrap_or(0);
    Some((utc + offset).div_euclid(86_400))
}

/// The `+hhmm`/`-hhmm` zone of a date, in seconds.
fn zone_offset(date: &str) -> Option<i64> {
    let zone = date
        .split_whitespace()
        .find(|w| w.len() == 5 && (w.starts_with('+') || w.starts_with('-')))?;
    let digits: i64 = zone[1..].parse().ok()?;
    let seconds = (digits / 100) * 3600 + (digits % 100) * 60;
    Some(if zone.starts_with('-') { -seconds } else { seconds })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: \"Alice A.\" <alice@example.org>\r\nTo: bob@example.org, Team: carol@example.org;\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\nMessage-ID: <1@example.org>\r\n\r\nHello\r\nworld\r\n";

    const MULTI: &[u8] = b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nEuro =E2=82=AC\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<p>inner body</p>\r\n--b1--\r\n";

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn envelope_has_every_field_and_groups() {
        let e = text(envelope(SIMPLE));
        assert!(
            e.starts_with("(\"Mon, 2 Nov 2026 10:00:00 +0100\" \"=?utf-8?q?Gr=C3=BC=C3=9Fe?=\" "),
            "{e}"
        );
        assert!(e.contains("((\"Alice A.\" NIL \"alice\" \"example.org\"))"), "{e}");
        assert!(
            e.contains("(NIL NIL \"Team\" NIL)(NIL NIL \"carol\" \"example.org\")(NIL NIL NIL NIL)"),
            "{e}"
        );
        assert!(e.ends_with(" NIL \"<1@example.org>\")"), "{e}");
    }

    #[test]
    fn structure_of_single_and_multipart_messages() {
        let s = text(body_structure(SIMPLE, false));
        assert_eq!(
            s,
            "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 14 2)"
        );
        let m = text(body_structure(MULTI, true));
        assert!(
            m.starts_with("((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\""),
            "{m}"
        );
        assert!(m.contains("(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\""), "{m}");
        assert!(m.contains("\"MIXED\" (\"BOUNDARY\" \"b1\")"), "{m}");
    }

    #[test]
    fn sections_by_part_number() {
        let get = |part: Vec<u32>, t: Option<SectionText>| section(MULTI, &Section { part, text: t }).map(text);
        assert_eq!(get(vec![1], None).unwrap().trim_end(), "Euro =E2=82=AC");
        assert!(
            get(vec![1], Some(SectionText::Mime))
                .unwrap()
                .starts_with("Content-Type: text/plain")
        );
        assert_eq!(get(vec![2, 1], None).unwrap().trim_end(), "<p>inner body</p>");
        assert_eq!(
            get(vec![2], Some(SectionText::Header)).unwrap(),
            "Subject: inner\r\nContent-Type: text/html\r\n\r\n"
        );
        assert_eq!(get(vec![3], None), None);
        let single = section(
            SIMPLE,
            &Section {
                part: vec![1],
                text: None,
            },
        )
        .map(text);
        assert_eq!(single.unwrap(), "Hello\r\nworld\r\n");
        let fields = SectionText::HeaderFields {
            not: false,
            fields: vec!["subject".into(), "To".into()],
        };
        let h = section(
            SIMPLE,
            &Section {
                part: vec![],
                text: Some(fields),
            },
        )
        .map(text)
        .unwrap();
        assert_eq!(
            h,
            "To: bob@example.org, Team: carol@example.org;\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n"
        );
    }

    #[test]
    fn search_text_is_decoded() {
        let s = searchable(MULTI);
        assert!(s.body.contains("euro €"), "{}", s.body);
        assert!(s.body.contains("inner body"));
        let simple = searchable(SIMPLE);
        assert!(simple.headers.iter().any(|(k, v)| k == "subject" && v == "grüße"));
        assert_eq!(simple.sent_day, Some(20_759));
    }

    #[test]
    fn binary_parts_become_base64_and_binary_undoes_encodings() {
        let raw =
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\x01\xff\r\n";
        let stored = binary_parts_to_base64(raw).expect("converted");
        assert!(text(stored.clone()).contains("Content-Transfer-Encoding: base64\r\n\r\nAAH/DQo=\r\n"));
        assert_eq!(binary(&stored, &[1]).unwrap().unwrap(), b"\x00\x01\xff\r\n");
        assert!(binary_parts_to_base64(b"Subject: plain\r\n\r\nhi\r\n").is_none());
        let odd = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n";
        assert!(binary(odd, &[1]).unwrap_err().starts_with("[UNKNOWN-CTE]"));
        assert_eq!(binary(odd, &[]).unwrap().unwrap(), odd);
        assert_eq!(binary(odd, &[7]).unwrap(), None);
    }

    #[test]
    fn hostile_nesting_is_cut_off() {
        let mut raw = Vec::new();
        for _ in 0..200 {
            raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        }
        raw.extend_from_slice(b"Subject: deep\r\n\r\nbody\r\n");
        let _ = body_structure(&raw, true);
        let _ = searchable(&raw);
        let deep = Section {
            part: vec![1; 100],
            text: None,
        };
        assert_eq!(section(&raw, &deep), None);
    }
}
