//! The mail view: folder tree, message list and reading pane, driven by
//! the query string (see [`crate::url::MailView`]).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::dates::{Local, long_date, short_date};
use mailroom_shared::dto::{Anchor, Folder, FolderGroup, MessagePage, MessageSummary, MessageView, SortKey};
use mailroom_shared::limits::human_size;
use mailroom_shared::{Action, Rights};

use crate::api::{Sidebar, answer, load_mail, load_message, said};
use crate::icons::Icon;
use crate::sharing::share_href;
use crate::url::{MailView, encode, folder_href};

#[component]
pub fn MailPage() -> impl IntoView {
    let query = use_query_map();
    let view_state = Memo::new(move |_| MailView::from_query(&query.read()));
    let refresh = RwSignal::new(0u32);
    // The stream follows the folder, not each message opened in it: a
    // new stream per message would cost a reload each (and leave a gap).
    let at = Memo::new(move |_| view_state.with(|v| (v.mailbox.clone(), None)));
    crate::browser::follow_changes(refresh, at);
    crate::browser::shortcuts();

    // The folder tree and the list come in one request.
    let data = Resource::new(
        move || (view_state.get().list(), refresh.get()),
        |(v, _)| load_mail(v.mailbox, v.sort, v.page, v.anchor, v.search),
    );
    let sidebar = move || async move { data.await.map(|d| d.sidebar) };
    let page = move || async move { answer(data.await.map(|d| d.page)) };
    // The open message follows live changes too: expunged elsewhere, or
    // its folder's rights changed, the reader says so at once. Opening it
    // marks it read; reloading it for a change does not (someone may have
    // marked it unread meanwhile).
    // In the browser the message shown at hydration came with the page
    // (the server opened it), so it counts as opened already.
    let shown = view_state.with_untracked(|v| v.uid.map(|uid| (v.mailbox.clone(), uid)));
    let opened = StoredValue::new(if cfg!(feature = "hydrate") { shown } else { None });
    let message = Resource::new(
        move || {
            let v = view_state.get();
            (v.mailbox, v.uid, v.images, refresh.get())
        },
        move |(mailbox, uid, images, _)| async move {
            match uid {
                Some(uid) => {
                    let this = Some((mailbox.clone(), uid));
                    let again = opened.with_value(|o| *o == this);
                    opened.set_value(this);
                    answer(load_message(mailbox, uid, images, !again).await).map(Some)
                }
                None => Ok(None),
            }
        },
    );
    let notice = move || query.read().get("notice");
    let error = move || query.read().get("error");
    let selection = Selection::default();
    // Another folder, page, sort or search starts with nothing ticked
    // (opening a message keeps the ticks).
    let list_view = Memo::new(move |_| view_state.get().list());
    // The phone's folder drawer closes once a folder or message is chosen.
    let drawer = RwSignal::new(false);
    Effect::watch(move || view_state.track(), move |_, _, _| drawer.set(false), false);
    Effect::watch(
        move || list_view.track(),
        move |_, _, _| {
            selection.clear();
            // Another page starts at its top, not where the last one ended.
            crate::browser::scroll_list_to_top();
        },
        false,
    );

    view! {
        <div class="app" class:reading=move || view_state.get().uid.is_some()>
            <TopBar view_state/>
            <input type="checkbox" id="drawer" class="drawer-toggle" aria-hidden="true" tabindex="-1"
                prop:checked=move || drawer.get() on:change=move |ev| drawer.set(event_target_checked(&ev))/>
            <Transition fallback=|| view! { <nav class="folders"><p class="muted">"Loading folders…"</p></nav> }>
                {move || Suspend::new(async move {
                    match sidebar().await {
                        Ok(s) => view! { <FolderTree sidebar=s current=view_state.get().mailbox/> }.into_any(),
                        Err(e) => view! { <nav class="folders"><SignedOut error=said(&e)/></nav> }.into_any(),
                    }
                })}
            </Transition>
            <section class="list" aria-label="Messages">
                {move || notice().map(|n| view! { <div class="alert notice" role="status">{n}<UndoButton view_state=view_state.get()/></div> }.into_any())}
                {move || error().map(|e| view! { <p class="alert error" role="alert">{e}</p> })}
                {move || selection.gone_notice().map(|n| view! { <p class="alert notice" role="status" id="selection-gone">{n}</p> })}
                <Transition fallback=|| view! { <p class="muted pad">"Loading messages…"</p> }>
                    {move || Suspend::new(async move {
                        let folders = sidebar().await.map(|s| s.folders).unwrap_or_default();
                        match page().await {
                            Ok(p) => {
                                selection.keep_only(p.messages.iter().map(|m| m.uid));
                                view! { <MessageList page=p folders view_state=view_state.get() selection/> }.into_any()
                            }
                            // Without `r` a user may still administer the
                            // mailbox (a server admin on a public one).
                            Err(e) => view! {
                                <p class="alert error" role="alert" id="list-refused">{format!("This folder cannot be shown: {}.", e.trim_end_matches('.'))}</p>
                                <p class="pad">"It may have been deleted or renamed, or its owner may have stopped sharing it. "
                                    <a href="/mail">"Back to your INBOX"</a>" · "
                                    <a href=share_href(&view_state.get_untracked().mailbox)>"Sharing of this folder"</a></p>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <section class="reader" aria-label="Message">
                <Transition fallback=|| view! { <p class="muted pad">"Opening…"</p> }>
                    {move || Suspend::new(async move {
                        match message.await {
                            Ok(Some(m)) => {
                                let listed = page().await.map(|p| p.messages).unwrap_or_default();
                                let folders = sidebar().await.map(|s| s.folders).unwrap_or_default();
                                let after = next_after(&listed, m.uid);
                                let for_good = deletes_for_good(&view_state.get_untracked().mailbox, &folders);
                                view! { <Reader message=m view_state=view_state.get_untracked() after for_good/> }.into_any()
                            }
                            Ok(None) => view! { <div class="empty-reader"><span class="logo big"><Icon name="mail"/></span><p>"Choose a message to read it."</p><p class="muted small">"Shortcuts: j/k next and previous · c compose · r reply · a reply all · f forward · # delete · / search"</p></div> }.into_any(),
                            Err(e) => view! {
                                <div class="pad" id="message-gone">
                                    <p class="alert error" role="alert">{format!("This message cannot be shown: {}.", e.trim_end_matches('.'))}</p>
                                    <p>"It may have been deleted or moved by someone else, or you may no longer read this folder."</p>
                                    <a class="button ghost" href=view_state.get_untracked().list().href()>"Back to the list"</a>
                                </div>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// How long *Undo* is offered after an action, once the page runs.
const UNDO_SECONDS: u64 = 10;

/// *Undo* for the action just done (delete, move, flag, read): the
/// server named the action that takes it back in the URL; this posts it.
/// Offered for a few seconds, as mail clients do.
#[component]
fn UndoButton(view_state: MailView) -> impl IntoView {
    let query = use_query_map();
    let q = query.get_untracked();
    let op = q.get("undo")?;
    let mailbox = q.get("undo_box")?;
    let target = q.get("undo_to").unwrap_or_default();
    let uids: Vec<u32> = q
        .get("undo_uid")
        .unwrap_or_default()
        .split(',')
        .filter_map(|u| u.parse().ok())
        .collect();
    if uids.is_empty() {
        return None;
    }
    let offered = RwSignal::new(true);
    Effect::new(move |_| {
        set_timeout(move || offered.set(false), std::time::Duration::from_secs(UNDO_SECONDS));
    });
    let back = view_state.list().href();
    let hidden = uids
        .into_iter()
        .map(|uid| view! { <input type="hidden" name="uid" value=uid/> })
        .collect_view();
    Some(view! {
        <Show when=move || offered.get()>
            <form method="post" action="/actions" class="inline undo" id="undo">
                <input type="hidden" name="mailbox" value=mailbox.clone()/>
                <input type="hidden" name="op" value=op.clone()/>
                <input type="hidden" name="target" value=target.clone()/>
                <input type="hidden" name="back" value=back.clone()/>
                <input type="hidden" name="undoing" value="1"/>
                {hidden.clone()}
                " "<button type="submit" class="link-button">"Undo"</button>
            </form>
        </Show>
    })
}

/// Whether deleting from `mailbox` is for good: it is the user's own
/// Trash, or they have none (elsewhere a delete moves mail to Trash).
fn deletes_for_good(mailbox: &str, folders: &[Folder]) -> bool {
    folders
        .iter()
        .find(|f| !f.info.name.starts_with('~') && f.info.special_use.as_deref() == Some("\\Trash"))
        .is_none_or(|trash| trash.info.name == mailbox)
}

/// The messages ticked in the list, by UID — never by row position: a
/// live refresh that adds or removes rows above them leaves the same
/// messages ticked, and the form posts exactly those UIDs.
#[derive(Clone, Copy, Default)]
struct Selection {
    uids: RwSignal<std::collections::BTreeSet<u32>>,
    /// How many ticked messages left the list at the last refresh.
    gone: RwSignal<usize>,
}

impl Selection {
    fn contains(self, uid: u32) -> bool {
        self.uids.with(|s| s.contains(&uid))
    }

    fn set(self, uids: impl IntoIterator<Item = u32>, ticked: bool) {
        self.uids.update(|s| {
            for uid in uids {
                if ticked {
                    s.insert(uid);
                } else {
                    s.remove(&uid);
                }
            }
        });
        self.gone.set(0);
    }

    fn clear(self) {
        self.uids.update(|s| s.clear());
        self.gone.set(0);
    }

    /// After a refresh: unticks what is no longer listed, and says so.
    fn keep_only(self, listed: impl Iterator<Item = u32>) {
        let listed: std::collections::HashSet<u32> = listed.collect();
        let lost = self
            .uids
            .with_untracked(|s| s.iter().filter(|u| !listed.contains(u)).count());
        if lost > 0 {
            self.uids.update(|s| s.retain(|u| listed.contains(u)));
            self.gone.set(lost);
        }
    }

    fn gone_notice(self) -> Option<String> {
        match self.gone.get() {
            0 => None,
            1 => Some("A message you had selected is no longer here; it was unselected.".into()),
            n => Some(format!(
                "{n} messages you had selected are no longer here; they were unselected."
            )),
        }
    }
}

#[component]
fn SignedOut(error: String) -> impl IntoView {
    view! {
        <p class="alert error">{error}</p>
        <a class="button" href="/login">"Sign in"</a>
    }
}

#[component]
fn TopBar(view_state: Memo<MailView>) -> impl IntoView {
    view! {
        <header class="topbar">
            // On a phone the folders are a drawer this opens (a label for the
            // check box before the folder tree: it works before hydration).
            <label for="drawer" class="drawer-button" title="Folders" aria-label="Folders">"☰"</label>
            <a class="brand" href="/mail"><span class="logo">"✉"</span>" Mailroom"</a>
            <form class="search" method="get" action="/mail" role="search">
                <input type="hidden" name="box" value=move || view_state.get().mailbox/>
                <input id="search" type="search" name="q" placeholder="Search (/ ) — from: to: subject: has:attachment is:unread before: after: in:all"
                    aria-label="Search this folder" value=move || view_state.get().search.unwrap_or_default()/>
            </form>
            <form method="post" action="/logout" class="signout">
                <button type="submit" class="ghost">"Sign out"</button>
            </form>
        </header>
    }
}

fn group_title(g: FolderGroup) -> &'static str {
    match g {
        FolderGroup::Mine => "My folders",
        FolderGroup::OtherUsers => "Other users",
        FolderGroup::Public => "Public folders",
    }
}

fn folder_icon(f: &Folder) -> &'static str {
    match f.info.special_use.as_deref() {
        Some("\\Sent") => "sent",
        Some("\\Drafts") => "drafts",
        Some("\\Trash") => "trash",
        Some("\\Junk") => "junk",
        _ if f.info.name.eq_ignore_ascii_case("INBOX") => "inbox",
        _ => "folder",
    }
}

/// INBOX first, then Drafts, Sent, Junk, Trash, then the rest by name;
/// sub-folders under their parent.
fn in_tree_order(mut folders: Vec<Folder>) -> Vec<Folder> {
    let rank = |f: &Folder| -> u8 {
        if f.info.name.eq_ignore_ascii_case("INBOX") {
            return 0;
        }
        match f.info.special_use.as_deref() {
            Some("\\Drafts") => 1,
            Some("\\Sent") => 2,
            Some("\\Junk") => 3,
            Some("\\Trash") => 4,
            _ => 5,
        }
    };
    let tops: std::collections::HashMap<String, u8> = folders
        .iter()
        .filter(|f| !f.info.name.contains('/'))
        .map(|f| (f.info.name.clone(), rank(f)))
        .collect();
    folders.sort_by_cached_key(|f| {
        let top = f.info.name.split('/').next().unwrap_or_default();
        (tops.get(top).copied().unwrap_or(5), f.info.name.clone())
    });
    folders
}

/// The name shown in the tree: the last level, indented by depth.
fn folder_label(f: &Folder) -> (String, usize) {
    let name = &f.info.name;
    let inner = match f.group() {
        FolderGroup::Mine => name.as_str(),
        _ => name.split_once('/').map_or(name.as_str(), |(_, rest)| rest),
    };
    let depth = inner.matches('/').count();
    let leaf = inner.rsplit('/').next().unwrap_or(inner);
    let label = if f.group() == FolderGroup::OtherUsers && depth == 0 {
        format!("{} · {leaf}", name.split('/').next().unwrap_or(""))
    } else {
        leaf.to_owned()
    };
    (label, depth)
}

#[component]
fn FolderTree(sidebar: Sidebar, current: String) -> impl IntoView {
    let groups = [FolderGroup::Mine, FolderGroup::OtherUsers, FolderGroup::Public];
    let user = sidebar.user.address.clone();
    let admin = sidebar.user.server_admin;
    let total_unread: u32 = sidebar.folders.iter().map(|f| f.counts.unseen).sum();
    // New mail shows in the tab: "(2) INBOX · Mailroom".
    let inbox_unread: u32 = sidebar
        .folders
        .iter()
        .filter(|f| f.info.name == "INBOX")
        .map(|f| f.counts.unseen)
        .sum();
    crate::browser::notify_new_mail(inbox_unread);
    let title = match inbox_unread {
        0 => format!("{current} · Mailroom"),
        n => format!("({n}) {current} · Mailroom"),
    };
    let sections = groups
        .into_iter()
        .filter_map(|g| {
            let folders = in_tree_order(sidebar.folders.iter().filter(|f| f.group() == g).cloned().collect());
            if folders.is_empty() {
                return None;
            }
            let items = folders
                .into_iter()
                .map(|f| {
                    let (label, depth) = folder_label(&f);
                    let active = f.info.name == current;
                    let unseen = f.counts.unseen;
                    view! {
                        <li class:active=active style=format!("--depth:{depth}")>
                            <a href=folder_href(&f.info.name) data-folder=f.info.name.clone() title=f.info.name.clone()>
                                <Icon name=folder_icon(&f)/>
                                <span class="name">{label}</span>
                                {crate::team::initials(&f.present)}
                                {(unseen > 0).then(|| view! { <span class="badge" aria-label="unread">{unseen}</span> })}
                            </a>
                        </li>
                    }
                })
                .collect_view();
            Some(view! {
                <h3>{group_title(g)}</h3>
                <ul>{items}</ul>
            })
        })
        .collect_view();
    view! {
        <Title text=title/>
        <nav class="folders" aria-label="Folders" data-unread=total_unread>
            // Compose is a page of its own (a full load), so that leaving it
            // with unsaved text is always asked about.
            <a class="button primary compose-button" href="/compose" id="compose" rel="external"><Icon name="drafts"/>"Compose"</a>
            {sections}
            <form class="new-folder" method="post" action="/folders">
                <input type="hidden" name="op" value="create"/>
                <input type="text" name="name" placeholder="New folder" aria-label="New folder name" required/>
                <button type="submit" class="ghost" title="Create folder">"+"</button>
            </form>
            <form class="new-folder" method="get" action="/browse" id="open-account">
                <input type="text" name="account" placeholder="~name: open another user's folders" aria-label="Open another user's folders" required/>
                <button type="submit" class="ghost" title="Open">"→"</button>
            </form>
            <a class="admin-link small" href="/settings" id="settings-link">"Settings"</a>
            // Shown by the page's code where the browser can notify.
            <button type="button" class="admin-link small link-button" id="notify" hidden
                on:click=move |_| crate::browser::toggle_notifications()>"Notify me of new mail"</button>
            <a class="admin-link small" href="/rules" id="rules-link">"Rules for incoming mail"</a>
            {admin.then(|| view! { <a class="admin-link small" href="/admin" id="admin-link">"Server administration"</a> })}
            <p class="me muted small">{user}</p>
        </nav>
    }
}

#[component]
fn MessageList(page: MessagePage, folders: Vec<Folder>, view_state: MailView, selection: Selection) -> impl IntoView {
    let rights = page.mailbox.rights;
    let mailbox = page.mailbox.name.clone();
    let list_view = view_state.list();
    let back = view_state.href();
    let (now_utc, now) = (page.now, page.now_local.clone());
    // Sent and Drafts list whom a message is for, not its sender (you).
    let outgoing = matches!(page.mailbox.special_use.as_deref(), Some("\\Sent" | "\\Drafts"));
    let first = page.offset + 1;
    let last = page.offset + page.messages.len() as u32;
    let total = page.total;
    let has_prev = view_state.page > 0;
    let has_next = last < total || page.more;
    let of_total = match page.more {
        true => format!("more than {total}"),
        false => total.to_string(),
    };
    // Newer and older pages are read from this page's first and last
    // message (an index range, however deep); the first page from the top.
    let prev_page = view_state.page.saturating_sub(1);
    let prev_href = MailView {
        page: prev_page,
        anchor: page
            .messages
            .first()
            .filter(|_| prev_page > 0)
            .map(|m| Anchor::Before(m.uid)),
        ..list_view.clone()
    }
    .href();
    let next_href = MailView {
        page: view_state.page + 1,
        anchor: page.messages.last().map(|m| Anchor::After(m.uid)),
        ..list_view.clone()
    }
    .href();
    let sort_link = |key: SortKey, label: &'static str| {
        let href = MailView {
            sort: key,
            page: 0,
            anchor: None,
            ..list_view.clone()
        }
        .href();
        let active = list_view.sort == key;
        view! { <a href=href class:active=active>{label}</a> }
    };
    let everywhere = view_state
        .search
        .as_deref()
        .is_some_and(|q| mailroom_shared::search::Query::parse(q).all_folders);
    let title = match &view_state.search {
        Some(q) if everywhere => format!("Search “{q}”"),
        Some(q) => format!("Search “{q}” in {mailbox}"),
        None => mailbox.clone(),
    };
    // A search of the open folder offers the same in every folder.
    let widen = view_state.search.as_ref().filter(|_| !everywhere).map(|q| {
        let href = MailView {
            search: Some(format!("{q} in:all")),
            page: 0,
            anchor: None,
            ..list_view.clone()
        }
        .href();
        view! { <a class="small" href=href id="search-everywhere">"Search all folders"</a> }
    });
    let can_rename = rights.allow(Action::RenameMailbox) && !mailbox.eq_ignore_ascii_case("INBOX");
    let can_create = rights.allow(Action::CreateChild);
    // One line per conversation: the newest of each on this page, with
    // how many of the page's messages it stands for.
    let mut in_thread: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for m in &page.messages {
        *in_thread.entry(m.thread.clone()).or_default() += 1;
    }
    let mut shown_threads = std::collections::HashSet::new();
    let rows = page
        .messages
        .iter()
        .filter(|m| !view_state.threads || m.thread.is_empty() || shown_threads.insert(m.thread.clone()))
        .map(|m| {
            let count = match view_state.threads {
                true => in_thread.get(&m.thread).copied().unwrap_or(1),
                false => 1,
            };
            row(m, &view_state, now_utc, &now, selection, outgoing, count)
        })
        .collect_view();
    let threads_href = MailView {
        threads: !view_state.threads,
        page: 0,
        anchor: None,
        ..list_view.clone()
    }
    .href();
    let threads_toggle = view! {
        <a class="small" id="threads-toggle" href=threads_href>{if view_state.threads { "Show every message" } else { "Group by conversation" }}</a>
    };
    let listed: Vec<u32> = page.messages.iter().map(|m| m.uid).collect();
    // The folder's own count (a search's total counts only what it found).
    let in_folder = folders
        .iter()
        .find(|f| f.info.name == mailbox)
        .map_or(total, |f| f.counts.messages);
    let all_ticked = {
        let listed = listed.clone();
        move || !listed.is_empty() && listed.iter().all(|u| selection.contains(*u))
    };
    let empty = page.messages.is_empty();
    let team = page.shared.then(|| {
        view! {
            <crate::team::PresenceBar present=page.present.clone()/>
            <crate::team::TeamFilters view_state=view_state.clone()/>
        }
    });
    view! {
        <div class="list-head">
            <h1 class="folder-title">{title}</h1>
            <span class="muted small">{if total == 0 { "No messages".to_owned() } else { format!("{first}–{last} of {of_total}") }}</span>
            {widen}
            {threads_toggle}
            <a class="small sharing-link" href=share_href(&mailbox) id="sharing-link">"Sharing"</a>
            {(can_rename || can_create).then(|| view! { <FolderManage mailbox=mailbox.clone() messages=in_folder can_rename can_create/> }.into_any())}
        </div>
        {team}
        <form id="list-form" method="post" action="/actions">
            <input type="hidden" name="mailbox" value=mailbox.clone()/>
            <input type="hidden" name="back" value=back/>
            // Messages of several folders are opened one by one, not acted on
            // together here.
            <div class="toolbar" role="toolbar" hidden=everywhere>
                <input type="checkbox" id="select-all" aria-label="Select all" title="Select all"
                    prop:checked=all_ticked
                    on:change=move |ev| selection.set(listed.clone(), event_target_checked(&ev))/>
                {rights.allow(Action::MarkSeen).then(|| view! {
                    <button name="op" value="read" class="ghost">"Mark read"</button>
                    <button name="op" value="unread" class="ghost">"Mark unread"</button>
                })}
                {rights.allow(Action::Flag).then(|| view! {
                    <button name="op" value="flag" class="ghost">"★ Flag"</button>
                })}
                {rights.allow(Action::Delete).then(|| match deletes_for_good(&mailbox, &folders) {
                    false => view! { <button name="op" value="delete" class="ghost danger">"Delete"</button> }.into_any(),
                    true => view! {
                        <details class="confirm inline-confirm" id="delete-forever">
                            <summary class="ghost danger">"Delete forever…"</summary>
                            <span class="small">"The ticked messages will be gone for good. "</span>
                            <button name="op" value="delete-forever" class="danger">"Delete forever"</button>
                        </details>
                    }.into_any(),
                })}
                <MoveControls mailbox=mailbox.clone() folders rights/>
                <span class="sort muted small">"Sort: " {sort_link(SortKey::Date, "date")} " " {sort_link(SortKey::Sender, "sender")} " " {sort_link(SortKey::Subject, "subject")} " " {sort_link(SortKey::Size, "size")}</span>
            </div>
            <ul class="messages">
                {rows}
            </ul>
            {empty.then(|| view! { <p class="muted pad center">{if view_state.search.is_some() { "Nothing found." } else { "This folder is empty." }}</p> })}
        </form>
        <nav class="pager">
            {has_prev.then(|| view! { <a class="button ghost" id="newer" href=prev_href>"← Newer"</a> })}
            {has_next.then(|| view! { <a class="button ghost" id="older" href=next_href>"Older →"</a> })}
        </nav>
    }
}

fn row(
    m: &MessageSummary,
    v: &MailView,
    now_utc: i64,
    now: &Local,
    selection: Selection,
    outgoing: bool,
    // How many messages of its conversation this line stands for.
    in_thread: u32,
) -> impl IntoView + use<> {
    let uid = m.uid;
    // A search of every folder lists messages of other folders: each
    // opens in its own, and is not ticked for the open folder's actions.
    let elsewhere = m.mailbox.clone();
    let current = v.uid == Some(m.uid) && elsewhere.as_ref().is_none_or(|b| *b == v.mailbox);
    let href = match &elsewhere {
        Some(mailbox) => MailView {
            mailbox: mailbox.clone(),
            ..v.clone()
        }
        .with_uid(uid)
        .href(),
        None => v.with_uid(uid).href(),
    };
    let sender = match (outgoing, m.sender.is_empty(), m.recipients.is_empty()) {
        (true, _, true) => "(no recipients)".to_owned(),
        (true, _, false) => format!("To: {}", m.recipients),
        (false, true, _) => "(no sender)".to_owned(),
        (false, false, _) => m.sender.clone(),
    };
    let subject = if m.subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        m.subject.clone()
    };
    let date = short_date(m.local.of(m.date), now.of(now_utc.max(m.date)));
    view! {
        <li class="msg-row" class:unread=!m.seen class:current=current class:flagged=m.flagged data-uid=m.uid>
            {elsewhere.is_none().then(|| view! {
                <input type="checkbox" name="uid" value=uid aria-label="Select"
                    prop:checked=move || selection.contains(uid)
                    on:change=move |ev| selection.set([uid], event_target_checked(&ev))/>
            })}
            <a href=href class="msg-link">
                {elsewhere.map(|b| view! { <span class="in-folder tag" title="Folder">{b}</span> })}
                <span class="sender">{sender}</span>
                <span class="date">{date}</span>
                <span class="subject">
                    {m.flagged.then(|| view! { <span class="star" title="Flagged">"★"</span> })}
                    {m.answered.then(|| view! { <span class="mark" title="Answered">"↩"</span> })}
                    {m.has_attachments.then(|| view! { <span class="mark clip" title="Has attachments"><Icon name="clip"/></span> })}
                    {crate::team::row_marks(m.assignee.clone(), m.status)}
                    {subject}
                    {(in_thread > 1).then(|| view! { <span class="thread-count muted" title="Messages in this conversation">{format!(" ({in_thread})")}</span> })}
                </span>
                <span class="preview">{m.preview.clone()}</span>
            </a>
        </li>
    }
}

/// Move and copy: a target folder and the buttons the rights allow.
#[component]
fn MoveControls(mailbox: String, folders: Vec<Folder>, rights: Rights) -> impl IntoView {
    let can_move = rights.allow(Action::MoveOut);
    let options = folders
        .into_iter()
        .filter(|f| f.info.name != mailbox && f.info.rights.allow(Action::Insert))
        .map(|f| view! { <option value=f.info.name.clone()>{f.info.name.clone()}</option> })
        .collect_view();
    view! {
        <select name="target" aria-label="Target folder" class="target">
            <option value="" selected>"Move or copy to…"</option>
            {options}
        </select>
        {can_move.then(|| view! { <button name="op" value="move" class="ghost">"Move"</button> })}
        <button name="op" value="copy" class="ghost">"Copy"</button>
    }
}

/// Rename and delete (with `x`), and a new sub-folder (with `k`).
#[component]
fn FolderManage(mailbox: String, messages: u32, can_rename: bool, can_create: bool) -> impl IntoView {
    // The web moves the mail of one's own folder to Trash first (the
    // service's delete_folder); another account's folder loses it.
    let fate = match (messages, mailbox.starts_with('~')) {
        (0, _) => "It is empty.".to_owned(),
        (1, false) => "Its message will be moved to your Trash.".to_owned(),
        (n, false) => format!("Its {n} messages will be moved to your Trash."),
        (n, true) => format!("It is another account's folder: its {n} message(s) will be deleted for good."),
    };
    view! {
        <details class="manage">
            <summary class="ghost small">"Folder…"</summary>
            {can_rename.then(|| view! {
                <form method="post" action="/folders">
                    <input type="hidden" name="name" value=mailbox.clone()/>
                    <input type="text" name="new_name" value=mailbox.clone() aria-label="New name"/>
                    <button name="op" value="rename" class="ghost">"Rename"</button>
                </form>
                <details class="confirm" id="delete-folder">
                    <summary class="ghost small danger">"Delete folder…"</summary>
                    <form method="post" action="/folders">
                        <input type="hidden" name="name" value=mailbox.clone()/>
                        <input type="hidden" name="confirmed" value="1"/>
                        <p class="small">{fate}</p>
                        <button name="op" value="delete" class="danger">{format!("Delete “{mailbox}”")}</button>
                    </form>
                </details>
            })}
            {can_create.then(|| view! {
                <form method="post" action="/folders" id="new-sub-folder">
                    <input type="hidden" name="op" value="create"/>
                    <input type="hidden" name="parent" value=mailbox.clone()/>
                    <input type="text" name="name" placeholder="New sub-folder" aria-label="New sub-folder name" required/>
                    <button type="submit" class="ghost">"Create"</button>
                </form>
            })}
        </details>
    }
}

/// A plain-text body as the reader shows it: web addresses as links, and
/// each run of quoted lines (`> …`) folded away under "Quoted text".
fn plain_text(text: &str) -> impl IntoView + use<> {
    let mut blocks: Vec<(bool, Vec<&str>)> = Vec::new();
    for line in text.split_inclusive('\n') {
        let quoted = line.starts_with('>');
        match blocks.last_mut() {
            Some((q, lines)) if *q == quoted => lines.push(line),
            _ => blocks.push((quoted, vec![line])),
        }
    }
    blocks
        .into_iter()
        .map(|(quoted, lines)| {
            let inner = lines.into_iter().map(linked).collect_view();
            if quoted {
                view! { <details class="quoted"><summary>"Quoted text"</summary><div>{inner}</div></details> }
                    .into_any()
            } else {
                inner.into_any()
            }
        })
        .collect_view()
}

/// A line with its `http(s)://` addresses as links (trailing punctuation
/// left outside, as in "see https://example.com.").
fn linked(line: &str) -> impl IntoView + use<> {
    let mut parts = Vec::new();
    let mut rest = line;
    while let Some(start) = ["https://", "http://"].iter().filter_map(|s| rest.find(s)).min() {
        let len = rest[start..].find(char::is_whitespace).unwrap_or(rest.len() - start);
        let url = rest[start..start + len].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '>', '"', '\'']);
        parts.push(view! { {rest[..start].to_owned()} }.into_any());
        parts.push(
            view! { <a href=url.to_owned() target="_blank" rel="noopener noreferrer">{url.to_owned()}</a> }.into_any(),
        );
        rest = &rest[start + url.len()..];
    }
    parts.push(view! { {rest.to_owned()} }.into_any());
    parts.into_iter().collect_view()
}

/// The message to show once `uid` is deleted, moved or flagged from the
/// reader: the one below it in the list, else the one above.
fn next_after(listed: &[MessageSummary], uid: u32) -> Option<u32> {
    let i = listed.iter().position(|m| m.uid == uid)?;
    listed
        .get(i + 1)
        .or_else(|| i.checked_sub(1).and_then(|j| listed.get(j)))
        .map(|m| m.uid)
}

#[component]
fn Reader(
    message: MessageView,
    view_state: MailView,
    /// The message that takes this one's place after an action on it.
    after: Option<u32>,
    /// Deleting it is for good (it is in the Trash).
    for_good: bool,
) -> impl IntoView {
    let mailbox = view_state.mailbox.clone();
    let uid = message.uid;
    let rights = message.rights;
    let s = message.summary.clone();
    let list_href = view_state.list().href();
    // Like mutt's `resolve`: after delete or flag, the next message.
    let onward = match after {
        Some(next) => view_state.list().with_uid(next).href(),
        None => list_href.clone(),
    };
    let images_href = MailView {
        images: true,
        ..view_state.clone()
    }
    .href();
    let base = format!("box={}&uid={uid}", encode(&mailbox));
    let reply = |mode: &str| format!("/compose?mode={mode}&{base}");
    let subject = if s.subject.is_empty() {
        "(no subject)".to_owned()
    } else {
        s.subject.clone()
    };
    let attachments = message
        .attachments
        .iter()
        .map(|a| {
            let href = format!("/attachment?{base}&part={}", a.index);
            view! {
                <li><a href=href download=a.filename.clone()>
                    <Icon name="clip"/>{a.filename.clone()}
                    <span class="muted small">{format!(" {} · {}", a.content_type, human_size(u64::from(a.size)))}</span>
                </a></li>
            }
        })
        .collect_view();
    let has_attachments = !message.attachments.is_empty();
    let body = match &message.html {
        Some(doc) => view! {
            <iframe class="html-body" title="Message content" sandbox="allow-popups allow-popups-to-escape-sandbox"
                referrerpolicy="no-referrer" srcdoc=doc.clone()></iframe>
        }
        .into_any(),
        None => view! { <pre class="text-body">{plain_text(&message.text)}</pre> }.into_any(),
    };
    view! {
        <article class="message" data-uid=uid>
            <a class="back" href=list_href.clone()>"← Back to the list"</a>
            <h2 class="subject">{subject}</h2>
            <dl class="headers">
                <dt>"From"</dt><dd class="from">{message.from.clone()}</dd>
                <dt>"To"</dt><dd>{message.to.clone()}</dd>
                {(!message.cc.is_empty()).then(|| view! { <dt>"Cc"</dt><dd>{message.cc.clone()}</dd> })}
                <dt>"Date"</dt><dd>{long_date(s.date, &s.local)}</dd>
            </dl>
            <div class="actions" role="toolbar">
                {s.draft.then(|| view! { <a class="button primary" id="edit-draft" href=reply("draft") rel="external">"✎ Edit draft"</a> })}
                <a class="button" id="reply" href=reply("reply") rel="external">"↩ Reply"</a>
                <a class="button ghost" id="reply-all" href=reply("all") rel="external">"Reply all"</a>
                <a class="button ghost" id="forward" href=reply("forward") rel="external">"Forward ➜"</a>
                <a class="button ghost" id="forward-attached" href=reply("attach") rel="external" title="The whole message as an attachment">"Forward as attachment"</a>
                <form method="post" action="/actions" class="inline">
                    <input type="hidden" name="mailbox" value=mailbox.clone()/>
                    <input type="hidden" name="uid" value=uid/>
                    <input type="hidden" name="back" value=onward/>
                    {rights.allow(Action::MarkSeen).then(|| view! {
                        <button name="op" value="unread" class="ghost">"Mark unread"</button>
                    })}
                    {rights.allow(Action::Flag).then(|| view! {
                        <button name="op" value=if s.flagged { "unflag" } else { "flag" } class="ghost">{if s.flagged { "☆ Unflag" } else { "★ Flag" }}</button>
                    })}
                    {rights.allow(Action::Delete).then(|| match for_good {
                        false => view! { <button name="op" value="delete" class="ghost danger" id="delete">"Delete"</button> }.into_any(),
                        true => view! {
                            <details class="confirm inline-confirm">
                                <summary class="ghost danger" id="delete">"Delete forever…"</summary>
                                <button name="op" value="delete-forever" class="danger" id="delete-forever-one">"Delete forever"</button>
                            </details>
                        }.into_any(),
                    })}
                </form>
                <a class="button ghost" href=format!("/raw?{base}") target="_blank">"Source"</a>
            </div>
            {message.remote_images.then(|| view! {
                <p class="alert notice images">"Remote images are blocked to protect your privacy. "
                    <a href=images_href.clone()>"Show images"</a></p>
            })}
            <crate::team::TeamPanel mailbox=mailbox.clone() uid team=message.team.clone() back=view_state.href()/>
            {body}
            {has_attachments.then(|| view! { <ul class="attachments">{attachments}</ul> })}
        </article>
    }
}
