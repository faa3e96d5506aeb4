//! Working as a team in a shared folder: who else is here, the team's
//! filters, a message's assignment, status, notes, history and readers,
//! the folder's Activity page and a conversation read in order.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::dates::Local;
use mailroom_shared::dto::MessageView;
use mailroom_shared::team::{Activity, ActivityFilter, ActivityPage, Doing, Present, Status, TeamView, What};

use crate::api::{Answer, answer, load_activity, load_conversation};
use crate::page::PageFrame;
use crate::url::{MailView, encode, folder_href};

/// "bob@example.com via IMAP", "alice@example.com (replying) via the web".
fn present_text(p: &Present) -> String {
    let doing = match p.doing {
        Doing::Open => "",
        Doing::Reading(_) => " (reading)",
        Doing::Replying(_) => " (replying)",
    };
    format!("{}{doing} via {}", p.who, p.via.label())
}

/// Small avatars of those present, for the folder tree.
pub fn initials(present: &[Present]) -> impl IntoView + use<> {
    let avatars = present
        .iter()
        .take(3)
        .map(|p| view! { <span class="avatar tiny" title=present_text(p) data-present=p.who.clone()>{p.initials()}</span> })
        .collect_view();
    (!present.is_empty()).then(|| view! { <span class="present-initials">{avatars}</span> })
}

/// Who else has the folder open, above its list.
#[component]
pub fn PresenceBar(present: Vec<Present>) -> impl IntoView {
    if present.is_empty() {
        return view! { <p class="presence muted small" id="presence" data-count="0">"Nobody else is here."</p> }
            .into_any();
    }
    let people = present
        .iter()
        .map(|p| {
            view! {
                <li class="present" data-present=p.who.clone() data-via=p.via.code()>
                    <span class="avatar" aria-hidden="true">{p.initials()}</span>
                    <span class="small">{present_text(p)}</span>
                </li>
            }
        })
        .collect_view();
    view! {
        <div class="presence" id="presence" data-count=present.len()>
            <span class="muted small">"Also here: "</span>
            <ul class="present-list">{people}</ul>
        </div>
    }
    .into_any()
}

/// The team's filters and the Activity page, for a shared folder.
#[component]
pub fn TeamFilters(view_state: MailView) -> impl IntoView {
    let link = |label: &'static str, q: &'static str, id: &'static str| {
        let href = MailView {
            search: Some(q.to_owned()),
            page: 0,
            anchor: None,
            uid: None,
            ..view_state.clone()
        }
        .href();
        let active = view_state.search.as_deref() == Some(q);
        view! { <a class="chip small" class:active=active href=href id=id>{label}</a> }
    };
    let all = MailView {
        search: None,
        page: 0,
        anchor: None,
        uid: None,
        ..view_state.clone()
    }
    .href();
    view! {
        <nav class="team-filters small" aria-label="Team filters">
            <a class="chip small" href=all>"All"</a>
            {link("Mine", "is:mine", "filter-mine")}
            {link("Unassigned", "is:unassigned", "filter-unassigned")}
            {link("Open", "is:open", "filter-open")}
            {link("Waiting", "is:waiting", "filter-waiting")}
            {link("Done", "is:done", "filter-done")}
            <a class="small" href=format!("/activity?box={}", encode(&view_state.mailbox)) id="activity-link">"Activity"</a>
        </nav>
    }
}

/// A list row's team marks: whose it is, and where it stands.
pub fn row_marks(assignee: Option<String>, status: Status) -> impl IntoView + use<> {
    view! {
        {assignee.map(|a| view! { <span class="tag assignee" title="Assigned to" data-assignee=a.clone()>{format!("→ {a}")}</span> })}
        {(status != Status::Open).then(|| view! { <span class=format!("tag status {}", status.code())>{status.code()}</span> })}
    }
}

fn when(at: i64, local: &Local) -> String {
    mailroom_shared::dates::long_date(at, local)
}

fn history_line(a: &Activity) -> impl IntoView + use<> {
    view! {
        <li data-what=a.what.code() data-actor=a.actor.clone()>
            <span>{a.sentence()}</span>
            <span class="muted small">{format!(", {}", when(a.at, &a.local))}</span>
        </li>
    }
}

/// Warnings for the reader: others reading or replying to this message,
/// or an answer already sent.
fn warnings(team: &TeamView) -> impl IntoView + use<> {
    mailroom_shared::team::warnings(team)
        .into_iter()
        .map(|l| view! { <p class="alert notice team-warning" role="status">{l}</p> })
        .collect_view()
}

