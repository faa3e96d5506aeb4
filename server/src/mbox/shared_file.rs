//! An mbox file shared with other programs, as Mailroom reads and writes
//! it: each message with its exact bytes in the file (so rewriting keeps
//! what it does not change byte for byte), its flags from the `Status:`,
//! `X-Status:` and `X-Keywords:` headers mutt, pine and Dovecot use, and
//! its content as IMAP serves it — unquoted, without those headers (and
//! without `Content-Length:` and mutt's `Lines:`, which describe the file,
//! not the message), with CRLF line ends. Because neither the flags nor
//! those headers are part of the content, a program that only rewrites
//! flags leaves the content, and so the content's hash Mailroom keys UIDs
//! on, unchanged.
//!
//! Boundaries: a message starts at a `From ` line at the start of the file
//! or after an empty line; a `Content-Length:` header is followed when the
//! length it gives ends exactly at the end of the file or before an empty
//! line and the next `From ` line, and ignored otherwise.

use mailroom_shared::{Flags, SystemFlag};

use super::{format_asctime, is_quoted_from, read_from_line};

/// Headers that belong to the file, not to the message (`Lines:` is
/// what mutt adds when it rewrites a message, beside `Content-Length:`).
const FILE_HEADERS: [&str; 8] = [
    "status",
    "lines",
    "x-status",
    "x-keywords",
    "content-length",
    "x-uid",
    "x-imap",
    "x-imapbase",
];

/// One message of a shared mbox file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its bytes in the file: the `From ` line up to (not including) the
    /// next one, separator line included.
    pub start: usize,
    pub end: usize,
    pub sender: String,
    pub date: Option<i64>,
    pub flags: Flags,
    /// As IMAP serves it.
    pub content: Vec<u8>,
}

