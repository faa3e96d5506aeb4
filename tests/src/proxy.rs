//! A TCP proxy a test can cut and restore: it stands between a server and
//! its database, so a test can take the database away from one node only.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<State>,
    accept: AbortHandle,
}

#[derive(Default)]
struct State {
    cut: AtomicBool,
    /// The copying tasks of open connections.
    open: Mutex<Vec<AbortHandle>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let state = Arc::new(State::default());
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    // Under the lock `cut` takes: a connection accepted
                    // while it cuts is refused or cut with the others.
                    let mut open = state.open.lock().expect("proxy lock");
                    if state.cut.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let copy = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    open.retain(|h| !h.is_finished());
                    open.push(copy.abort_handle());
                }
            }
        })
        .abort_handle();
        Proxy { addr, state, accept }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        let mut open = self.state.open.lock().expect("proxy lock");
        self.state.cut.store(true, Ordering::SeqCst);
        for h in open.drain(..) {
            h.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
