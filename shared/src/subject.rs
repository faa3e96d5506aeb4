//! Subjects as conversations see them: the base subject of RFC 5256
//! §2.1, which IMAP SORT and THREAD use and the web groups by.

/// The base subject (RFC 5256 §2.1) of a decoded subject: without
/// `Re:`, `Fwd:`, `[list]` blobs, `(fwd)` trailers and `[fwd: …]`
/// wrappers, whitespace collapsed.
pub fn base_subject(subject: &str) -> String {
    let mut s: String = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    loop {
        // (2) trailers
        loop {
            let trimmed = s.trim_end();
            let lower = trimmed.to_ascii_lowercase();
            if lower.ends_with("(fwd)") {
                s = trimmed[..trimmed.len() - 5].to_owned();
            } else {
                s = trimmed.to_owned();
                break;
            }
        }
        // (3)–(5) leaders and blobs
        loop {
            let before = s.clone();
            s = strip_leader(&s);
            if let Some(rest) = strip_blob(&s)
                && !rest.is_empty()
            {
                s = rest;
            }
            if s == before {
                break;
            }
        }
        // (6) `[fwd: … ]`
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("[fwd:") && s.ends_with(']') {
            s = s[5..s.len() - 1].trim().to_owned();
            continue;
        }
        return s;
    }
}

/// `[blob]` and the whitespace after it, when the text starts with one.
pub fn strip_blob(s: &str) -> Option<String> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes()[end] != b']' {
        return None;
    }
    Some(rest[end + 1..].trim_start().to_owned())
}

/// One `*blob ("re" / "fw" / "fwd") *WSP [blob] ":"` leader.
fn strip_leader(s: &str) -> String {
    let mut rest = s.trim_start().to_owned();
    while let Some(after) = strip_blob(&rest) {
        rest = after;
    }
    let lower = rest.to_ascii_lowercase();
    let word = ["re", "fwd", "fw"].into_iter().find(|w| lower.starts_with(w));
    let Some(word) = word else { return s.to_owned() };
    let mut after = rest[word.len()..].trim_start().to_owned();
    if let Some(b) = strip_blob(&after) {
        after = b;
    }
    match after.strip_prefix(':') {
        Some(done) => done.trim_start().to_owned(),
        None => s.to_owned(),
    }
}