fn line_end(data: &[u8], from: usize) -> usize {
    data[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(data.len(), |i| from + i + 1)
}

/// Where the header block of a message starting at `start` (just after the
/// `From ` line) ends: after the empty line, or at the end of the data.
fn headers_end(data: &[u8], start: usize) -> usize {
    let mut at = start;
    while at < data.len() {
        let end = line_end(data, at);
        let line = &data[at..end];
        if line == b"\n" || line == b"\r\n" {
            return end;
        }
        at = end;
    }
    data.len()
}

fn header_name(line: &[u8]) -> Option<String> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = &line[..colon];
    (!name.is_empty() && name.iter().all(|b| b.is_ascii_graphic()))
        .then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// The header lines (with their continuation lines) between `from` and
/// `to`, as (lower-case name, whole field bytes).
fn fields(data: &[u8], from: usize, to: usize) -> Vec<(Option<String>, &[u8])> {
    let mut out: Vec<(Option<String>, &[u8])> = Vec::new();
    let mut at = from;
    let mut field_start = from;
    while at < to {
        let end = line_end(data, at).min(to);
        let line = &data[at..end];
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation && at > field_start {
            out.push((header_name(&data[field_start..at]), &data[field_start..at]));
            field_start = at;
        }
        at = end;
    }
    if to > field_start {
        out.push((header_name(&data[field_start..to]), &data[field_start..to]));
    }
    out
}

fn value(field: &[u8]) -> String {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(0);
    String::from_utf8_lossy(&field[colon + 1..]).trim().to_owned()
}

/// Flags from the file's status headers.
fn flags_of(status: &str, x_status: &str, keywords: &str) -> Flags {
    let mut flags = Flags::default();
    if status.contains('R') {
        flags.insert(SystemFlag::Seen);
    }
    for (letter, flag) in [
        ('A', SystemFlag::Answered),
        ('F', SystemFlag::Flagged),
        ('T', SystemFlag::Draft),
        ('D', SystemFlag::Deleted),
    ] {
        if x_status.contains(letter) {
            flags.insert(flag);
        }
    }
    let words = keywords.split([',', ' ']).filter(|w| !w.is_empty());
    flags.union(&Flags::parse(words.filter(|w| !w.starts_with('\\'))).unwrap_or_default())
}

/// The status headers for `flags`, as mutt writes them.
pub fn status_headers(flags: &Flags) -> Vec<u8> {
    let mut out = Vec::new();
    let seen = if flags.contains(SystemFlag::Seen) { "RO" } else { "O" };
    out.extend_from_slice(format!("Status: {seen}\n").as_bytes());
    let x: String = [
        ('A', SystemFlag::Answered),
        ('F', SystemFlag::Flagged),
        ('T', SystemFlag::Draft),
        ('D', SystemFlag::Deleted),
    ]
    .iter()
    .filter(|(_, f)| flags.contains(*f))
    .map(|(l, _)| *l)
    .collect();
    if !x.is_empty() {
        out.extend_from_slice(format!("X-Status: {x}\n").as_bytes());
    }
    let keywords: Vec<&str> = flags.keywords().collect();
    if !keywords.is_empty() {
        out.extend_from_slice(format!("X-Keywords: {}\n", keywords.join(" ")).as_bytes());
    }
    out
}

/// The end of a message whose body starts at `body`, by its
/// `Content-Length`, if that is consistent with the file.
fn by_content_length(data: &[u8], body: usize, length: Option<usize>) -> Option<usize> {
    let end = body.checked_add(length?)?;
    if end == data.len() {
        return Some(end);
    }
    let rest = data.get(end..)?;
    let next = if rest.starts_with(b"\n") {
        &rest[1..]
    } else if rest.starts_with(b"\r\n") {
        &rest[2..]
    } else {
        return None;
    };
    (next.is_empty() || next.starts_with(b"From ")).then_some(end + (rest.len() - next.len()))
}

/// Reads a shared mbox file. Lenient, as it must be with files other
/// programs write: bytes before the first `From ` line are skipped, and a
/// `From ` line without a readable date still starts a message.
pub fn parse(data: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0;
    // Find the first From line.
    while at < data.len() && !data[at..].starts_with(b"From ") {
        at = line_end(data, at);
    }
    while at < data.len() {
        let start = at;
        let from_end = line_end(data, start);
        let (sender, date) = read_from_line(&data[start..from_end]).unwrap_or_default();
        let head_end = headers_end(data, from_end);
        let header_fields = fields(data, from_end, head_end);
        let find = |name: &str| {
            header_fields
                .iter()
                .find(|(n, _)| n.as_deref() == Some(name))
                .map(|(_, f)| value(f))
                .unwrap_or_default()
        };
        let length = find("content-length").parse::<usize>().ok();
        let end = by_content_length(data, head_end, length).unwrap_or_else(|| next_from(data, head_end));
        let flags = flags_of(&find("status"), &find("x-status"), &find("x-keywords"));
        let mut content = Vec::with_capacity(end - from_end);
        for (name, field) in &header_fields {
            if !name.as_deref().is_some_and(|n| FILE_HEADERS.contains(&n)) {
                content.extend_from_slice(field);
            }
        }
        let mut body = &data[head_end.min(end)..end];
        // The empty line before the next From line is the file's.
        if end < data.len() || body.ends_with(b"\n\n") {
            body = body
                .strip_suffix(b"\r\n")
                .filter(|b| b.ends_with(b"\n"))
                .or_else(|| body.strip_suffix(b"\n").filter(|b| b.ends_with(b"\n")))
                .unwrap_or(body);
        }
        for line in body.split_inclusive(|&b| b == b'\n') {
            let unquoted = if line.starts_with(b">") && is_quoted_from(line) {
                &line[1..]
            } else {
                line
            };
            content.extend_from_slice(unquoted);
        }
        entries.push(Entry {
            start,
            end,
            sender,
            date,
            flags,
            content: crate::message::crlf(content),
        });
        at = end;
    }
    entries
}

/// The start of the next `From ` line after an empty line, from `at`.
fn next_from(data: &[u8], mut at: usize) -> usize {
    let mut previous_blank = false;
    while at < data.len() {
        let end = line_end(data, at);
        let line = &data[at..end];
        if previous_blank && line.starts_with(b"From ") {
            return at;
        }
        previous_blank = line == b"\n" || line == b"\r\n";
        at = end;
    }
    data.len()
}

/// An entry's bytes with its status headers replaced by those of `flags`
/// (everything else byte for byte).
pub fn with_flags(data: &[u8], entry: &Entry, flags: &Flags) -> Vec<u8> {
    let from_end = line_end(data, entry.start);
    let head_end = headers_end(data, from_end).min(entry.end);
    let mut out = Vec::with_capacity(entry.end - entry.start + 40);
    out.extend_from_slice(&data[entry.start..from_end]);
    let mut blank = &b""[..];
    for (name, field) in fields(data, from_end, head_end) {
        match name.as_deref() {
            Some("status" | "x-status" | "x-keywords") => {}
            None if field == b"\n" || field == b"\r\n" => blank = field,
            _ => out.extend_from_slice(field),
        }
    }
    out.extend_from_slice(&status_headers(flags));
    out.extend_from_slice(if blank.is_empty() { b"\n" } else { blank });
    out.extend_from_slice(&data[head_end..entry.end]);
    out
}

/// What must be written before a new entry so that the file's last
/// message ends with the empty line a `From ` line needs before it.
pub fn separator_before_append(file_end: &[u8]) -> &'static [u8] {
    if file_end.is_empty() || file_end.ends_with(b"\n\n") || file_end.ends_with(b"\r\n\r\n") {
        b""
    } else if file_end.ends_with(b"\n") {
        b"\n"
    } else {
        b"\n\n"
    }
}

