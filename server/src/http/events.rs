//! Server-sent events: an open page learns that one of its user's folders
//! changed — by IMAP, POP3, delivery or another browser — and reloads its
//! data. The events carry no mail, only "something changed".
//!
//! A stream ends when the server stops, and when its sign-in no longer
//! holds (the password changed, the account was deleted). One account may
//! keep [`STREAMS_PER_ACCOUNT`] streams open on a node: enough for every
//! tab of every device, not enough to hold the server's memory.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::Web;
use super::auth::SignedIn;
use crate::gateway::Authority;
use crate::limits;
use crate::service::{FolderWatch, Here, Service};
use mailroom_shared::team::Doing;

/// Changes that come in a burst are reported once.
const SETTLE: Duration = Duration::from_millis(50);

/// Open event streams per account on this node.
#[derive(Default)]
pub(crate) struct OpenStreams(Arc<Mutex<HashMap<i64, usize>>>);

/// One open stream, counted while it lives.
struct Counted {
    open: Arc<Mutex<HashMap<i64, usize>>>,
    account: i64,
}

impl OpenStreams {
    fn take(&self, account: i64) -> Option<Counted> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(account).or_default();
        if *n >= limits::EVENT_STREAMS_PER_ACCOUNT {
            return None;
        }
        *n += 1;
        Some(Counted {
            open: self.0.clone(),
            account,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.account);
            }
        }
    }
}

/// What the page showing the stream shows: a folder (`box`), perhaps a
/// message in it (`uid`), perhaps a reply being written to it
/// (`doing=replying`). In a shared folder its user is shown as present
/// there while the stream is open.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct At {
    #[serde(rename = "box")]
    mailbox: Option<String>,
    uid: Option<u32>,
    doing: Option<String>,
}

impl At {
    fn doing(&self) -> Doing {
        match (self.uid, self.doing.as_deref()) {
            (Some(uid), Some("replying")) => Doing::Replying(uid),
            (Some(uid), _) => Doing::Reading(uid),
            (None, _) => Doing::Open,
        }
    }
}

pub(crate) async fn stream(
    State(web): State<Web>,
    user: Option<Extension<SignedIn>>,
    Query(at): Query<At>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "You are not signed in.").into_response();
    };
    let Some(counted) = web.streams.take(user.principal.account_id()) else {
        let refusal = "Too many open pages for this account; close some and reload.";
        return (StatusCode::TOO_MANY_REQUESTS, refusal).into_response();
    };
    let authority = Authority::watch(&web.service);
    let watch = match web.service.watch_folders(&user.principal).await {
        Ok(w) => w,
        Err(e) => return super::refused(&e),
    };
    // A folder gone or hidden is no reason to miss the tree's changes.
    let here = match &at.mailbox {
        Some(name) => web
            .service
            .be_present_in(&user.principal, name, at.doing())
            .await
            .unwrap_or(None),
        None => None,
    };
    let open = Open {
        _here: here,
        watch,
        stopped: web.stopped.clone(),
        authority,
        service: web.service.clone(),
        session: user.session,
        _counted: counted,
    };
    Sse::new(changes(open)).keep_alive(KeepAlive::default()).into_response()
}

enum Woke {
    /// A folder changed (`false`: the watch or the server stopped).
    Changed(bool),
    /// Some account lost authority: perhaps this stream's.
    Authority,
}

/// What one open stream holds.
struct Open {
    watch: FolderWatch,
    stopped: tokio::sync::watch::Receiver<bool>,
    authority: Authority,
    service: Service,
    /// The web session it was opened in.
    session: String,
    _counted: Counted,
    /// Its user shown as present where the page is, while it is open.
    _here: Option<Here>,
}

impl Open {
    /// Whether the web session the stream was opened in still stands.
    async fn still_signed_in(&self) -> bool {
        matches!(self.service.web_session(&self.session).await, Ok(Some(_)))
    }
}

fn changes(open: Open) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(open, |mut open| async move {
        loop {
            let woke = tokio::select! {
                changed = open.watch.next() => Woke::Changed(changed.is_ok()),
                _ = open.stopped.wait_for(|s| *s) => Woke::Changed(false),
                () = Authority::moved(Some(&mut open.authority)) => Woke::Authority,
            };
            match woke {
                Woke::Changed(true) => break,
                Woke::Authority if open.still_signed_in().await => {}
                Woke::Changed(false) | Woke::Authority => return None,
            }
        }
        tokio::time::sleep(SETTLE).await;
        if open.watch.skip_waiting().await.is_err() {
            return None;
        }
        Some((Ok(Event::default().event("message").data("changed")), open))
    })
}
