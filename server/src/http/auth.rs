//! Signing in and out, the session every request carries, and the
//! same-origin rule for everything that changes something.
//!
//! A session is a row in the store (so sign-out, a password change and
//! the account's deletion end it, on every node) named by a signed token
//! (jsonwebtoken, HS256) in an HttpOnly, SameSite=Strict cookie.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use mailroom_frontend::api::MailHandle;
use mailroom_frontend::url::encode;
use serde::{Deserialize, Serialize};

use super::Web;
use super::mail::WebMail;
use crate::error::Error;
use crate::service::now;
use crate::service::{Principal, WEB_SESSION_SECONDS};

pub const SESSION_COOKIE: &str = "mailroom_session";

/// Whether the browser reached us over HTTPS (a trusted proxy's
/// `X-Forwarded-Proto`): the session cookie is then `Secure`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Https(pub bool);

pub(crate) struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys {
            encoding: EncodingKey::from_secret(secret).expect("a 32-byte key"),
            decoding: DecodingKey::from_secret(secret).expect("a 32-byte key"),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// The account's address.
    sub: String,
    /// The session's id in the store.
    sid: String,
    exp: i64,
}

/// The signed-in user of a request, for the handlers. As an extractor it
/// sends a signed-out browser to the sign-in page; handlers that answer
/// scripts (downloads, events) take `Option<Extension<SignedIn>>` and
/// answer 401 instead.
#[derive(Clone)]
pub(crate) struct SignedIn {
    pub principal: Principal,
    pub session: String,
    /// The time zone chosen in the settings (empty: the browser's).
    pub zone: String,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<SignedIn, Response> {
        parts
            .extensions
            .get::<SignedIn>()
            .cloned()
            .ok_or_else(|| Redirect::to("/login").into_response())
    }
}

async fn signed_in(web: &Web, jar: &CookieJar) -> Option<SignedIn> {
    let token = jar.get(SESSION_COOKIE)?.value().to_owned();
    let claims = jsonwebtoken::decode::<Claims>(&token, &web.keys.decoding, &Validation::new(Algorithm::HS256))
        .ok()?
        .claims;
    let (principal, zone) = web.service.web_session(&claims.sid).await.ok()??;
    (principal.address() == claims.sub).then_some(SignedIn {
        principal,
        session: claims.sid,
        zone,
    })
}

/// Pages that need a signed-in user: others are sent to sign in first.
fn needs_sign_in(path: &str) -> bool {
    matches!(
        path,
        "/" | "/mail" | "/compose" | "/share" | "/browse" | "/admin" | "/rules" | "/settings" | "/activity"
    )
}

/// Finds the request's session; a signed-in request gets the user's
/// [`MailHandle`] for the server functions and [`SignedIn`] for the
/// handlers here.
pub(crate) async fn session(State(web): State<Web>, jar: CookieJar, mut req: Request, next: Next) -> Response {
    match signed_in(&web, &jar).await {
        Some(mut user) => {
            if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
                user.principal = user.principal.from_client(peer.ip());
            }
            // The reader's time zone: the one chosen in the settings,
            // else the browser's, as it last told it.
            let zone = match user.zone.is_empty() {
                false => Some(user.zone.clone()),
                true => jar.get(super::mail::ZONE_COOKIE).map(|c| c.value().to_owned()),
            };
            let mail = WebMail::new(web.service.clone(), user.principal.clone(), zone.as_deref());
            req.extensions_mut().insert(MailHandle(Arc::new(mail)));
            req.extensions_mut().insert(user);
        }
        None if req.method() == Method::GET && needs_sign_in(req.uri().path()) => {
            let next = req.uri().path_and_query().map_or("/mail".into(), |p| p.to_string());
            let to = format!("/login?next={}", encode(&next));
            return Redirect::to(&to).into_response();
        }
        None => {}
    }
    next.run(req).await
}

/// Refuses a request that changes something unless the browser says it
/// comes from one of our own pages (`Origin`, else `Referer`, must name
/// this host): the CSRF defence besides SameSite cookies. Server
/// functions only read, but are held to the same rule.
pub(crate) async fn same_origin(req: Request, next: Next) -> Response {
    let mut response =
        if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || is_same_origin(req.headers()) {
            next.run(req).await
        } else {
            let refusal = "This request did not come from a Mailroom page, so it was refused.";
            (StatusCode::FORBIDDEN, refusal).into_response()
        };
    // No other site may frame our pages (clickjacking), and our URLs stay
    // out of the Referer headers sent elsewhere.
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, header::HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("same-origin"));
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(header::HeaderValue::from_static("nosniff"));
    // Pages set their own (with their nonce); the rest get one that runs
    // nothing.
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(header::HeaderValue::from_static(super::PLAIN_POLICY));
    response
}

