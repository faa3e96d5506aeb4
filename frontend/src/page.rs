//! The frame of the pages beside the mail view (sharing, other users'
//! folders, administration): a top bar with a way back, and the notice or
//! error the last form post came back with.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use mailroom_shared::{Right, Rights};

#[component]
pub fn PageFrame(
    /// Where "back" goes, and what it says.
    back: Signal<(String, String)>,
    children: Children,
) -> impl IntoView {
    crate::browser::mark_hydrated();
    let query = use_query_map();
    let notice = move || query.read().get("notice");
    let error = move || query.read().get("error");
    view! {
        <main class="page">
            <header class="topbar">
                <a class="brand" href="/mail"><span class="logo">"✉"</span>" Mailroom"</a>
                <a class="back-link" href=move || back.get().0>{move || back.get().1}</a>
            </header>
            <div class="page-body">
                {move || notice().map(|n| view! { <p class="alert notice" role="status">{n}</p> })}
                {move || error().map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
                {children()}
            </div>
        </main>
    }
}

/// Rights as a list: each letter with what it allows.
#[component]
pub fn RightsList(rights: Rights) -> impl IntoView {
    if rights.is_empty() {
        return view! { <p class="muted">"No rights."</p> }.into_any();
    }
    let items = rights
        .iter()
        .map(|r| {
            view! { <li data-right=r.letter().to_string()><code>{r.letter().to_string()}</code>" " {r.meaning()}</li> }
        })
        .collect_view();
    view! { <ul class="rights-list">{items}</ul> }.into_any()
}

/// The eleven rights as check boxes, each with its meaning.
#[component]
pub fn RightsBoxes(rights: Rights) -> impl IntoView {
    Right::ALL
        .into_iter()
        .map(|r| {
            let letter = r.letter().to_string();
            view! {
                <label class="right-box">
                    <input type="checkbox" name="rights" value=letter.clone() checked=rights.contains(r)/>
                    <code>{letter}</code>" " {r.meaning()}
                </label>
            }
        })
        .collect_view()
}

/// A textarea's text as the page renders it. HTML drops one newline
/// right after `<textarea>`, so the server's page gives one more, and a
/// text that starts with blank lines (a new message above a signature)
/// keeps them. The browser code builds the element itself: no extra.
pub fn textarea_text(text: String) -> String {
    match cfg!(feature = "ssr") {
        true => format!("\n{text}"),
        false => text,
    }
}
