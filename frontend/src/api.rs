//! The server functions the pages load their data with, and — on the
//! server — the interface the server implements behind them.
//!
//! The frontend cannot name the server's types (the server depends on
//! it), so the server puts a [`Mail`] for the signed-in user into each
//! request's extensions; the functions here find it there. Changes are
//! plain form posts to the server (see `server/src/http.rs`), so they
//! work before the page has hydrated.

use leptos::prelude::*;
use mailroom_shared::dto::{
    AccountFolder, AclPlan, AdminView, Anchor, AttachmentInfo, Draft, Folder, MessagePage, MessageView, RightsWhy,
    Settings, Sharing, SortKey, WebUser,
};
use mailroom_shared::rules::RulesPage;
use serde::{Deserialize, Serialize};

/// What went wrong, in the server's own words — without the "error
/// running server function" that `ServerFnError` puts before them.
pub fn said(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(message) => message.clone(),
        _ => "The server could not be reached; try again in a moment.".into(),
    }
}

/// Messages per page of the list.
pub const PAGE_SIZE: u32 = 50;

/// The signed-in user and their folder tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sidebar {
    pub user: WebUser,
    pub folders: Vec<Folder>,
}

/// How the compose form starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComposeStart {
    pub draft: Draft,
    /// The message being answered, flagged `\Answered` once sent.
    pub answers: Option<(String, u32)>,
    /// A stored message whose attachments the new one carries (the one
    /// forwarded, or the draft taken up again), and those attachments.
    pub carried_from: Option<(String, u32)>,
    pub carried: Vec<AttachmentInfo>,
    /// The draft (its UID in Drafts) this message replaces when saved or sent.
    pub replaces: Option<u32>,
    /// Names this form once: the server sends a form only once, whatever
    /// the Back button or a double click posts again.
    pub form_id: String,
    /// The addresses the user may send from (a choice when more than one).
    pub identities: Vec<String>,
    /// Addresses offered while a recipient is typed.
    pub known: Vec<String>,
    /// What others do with the message being answered: "bob@… is
    /// replying to it too", "carol@… answered it — …".
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The sharing page: the mailbox's sharing, and what was asked on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharePage {
    pub sharing: Sharing,
    /// What *apply to sub-folders* would change, when asked.
    pub plan: Option<Vec<AclPlan>>,
    /// Why someone has their rights, when asked (or why that failed).
    pub why: Option<Result<RightsWhy, String>>,
}

#[cfg(feature = "ssr")]
pub use server_side::{Fut, Mail, MailHandle};

#[cfg(feature = "ssr")]
mod server_side {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use leptos::prelude::*;
    use mailroom_shared::dto::{
        AccountFolder, AclPlan, AdminView, ComposeDefaults, Folder, MessagePage, MessageView, PageAt, RightsWhy,
        Settings, Sharing, SortKey, WebUser,
    };
    use mailroom_shared::rules::RulesPage;
    use mailroom_shared::team::{ActivityFilter, ActivityPage};

    pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

    /// The mailbox service as the signed-in user uses it from the web.
    pub trait Mail: Send + Sync {
        fn user(&self) -> WebUser;
        fn folders(&self) -> Fut<'_, Vec<Folder>>;
        fn page(&self, mailbox: String, sort: SortKey, at: PageAt, search: Option<String>) -> Fut<'_, MessagePage>;
        /// A message to read; opening it (`mark_seen`) marks it `\Seen`.
        fn message(&self, mailbox: String, uid: u32, remote_images: bool, mark_seen: bool) -> Fut<'_, MessageView>;
        fn sharing(&self, mailbox: String) -> Fut<'_, Sharing>;
        fn plan_sub_folders(&self, mailbox: String) -> Fut<'_, Vec<AclPlan>>;
        fn why(&self, mailbox: String, user: String) -> Fut<'_, RightsWhy>;
        fn account_folders(&self, account: String) -> Fut<'_, Vec<AccountFolder>>;
        fn admin(&self) -> Fut<'_, AdminView>;
        /// The rules page; `scope` as [`Scope::to_param`] writes it, empty
        /// for the user's own.
        fn rules(&self, scope: String) -> Fut<'_, RulesPage>;
        /// A fresh, unguessable name for a compose form.
        fn form_id(&self) -> String;
        fn settings(&self) -> Fut<'_, Settings>;
        /// A message's conversation, in order (its folder and the user's Sent).
        fn conversation(&self, mailbox: String, uid: u32) -> Fut<'_, Vec<MessageView>>;
        fn activity(&self, mailbox: String, filter: ActivityFilter) -> Fut<'_, ActivityPage>;
        /// The team address the user may answer as from `mailbox`, if any.
        fn team_identity(&self, mailbox: String) -> Fut<'_, Option<String>>;
        fn compose_defaults(&self) -> Fut<'_, ComposeDefaults>;
    }

