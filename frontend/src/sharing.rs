//! Sharing: a mailbox's sharing page (its ACL as presets or single
//! rights, *apply to sub-folders* with a preview, seen mode, and *why can
//! they see it?*), and the page that opens another account's folders
//! and subscribes to them. Every change is a form post the server checks.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::Rights;
use mailroom_shared::acl::AclEntry;
use mailroom_shared::dto::{AccountFolder, AclPlan, RightsWhy, SeenMode, Sharing};

use crate::api::{SharePage, load_account_folders, load_sharing};
use crate::page::{PageFrame, RightsBoxes, RightsList};
use crate::url::{encode, folder_href};

/// What the forms call each preset (`Rights::PRESETS` names them).
fn preset_label(name: &str) -> &'static str {
    match name {
        "read" => "Read",
        "read-write" => "Read and write",
        _ => "Full (also shares and deletes the folder)",
    }
}

pub fn share_href(mailbox: &str) -> String {
    format!("/share?box={}", encode(mailbox))
}

#[component]
pub fn SharePageView() -> impl IntoView {
    let query = use_query_map();
    let mailbox = Memo::new(move |_| query.read().get("box").unwrap_or_else(|| "INBOX".into()));
    let page = Resource::new(
        move || {
            let q = query.read();
            (mailbox.get(), q.get("preview").is_some(), q.get("why"))
        },
        |(mailbox, preview, why)| load_sharing(mailbox, preview, why),
    );
    let back = Signal::derive(move || (folder_href(&mailbox.get()), format!("← Back to {}", mailbox.get())));
    view! {
        <Title text=move || format!("Sharing {} · Mailroom", mailbox.get())/>
        <PageFrame back>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => view! { <ShareBody page=p/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn ShareBody(page: SharePage) -> impl IntoView {
    let SharePage { sharing, plan, why } = page;
    let name = sharing.mailbox.name.clone();
    let mine = sharing.mailbox.rights;
    // Each part is erased to `AnyView`: together their view types nest
    // deeper than the compiler's limit.
    let admin_part = sharing.acl.clone().map(|acl| {
        (
            view! { <AclEditor sharing=sharing.clone() acl/> }.into_any(),
            view! { <SubFolders sharing=sharing.clone() plan/> }.into_any(),
            view! { <SeenModeForm sharing=sharing.clone()/> }.into_any(),
            view! { <SendAsForm sharing=sharing.clone()/> }.into_any(),
            view! { <WhyForm mailbox=sharing.mailbox.name.clone() why/> }.into_any(),
        )
    });
    let not_admin = sharing.acl.is_none().then(|| {
        view! { <p class="muted">"Only the folder's administrators (the “a” right) can see and change who may use it."</p> }
    });
    view! {
        <h1>"Sharing “" {name.clone()} "”"</h1>
        <p class="muted small">"Owned by " {sharing.mailbox.owner.clone()}</p>
        <section class="card" id="my-rights">
            <h2>"Your rights"</h2>
            <RightsList rights=mine/>
        </section>
        {not_admin}
        {admin_part}
    }
}

/// The entries, each editable, and a form to add one.
#[component]
fn AclEditor(sharing: Sharing, acl: Vec<AclEntry>) -> impl IntoView {
    let mailbox = sharing.mailbox.name.clone();
    let rows = acl
        .into_iter()
        .map(|e| view! { <EntryRow mailbox=mailbox.clone() entry=e/> }.into_any())
        .collect_view();
    let options = sharing
        .accounts
        .iter()
        .map(|a| view! { <option value=a.clone()></option> })
        .collect_view();
    let preset = view! { <PresetSelect current=Rights::READ/> }.into_any();
    let boxes = view! { <RightsBoxes rights=Rights::NONE/> }.into_any();
    view! {
        <section class="card" id="acl">
            <h2>"Who may use it"</h2>
            <p class="muted small">"The owner always has every right. “anyone” means everybody, “authenticated” everybody signed in, “anyone@domain” everybody in that domain; a “denied” entry takes rights away."</p>
            <table class="acl">
                <thead><tr><th>"Who"</th><th>"Rights"</th><th></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            <form method="post" action="/share" class="add-entry" id="add-entry">
                <h3>"Add someone"</h3>
                <input type="hidden" name="mailbox" value=mailbox.clone()/>
                <input type="hidden" name="op" value="set"/>
                <input type="hidden" name="was" value=""/>
                <input type="text" name="identifier" list="accounts" placeholder="name, anyone, authenticated, anyone@domain"
                    aria-label="Who" required autocomplete="off"/>
                <datalist id="accounts">{options}</datalist>
                {preset}
                <label class="small"><input type="checkbox" name="negative" value="1"/>" deny these rights instead"</label>
                <button type="submit" class="primary">"Add"</button>
                <details class="custom">
                    <summary class="small">"Choose single rights…"</summary>
                    {boxes}
                    <button type="submit" name="custom" value="1" class="ghost">"Add with these rights"</button>
                </details>
            </form>
        </section>
    }
}

#[component]
fn PresetSelect(current: Rights) -> impl IntoView {
    let current_preset = current.preset().unwrap_or("custom");
    let options = Rights::PRESETS
        .iter()
        .map(|(value, rights)| {
            let label = format!("{} ({rights})", preset_label(value));
            view! { <option value=*value selected=*value == current_preset>{label}</option> }
        })
        .collect_view();
    view! {
        <select name="preset" aria-label="Rights">
            {options}
            {(current_preset == "custom").then(|| view! { <option value="custom" selected=true>{format!("Custom ({current})")}</option> })}
        </select>
    }
}

#[component]
fn EntryRow(mailbox: String, entry: AclEntry) -> impl IntoView {
    let who = entry.identifier_string();
    let label = entry.identifier.to_string();
    let preset = view! { <PresetSelect current=entry.rights/> }.into_any();
    let boxes = view! { <RightsBoxes rights=entry.rights/> }.into_any();
    view! {
        <tr data-entry=who.clone()>
            <td class="who">{label}{entry.negative.then(|| view! { " " <span class="tag danger">"denied"</span> })}</td>
            <td>
                <form method="post" action="/share" class="entry">
                    <input type="hidden" name="mailbox" value=mailbox.clone()/>
                    <input type="hidden" name="identifier" value=who.clone()/>
                    <input type="hidden" name="op" value="set"/>
                    <input type="hidden" name="was" value=entry.rights.to_string()/>
                    {preset}
                    <button type="submit" class="ghost">"Save"</button>
                    <details class="custom">
                        <summary class="small">"Rights…"</summary>
                        {boxes}
                        <button type="submit" name="custom" value="1" class="ghost">"Save these rights"</button>
                    </details>
                </form>
            </td>
            <td>
                <form method="post" action="/share">
                    <input type="hidden" name="mailbox" value=mailbox.clone()/>
                    <input type="hidden" name="identifier" value=who.clone()/>
                    <button type="submit" name="op" value="remove" class="ghost danger">"Remove"</button>
                </form>
            </td>
        </tr>
    }
}

fn acl_text(acl: &[AclEntry]) -> String {
    if acl.is_empty() {
        return "only the owner".into();
    }
    acl.iter()
        .map(|e| format!("{} {}", e.identifier_string(), e.rights))
        .collect::<Vec<_>>()
        .join(", ")
}

/// *Apply to sub-folders*: first what it would change, then the button.
#[component]
fn SubFolders(sharing: Sharing, plan: Option<Vec<AclPlan>>) -> impl IntoView {
    let n = sharing.sub_folders.len();
    if n == 0 {
        return ().into_any();
    }
    let mailbox = sharing.mailbox.name.clone();
    let preview_href = format!("{}&preview=1#sub-folders", share_href(&mailbox));
    let body = match plan {
        None => view! {
            <p>{format!("This folder has {n} sub-folder(s). ")}
                <a href=preview_href id="preview-sub-folders">"Show what copying these rights to them would change"</a></p>
        }
        .into_any(),
        Some(plans) if plans.is_empty() => {
            view! { <p class="muted">"The sub-folders already have exactly these rights."</p> }.into_any()
        }
        Some(plans) => {
            let applicable = plans.iter().any(|p| p.refused.is_none());
            let items = plans
                .into_iter()
                .map(|p| {
                    view! {
                        <li data-mailbox=p.mailbox.clone()>
                            <strong>{p.mailbox.clone()}</strong>{format!(": {} → {}", acl_text(&p.before), acl_text(&p.after))}
                            {p.refused.map(|r| view! { " " <span class="tag danger">{format!("left alone: {r}")}</span> })}
                        </li>
                    }
                })
                .collect_view();
            view! {
                <ul class="plan">{items}</ul>
                {applicable.then(|| view! {
                    <form method="post" action="/share">
                        <input type="hidden" name="mailbox" value=mailbox.clone()/>
                        <button type="submit" name="op" value="apply" class="primary" id="apply-sub-folders">"Apply to sub-folders"</button>
                    </form>
                })}
            }
            .into_any()
        }
    };
    view! {
        <section class="card" id="sub-folders">
            <h2>"Sub-folders"</h2>
            {body}
        </section>
    }
    .into_any()
}

/// Who may answer from this folder as its owner.
#[component]
fn SendAsForm(sharing: Sharing) -> impl IntoView {
    let owner = sharing.mailbox.owner.clone();
    let name = sharing.mailbox.name.clone();
    view! {
        <section class="card" id="send-as">
            <h2>"Answer as the team"</h2>
            <p class="small">{format!("Who may reply from this folder with {owner} as the sender (addresses, separated by commas). Their replies are filed in this folder, and its Activity page says who sent them.")}</p>
            <form method="post" action="/team">
                <input type="hidden" name="op" value="settings"/>
                <input type="hidden" name="set_send_as" value="1"/>
                <input type="hidden" name="mailbox" value=name.clone()/>
                <input type="hidden" name="back" value=format!("/share?box={}", crate::url::encode(&name))/>
                <input type="text" name="send_as" value=sharing.send_as.join(", ") placeholder="bob@example.com, carol@example.com" aria-label="May send as the owner"/>
                <button type="submit" class="ghost">"Save"</button>
            </form>
        </section>
    }
}

#[component]
fn SeenModeForm(sharing: Sharing) -> impl IntoView {
    let mode = sharing.mailbox.seen_mode;
    view! {
        <section class="card" id="seen-mode">
            <h2>"Read state"</h2>
            <form method="post" action="/share">
                <input type="hidden" name="mailbox" value=sharing.mailbox.name.clone()/>
                <label><input type="radio" name="seen_mode" value="shared" checked=mode == SeenMode::Shared/>
                    " Shared: a message one person reads is read for everybody (a team inbox)"</label>
                <label><input type="radio" name="seen_mode" value="per-user" checked=mode == SeenMode::PerUser/>
                    " Per user: everybody keeps their own read and unread (an announcements folder)"</label>
                <button type="submit" name="op" value="seen" class="ghost">"Save"</button>
            </form>
        </section>
    }
}

/// *Why can they see it?*: a user's effective rights and the entries
/// that gave and took them.
#[component]
fn WhyForm(mailbox: String, why: Option<Result<RightsWhy, String>>) -> impl IntoView {
    let asked = why.as_ref().and_then(|w| w.as_ref().ok()).map(|w| w.user.clone());
    let answer = why.map(|w| match w {
        Ok(w) => view! { <WhyAnswer why=w/> }.into_any(),
        Err(e) => view! { <p class="alert error">{e}</p> }.into_any(),
    });
    view! {
        <section class="card" id="why">
            <h2>"Why can they see it?"</h2>
            <form method="get" action="/share" class="inline-form">
                <input type="hidden" name="box" value=mailbox/>
                <input type="text" name="why" list="accounts" placeholder="user name" aria-label="User" required
                    value=asked.unwrap_or_default()/>
                <button type="submit" class="ghost">"Explain"</button>
            </form>
            {answer}
        </section>
    }
}

#[component]
fn WhyAnswer(why: RightsWhy) -> impl IntoView {
    let e = why.explanation;
    let mut reasons = Vec::new();
    if e.is_owner {
        reasons.push("owns the folder, and an owner has every right".to_owned());
    }
    if e.is_server_admin {
        reasons.push("is a server administrator, who may always see and share every folder (l a)".to_owned());
    }
    for g in &e.granted_by {
        reasons.push(format!(
            "is granted “{}” by the entry {}",
            g.rights,
            g.identifier_string()
        ));
    }
    for d in &e.denied_by {
        reasons.push(format!(
            "is denied “{}” by the entry {}",
            d.rights,
            d.identifier_string()
        ));
    }
    if reasons.is_empty() {
        reasons.push("is named by no entry".to_owned());
    }
    let items = reasons.into_iter().map(|r| view! { <li>{r}</li> }).collect_view();
    let summary = if e.rights.is_empty() {
        format!("{} has no rights here.", why.user)
    } else {
        format!("{} has “{}”:", why.user, e.rights)
    };
    view! {
        <div class="why-answer" data-rights=e.rights.to_string()>
            <p><strong>{summary}</strong></p>
            <RightsList rights=e.rights/>
            <p>"Because " {why.user.clone()} ":"</p>
            <ul class="reasons">{items}</ul>
        </div>
    }
}

/// Another account's folders: `~name` (or `name@domain`, or an alias).
#[component]
pub fn BrowsePage() -> impl IntoView {
    let query = use_query_map();
    let account = Memo::new(move |_| query.read().get("account").filter(|a| !a.trim().is_empty()));
    let folders = Resource::new(
        move || account.get(),
        |account| async move {
            match account {
                Some(a) => load_account_folders(a).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let back = Signal::derive(|| ("/mail".to_owned(), "← Back to your mail".to_owned()));
    view! {
        <Title text="Other users' folders · Mailroom"/>
        <PageFrame back>
            <h1>"Other users' folders"</h1>
            <form method="get" action="/browse" class="inline-form card">
                <input type="text" name="account" placeholder="~name" aria-label="Account" required
                    value=move || account.get().unwrap_or_default()/>
                <button type="submit" class="primary">"Open"</button>
                <span class="muted small">"Type ~name (or name@domain) to see the folders that account lets you see."</span>
            </form>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match folders.await {
                        Ok(Some(list)) => view! { <AccountFolders account=account.get_untracked().unwrap_or_default() folders=list/> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => view! { <p class="alert error" role="alert">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn AccountFolders(account: String, folders: Vec<AccountFolder>) -> impl IntoView {
    if folders.is_empty() {
        return view! { <p class="muted">{format!("{account} shares no folders with you.")}</p> }.into_any();
    }
    let back = format!("/browse?account={}", encode(&account));
    let rows = folders
        .into_iter()
        .map(|f| {
            let name = f.info.name.clone();
            let (op, label) = match f.subscribed {
                true => ("unsubscribe", "Remove from my folders"),
                false => ("subscribe", "Add to my folders"),
            };
            view! {
                <tr data-folder=name.clone()>
                    <td><a href=folder_href(&name)>{name.clone()}</a></td>
                    <td><code title="your rights">{f.info.rights.to_string()}</code></td>
                    <td>
                        <form method="post" action="/subscriptions">
                            <input type="hidden" name="mailbox" value=name.clone()/>
                            <input type="hidden" name="back" value=back.clone()/>
                            <button type="submit" name="op" value=op class="ghost">{label}</button>
                        </form>
                    </td>
                    <td><a href=share_href(&name) class="small">"Sharing"</a></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="card folders-table">
            <thead><tr><th>"Folder"</th><th>"Your rights"</th><th></th><th></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
    .into_any()
}
