//! Line icons drawn as inline SVG, so they look the same whatever fonts
//! the reader's system has.

use leptos::prelude::*;

fn path(name: &str) -> &'static str {
    match name {
        "inbox" => "M3 13h5l2 3h4l2-3h5M3 13l3-8h12l3 8v6H3z",
        "sent" => "M3 11l18-8-8 18-2-8z",
        "drafts" => "M4 20l4-1 11-11-3-3L5 16z",
        "trash" => "M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13",
        "junk" => "M12 3l10 18H2zM12 10v5M12 18v.5",
        "clip" => "M8 12l6-6a3 3 0 014 4l-8 8a5 5 0 01-7-7l7-7",
        "mail" => "M3 5h18v14H3zM3 5l9 8 9-8",
        _ => "M3 6h6l2 2h10v11H3z",
    }
}

#[component]
pub fn Icon(name: &'static str) -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" fill="none"
            stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">
            <path d=path(name)/>
        </svg>
    }
}
