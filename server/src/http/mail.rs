//! The signed-in user's mail for the pages' server functions, and the
//! downloads (attachments, raw source).

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mailroom_frontend::api::{Fut, Mail};
use mailroom_shared::dates::Local;
use mailroom_shared::dto::{
    AccountFolder, AclPlan, AdminView, ComposeDefaults, Folder, MessagePage, MessageView, PageAt, RightsWhy, Settings,
    Sharing, SortKey, WebUser,
};
use mailroom_shared::rules::{RulesPage, Scope};
use serde::Deserialize;

use super::auth::SignedIn;
use super::{Web, message_of, refused};
use crate::service::{Principal, Service, localised, localised_notes};
use mailroom_shared::team::{ActivityFilter, ActivityPage};

/// The cookie in which the browser names its time zone (IANA, such as
/// `America/New_York`); set by the page's own code.
pub(crate) const ZONE_COOKIE: &str = "tz";

/// The service, acting for one principal.
pub(crate) struct WebMail {
    service: Service,
    principal: Principal,
    /// The reader's time zone: dates are shown on its clock (UTC when the
    /// browser has not said, or named a zone this server does not know).
    zone: jiff::tz::TimeZone,
}

impl WebMail {
    pub fn new(service: Service, principal: Principal, zone: Option<&str>) -> WebMail {
        let zone = zone
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        WebMail {
            service,
            principal,
            zone,
        }
    }

    /// How the moment `t` (Unix seconds) reads in the reader's zone.
    fn local(&self, t: i64) -> Local {
        let Ok(at) = jiff::Timestamp::from_second(t) else {
            return Local::default();
        };
        let info = self.zone.to_offset_info(at);
        Local {
            offset: info.offset().seconds(),
            zone: info.abbreviation().to_owned(),
        }
    }
}

/// A service result with its error as the user is told it.
fn told<T>(result: crate::Result<T>) -> Result<T, String> {
    result.map_err(|e| message_of(&e))
}

impl Mail for WebMail {
    fn user(&self) -> WebUser {
        WebUser {
            address: self.principal.address().to_owned(),
            server_admin: self.principal.is_server_admin(),
        }
    }