    /// What the server puts into a signed-in request's extensions.
    #[derive(Clone)]
    pub struct MailHandle(pub Arc<dyn Mail>);

    /// The signed-in user's [`Mail`], or the error a signed-out request gets.
    pub fn mail() -> Result<Arc<dyn Mail>, ServerFnError> {
        use_context::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<MailHandle>().cloned())
            .map(|h| h.0)
            .ok_or_else(|| ServerFnError::new("You are not signed in."))
    }
}

/// The mail page's data in one request: the folder tree and the list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MailData {
    pub sidebar: Sidebar,
    pub page: Answer<MessagePage>,
}

/// What the mail page shows, in one request (a live change reloads it
/// whole: one request per settle window, not one per part).
#[server]
pub async fn load_mail(
    mailbox: String,
    sort: SortKey,
    page: u32,
    anchor: Option<Anchor>,
    search: Option<String>,
) -> Result<MailData, ServerFnError> {
    let mail = server_side::mail()?;
    let at = mailroom_shared::dto::PageAt {
        offset: page.saturating_mul(PAGE_SIZE),
        anchor,
    };
    // Side by side: neither needs the other, and a search of a big
    // folder should not wait for the tree's counts too.
    let (folders, page) = futures_util::future::join(mail.folders(), mail.page(mailbox, sort, at, search)).await;
    let folders = folders.map_err(ServerFnError::new)?;
    Ok(MailData {
        sidebar: Sidebar {
            user: mail.user(),
            folders,
        },
        page,
    })
}

/// What a page asked for, or why the user cannot have it now (a folder
/// deleted, a message expunged, a right taken away by someone else): an
/// answer about the user's own situation, not a failure of the server,
/// so it is not sent as an HTTP error.
pub type Answer<T> = Result<T, String>;

/// The answer of a loader that may say no, with a failure to reach the
/// server (or a sign-out) said in words too.
pub fn answer<T>(loaded: Result<Answer<T>, ServerFnError>) -> Answer<T> {
    loaded.map_err(|e| said(&e)).and_then(|a| a)
}

#[server]
pub async fn load_message(
    mailbox: String,
    uid: u32,
    remote_images: bool,
    mark_seen: bool,
) -> Result<Answer<MessageView>, ServerFnError> {
    let mail = server_side::mail()?;
    Ok(mail.message(mailbox, uid, remote_images, mark_seen).await)
}

/// The text a new message starts with: the signature, after `-- `.
pub fn signed(body: &str, signature: &str) -> String {
    match signature.trim().is_empty() {
        true => body.to_owned(),
        false => format!("\n\n-- \n{}{body}", signature.trim_end()),
    }
}

/// A compose form's start for the signed-in user: their identities, a
/// fresh form id, and the signature (for what `signs`).
#[cfg(feature = "ssr")]
async fn compose_start(
    mail: &std::sync::Arc<dyn server_side::Mail>,
    draft: Draft,
    signs: bool,
) -> Result<ComposeStart, ServerFnError> {
    let defaults = mail.compose_defaults().await.map_err(ServerFnError::new)?;
    let body = match signs {
        true => signed(&draft.body, &defaults.signature),
        false => draft.body.clone(),
    };
    Ok(ComposeStart {
        draft: Draft { body, ..draft },
        form_id: mail.form_id(),
        identities: defaults.identities,
        known: defaults.known,
        ..ComposeStart::default()
    })
}

/// An empty compose form.
#[server]
pub async fn new_compose() -> Result<ComposeStart, ServerFnError> {
    let mail = server_side::mail()?;
    compose_start(&mail, Draft::default(), true).await
}

