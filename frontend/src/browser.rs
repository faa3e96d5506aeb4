//! What only the browser does: follow the server's change events so the
//! open page refreshes itself, and keyboard shortcuts. On the server
//! these do nothing.

use leptos::prelude::*;

/// Refreshes the page's data whenever the server reports a change to one
/// of the user's folders (from IMAP, POP3, delivery, another browser…).
/// Marks the body (`data-hydrated`) once the browser code runs and the
/// server's change events flow.
/// `at` is where the page is (folder, open message): in a shared folder
/// others see its user there while the page is open.
pub fn follow_changes(refresh: RwSignal<u32>, at: Memo<(String, Option<u32>)>) {
    #[cfg(feature = "hydrate")]
    imp::follow_changes(refresh, at);
    #[cfg(not(feature = "hydrate"))]
    let _ = (refresh, at);
}

/// Shows the user as replying to a message while the compose page is
/// open (others reading it are warned).
pub fn be_replying(mailbox: Option<String>, uid: Option<u32>) {
    #[cfg(feature = "hydrate")]
    if let (Some(mailbox), Some(uid)) = (mailbox, uid) {
        Effect::new(move |_| {
            imp::open_events(&format!(
                "/events?box={}&uid={uid}&doing=replying",
                crate::url::encode(&mailbox)
            ))
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (mailbox, uid);
}

/// Marks the body once the browser code runs (`data-hydrated`), on pages
/// that follow no changes; the tests wait for it before clicking.
pub fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}

/// Refuses, in the page, to send attachments larger than a message may
/// carry: the upload would only be refused after it, and the typed
/// message lost with it.
pub fn check_attachments() {
    #[cfg(feature = "hydrate")]
    imp::check_attachments();
}

/// While a message is written: saves it to Drafts a few seconds after
/// each change (the form then replaces that draft), and warns before
/// leaving the page with text not saved yet.
pub fn keep_drafts() {
    #[cfg(feature = "hydrate")]
    imp::keep_drafts();
}

/// Scrolls the message list (and, on a phone, the page) back to the top.
pub fn scroll_list_to_top() {
    #[cfg(feature = "hydrate")]
    {
        if let Ok(Some(list)) = document().query_selector(".list") {
            list.set_scroll_top(0);
        }
        window().scroll_to_with_x_and_y(0.0, 0.0);
    }
}

/// Offers known addresses for the one being typed in To, Cc or Bcc,
/// also after a comma (a plain datalist only completes the first).
pub fn complete_addresses() {
    #[cfg(feature = "hydrate")]
    imp::complete_addresses();
}

/// Desktop notifications, opt-in: shows a notification when the INBOX's
/// unread count grows while the page is not looked at. The first call
/// on a page only notes the count (and shows the opt-in button).
pub fn notify_new_mail(inbox_unread: u32) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| imp::notify_new_mail(inbox_unread));
    #[cfg(not(feature = "hydrate"))]
    let _ = inbox_unread;
}

/// Turns desktop notifications on (asking the browser's permission) or off.
pub fn toggle_notifications() {
    #[cfg(feature = "hydrate")]
    imp::toggle_notifications();
}

/// Puts the cursor where writing starts: the To field of a new message,
/// else the top of the text (a reply, a forward, a draft).
pub fn focus_compose() {
    #[cfg(feature = "hydrate")]
    Effect::new(|_| imp::focus_compose());
}

/// j/k next/previous message, c compose, r/a/f reply/all/forward,
/// # or Delete delete, / search, u back to the list, x select.
pub fn shortcuts() {
    #[cfg(feature = "hydrate")]
    imp::shortcuts();
}

#[cfg(feature = "hydrate")]
mod imp {
    use std::cell::{Cell, RefCell};

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{EventSource, HtmlElement, HtmlInputElement, KeyboardEvent, MessageEvent};

    /// How long a page lets changes gather before it loads them again.
    const LIVE_SETTLE: std::time::Duration = std::time::Duration::from_millis(250);

