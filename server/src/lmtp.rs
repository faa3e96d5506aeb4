//! The LMTP gateway (RFC 2033): how an MTA — Postfix's `lmtp` transport,
//! over TCP or a Unix socket — hands mail to Mailroom. `LHLO`, `MAIL
//! FROM`, `RCPT TO` (resolved through the router: aliases and routing
//! rules apply, unknown addresses get `550 5.1.1` at once), `DATA` with one
//! reply per accepted recipient, `RSET`, `NOOP`, `QUIT`; `SIZE`,
//! `8BITMIME`, `ENHANCEDSTATUSCODES` and `PIPELINING` are advertised. A
//! `250` after DATA means the message is committed to the store (or
//! appended to an external INBOX file) — the MTA may forget it.
//!
//! Commands are parsed by smtp-proto; the session loop, the bounded line
//! reader and dot-unstuffing are ours (the crate leaves them to its user).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::Request;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::service::{MAX_MESSAGE_SIZE, Service};

/// How the LMTP gateway behaves.
#[derive(Clone, Debug)]
pub struct Config {
    /// The name in the greeting and the LHLO reply.
    pub hostname: String,
    /// Recipients accepted in one transaction.
    pub max_recipients: usize,
    /// Sessions served at once (an MTA opens several).
    pub max_sessions: usize,
    /// How long a client may stay silent.
    pub timeout: Duration,
    /// Load balancers whose connections start with a PROXY header (read
    /// and passed over: LMTP counts no clients).
    pub proxies: crate::gateway::TrustedProxies,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            hostname: "localhost".into(),
            max_recipients: 100,
            max_sessions: 256,
            timeout: Duration::from_secs(5 * 60),
            proxies: Default::default(),
        }
    }
}

/// What every LMTP session shares.
pub struct Gateway {
    pub service: Service,
    pub config: Config,
    sessions: Semaphore,
}

impl Gateway {
    pub fn new(service: Service, config: Config) -> Gateway {
        let sessions = Semaphore::new(config.max_sessions);
        Gateway {
            service,
            config,
            sessions,
        }
    }
}

/// The longest command line read (RFC 5321 allows 512 octets).
const MAX_COMMAND_LINE: usize = 4096;

/// Accepts LMTP connections (TCP, or the Unix socket a local Postfix
/// usually talks to its delivery agent through) in the gateways' one
/// accept loop. Sessions beyond `max_sessions` are told to come back.
pub async fn serve(listener: crate::gateway::Listener, gateway: Arc<Gateway>) {
    let how = crate::gateway::Accept {
        protocol: "lmtp",
        implicit_tls: false,
        tls: None,
        // The MTA in front is one client: LMTP caps its sessions in all
        // (`max_sessions`), not per address.
        connections: Arc::new(crate::gateway::Connections::new(usize::MAX, usize::MAX)),
        handshake_timeout: gateway.config.timeout,
        refusal: TOO_MANY,
        proxies: gateway.config.proxies.clone(),
    };
    crate::gateway::accept(listener, how, move |stream, _peer, _slot| {
        run_session(Arc::clone(&gateway), stream)
    })
    .await
}

const TOO_MANY: &[u8] = b"421 4.3.2 Too many connections, try again later\r\n";

async fn run_session(gateway: Arc<Gateway>, mut stream: crate::gateway::Stream) -> std::io::Result<()> {
    let Ok(_permit) = gateway.sessions.try_acquire() else {
        return stream.write_all(TOO_MANY).await;
    };
    let mut session = Session {
        gateway: &gateway,
        io: BufReader::new(stream),
        out: Vec::new(),
        greeted: false,
        client: String::new(),
        from: None,
        recipients: Vec::new(),
    };
    session.run().await
}

/// One accepted recipient: the address as given, for the reply, and the
/// account (and `+detail`) it was resolved to.
struct Recipient {
    address: String,
    resolved: crate::service::Recipient,
}

struct Session<'g, S> {
    gateway: &'g Gateway,
    io: BufReader<S>,
    out: Vec<u8>,
    greeted: bool,
    /// The name the client gave in LHLO, for the `Received` line.
    client: String,
    /// The envelope sender once `MAIL FROM` was given (empty: `<>`).
    from: Option<String>,
    recipients: Vec<Recipient>,
}

