//! Starting the real server with its IMAP and POP3 gateways, and plain
//! IMAP and POP3 clients that show the exact bytes the server sends (for
//! response codes and unsolicited responses a client library would hide).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mailroom::serve::{Options, Running, start};
use mailroom::{Principal, Service};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{PATIENCE, World};

/// Runs `body` against a fresh server on SQLite and on PostgreSQL (that
/// one skipped, with a message, where no PostgreSQL answers outside CI).
/// `server_test!(name, options: |o: &mut Options| …, body)` changes the
/// server's options first.
#[macro_export]
macro_rules! server_test {
    ($name:ident, $body:expr) => {
        $crate::server_test!($name, options: |_: &mut $crate::mailroom::serve::Options| {}, $body);
    };
    ($name:ident, options: $tweak:expr, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let world = World::new(Backend::Sqlite).await.expect("sqlite world");
                ($body)(Server::start_with(world, $tweak).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(world) = World::new(Backend::Postgres).await else {
                    return;
                };
                ($body)(Server::start_with(world, $tweak).await).await;
            }
        }
    };
}

/// Runs a script of `tests/python/` with the server's host and port; it
/// must exit successfully and print "all good".
pub async fn run_python(script: &str, addr: SocketAddr) {
    let path = format!("{}/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let (host, port) = (addr.ip().to_string(), addr.port().to_string());
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([&path, &host, &port])
            .output()
            .expect("python3 runs")
    })
    .await
    .expect("the script finishes");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("all good"), "{stdout}");
}

/// A server's options for a test: every gateway on a free loopback port,
/// TLS from a self-signed certificate kept in `tls_dir`.
pub fn node_options(tls_dir: &std::path::Path) -> Options {
    Options {
        domain: crate::DOMAIN.into(),
        imap: Some("127.0.0.1:0".parse().unwrap()),
        imaps: Some("127.0.0.1:0".parse().unwrap()),
        pop3: Some("127.0.0.1:0".parse().unwrap()),
        pop3s: Some("127.0.0.1:0".parse().unwrap()),
        lmtp: Some("127.0.0.1:0".parse().unwrap()),
        tls: Some(mailroom::gateway::tls::Source::SelfSigned {
            dir: tls_dir.to_owned(),
            hostname: "localhost".into(),
        }),
        // Tests keep their INBOX files in temporary directories.
        external_inbox_roots: vec![std::env::temp_dir()],
        ..Options::default()
    }
}

/// Another node: a server on the database at `url` (which another node
/// may share), every gateway on a free port. Keep the directory (its TLS
/// certificate) as long as the node.
pub async fn start_node(url: &str, tweak: impl FnOnce(&mut Options)) -> (Running, tempfile::TempDir) {
    let service = mailroom::Service::connect(url).await.expect("the node connects");
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut options = node_options(dir.path());
    tweak(&mut options);
    let running = start(service, options, std::future::pending())
        .await
        .expect("the node starts");
    (running, dir)
}

/// A running server on free ports, with TLS from a self-signed certificate.
pub struct Server {
    pub world: World,
    pub running: Running,
    pub imap: SocketAddr,
    pub imaps: SocketAddr,
    pub pop3: SocketAddr,
    pub pop3s: SocketAddr,
    pub lmtp: SocketAddr,
    pub cert: PathBuf,
}

impl Server {
    pub async fn start(world: World) -> Server {
        Server::start_with(world, |_| {}).await
    }

    pub async fn start_with(world: World, tweak: impl FnOnce(&mut Options)) -> Server {
        let dir = world.db.dir.path().join("tls");
        let mut options = node_options(&dir);
        tweak(&mut options);
        let running = start(world.db.service().await, options, std::future::pending())
            .await
            .expect("server starts");
        Server {
            imap: running.imap.expect("imap listens"),
            imaps: running.imaps.expect("imaps listens"),
            pop3: running.pop3.expect("pop3 listens"),
            pop3s: running.pop3s.expect("pop3s listens"),
            lmtp: running.lmtp.expect("lmtp listens"),
            world,
            running,
            cert: dir.join("cert.pem"),
        }
    }

    /// The server's own service (its changes reach IMAP sessions at once).
    pub fn service(&self) -> &Service {
        &self.running.service
    }

    pub async fn user(&self, name: &str) -> Principal {
        self.world.user(name).await
    }

