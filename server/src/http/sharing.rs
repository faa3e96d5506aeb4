//! The form posts of the sharing pages: a mailbox's ACL entries (add,
//! change, remove), copying them to sub-folders, its seen mode, and
//! subscribing to other accounts' folders. The service decides whether
//! the user may; a refusal comes back as an error on the page.

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;
use mailroom_frontend::url::encode;
use mailroom_shared::Rights;
use mailroom_shared::dto::SeenMode;
use serde::Deserialize;

use super::Web;
use super::actions::outcome;
use super::auth::SignedIn;
use crate::error::{Error, Result};

#[derive(Deserialize)]
pub(crate) struct ShareAction {
    mailbox: String,
    op: String,
    #[serde(default)]
    identifier: String,
    /// A checkbox: the entry takes rights away (`-bob`).
    #[serde(default)]
    negative: Option<String>,
    /// `read`, `read-write`, `full`, or `custom` for the check boxes.
    #[serde(default)]
    preset: String,
    /// The checked rights' letters, with `preset=custom`.
    #[serde(default)]
    rights: Vec<String>,
    /// The *these rights* button: the check boxes win over the preset.
    #[serde(default)]
    custom: Option<String>,
    /// The rights the check boxes showed when the form was drawn (none
    /// when absent): boxes changed from these win over the preset,
    /// whichever button was used.
    #[serde(default)]
    was: String,
    #[serde(default)]
    seen_mode: String,
}

/// The rights an entry form asks for.
fn asked_rights(a: &ShareAction) -> Result<Rights> {
    let parse = |letters: &str| Rights::parse(letters).map_err(|e| Error::BadInput(e.to_string()));
    let ticked = parse(&a.rights.concat())?;
    let preset = if a.custom.is_some() || parse(&a.was)? != ticked {
        "custom"
    } else {
        a.preset.as_str()
    };
    let rights = match preset {
        "custom" | "" => ticked,
        other => Rights::from_preset(other).ok_or_else(|| Error::BadInput(format!("unknown preset {other:?}")))?,
    };
    if rights.is_empty() {
        return Err(Error::BadInput(
            "choose at least one right, or remove the entry instead".into(),
        ));
    }
    Ok(rights)
}

/// The identifier as SETACL takes it: `-name` for a negative entry.
fn identifier(a: &ShareAction) -> Result<String> {
    let name = a.identifier.trim();
    if name.is_empty() {
        return Err(Error::BadInput("say whom the entry is for".into()));
    }
    Ok(match a.negative.is_some() && !name.starts_with('-') {
        true => format!("-{name}"),
        false => name.to_owned(),
    })
}

pub(crate) async fn share(State(web): State<Web>, user: SignedIn, Form(a): Form<ShareAction>) -> Response {
    let (s, p, mailbox) = (&web.service, &user.principal, a.mailbox.as_str());
    let back = format!("/share?box={}", encode(mailbox));
    let result = async {
        match a.op.as_str() {
            "set" => {
                let entry = s
                    .set_acl(p, mailbox, &identifier(&a)?, &asked_rights(&a)?.to_string())
                    .await?;
                Ok(format!(
                    "{} now has “{}”.",
                    entry.identifier_string(),
                    preset_name(entry.rights)
                ))
            }
            "remove" => {
                let who = identifier(&a)?;
                s.delete_acl(p, mailbox, &who).await?;
                Ok(format!("Removed the entry for {who}."))
            }
            "apply" => {
                let n = s.apply_acl_to_sub_folders(p, mailbox).await?;
                Ok(format!("Copied the sharing to {n} sub-folder(s)."))
            }
            "seen" => {
                let mode = SeenMode::parse(&a.seen_mode)
                    .ok_or_else(|| Error::BadInput(format!("unknown seen mode {:?}", a.seen_mode)))?;
                s.set_seen_mode(p, mailbox, mode).await?;
                Ok(match mode {
                    SeenMode::Shared => "Read state is now shared by everybody.".to_owned(),
                    SeenMode::PerUser => "Everybody now keeps their own read state.".to_owned(),
                })
            }
            other => Err(Error::BadInput(format!("unknown sharing action {other:?}"))),
        }
    }
    .await;
    outcome(&back, result)
}

/// A preset's name where the rights are one, else the letters.
fn preset_name(rights: Rights) -> String {
    rights.preset().map_or_else(|| rights.to_string(), str::to_owned)
}

#[derive(Deserialize)]
pub(crate) struct SubscriptionAction {
    mailbox: String,
    op: String,
    #[serde(default)]
    back: String,
}

pub(crate) async fn subscriptions(
    State(web): State<Web>,
    user: SignedIn,
    Form(a): Form<SubscriptionAction>,
) -> Response {
    let (s, p) = (&web.service, &user.principal);
    let result = match a.op.as_str() {
        "subscribe" => s
            .subscribe(p, &a.mailbox)
            .await
            .map(|()| format!("{} is now in your folder list.", a.mailbox)),
        "unsubscribe" => s
            .unsubscribe(p, &a.mailbox)
            .await
            .map(|()| format!("{} is no longer in your folder list.", a.mailbox)),
        other => Err(Error::BadInput(format!("unknown subscription action {other:?}"))),
    };
    outcome(&a.back, result)
}
