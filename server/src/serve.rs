//! `mailroom serve`: bootstraps an empty database, optionally seeds the
//! demo world, and starts the listeners.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mailroom_shared::Flags;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::gateway::{Connections, Listener, tls};
use crate::service::{Bootstrap, LOCAL, Principal, Service, random_password};
use crate::{imap, pop3};

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
    /// IMAP with STARTTLS (port 0 picks a free port; `None`: off).
    pub imap: Option<SocketAddr>,
    /// IMAP over implicit TLS (RFC 8314).
    pub imaps: Option<SocketAddr>,
    /// Where the TLS certificate comes from (`None`: no TLS at all).
    pub tls: Option<tls::Source>,
    pub imap_config: imap::Config,
    /// POP3 with STLS, and POP3 over implicit TLS.
    pub pop3: Option<SocketAddr>,
    pub pop3s: Option<SocketAddr>,
    pub pop3_config: pop3::Config,
    /// LMTP over TCP (`None`: off) and on a Unix socket.
    pub lmtp: Option<SocketAddr>,
    pub lmtp_socket: Option<std::path::PathBuf>,
    pub lmtp_config: crate::lmtp::Config,
    /// The SMTP relay for mail to other servers (`smtp://host:port`).
    pub relay: Option<String>,
    /// Where the web's administrators may keep INBOX files.
    pub external_inbox_roots: Vec<std::path::PathBuf>,
    /// Load balancers in front: their connections name the real client
    /// (PROXY protocol on IMAP, POP3 and LMTP; X-Forwarded-For on HTTP).
    pub trusted_proxies: crate::gateway::TrustedProxies,
    /// Open connections allowed from one address, and sessions per account.
    pub connections_per_ip: usize,
    pub connections_per_account: usize,
    /// Failed logins allowed in a burst, then one more per period.
    pub login_failures: (u32, Duration),
    /// Where the browser code (`pkg/`) is.
    pub site_root: std::path::PathBuf,
    /// Read the biggest mailboxes' views at start, for their first SELECT.
    pub warm_views: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            domain: "localhost".into(),
            admin_password: None,
            demo: false,
            imap: None,
            imaps: None,
            tls: None,
            imap_config: imap::Config::default(),
            pop3: None,
            pop3s: None,
            pop3_config: pop3::Config::default(),
            lmtp: None,
            lmtp_socket: None,
            lmtp_config: crate::lmtp::Config::default(),
            relay: None,
            external_inbox_roots: Vec::new(),
            trusted_proxies: Default::default(),
            connections_per_ip: 100,
            connections_per_account: 50,
            login_failures: crate::service::DEFAULT_LOGIN_FAILURES,
            site_root: crate::http::default_site_root(),
            warm_views: true,
        }
    }
}

/// A running server.
pub struct Running {
    pub service: Service,
    /// The web application's address (with the real port).
    pub http: SocketAddr,
    /// The IMAP addresses, when enabled (with the real ports).
    pub imap: Option<SocketAddr>,
    pub imaps: Option<SocketAddr>,
    pub pop3: Option<SocketAddr>,
    pub pop3s: Option<SocketAddr>,
    pub lmtp: Option<SocketAddr>,
    pub bootstrap: Bootstrap,
    /// Demo accounts created now, with their passwords.
    pub demo_accounts: Vec<(String, String)>,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Starts Mailroom on `service`'s database until `shutdown` completes.
pub async fn start(
    service: Service,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<Running> {
    let (burst, per) = options.login_failures;
    let mut service = service
        .with_external_roots(options.external_inbox_roots.clone())
        .with_login_throttle(burst, per);
    if let Some(url) = &options.relay {
        service = service.with_relay(crate::relay::Relay::from_url(url)?);
    }
    let bootstrap = service
        .bootstrap(&options.domain, options.admin_password.clone())
        .await?;
    let demo_accounts = if options.demo {
        seed_demo(&service).await?
    } else {
        Vec::new()
    };
    summarise_in_background(service.clone());
    if options.warm_views {
        warm_views_in_background(service.clone());
    }
    let (stop, stopped) = watch::channel(false);
    spawn_until(stopped.clone(), Box::pin(release_idle_memory(service.clone())));
    // Other programs' changes to external INBOX files reach waiting sessions.
    tokio::spawn({
        let (service, stopped) = (service.clone(), stopped.clone());
        async move { service.watch_mirrors(stopped).await }
    });
    let tls = options.tls.as_ref().map(tls::acceptor).transpose()?;
    let gateways = Gateways::new(&service, &options, tls.clone());
    // Every listener, TCP or Unix, runs the gateways' one accept loop.
    let endpoints = [
        (options.imap, Protocol::Imap, false),
        (options.imaps, Protocol::Imap, true),
        (options.pop3, Protocol::Pop3, false),
        (options.pop3s, Protocol::Pop3, true),
        (options.lmtp, Protocol::Lmtp, false),
    ];
    let mut bound_addrs = [None; 5];
    for (i, (addr, protocol, implicit_tls)) in endpoints.into_iter().enumerate() {
        let Some(addr) = addr else { continue };
        if implicit_tls && tls.is_none() {
            return Err(Error::BadInput("implicit TLS needs a TLS certificate".into()));
        }
        let (listener, bound) = bind(addr).await?;
        bound_addrs[i] = Some(bound);
        let accepting = gateways.serve(Listener::Tcp(listener), protocol, implicit_tls);
        spawn_until(stopped.clone(), accepting);
    }
    if let Some(path) = &options.lmtp_socket {
        let listener = crate::gateway::bind_unix(path)
            .map_err(|e| Error::BadInput(format!("cannot listen on {}: {e}", path.display())))?;
        spawn_until(stopped.clone(), gateways.serve(listener, Protocol::Lmtp, false));
    }
    let (listener, http) = bind(options.http).await?;
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let app = crate::http::app(service.clone(), stopped.clone(), options.site_root.clone()).await?;
    let proxies = options.trusted_proxies.clone();
    let task = tokio::spawn(async move { crate::http::serve(listener, app, proxies, stopped).await });
    Ok(Running {
        service,
        http,
        imap: bound_addrs[0],
        imaps: bound_addrs[1],
        pop3: bound_addrs[2],
        pop3s: bound_addrs[3],
        lmtp: bound_addrs[4],
        bootstrap,
        demo_accounts,
        task,
    })
}

/// Gives messages stored before the web's summaries existed theirs, a
/// batch at a time, while the server already runs.
fn summarise_in_background(service: Service) {
    tokio::spawn(async move {
        loop {
            match service.summarise_old_messages(200).await {
                Ok(0) => break,
                Ok(_) => tokio::task::yield_now().await,
                Err(e) => {
                    tracing::warn!("summarising stored messages: {e}");
                    break;
                }
            }
        }
    });
}

/// A quiet server gives its caches' memory back
/// ([`Service::release_idle_memory`]).
async fn release_idle_memory(service: Service) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        every.tick().await;
        service.release_idle_memory();
    }
}

