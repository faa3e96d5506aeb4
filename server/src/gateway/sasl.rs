//! SASL PLAIN (RFC 4616), for IMAP's AUTHENTICATE and POP3's AUTH.
//! Written here: it is three NUL-separated fields in base64.

use base64::Engine;

/// The login and password of a PLAIN response, or why it is unusable.
pub fn plain(response_b64: &[u8]) -> Result<(String, String), &'static str> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(response_b64.trim_ascii())
        .map_err(|_| "the response is not base64")?;
    let mut fields = decoded.split(|&b| b == 0);
    let (Some(authz), Some(authc), Some(password), None) = (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err("PLAIN needs authorization id, user and password separated by NUL");
    };
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| "the response is not UTF-8");
    let (authz, authc, password) = (text(authz)?, text(authc)?, text(password)?);
    if !authz.is_empty() && authz != authc {
        return Err("acting as another user is not supported");
    }
    Ok((authc, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.encode(s).into_bytes()
    }

    #[test]
    fn plain_responses() {
        assert_eq!(plain(&b64(b"\0alice\0secret")), Ok(("alice".into(), "secret".into())));
        assert_eq!(
            plain(&b64(b"alice\0alice\0secret")),
            Ok(("alice".into(), "secret".into()))
        );
        assert!(plain(&b64(b"bob\0alice\0secret")).is_err());
        assert!(plain(&b64(b"alice\0secret")).is_err());
        assert!(plain(&b64(b"\0a\0b\0c")).is_err());
        assert!(plain(b"***").is_err());
    }
}
