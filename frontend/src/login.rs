//! The sign-in page. The form posts to the server's `/login`, which sets
//! the session cookie and sends the browser on.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_else(|| "/mail".into());
    view! {
        <Title text="Sign in · Mailroom"/>
        <main class="login">
            <form class="login-card" method="post" action="/login">
                <div class="brand"><span class="logo">"✉"</span>" Mailroom"</div>
                <p class="tagline">"Your mail, your team's mail and the public folders, in one place."</p>
                {move || error().map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
                <label>"Address or user name"
                    <input type="text" name="login" autocomplete="username" required autofocus/>
                </label>
                <label>"Password"
                    <input type="password" name="password" autocomplete="current-password" required/>
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit" class="primary">"Sign in"</button>
            </form>
        </main>
    }
}
