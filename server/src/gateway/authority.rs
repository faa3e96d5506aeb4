//! A logged-in session's hold on its authority: when an account loses
//! authority anywhere (deleted, its password changed, its admin right
//! taken — on this node, another, or at the command line), every open
//! session checks its own principal again, within a fraction of a second,
//! and ends or is downgraded.

use tokio::sync::watch;

use crate::service::{Principal, Service};

/// Watches the service's authority epoch for one session.
pub struct Authority {
    epoch: watch::Receiver<i64>,
}

impl Authority {
    /// Starts watching at login: changes made before it do not count.
    pub fn watch(service: &Service) -> Authority {
        Authority {
            epoch: service.authority(),
        }
    }

    /// Returns when some account lost authority; never before login
    /// (`None`), nor once the server stops.
    pub async fn moved(this: Option<&mut Authority>) {
        if let Some(a) = this
            && a.epoch.changed().await.is_ok()
        {
            return;
        }
        std::future::pending().await
    }

    /// `p` as its account stands now, if some account lost authority
    /// since the last look (`moved`: seen already by waiting on
    /// [`Authority::moved`]); `None` when the session must end. A store
    /// failure keeps the session as it is and asks again next time.
    pub async fn recheck(&mut self, service: &Service, p: &Principal, moved: bool) -> Option<Principal> {
        if !moved && !self.epoch.has_changed().unwrap_or(false) {
            return Some(p.clone());
        }
        match service.recheck(p).await {
            Ok(now) => {
                self.epoch.mark_unchanged();
                now
            }
            Err(e) => {
                tracing::warn!("checking a session's login again: {e}");
                Some(p.clone())
            }
        }
    }
}
