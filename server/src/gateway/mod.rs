//! What every mail gateway (IMAP, POP3, LMTP) shares: TLS, SASL PLAIN,
//! connection limits, PROXY headers, the stream that may be upgraded to
//! TLS in the middle of a session, and the accept loop that hands each
//! connection to its session. (Failed logins are throttled by the
//! service, in `Service::authenticate`.)

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;

pub mod authority;
pub mod connections;
pub mod login;
pub mod proxy;
pub mod sasl;
pub mod stream;
pub mod tls;

pub use authority::Authority;
pub use connections::{Connections, Slot};
pub use login::{LoginRefused, log_in};
pub use proxy::TrustedProxies;
pub use stream::Stream;

/// What a mail gateway's sessions share: the service, its settings
/// (`C`: IMAP's or POP3's), TLS, the connection counters (one set for
/// IMAP and POP3) and the trusted proxies.
pub struct MailGateway<C> {
    pub service: crate::service::Service,
    pub config: C,
    pub tls: Option<TlsAcceptor>,
    pub connections: Arc<Connections>,
    /// Load balancers whose connections start with a PROXY header.
    pub proxies: TrustedProxies,
}

impl<C> MailGateway<C> {
    /// How its listeners take connections: `implicit_tls` starts each
    /// with a TLS handshake, which must end within `handshake_timeout`;
    /// a client with too many connections reads `refusal`.
    pub fn accepting(
        &self,
        protocol: &'static str,
        implicit_tls: bool,
        handshake_timeout: Duration,
        refusal: &'static [u8],
    ) -> Accept {
        Accept {
            protocol,
            implicit_tls,
            tls: self.tls.clone(),
            connections: Arc::clone(&self.connections),
            handshake_timeout,
            refusal,
            proxies: self.proxies.clone(),
        }
    }
}

/// How a gateway's listener takes new connections.
pub struct Accept {
    /// For the log: `imap`, `pop3`.
    pub protocol: &'static str,
    /// Start every connection with a TLS handshake (RFC 8314).
    pub implicit_tls: bool,
    pub tls: Option<TlsAcceptor>,
    pub connections: Arc<Connections>,
    /// How long a client may take over the TLS handshake.
    pub handshake_timeout: Duration,
    /// What a client from an address with too many connections reads.
    pub refusal: &'static [u8],
    /// Connections from these send a PROXY header first, naming the client.
    pub proxies: TrustedProxies,
}

/// Where a gateway's connections come from.
pub enum Listener {
    Tcp(TcpListener),
    /// A local socket: its clients count as this host's address.
    Unix(UnixListener),
}

/// A connection just accepted: a TCP one (with its peer) or a local one.
enum Accepted {
    Tcp(TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    async fn next(&self) -> io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => l.accept().await.map(|(s, peer)| Accepted::Tcp(s, peer)),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
        }
    }
}

/// Binds a Unix socket, replacing a stale one left by a previous run.
pub fn bind_unix(path: &std::path::Path) -> io::Result<Listener> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    UnixListener::bind(path).map(Listener::Unix)
}

/// The one accept loop of every gateway (IMAP, POP3, LMTP; TCP or a Unix
/// socket). Accepts connections until the task is dropped, each in its
/// own task: reads a trusted proxy's PROXY header, takes a place for the
/// client's address, does the TLS handshake when `implicit_tls`, then
/// runs `session` on the stream.
pub async fn accept<F, Fut>(listener: Listener, how: Accept, session: F)
where
    F: Fn(Stream, SocketAddr, Slot) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let how = Arc::new(how);
    let session = Arc::new(session);
    loop {
        let accepted = match listener.next().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, don't spin.
                tracing::warn!("{} accept: {e}", how.protocol);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (how, session) = (Arc::clone(&how), Arc::clone(&session));
        let (tcp, peer) = match accepted {
            Accepted::Tcp(tcp, peer) => (tcp, peer),
            Accepted::Unix(unix) => {
                tokio::spawn(async move {
                    let local = SocketAddr::from(([127, 0, 0, 1], 0));
                    let Some(slot) = how.connections.from_ip(local.ip()) else {
                        let mut unix = unix;
                        let _ = unix.write_all(how.refusal).await;
                        return;
                    };
                    if let Err(e) = session(Stream::Unix(unix), local, slot).await {
                        tracing::debug!("{} session on the local socket ended: {e}", how.protocol);
                    }
                });
                continue;
            }
        };
        tokio::spawn(async move {
            let mut tcp = tcp;
            let peer = match how.proxies.trusts(peer.ip()) {
                true => match proxy::read_header(&mut tcp, peer, how.handshake_timeout).await {
                    Some(client) => client,
                    None => {
                        tracing::warn!("{}: {peer} is a trusted proxy but sent no PROXY header", how.protocol);
                        return;
                    }
                },
                false => peer,
            };
            let Some((stream, slot)) = open(tcp, peer, &how).await else {
                return;
            };
            if let Err(e) = session(stream, peer, slot).await {
                tracing::debug!("{} session from {peer} ended: {e}", how.protocol);
            }
        });
    }
}

async fn open(mut tcp: TcpStream, peer: SocketAddr, how: &Accept) -> Option<(Stream, Slot)> {
    let _ = tcp.set_nodelay(true);
    let Some(slot) = how.connections.from_ip(peer.ip()) else {
        let _ = tcp.write_all(how.refusal).await;
        return None;
    };
    if !how.implicit_tls {
        return Some((Stream::Plain(tcp), slot));
    }
    let acceptor = how.tls.clone()?;
    match tokio::time::timeout(how.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => Some((Stream::Tls(Box::new(tls)), slot)),
        _ => None,
    }
}
