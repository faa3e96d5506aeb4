//! One POP3 connection: the AUTHORIZATION and TRANSACTION states of RFC
//! 1939 and the UPDATE that QUIT performs.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mailroom_shared::{FlagOp, Flags, SystemFlag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::Gateway;
use crate::error::Error;
use crate::gateway::{Authority, Slot, Stream, sasl};
use crate::service::{Opened, Principal};

/// One message of the snapshot taken at login.
struct Entry {
    uid: u32,
    size: u32,
    /// The content's hash, to find its bytes in the store's cache.
    hash: String,
    deleted: bool,
    /// `\Seen` as known to this session (RETR sets it once).
    seen: bool,
}

/// Where the session is in RFC 1939 (§3). What each state needs exists
/// only in that state: no maildrop before login, no pending USER after.
enum State {
    /// AUTHORIZATION, with the name a USER command gave, if any.
    Authorization { user: Option<String> },
    /// TRANSACTION: logged in, the INBOX listed.
    Transaction(Box<Maildrop>),
    /// UPDATE: QUIT was given; the session ends.
    Update,
}

/// A logged-in session's INBOX as listed at login, and what the login
/// holds.
impl Entry {
    /// A message as the login's listing shows it: nothing marked yet.
    fn listed(m: crate::service::MessageMeta) -> Entry {
        let seen = m.flags.contains(SystemFlag::Seen);
        Entry {
            uid: m.uid,
            size: m.size,
            hash: m.blob_hash,
            deleted: false,
            seen,
        }
    }
}

struct Maildrop {
    principal: Principal,
    /// The INBOX as the service resolved it at login.
    inbox: Opened,
    /// The INBOX's removal count as the listing was made (see
    /// `Service::listed_content`).
    listed_at: u64,
    uidvalidity: u32,
    messages: Vec<Entry>,
    /// A changed password or a deleted account ends the session (without
    /// carrying out its deletions).
    authority: Authority,
    _account_slot: Slot,
    /// Shown as present in a shared INBOX while the maildrop is open.
    _here: Option<crate::service::Here>,
}

struct Session {
    gw: Arc<Gateway>,
    io: Stream,
    peer: IpAddr,
    input: Vec<u8>,
    out: Vec<u8>,
    state: State,
    _ip_slot: Slot,
    /// When a client that has not logged in is sent away, however busy
    /// it keeps the connection.
    login_deadline: tokio::time::Instant,
}

/// What reading a line gave.
enum Line {
    Text(String),
    TooLong,
    End,
}

pub(super) async fn run(gw: Arc<Gateway>, io: Stream, peer: IpAddr, slot: Slot) -> io::Result<()> {
    let mut s = Session {
        login_deadline: tokio::time::Instant::now() + gw.config.login_timeout,
        gw,
        io,
        peer,
        input: Vec::new(),
        out: Vec::new(),
        state: State::Authorization { user: None },
        _ip_slot: slot,
    };
    reply(&mut s.out, "+OK Mailroom POP3 ready");
    s.flush().await?;
    loop {
        let line = match s.read_line().await? {
            Line::Text(line) => line,
            Line::TooLong => {
                reply(&mut s.out, "-ERR Line too long");
                s.flush().await?;
                continue;
            }
            Line::End => return Ok(()),
        };
        let go_on = s.command(&line).await?;
        s.flush().await?;
        if !go_on {
            return Ok(());
        }
    }
}

