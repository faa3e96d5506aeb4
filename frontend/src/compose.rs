//! The compose page: a new message, a reply, reply-all or forward. The
//! form posts (with its attachments) to the server's `/compose`, which
//! sends it or saves it as a draft.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::dto::Draft;

use crate::api::{ComposeStart, load_compose};
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
            match source {
                (Some(mode), Some(mailbox), Some(uid)) => load_compose(mode, mailbox, uid).await,
                // A new message, or the form coming back with an error.
                _ => Ok(ComposeStart {
                    draft: Draft {
                        to: q.get("to").unwrap_or_default(),
                        cc: q.get("cc").unwrap_or_default(),
                        subject: q.get("subject").unwrap_or_default(),
                        body: q.get("body").unwrap_or_default(),
                        in_reply_to: q.get("in_reply_to").unwrap_or_default(),
                        references: q.get("references").unwrap_or_default(),
                        attachments: Vec::new(),
                    },
                    answers: q
                        .get("answers_box")
                        .zip(q.get("answers_uid").and_then(|u| u.parse().ok())),
                }),
            }
        },
    );
    let error = move || query.read().get("error");
    view! {
        <Title text="Compose · Mailroom"/>
        <main class="compose-page">
            <header class="topbar">
                <a class="brand" href="/mail"><span class="logo">"✉"</span>" Mailroom"</a>
            </header>
            {move || error().map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
            <Suspense fallback=|| view! { <p class="muted pad">"Preparing…"</p> }>
                {move || Suspend::new(async move {
                    match start.await {
                        Ok(s) => view! { <ComposeForm start=s/> }.into_any(),
                        Err(e) => view! { <p class="alert error">{e.to_string()}</p> }.into_any(),
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
    let heading = if d.in_reply_to.is_empty() {
        "New message"
    } else {
        "Reply"
    };
    view! {
        <form class="compose" method="post" action="/compose" enctype="multipart/form-data">
            <h1>{heading}</h1>
            <label>"To" <input type="text" name="to" id="to" value=d.to placeholder="name@example.com, …" autocomplete="off"/></label>
            <label>"Cc" <input type="text" name="cc" id="cc" value=d.cc autocomplete="off"/></label>
            <label>"Subject" <input type="text" name="subject" id="subject" value=d.subject/></label>
            <textarea name="body" id="body" rows="16" aria-label="Message">{d.body}</textarea>
            <input type="hidden" name="in_reply_to" value=d.in_reply_to/>
            <input type="hidden" name="references" value=d.references/>
            <input type="hidden" name="answers_box" value=answers_box/>
            <input type="hidden" name="answers_uid" value=answers_uid/>
            <label class="attach"><Icon name="clip"/>"Attach files" <input type="file" name="attachment" multiple/></label>
            <div class="actions">
                <button type="submit" name="op" value="send" class="primary" id="send">"Send"</button>
                <button type="submit" name="op" value="draft" class="ghost" id="save-draft">"Save draft"</button>
                <a class="button ghost" href="/mail">"Discard"</a>
            </div>
        </form>
    }
}