/// The team's side of a message in the reader.
#[component]
pub fn TeamPanel(mailbox: String, uid: u32, team: TeamView, back: String) -> impl IntoView {
    if !team.shared {
        return ().into_any();
    }
    let assignee = team.assignee.clone().unwrap_or_default();
    let options = team
        .assignable
        .iter()
        .map(|a| view! { <option value=a.clone() selected=*a == assignee>{a.clone()}</option> })
        .collect_view();
    let statuses = Status::ALL
        .into_iter()
        .map(|s| view! { <option value=s.code() selected=s == team.status>{s.code()}</option> })
        .collect_view();
    let hidden = move |mailbox: &str, back: &str| {
        view! {
            <input type="hidden" name="mailbox" value=mailbox.to_owned()/>
            <input type="hidden" name="uid" value=uid/>
            <input type="hidden" name="back" value=back.to_owned()/>
        }
    };
    let notes = team
        .notes
        .iter()
        .map(|n| {
            view! {
                <li class="note"><strong>{n.author.clone()}</strong>
                    <span class="muted small">{format!(" {}", when(n.at, &n.local))}</span>
                    <p>{n.body.clone()}</p></li>
            }
        })
        .collect_view();
    let history = team.history.iter().map(history_line).collect_view();
    let read_by = (!team.read_by.is_empty()).then(|| {
        view! { <p class="small read-by" id="read-by">"Read by: " {team.read_by.join(", ")}</p> }
    });
    let shown = match &team.assignee {
        Some(a) => format!("Assigned to {a} · {}", team.status.code()),
        None => format!("Unassigned · {}", team.status.code()),
    };
    view! {
        <section class="team-panel" id="team-panel">
            {warnings(&team)}
            <p class="small" id="assignment">{shown}</p>
            {team.may_assign.then(|| view! {
                <form method="post" action="/team" class="inline" id="assign-form">
                    {hidden(&mailbox, &back)}
                    <input type="hidden" name="op" value="assign"/>
                    <select name="who" aria-label="Assign to">
                        <option value="">"Nobody"</option>
                        {options}
                    </select>
                    <button type="submit" class="ghost">"Assign"</button>
                </form>
                <form method="post" action="/team" class="inline" id="status-form">
                    {hidden(&mailbox, &back)}
                    <input type="hidden" name="op" value="status"/>
                    <select name="status" aria-label="Status">{statuses}</select>
                    <button type="submit" class="ghost">"Set status"</button>
                </form>
            })}
            <a class="small" id="conversation-link" href=format!("/conversation?box={}&uid={uid}", encode(&mailbox))>"Read the whole conversation"</a>
            {read_by}
            <details class="notes" open=!team.notes.is_empty()>
                <summary class="small">{format!("Internal notes ({})", team.notes.len())}</summary>
                <ul class="notes-list">{notes}</ul>
            </details>
            <form method="post" action="/team" id="note-form">
                    {hidden(&mailbox, &back)}
                    <input type="hidden" name="op" value="note"/>
                    <textarea name="note" rows="2" placeholder="A note for the team (never sent)" aria-label="Note" required></textarea>
                    <button type="submit" class="ghost">"Add note"</button>
                </form>
            {(!team.history.is_empty()).then(|| view! {
                <details class="history" id="message-history">
                    <summary class="small">"History"</summary>
                    <ul class="history-list">{history}</ul>
                </details>
            })}
        </section>
    }
    .into_any()
}