    thread_local! {
        /// The mail page's refresh counter, while one is shown.
        static REFRESH: Cell<Option<RwSignal<u32>>> = const { Cell::new(None) };
        /// The open event stream, and the address it was opened at.
        static EVENTS: RefCell<Option<(EventSource, String)>> = const { RefCell::new(None) };
        /// A refresh is due at the end of the current settle window.
        static REFRESH_DUE: Cell<bool> = const { Cell::new(false) };
        static KEYS: Cell<bool> = const { Cell::new(false) };
        static ATTACHMENTS: Cell<bool> = const { Cell::new(false) };
        static DRAFTS: Cell<bool> = const { Cell::new(false) };
        /// The compose form changed since it was last saved.
        static DIRTY: Cell<bool> = const { Cell::new(false) };
        /// An autosave is scheduled or on its way.
        static SAVING: Cell<bool> = const { Cell::new(false) };
        /// An autosave's request is on its way.
        static IN_FLIGHT: Cell<bool> = const { Cell::new(false) };
        /// The addresses the compose page offers, read once from its list.
        static KNOWN: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
        static COMPLETING: Cell<bool> = const { Cell::new(false) };
        /// The INBOX's unread count when last seen, for notifications.
        static LAST_UNREAD: Cell<Option<u32>> = const { Cell::new(None) };
        /// A submit that waits for that request (with its button, if any).
        static WAITING: RefCell<Option<Option<HtmlElement>>> = const { RefCell::new(None) };
    }

    /// The browser's time zone (IANA name), as `Intl` resolves it.
    fn time_zone() -> Option<String> {
        let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
        js_sys::Reflect::get(&format.resolved_options(), &"timeZone".into())
            .ok()?
            .as_string()
    }

    /// Tells the server the reader's time zone (a cookie it reads with
    /// every request), and reloads the page's data when that changed it:
    /// dates are then shown on the reader's clock.
    fn remember_time_zone(refresh: RwSignal<u32>) {
        let Some(zone) = time_zone() else { return };
        let Ok(html) = document().dyn_into::<web_sys::HtmlDocument>() else {
            return;
        };
        let cookie = format!("tz={zone}");
        let known = html.cookie().unwrap_or_default();
        if known.split(';').any(|c| c.trim() == cookie) {
            return;
        }
        let _ = html.set_cookie(&format!("{cookie}; path=/; max-age=31536000; samesite=lax"));
        refresh.try_update(|n| *n += 1);
    }

    pub fn follow_changes(refresh: RwSignal<u32>, at: Memo<(String, Option<u32>)>) {
        REFRESH.with(|r| r.set(Some(refresh)));
        Effect::new(move |_| remember_time_zone(refresh));
        Effect::new(move |_| {
            let (mailbox, uid) = at.get();
            let mut url = format!("/events?box={}", crate::url::encode(&mailbox));
            if let Some(uid) = uid {
                url.push_str(&format!("&uid={uid}"));
            }
            open_events(&url);
        });
    }

    /// Opens the change-event stream at `url`, closing one opened
    /// elsewhere (the page now shows another folder or message).
    pub fn open_events(url: &str) {
        EVENTS.with(|events| {
            let previous = events.borrow_mut().take();
            let previous_existed = previous.is_some();
            if let Some((old, at)) = previous {
                if at == url {
                    *events.borrow_mut() = Some((old, at));
                    return;
                }
                old.close();
            }
            let Ok(source) = EventSource::new(url) else {
                return;
            };
            // A burst of changes is one refresh per settle window, not
            // one per event: the first change opens the window, those
            // within it ride along.
            let on_change = Closure::<dyn FnMut(MessageEvent)>::new(move |_: MessageEvent| {
                if REFRESH_DUE.with(|due| due.replace(true)) {
                    return;
                }
                set_timeout(
                    || {
                        REFRESH_DUE.with(|due| due.set(false));
                        if let Some(refresh) = REFRESH.with(Cell::get) {
                            refresh.try_update(|n| *n += 1);
                        }
                    },
                    LIVE_SETTLE,
                );
            });
            source.set_onmessage(Some(on_change.as_ref().unchecked_ref()));
            // The server subscribes before it answers: once the stream
            // is open, no change can pass this page by. Tests wait for
            // this mark before they change mail behind its back.
            // A stream opened in place of another (the page moved to
            // another folder or message) missed what changed between the
            // two: the page loads its data once more when it is open.
            let reopened = previous_existed;
            let on_open = Closure::<dyn FnMut()>::new(move || {
                if let Some(body) = document().body() {
                    let _ = body.set_attribute("data-hydrated", "true");
                }
                if reopened && let Some(refresh) = REFRESH.with(Cell::get) {
                    refresh.try_update(|n| *n += 1);
                }
            });
            source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
            // The source and its handlers live as long as the page.
            on_change.forget();
            on_open.forget();
            *events.borrow_mut() = Some((source, url.to_owned()));
        });
    }