/// A page's `?error=` and `?notice=` texts are shown as given, so they
/// must come from our own redirects, not from a link elsewhere ("your
/// account is locked, call …"). A page opened from another site, or typed
/// in, is sent to the same address without them. Browsers say where a
/// request comes from in `Sec-Fetch-Site`; without it, `Referer` must
/// name this host.
pub(crate) async fn own_flash_only(req: Request, next: Next) -> Response {
    if req.method() == Method::GET
        && let Some(query) = req.uri().query()
        && has_flash(query)
        && !from_own_page(req.headers())
    {
        let kept: Vec<&str> = query.split('&').filter(|p| !is_flash(p)).collect();
        let to = match kept.is_empty() {
            true => req.uri().path().to_owned(),
            false => format!("{}?{}", req.uri().path(), kept.join("&")),
        };
        return Redirect::to(&to).into_response();
    }
    next.run(req).await
}

fn is_flash(pair: &str) -> bool {
    let name = pair.split('=').next().unwrap_or("");
    name == "error" || name == "notice"
}

fn has_flash(query: &str) -> bool {
    query.split('&').any(is_flash)
}

fn from_own_page(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").and_then(|h| h.to_str().ok()) {
        Some(site) => site == "same-origin",
        None => headers.contains_key(header::REFERER) && is_same_origin(headers),
    }
}

fn is_same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    let Some(source) = source else {
        return false;
    };
    let rest = source
        .strip_prefix("http://")
        .or_else(|| source.strip_prefix("https://"))
        .unwrap_or("");
    rest.split('/').next() == Some(host)
}

#[derive(Deserialize)]
pub(crate) struct SignInForm {
    login: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Only our own pages as targets after sign-in (no open redirect): a
/// path from the root, without a second slash or backslash after the
/// first, and without any control character or white space — browsers
/// drop tabs and newlines from URLs, so `/<TAB>/evil.example` would be
/// read as `//evil.example`, another site.
fn local_target(next: &str) -> &str {
    let plain = !next.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    if plain && next.starts_with('/') && !next.starts_with("//") {
        next
    } else {
        "/mail"
    }
}

fn back_to_login(error: &str, next: &str) -> Response {
    let to = format!("/login?error={}&next={}", encode(error), encode(next));
    Redirect::to(&to).into_response()
}

pub(crate) async fn sign_in(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    https: Option<axum::Extension<Https>>,
    jar: CookieJar,
    Form(form): Form<SignInForm>,
) -> Response {
    let next = local_target(&form.next).to_owned();
    let (sid, principal) = match web
        .service
        .start_web_session(&form.login, &form.password, peer.ip())
        .await
    {
        Ok(ok) => ok,
        Err(Error::Throttled(_)) => {
            return back_to_login("Too many failed sign-ins. Wait a little and try again.", &next);
        }
        Err(Error::AuthFailed) => return back_to_login("Wrong address or password.", &next),
        Err(e) => {
            tracing::error!("web sign-in: {e}");
            return back_to_login("The server could not sign you in. Try again later.", &next);
        }
    };
    let claims = Claims {
        sub: principal.address().to_owned(),
        sid,
        exp: now() + WEB_SESSION_SECONDS,
    };
    let Ok(token) = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &web.keys.encoding) else {
        return back_to_login("The server could not sign you in.", &next);
    };
    let cookie = Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https.is_some_and(|h| h.0.0))
        .path("/")
        .max_age(time_seconds(WEB_SESSION_SECONDS))
        .build();
    (jar.add(cookie), Redirect::to(&next)).into_response()
}

fn time_seconds(s: i64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(s)
}

pub(crate) async fn sign_out(
    State(web): State<Web>,
    user: Option<axum::Extension<SignedIn>>,
    jar: CookieJar,
) -> Response {
    if let Some(axum::Extension(user)) = user
        && let Err(e) = web.service.end_web_session(&user.session).await
    {
        tracing::error!("web sign-out: {e}");
    }
    let gone = Cookie::build((SESSION_COOKIE, "")).path("/").build();
    (jar.remove(gone), Redirect::to("/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn only_our_own_pages_may_post() {
        assert!(is_same_origin(&headers(&[
            ("host", "mail.example:8080"),
            ("origin", "http://mail.example:8080")
        ])));
        assert!(is_same_origin(&headers(&[
            ("host", "m.example"),
            ("referer", "https://m.example/mail?box=INBOX")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "m.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[
            ("host", "m.example"),
            ("origin", "https://m.example.evil.example")
        ])));
        assert!(!is_same_origin(&headers(&[("host", "m.example")])));
        assert!(!is_same_origin(&headers(&[("host", "m.example"), ("origin", "null")])));
    }

    #[test]
    fn no_open_redirects() {
        assert_eq!(local_target("/mail?box=x"), "/mail?box=x");
        assert_eq!(local_target("//evil.example"), "/mail");
        assert_eq!(local_target("https://evil.example"), "/mail");
        assert_eq!(local_target("/\t/evil.example"), "/mail");
        assert_eq!(local_target("/\n/evil.example"), "/mail");
        assert_eq!(local_target("/\\evil.example"), "/mail");
        assert_eq!(local_target("/mail?box=%2Fx"), "/mail?box=%2Fx");
    }
}
