//! The server administration page's form posts: domains and their
//! aliases, accounts (create, delete, reset password, admin flag), account
//! aliases, routing rules and public mailboxes. Every one is checked by
//! the service (only server admins); a refusal is an error on the page.

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;
use serde::Deserialize;

use super::Web;
use super::actions::outcome;
use super::auth::SignedIn;
use crate::error::Error;
use crate::service::ExternalInbox;
use mailroom_shared::admin::AdminOp;

#[derive(Deserialize)]
pub(crate) struct AdminAction {
    op: AdminOp,
    #[serde(default)]
    domain: String,
    #[serde(default)]
    alias: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    password: String,
    /// A checkbox: the new account is a server admin.
    #[serde(default)]
    admin: Option<String>,
    /// A checkbox: the new account's INBOX is a file of its domain's.
    #[serde(default)]
    inbox_file: Option<String>,
    #[serde(default)]
    pattern: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    locks: String,
    #[serde(default)]
    lock_timeout: String,
    /// A size such as `500M`, or `none`.
    #[serde(default)]
    quota: String,
    /// Set by the second click that confirms what destroys mail.
    #[serde(default)]
    confirmed: String,
}

fn number(what: &str, text: &str) -> crate::Result<i64> {
    text.trim()
        .parse()
        .map_err(|_| Error::BadInput(format!("the {what} must be a number")))
}

pub(crate) async fn admin(State(web): State<Web>, user: SignedIn, Form(a): Form<AdminAction>) -> Response {
    let (s, p) = (&web.service, &user.principal);
    let (address, alias, domain) = (a.address.trim(), a.alias.trim(), a.domain.trim());
    let result = async {
        match a.op {
            AdminOp::AddDomain => {
                let d = s.add_domain(p, domain, &[]).await?;
                Ok(format!("Domain {} created, with its public account.", d.name))
            }
            AdminOp::AddDomainAlias => {
                s.add_domain_alias(p, domain, alias).await?;
                Ok(format!("{alias} is now another name of {domain}."))
            }
            AdminOp::RemoveDomainAlias => {
                s.remove_domain_alias(p, alias).await?;
                Ok(format!("Domain alias {alias} removed."))
            }
            AdminOp::AddAccount => {
                let password = Some(a.password.as_str()).filter(|pw| !pw.is_empty());
                let account = match a.inbox_file.is_some() {
                    true => {
                        s.add_account_with_inbox_file(p, address, password, a.admin.is_some())
                            .await?
                    }
                    false => s.add_account(p, address, password, a.admin.is_some()).await?,
                };
                Ok(format!("Account {} created.", account.address()))
            }
            AdminOp::DeleteAccount if a.confirmed.is_empty() => Err(Error::BadInput(
                "deleting an account deletes all its mail: confirm it with “Delete account…”".into(),
            )),
            AdminOp::DeleteAccount => {
                s.delete_account(p, address).await?;
                Ok(format!("Account {address} deleted."))
            }
            AdminOp::ResetPassword => {
                if a.password.is_empty() {
                    return Err(Error::BadInput("type the new password".into()));
                }
                s.set_password(p, address, &a.password).await?;
                Ok(format!("New password set for {address}; their sessions were ended."))
            }
            AdminOp::MakeAdmin | AdminOp::UnmakeAdmin => {
                let on = a.op == AdminOp::MakeAdmin;
                s.set_server_admin(p, address, on).await?;
                Ok(match on {
                    true => format!("{address} is now a server administrator."),
                    false => format!("{address} is no longer a server administrator."),
                })
            }
            AdminOp::AddAlias => {
                s.add_alias(p, alias, address).await?;
                Ok(format!("{alias} now reaches {address}."))
            }
            AdminOp::RemoveAlias => {
                s.remove_alias(p, alias).await?;
                Ok(format!("Alias {alias} removed."))
            }
            AdminOp::AddRule => {
                let priority = match a.priority.trim() {
                    "" => 100,
                    text => number("priority", text)?,
                };
                s.add_routing_rule(p, a.pattern.trim(), a.target.trim(), priority)
                    .await?;
                Ok(format!(
                    "Routing rule {} → {} added.",
                    a.pattern.trim(),
                    a.target.trim()
                ))
            }
            AdminOp::DeleteRule => {
                s.delete_routing_rule(p, number("rule id", &a.id)?).await?;
                Ok("Routing rule removed.".to_owned())
            }
            AdminOp::CreatePublic => {
                let name = a.name.trim().trim_start_matches('/');
                let account = match domain {
                    "" => "~public".to_owned(),
                    d => format!("~public@{d}"),
                };
                let m = s.create_mailbox(p, &format!("{account}/{name}")).await?;
                Ok(format!(
                    "{} created: open its sharing to choose who may use it.",
                    m.name
                ))
            }
            AdminOp::SetExternal => {
                let lock_timeout = match a.lock_timeout.trim() {
                    "" => None,
                    text => Some(number("lock timeout", text)?.max(0) as u64),
                };
                let settings = ExternalInbox {
                    template: a.template.trim().to_owned(),
                    locks: Some(a.locks.trim().to_owned()).filter(|l| !l.is_empty()),
                    lock_timeout,
                };
                s.set_external_inbox(p, domain, Some(&settings)).await?;
                Ok(format!("{domain}: INBOXes are kept in {}.", settings.template))
            }
            AdminOp::InboxFile | AdminOp::InboxStore => {
                let file = a.op == AdminOp::InboxFile;
                s.set_account_external_inbox(p, address, file).await?;
                Ok(match file {
                    true => format!("{address}'s INBOX is now its file."),
                    false => format!("{address}'s INBOX is now kept by Mailroom."),
                })
            }
            AdminOp::SetQuota | AdminOp::SetDomainQuota => {
                let bytes = crate::service::parse_size(&a.quota).map_err(Error::BadInput)?;
                let whose = match a.op {
                    AdminOp::SetQuota => {
                        s.set_quota(p, address, bytes).await?;
                        address
                    }
                    _ => {
                        s.set_domain_quota(p, domain, bytes).await?;
                        domain
                    }
                };
                Ok(match bytes {
                    Some(b) => format!(
                        "{whose} may now hold {} of mail.",
                        mailroom_shared::limits::human_size(b)
                    ),
                    None => format!("{whose} has no quota now."),
                })
            }
            AdminOp::InternalInbox => {
                s.set_external_inbox(p, domain, None).await?;
                Ok(format!("{domain}: INBOXes are kept by Mailroom."))
            }
            AdminOp::Unknown => Err(Error::BadInput("unknown administration action".into())),
        }
    }
    .await;
    outcome("/admin", result)
}