    /// A plain connection, greeting read.
    pub async fn connect(&self) -> Client {
        let tcp = TcpStream::connect(self.imap).await.expect("connect");
        Client::greeted(Box::new(tcp)).await
    }

    /// A connection logged in as `name` (password `pw-NAME`).
    pub async fn login(&self, name: &str) -> Client {
        let mut c = self.connect().await;
        c.ok(&format!("LOGIN {name} pw-{name}")).await;
        c
    }

    /// A TLS client configuration that trusts the server's certificate.
    pub fn tls_connector(&self) -> tokio_rustls::TlsConnector {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.cert).expect("certificate") {
            roots.add(cert.expect("certificate")).expect("trusted");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A line-level IMAP client.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    next_tag: u32,
}

impl Client {
    /// A client on a connection whose greeting was read already (after STARTTLS).
    pub fn new(io: Box<dyn Io>) -> Client {
        Client {
            io: BufReader::new(io),
            next_tag: 1,
        }
    }

    pub async fn greeted(io: Box<dyn Io>) -> Client {
        let mut c = Client::new(io);
        let greeting = c.line().await.expect("greeting");
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c
    }

    pub fn into_inner(self) -> Box<dyn Io> {
        self.io.into_inner()
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("send");
        self.io.get_mut().flush().await.expect("flush");
    }

    /// One response line, with any literals it carries spliced in;
    /// `None` when the server closed the connection.
    pub async fn line(&mut self) -> Option<String> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(PATIENCE, self.io.read_until(b'\n', &mut line))
                .await
                .expect("the server answers in time")
                .ok()?;
            if n == 0 {
                return if out.is_empty() {
                    None
                } else {
                    Some(String::from_utf8_lossy(&out).into_owned())
                };
            }
            out.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line);
            let literal = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match literal {
                Some(size) => {
                    let mut data = vec![0; size];
                    tokio::time::timeout(PATIENCE, self.io.read_exact(&mut data))
                        .await
                        .expect("the literal arrives in time")
                        .expect("literal");
                    out.extend_from_slice(&data);
                }
                None => return Some(String::from_utf8_lossy(&out).trim_end().to_owned()),
            }
        }
    }

    /// Sends a command with a fresh tag; returns the untagged lines and
    /// the tagged one (without the tag).
    pub async fn command(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = format!("t{}", self.next_tag);
        self.next_tag += 1;
        self.send_raw(format!("{tag} {command}\r\n").as_bytes()).await;
        self.until_tagged(&tag).await
    }

    pub async fn until_tagged(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let line = self
                .line()
                .await
                .unwrap_or_else(|| panic!("connection closed; saw {untagged:?}"));
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return (untagged, rest.to_owned());
            }
            untagged.push(line);
        }
    }

    /// Runs a command that must succeed; returns its untagged lines.
    pub async fn ok(&mut self, command: &str) -> Vec<String> {
        let (untagged, done) = self.command(command).await;
        assert!(done.starts_with("OK"), "{command} → {done} after {untagged:?}");
        untagged
    }

    /// Runs a command that must fail with `status` (`NO` or `BAD`);
    /// returns the tagged line.
    pub async fn fails(&mut self, command: &str, status: &str) -> String {
        let (untagged, done) = self.command(command).await;
        assert!(
            done.starts_with(status),
            "{command} → {done} (wanted {status}) after {untagged:?}"
        );
        done
    }
}

/// A line-level POP3 client.
pub struct Pop {
    io: BufReader<Box<dyn Io>>,
}

impl Pop {
    pub async fn connect(addr: SocketAddr) -> Pop {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Pop::greeted(Box::new(tcp)).await
    }

    /// A client on a connection whose greeting was read already (after STLS).
    pub fn new(io: Box<dyn Io>) -> Pop {
        Pop { io: BufReader::new(io) }
    }

    pub async fn greeted(io: Box<dyn Io>) -> Pop {
        let mut p = Pop::new(io);
        let greeting = p.line().await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        p
    }

    /// Logged in as `name` with USER/PASS.
    pub async fn login(addr: SocketAddr, name: &str) -> Pop {
        let mut p = Pop::connect(addr).await;
        p.ok(&format!("USER {name}")).await;
        p.ok(&format!("PASS pw-{name}")).await;
        p
    }

    pub fn into_inner(self) -> Box<dyn Io> {
        self.io.into_inner()
    }

