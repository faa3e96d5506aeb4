//! The form posts that change mail: message actions (flags, move, copy,
//! delete), folder management, and sending or saving a message. Each
//! answers with a redirect back to the page, with a notice or an error.

use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use base64::Engine;
use mailroom_frontend::url::{encode, folder_href};
use mailroom_shared::dto::{Draft, DraftAttachment, WHOLE_MESSAGE};
use mailroom_shared::{FlagOp, Flags, SystemFlag};
use serde::Deserialize;

use super::Web;
use super::auth::SignedIn;
use super::message_of;
use crate::error::{Error, Result};

/// Our own pages a form may send the browser back to (never another
/// site: no open redirect).
const BACK_TO: [&str; 9] = [
    "/mail",
    "/activity",
    "/conversation",
    "/compose",
    "/share",
    "/browse",
    "/admin",
    "/rules",
    "/settings",
];

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
    /// Set when this action undoes the one before.
    #[serde(default)]
    undoing: String,
}

/// How to take an action back: another action, offered on the page the
/// browser returns to (as `undo`, `undo_box`, `undo_to`, `undo_uid`).
/// Kept in the URL rather than on the server: it is only a form the
/// user could post anyway, checked like any other.
struct Undo {
    op: &'static str,
    mailbox: String,
    target: String,
    uids: Vec<u32>,
}

impl Undo {
    fn query(&self) -> String {
        let uids: Vec<String> = self.uids.iter().map(u32::to_string).collect();
        format!(
            "undo={}&undo_box={}&undo_to={}&undo_uid={}",
            self.op,
            encode(&self.mailbox),
            encode(&self.target),
            uids.join(",")
        )
    }
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 message".into()
    } else {
        format!("{n} messages")
    }
}

/// The flag an op sets or clears, the op that takes it back, and what
/// is said when done.
fn flag_op(op: &str) -> Option<(FlagOp, SystemFlag, &'static str, &'static str)> {
    Some(match op {
        "read" => (FlagOp::Add, SystemFlag::Seen, "unread", "Marked {} read."),
        "unread" => (FlagOp::Remove, SystemFlag::Seen, "read", "Marked {} unread."),
        "flag" => (FlagOp::Add, SystemFlag::Flagged, "unflag", "Flagged {}."),
        "unflag" => (FlagOp::Remove, SystemFlag::Flagged, "flag", "Unflagged {}."),
        _ => return None,
    })
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
        let undo = |op, mailbox: &str, target: &str, uids| Undo {
            op,
            mailbox: mailbox.to_owned(),
            target: target.to_owned(),
            uids,
        };
        if let Some((op, f, opposite, done)) = flag_op(&a.op) {
            let changed = s.store_flags(p, &a.mailbox, &a.uid, op, &Flags::from(f)).await?;
            let uids: Vec<u32> = changed.into_iter().map(|c| c.uid).collect();
            let back = (!uids.is_empty()).then(|| undo(opposite, &a.mailbox, "", uids));
            return Ok((done.replace("{}", &plural(n)), back));
        }
        match a.op.as_str() {
            "move" => {
                let (_, pairs) = s.move_messages(p, &a.mailbox, &a.uid, &a.target).await?;
                let uids = pairs.into_iter().map(|(_, new)| new).collect();
                let notice = format!("Moved {} to {}.", plural(n), a.target);
                Ok((notice, Some(undo("move", &a.target, &a.mailbox, uids))))
            }
            "copy" => {
                s.copy(p, &a.mailbox, &a.uid, &a.target).await?;
                Ok((format!("Copied {} to {}.", plural(n), a.target), None))
            }
            // Deleting for good asks first: the list's "Delete forever…"
            // posts `delete-forever`.
            "delete" | "delete-forever" => match s
                .delete_messages(p, &a.mailbox, &a.uid, a.op == "delete-forever")
                .await?
            {
                Some((trash, uids)) => Ok((
                    format!("Deleted {} (moved to {trash}).", plural(n)),
                    Some(undo("move", &trash, &a.mailbox, uids)),
                )),
                None => Ok((format!("Deleted {} for good.", plural(n)), None)),
            },
            other => Err(Error::BadInput(format!("unknown action {other:?}"))),
        }
    }
    .await;
    match result {
        Ok((notice, _)) if !a.undoing.is_empty() => back_with(&back, "notice", &format!("Undone: {notice}")),
        Ok((notice, Some(undo))) => {
            let sep = if back.contains('?') { '&' } else { '?' };
            back_with(&format!("{back}{sep}{}", undo.query()), "notice", &notice)
        }
        Ok((notice, None)) => back_with(&back, "notice", &notice),
        Err(e) => back_with(&back, "error", &message_of(&e)),
    }
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
    /// Deleting: the second click that confirms it.
    #[serde(default)]
    confirmed: String,
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
                Ok(m) if !m.rights.allow(mailroom_shared::Action::Read) => back_with(
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
        "delete" if a.confirmed.is_empty() => back_with(
            &folder_href(name),
            "error",
            "Deleting a folder must be confirmed: use “Delete folder…”.",
        ),
        "delete" => match s.delete_folder(p, name).await {
            Ok(0) => back_with("/mail", "notice", &format!("Folder {name} deleted.")),
            Ok(n) => back_with(
                "/mail",
                "notice",
                &format!("Folder {name} deleted; its {} are in Trash.", plural(n)),
            ),
            Err(e) => back_with(&folder_href(name), "error", &message_of(&e)),
        },
        other => back_with("/mail", "error", &format!("unknown folder action {other:?}")),
    }
}

