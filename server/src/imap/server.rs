//! The IMAP listeners: plain (with STARTTLS) and implicit TLS (RFC 8314).
//! Each connection runs its own task, so a slow or hostile client never
//! holds up another.

use std::sync::Arc;
use std::time::Duration;

use super::frame::Limits;
use super::session::Session;
use crate::gateway;
use crate::limits;
use crate::service::MAX_MESSAGE_SIZE;

/// How the IMAP gateway behaves.
#[derive(Clone, Debug)]
pub struct Config {
    pub limits: Limits,
    /// Refuse LOGIN and AUTHENTICATE before TLS (and advertise LOGINDISABLED).
    pub require_tls: bool,
    /// How long a client may take to log in, counted from the moment it
    /// connects (not restarted by what it sends).
    pub login_timeout: Duration,
    /// How long an authenticated client may stay silent (RFC 3501 asks
    /// for at least 30 minutes; IDLE counts as silence too).
    pub idle_timeout: Duration,
    /// How often an IDLE session hears `* OK Still here` (keeps NAT
    /// mappings open).
    pub idle_keepalive: Duration,
    /// From how many messages on SEARCH's text keys ask the word index
    /// rather than read every message ([`INDEXED_SEARCH_FROM`]).
    pub indexed_search_from: usize,
}

/// A mailbox of this many messages or more answers SEARCH BODY, TEXT,
/// FROM, TO and SUBJECT from the word index: whole words, the last
/// as a prefix, in what the index holds of a message (RFC 9051 §6.4.4
/// allows such matching). Below it every message is read and matched
/// as a substring, as RFC 3501 asks: about 0.15 ms a message, so 1.5 s
/// here, and 2.5 minutes for a million.
pub const INDEXED_SEARCH_FROM: usize = 10_000;

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits {
                max_line: limits::COMMAND_LINE,
                max_literal: MAX_MESSAGE_SIZE,
                max_command: limits::COMMAND_SIZE,
            },
            require_tls: false,
            login_timeout: limits::LOGIN_DEADLINE,
            idle_timeout: Duration::from_secs(31 * 60),
            idle_keepalive: Duration::from_secs(120),
            indexed_search_from: INDEXED_SEARCH_FROM,
        }
    }
}

/// What every IMAP session shares.
pub type Gateway = gateway::MailGateway<Config>;

/// Accepts connections until the task is dropped; `implicit_tls` makes
/// every connection start with a TLS handshake.
pub async fn serve(listener: gateway::Listener, gateway: Arc<Gateway>, implicit_tls: bool) {
    let refusal = b"* BYE Too many connections from your address\r\n";
    let how = gateway.accepting("imap", implicit_tls, gateway.config.login_timeout, refusal);
    gateway::accept(listener, how, move |stream, peer, slot| {
        Session::new(Arc::clone(&gateway), stream, peer.ip(), slot).run()
    })
    .await
}
