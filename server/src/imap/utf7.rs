//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3): how IMAP4rev1 clients
//! write non-ASCII names. Printable ASCII stands for itself except `&`,
//! written `&-`; anything else is `&`, UTF-16BE in base64 with `,` for `/`
//! and no padding, then `-`.
//!
//! Written here: the utf7 crates found implement RFC 2152 UTF-7 or decode
//! leniently; a mailbox name must round-trip exactly and reject what is
//! not canonical.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// A name as an IMAP client must see it.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            match c {
                '&' => out.push_str("&-"),
                _ => out.push(c),
            }
        } else {
            pending.extend(c.encode_utf16(&mut [0; 2]).iter());
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    let bytes: Vec<u8> = pending.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out.push('-');
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mailbox name is not valid modified UTF-7 (RFC 3501 §5.1.3)")]
pub struct BadUtf7;

/// A name as a client wrote it, decoded. Only the canonical form is
/// accepted, so each name has exactly one spelling on the wire.
pub fn decode(wire: &[u8]) -> Result<String, BadUtf7> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'&' => {
                let end = rest.iter().position(|&c| c == b'-').ok_or(BadUtf7)?;
                let (encoded, tail) = (&rest[..end], &rest[end + 1..]);
                rest = tail;
                if encoded.is_empty() {
                    out.push('&');
                } else {
                    let decoded = decode_run(encoded)?;
                    if decoded.chars().any(|c| (' '..='~').contains(&c)) {
                        return Err(BadUtf7);
                    }
                    out.push_str(&decoded);
                }
            }
            0x20..=0x7e => out.push(b as char),
            _ => return Err(BadUtf7),
        }
    }
    if encode(&out).as_bytes() != wire {
        return Err(BadUtf7);
    }
    Ok(out)
}

fn decode_run(encoded: &[u8]) -> Result<String, BadUtf7> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut units = Vec::new();
    let mut bytes = Vec::new();
    for &c in encoded {
        let v = ALPHABET.iter().position(|&a| a == c).ok_or(BadUtf7)? as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    if bits != 0 || bytes.len() % 2 != 0 {
        return Err(BadUtf7);
    }
    for pair in bytes.chunks(2) {
        units.push(u16::from_be_bytes([pair[0], pair[1]]));
    }
    String::from_utf16(&units).map_err(|_| BadUtf7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_examples() {
        assert_eq!(encode("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        assert_eq!(
            decode(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(),
            "~peter/mail/台北/日本語"
        );
        assert_eq!(encode("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(decode(b"Tom &- Jerry").unwrap(), "Tom & Jerry");
    }

    #[test]
    fn round_trips() {
        for name in [
            "INBOX",
            "Entwürfe",
            "Gesendete Objekte",
            "☃ & ☕",
            "𝄞 music",
            "Ünïcödé/Sub",
            "a&b&c",
            "",
        ] {
            let wire = encode(name);
            assert!(wire.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{wire}");
            assert_eq!(decode(wire.as_bytes()).unwrap(), name, "{wire}");
        }
    }

    #[test]
    fn non_canonical_and_broken_forms_are_refused() {
        for bad in [
            &b"&"[..],
            b"&U,BTFw",
            b"&AGE-",     // "a" encoded although printable
            b"&ZeVnLIqe", // no closing dash
            b"&U,BTF-",   // bits left over
            b"&2D0-",     // lone surrogate
            b"a\xc3\xa9", // raw 8-bit
            b"tab\there",
            b"&U,B-&Tw-", // split run
            b"&!!-",
        ] {
            assert_eq!(decode(bad), Err(BadUtf7), "{}", String::from_utf8_lossy(bad));
        }
    }
}