fn reply(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// The authority a logged-in session watches (none before login).
fn authority_of(state: &mut State) -> Option<&mut Authority> {
    match state {
        State::Transaction(drop) => Some(&mut drop.authority),
        State::Authorization { .. } | State::Update => None,
    }
}

impl Session {
    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    fn logged_in(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    fn timeout(&self) -> Duration {
        if self.logged_in() {
            self.gw.config.idle_timeout
        } else {
            self.login_deadline
                .saturating_duration_since(tokio::time::Instant::now())
        }
    }

    /// The next line without CRLF. A line over the limit is skipped to its
    /// end and reported once.
    async fn read_line(&mut self) -> io::Result<Line> {
        let max = self.gw.config.max_line;
        let mut skipping = false;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.input.drain(..=end).collect();
                if skipping {
                    return Ok(Line::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Text(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.input.len() > max {
                self.input.clear();
                skipping = true;
            }
            let timeout = self.timeout();
            let read = tokio::select! {
                read = tokio::time::timeout(timeout, self.io.read(&mut buf)) => read,
                () = Authority::moved(authority_of(&mut self.state)) => {
                    if !self.authority_holds(true).await {
                        return self.revoked().await;
                    }
                    continue;
                }
            };
            let n = match read {
                Err(_) if !self.logged_in() => {
                    reply(&mut self.out, "-ERR Took too long to log in");
                    self.flush().await?;
                    return Ok(Line::End);
                }
                Err(_) => {
                    reply(&mut self.out, "-ERR Autologout; idle for too long");
                    self.flush().await?;
                    return Ok(Line::End);
                }
                Ok(result) => result?,
            };
            if n == 0 {
                return Ok(Line::End);
            }
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// Whether the logged-in account still has the authority it logged
    /// in with (see [`Authority`]).
    async fn authority_holds(&mut self, moved: bool) -> bool {
        let State::Transaction(drop) = &mut self.state else {
            return true;
        };
        match drop.authority.recheck(&self.gw.service, &drop.principal, moved).await {
            Some(now) => {
                drop.inbox.renew(&now);
                drop.principal = now;
                true
            }
            None => false,
        }
    }

    /// Ends a session whose authority was taken away: its deletions are
    /// not carried out (no UPDATE state, RFC 1939 §6).
    async fn revoked(&mut self) -> io::Result<Line> {
        self.state = State::Authorization { user: None };
        reply(
            &mut self.out,
            "-ERR [AUTH] Your login is no longer valid (password changed or account deleted)",
        );
        self.flush().await?;
        Ok(Line::End)
    }

    /// Runs one command; `false` ends the session.
    async fn command(&mut self, line: &str) -> io::Result<bool> {
        if !self.authority_holds(false).await {
            self.revoked().await?;
            return Ok(false);
        }
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let verb = verb.to_ascii_uppercase();
        let arg = arg.trim();
        let result = match verb.as_str() {
            "QUIT" => return self.quit().await.map(|()| false),
            "CAPA" => {
                self.capa();
                Ok(())
            }
            _ if self.logged_in() => self.transaction(&verb, arg).await,
            "STLS" => return self.stls().await,
            _ => self.authorization(&verb, arg).await,
        };
        if let Err(message) = result {
            reply(&mut self.out, &format!("-ERR {message}"));
        }
        Ok(true)
    }

    /// A command in the AUTHORIZATION state.
    async fn authorization(&mut self, verb: &str, arg: &str) -> Result<(), String> {
        match verb {
            "USER" => self.user(arg),
            "PASS" => self.pass(arg).await,
            "AUTH" => self.auth(arg).await,
            "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP" => Err("Log in first".to_owned()),
            _ => Err(unknown(verb)),
        }
    }

    /// A command in the TRANSACTION state.
    async fn transaction(&mut self, verb: &str, arg: &str) -> Result<(), String> {
        let State::Transaction(drop) = &mut self.state else {
            return Err("Log in first".to_owned());
        };
        let out = &mut self.out;
        match verb {
            "NOOP" => {
                reply(out, "+OK");
                Ok(())
            }
            "STAT" => {
                drop.stat(out);
                Ok(())
            }
            "LIST" => drop.list(arg, false, out),
            "UIDL" => drop.list(arg, true, out),
            "RETR" => drop.retr(arg, &self.gw, out).await,
            "TOP" => drop.top(arg, &self.gw, out).await,
            "DELE" => drop.dele(arg, out),
            "RSET" => {
                for entry in &mut drop.messages {
                    entry.deleted = false;
                }
                reply(out, "+OK");
                Ok(())
            }
            "USER" | "PASS" | "AUTH" | "STLS" => Err("Already logged in".to_owned()),
            _ => Err(unknown(verb)),
        }
    }

    fn capa(&mut self) {
        let mut lines = vec![
            "+OK Capability list follows",
            "TOP",
            "UIDL",
            "RESP-CODES",
            "AUTH-RESP-CODE",
            "PIPELINING",
        ];
        if !self.logged_in() {
            if !self.gw.config.require_tls || self.io.is_tls() {
                lines.extend(["USER", "SASL PLAIN"]);
            }
            if self.gw.tls.is_some() && !self.io.is_tls() {
                lines.push("STLS");
            }
        }
        lines.extend(["IMPLEMENTATION Mailroom", "."]);
        for line in lines {
            reply(&mut self.out, line);
        }
    }

    async fn stls(&mut self) -> io::Result<bool> {
        let Some(acceptor) = self.gw.tls.clone() else {
            reply(&mut self.out, "-ERR STLS is not offered");
            return Ok(true);
        };
        if self.io.is_tls() {
            reply(&mut self.out, "-ERR TLS is already active");
            return Ok(true);
        }
        reply(&mut self.out, "+OK Begin TLS negotiation");
        self.flush().await?;
        // Anything pipelined after STLS in the clear is dropped.
        self.input.clear();
        self.state = State::Authorization { user: None };
        match tokio::time::timeout(self.timeout(), self.io.upgrade(&acceptor)).await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    fn may_log_in(&self) -> Result<(), String> {
        if self.gw.config.require_tls && !self.io.is_tls() {
            return Err("[AUTH] Use STLS or the implicit-TLS port first".into());
        }
        Ok(())
    }

    fn user(&mut self, name: &str) -> Result<(), String> {
        self.may_log_in()?;
        if name.is_empty() {
            return Err("USER needs a name".into());
        }
        self.state = State::Authorization {
            user: Some(name.to_owned()),
        };
        reply(&mut self.out, "+OK Send PASS");
        Ok(())
    }

    async fn pass(&mut self, password: &str) -> Result<(), String> {
        self.may_log_in()?;
        let user = match &mut self.state {
            State::Authorization { user } => user.take().ok_or("USER first")?,
            State::Transaction(_) | State::Update => return Err("Already logged in".into()),
        };
        self.log_in(&user, password).await
    }

    async fn auth(&mut self, arg: &str) -> Result<(), String> {
        self.may_log_in()?;
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Err(format!("{mechanism} is not supported; use PLAIN"));
        }
        let response = if initial.is_empty() {
            reply(&mut self.out, "+ ");
            self.flush().await.map_err(|e| e.to_string())?;
            match self.read_line().await.map_err(|e| e.to_string())? {
                Line::Text(line) => line,
                _ => return Err("Unusable AUTH response".into()),
            }
        } else if initial == "=" {
            String::new()
        } else {
            initial.to_owned()
        };
        if response == "*" {
            return Err("AUTH cancelled".into());
        }
        let (user, password) = sasl::plain(response.as_bytes()).map_err(str::to_owned)?;
        self.log_in(&user, &password).await
    }

    /// The one login sequence (USER/PASS and AUTH): the service checks
    /// the password (and throttles), then the INBOX is listed.
    async fn log_in(&mut self, user: &str, password: &str) -> Result<(), String> {
        let service = &self.gw.service;
        let (principal, authority, slot) = crate::gateway::log_in(
            service,
            &self.gw.connections,
            user,
            password,
            self.peer,
            mailroom_shared::team::Via::Pop3,
        )
        .await
        .map_err(|e| match e {
            crate::gateway::LoginRefused::Service(e) => super::error_text(&e),
            crate::gateway::LoginRefused::TooManySessions => "[IN-USE] Too many sessions for this account".into(),
        })?;
        let opened = match service.open(&principal, "INBOX").await {
            Ok(mut inbox) => {
                let listed_at = service.removals(&inbox);
                let rows = service.messages_in(&mut inbox).await;
                rows.map(|rows| (inbox, listed_at, rows))
            }
            Err(e) => Err(e),
        };
        let (inbox, listed_at, rows) = opened.map_err(|e| super::error_text(&e))?;
        let here = service
            .be_present(&inbox, mailroom_shared::team::Doing::Open)
            .await
            .unwrap_or(None);
        let messages: Vec<Entry> = rows.into_iter().map(Entry::listed).collect();
        let total: u64 = messages.iter().map(|m| u64::from(m.size)).sum();
        reply(
            &mut self.out,
            &format!("+OK Logged in; {} messages ({total} octets)", messages.len()),
        );
        self.state = State::Transaction(Box::new(Maildrop {
            principal,
            uidvalidity: inbox.info().uidvalidity,
            inbox,
            listed_at,
            messages,
            authority,
            _account_slot: slot,
            _here: here,
        }));
        Ok(())
    }

    /// QUIT: in the TRANSACTION state, enters UPDATE and removes the
    /// marked messages (needs the `t` and `e` rights on the INBOX).
    async fn quit(&mut self) -> io::Result<()> {
        let State::Transaction(mut drop) = std::mem::replace(&mut self.state, State::Update) else {
            reply(&mut self.out, "+OK Bye");
            return self.flush().await;
        };
        let answer = drop.update(&self.gw.service).await;
        reply(&mut self.out, &answer);
        self.flush().await
    }
}

fn unknown(verb: &str) -> String {
    format!("Unknown command {}", verb.chars().take(20).collect::<String>())
}

impl Maildrop {
    /// The message numbered `arg` (1-based), not marked deleted.
    fn message(&self, arg: &str) -> Result<usize, String> {
        let n: usize = arg.parse().map_err(|_| format!("{arg:.20} is not a message number"))?;
        match n.checked_sub(1).and_then(|i| self.messages.get(i).map(|m| (i, m))) {
            Some((i, m)) if !m.deleted => Ok(i),
            Some(_) => Err(format!("Message {n} is marked deleted")),
            None => Err(format!("No message {n}")),
        }
    }

    fn stat(&self, out: &mut Vec<u8>) {
        let live = self.messages.iter().filter(|m| !m.deleted);
        let (count, size) = live.fold((0, 0u64), |(c, s), m| (c + 1, s + u64::from(m.size)));
        reply(out, &format!("+OK {count} {size}"));
    }

    /// LIST or UIDL, of one message or all.
    fn list(&self, arg: &str, uidl: bool, out: &mut Vec<u8>) -> Result<(), String> {
        let value = |m: &Entry| {
            if uidl {
                format!("{}.{}", self.uidvalidity, m.uid)
            } else {
                m.size.to_string()
            }
        };
        if !arg.is_empty() {
            let i = self.message(arg)?;
            reply(out, &format!("+OK {} {}", i + 1, value(&self.messages[i])));
            return Ok(());
        }
        reply(out, "+OK");
        for (i, m) in self.messages.iter().enumerate().filter(|(_, m)| !m.deleted) {
            reply(out, &format!("{} {}", i + 1, value(m)));
        }
        reply(out, ".");
        Ok(())
    }

    /// The message's bytes, or why not (another session expunged it).
    async fn content(&mut self, gw: &Gateway, i: usize) -> Result<Vec<u8>, String> {
        let listed = (self.messages[i].uid, self.messages[i].hash.as_str());
        match gw.service.listed_content(&mut self.inbox, listed, self.listed_at).await {
            Ok(bytes) => Ok(bytes),
            // The listing's message is gone: say which, in the listing's numbers.
            Err(Error::NotFound(_)) => Err(format!("Message {} was deleted by another session", i + 1)),
            Err(e) => Err(super::error_text(&e)),
        }
    }

    async fn retr(&mut self, arg: &str, gw: &Gateway, out: &mut Vec<u8>) -> Result<(), String> {
        let i = self.message(arg)?;
        let bytes = self.content(gw, i).await?;
        reply(out, &format!("+OK {} octets", bytes.len()));
        dot_stuff(out, &bytes);
        if gw.config.retr_sets_seen && !self.messages[i].seen {
            self.messages[i].seen = true;
            let mut seen = Flags::default();
            seen.insert(SystemFlag::Seen);
            // Without the `s` right the flag silently stays as it is.
            let _ = gw
                .service
                .store_flags_in(&mut self.inbox, &[self.messages[i].uid], FlagOp::Add, &seen)
                .await;
        }
        Ok(())
    }

    async fn top(&mut self, arg: &str, gw: &Gateway, out: &mut Vec<u8>) -> Result<(), String> {
        let (n, lines) = arg
            .split_once(' ')
            .ok_or("TOP needs a message number and a line count")?;
        let lines: usize = lines.trim().parse().map_err(|_| "The line count is not a number")?;
        let i = self.message(n)?;
        let bytes = self.content(gw, i).await?;
        let header_end = find(&bytes, b"\r\n\r\n").map_or(bytes.len(), |at| at + 4);
        let mut end = header_end;
        for _ in 0..lines {
            match bytes[end..].iter().position(|&b| b == b'\n') {
                Some(at) => end += at + 1,
                None => {
                    end = bytes.len();
                    break;
                }
            }
        }
        reply(out, "+OK");
        dot_stuff(out, &bytes[..end]);
        Ok(())
    }

    fn dele(&mut self, arg: &str, out: &mut Vec<u8>) -> Result<(), String> {
        let i = self.message(arg)?;
        self.messages[i].deleted = true;
        reply(out, &format!("+OK Message {} marked deleted", i + 1));
        Ok(())
    }

    /// The UPDATE state's work: removes the messages marked deleted.
    /// Returns the answer to QUIT.
    async fn update(&mut self, service: &crate::service::Service) -> String {
        let uids: Vec<u32> = self.messages.iter().filter(|m| m.deleted).map(|m| m.uid).collect();
        if uids.is_empty() {
            return "+OK Bye".into();
        }
        let mut deleted = Flags::default();
        deleted.insert(SystemFlag::Deleted);
        let result = match service
            .store_flags_in(&mut self.inbox, &uids, FlagOp::Add, &deleted)
            .await
        {
            Ok(_) => service.expunge_in(&mut self.inbox, Some(&uids)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(gone) => format!("+OK Bye; {} messages deleted", gone.len()),
            Err(e) => format!("-ERR {}", super::error_text(&e)),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes a multi-line body: lines starting with `.` get another `.`,
/// the last line is ended, then the terminating `.` line (RFC 1939 §3).
fn dot_stuff(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + bytes.len() / 64 + 5);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    if !bytes.is_empty() && !bytes.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing() {
        let mut out = Vec::new();
        dot_stuff(&mut out, b"a\r\n.\r\n..\r\n.x\r\nend");
        assert_eq!(out, b"a\r\n..\r\n...\r\n..x\r\nend\r\n.\r\n");
        let mut empty = Vec::new();
        dot_stuff(&mut empty, b"");
        assert_eq!(empty, b".\r\n");
    }
}
