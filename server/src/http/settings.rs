//! The settings page's form posts: the profile (name, signature, time
//! zone), the password, the vacation auto-reply and forwarding. Each
//! part is its own form, so saving one never touches another.

use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::Form;
use mailroom_shared::dto::{Forwarding, Vacation};
use serde::Deserialize;

use super::Web;
use super::actions::outcome;
use super::auth::SignedIn;
use crate::error::Error;
use crate::service::AccountSettings;

#[derive(Deserialize)]
pub(crate) struct SettingsForm {
    op: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    signature: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
    /// `on` when the vacation reply (or forwarding) is to be on.
    #[serde(default)]
    on: String,
    #[serde(default)]
    days: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    keep: String,
}

fn bad(text: &str) -> Error {
    Error::BadInput(text.into())
}

pub(crate) async fn settings(State(web): State<Web>, user: SignedIn, Form(form): Form<SettingsForm>) -> Response {
    let (s, p) = (&web.service, &user.principal);
    let result = async {
        match form.op.as_str() {
            "profile" => {
                let profile = AccountSettings {
                    display_name: form.display_name,
                    signature: form.signature,
                    time_zone: form.time_zone,
                };
                s.save_profile(p, profile).await?;
                Ok("Settings saved.".to_owned())
            }
            "password" => {
                if form.new != form.repeat {
                    return Err(bad("the new password and its repetition differ"));
                }
                s.change_password(p, &user.session, &form.current, &form.new).await?;
                Ok("Password changed. You stay signed in here; other sign-ins were ended.".to_owned())
            }
            "vacation" => {
                let on = form.on == "on";
                let vacation = match on {
                    false => None,
                    true => Some(Vacation {
                        days: form.days.trim().parse().map_err(|_| bad("the days must be a number"))?,
                        text: form.text,
                    }),
                };
                s.set_vacation(p, vacation).await?;
                Ok(match on {
                    true => "Vacation auto-reply on.".to_owned(),
                    false => "Vacation auto-reply off.".to_owned(),
                })
            }
            "forwarding" => {
                let on = form.on == "on";
                let forwarding = on.then(|| Forwarding {
                    to: form.to.clone(),
                    keep: form.keep == "on",
                });
                s.set_forwarding(p, forwarding).await?;
                Ok(match on {
                    true => format!("Mail is forwarded to {}.", form.to.trim()),
                    false => "Forwarding off.".to_owned(),
                })
            }
            other => Err(bad(&format!("unknown settings action {other:?}"))),
        }
    }
    .await;
    outcome("/settings", result)
}
