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

struct Maildrop {
    principal: Principal,
    /// The INBOX as the service resolved it at login.
    inbox: Opened,
    /// The INBOX's removal count as the listing was made (see
    /// `Service::listed_content`).
    listed_at: u64,
    uidvalidity: u32,
    messages: Vec<Entry>,
}

struct Session {
    gw: Arc<Gateway>,
    io: Stream,
    peer: IpAddr,
    input: Vec<u8>,
    out: Vec<u8>,
    user: Option<String>,
    maildrop: Option<Maildrop>,
    _ip_slot: Slot,
    account_slot: Option<Slot>,
    /// When a client that has not logged in is sent away, however busy
    /// it keeps the connection.
    login_deadline: tokio::time::Instant,
    /// Once logged in: a changed password or a deleted account ends the
    /// session (without committing its deletions).
    authority: Option<Authority>,
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
        user: None,
        maildrop: None,
        _ip_slot: slot,
        account_slot: None,
        authority: None,
    };
    s.reply("+OK Mailroom POP3 ready");
    s.flush().await?;
    loop {
        let line = match s.read_line().await? {
            Line::Text(line) => line,
            Line::TooLong => {
                s.reply("-ERR Line too long");
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

impl Session {
    fn reply(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    fn timeout(&self) -> Duration {
        if self.maildrop.is_some() {
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
                () = Authority::moved(self.authority.as_mut()) => {
                    if !self.authority_holds(true).await {
                        return self.revoked().await;
                    }
                    continue;
                }
            };
            let n = match read {
                Err(_) if self.maildrop.is_none() => {
                    self.reply("-ERR Took too long to log in");
                    self.flush().await?;
                    return Ok(Line::End);
                }
                Err(_) => {
                    self.reply("-ERR Autologout; idle for too long");
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
        let (Some(authority), Some(drop)) = (self.authority.as_mut(), self.maildrop.as_mut()) else {
            return true;
        };
        match authority.recheck(&self.gw.service, &drop.principal, moved).await {
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
        self.maildrop = None;
        self.reply("-ERR [AUTH] Your login is no longer valid (password changed or account deleted)");
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
        let result = match (verb.as_str(), self.maildrop.is_some()) {
            ("QUIT", _) => return self.quit().await.map(|()| false),
            ("CAPA", _) => {
                self.capa();
                Ok(())
            }
            ("NOOP", true) => {
                self.reply("+OK");
                Ok(())
            }
            ("STLS", false) => return self.stls().await,
            ("USER", false) => self.user(arg),
            ("PASS", false) => self.pass(arg).await,
            ("AUTH", false) => self.auth(arg).await,
            ("STAT", true) => self.stat(),
            ("LIST", true) => self.list(arg, false),
            ("UIDL", true) => self.list(arg, true),
            ("RETR", true) => self.retr(arg).await,
            ("TOP", true) => self.top(arg).await,
            ("DELE", true) => self.dele(arg),
            ("RSET", true) => {
                for entry in &mut self.maildrop_mut().messages {
                    entry.deleted = false;
                }
                self.reply("+OK");
                Ok(())
            }
            ("STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP", false) => {
                Err("Log in first".to_owned())
            }
            ("USER" | "PASS" | "AUTH" | "STLS", true) => Err("Already logged in".to_owned()),
            _ => Err(format!("Unknown command {}", verb.chars().take(20).collect::<String>())),
        };
        if let Err(message) = result {
            self.reply(&format!("-ERR {message}"));
        }
        Ok(true)
    }

    fn maildrop_mut(&mut self) -> &mut Maildrop {
        self.maildrop.as_mut().expect("in the transaction state")
    }

    fn capa(&mut self) {
        self.reply("+OK Capability list follows");
        for cap in ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"] {
            self.reply(cap);
        }
        if self.maildrop.is_none() {
            if !self.gw.config.require_tls || self.io.is_tls() {
                self.reply("USER");
                self.reply("SASL PLAIN");
            }
            if self.gw.tls.is_some() && !self.io.is_tls() {
                self.reply("STLS");
            }
        }
        self.reply("IMPLEMENTATION Mailroom");
        self.reply(".");
    }

    async fn stls(&mut self) -> io::Result<bool> {
        let Some(acceptor) = self.gw.tls.clone() else {
            self.reply("-ERR STLS is not offered");
            return Ok(true);
        };
        if self.io.is_tls() {
            self.reply("-ERR TLS is already active");
            return Ok(true);
        }
        self.reply("+OK Begin TLS negotiation");
        self.flush().await?;
        // Anything pipelined after STLS in the clear is dropped.
        self.input.clear();
        self.user = None;
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
        self.user = Some(name.to_owned());
        self.reply("+OK Send PASS");
        Ok(())
    }

    async fn pass(&mut self, password: &str) -> Result<(), String> {
        self.may_log_in()?;
        let user = self.user.take().ok_or("USER first")?;
        self.log_in(&user, password).await
    }

    async fn auth(&mut self, arg: &str) -> Result<(), String> {
        self.may_log_in()?;
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Err(format!("{mechanism} is not supported; use PLAIN"));
        }
        let response = if initial.is_empty() {
            self.reply("+ ");
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

    async fn log_in(&mut self, user: &str, password: &str) -> Result<(), String> {
        let authority = Authority::watch(&self.gw.service);
        let principal = self
            .gw
            .service
            .authenticate(user, password, self.peer)
            .await
            .map_err(|e| super::error_text(&e))?;
        let slot = self
            .gw
            .connections
            .of_account(principal.account_id())
            .ok_or("[IN-USE] Too many sessions for this account")?;
        let service = &self.gw.service;
        let opened = match service.open(&principal, "INBOX").await {
            Ok(mut inbox) => {
                let listed_at = service.removals(&inbox);
                let rows = service.messages_in(&mut inbox).await;
                rows.map(|rows| (inbox, listed_at, rows))
            }
            Err(e) => Err(e),
        };
        let (inbox, listed_at, rows) = opened.map_err(|e| super::error_text(&e))?;
        self.account_slot = Some(slot);
        self.authority = Some(authority);
        let messages: Vec<Entry> = rows
            .into_iter()
            .map(|r| Entry {
                uid: r.uid,
                size: r.size,
                hash: r.blob_hash,
                deleted: false,
                seen: r.flags.contains(SystemFlag::Seen),
            })
            .collect();
        let total: u64 = messages.iter().map(|m| u64::from(m.size)).sum();
        self.reply(&format!("+OK Logged in; {} messages ({total} octets)", messages.len()));
        self.maildrop = Some(Maildrop {
            principal,
            uidvalidity: inbox.info().uidvalidity,
            inbox,
            listed_at,
            messages,
        });
        Ok(())
    }

    /// The message numbered `arg` (1-based), not marked deleted.
    fn message(&self, arg: &str) -> Result<usize, String> {
        let n: usize = arg.parse().map_err(|_| format!("{arg:.20} is not a message number"))?;
        let drop = self.maildrop.as_ref().expect("in the transaction state");
        match n.checked_sub(1).and_then(|i| drop.messages.get(i).map(|m| (i, m))) {
            Some((i, m)) if !m.deleted => Ok(i),
            Some(_) => Err(format!("Message {n} is marked deleted")),
            None => Err(format!("No message {n}")),
        }
    }

    fn stat(&mut self) -> Result<(), String> {
        let drop = self.maildrop_mut();
        let live = drop.messages.iter().filter(|m| !m.deleted);
        let (count, size) = live.fold((0, 0u64), |(c, s), m| (c + 1, s + u64::from(m.size)));
        self.reply(&format!("+OK {count} {size}"));
        Ok(())
    }

    /// LIST or UIDL, of one message or all.
    fn list(&mut self, arg: &str, uidl: bool) -> Result<(), String> {
        let drop = self.maildrop.as_ref().expect("in the transaction state");
        let value = |m: &Entry| {
            if uidl {
                format!("{}.{}", drop.uidvalidity, m.uid)
            } else {
                m.size.to_string()
            }
        };
        if !arg.is_empty() {
            let i = self.message(arg)?;
            let line = format!("+OK {} {}", i + 1, value(&drop.messages[i]));
            self.reply(&line);
            return Ok(());
        }
        let lines: Vec<String> = drop
            .messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !m.deleted)
            .map(|(i, m)| format!("{} {}", i + 1, value(m)))
            .collect();
        self.reply("+OK");
        for line in lines {
            self.reply(&line);
        }
        self.reply(".");
        Ok(())
    }

    /// The message's bytes, or why not (another session expunged it).
    async fn content(&mut self, i: usize) -> Result<Vec<u8>, String> {
        let drop = self.maildrop.as_mut().expect("in the transaction state");
        let listed = (drop.messages[i].uid, drop.messages[i].hash.as_str());
        let service = &self.gw.service;
        match service.listed_content(&mut drop.inbox, listed, drop.listed_at).await {
            Ok(bytes) => Ok(bytes),
            // The listing's message is gone: say which, in the listing's numbers.
            Err(Error::NotFound(_)) => Err(format!("Message {} was deleted by another session", i + 1)),
            Err(e) => Err(super::error_text(&e)),
        }
    }

    async fn retr(&mut self, arg: &str) -> Result<(), String> {
        let i = self.message(arg)?;
        let bytes = self.content(i).await?;
        self.reply(&format!("+OK {} octets", bytes.len()));
        dot_stuff(&mut self.out, &bytes);
        let already_seen = self.maildrop_mut().messages[i].seen;
        if self.gw.config.retr_sets_seen && !already_seen {
            self.maildrop_mut().messages[i].seen = true;
            let drop = self.maildrop.as_mut().expect("in the transaction state");
            let mut seen = Flags::default();
            seen.insert(SystemFlag::Seen);
            // Without the `s` right the flag silently stays as it is.
            let _ = self
                .gw
                .service
                .store_flags_in(&mut drop.inbox, &[drop.messages[i].uid], FlagOp::Add, &seen)
                .await;
        }
        Ok(())
    }

    async fn top(&mut self, arg: &str) -> Result<(), String> {
        let (n, lines) = arg
            .split_once(' ')
            .ok_or("TOP needs a message number and a line count")?;
        let lines: usize = lines.trim().parse().map_err(|_| "The line count is not a number")?;
        let i = self.message(n)?;
        let bytes = self.content(i).await?;
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
        self.reply("+OK");
        dot_stuff(&mut self.out, &bytes[..end]);
        Ok(())
    }

    fn dele(&mut self, arg: &str) -> Result<(), String> {
        let i = self.message(arg)?;
        self.maildrop_mut().messages[i].deleted = true;
        self.reply(&format!("+OK Message {} marked deleted", i + 1));
        Ok(())
    }

    /// QUIT: in the transaction state, removes the marked messages (needs
    /// the `t` and `e` rights on the INBOX).
    async fn quit(&mut self) -> io::Result<()> {
        let Some(mut drop) = self.maildrop.take() else {
            self.reply("+OK Bye");
            return self.flush().await;
        };
        let uids: Vec<u32> = drop.messages.iter().filter(|m| m.deleted).map(|m| m.uid).collect();
        if uids.is_empty() {
            self.reply("+OK Bye");
            return self.flush().await;
        }
        let mut deleted = Flags::default();
        deleted.insert(SystemFlag::Deleted);
        let service = &self.gw.service;
        let result = match service
            .store_flags_in(&mut drop.inbox, &uids, FlagOp::Add, &deleted)
            .await
        {
            Ok(_) => service.expunge_in(&mut drop.inbox, Some(&uids)).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(gone) => self.reply(&format!("+OK Bye; {} messages deleted", gone.len())),
            Err(e) => self.reply(&format!("-ERR {}", super::error_text(&e))),
        }
        self.flush().await
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
