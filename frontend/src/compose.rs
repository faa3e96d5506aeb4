//! The compose page: a new message, a reply, reply-all or forward. The
//! form posts (with its attachments) to the server's `/compose`, which
//! sends it or saves it as a draft.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::limits::{MAX_ATTACHMENTS_SIZE, human_size};

use crate::api::{ComposeStart, load_compose, new_compose};
use crate::icons::Icon;

#[component]
pub fn ComposePage() -> impl IntoView {
    let query = use_query_map();
    let start = Resource::new(
        move || query.get(),
        |q| async move {
            let source = (
                q.get("mode"),
                q.get("box"),
                q.get("uid").and_then(|u| u.parse::<u32>().ok()),
            );
            let mut start = match source {
                (Some(mode), Some(mailbox), Some(uid)) => load_compose(mode, mailbox, uid).await?,
                // A new message, perhaps addressed by a link (`/compose?to=…`).
                _ => {
                    let mut start = new_compose().await?;
                    start.draft.to = q.get("to").unwrap_or_default();
                    start.draft.cc = q.get("cc").unwrap_or_default();
                    start.draft.subject = q.get("subject").unwrap_or_default();
                    start
                }
            };
            // A draft kept when sending failed still answers its message.
            if start.answers.is_none() {
                start.answers = q
                    .get("answers_box")
                    .zip(q.get("answers_uid").and_then(|u| u.parse().ok()));
            }
            Ok::<_, ServerFnError>(start)
        },
    );
    let error = move || query.read().get("error");
    crate::browser::check_attachments();
    crate::browser::keep_drafts();
    crate::browser::focus_compose();
    crate::browser::complete_addresses();
    crate::browser::mark_hydrated();
    {
        let q = query.read_untracked();
        let replying = matches!(q.get("mode").as_deref(), Some("reply" | "all" | "forward" | "attach"));
        crate::browser::be_replying(
            q.get("box").filter(|_| replying),
            q.get("uid").and_then(|u| u.parse().ok()),
        );
    }
    view! {
        <Title text="Compose · Mailroom"/>
        <main class="compose-page">
            <header class="topbar">
                // A full page load (not the router's), so leaving asks first when
                // the message is not saved yet.
                <a class="brand" href="/mail" rel="external"><span class="logo">"✉"</span>" Mailroom"</a>
            </header>
            {move || error().map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
            <Suspense fallback=|| view! { <p class="muted pad">"Preparing…"</p> }>
                {move || Suspend::new(async move {
                    match start.await {
                        Ok(s) => view! { <ComposeForm start=s/> }.into_any(),
                        Err(e) => view! { <p class="alert error">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

#[component]
fn ComposeForm(start: ComposeStart) -> impl IntoView {
    let d = start.draft;
    let (answers_box, answers_uid) = start
        .answers
        .map_or((String::new(), String::new()), |(b, u)| (b, u.to_string()));
    let heading = if start.replaces.is_some() {
        "Draft"
    } else if d.in_reply_to.is_empty() {
        "New message"
    } else {
        "Reply"
    };
    let (carry_box, carry_uid) = start
        .carried_from
        .map_or((String::new(), String::new()), |(b, u)| (b, u.to_string()));
    let carried = start
        .carried
        .into_iter()
        .map(|a| {
            view! {
                <li><label>
                    <input type="checkbox" name="carry" value=a.index data-size=a.size checked/>
                    <Icon name="clip"/>{a.filename}
                    <span class="muted small">{format!(" {}", human_size(u64::from(a.size)))}</span>
                </label></li>
            }
        })
        .collect_view();
    let replaces = start.replaces.map(|u| u.to_string()).unwrap_or_default();
    let known = start
        .known
        .into_iter()
        .map(|a| view! { <option value=a></option> })
        .collect_view();
    let from = match start.identities.len() > 1 {
        true => {
            let chosen = d.from.clone();
            let options = start
                .identities
                .into_iter()
                .map(|a| {
                    let selected = a.eq_ignore_ascii_case(&chosen);
                    view! { <option value=a.clone() selected=selected>{a.clone()}</option> }
                })
                .collect_view();
            view! { <label>"From" <select name="from" id="from">{options}</select></label> }.into_any()
        }
        false => view! { <input type="hidden" name="from" value=d.from.clone()/> }.into_any(),
    };
    let warnings = start
        .warnings
        .iter()
        .map(|w| view! { <p class="alert notice team-warning" role="status">{w.clone()}</p> })
        .collect_view();
    view! {
        <form class="compose" method="post" action="/compose" enctype="multipart/form-data">
            <h1>{heading}</h1>
            {warnings}
            {from}
            <label>"To" <input type="text" name="to" id="to" value=d.to placeholder="name@example.com, …" autocomplete="off" list="known-addresses"/></label>
            <label>"Cc" <input type="text" name="cc" id="cc" value=d.cc autocomplete="off" list="known-addresses"/></label>
            <label>"Bcc" <input type="text" name="bcc" id="bcc" value=d.bcc autocomplete="off" list="known-addresses"
                title="Receive a copy without the others seeing them"/></label>
            // Addresses offered as one types: whom the user wrote to, and the
            // accounts of their domain (the page's code offers them for the
            // address after the last comma too).
            <datalist id="known-addresses">{known}</datalist>
            <label>"Subject" <input type="text" name="subject" id="subject" value=d.subject/></label>
            <textarea name="body" id="body" rows="16" aria-label="Message">{crate::page::textarea_text(d.body)}</textarea>
            <input type="hidden" name="in_reply_to" value=d.in_reply_to/>
            <input type="hidden" name="references" value=d.references/>
            <input type="hidden" name="answers_box" value=answers_box/>
            <input type="hidden" name="answers_uid" value=answers_uid/>
            <input type="hidden" name="carry_box" value=carry_box/>
            <input type="hidden" name="carry_uid" value=carry_uid/>
            <input type="hidden" name="replaces" value=replaces/>
            <input type="hidden" name="form_id" value=start.form_id/>
            <ul class="attachments carried" aria-label="Attachments">{carried}</ul>
            <label class="attach"><Icon name="clip"/>"Attach files" <input type="file" name="attachment" multiple
                data-limit=MAX_ATTACHMENTS_SIZE/></label>
            <p class="muted small" id="attach-limit">{format!("Attachments up to {} in total.", human_size(MAX_ATTACHMENTS_SIZE as u64))}</p>
            <p class="alert error" role="alert" id="attach-error" hidden></p>
            <div class="actions">
                <button type="submit" name="op" value="send" class="primary" id="send">"Send"</button>
                <button type="submit" name="op" value="draft" class="ghost" id="save-draft">"Save draft"</button>
                <button type="submit" name="op" value="discard" class="ghost" id="discard" formnovalidate>"Discard"</button>
            </div>
        </form>
    }
}
