//! `mailroom serve`: bootstraps an empty database, optionally seeds the
//! demo world, and starts the listeners.

use std::future::Future;
use std::net::SocketAddr;

use mailroom_shared::Flags;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::service::{Bootstrap, Principal, Service, random_password};
use crate::store::Store;

/// What `serve` is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the web application listens (port 0 picks a free port).
    pub http: SocketAddr,
    /// The domain created on an empty database.
    pub domain: String,
    /// The first admin's password (else one is generated and shown once).
    pub admin_password: Option<String>,
    /// Seed users, messages and shared mailboxes to try things with.
    pub demo: bool,
}

/// A running server.
pub struct Running {
    pub service: Service,
    /// The web application's address (with the real port).
    pub http: SocketAddr,
    pub bootstrap: Bootstrap,
    /// Demo accounts created now, with their passwords.
    pub demo_accounts: Vec<(String, String)>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts Mailroom on `store` until `shutdown` completes.
pub async fn start(
    store: Store,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    let service = Service::new(store);
    let bootstrap = service
        .bootstrap(&options.domain, options.admin_password.clone())
        .await?;
    let demo_accounts = if options.demo {
        seed_demo(&service).await?
    } else {
        Vec::new()
    };
    let listener = TcpListener::bind(options.http)
        .await
        .map_err(|e| Error::BadInput(format!("cannot listen on {}: {e}", options.http)))?;
    let http = listener.local_addr().map_err(|e| Error::BadInput(e.to_string()))?;
    let app = crate::http::app(service.clone());
    let task = tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(shutdown).await });
    Ok(Running {
        service,
        http,
        bootstrap,
        demo_accounts,
        task,
    })
}

/// Seeds a small world that shows each kind of sharing: alice and bob,
/// `~alice/Projects` shared with bob, `~public/Announcements` readable by
/// everyone and administered by alice. Does nothing if alice exists.
async fn seed_demo(service: &Service) -> Result<Vec<(String, String)>> {
    let domain = service.primary_domain().await?;
    let system = Principal::system(&domain);
    if service.find_account(&system, "alice").await.is_ok() {
        return Ok(Vec::new());
    }
    let mut accounts = Vec::new();
    for name in ["alice", "bob"] {
        let password = random_password();
        let account = service.add_account(&system, name, Some(&password), false).await?;
        accounts.push((account.address(), password));
    }
    let alice = service.authenticate("alice", &accounts[0].1).await?;
    service.create_mailbox(&alice, "Projects").await?;
    service.set_acl(&alice, "Projects", "bob", "lrswipte").await?;
    let welcome = |to: &str, subject: &str, body: &str| {
        format!(
            "From: Mailroom <admin@{domain}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
             Date: Sat, 28 Nov 2026 09:00:00 +0000\r\nMessage-ID: <{}@{domain}>\r\n\r\n{body}\r\n",
            random_password()
        )
        .into_bytes()
    };
    for (address, _) in &accounts {
        service
            .deliver(
                address,
                welcome(address, "Welcome to Mailroom", "Your INBOX works."),
                None,
            )
            .await?;
    }
    let plan = welcome(
        "alice",
        "Project plan",
        "Bob can read and file this: ~alice/Projects is shared with him.",
    );
    service
        .append(&alice, "Projects", plan, &Flags::default(), None)
        .await?;
    service.create_mailbox(&system, "~public/Announcements").await?;
    service
        .set_acl(&system, "~public/Announcements", "anyone", "lrs")
        .await?;
    service
        .set_acl(&system, "~public/Announcements", "alice", "lrswipkxtea")
        .await?;
    service
        .set_seen_mode(
            &system,
            "~public/Announcements",
            mailroom_shared::dto::SeenMode::PerUser,
        )
        .await?;
    let note = welcome(
        "everyone",
        "Public folders",
        "Everyone can read ~public/Announcements; alice runs it.",
    );
    service
        .append(&alice, "~public/Announcements", note, &Flags::default(), None)
        .await?;
    Ok(accounts)
}