/// Reads the biggest mailboxes' views for their first SELECT, while the
/// server already runs ([`Service::warm_views`]).
fn warm_views_in_background(service: Service) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        match service.warm_views().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("read the views of {n} big mailboxes in {:?}", started.elapsed()),
            Err(e) => tracing::warn!("reading big mailboxes' views: {e}"),
        }
    });
}

#[derive(Clone, Copy)]
enum Protocol {
    Imap,
    Pop3,
    Lmtp,
}

/// The mail gateways, each shared by all its listeners.
struct Gateways {
    imap: Arc<imap::Gateway>,
    pop3: Arc<pop3::Gateway>,
    lmtp: Arc<crate::lmtp::Gateway>,
}

impl Gateways {
    /// One set of connection counters for IMAP and POP3.
    fn new(service: &Service, options: &Options, tls: Option<tokio_rustls::TlsAcceptor>) -> Gateways {
        let connections = Arc::new(Connections::new(
            options.connections_per_ip,
            options.connections_per_account,
        ));
        let lmtp_config = crate::lmtp::Config {
            proxies: options.trusted_proxies.clone(),
            ..options.lmtp_config.clone()
        };
        Gateways {
            imap: Arc::new(imap::Gateway {
                service: service.clone(),
                config: options.imap_config.clone(),
                tls: tls.clone(),
                connections: Arc::clone(&connections),
                proxies: options.trusted_proxies.clone(),
            }),
            pop3: Arc::new(pop3::Gateway {
                service: service.clone(),
                config: options.pop3_config.clone(),
                tls,
                connections,
                proxies: options.trusted_proxies.clone(),
            }),
            lmtp: Arc::new(crate::lmtp::Gateway::new(service.clone(), lmtp_config)),
        }
    }

    /// Serves `protocol` on `listener` until the task is dropped.
    fn serve(
        &self,
        listener: Listener,
        protocol: Protocol,
        implicit_tls: bool,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        match protocol {
            Protocol::Imap => Box::pin(imap::serve(listener, Arc::clone(&self.imap), implicit_tls)),
            Protocol::Pop3 => Box::pin(pop3::serve(listener, Arc::clone(&self.pop3), implicit_tls)),
            Protocol::Lmtp => Box::pin(crate::lmtp::serve(listener, Arc::clone(&self.lmtp))),
        }
    }
}

/// Runs `task` until the server is told to stop.
fn spawn_until(stopped: watch::Receiver<bool>, task: Pin<Box<dyn Future<Output = ()> + Send>>) {
    tokio::spawn(async move {
        tokio::select! {
            () = task => {}
            () = until(stopped) => {}
        }
    });
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::BadInput(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Error::BadInput(e.to_string()))?;
    Ok((listener, bound))
}

/// Completes once the server is told to stop.
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
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
    let alice = service.authenticate("alice", &accounts[0].1, LOCAL).await?;
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
    // Open to anyone, so in the folder trees of those who subscribe: the
    // demo's users have.
    for (address, password) in &accounts {
        let user = service.authenticate(address, password, LOCAL).await?;
        service.subscribe(&user, "~public/Announcements").await?;
    }
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