/// What reading a line gave.
enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<'_, S> {
    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        let out = std::mem::take(&mut self.out);
        self.io.get_mut().write_all(&out).await?;
        self.io.get_mut().flush().await
    }

    /// One line of at most `limit` bytes (with its LF); a longer one is
    /// read to its end and reported, never kept.
    async fn line(&mut self, limit: usize) -> std::io::Result<Line> {
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            self.gateway.config.timeout,
            (&mut self.io).take(limit as u64).read_until(b'\n', &mut buf),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client silent"))??;
        if read == 0 {
            return Ok(Line::Closed);
        }
        if buf.ends_with(b"\n") {
            return Ok(Line::Text(buf));
        }
        if buf.len() < limit {
            return Ok(Line::Closed); // the connection ended mid-line
        }
        // Skip the rest of the overlong line.
        loop {
            let mut rest = Vec::new();
            let n = (&mut self.io).take(64 * 1024).read_until(b'\n', &mut rest).await?;
            if n == 0 {
                return Ok(Line::Closed);
            }
            if rest.ends_with(b"\n") {
                return Ok(Line::TooLong);
            }
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.recipients.clear();
    }

    async fn run(&mut self) -> std::io::Result<()> {
        let greeting = format!("220 {} LMTP Mailroom ready", self.gateway.config.hostname);
        self.reply(&greeting);
        self.flush().await?;
        loop {
            let line = match self.line(MAX_COMMAND_LINE).await? {
                Line::Closed => return Ok(()),
                Line::TooLong => {
                    self.reply("500 5.5.2 Line too long");
                    self.flush().await?;
                    continue;
                }
                Line::Text(line) => line,
            };
            let request = Request::parse(&mut line.iter()).map(Request::into_owned);
            let quit = matches!(request, Ok(Request::Quit));
            match request {
                Ok(request) => self.command(request).await?,
                Err(e) => self.reply(&syntax_reply(&e)),
            }
            // Pipelined commands are answered together (RFC 2920).
            if quit || self.io.buffer().is_empty() {
                self.flush().await?;
            }
            if quit {
                return Ok(());
            }
        }
    }

    async fn command(&mut self, request: Request<String>) -> std::io::Result<()> {
        match request {
            Request::Lhlo { host } => {
                self.reset();
                self.greeted = true;
                self.client = host;
                let hostname = self.gateway.config.hostname.clone();
                self.reply(&format!("250-{hostname}"));
                self.reply("250-PIPELINING");
                self.reply("250-ENHANCEDSTATUSCODES");
                self.reply("250-8BITMIME");
                self.reply(&format!("250 SIZE {MAX_MESSAGE_SIZE}"));
            }
            Request::Ehlo { .. } | Request::Helo { .. } => {
                self.reply("500 5.5.1 This is LMTP: say LHLO");
            }
            Request::Mail { from } => {
                if !self.greeted {
                    self.reply("503 5.5.1 Say LHLO first");
                } else if self.from.is_some() {
                    self.reply("503 5.5.1 Nested MAIL command");
                } else if from.size > MAX_MESSAGE_SIZE {
                    self.reply(&format!("552 5.3.4 Messages are limited to {MAX_MESSAGE_SIZE} bytes"));
                } else {
                    self.from = Some(from.address);
                    self.reply("250 2.1.0 Sender OK");
                }
            }
            Request::Rcpt { to } => self.recipient(to.address).await,
            Request::Data => return self.data().await,
            Request::Rset => {
                self.reset();
                self.reply("250 2.0.0 OK");
            }
            Request::Noop { .. } => self.reply("250 2.0.0 OK"),
            Request::Vrfy { .. } => self.reply("252 2.5.2 Cannot verify, but will try delivery"),
            Request::Quit => self.reply("221 2.0.0 Bye"),
            other => self.reply(&format!("502 5.5.1 {} is not supported here", other.name())),
        }
        Ok(())
    }

    async fn recipient(&mut self, address: String) {
        if self.from.is_none() {
            return self.reply("503 5.5.1 Say MAIL FROM first");
        }
        if self.recipients.len() >= self.gateway.config.max_recipients {
            return self.reply("452 4.5.3 Too many recipients");
        }
        match self.gateway.service.recipient(&address).await {
            Ok(resolved) => {
                self.recipients.push(Recipient { address, resolved });
                self.reply("250 2.1.5 Recipient OK");
            }
            Err(e) => self.reply(&error_reply(&e, &address)),
        }
    }

    /// Reads the message (dot-unstuffed, bounded) and delivers it to each
    /// recipient, one reply each.
    async fn data(&mut self) -> std::io::Result<()> {
        if self.recipients.is_empty() {
            self.reply("503 5.5.1 No valid recipients");
            return Ok(());
        }
        self.reply("354 Go ahead, end with <CRLF>.<CRLF>");
        self.flush().await?;
        let mut message = Vec::new();
        let mut too_big = false;
        loop {
            let line = match self.line(MAX_MESSAGE_SIZE + 3).await? {
                Line::Closed => return Ok(()), // nothing was acknowledged
                Line::TooLong => {
                    too_big = true;
                    continue;
                }
                Line::Text(line) => line,
            };
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let text = line.strip_prefix(b".").unwrap_or(&line);
            if message.len() + text.len() > MAX_MESSAGE_SIZE {
                too_big = true;
            }
            if !too_big {
                message.extend_from_slice(text);
            }
        }
        let recipients = std::mem::take(&mut self.recipients);
        let from = self.from.take().filter(|f| !f.is_empty());
        for r in recipients {
            if too_big {
                self.reply(&format!(
                    "552 5.3.4 <{}>: messages are limited to {MAX_MESSAGE_SIZE} bytes",
                    r.address
                ));
                continue;
            }
            let delivered = self
                .gateway
                .service
                .deliver_resolved(
                    &r.address,
                    Some(r.resolved),
                    self.traced(&r.address, from.as_deref(), &message),
                    from.as_deref(),
                )
                .await;
            let reply = match delivered {
                Ok(report) => format!("250 2.0.0 <{}> {}", r.address, report.summary()),
                Err(e) => error_reply(&e, &r.address),
            };
            self.reply(&reply);
        }
        Ok(())
    }
}