/// The compose forms this server has sent (or is sending), by their
/// `form_id`: a form posted again — Back and Send, a double click — is
/// sent once. Written here because a claim must be atomic across two
/// concurrent posts and held while sending (an `.await`), which a cache's
/// placeholder guard cannot be; the newest 10,000 are remembered.
#[derive(Default)]
pub(crate) struct SentForms(std::sync::Mutex<(std::collections::HashSet<String>, std::collections::VecDeque<String>)>);

impl SentForms {
    const REMEMBERED: usize = 10_000;

    /// True if the form was not sent before: it is now claimed.
    fn claim(&self, id: &str) -> bool {
        if id.is_empty() {
            return true; // a form without a name (posted by hand) is not tracked
        }
        let mut guard = self.0.lock().expect("sent forms");
        let (set, order) = &mut *guard;
        if !set.insert(id.to_owned()) {
            return false;
        }
        order.push_back(id.to_owned());
        if order.len() > Self::REMEMBERED
            && let Some(old) = order.pop_front()
        {
            set.remove(&old);
        }
        true
    }
}

/// The compose form as posted (multipart, with its files).
#[derive(Default)]
struct Posted {
    draft: Draft,
    op: String,
    answers_box: String,
    answers_uid: Option<u32>,
    /// Attachments of a stored message to carry over, by part index.
    carry: Vec<u32>,
    carry_box: String,
    carry_uid: Option<u32>,
    replaces: Option<u32>,
    form_id: String,
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
            "from" => posted.draft.from = text,
            "to" => posted.draft.to = text,
            "cc" => posted.draft.cc = text,
            "bcc" => posted.draft.bcc = text,
            "subject" => posted.draft.subject = text,
            "body" => posted.draft.body = text,
            "in_reply_to" => posted.draft.in_reply_to = text,
            "references" => posted.draft.references = text,
            "answers_box" => posted.answers_box = text,
            "answers_uid" => posted.answers_uid = text.parse().ok(),
            "carry" => posted.carry.extend(text.parse::<u32>().ok()),
            "carry_box" => posted.carry_box = text,
            "carry_uid" => posted.carry_uid = text.parse().ok(),
            "replaces" => posted.replaces = text.parse().ok(),
            "form_id" => posted.form_id = text,
            "op" => posted.op = text,
            _ => {}
        }
    }
    Ok(posted)
}

