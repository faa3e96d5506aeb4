//! The one error type that crosses from the mailbox service to the
//! gateways. Each gateway maps it once (IMAP `NO [NOPERM]`, POP3 `-ERR`, an
//! HTTP status); none of them sees a database error's text.

use crate::store::StoreError;

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
    /// The store failed; details are logged, not shown.
    #[error("internal error, please try again")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        if let StoreError::Database(sqlx::Error::Database(db)) = &e
            && db.is_unique_violation()
        {
            return Error::AlreadyExists("it exists already".into());
        }
        tracing::error!("store: {e}");
        Error::Internal(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