impl<S> Session<'_, S> {
    /// The message as delivered to `recipient`: with the trace headers a
    /// final delivery adds (RFC 5321 §4.4) — where replies go
    /// (`Return-Path`), whom it was delivered to (`Delivered-To`, which
    /// also lets mail loops be seen) and a `Received` line.
    fn traced(&self, recipient: &str, from: Option<&str>, message: &[u8]) -> Vec<u8> {
        // Both were checked by the command parser; only characters that
        // belong in a host name or address are written, whatever came.
        let clean = |text: &str| -> String {
            text.chars()
                .filter(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '(' | ')' | ';'))
                .collect()
        };
        let date = jiff::fmt::rfc2822::to_string(&jiff::ZonedDateTime::now()).unwrap_or_default();
        let client = match clean(&self.client) {
            name if name.is_empty() => "unknown".to_owned(),
            name => name,
        };
        let (recipient, from) = (clean(recipient), from.map(clean).unwrap_or_default());
        let hostname = clean(&self.gateway.config.hostname);
        let trace = format!(
            "Return-Path: <{from}>\r\nDelivered-To: {recipient}\r\n\
             Received: from {client}\r\n\tby {hostname} (Mailroom) with LMTP\r\n\tfor <{recipient}>; {date}\r\n"
        );
        let mut traced = Vec::with_capacity(trace.len() + message.len());
        traced.extend_from_slice(trace.as_bytes());
        traced.extend_from_slice(message);
        traced
    }
}

/// The one place a service error becomes an LMTP reply for one
/// recipient, with the enhanced status codes of RFC 3463:
///
/// | error          | reply                                   |
/// |----------------|-----------------------------------------|
/// | `NotFound`     | `550 5.1.1` no such user here           |
/// | `NoPermission` | `550 5.7.1` (delivery not authorized)   |
/// | `BadInput`     | `554 5.6.0` (the message is not usable) |
/// | `OverQuota`    | `552 5.2.2` (mailbox full)              |
/// | `InUse`        | `452 4.2.0` (mailbox busy: try later)   |
/// | anything else  | `451 4.3.0` (server error: try later)   |
fn error_reply(e: &Error, address: &str) -> String {
    match e {
        Error::NotFound(_) => format!("550 5.1.1 <{address}>: no such user here"),
        Error::NoPermission(m) => format!("550 5.7.1 <{address}>: {m}"),
        Error::BadInput(m) => format!("554 5.6.0 <{address}>: {m}"),
        Error::OverQuota(m) => format!("552 5.2.2 <{address}>: {m}"),
        Error::InUse(m) => format!("452 4.2.0 <{address}>: {m}"),
        Error::AlreadyExists(_) | Error::AuthFailed | Error::Throttled(_) | Error::Internal(_) => {
            format!("451 4.3.0 <{address}>: {e}")
        }
    }
}

fn syntax_reply(e: &smtp_proto::Error) -> String {
    match e {
        smtp_proto::Error::UnknownCommand => "500 5.5.1 Unknown command".into(),
        smtp_proto::Error::InvalidSenderAddress => "501 5.1.7 Bad sender address".into(),
        smtp_proto::Error::InvalidRecipientAddress => "501 5.1.3 Bad recipient address".into(),
        smtp_proto::Error::UnsupportedParameter { param } => {
            format!("555 5.5.4 Unsupported parameter {}", Cow::from(param.as_str()))
        }
        other => format!("501 5.5.2 Syntax error: {other:?}"),
    }
}
