//! The form posts that change mail: message actions (flags, move, copy,
//! delete), folder management, and sending or saving a message. Each
//! answers with a redirect back to the page, with a notice or an error.

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use base64::Engine;
use mailroom_frontend::url::{encode, folder_href};
use mailroom_shared::dto::{Draft, DraftAttachment};
use mailroom_shared::{FlagOp, Flags, SystemFlag};
use serde::Deserialize;

use super::Web;
use super::auth::SignedIn;
use super::mail::message_of;
use crate::error::{Error, Result};

/// Our own pages a form may send the browser back to (never another
/// site: no open redirect).
const BACK_TO: [&str; 6] = ["/mail", "/compose", "/share", "/browse", "/admin", "/rules"];

/// `back` with a notice or error added; only our own pages.
pub(crate) fn back_with(back: &str, key: &str, text: &str) -> Response {
    let ours = BACK_TO.iter().any(|page| {
        back.strip_prefix(page)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('?'))
    });
    let back = if ours { back } else { "/mail" };
    let sep = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{back}{sep}{key}={}", encode(text))).into_response()
}

pub(crate) fn outcome(back: &str, result: Result<String>) -> Response {
    match result {
        Ok(notice) => back_with(back, "notice", &notice),
        Err(e) => back_with(back, "error", &message_of(&e)),
    }
}

#[derive(Deserialize)]
pub(crate) struct MessageAction {
    mailbox: String,
    #[serde(default)]
    back: String,
    #[serde(default)]
    uid: Vec<u32>,
    op: String,
    #[serde(default)]
    target: String,
}

