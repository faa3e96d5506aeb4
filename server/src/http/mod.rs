//! The HTTP gateway: the Leptos web application rendered on the server,
//! the browser code it hydrates with, sign-in, the form posts that change
//! mail, downloads, and the change events that keep open pages live.
//!
//! Like every gateway it only translates: who may do what is decided by
//! the mailbox service, called with the signed-in user's principal.

mod actions;
mod admin;
mod auth;
mod events;
mod mail;
mod rules;
mod settings;
mod sharing;
mod team;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::http::header;
use axum::middleware;
use axum::routing::{get, post};
use leptos::prelude::LeptosOptions;
use leptos_axum::{LeptosRoutes, generate_route_list};
use mailroom_frontend::{App, shell};
use tokio::sync::watch;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::Error;
use crate::service::Service;

pub use auth::SESSION_COOKIE;

const STYLESHEET: &str = include_str!("../../../style/mailroom.css");
const FAVICON: &[u8] = include_bytes!("../../../public/favicon.ico");

/// Where `scripts/build-web` puts the browser code (`pkg/`), unless
/// `--site-root` says otherwise.
pub fn default_site_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/site"))
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Web {
    pub service: Service,
    pub keys: Arc<auth::Keys>,
    /// Turns true when the server stops: open event streams end.
    pub stopped: watch::Receiver<bool>,
    pub sent_forms: Arc<actions::SentForms>,
    pub streams: Arc<events::OpenStreams>,
}

/// The web application's routes, ready to serve with connect info.
pub async fn app(service: Service, stopped: watch::Receiver<bool>, site_root: PathBuf) -> crate::Result<Router> {
    let keys = Arc::new(auth::Keys::new(&service.web_signing_key().await?));
    let web = Web {
        service,
        keys,
        stopped,
        sent_forms: Arc::default(),
        streams: Arc::default(),
    };
    if !site_root.join("pkg").is_dir() {
        tracing::warn!(
            "no browser code in {}/pkg: pages work, but without live updates (run scripts/build-web)",
            site_root.display()
        );
    }
    let options = LeptosOptions::builder()
        .output_name("mailroom")
        .site_root(site_root.to_string_lossy().into_owned())
        .build();
    let routes = page_routes();
    let leptos = Router::new()
        .leptos_routes_with_context(&options, routes, content_security_policy, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .with_state(options);
    let own = Router::new()
        .route("/login", post(auth::sign_in))
        .route("/logout", post(auth::sign_out))
        .route("/actions", post(actions::messages))
        .route("/folders", post(actions::folders))
        // A message with its attachments: up to the largest message
        // (axum's default is 2 MB).
        .route(
            "/compose",
            post(actions::compose).layer(DefaultBodyLimit::max(crate::service::MAX_MESSAGE_SIZE)),
        )
        .route("/share", post(sharing::share))
        .route("/subscriptions", post(sharing::subscriptions))
        .route("/admin", post(admin::admin))
        .route("/rules", post(rules::rules))
        .route("/settings", post(settings::settings))
        .route("/attachment", get(mail::attachment))
        .route("/raw", get(mail::raw))
        .route("/events", get(events::stream))
        .route("/team", post(team::team))
        .route("/activity/export", get(team::export))
        .with_state(web.clone());
    // Static files need no session: the session layer goes on first.
    // Pages and data are never kept by the browser or a proxy: Back after
    // signing out must not show the INBOX again.
    Ok(Router::new()
        .merge(own)
        .merge(leptos)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(middleware::from_fn_with_state(web.clone(), auth::session))
        .layer(middleware::from_fn(auth::own_flash_only))
        .route(
            "/mailroom.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css")], STYLESHEET) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { ([(header::CONTENT_TYPE, "image/x-icon")], FAVICON) }),
        )
        // The browser code, compressed (brotli or gzip, as the browser
        // takes them): the WebAssembly is several megabytes.
        .nest_service(
            "/pkg",
            Router::new()
                .fallback_service(ServeDir::new(site_root.join("pkg")))
                .layer(CompressionLayer::new()),
        )
        .layer(middleware::from_fn(auth::same_origin)))
}

