//! The one error type that crosses from the mailbox service to the
//! gateways. Each gateway maps it once (IMAP `NO [NOPERM]`, POP3 `-ERR`, an
//! HTTP status); none of them sees a database error's text.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing — or invisible to this principal, which must look the same.
    #[error("{0}")]
    NotFound(String),
    /// The principal may see the object but lacks a right for this.
    #[error("{0}")]
    NoPermission(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// Malformed or out-of-range input: nothing was changed.
    #[error("{0}")]
    BadInput(String),
    /// Another program holds the mailbox (an external INBOX's file lock):
    /// nothing was changed; try again shortly.
    #[error("{0}")]
    InUse(String),
    /// The mail would take the account (or its domain) over its storage
    /// quota: nothing was stored.
    #[error("{0}")]
    OverQuota(String),
    /// Wrong user name or password (never says which).
    #[error("authentication failed")]
    AuthFailed,
    /// Too many failed logins from this client or for this account:
    /// refused without checking the password; try again after the wait.
    #[error("too many failed logins; try again in {} s", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    /// The server failed (the database, a worker thread): nothing the
    /// client did wrong. Details are logged, not shown.
    #[error("internal error, please try again")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
