//! Server administration: domains and their aliases, public mailboxes,
//! accounts (create, delete, reset password, admin flag), account aliases
//! and routing rules. Only server admins get the data; every form posts
//! to the server's `/admin`, which checks again.

use leptos::prelude::*;
use leptos_meta::Title;
use mailroom_shared::admin::AdminOp;
use mailroom_shared::dto::{AccountView, AdminView, DomainView, RoutingRuleView, StorageUse};
use mailroom_shared::limits::human_size;

use crate::api::load_admin;
use crate::page::PageFrame;
use crate::sharing::share_href;

#[component]
pub fn AdminPage() -> impl IntoView {
    let view_data = Resource::new(|| (), |_| load_admin());
    let back = Signal::derive(|| ("/mail".to_owned(), "← Back to your mail".to_owned()));
    view! {
        <Title text="Administration · Mailroom"/>
        <PageFrame back>
            <h1>"Server administration"</h1>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view_data.await {
                        Ok(v) => view! { <AdminBody view=v/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert" id="admin-refused">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

/// A one-button form posting `op` (and hidden fields) to `/admin`.
fn admin_button(op: AdminOp, fields: Vec<(&'static str, String)>, label: &'static str, danger: bool) -> impl IntoView {
    let hidden = fields
        .into_iter()
        .map(|(name, value)| view! { <input type="hidden" name=name value=value/> })
        .collect_view();
    view! {
        <form method="post" action="/admin" class="inline">
            {hidden}
            <button type="submit" name="op" value=op.as_str() class="ghost" class:danger=danger>{label}</button>
        </form>
    }
}

#[component]
fn AdminBody(view: AdminView) -> impl IntoView {
    let AdminView {
        domains,
        accounts,
        routing_rules,
    } = view;
    (
        view! { <Domains domains/> }.into_any(),
        view! { <Accounts accounts/> }.into_any(),
        view! { <RoutingRules rules=routing_rules/> }.into_any(),
    )
}

#[component]
fn Domains(domains: Vec<DomainView>) -> impl IntoView {
    let rows = domains
        .into_iter()
        .map(|d| {
            let aliases = d
                .aliases
                .iter()
                .map(|a| {
                    view! { <li>{a.clone()} {admin_button(AdminOp::RemoveDomainAlias, vec![("alias", a.clone())], "Remove", true)}</li> }
                })
                .collect_view();
            let public = d
                .public_mailboxes
                .iter()
                .map(|m| view! { <li><a href=share_href(m)>{m.clone()}</a></li> })
                .collect_view();
            view! {
                <tr data-domain=d.name.clone()>
                    <td><strong>{d.name.clone()}</strong>
                        <p class="muted small">{match d.external_inbox.clone() {
                            Some(t) => format!("INBOXes outside Mailroom: {t}"),
                            None => "INBOXes kept by Mailroom".to_owned(),
                        }}</p>
                        {external_form(&d)}
                        <p class="muted small quota">{format!("Storage: {}", storage_text(d.quota))}</p>
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="domain" value=d.name.clone()/>
                            <input type="text" name="quota" placeholder="none" aria-label="Domain quota" class="narrow-wide"
                                value=d.quota.map(|q| size_text(q.limit)).unwrap_or_default()/>
                            <button type="submit" name="op" value=AdminOp::SetDomainQuota.as_str() class="ghost">"Set domain quota"</button>
                        </form></td>
                    <td><ul class="plain">{aliases}</ul>
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="domain" value=d.name.clone()/>
                            <input type="text" name="alias" placeholder="alias.example" aria-label="New domain alias" required/>
                            <button type="submit" name="op" value=AdminOp::AddDomainAlias.as_str() class="ghost">"Add alias"</button>
                        </form></td>
                    <td><ul class="plain">{public}</ul>
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="domain" value=d.name.clone()/>
                            <input type="text" name="name" placeholder="Support" aria-label="New public mailbox" required/>
                            <button type="submit" name="op" value=AdminOp::CreatePublic.as_str() class="ghost">"Create public mailbox"</button>
                        </form></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="domains">
            <h2>"Domains"</h2>
            <table>
                <thead><tr><th>"Domain"</th><th>"Aliases"</th><th>"Public mailboxes (~public)"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <form method="post" action="/admin" class="inline-form">
                <input type="text" name="domain" placeholder="example.org" aria-label="New domain" required/>
                <button type="submit" name="op" value=AdminOp::AddDomain.as_str() class="ghost">"Add domain"</button>
            </form>
        </section>
    }
}

/// Where the domain's INBOXes live: mbox files shared with legacy
/// programs (path template, locks, lock timeout), or Mailroom's store.
fn external_form(d: &DomainView) -> impl IntoView + use<> {
    let external = d.external_inbox.is_some();
    view! {
        <details class="external">
            <summary class="small">"INBOX files…"</summary>
            <form method="post" action="/admin" class="inline-form">
                <input type="hidden" name="domain" value=d.name.clone()/>
                <input type="text" name="template" placeholder="/var/mail/{user}" aria-label="INBOX file path"
                    value=d.external_inbox.clone().unwrap_or_default() required/>
                <input type="text" name="locks" placeholder="fcntl,dotlock" aria-label="Lock methods" class="narrow-wide"
                    value=d.lock_methods.clone().unwrap_or_default()/>
                <input type="number" name="lock_timeout" placeholder="10" aria-label="Lock timeout (seconds)" class="narrow"
                    value=d.lock_timeout.map(|t| t.to_string()).unwrap_or_default()/>
                <button type="submit" name="op" value=AdminOp::SetExternal.as_str() class="ghost">"Keep INBOXes in these files"</button>
            </form>
            {external.then(|| admin_button(AdminOp::InternalInbox, vec![("domain", d.name.clone())], "Keep INBOXes in Mailroom again", false))}
        </details>
    }
}

#[component]
fn Accounts(accounts: Vec<AccountView>) -> impl IntoView {
    let rows = accounts
        .into_iter()
        .filter(|a| a.can_sign_in)
        .map(|a| {
            let address = a.address.clone();
            let aliases = a
                .aliases
                .iter()
                .map(|alias| view! { <li>{alias.clone()} {admin_button(AdminOp::RemoveAlias, vec![("alias", alias.clone())], "Remove", true)}</li> })
                .collect_view();
            let admin_toggle = match a.server_admin {
                true => admin_button(AdminOp::UnmakeAdmin, vec![("address", address.clone())], "Remove admin", false).into_any(),
                false => admin_button(AdminOp::MakeAdmin, vec![("address", address.clone())], "Make admin", false).into_any(),
            };
            view! {
                <tr data-account=address.clone()>
                    <td><strong>{address.clone()}</strong>
                        {a.server_admin.then(|| view! { " " <span class="tag">"admin"</span> })}
                        {a.external_inbox.then(|| view! { " " <span class="tag">"INBOX file"</span> })}</td>
                    <td><ul class="plain">{aliases}</ul>
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="address" value=address.clone()/>
                            <input type="text" name="alias" placeholder="alias name" aria-label="New alias" required/>
                            <button type="submit" name="op" value=AdminOp::AddAlias.as_str() class="ghost">"Add alias"</button>
                        </form></td>
                    <td class="quota">{storage_text(a.quota)}
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="address" value=address.clone()/>
                            <input type="text" name="quota" placeholder="none" aria-label="Quota" class="narrow-wide"
                                value=a.quota.map(|q| size_text(q.limit)).unwrap_or_default()/>
                            <button type="submit" name="op" value=AdminOp::SetQuota.as_str() class="ghost">"Set quota"</button>
                        </form></td>
                    <td>
                        <form method="post" action="/admin" class="inline-form">
                            <input type="hidden" name="address" value=address.clone()/>
                            <input type="password" name="password" placeholder="new password" aria-label="New password"
                                autocomplete="new-password" required/>
                            <button type="submit" name="op" value=AdminOp::ResetPassword.as_str() class="ghost">"Reset password"</button>
                        </form>
                        {admin_toggle}
                        {match a.external_inbox {
                            true => admin_button(AdminOp::InboxStore, vec![("address", address.clone())], "INBOX into Mailroom", false).into_any(),
                            false => admin_button(AdminOp::InboxFile, vec![("address", address.clone())], "INBOX as a file", false).into_any(),
                        }}
                        <details class="confirm inline-confirm delete-account">
                            <summary class="ghost danger">"Delete account…"</summary>
                            <form method="post" action="/admin" class="inline">
                                <input type="hidden" name="address" value=address.clone()/>
                                <input type="hidden" name="confirmed" value="1"/>
                                <span class="small">{format!("{address} and all its mail will be gone for good. ")}</span>
                                <button type="submit" name="op" value=AdminOp::DeleteAccount.as_str() class="danger">"Delete account"</button>
                            </form>
                        </details>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="accounts">
            <h2>"Accounts"</h2>
            <table>
                <thead><tr><th>"Account"</th><th>"Aliases"</th><th>"Storage"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <form method="post" action="/admin" class="inline-form" id="add-account">
                <input type="text" name="address" placeholder="name@domain" aria-label="New account" required/>
                <input type="password" name="password" placeholder="password" aria-label="Password" autocomplete="new-password"/>
                <label class="small"><input type="checkbox" name="admin" value="1"/>" server admin"</label>
                <label class="small"><input type="checkbox" name="inbox_file" value="1"/>" INBOX as a file (legacy mailers)"</label>
                <button type="submit" name="op" value=AdminOp::AddAccount.as_str() class="primary">"Create account"</button>
            </form>
            <p class="muted small">"Deleting an account deletes its mailboxes and messages."</p>
        </section>
    }
}

#[component]
fn RoutingRules(rules: Vec<RoutingRuleView>) -> impl IntoView {
    let rows = rules
        .into_iter()
        .map(|r| {
            view! {
                <tr>
                    <td>{r.priority}</td>
                    <td><code>{r.pattern}</code></td>
                    <td><code>{r.target}</code></td>
                    <td>{admin_button(AdminOp::DeleteRule, vec![("id", r.id.to_string())], "Remove", true)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" id="routing">
            <h2>"Routing rules"</h2>
            <p class="muted small">"Applied to recipient addresses before aliases, lowest priority first: a “*” in the pattern matches any text, and a “*” in the target is replaced by it (*@old.example → *@example.com)."</p>
            <table>
                <thead><tr><th>"Priority"</th><th>"Pattern"</th><th>"Target"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <form method="post" action="/admin" class="inline-form">
                <input type="number" name="priority" placeholder="100" aria-label="Priority" class="narrow"/>
                <input type="text" name="pattern" placeholder="*@old.example" aria-label="Pattern" required/>
                <input type="text" name="target" placeholder="*@example.com" aria-label="Target" required/>
                <button type="submit" name="op" value=AdminOp::AddRule.as_str() class="ghost">"Add rule"</button>
            </form>
        </section>
    }
}

/// "12.0 MB of 1.0 GB" for a quota, "no quota" without one.
pub fn storage_text(quota: Option<StorageUse>) -> String {
    match quota {
        Some(q) => format!("{} of {}", human_size(q.used), human_size(q.limit)),
        None => "no quota".into(),
    }
}

/// A size as the quota field takes it back: whole megabytes or gigabytes.
fn size_text(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => b.to_string(),
    }
}