    fn element<T: JsCast>(selector: &str) -> Option<T> {
        document().query_selector(selector).ok().flatten()?.dyn_into::<T>().ok()
    }

    fn click(selector: &str) {
        if let Some(e) = element::<HtmlElement>(selector) {
            e.click();
        }
    }

    /// Scrolls the open message by a screen (`direction` 1 down, -1 up;
    /// Shift+Space is up too). False when no message is open: the key
    /// then does what it does on any page.
    fn page_through(ev: &KeyboardEvent, direction: f64) -> bool {
        let Some(reader) = element::<HtmlElement>(".app.reading .reader, .reader:has(.message)") else {
            return false;
        };
        let direction = if ev.shift_key() { -direction } else { direction };
        let by = f64::from(reader.client_height()) * 0.9 * direction;
        // A phone scrolls the whole page; a wide screen the reader pane.
        if reader.scroll_height() > reader.client_height() {
            reader.set_scroll_top(reader.scroll_top() + by as i32);
        } else {
            window().scroll_by_with_x_and_y(0.0, by);
        }
        true
    }

    /// Where the choice is kept: this browser's local storage.
    const NOTIFY_KEY: &str = "mailroom.notify";

    fn notifications_on() -> bool {
        let storage = window().local_storage().ok().flatten();
        let chosen = storage.and_then(|s| s.get_item(NOTIFY_KEY).ok().flatten()).as_deref() == Some("on");
        chosen && web_sys::Notification::permission() == web_sys::NotificationPermission::Granted
    }

