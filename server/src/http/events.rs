//! Server-sent events: an open page learns that one of its user's folders
//! changed — by IMAP, POP3, delivery or another browser — and reloads its
//! data. The events carry no mail, only "something changed".

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};

use super::Web;
use super::auth::SignedIn;
use crate::service::FolderWatch;

/// Changes that come in a burst are reported once.
const SETTLE: Duration = Duration::from_millis(50);

pub(crate) async fn stream(State(web): State<Web>, user: Option<Extension<SignedIn>>) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "You are not signed in.").into_response();
    };
    let watch = match web.service.watch_folders(&user.principal).await {
        Ok(w) => w,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, super::mail::message_of(&e)).into_response(),
    };
    Sse::new(changes(watch, web.stopped.clone()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn changes(
    watch: FolderWatch,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((watch, stopped), |(mut watch, mut stopped)| async move {
        let changed = tokio::select! {
            changed = watch.next() => changed.is_ok(),
            _ = stopped.wait_for(|s| *s) => false,
        };
        if !changed {
            return None;
        }
        tokio::time::sleep(SETTLE).await;
        if watch.skip_waiting().await.is_err() {
            return None;
        }
        Some((Ok(Event::default().event("message").data("changed")), (watch, stopped)))
    })
}
