//! Mail to other servers: handed to an SMTP relay (the site's smarthost)
//! with lettre. The URL says how: `smtp://host:25` (plain),
//! `smtp://user:password@host:587?tls=required` (STARTTLS, then AUTH),
//! `smtps://host:465` (implicit TLS).

use lettre::address::{Address, Envelope};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::error::{Error, Result};

pub struct Relay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// The URL without its password, for messages.
    shown: String,
}

impl Relay {
    pub fn from_url(url: &str) -> Result<Relay> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| Error::BadInput(format!("relay {url:?}: {e}")))?
            .build();
        let shown = match url.split_once('@') {
            Some((scheme_and_user, host)) => {
                let scheme = scheme_and_user.split("://").next().unwrap_or("smtp");
                format!("{scheme}://…@{host}")
            }
            None => url.to_owned(),
        };
        Ok(Relay { transport, shown })
    }

    /// Sends `message` from `from` to `to` (all other servers' addresses).
    pub async fn send(&self, from: &str, to: &[String], message: &[u8]) -> Result<()> {
        let bad = |a: &str| Error::BadInput(format!("{a} is not an address that can be sent to"));
        // An empty sender is the null one (`MAIL FROM:<>`): automatic replies.
        let from: Option<Address> = match from {
            "" => None,
            _ => Some(from.parse().map_err(|_| bad(from))?),
        };
        let to = to
            .iter()
            .map(|t| t.parse::<Address>().map_err(|_| bad(t)))
            .collect::<Result<Vec<_>>>()?;
        let envelope = Envelope::new(from, to).map_err(|e| Error::BadInput(e.to_string()))?;
        self.transport.send_raw(&envelope, message).await.map_err(|e| {
            tracing::warn!("relay {}: {e}", self.shown);
            Error::InUse(format!("the relay {} did not take the message: {e}", self.shown))
        })?;
        Ok(())
    }
}
