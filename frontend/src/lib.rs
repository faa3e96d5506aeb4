//! Mailroom's web application. For now a front page that says what is
//! running; the mail views arrive with the web interface.
#![forbid(unsafe_code)]

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the application, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let _ = options;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="stylesheet" href="/mailroom.css"/>
                <link rel="icon" href="/favicon.ico"/>
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
            <main>
                <Routes fallback=|| view! { <h1>"Not found"</h1> }>
                    <Route path=path!("/") view=Home/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Home() -> impl IntoView {
    view! {
        <section class="welcome">
            <h1>"Mailroom"</h1>
            <p>"Shared mail for teams: your own, other people's and public mailboxes, in the browser and in your mail client."</p>
            <p class="note">"The web interface is on its way. Until then, manage accounts and mailboxes with the mailroom command."</p>
        </section>
    }
}