/// The compose form's start from a stored message: a reply, reply-all or
/// forward of it (`mode` reply, all, forward), or a draft taken up again
/// (`draft`). A forward and a draft carry the message's attachments.
#[server]
pub async fn load_compose(mode: String, mailbox: String, uid: u32) -> Result<ComposeStart, ServerFnError> {
    use mailroom_shared::reply::{ReplyMode, draft_again, draft_for};
    let mail = server_side::mail()?;
    let me = mail.user().address;
    let original = mail
        .message(mailbox.clone(), uid, false, true)
        .await
        .map_err(ServerFnError::new)?;
    let mut start = compose_start(&mail, Draft::default(), false).await?;
    if mode == "attach" {
        // Forward as attachment: the whole message, as a file of the new one.
        let subject = original.summary.subject.clone();
        start = compose_start(
            &mail,
            Draft {
                subject: mailroom_shared::reply::prefixed("Fwd", &subject),
                ..Draft::default()
            },
            true,
        )
        .await?;
        start.carried_from = Some((mailbox, uid));
        start.carried = vec![AttachmentInfo {
            index: mailroom_shared::dto::WHOLE_MESSAGE,
            filename: mailroom_shared::reply::forwarded_file_name(&subject),
            content_type: "message/rfc822".into(),
            size: original.summary.size,
        }];
        return Ok(start);
    }
    if mode == "draft" {
        let folders = mail.folders().await.map_err(ServerFnError::new)?;
        // Only a draft in one's own Drafts is replaced when saved or sent
        // (another account's shared Drafts keep theirs).
        let in_drafts = folders
            .iter()
            .any(|f| f.info.name == mailbox && f.info.owner == me && f.info.special_use.as_deref() == Some("\\Drafts"));
        start.draft = draft_again(&original);
        start.replaces = (in_drafts && original.summary.draft).then_some(uid);
    } else {
        let mode = ReplyMode::parse(&mode).ok_or_else(|| ServerFnError::new("unknown compose mode"))?;
        start = compose_start(&mail, draft_for(mode, &me, &original), true).await?;
        start.warnings = mailroom_shared::team::warnings(&original.team);
        if let Some(team) = mail.team_identity(mailbox.clone()).await.map_err(ServerFnError::new)? {
            // Answering from a team inbox: as the team, unless changed.
            start.identities.insert(0, team.clone());
            start.draft.from = team;
        }
        if mode != ReplyMode::Forward {
            start.answers = Some((mailbox, uid));
            return Ok(start);
        }
    }
    if !original.attachments.is_empty() {
        start.carried_from = Some((mailbox, uid));
        start.carried = original.attachments;
    }
    Ok(start)
}

#[server]
pub async fn load_sharing(mailbox: String, preview: bool, why: Option<String>) -> Result<SharePage, ServerFnError> {
    let mail = server_side::mail()?;
    let sharing = mail.sharing(mailbox.clone()).await.map_err(ServerFnError::new)?;
    let plan = match preview {
        true => Some(
            mail.plan_sub_folders(mailbox.clone())
                .await
                .map_err(ServerFnError::new)?,
        ),
        false => None,
    };
    let why = match why.filter(|w| !w.trim().is_empty()) {
        Some(user) => Some(mail.why(mailbox, user).await),
        None => None,
    };
    Ok(SharePage { sharing, plan, why })
}

#[server]
pub async fn load_account_folders(account: String) -> Result<Vec<AccountFolder>, ServerFnError> {
    let mail = server_side::mail()?;
    mail.account_folders(account).await.map_err(ServerFnError::new)
}

#[server]
pub async fn load_admin() -> Result<AdminView, ServerFnError> {
    let mail = server_side::mail()?;
    mail.admin().await.map_err(ServerFnError::new)
}

#[server]
pub async fn load_settings() -> Result<Settings, ServerFnError> {
    let mail = server_side::mail()?;
    mail.settings().await.map_err(ServerFnError::new)
}

#[server]
pub async fn load_rules(scope: String) -> Result<RulesPage, ServerFnError> {
    let mail = server_side::mail()?;
    mail.rules(scope).await.map_err(ServerFnError::new)
}

#[server]
pub async fn load_conversation(mailbox: String, uid: u32) -> Result<Answer<Vec<MessageView>>, ServerFnError> {
    let mail = server_side::mail()?;
    Ok(mail.conversation(mailbox, uid).await)
}

#[server]
pub async fn load_activity(
    mailbox: String,
    filter: mailroom_shared::team::ActivityFilter,
) -> Result<Answer<mailroom_shared::team::ActivityPage>, ServerFnError> {
    let mail = server_side::mail()?;
    Ok(mail.activity(mailbox, filter).await)
}