/// The pages' routes, found once per process. Finding them runs the app
/// with every resource's loading held back, and leptos keeps that in one
/// process-wide flag (leptos-rs/leptos#4773): a page that began loading
/// its data meanwhile — in another node of the same process, as the
/// tests run several — would wait for it forever, and its response never
/// end. Found once, before any node serves a page, they never overlap.
fn page_routes() -> Vec<leptos_axum::AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<leptos_axum::AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// Serves the web application until `stopped` turns true, each
/// connection in its own task, with the peer's address for throttling
/// (`ConnectInfo`). Written here rather than `axum::serve` for one
/// setting: a client must send a request's headers within
/// [`limits::HTTP_HEADER_READ`] (hyper's timer, which `axum::serve`
/// leaves unset), so a slow-sending client cannot hold connections open.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    proxies: crate::gateway::TrustedProxies,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // The gateways' accept loop, without PROXY headers (a proxy in front
    // of the web names the client in X-Forwarded-For) or per-address
    // limits.
    let how = crate::gateway::Accept {
        protocol: "http",
        implicit_tls: false,
        tls: None,
        connections: Arc::new(crate::gateway::Connections::new(usize::MAX, usize::MAX)),
        handshake_timeout: crate::limits::HTTP_HEADER_READ,
        refusal: b"",
        proxies: crate::gateway::TrustedProxies::default(),
    };
    let proxies = Arc::new(proxies);
    let connections = stopped.clone();
    let accepting = crate::gateway::accept(
        crate::gateway::Listener::Tcp(listener),
        how,
        move |stream, peer, _slot| connection(app.clone(), Arc::clone(&proxies), connections.clone(), stream, peer),
    );
    tokio::select! {
        () = accepting => {}
        () = until_stopped(&mut stopped) => {}
    }
    Ok(())
}

/// One HTTP connection, until it closes or the server stops (then it
/// finishes the request under way).
async fn connection(
    app: Router,
    proxies: Arc<crate::gateway::TrustedProxies>,
    mut stopped: watch::Receiver<bool>,
    stream: crate::gateway::Stream,
    peer: std::net::SocketAddr,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::ServiceExt;
    let service = hyper::service::service_fn(move |mut request: axum::http::Request<hyper::body::Incoming>| {
        let client = client_of(&proxies, peer, request.headers());
        request.extensions_mut().insert(axum::extract::ConnectInfo(client));
        let https = proxies.trusts(peer.ip())
            && request
                .headers()
                .get("x-forwarded-proto")
                .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
        request.extensions_mut().insert(auth::Https(https));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(crate::limits::HTTP_HEADER_READ);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        done = connection.as_mut() => {
            if let Err(e) = done {
                tracing::trace!("web connection: {e}");
            }
            return Ok(());
        }
        () = until_stopped(&mut stopped) => connection.as_mut().graceful_shutdown(),
    }
    let _ = connection.await;
    Ok(())
}

/// Returns once the server stops.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// The client a request comes from: its peer, or the one a trusted
/// proxy names in `X-Forwarded-For` (for login lock-outs).
fn client_of(
    proxies: &crate::gateway::TrustedProxies,
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::SocketAddr {
    let forwarded = headers.get("x-forwarded-for").and_then(|h| h.to_str().ok());
    std::net::SocketAddr::new(proxies.web_client(peer.ip(), forwarded), peer.port())
}

/// A page's Content-Security-Policy: its own scripts and the one inline
/// script leptos hydrates with (by this response's nonce, which
/// leptos_axum puts on every script it writes), WebAssembly, and nothing
/// from elsewhere but images (a message's remote images, when the reader
/// asks for them). Style attributes are used by the page itself. Message
/// bodies stay in their sandboxed frame, which inherits this policy.
fn content_security_policy() {
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data: https: http:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

/// What every other response gets (redirects, downloads, the events
/// stream): no scripts, no plugins, not framed by other sites.
pub(crate) const PLAIN_POLICY: &str =
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox; frame-ancestors 'none'";

/// The one place a service error becomes an HTTP status (RFC 9110, and
/// RFC 4918's 507 for a full quota):
///
/// | error                          | status                    |
/// |--------------------------------|---------------------------|
/// | `NotFound`                     | 404 Not Found             |
/// | `NoPermission`                 | 403 Forbidden             |
/// | `AlreadyExists`                | 409 Conflict              |
/// | `BadInput`                     | 400 Bad Request           |
/// | `InUse`                        | 503 Service Unavailable   |
/// | `OverQuota`                    | 507 Insufficient Storage  |
/// | `AuthFailed`                   | 401 Unauthorized          |
/// | `Throttled`                    | 429 Too Many Requests     |
/// | `Internal`                     | 500 (details in the log)  |
///
/// Pages that go back to a form show [`message_of`] there instead.
pub(crate) fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::NoPermission(_) => StatusCode::FORBIDDEN,
        Error::AlreadyExists(_) => StatusCode::CONFLICT,
        Error::BadInput(_) => StatusCode::BAD_REQUEST,
        Error::InUse(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::OverQuota(_) => StatusCode::INSUFFICIENT_STORAGE,
        Error::AuthFailed => StatusCode::UNAUTHORIZED,
        Error::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the user is told when something fails: the service's own words,
/// except for a server fault (logged here, never shown).
pub(crate) fn message_of(e: &Error) -> String {
    match e {
        Error::Internal(inner) => {
            tracing::error!("web: {inner}");
            "The server failed to do that; try again later.".into()
        }
        other => other.to_string(),
    }
}

/// A service error as a response: its status and what the user is told.
pub(crate) fn refused(e: &Error) -> Response {
    (status_of(e), message_of(e)).into_response()
}
