//! The POP3 gateway (RFC 1939, with CAPA RFC 2449, STLS RFC 2595, AUTH
//! RFC 5034). A session works on a snapshot of the INBOX taken at login:
//! DELE only marks, QUIT applies the marks through the mailbox service,
//! and a dropped connection deletes nothing. Several sessions, IMAP and
//! the web use the same INBOX at once; nothing here locks it.

mod session;

use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::gateway;

/// How the POP3 gateway behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// RETR marks the message `\Seen` (where the user has `s`).
    pub retr_sets_seen: bool,
    /// Refuse USER/PASS and AUTH before TLS.
    pub require_tls: bool,
    /// The longest command line accepted (RFC 2449 allows 255 octets;
    /// SASL responses need more).
    pub max_line: usize,
    pub login_timeout: Duration,
    /// RFC 1939 asks for at least 10 minutes.
    pub idle_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            retr_sets_seen: true,
            require_tls: false,
            max_line: 8 * 1024,
            login_timeout: crate::limits::LOGIN_DEADLINE,
            idle_timeout: Duration::from_secs(10 * 60),
        }
    }
}

/// What every POP3 session shares (the counters are the same objects
/// IMAP uses).
pub type Gateway = gateway::MailGateway<Config>;

/// Accepts connections; `implicit_tls` starts each with a TLS handshake.
pub async fn serve(listener: gateway::Listener, gateway: Arc<Gateway>, implicit_tls: bool) {
    let refusal = b"-ERR [SYS/TEMP] Too many connections\r\n";
    let how = gateway.accepting("pop3", implicit_tls, gateway.config.login_timeout, refusal);
    gateway::accept(listener, how, move |stream, peer, slot| {
        session::run(Arc::clone(&gateway), stream, peer.ip(), slot)
    })
    .await
}

/// The one place a service error becomes a POP3 `-ERR` text (without the
/// `-ERR `), with the response codes of RFC 2449 and RFC 3206:
///
/// | error          | text                                  |
/// |----------------|---------------------------------------|
/// | `AuthFailed`   | `[AUTH] Authentication failed`        |
/// | `Throttled`    | `[LOGIN-DELAY] … try again in N s`    |
/// | `InUse`        | `[IN-USE] …`                          |
/// | `NoPermission` | `[SYS/PERM] …`                        |
/// | `OverQuota`    | `[SYS/PERM] …`                        |
/// | `Internal`     | `[SYS/TEMP] …` (details only in the log) |
/// | `NotFound`, `AlreadyExists`, `BadInput` | the message, no code |
pub(crate) fn error_text(e: &Error) -> String {
    match e {
        Error::AuthFailed => "[AUTH] Authentication failed".into(),
        Error::Throttled(wait) => format!(
            "[LOGIN-DELAY] Too many failed logins; try again in {} s",
            wait.as_secs().max(1)
        ),
        Error::InUse(m) => format!("[IN-USE] {m}"),
        Error::NoPermission(m) | Error::OverQuota(m) => format!("[SYS/PERM] {m}"),
        Error::Internal(_) => format!("[SYS/TEMP] {e}"),
        Error::NotFound(m) | Error::AlreadyExists(m) | Error::BadInput(m) => m.clone(),
    }
}
