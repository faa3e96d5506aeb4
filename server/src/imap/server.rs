//! The IMAP listeners: plain (with STARTTLS) and implicit TLS (RFC 8314).
//! Each connection runs its own task, so a slow or hostile client never
//! holds up another.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::frame::Limits;
use super::session::Session;
use crate::gateway::{Connections, LoginThrottle, Stream};
use crate::service::{MAX_MESSAGE_SIZE, Service};

/// How the IMAP gateway behaves.
#[derive(Clone, Debug)]
pub struct Config {
    pub limits: Limits,
    /// Refuse LOGIN and AUTHENTICATE before TLS (and advertise LOGINDISABLED).
    pub require_tls: bool,
    /// How long a client may take to log in.
    pub login_timeout: Duration,
    /// How long an authenticated client may stay silent (RFC 3501 asks
    /// for at least 30 minutes; IDLE counts as silence too).
    pub idle_timeout: Duration,
    /// How often an IDLE session hears `* OK Still here` (keeps NAT
    /// mappings open).
    pub idle_keepalive: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits {
                max_line: 64 * 1024,
                max_literal: MAX_MESSAGE_SIZE,
            },
            require_tls: false,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(31 * 60),
            idle_keepalive: Duration::from_secs(120),
        }
    }
}

/// What every IMAP session shares.
pub struct Gateway {
    pub service: Service,
    pub config: Config,
    pub tls: Option<TlsAcceptor>,
    pub throttle: Arc<LoginThrottle>,
    pub connections: Arc<Connections>,
}

/// Accepts connections until the listener fails; `implicit_tls` makes
/// every connection start with a TLS handshake.
pub async fn serve(listener: TcpListener, gateway: Arc<Gateway>, implicit_tls: bool) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, don't spin.
                tracing::warn!("imap accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move { connection(tcp, peer, gateway, implicit_tls).await });
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, gateway: Arc<Gateway>, implicit_tls: bool) {
    let _ = tcp.set_nodelay(true);
    let Some(slot) = gateway.connections.from_ip(peer.ip()) else {
        let mut tcp = tcp;
        let _ =
            tokio::io::AsyncWriteExt::write_all(&mut tcp, b"* BYE Too many connections from your address\r\n").await;
        return;
    };
    let stream = if implicit_tls {
        let Some(acceptor) = gateway.tls.clone() else {
            return;
        };
        let handshake = tokio::time::timeout(gateway.config.login_timeout, acceptor.accept(tcp)).await;
        match handshake {
            Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
            _ => return,
        }
    } else {
        Stream::Plain(tcp)
    };
    let session = Session::new(gateway, stream, peer.ip(), slot);
    if let Err(e) = session.run().await {
        tracing::debug!("imap session from {peer} ended: {e}");
    }
}
