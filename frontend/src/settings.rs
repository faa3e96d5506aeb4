//! The settings page: what each user sets for themselves — their name in
//! the mail they send and their addresses, a signature, the time zone
//! dates are shown in, their password, a vacation auto-reply and
//! forwarding. Each card is its own form posting to `/settings`.

use leptos::prelude::*;
use leptos_meta::Title;
use mailroom_shared::dto::Settings;
use mailroom_shared::rules::VACATION_DAYS;

use crate::api::load_settings;
use crate::page::{PageFrame, textarea_text};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let settings = Resource::new(|| (), |_| load_settings());
    let back = Signal::derive(|| ("/mail".to_owned(), "← Back to your mail".to_owned()));
    view! {
        <Title text="Settings · Mailroom"/>
        <PageFrame back>
            <h1>"Settings"</h1>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match settings.await {
                        Ok(s) => view! { <SettingsBody settings=s/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn SettingsBody(settings: Settings) -> impl IntoView {
    let storage = settings.storage.map(|s| {
        let share = (s.used as f64 / s.limit.max(1) as f64 * 100.0).min(100.0);
        view! {
            <section class="card" id="storage">
                <h2>"Storage"</h2>
                <p>{format!("{} used ({share:.0} %)", crate::admin::storage_text(Some(s)))}</p>
                <meter min="0" max="100" value=share></meter>
            </section>
        }
    });
    view! {
        {storage}
        <Profile settings=settings.clone()/>
        <Password/>
        <PresenceCard hidden=settings.hide_presence/>
        <VacationCard settings=settings.clone()/>
        <ForwardingCard settings/>
    }
}

/// Whether others see where this user is in shared folders.
#[component]
fn PresenceCard(hidden: bool) -> impl IntoView {
    view! {
        <section class="card" id="presence-setting">
            <h2>"Presence"</h2>
            <p class="small">{match hidden {
                true => "Others do not see when you have a shared folder or message open.",
                false => "Others who share a folder with you see when you have it (or one of its messages) open.",
            }}</p>
            <form method="post" action="/team">
                <input type="hidden" name="op" value="presence"/>
                <input type="hidden" name="back" value="/settings"/>
                <input type="hidden" name="hide" value=if hidden { "0" } else { "1" }/>
                <button type="submit" class="ghost">{if hidden { "Show my presence" } else { "Hide my presence" }}</button>
            </form>
        </section>
    }
}

#[component]
fn Profile(settings: Settings) -> impl IntoView {
    let chosen = settings.time_zone.clone();
    let zones = settings
        .zones
        .into_iter()
        .map(|z| {
            let selected = z == chosen;
            view! { <option value=z.clone() selected=selected>{z.clone()}</option> }
        })
        .collect_view();
    let example = match settings.display_name.trim() {
        "" => format!("<{}>", settings.address),
        name => format!("{name} <{}>", settings.address),
    };
    let identities = (settings.identities.len() > 1).then(|| {
        let list = settings.identities.join(", ");
        view! { <p class="muted small" id="identities">"You may send from: " {list}" (choose in the From field when composing)."</p> }
    });
    view! {
        <section class="card" id="profile">
            <h2>"You"</h2>
            <form method="post" action="/settings" class="settings-form">
                <input type="hidden" name="op" value="profile"/>
                <label>"Your name "<input type="text" name="display_name" id="display-name" value=settings.display_name maxlength="200" placeholder="Alice Smith"/></label>
                <p class="muted small">"Your mail goes out as " <strong id="from-example">{example}</strong>"."</p>
                {identities}
                <label class="block">"Signature (added below new messages, replies and forwards)"
                    <textarea name="signature" id="signature" rows="4">{textarea_text(settings.signature)}</textarea>
                </label>
                <label>"Time zone "
                    <select name="time_zone" id="time-zone">
                        <option value="" selected=chosen.is_empty()>"This browser's own"</option>
                        {zones}
                    </select>
                </label>
                <div class="actions"><button type="submit" class="primary" id="save-profile">"Save"</button></div>
            </form>
        </section>
    }
}

#[component]
fn Password() -> impl IntoView {
    view! {
        <section class="card" id="password">
            <h2>"Password"</h2>
            <form method="post" action="/settings" class="settings-form">
                <input type="hidden" name="op" value="password"/>
                <label>"Current password "<input type="password" name="current" id="current-password" autocomplete="current-password" required/></label>
                <label>"New password "<input type="password" name="new" id="new-password" autocomplete="new-password" required/></label>
                <label>"New password again "<input type="password" name="repeat" id="repeat-password" autocomplete="new-password" required/></label>
                <p class="muted small">"Changing it signs you out everywhere else (other browsers); you stay signed in here."</p>
                <div class="actions"><button type="submit" class="primary" id="change-password">"Change password"</button></div>
            </form>
        </section>
    }
}

#[component]
fn VacationCard(settings: Settings) -> impl IntoView {
    let on = settings.vacation.is_some();
    let (days, text) = settings
        .vacation
        .map_or((VACATION_DAYS, String::new()), |v| (v.days, v.text));
    view! {
        <section class="card" id="vacation">
            <h2>"Vacation auto-reply"</h2>
            <form method="post" action="/settings" class="settings-form">
                <input type="hidden" name="op" value="vacation"/>
                <label class="check"><input type="checkbox" name="on" value="on" id="vacation-on" checked=on/>" Answer incoming mail automatically"</label>
                <label class="block">"Reply"
                    <textarea name="text" id="vacation-text" rows="4" placeholder="I am away until Monday and will answer then.">{textarea_text(text)}</textarea>
                </label>
                <label>"Answer the same sender again after "<input type="number" name="days" id="vacation-days" min="1" max="365" value=days.to_string()/>" days"</label>
                <p class="muted small">"Never sent to mailing lists, bulk mail, automatic messages or bounces. It is a rule: the rules page shows it too."</p>
                <div class="actions"><button type="submit" class="primary" id="save-vacation">"Save"</button></div>
            </form>
        </section>
    }
}

#[component]
fn ForwardingCard(settings: Settings) -> impl IntoView {
    let on = settings.forwarding.is_some();
    let (to, keep) = settings.forwarding.map_or((String::new(), true), |f| (f.to, f.keep));
    view! {
        <section class="card" id="forwarding">
            <h2>"Forwarding"</h2>
            <form method="post" action="/settings" class="settings-form">
                <input type="hidden" name="op" value="forwarding"/>
                <label class="check"><input type="checkbox" name="on" value="on" id="forward-on" checked=on/>" Forward incoming mail"</label>
                <label>"To "<input type="text" name="to" id="forward-to" value=to placeholder="bob@example.com"/></label>
                <label class="check"><input type="checkbox" name="keep" value="on" id="forward-keep" checked=keep/>" Keep a copy in my INBOX"</label>
                <p class="muted small">"To an address on this server."</p>
                <div class="actions"><button type="submit" class="primary" id="save-forwarding">"Save"</button></div>
            </form>
        </section>
    }
}
