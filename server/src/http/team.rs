//! The team's form posts — assign, set a status, add a note, open the
//! Activity page to readers, hide one's presence — and the trail's
//! export. Each post answers with a redirect back, like the others.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use mailroom_frontend::url::folder_href;
use mailroom_shared::team::Status;
use serde::Deserialize;

use super::Web;
use super::actions::outcome;
use super::auth::SignedIn;
use crate::error::Error;

#[derive(Deserialize)]
pub(crate) struct TeamAction {
    op: String,
    #[serde(default)]
    mailbox: String,
    #[serde(default)]
    uid: Vec<u32>,
    #[serde(default)]
    back: String,
    /// `assign`: whom (empty: nobody).
    #[serde(default)]
    who: String,
    /// `status`: open, waiting or done.
    #[serde(default)]
    status: String,
    /// `note`: its text.
    #[serde(default)]
    note: String,
    /// `settings`: readers see the Activity page (when `set_activity`);
    /// who may send as the owner (when `set_send_as`). A form changes only
    /// what it carries.
    #[serde(default)]
    set_activity: String,
    #[serde(default)]
    activity_open: String,
    #[serde(default)]
    set_send_as: String,
    #[serde(default)]
    send_as: String,
    /// `presence`: hide it ("1") or show it.
    #[serde(default)]
    hide: String,
}

pub(crate) async fn team(State(web): State<Web>, user: SignedIn, Form(a): Form<TeamAction>) -> Response {
    let back = match a.back.is_empty() {
        true => folder_href(&a.mailbox),
        false => a.back.clone(),
    };
    let (s, p) = (&web.service, &user.principal);
    let n = a.uid.len();
    let needs_messages = matches!(a.op.as_str(), "assign" | "status" | "note");
    let result = async {
        if needs_messages && n == 0 {
            return Err(Error::BadInput("Select one or more messages first".into()));
        }
        match a.op.as_str() {
            "assign" => {
                let who = a.who.trim();
                s.assign(p, &a.mailbox, &a.uid, Some(who).filter(|w| !w.is_empty()))
                    .await?;
                Ok(match who {
                    "" => "Unassigned.".to_owned(),
                    who => format!("Assigned to {who}."),
                })
            }
            "status" => {
                let status = Status::from_code(&a.status)
                    .ok_or_else(|| Error::BadInput(format!("unknown status {:?}", a.status)))?;
                s.set_status(p, &a.mailbox, &a.uid, status).await?;
                Ok(format!("Status set to {}.", status.code()))
            }
            "note" => {
                s.add_note(p, &a.mailbox, a.uid[0], &a.note).await?;
                Ok("Note added.".to_owned())
            }
            "settings" => {
                let send_as: Vec<String> = a.send_as.split([',', ' ', '\n']).map(str::to_owned).collect();
                let open = (a.set_activity == "1").then_some(a.activity_open == "1");
                let send_as = (a.set_send_as == "1").then_some(send_as.as_slice());
                s.set_team_settings(p, &a.mailbox, open, send_as).await?;
                Ok("Team settings saved.".to_owned())
            }
            "presence" => {
                let hide = a.hide == "1";
                s.set_hide_presence(p, hide).await?;
                Ok(match hide {
                    true => "Others no longer see where you are.".to_owned(),
                    false => "Others see where you are again.".to_owned(),
                })
            }
            other => Err(Error::BadInput(format!("unknown action {other:?}"))),
        }
    }
    .await;
    outcome(&back, result)
}

#[derive(Deserialize)]
pub(crate) struct Export {
    #[serde(rename = "box")]
    mailbox: String,
    #[serde(default)]
    format: String,
}

/// The trail as a download: CSV, or JSON with `format=json`.
pub(crate) async fn export(State(web): State<Web>, user: SignedIn, Query(q): Query<Export>) -> Response {
    let json = q.format == "json";
    match web.service.export_activity(&user.principal, &q.mailbox, json).await {
        Ok(body) => {
            let (kind, ext) = match json {
                true => ("application/json", "json"),
                false => ("text/csv; charset=utf-8", "csv"),
            };
            let file = format!("attachment; filename=\"activity.{ext}\"");
            (
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (header::CONTENT_DISPOSITION, file),
                ],
                body,
            )
                .into_response()
        }
        Err(e) => super::refused(&e),
    }
}
