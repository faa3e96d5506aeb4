//! The rules page's form posts: save (new or changed) and delete. The
//! service decides who may edit which scope; a refusal is an error on the
//! page and changes nothing.

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;
use mailroom_frontend::url::encode;
use mailroom_shared::rules::{Action, Condition, Field, RuleSpec, Scope, Test};
use serde::Deserialize;

use super::Web;
use super::actions::outcome;
use super::auth::SignedIn;
use crate::error::{Error, Result};

/// The rule form. Conditions and actions come as parallel lists, one
/// entry per row of the form; rows left blank are skipped.
#[derive(Deserialize)]
pub(crate) struct RuleForm {
    op: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    priority: String,
    /// `any` or `all`.
    #[serde(default)]
    any: String,
    #[serde(default)]
    cond_field: Vec<String>,
    #[serde(default)]
    cond_header: Vec<String>,
    #[serde(default)]
    cond_test: Vec<String>,
    #[serde(default)]
    cond_value: Vec<String>,
    #[serde(default)]
    action: Vec<String>,
    #[serde(default)]
    arg: Vec<String>,
    /// Ticked to confirm a rule that discards every message.
    #[serde(default)]
    confirmed: String,
}

fn bad(text: impl Into<String>) -> Error {
    Error::BadInput(text.into())
}

impl RuleForm {
    fn scope(&self) -> Result<Scope> {
        Scope::from_param(&self.scope).ok_or_else(|| bad(format!("{:?} is not a scope of rules", self.scope)))
    }

    fn id(&self) -> Result<Option<i64>> {
        match self.id.trim() {
            "" => Ok(None),
            text => text.parse().map(Some).map_err(|_| bad("the rule id must be a number")),
        }
    }

    fn spec(&self) -> Result<RuleSpec> {
        let at = |list: &[String], i: usize| list.get(i).map_or("", |s| s.trim()).to_owned();
        let mut conditions = Vec::new();
        for (i, field) in self.cond_field.iter().enumerate() {
            if field.is_empty() {
                continue;
            }
            let condition = Condition {
                field: Field::new(field, &at(&self.cond_header, i)).map_err(bad)?,
                test: Test::new(&at(&self.cond_test, i)).map_err(bad)?,
                value: at(&self.cond_value, i),
            };
            condition.check().map_err(bad)?;
            conditions.push(condition);
        }
        let actions = self
            .action
            .iter()
            .enumerate()
            .filter(|(_, word)| !word.is_empty())
            .map(|(i, word)| Action::new(word, &at(&self.arg, i)).map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        Ok(RuleSpec {
            name: self.name.trim().to_owned(),
            priority: match self.priority.trim() {
                "" => 100,
                text => text.parse().map_err(|_| bad("the priority must be a number"))?,
            },
            any: self.any == "any",
            conditions,
            actions,
        })
    }
}

pub(crate) async fn rules(State(web): State<Web>, user: SignedIn, Form(form): Form<RuleForm>) -> Response {
    let (s, p) = (&web.service, &user.principal);
    let back = format!("/rules?scope={}", encode(&form.scope));
    let result = async {
        match form.op.as_str() {
            "save" => {
                let spec = form.spec()?;
                let discards_all = spec.conditions.is_empty() && spec.actions.contains(&Action::Discard);
                if discards_all && form.confirmed.is_empty() {
                    return Err(bad(
                        "this rule has no conditions, so it would discard every incoming message: \
                         tick “Yes, discard every message” to save it",
                    ));
                }
                let id = form.id()?;
                s.save_rule(p, &form.scope()?, id, spec.clone()).await?;
                Ok(match id {
                    Some(_) => format!("Rule “{}” changed.", spec.name),
                    None => format!("Rule “{}” added.", spec.name),
                })
            }
            "delete" => {
                let id = form.id()?.ok_or_else(|| bad("which rule?"))?;
                s.delete_rule(p, id).await?;
                Ok("Rule deleted.".to_owned())
            }
            other => Err(bad(format!("unknown rule action {other:?}"))),
        }
    }
    .await;
    outcome(&back, result)
}