    /// The opt-in button: shown where the browser can notify, saying
    /// what a click would do.
    fn show_notify_button() {
        let Some(button) = element::<HtmlElement>("#notify") else {
            return;
        };
        let supported = js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false);
        button.set_hidden(!supported);
        button.set_text_content(Some(match notifications_on() {
            true => "Stop notifying me of new mail",
            false => "Notify me of new mail",
        }));
    }

    pub fn toggle_notifications() {
        let Some(storage) = window().local_storage().ok().flatten() else {
            return;
        };
        if notifications_on() {
            let _ = storage.set_item(NOTIFY_KEY, "off");
            show_notify_button();
            return;
        }
        let _ = storage.set_item(NOTIFY_KEY, "on");
        if let Ok(asked) = web_sys::Notification::request_permission() {
            let then = Closure::<dyn FnMut(wasm_bindgen::JsValue)>::new(|_| show_notify_button());
            let _ = asked.then(&then);
            then.forget();
        }
        show_notify_button();
    }

    pub fn notify_new_mail(inbox_unread: u32) {
        show_notify_button();
        let before = LAST_UNREAD.with(|last| last.replace(Some(inbox_unread)));
        let Some(before) = before else { return };
        let looked_at = !document().hidden() && document().has_focus().unwrap_or(true);
        if inbox_unread <= before || looked_at || !notifications_on() {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        let new = inbox_unread - before;
        options.set_body(&match new {
            1 => format!("1 new message · {inbox_unread} unread in INBOX"),
            n => format!("{n} new messages · {inbox_unread} unread in INBOX"),
        });
        options.set_tag("mailroom-new-mail");
        let _ = web_sys::Notification::new_with_options("New mail", &options);
    }

    pub fn complete_addresses() {
        if COMPLETING.with(|c| c.replace(true)) {
            return;
        }
        let handle = window_event_listener(leptos::ev::input, |ev| {
            let Some(input) = ev.target().and_then(|t| t.dyn_into::<HtmlInputElement>().ok()) else {
                return;
            };
            if matches!(input.id().as_str(), "to" | "cc" | "bcc") {
                offer_addresses(&input);
            }
        });
        std::mem::forget(handle);
    }

    /// Fills the address list with the known addresses that contain what
    /// is typed after the field's last comma, each after what comes
    /// before it (the browser offers what contains the whole value).
    fn offer_addresses(input: &HtmlInputElement) {
        let Some(list) = element::<web_sys::Element>("#known-addresses") else {
            return;
        };
        let known = KNOWN.with(|k| {
            k.borrow_mut()
                .get_or_insert_with(|| {
                    let Ok(options) = list.query_selector_all("option") else {
                        return Vec::new();
                    };
                    (0..options.length())
                        .filter_map(|i| options.item(i)?.dyn_into::<web_sys::Element>().ok())
                        .filter_map(|o| o.get_attribute("value"))
                        .collect()
                })
                .clone()
        });
        let value = input.value();
        let (before, typed) = match value.rfind(',') {
            Some(i) => (format!("{}, ", value[..i].trim_end()), value[i + 1..].trim()),
            None => (String::new(), value.trim()),
        };
        let typed = typed.to_lowercase();
        list.set_inner_html("");
        if typed.is_empty() {
            return;
        }
        for address in known.iter().filter(|a| a.to_lowercase().contains(&typed)).take(8) {
            if let Ok(option) = document().create_element("option") {
                let _ = option.set_attribute("value", &format!("{before}{address}"));
                let _ = list.append_child(&option);
            }
        }
    }

    pub fn focus_compose() {
        let to = element::<HtmlInputElement>("form.compose #to");
        match to {
            Some(to) if to.value().is_empty() => {
                let _ = to.focus();
            }
            _ => {
                if let Some(body) = element::<web_sys::HtmlTextAreaElement>("form.compose #body") {
                    let _ = body.focus();
                    let _ = body.set_selection_range(0, 0);
                    body.set_scroll_top(0);
                }
            }
        }
    }

    /// Opens the message after (`step` 1) or before (-1) the current one;
    /// past the page's last (or first) message, the next (or previous)
    /// page.
    fn step(step: i32) {
        let Ok(rows) = document().query_selector_all(".msg-row") else {
            return;
        };
        let rows: Vec<HtmlElement> = (0..rows.length())
            .filter_map(|i| rows.item(i)?.dyn_into::<HtmlElement>().ok())
            .collect();
        let current = rows.iter().position(|r| r.class_list().contains("current"));
        let wanted = current.map_or(0, |i| i as i32 + step);
        if wanted < 0 || wanted >= rows.len() as i32 {
            click(if step > 0 { "#older" } else { "#newer" });
            return;
        }
        let next = wanted as usize;
        if let Some(link) = rows.get(next).and_then(|r| r.query_selector("a").ok().flatten())
            && let Ok(link) = link.dyn_into::<HtmlElement>()
        {
            link.click();
        }
    }

    /// The attachments' total size (files chosen, and those carried over
    /// from a stored message and still ticked), and the most allowed.
    fn attachments() -> Option<(f64, f64)> {
        let input = element::<HtmlInputElement>("form.compose input[type=file]")?;
        let limit = input.get_attribute("data-limit")?.parse().ok()?;
        let files = input.files()?;
        let chosen: f64 = (0..files.length()).filter_map(|i| files.get(i)).map(|f| f.size()).sum();
        let carried = document()
            .query_selector_all("form.compose input[name=carry]:checked")
            .ok()?;
        let carried: f64 = (0..carried.length())
            .filter_map(|i| carried.item(i)?.dyn_into::<web_sys::Element>().ok())
            .filter_map(|e| e.get_attribute("data-size")?.parse::<f64>().ok())
            .sum();
        Some((chosen + carried, limit))
    }

    /// Shows (or hides) the error under the file chooser; true if shown.
    fn attachments_too_large() -> bool {
        let Some((total, limit)) = attachments() else {
            return false;
        };
        use mailroom_shared::limits::human_size;
        let too_large = total > limit;
        if let Some(hint) = element::<HtmlElement>("#attach-limit") {
            hint.set_text_content(Some(&format!(
                "Attachments: {} of up to {} in total.",
                human_size(total as u64),
                human_size(limit as u64)
            )));
        }
        if let Some(error) = element::<HtmlElement>("#attach-error") {
            error.set_hidden(!too_large);
            if too_large {
                error.set_text_content(Some(&format!(
                    "These attachments come to {}; a message can carry {}. Remove some to send it.",
                    human_size(total as u64),
                    human_size(limit as u64)
                )));
            }
        }
        too_large
    }

    pub fn check_attachments() {
        if ATTACHMENTS.with(|a| a.replace(true)) {
            return;
        }
        let changed = window_event_listener(leptos::ev::change, |_| {
            attachments_too_large();
        });
        let submitted = window_event_listener(leptos::ev::submit, |ev: web_sys::SubmitEvent| {
            let discard = ev
                .submitter()
                .is_some_and(|b| b.get_attribute("value").as_deref() == Some("discard"));
            if submits_compose(&ev) && !discard && attachments_too_large() {
                ev.prevent_default();
            }
        });
        // Installed once for the page's whole life.
        std::mem::forget(changed);
        std::mem::forget(submitted);
    }

    /// How long after a change the draft is saved.
    const AUTOSAVE_MS: i32 = 3000;

    fn compose_form() -> Option<web_sys::HtmlFormElement> {
        element::<web_sys::HtmlFormElement>("form.compose")
    }

    /// Posts the form as `op=autosave`; the answer is the draft's new UID
    /// in Drafts, which the form replaces from then on. True once saved.
    async fn autosave() -> bool {
        let Some(form) = compose_form() else {
            // The compose page was left (inside the app): nothing to save.
            DIRTY.with(|d| d.set(false));
            return false;
        };
        // A form carrying attachments of a stored message (a forward, a
        // draft opened again) is saved when sent or saved by hand only:
        // an autosave would replace the message they are read from.
        if element::<HtmlInputElement>("form.compose input[name=carry_uid]").is_some_and(|c| !c.value().is_empty()) {
            return false;
        }
        let Ok(data) = web_sys::FormData::new_with_form(&form) else {
            return false;
        };
        let _ = data.set_with_str("op", "autosave");
        // Files are uploaded when the message is sent or saved by hand.
        data.delete("attachment");
        let init = web_sys::RequestInit::new();
        init.set_method("POST");
        init.set_body(&data);
        DIRTY.with(|d| d.set(false));
        IN_FLIGHT.with(|f| f.set(true));
        let uid = post_for_uid(&init).await;
        IN_FLIGHT.with(|f| f.set(false));
        match uid {
            Some(uid) => {
                if let Some(replaces) = element::<HtmlInputElement>("form.compose input[name=replaces]") {
                    replaces.set_value(&uid.to_string());
                }
            }
            // Not saved (signed out, an error): still unsaved, not retried
            // until the next change.
            None => DIRTY.with(|d| d.set(true)),
        }
        // A submit that waited for this save goes on now, with the new UID.
        if let Some(submitter) = WAITING.with(|w| w.take()) {
            let _ = form.request_submit_with_submitter(submitter.as_ref());
        }
        uid.is_some()
    }

    /// The UID an autosave answered: only a number from `/compose` itself
    /// (a redirect to the sign-in page answers 200 too).
    async fn post_for_uid(init: &web_sys::RequestInit) -> Option<u32> {
        let answer = wasm_bindgen_futures::JsFuture::from(window().fetch_with_str_and_init("/compose", init))
            .await
            .ok()?
            .dyn_into::<web_sys::Response>()
            .ok()?;
        if !answer.ok() || answer.redirected() {
            return None;
        }
        let text = wasm_bindgen_futures::JsFuture::from(answer.text().ok()?).await.ok()?;
        text.as_string()?.trim().parse().ok()
    }

    fn schedule_autosave() {
        if SAVING.with(|s| s.replace(true)) {
            return;
        }
        set_timeout(
            || {
                leptos::task::spawn_local(async {
                    let saved = DIRTY.with(Cell::get) && autosave().await;
                    SAVING.with(|s| s.set(false));
                    // Typed on while it was saved: save again.
                    if saved && DIRTY.with(Cell::get) {
                        schedule_autosave();
                    }
                });
            },
            std::time::Duration::from_millis(AUTOSAVE_MS as u64),
        );
    }

    pub fn keep_drafts() {
        if DRAFTS.with(|d| d.replace(true)) {
            return;
        }
        let typed = window_event_listener(leptos::ev::input, |ev| {
            let in_compose = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                .is_some_and(|e| e.closest("form.compose").ok().flatten().is_some());
            if in_compose {
                DIRTY.with(|d| d.set(true));
                schedule_autosave();
            }
        });
        let submitted = window_event_listener(leptos::ev::submit, |ev: web_sys::SubmitEvent| {
            if !submits_compose(&ev) || ev.default_prevented() {
                return;
            }
            // An autosave on its way would replace the draft after this
            // form is sent or saved: the form waits for it, then goes on.
            if IN_FLIGHT.with(Cell::get) {
                ev.prevent_default();
                WAITING.with(|w| w.replace(Some(ev.submitter())));
                return;
            }
            // Sending, saving or discarding the form is leaving it on purpose.
            DIRTY.with(|d| d.set(false));
        });
        let leaving = window_event_listener(leptos::ev::beforeunload, |ev: web_sys::BeforeUnloadEvent| {
            if DIRTY.with(Cell::get) && compose_form().is_some() {
                ev.prevent_default();
                ev.set_return_value("Your message is not saved yet.");
            }
        });
        // Installed once for the page's whole life.
        std::mem::forget(typed);
        std::mem::forget(submitted);
        std::mem::forget(leaving);
    }

    fn submits_compose(ev: &web_sys::SubmitEvent) -> bool {
        ev.target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|f| f.class_list().contains("compose"))
    }

    fn in_text_field(ev: &KeyboardEvent) -> bool {
        ev.target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
    }

    pub fn shortcuts() {
        if KEYS.with(|k| k.replace(true)) {
            return;
        }
        let handle = window_event_listener(leptos::ev::keydown, |ev: KeyboardEvent| {
            if ev.ctrl_key() || ev.meta_key() || ev.alt_key() || in_text_field(&ev) {
                return;
            }
            match ev.key().as_str() {
                // Arrows, Space and Page keys scroll, as on any page; j and k
                // go from message to message (on to the next page at the end).
                "j" => step(1),
                "k" => step(-1),
                " " | "PageDown" if page_through(&ev, 1.0) => ev.prevent_default(),
                "PageUp" if page_through(&ev, -1.0) => ev.prevent_default(),
                "c" => click("#compose"),
                "r" => click("#reply"),
                "a" => click("#reply-all"),
                "f" => click("#forward"),
                "#" | "Delete" => click("#delete"),
                "u" | "Escape" => click(".message .back"),
                "/" => {
                    if let Some(search) = element::<HtmlInputElement>("#search") {
                        ev.prevent_default();
                        let _ = search.focus();
                    }
                }
                _ => {}
            }
        });
        // Installed once for the page's whole life.
        std::mem::forget(handle);
    }
}