/// A folder's Activity page: `/activity?box=…&who=…&what=…&uid=…`.
#[component]
pub fn ActivityView() -> impl IntoView {
    let query = use_query_map();
    let mailbox = move || query.read().get("box").unwrap_or_else(|| "INBOX".into());
    let filter = move || {
        let q = query.read();
        ActivityFilter {
            who: q.get("who").unwrap_or_default(),
            what: q.get("what").unwrap_or_default(),
            uid: q.get("uid").and_then(|u| u.parse().ok()),
            before: q.get("before").and_then(|b| b.parse().ok()),
        }
    };
    let page = Resource::new(move || (mailbox(), filter()), |(m, f)| load_activity(m, f));
    let back = Signal::derive(move || (folder_href(&mailbox()), format!("← Back to {}", mailbox())));
    view! {
        <Title text="Activity · Mailroom"/>
        <PageFrame back>
            <h1>{move || format!("Activity of {}", mailbox())}</h1>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let loaded: Answer<ActivityPage> = answer(page.await);
                    match loaded {
                        Ok(p) => view! { <ActivityBody page=p/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert" id="activity-refused">{e}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn ActivityBody(page: ActivityPage) -> impl IntoView {
    let mailbox = page.mailbox.name.clone();
    let kinds = What::ALL
        .into_iter()
        .map(|w| view! { <option value=w.code() selected=page.filter.what == w.code()>{w.code()}</option> })
        .collect_view();
    let rows = page
        .entries
        .iter()
        .map(|a| {
            let message = a.uid.map(|u| {
                let href = MailView::from_query(&Default::default());
                let href = MailView {
                    mailbox: mailbox.clone(),
                    ..href
                }
                .with_uid(u)
                .href();
                view! { <a href=href>{format!("#{u}")}</a> }
            });
            view! {
                <tr data-what=a.what.code() data-actor=a.actor.clone() data-via=a.via.code()>
                    <td class="small">{when(a.at, &a.local)}</td>
                    <td>{a.actor.clone()}</td>
                    <td>{a.what.described(&a.detail)}</td>
                    <td>{message}</td>
                    <td class="small">{a.via.label()}</td>
                    <td class="muted small">{a.client.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let older = page.more.then(|| {
        let last = page.entries.last().map_or(0, |a| a.id);
        let f = &page.filter;
        let href = format!(
            "/activity?box={}&who={}&what={}{}&before={last}",
            encode(&mailbox),
            encode(&f.who),
            encode(&f.what),
            f.uid.map(|u| format!("&uid={u}")).unwrap_or_default()
        );
        view! { <a class="button ghost" id="older" href=href>"Older →"</a> }
    });
    let admin = page.admin.then(|| {
        let export = |format: &str| format!("/activity/export?box={}&format={format}", encode(&mailbox));
        view! {
            <section class="card" id="activity-admin">
                <h2>"For administrators"</h2>
                <p class="small">"Download: " <a href=export("csv") id="export-csv">"CSV"</a> " · " <a href=export("json") id="export-json">"JSON"</a></p>
                <form method="post" action="/team" id="activity-settings">
                    <input type="hidden" name="op" value="settings"/>
                    <input type="hidden" name="set_activity" value="1"/>
                    <input type="hidden" name="mailbox" value=mailbox.clone()/>
                    <input type="hidden" name="back" value=format!("/activity?box={}", encode(&mailbox))/>
                    <label><input type="checkbox" name="activity_open" value="1" checked=page.open_to_readers/>" Everyone who may read this folder sees its activity"</label>
                    <button type="submit" class="ghost">"Save"</button>
                </form>
            </section>
        }
    });
    let f = page.filter.clone();
    view! {
        <form method="get" action="/activity" class="activity-filter" id="activity-filter">
            <input type="hidden" name="box" value=mailbox.clone()/>
            <input type="text" name="who" value=f.who.clone() placeholder="Who" aria-label="Who"/>
            <select name="what" aria-label="What"><option value="">"Anything"</option>{kinds}</select>
            <input type="number" name="uid" min="1" value=f.uid.map(|u| u.to_string()).unwrap_or_default() placeholder="Message" aria-label="Message number"/>
            <button type="submit" class="ghost">"Filter"</button>
        </form>
        {page.entries.is_empty().then(|| view! { <p class="muted">"Nothing happened here yet (or nothing that matches)."</p> })}
        <table class="activity" id="activity">
            <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Message"</th><th>"Through"</th><th>"From"</th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
        {older}
        {admin}
    }
}

/// A conversation read in order: `/conversation?box=…&uid=…`.
#[component]
pub fn ConversationView() -> impl IntoView {
    let query = use_query_map();
    let mailbox = move || query.read().get("box").unwrap_or_else(|| "INBOX".into());
    let uid = move || query.read().get("uid").and_then(|u| u.parse::<u32>().ok()).unwrap_or(0);
    let messages = Resource::new(move || (mailbox(), uid()), |(m, u)| load_conversation(m, u));
    let back = Signal::derive(move || {
        let v = MailView {
            mailbox: mailbox(),
            ..MailView::from_query(&Default::default())
        };
        (v.with_uid(uid()).href(), "← Back to the message".to_owned())
    });
    view! {
        <Title text="Conversation · Mailroom"/>
        <PageFrame back>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match answer(messages.await) {
                        Ok(all) => view! { <Conversation messages=all/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert">{e}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn Conversation(messages: Vec<MessageView>) -> impl IntoView {
    let subject = messages.first().map(|m| m.summary.subject.clone()).unwrap_or_default();
    let count = messages.len();
    let items = messages
        .into_iter()
        .map(|m| {
            let folder = m.summary.mailbox.clone().unwrap_or_default();
            view! {
                <article class="message in-conversation" data-uid=m.uid data-folder=folder.clone()>
                    <p class="small"><strong>{m.from.clone()}</strong>
                        <span class="muted">{format!(" · {} · in {folder}", when(m.summary.date, &m.summary.local))}</span></p>
                    <pre class="text-body">{m.text.clone()}</pre>
                </article>
            }
        })
        .collect_view();
    view! {
        <h1 id="conversation-title">{subject}</h1>
        <p class="muted small">{format!("{count} message(s), oldest first")}</p>
        <div class="conversation" id="conversation">{items}</div>
    }
}
