//! Mailroom's web application: rendered on the server (feature `ssr`),
//! hydrated in the browser (feature `hydrate`).
//!
//! Pages load their data through server functions ([`api`]); changes are
//! plain HTML form posts the server answers with a redirect, so every
//! action works before (or without) the browser code. Once hydrated, the
//! page follows the server's change events and refreshes what changed,
//! and keyboard shortcuts work ([`browser`]).
#![forbid(unsafe_code)]
// Leptos's view types nest one level per element; the administration
// and sharing pages' tables go deeper than the default limit (128).
#![recursion_limit = "256"]

mod admin;
pub mod api;
mod browser;
mod compose;
mod icons;
mod login;
mod mail;
mod page;
mod rules;
mod settings;
mod sharing;
mod team;
pub mod url;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the application, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="stylesheet" href="/mailroom.css"/>
                <link rel="icon" href="/favicon.ico"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Mailroom"/>
        <Router>
            <Routes fallback=|| view! { <main class="notfound"><h1>"Not found"</h1><a href="/mail">"Back to your mail"</a></main> }>
                <Route path=path!("/") view=mail::MailPage/>
                <Route path=path!("/mail") view=mail::MailPage/>
                <Route path=path!("/login") view=login::LoginPage/>
                <Route path=path!("/compose") view=compose::ComposePage/>
                <Route path=path!("/share") view=sharing::SharePageView/>
                <Route path=path!("/browse") view=sharing::BrowsePage/>
                <Route path=path!("/admin") view=admin::AdminPage/>
                <Route path=path!("/rules") view=rules::RulesPageView/>
                <Route path=path!("/settings") view=settings::SettingsPage/>
                <Route path=path!("/activity") view=team::ActivityView/>
                <Route path=path!("/conversation") view=team::ConversationView/>
            </Routes>
        </Router>
    }
}

/// The browser's entry point: takes over the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