    /// Hangs up without QUIT, as a client that loses its connection, and
    /// returns once the server has closed its side too: the session is
    /// over, so whatever it did or did not do on the way out is done.
    pub async fn hang_up(self) {
        hang_up(self.io).await;
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.expect("send");
        self.io.get_mut().flush().await.expect("flush");
    }

    async fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        tokio::time::timeout(PATIENCE, self.io.read_until(b'\n', &mut line))
            .await
            .expect("the server answers in time")
            .expect("read");
        line
    }

    pub async fn line(&mut self) -> String {
        String::from_utf8_lossy(&self.raw_line().await).trim_end().to_owned()
    }

    /// Sends a command; returns the status line.
    pub async fn command(&mut self, command: &str) -> String {
        self.send_raw(format!("{command}\r\n").as_bytes()).await;
        self.line().await
    }

    pub async fn ok(&mut self, command: &str) -> String {
        let reply = self.command(command).await;
        assert!(reply.starts_with("+OK"), "{command} → {reply}");
        reply
    }

    pub async fn err(&mut self, command: &str) -> String {
        let reply = self.command(command).await;
        assert!(reply.starts_with("-ERR"), "{command} → {reply}");
        reply
    }

    /// A command with a multi-line answer: the status line and the data,
    /// dot-unstuffed, CRLFs kept.
    pub async fn multi(&mut self, command: &str) -> (String, Vec<u8>) {
        let status = self.ok(command).await;
        let mut data = Vec::new();
        loop {
            let line = self.raw_line().await;
            assert!(!line.is_empty(), "connection closed inside a multi-line answer");
            if line == b".\r\n" {
                return (status, data);
            }
            let line = if line.starts_with(b".") { &line[1..] } else { &line[..] };
            data.extend_from_slice(line);
        }
    }
}
/// Closes the sending side of `io` and reads until the server closes its
/// side: the proof that the server has seen the end of the connection and
/// finished the session, which a sleep after dropping the socket is not.
async fn hang_up(mut io: impl AsyncRead + AsyncWrite + Unpin) {
    io.shutdown().await.expect("shut down the sending side");
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, io.read_to_end(&mut rest))
        .await
        .expect("the server ends the session when the client hangs up")
        .expect("read");
}

/// A line-level LMTP client.
pub struct Lmtp {
    io: BufReader<TcpStream>,
}

impl Lmtp {
    /// Connects to the server's LMTP port and reads the greeting.
    pub async fn connect(server: &Server) -> Lmtp {
        Lmtp::connect_to(server.lmtp).await
    }

    pub async fn connect_to(addr: SocketAddr) -> Lmtp {
        let mut c = Lmtp {
            io: BufReader::new(TcpStream::connect(addr).await.unwrap()),
        };
        assert!(c.reply().await.starts_with("220 "));
        c
    }

    /// One reply, all its lines joined by newlines.
    pub async fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(PATIENCE, self.io.read_line(&mut line))
                .await
                .expect("the server answers in time")
                .unwrap();
            assert!(n > 0, "connection closed after {lines:?}");
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) == Some(&b' ') || line.len() == 3;
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.io.get_mut().write_all(bytes).await.unwrap();
    }

    /// Hangs up wherever the session is (mid-message, say), and returns
    /// once the server has closed its side too: the session is over.
    pub async fn hang_up(self) {
        hang_up(self.io).await;
    }

    pub async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// A whole transaction (LHLO first if `greet`): one message from
    /// `from` to `to`; returns the replies after DATA's end, one per
    /// accepted recipient (refused ones answer at RCPT and are left out).
    pub async fn deliver(&mut self, from: &str, to: &[&str], message: &str) -> Vec<String> {
        assert!(self.command("LHLO test.example").await.starts_with("250"));
        assert!(self.command(&format!("MAIL FROM:<{from}>")).await.starts_with("250"));
        let mut accepted = 0;
        for rcpt in to {
            if self.command(&format!("RCPT TO:<{rcpt}>")).await.starts_with("250") {
                accepted += 1;
            }
        }
        assert!(self.command("DATA").await.starts_with("354"));
        self.send(format!("{message}\r\n.\r\n").as_bytes()).await;
        let mut replies = Vec::new();
        for _ in 0..accepted {
            replies.push(self.reply().await);
        }
        replies
    }
}
