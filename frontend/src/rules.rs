//! The rules page: automated rules for incoming mail, the user's own and,
//! for server admins, the server's and each domain's. Each rule shows
//! what it does in words and why it recently did less; the form below
//! adds a rule or changes the one being edited. Posts go to `/rules`.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use mailroom_shared::rules::{ACTION_WORDS, Field, RuleSpec, RuleView, RulesPage, Scope, Test};

use crate::api::load_rules;
use crate::page::PageFrame;
use crate::url::encode;

/// Blank rows the form offers beyond the rule's own.
const SPARE_ROWS: usize = 2;

fn scope_href(scope: &Scope) -> String {
    format!("/rules?scope={}", encode(&scope.to_param()))
}

fn scope_label(scope: &Scope) -> String {
    match scope {
        Scope::Server => "Whole server".into(),
        Scope::Domain(d) => format!("Domain {d}"),
        Scope::Account(a) => format!("My mail ({a})"),
    }
}

#[component]
pub fn RulesPageView() -> impl IntoView {
    let query = use_query_map();
    let page = Resource::new(move || query.read().get("scope").unwrap_or_default(), load_rules);
    let editing = Memo::new(move |_| query.read().get("edit").and_then(|e| e.parse::<i64>().ok()));
    let back = Signal::derive(|| ("/mail".to_owned(), "← Back to your mail".to_owned()));
    view! {
        <Title text="Rules · Mailroom"/>
        <PageFrame back>
            <h1>"Rules for incoming mail"</h1>
            <Suspense fallback=|| view! { <p class="muted pad">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(p) => view! { <RulesBody page=p editing=editing.get_untracked()/> }.into_any(),
                        Err(e) => view! { <p class="alert error" role="alert" id="rules-refused">{crate::api::said(&e)}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </PageFrame>
    }
}

#[component]
fn RulesBody(page: RulesPage, editing: Option<i64>) -> impl IntoView {
    let RulesPage { scopes, scope, rules } = page;
    let tabs = (scopes.len() > 1).then(|| {
        let links = scopes
            .iter()
            .map(|s| {
                let current = *s == scope;
                view! { <a href=scope_href(s) class="scope-tab" class:current=current>{scope_label(s)}</a> }
            })
            .collect_view();
        view! { <nav class="scope-tabs" aria-label="Whose rules">{links}</nav> }
    });
    let edited = editing.and_then(|id| rules.iter().find(|r| r.id == id).cloned());
    let list = match rules.is_empty() {
        true => view! { <p class="muted" id="no-rules">"No rules yet: all mail goes to the INBOX."</p> }.into_any(),
        false => view! { <RuleList rules scope=scope.clone()/> }.into_any(),
    };
    (
        tabs,
        view! {
            <section class="card" id="rules">
                <h2>{scope_label(&scope)}</h2>
                <p class="muted small">"Rules run when mail arrives: the server's first, then the domain's, then each account's, each by priority (lowest first). Copies into other people's or public mailboxes need the 'p' or 'i' right there."</p>
                {list}
            </section>
        }
        .into_any(),
        view! { <RuleForm scope edited/> }.into_any(),
    )
}

#[component]
fn RuleList(rules: Vec<RuleView>, scope: Scope) -> impl IntoView {
    let param = scope.to_param();
    let rows = rules
        .into_iter()
        .map(|r| {
            let problems = r
                .problems
                .iter()
                .take(3)
                .map(|p| view! { <li class="rule-problem">{p.clone()}</li> })
                .collect_view();
            let owner = r.owner.clone().unwrap_or_else(|| "the operator".into());
            let edit = format!("{}&edit={}", scope_href(&r.scope), r.id);
            view! {
                <tr data-rule=r.spec.name.clone()>
                    <td>{r.spec.priority}</td>
                    <td><strong>{r.spec.name.clone()}</strong>
                        <p class="rule-words">{r.spec.describe()}</p>
                        <p class="muted small">"Copies use the rights of "{owner}</p>
                        <ul class="plain alert-list">{problems}</ul></td>
                    <td>
                        <a class="button ghost" href=edit>"Edit"</a>
                        <form method="post" action="/rules" class="inline">
                            <input type="hidden" name="scope" value=param.clone()/>
                            <input type="hidden" name="id" value=r.id.to_string()/>
                            <button type="submit" name="op" value="delete" class="ghost danger">"Delete"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="rules-table">
            <thead><tr><th>"Priority"</th><th>"Rule"</th><th></th></tr></thead>
            <tbody>{rows}</tbody>
        </table>
    }
}

/// One option of a select, chosen when it is the current value.
fn choice(value: &'static str, label: &'static str, current: &str) -> impl IntoView + use<> {
    view! { <option value=value selected=value == current>{label}</option> }
}

fn field_word(field: &Field) -> &'static str {
    match field {
        Field::Sender => "sender",
        Field::Recipient => "recipient",
        Field::Subject => "subject",
        Field::Header(_) => "header",
        Field::Size => "size",
    }
}

fn action_label(word: &str) -> &'static str {
    match word {
        "fileinto" => "File into mailbox",
        "copy" => "Copy to mailbox",
        "flag" => "Add flag or keyword",
        "redirect" => "Redirect to address",
        "vacation" => "Auto-reply (days, then text)",
        "discard" => "Discard (not in INBOX)",
        _ => "Stop (no further rules)",
    }
}

#[component]
fn RuleForm(scope: Scope, edited: Option<RuleView>) -> impl IntoView {
    let spec = edited.as_ref().map(|r| r.spec.clone()).unwrap_or(RuleSpec {
        priority: 100,
        ..RuleSpec::default()
    });
    let conditions = (0..spec.conditions.len() + SPARE_ROWS.max(1))
        .map(|i| {
            let c = spec.conditions.get(i);
            let field = c.map_or("", |c| field_word(&c.field));
            let header = match c.map(|c| &c.field) {
                Some(Field::Header(name)) => name.clone(),
                _ => String::new(),
            };
            let test = c.map_or("contains", |c| c.test.word());
            let value = c.map(|c| c.value.clone()).unwrap_or_default();
            let tests = Test::ALL
                .into_iter()
                .map(|t| choice(t.word(), t.word(), test))
                .collect_view();
            view! {
                <div class="rule-row condition-row">
                    <select name="cond_field" aria-label="Field">
                        {choice("", "—", field)}
                        {choice("sender", "Sender", field)}
                        {choice("recipient", "Recipient", field)}
                        {choice("subject", "Subject", field)}
                        {choice("header", "Header…", field)}
                        {choice("size", "Size", field)}
                    </select>
                    <input type="text" name="cond_header" value=header placeholder="Header name" aria-label="Header name" size="12"/>
                    <select name="cond_test" aria-label="Test">{tests}</select>
                    <input type="text" name="cond_value" value=value placeholder="Value (wildcards * and ?, sizes 100K, 2M)" aria-label="Value"/>
                </div>
            }
        })
        .collect_view();
    let actions = (0..spec.actions.len() + SPARE_ROWS)
        .map(|i| {
            let a = spec.actions.get(i);
            let word = a.map_or("", |a| a.word());
            let arg = a.and_then(|a| a.argument()).unwrap_or_default();
            let options = ACTION_WORDS
                .into_iter()
                .map(|(w, _)| choice(w, action_label(w), word))
                .collect_view();
            view! {
                <div class="rule-row action-row">
                    <select name="action" aria-label="Action">{choice("", "—", word)}{options}</select>
                    <input type="text" name="arg" value=arg placeholder="Mailbox (~public/Support), flag or address" aria-label="Argument"/>
                </div>
            }
        })
        .collect_view();
    let (title, id) = match &edited {
        Some(r) => (format!("Change rule “{}”", r.spec.name), r.id.to_string()),
        None => ("Add a rule".to_owned(), String::new()),
    };
    let any = spec.any;
    view! {
        <section class="card" id="rule-form">
            <h2>{title}</h2>
            <form method="post" action="/rules" class="rule-form">
                <input type="hidden" name="scope" value=scope.to_param()/>
                <input type="hidden" name="id" value=id/>
                <label>"Name "<input type="text" name="name" value=spec.name.clone() required/></label>
                <label>"Priority "<input type="number" name="priority" value=spec.priority.to_string()/></label>
                <fieldset>
                    <legend>"When"</legend>
                    <select name="any" aria-label="All or any">
                        <option value="all" selected=!any>"all conditions hold"</option>
                        <option value="any" selected=any>"any condition holds"</option>
                    </select>
                    {conditions}
                    <p class="muted small">"No condition: every message."</p>
                </fieldset>
                <fieldset>
                    <legend>"Then"</legend>
                    {actions}
                    <label class="small" id="confirm-discard"><input type="checkbox" name="confirmed" value="1"/>
                        " Yes, discard every message (needed for a rule without conditions that discards)"</label>
                </fieldset>
                <button type="submit" name="op" value="save" class="primary">"Save rule"</button>
            </form>
        </section>
    }
}