    fn folders(&self) -> Fut<'_, Vec<Folder>> {
        Box::pin(async move { self.service.folders(&self.principal).await.map_err(|e| message_of(&e)) })
    }

    fn page(&self, mailbox: String, sort: SortKey, at: PageAt, search: Option<String>) -> Fut<'_, MessagePage> {
        Box::pin(async move {
            self.service
                .page(
                    &self.principal,
                    &mailbox,
                    sort,
                    at,
                    mailroom_frontend::api::PAGE_SIZE,
                    search.as_deref(),
                )
                .await
                .map(|mut page| {
                    for m in &mut page.messages {
                        m.local = self.local(m.date);
                    }
                    page.now_local = self.local(page.now);
                    page
                })
                .map_err(|e| message_of(&e))
        })
    }

    fn message(&self, mailbox: String, uid: u32, remote_images: bool, mark_seen: bool) -> Fut<'_, MessageView> {
        Box::pin(async move {
            self.service
                .read_message(&self.principal, &mailbox, uid, remote_images, mark_seen)
                .await
                .map(|mut message| {
                    message.summary.local = self.local(message.summary.date);
                    let team = &mut message.team;
                    team.history = localised(std::mem::take(&mut team.history), |t| self.local(t));
                    team.notes = localised_notes(std::mem::take(&mut team.notes), |t| self.local(t));
                    message
                })
                .map_err(|e| message_of(&e))
        })
    }

    fn conversation(&self, mailbox: String, uid: u32) -> Fut<'_, Vec<MessageView>> {
        Box::pin(async move {
            self.service
                .conversation(&self.principal, &mailbox, uid)
                .await
                .map(|mut views| {
                    for v in &mut views {
                        v.summary.local = self.local(v.summary.date);
                    }
                    views
                })
                .map_err(|e| message_of(&e))
        })
    }

    fn team_identity(&self, mailbox: String) -> Fut<'_, Option<String>> {
        Box::pin(async move { told(self.service.team_identity(&self.principal, &mailbox).await) })
    }

    fn activity(&self, mailbox: String, filter: ActivityFilter) -> Fut<'_, ActivityPage> {
        Box::pin(async move {
            self.service
                .activity(&self.principal, &mailbox, filter)
                .await
                .map(|mut page| {
                    page.entries = localised(std::mem::take(&mut page.entries), |t| self.local(t));
                    page
                })
                .map_err(|e| message_of(&e))
        })
    }

    fn sharing(&self, mailbox: String) -> Fut<'_, Sharing> {
        Box::pin(async move { told(self.service.sharing(&self.principal, &mailbox).await) })
    }

    fn plan_sub_folders(&self, mailbox: String) -> Fut<'_, Vec<AclPlan>> {
        Box::pin(async move { told(self.service.plan_acl_for_sub_folders(&self.principal, &mailbox).await) })
    }

    fn why(&self, mailbox: String, user: String) -> Fut<'_, RightsWhy> {
        Box::pin(async move { told(self.service.why(&self.principal, &mailbox, &user).await) })
    }

    fn account_folders(&self, account: String) -> Fut<'_, Vec<AccountFolder>> {
        Box::pin(async move { told(self.service.account_folders(&self.principal, &account).await) })
    }

    fn compose_defaults(&self) -> Fut<'_, ComposeDefaults> {
        Box::pin(async move { told(self.service.compose_defaults(&self.principal).await) })
    }

    fn settings(&self) -> Fut<'_, Settings> {
        Box::pin(async move { told(self.service.settings(&self.principal).await) })
    }

    fn admin(&self) -> Fut<'_, AdminView> {
        Box::pin(async move { told(self.service.admin_view(&self.principal).await) })
    }

    fn rules(&self, scope: String) -> Fut<'_, RulesPage> {
        Box::pin(async move {
            let scope = match scope.as_str() {
                "" => None,
                text => Some(Scope::from_param(text).ok_or_else(|| format!("{text:?} is not a scope of rules"))?),
            };
            told(self.service.rules_page(&self.principal, scope).await)
        })
    }

    fn form_id(&self) -> String {
        format!("{:032x}", rand::random::<u128>())
    }
}

#[derive(Deserialize)]
pub(crate) struct PartQuery {
    #[serde(rename = "box")]
    mailbox: String,
    uid: u32,
    #[serde(default)]
    part: u32,
}

fn not_signed_in() -> Response {
    (StatusCode::UNAUTHORIZED, "You are not signed in.").into_response()
}

/// An attachment, as a download with its name and type.
pub(crate) async fn attachment(
    State(web): State<Web>,
    user: Option<Extension<SignedIn>>,
    Query(q): Query<PartQuery>,
) -> Response {
    let Some(Extension(user)) = user else {
        return not_signed_in();
    };
    match web.service.attachment(&user.principal, &q.mailbox, q.uid, q.part).await {
        Ok((name, ctype, bytes)) => {
            let ascii: String = name
                .chars()
                .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' })
                .collect();
            let disposition = format!(
                "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                ascii.replace('"', "_"),
                mailroom_frontend::url::encode(&name)
            );
            let ctype = if is_content_type(&ctype) {
                ctype
            } else {
                "application/octet-stream".into()
            };
            (
                [
                    (header::CONTENT_TYPE, ctype),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
                    (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'".into()),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => refused(&e),
    }
}

/// A message's source, as plain text (never rendered).
pub(crate) async fn raw(
    State(web): State<Web>,
    user: Option<Extension<SignedIn>>,
    Query(q): Query<PartQuery>,
) -> Response {
    let Some(Extension(user)) = user else {
        return not_signed_in();
    };
    match web.service.fetch(&user.principal, &q.mailbox, q.uid).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'"),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => refused(&e),
    }
}

/// A content type good enough to send as a header: `type/subtype` in
/// token characters (it came from a message, so it is checked).
fn is_content_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    s.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}
