//! Writing the values of IMAP responses (RFC 3501 §9): strings as atoms,
//! quoted strings or literals — whichever is safe for the bytes — and
//! mailbox names in modified UTF-7.

use mailroom_shared::Flags;

use super::utf7;

/// Appends `value` as an IMAP string: quoted when it is short printable
/// text, a literal otherwise (CR, LF, NUL, 8-bit, or long), so no value
/// can break out of its response line.
pub fn string(out: &mut Vec<u8>, value: &[u8]) {
    let quotable = value.len() <= 1024 && value.iter().all(|&b| (0x20..0x7f).contains(&b));
    if quotable {
        out.push(b'"');
        for &b in value {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", value.len()).as_bytes());
        out.extend_from_slice(value);
    }
}

/// A BINARY value (RFC 3516): a literal8 `~{n}` when it holds NUL, which
/// no other string form may carry; otherwise as [`string`].
pub fn binary(out: &mut Vec<u8>, value: &[u8]) {
    if value.contains(&0) {
        out.extend_from_slice(format!("~{{{}}}\r\n", value.len()).as_bytes());
        out.extend_from_slice(value);
    } else {
        string(out, value);
    }
}

/// Appends `value` as an astring: bare when it is an atom, else a string.
pub fn astring(out: &mut Vec<u8>, value: &[u8]) {
    let atom = !value.is_empty()
        && value
            .iter()
            .all(|&b| (0x21..0x7f).contains(&b) && !b"(){%*\"\\".contains(&b));
    if atom {
        out.extend_from_slice(value);
    } else {
        string(out, value);
    }
}

/// `NIL` or a string.
pub fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        Some(v) => string(out, v),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name as clients expect it: modified UTF-7, as an astring.
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    astring(out, utf7::encode(name).as_bytes());
}

/// `(\Seen $Work)`.
pub fn flags(out: &mut Vec<u8>, flags: &Flags) {
    out.push(b'(');
    out.extend_from_slice(flags.to_string().as_bytes());
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::super::syntax::Cursor;
    use super::*;

    fn written(f: impl Fn(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = Vec::new();
        f(&mut out);
        out
    }

    #[test]
    fn strings_take_the_safe_form() {
        assert_eq!(written(|o| string(o, b"hello")), b"\"hello\"");
        assert_eq!(written(|o| string(o, b"say \"hi\" \\o/")), b"\"say \\\"hi\\\" \\\\o/\"");
        assert_eq!(written(|o| string(o, b"two\r\nlines")), b"{10}\r\ntwo\r\nlines");
        assert_eq!(written(|o| string(o, "é".as_bytes())), b"{2}\r\n\xc3\xa9");
        assert_eq!(written(|o| astring(o, b"INBOX")), b"INBOX");
        assert_eq!(written(|o| astring(o, b"")), b"\"\"");
        assert_eq!(written(|o| astring(o, b"a b")), b"\"a b\"");
        assert_eq!(written(|o| nstring(o, None)), b"NIL");
    }

    #[test]
    fn whatever_is_written_reads_back_the_same() {
        let samples: [&[u8]; 7] = [b"", b"x", b"a\"b\\c", b"\r\n", b"\x00\xff", b"{3}\r\nabc", b"a)b(c"];
        for value in samples {
            for write in [string as fn(&mut Vec<u8>, &[u8]), astring] {
                let out = written(|o| write(o, value));
                let mut c = Cursor::new(&out);
                assert_eq!(&*c.astring().unwrap(), value, "{}", String::from_utf8_lossy(&out));
                c.end().unwrap();
            }
        }
    }

    #[test]
    fn mailbox_names_and_flags() {
        assert_eq!(written(|o| mailbox(o, "~bob/Entwürfe")), b"~bob/Entw&APw-rfe");
        assert_eq!(written(|o| mailbox(o, "Team Inbox")), b"\"Team Inbox\"");
        let f = Flags::parse(["\\Seen", "$Work"]).unwrap();
        assert_eq!(written(|o| flags(o, &f)), b"(\\Seen $Work)");
        assert_eq!(written(|o| flags(o, &Flags::default())), b"()");
    }
}
