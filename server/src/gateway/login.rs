//! The one login sequence of the mail gateways (IMAP LOGIN and
//! AUTHENTICATE, POP3 USER/PASS and AUTH): watch the authority epoch from
//! before the password is checked (so a change made meanwhile is seen),
//! let the service check the password (it throttles failures), then take
//! a place among the account's sessions.

use std::net::IpAddr;

use super::{Authority, Connections, Slot};
use crate::error::Error;
use crate::service::{Principal, Service};
use mailroom_shared::team::Via;

/// Why a login did not open a session.
pub enum LoginRefused {
    /// The service said no (wrong password, throttled, server fault).
    Service(Error),
    /// The account has as many sessions open as it may.
    TooManySessions,
}

/// A logged-in session's principal, the authority it watches and its
/// place among the account's sessions.
pub async fn log_in(
    service: &Service,
    connections: &Connections,
    login: &str,
    password: &str,
    client: IpAddr,
    via: Via,
) -> Result<(Principal, Authority, Slot), LoginRefused> {
    let authority = Authority::watch(service);
    let principal = service
        .authenticate(login, password, client)
        .await
        .map_err(LoginRefused::Service)?
        .through(via);
    let slot = connections
        .of_account(principal.account_id())
        .ok_or(LoginRefused::TooManySessions)?;
    Ok((principal, authority, slot))
}