/// A new entry for the end of the file: `From ` line, the message's
/// headers, status headers, body (mboxrd-quoted, LF line ends) and the
/// separating empty line. `content` is as stored (CRLF).
pub fn new_entry(sender: &str, date: i64, content: &[u8], flags: &Flags) -> Vec<u8> {
    let mut out = format!("From {sender} {}\n", format_asctime(date)).into_bytes();
    let mut in_headers = true;
    for line in content.split_inclusive(|&b| b == b'\n') {
        let text = line.strip_suffix(b"\r\n").or(line.strip_suffix(b"\n")).unwrap_or(line);
        if in_headers && text.is_empty() {
            out.extend_from_slice(&status_headers(flags));
            in_headers = false;
        } else if !in_headers && is_quoted_from(text) {
            out.push(b'>');
        }
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    if in_headers {
        out.extend_from_slice(&status_headers(flags));
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"From alice@example.com Sat Nov 28 13:53:08 2026\n\
Subject: one\n\
Status: RO\n\
X-Status: AF\n\
X-Keywords: Work\n\
\n\
Hello\n\
>From the start\n\
\n\
From bob@example.com Sat Nov 28 13:54:08 2026\n\
Subject: two\n\
Content-Length: 24\n\
\n\
body\n\
\n\
From inside, kept\n\
\n\
From carol@example.com Sat Nov 28 13:55:08 2026\n\
Subject: three\n\
\n\
last\n";

    #[test]
    fn messages_flags_and_content_length() {
        let entries = parse(FILE);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].content, b"Subject: one\r\n\r\nHello\r\nFrom the start\r\n");
        let f = &entries[0].flags;
        assert!(f.contains(SystemFlag::Seen) && f.contains(SystemFlag::Answered) && f.contains(SystemFlag::Flagged));
        assert!(f.has_keyword("Work"));
        assert_eq!(
            entries[1].content,
            b"Subject: two\r\n\r\nbody\r\n\r\nFrom inside, kept\r\n"
        );
        assert_eq!(entries[1].flags, Flags::default());
        assert_eq!(entries[2].content, b"Subject: three\r\n\r\nlast\r\n");
        assert_eq!(entries[2].sender, "carol@example.com");
        assert_eq!(entries.last().unwrap().end, FILE.len());
        assert_eq!(entries[1].start, entries[0].end);
    }

    #[test]
    fn an_inconsistent_content_length_is_ignored() {
        let file = b"From a Sat Nov 28 13:53:08 2026\nContent-Length: 3\n\nbody text\n\nFrom b Sat Nov 28 13:53:08 2026\n\nx\n";
        let entries = parse(file);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].content, b"\r\nbody text\r\n");
    }

    #[test]
    fn flags_are_rewritten_and_nothing_else() {
        let entries = parse(FILE);
        let mut flags = Flags::default();
        flags.insert(SystemFlag::Deleted);
        let rewritten = with_flags(FILE, &entries[1], &flags);
        let expected: &[u8] = b"From bob@example.com Sat Nov 28 13:54:08 2026\nSubject: two\nContent-Length: 24\nStatus: O\nX-Status: D\n\nbody\n\nFrom inside, kept\n\n";
        assert_eq!(String::from_utf8_lossy(&rewritten), String::from_utf8_lossy(expected));
        let again = parse(&rewritten);
        assert_eq!(again[0].flags, flags);
        assert_eq!(
            again[0].content, entries[1].content,
            "the content changed with the flags"
        );
        // Unchanged flags on the first entry: same bytes apart from order.
        let first = with_flags(FILE, &entries[0], &entries[0].flags);
        assert_eq!(
            parse(&first)[0],
            Entry {
                end: first.len(),
                ..entries[0].clone()
            }
        );
    }

    #[test]
    fn new_entries_quote_and_round_trip() {
        let mut flags = Flags::default();
        flags.insert(SystemFlag::Seen);
        let content = b"Subject: hi\r\n\r\nFrom me\r\n>From you\r\n";
        let entry = new_entry("x@y", 0, content, &flags);
        assert!(
            entry.ends_with(b"\n>From me\n>>From you\n\n"),
            "{}",
            String::from_utf8_lossy(&entry)
        );
        let mut file = FILE.to_vec();
        file.extend_from_slice(separator_before_append(&file));
        file.extend_from_slice(&entry);
        let entries = parse(&file);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[3].content, content);
        assert_eq!(entries[3].flags, flags);
    }

    #[test]
    fn garbage_before_the_first_message_is_skipped() {
        assert!(parse(b"").is_empty());
        assert!(parse(b"no mbox at all\n").is_empty());
        let entries = parse(b"junk\nFrom a Sat Nov 28 13:53:08 2026\n\nx\n");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].start, 5);
    }
}