fn flag(f: SystemFlag) -> Flags {
    let mut flags = Flags::default();
    flags.insert(f);
    flags
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

pub(crate) async fn messages(State(web): State<Web>, user: SignedIn, Form(a): Form<MessageAction>) -> Response {
    let back = if a.back.is_empty() {
        folder_href(&a.mailbox)
    } else {
        a.back.clone()
    };
    if a.uid.is_empty() {
        return back_with(&back, "error", "Select one or more messages first.");
    }
    if matches!(a.op.as_str(), "move" | "copy") && a.target.is_empty() {
        return back_with(&back, "error", "Choose the folder to move or copy to first.");
    }
    let (s, p, n) = (&web.service, &user.principal, a.uid.len());
    let result = async {
        match a.op.as_str() {
            "read" | "unread" | "flag" | "unflag" => {
                let (op, f) = match a.op.as_str() {
                    "read" => (FlagOp::Add, SystemFlag::Seen),
                    "unread" => (FlagOp::Remove, SystemFlag::Seen),
                    "flag" => (FlagOp::Add, SystemFlag::Flagged),
                    _ => (FlagOp::Remove, SystemFlag::Flagged),
                };
                s.store_flags(p, &a.mailbox, &a.uid, op, &flag(f)).await?;
                Ok(format!("Updated {}.", plural(n)))
            }
            "move" => {
                s.move_messages(p, &a.mailbox, &a.uid, &a.target).await?;
                Ok(format!("Moved {} to {}.", plural(n), a.target))
            }
            "copy" => {
                s.copy(p, &a.mailbox, &a.uid, &a.target).await?;
                Ok(format!("Copied {} to {}.", plural(n), a.target))
            }
            "delete" => {
                s.delete_messages(p, &a.mailbox, &a.uid).await?;
                Ok(format!("Deleted {}.", plural(n)))
            }
            other => Err(Error::BadInput(format!("unknown action {other:?}"))),
        }
    }
    .await;
    outcome(&back, result)
}

#[derive(Deserialize)]
pub(crate) struct FolderAction {
    op: String,
    name: String,
    #[serde(default)]
    new_name: String,
    /// Creating a sub-folder: the folder it goes in (`name` is then the
    /// new folder's own name).
    #[serde(default)]
    parent: String,
}

pub(crate) async fn folders(State(web): State<Web>, user: SignedIn, Form(a): Form<FolderAction>) -> Response {
    let (s, p) = (&web.service, &user.principal);
    let name = a.name.trim();
    match a.op.as_str() {
        "create" => {
            let full = match a.parent.trim() {
                "" => name.to_owned(),
                parent => format!("{parent}/{name}"),
            };
            match s.create_mailbox(p, &full).await {
                // A mailbox made for others (a server admin's public one)
                // is shared next; its creator may not even read it.
                Ok(m) if !m.rights.contains(mailroom_shared::Right::Read) => back_with(
                    &format!("/share?box={}", encode(&m.name)),
                    "notice",
                    "Folder created. Now choose who may use it.",
                ),
                Ok(m) => back_with(&folder_href(&m.name), "notice", "Folder created."),
                Err(e) => back_with("/mail", "error", &message_of(&e)),
            }
        }
        "rename" => match s.rename_mailbox(p, name, a.new_name.trim()).await {
            Ok(m) => back_with(&folder_href(&m.name), "notice", "Folder renamed."),
            Err(e) => back_with(&folder_href(name), "error", &message_of(&e)),
        },
        "delete" => match s.delete_mailbox(p, name).await {
            Ok(()) => back_with("/mail", "notice", &format!("Folder {name} deleted.")),
            Err(e) => back_with(&folder_href(name), "error", &message_of(&e)),
        },
        other => back_with("/mail", "error", &format!("unknown folder action {other:?}")),
    }
}

/// The compose form as posted (multipart, with its files).
#[derive(Default)]
struct Posted {
    draft: Draft,
    op: String,
    answers_box: String,
    answers_uid: Option<u32>,
}

async fn read_compose(mut form: Multipart) -> Result<Posted> {
    let bad = |e: axum::extract::multipart::MultipartError| Error::BadInput(format!("the form could not be read: {e}"));
    let mut posted = Posted::default();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let bytes = field.bytes().await.map_err(bad)?;
            if !filename.is_empty() {
                posted.draft.attachments.push(DraftAttachment {
                    filename,
                    content_type,
                    data: base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
            }
            continue;
        }
        let text = field.text().await.map_err(bad)?;
        match name.as_str() {
            "to" => posted.draft.to = text,
            "cc" => posted.draft.cc = text,
            "subject" => posted.draft.subject = text,
            "body" => posted.draft.body = text,
            "in_reply_to" => posted.draft.in_reply_to = text,
            "references" => posted.draft.references = text,
            "answers_box" => posted.answers_box = text,
            "answers_uid" => posted.answers_uid = text.parse().ok(),
            "op" => posted.op = text,
            _ => {}
        }
    }
    Ok(posted)
}

/// The compose page again, filled in, with the error (attachments must
/// be chosen again).
fn compose_again(p: &Posted, error: &str) -> Response {
    let d = &p.draft;
    let mut to = format!(
        "/compose?to={}&cc={}&subject={}&body={}&in_reply_to={}&references={}",
        encode(&d.to),
        encode(&d.cc),
        encode(&d.subject),
        encode(&d.body),
        encode(&d.in_reply_to),
        encode(&d.references)
    );
    if let Some(uid) = p.answers_uid {
        to.push_str(&format!("&answers_box={}&answers_uid={uid}", encode(&p.answers_box)));
    }
    back_with(&to, "error", error)
}

pub(crate) async fn compose(State(web): State<Web>, user: SignedIn, form: Multipart) -> Response {
    let posted = match read_compose(form).await {
        Ok(p) => p,
        Err(e) => return back_with("/compose", "error", &message_of(&e)),
    };
    let (s, p) = (&web.service, &user.principal);
    if posted.op == "draft" {
        return match s.save_draft(p, &posted.draft, None).await {
            Ok(_) => back_with("/mail?box=Drafts", "notice", "Draft saved."),
            Err(e) => compose_again(&posted, &message_of(&e)),
        };
    }
    let answers = posted.answers_uid.map(|uid| (posted.answers_box.as_str(), uid));
    match s.send(p, &posted.draft, answers).await {
        Ok(to) => back_with("/mail", "notice", &format!("Message sent to {}.", to.join(", "))),
        Err(e) => compose_again(&posted, &message_of(&e)),
    }
}