/// Puts the carried attachments (read from their stored message, with
/// the user's rights) before the uploaded ones.
async fn carry_attachments(web: &Web, user: &SignedIn, posted: &mut Posted) -> Result<()> {
    let Some(uid) = posted.carry_uid else {
        return Ok(());
    };
    let mut carried = Vec::new();
    for &index in &posted.carry {
        let (filename, content_type, bytes) = match index {
            WHOLE_MESSAGE => {
                let bytes = web.service.fetch(&user.principal, &posted.carry_box, uid).await?;
                (forwarded_name(&bytes), "message/rfc822".to_owned(), bytes)
            }
            part => {
                web.service
                    .attachment(&user.principal, &posted.carry_box, uid, part)
                    .await?
            }
        };
        carried.push(DraftAttachment {
            filename,
            content_type,
            data: base64::engine::general_purpose::STANDARD.encode(&bytes),
        });
    }
    carried.append(&mut posted.draft.attachments);
    posted.draft.attachments = carried;
    Ok(())
}

/// The file name of a message forwarded as an attachment, from its subject.
fn forwarded_name(raw: &[u8]) -> String {
    use mailparse::MailHeaderMap;
    let subject = mailparse::parse_headers(raw)
        .ok()
        .and_then(|(h, _)| h.get_first_value("Subject"))
        .unwrap_or_default();
    mailroom_shared::reply::forwarded_file_name(&subject)
}

/// The compose page again after `error`, with the message as it was
/// posted — kept as a draft (attachments too), never in the URL.
async fn compose_again(web: &Web, user: &SignedIn, p: &Posted, error: &str) -> Response {
    match web.service.save_draft(&user.principal, &p.draft, p.replaces).await {
        Ok((drafts, uid)) => {
            let mut to = format!("/compose?mode=draft&box={}&uid={uid}", encode(&drafts));
            if let Some(answers) = p.answers_uid {
                to.push_str(&format!(
                    "&answers_box={}&answers_uid={answers}",
                    encode(&p.answers_box)
                ));
            }
            back_with(&to, "error", &format!("{error} (The message is kept in {drafts}.)"))
        }
        Err(e) => back_with(
            "/compose",
            "error",
            &format!(
                "{error} The message could not be kept as a draft either: {}",
                message_of(&e)
            ),
        ),
    }
}

pub(crate) async fn compose(State(web): State<Web>, user: SignedIn, form: Multipart) -> Response {
    let mut posted = match read_compose(form).await {
        Ok(p) => p,
        Err(e) => return back_with("/compose", "error", &message_of(&e)),
    };
    let (s, p) = (&web.service, &user.principal);
    if posted.op == "discard" {
        let notice = match posted.replaces {
            Some(uid) => match s.discard_draft(p, uid).await {
                Ok(()) => "Draft discarded.",
                Err(e) => return back_with("/mail", "error", &message_of(&e)),
            },
            None => "Message discarded.",
        };
        return back_with("/mail", "notice", notice);
    }
    if let Err(e) = carry_attachments(&web, &user, &mut posted).await {
        return compose_again(&web, &user, &posted, &message_of(&e)).await;
    }
    match posted.op.as_str() {
        "draft" => {
            return match s.save_draft(p, &posted.draft, posted.replaces).await {
                Ok((drafts, _)) => back_with(&folder_href(&drafts), "notice", "Draft saved."),
                Err(e) => back_with("/compose", "error", &message_of(&e)),
            };
        }
        // The page's own saving while one writes: the new draft's UID,
        // which the form replaces from then on.
        "autosave" => {
            return match s.save_draft(p, &posted.draft, posted.replaces).await {
                Ok((_, uid)) => uid.to_string().into_response(),
                Err(e) => super::refused(&e),
            };
        }
        _ => {}
    }
    if !web.sent_forms.claim(&posted.form_id) {
        return back_with(
            "/mail",
            "notice",
            "This form was sent already, so it was not sent again: see Sent (or Drafts, if sending failed).",
        );
    }
    let answers = posted.answers_uid.map(|uid| (posted.answers_box.as_str(), uid));
    match s.send(p, &posted.draft, answers).await {
        Ok(to) => {
            if let Some(draft) = posted.replaces
                && let Err(e) = s.discard_draft(p, draft).await
            {
                tracing::warn!("a sent draft stayed in Drafts: {e}");
            }
            back_with("/mail", "notice", &format!("Message sent to {}.", to.join(", ")))
        }
        // The form stays claimed: some recipients may have it already, and
        // the form comes back from the kept draft under a new name.
        Err(e) => compose_again(&web, &user, &posted, &message_of(&e)).await,
    }
}
