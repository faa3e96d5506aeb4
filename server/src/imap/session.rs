//! One IMAP connection: the states of RFC 3501 §3, the commands valid in
//! each, and the translation of every request into a mailbox-service
//! call. Nothing here decides who may do what; the service does, and its
//! one error type is mapped to IMAP once ([`Session::fail`]).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mailroom_shared::{AclEntry, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::command::{self, Appended, Command, FetchItem, NotifyFilter, NotifySet, Piece, Qresync, Request};
use super::frame::{Event, Framer, Limits};
use super::mailbox::{Cx, Selected, SortArgs, StoreArgs};
use super::mime;
use super::response;
use super::server::Gateway;
use crate::error::Error;
use crate::gateway::{self, Authority, LoginRefused, Slot, Stream, sasl};
use crate::service::{MAX_MESSAGE_SIZE, MailboxesWatch, Principal, Watch};

/// A session's answer to one command, short of the tagged line.
pub type Outcome = Result<String, Failure>;

/// A command that did not succeed: `BAD` (the client's mistake) or `NO`.
pub enum Failure {
    Bad(String),
    No(String),
    /// End the session after an untagged `BYE` (the text).
    Bye(String),
}

/// The one place a service error becomes an IMAP response, with the
/// response codes of RFC 5530 (and RFC 9208's OVERQUOTA):
///
/// | error           | response                              |
/// |-----------------|---------------------------------------|
/// | `NotFound`      | `NO [NONEXISTENT]`                    |
/// | `NoPermission`  | `NO [NOPERM]`                         |
/// | `AlreadyExists` | `NO [ALREADYEXISTS]`                  |
/// | `BadInput`      | `BAD` (the client's mistake)          |
/// | `InUse`         | `NO [INUSE]`                          |
/// | `OverQuota`     | `NO [OVERQUOTA]`                      |
/// | `AuthFailed`    | `NO [AUTHENTICATIONFAILED]`           |
/// | `Throttled`     | `NO [UNAVAILABLE]` … try again in N s |
/// | `Internal`      | `NO [SERVERBUG]` (details in the log) |
///
/// APPEND, COPY and MOVE answer a missing target with `[TRYCREATE]`
/// instead ([`try_create`]).
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::NotFound(m) => Failure::No(format!("[NONEXISTENT] {m}")),
            Error::NoPermission(m) => Failure::No(format!("[NOPERM] {m}")),
            Error::AlreadyExists(m) => Failure::No(format!("[ALREADYEXISTS] {m}")),
            Error::BadInput(m) => Failure::Bad(m),
            Error::InUse(m) => Failure::No(format!("[INUSE] {m}")),
            Error::OverQuota(m) => Failure::No(format!("[OVERQUOTA] {m}")),
            Error::AuthFailed => Failure::No("[AUTHENTICATIONFAILED] Authentication failed".into()),
            Error::Throttled(wait) => Failure::No(format!(
                "[UNAVAILABLE] Too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            )),
            Error::Internal(_) => Failure::No("[SERVERBUG] Internal error, please try again".into()),
        }
    }
}

/// `* QUOTA root (STORAGE used limit)`, in units of 1,024 octets (RFC
/// 9208 §5.1): what is used rounded up, the limit down.
fn quota_line(out: &mut Vec<u8>, root: &crate::service::QuotaRoot) {
    out.extend_from_slice(b"* QUOTA ");
    response::astring(out, root.name.as_bytes());
    let line = format!(" (STORAGE {} {})\r\n", root.used.div_ceil(1024), root.limit / 1024);
    out.extend_from_slice(line.as_bytes());
}

/// Why reading the next command stopped.
enum ReadEnd {
    Eof,
    Timeout,
    /// The account's password changed or it was deleted meanwhile.
    Revoked,
}

/// What a session whose authority was taken away hears.
const REVOKED: &str = "* BYE Your login is no longer valid (password changed or account deleted)";

pub struct Session {
    pub(super) gw: Arc<Gateway>,
    io: Stream,
    peer: IpAddr,
    framer: Framer,
    /// When a client that has not logged in is sent away, however busy
    /// it keeps the connection.
    login_deadline: Instant,
    /// Responses waiting to be written.
    pub(super) out: Vec<u8>,
    state: State,
    _ip_slot: Slot,
    /// RFC 7162, turned on by ENABLE or a command that uses it.
    condstore: bool,
    qresync: bool,
    /// NOTIFY SET: the mailboxes watched and the STATUS items each
    /// change of each is reported with.
    notify: Option<Notifying>,
}

/// Where the session is in RFC 9051's state diagram (§3). What a state
/// needs exists only in it: no principal before login, no selected
/// mailbox outside the selected state.
enum State {
    NotAuthenticated,
    Authenticated(Login),
    Selected(Login, Box<Selected>),
    /// LOGOUT was given (or the session is being torn down).
    Logout,
}

/// What a login holds for as long as the session lasts.
struct Login {
    principal: Principal,
    /// Moves when some account loses authority; the session then checks
    /// its own (a changed password or a deleted account ends it, a
    /// demotion downgrades it).
    authority: Authority,
    _account_slot: Slot,
}

/// Which state a command may be given in (RFC 9051 §6).
#[derive(PartialEq, Eq)]
enum Needs {
    /// Any state: CAPABILITY, NOOP, ID.
    Any,
    /// Not authenticated: LOGIN (AUTHENTICATE and STARTTLS are run before
    /// dispatch, as they read and write the connection themselves).
    NotAuthenticated,
    /// Authenticated or selected.
    Authenticated,
    /// Selected.
    Selected,
}

fn needs(request: &Request) -> Needs {
    match request {
        Request::Capability | Request::Noop | Request::Id { .. } => Needs::Any,
        Request::Login { .. } | Request::Authenticate { .. } | Request::StartTls => Needs::NotAuthenticated,
        Request::Check
        | Request::Close
        | Request::Unselect
        | Request::Expunge { .. }
        | Request::Fetch { .. }
        | Request::StoreFlags { .. }
        | Request::Search { .. }
        | Request::Sort { .. }
        | Request::Thread { .. }
        | Request::Copy { .. }
        | Request::Move { .. }
        | Request::CancelUpdate { .. } => Needs::Selected,
        _ => Needs::Authenticated,
    }
}

/// The authority a logged-in session watches, and its selected
/// mailbox's change watch (both `None` when there is none).
fn watches(state: &mut State) -> (Option<&mut Authority>, Option<&mut Watch>) {
    match state {
        State::Selected(login, selected) => (Some(&mut login.authority), Some(selected.watch())),
        State::Authenticated(login) => (Some(&mut login.authority), None),
        State::NotAuthenticated | State::Logout => (None, None),
    }
}

/// What NOTIFY SET asked for.
struct Notifying {
    watch: MailboxesWatch,
    items: HashMap<String, Vec<String>>,
}

impl Session {
    pub(super) fn new(gw: Arc<Gateway>, io: Stream, peer: IpAddr, ip_slot: Slot) -> Session {
        let framer = Framer::new(Limits::BEFORE_LOGIN);
        let login_deadline = Instant::now() + gw.config.login_timeout;
        Session {
            login_deadline,
            gw,
            io,
            peer,
            framer,
            out: Vec::new(),
            state: State::NotAuthenticated,
            _ip_slot: ip_slot,
            condstore: false,
            qresync: false,
            notify: None,
        }
    }

    /// Serves the connection until LOGOUT, a timeout or the client leaves.
    pub async fn run(mut self) -> io::Result<()> {
        let greeting = format!("* OK [CAPABILITY {}] Mailroom IMAP ready\r\n", self.capabilities());
        self.out.extend_from_slice(greeting.as_bytes());
        self.flush().await?;
        loop {
            let event = match self.next_event().await? {
                Ok(event) => event,
                Err(ReadEnd::Eof) => return Ok(()),
                Err(ReadEnd::Revoked) => {
                    self.line(REVOKED);
                    return self.flush().await;
                }
                Err(ReadEnd::Timeout) if !self.logged_in() => {
                    self.out.extend_from_slice(b"* BYE Took too long to log in\r\n");
                    return self.flush().await;
                }
                Err(ReadEnd::Timeout) => {
                    self.out.extend_from_slice(b"* BYE Autologout; idle for too long\r\n");
                    return self.flush().await;
                }
            };
            let go_on = match event {
                Event::Command(bytes) => self.command(&bytes).await?,
                Event::Continue => {
                    self.out.extend_from_slice(b"+ Ready for literal data\r\n");
                    true
                }
                Event::LineTooLong { tag } => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    let limit = self.framer.limits().max_line;
                    self.line(&format!("{tag} BAD Command line too long (limit {limit} bytes)"));
                    true
                }
                Event::LiteralTooLarge { tag, size } => {
                    let tag = tag.unwrap_or_else(|| "*".into());
                    let Limits {
                        max_literal,
                        max_command,
                        ..
                    } = self.framer.limits();
                    self.line(&format!(
                        "{tag} NO [TOOBIG] Literal of {size} bytes exceeds the limit of {max_literal} \
                         (or {max_command} for a whole command)"
                    ));
                    true
                }
                Event::Close => {
                    self.line("* BYE Literal too large; closing");
                    false
                }
            };
            self.flush().await?;
            if !go_on {
                return Ok(());
            }
        }
    }

    /// The next framed event, reading as needed, within the state's timeout.
    async fn next_event(&mut self) -> io::Result<Result<Event, ReadEnd>> {
        let timeout = self.timeout();
        loop {
            tokio::select! {
                event = read_event(&mut self.io, &mut self.framer, timeout) => return event,
                () = Authority::moved(watches(&mut self.state).0) => {}
            }
            if !self.authority_holds(true).await {
                return Ok(Err(ReadEnd::Revoked));
            }
        }
    }

    /// Checks the principal again if some account lost authority since
    /// the last look: `false` when this session's own did. A store
    /// failure keeps the session and asks again next time.
    /// `moved`: the epoch was seen to move already (by waiting on it).
    async fn authority_holds(&mut self, moved: bool) -> bool {
        let (login, selected) = match &mut self.state {
            State::Authenticated(login) => (login, None),
            State::Selected(login, selected) => (login, Some(selected)),
            State::NotAuthenticated | State::Logout => return true,
        };
        let Some(now) = login.authority.recheck(&self.gw.service, &login.principal, moved).await else {
            self.state = State::Logout;
            return false;
        };
        if let Some(selected) = selected {
            selected.renew(&now);
        }
        login.principal = now;
        true
    }

    fn logged_in(&self) -> bool {
        matches!(self.state, State::Authenticated(_) | State::Selected(..))
    }

    fn selected(&self) -> Option<&Selected> {
        match &self.state {
            State::Selected(_, selected) => Some(selected),
            _ => None,
        }
    }

    fn selected_mut(&mut self) -> Option<&mut Selected> {
        match &mut self.state {
            State::Selected(_, selected) => Some(selected),
            _ => None,
        }
    }

    /// Leaves the selected state (CLOSE, UNSELECT, a failed SELECT, a
    /// mailbox gone): back to authenticated, returning what was selected.
    fn deselect(&mut self) -> Option<Box<Selected>> {
        match std::mem::replace(&mut self.state, State::Logout) {
            State::Selected(login, selected) => {
                self.state = State::Authenticated(login);
                Some(selected)
            }
            other => {
                self.state = other;
                None
            }
        }
    }

    fn timeout(&self) -> Duration {
        if self.logged_in() {
            self.gw.config.idle_timeout
        } else {
            self.login_deadline.saturating_duration_since(Instant::now())
        }
    }

    pub(super) fn line(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    pub(super) async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.io.write_all(&self.out).await?;
            self.io.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    pub(super) fn capabilities(&self) -> String {
        let mut caps = vec![
            "IMAP4rev1",
            "LITERAL+",
            "SASL-IR",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
        ];
        if !self.logged_in() {
            if self.gw.tls.is_some() && !self.io.is_tls() {
                caps.push("STARTTLS");
            }
            if self.gw.config.require_tls && !self.io.is_tls() {
                caps.push("LOGINDISABLED");
            } else {
                caps.push("AUTH=PLAIN");
            }
        }
        caps.extend([
            "ACL",
            "RIGHTS=texk",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "SPECIAL-USE",
            "LIST-EXTENDED",
            "SORT",
            "SORT=DISPLAY",
            "ESEARCH",
            "ESORT",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "MULTIAPPEND",
            "BINARY",
            "CATENATE",
            "NOTIFY",
            "CONDSTORE",
            "QRESYNC",
            "QUOTA",
            "QUOTA=RES-STORAGE",
        ]);
        let limit = self.gw.config.limits.max_literal.min(MAX_MESSAGE_SIZE);
        format!("{} APPENDLIMIT={limit}", caps.join(" "))
    }

    /// Parses and runs one command; `false` ends the session.
    async fn command(&mut self, bytes: &[u8]) -> io::Result<bool> {
        if !self.authority_holds(false).await {
            self.line(REVOKED);
            return Ok(false);
        }
        let command = match command::parse(bytes) {
            Ok(command) => command,
            Err(e) => {
                let tag = e.tag.unwrap_or_else(|| "*".into());
                let status = if e.refused { "NO [CANNOT]" } else { "BAD" };
                self.line(&format!("{tag} {status} {}", e.message));
                return Ok(true);
            }
        };
        let Command { tag, request } = command;
        match request {
            Request::Logout => {
                self.state = State::Logout;
                self.line("* BYE Logging out");
                self.line(&format!("{tag} OK LOGOUT completed"));
                return Ok(false);
            }
            Request::StartTls => return self.starttls(&tag).await,
            Request::Idle => return self.idle(&tag).await,
            Request::Authenticate { mechanism, initial } => {
                let outcome = self.authenticate(&mechanism, initial).await?;
                return Ok(self.finish(&tag, outcome));
            }
            _ => {}
        }
        let expunges_allowed = !matches!(
            request,
            Request::Fetch { .. }
                | Request::StoreFlags { .. }
                | Request::Search { .. }
                | Request::Sort { .. }
                | Request::Thread { .. }
        );
        // What was committed before this command began is what it must
        // report (a change finished while it runs may come with the next) —
        // and what it added itself, which APPEND, COPY and MOVE answer
        // with EXISTS at once.
        let adds = matches!(
            request,
            Request::Append { .. } | Request::Copy { .. } | Request::Move { .. }
        );
        let mut since = self.gw.service.commits_so_far();
        let outcome = self.execute(&tag, request).await;
        if adds {
            since = self.gw.service.commits_so_far();
        }
        if let State::Selected(_, selected) = &mut self.state
            && let Err(e) = selected
                .sync(&self.gw.service, &mut self.out, expunges_allowed, since)
                .await
        {
            self.deselect();
            self.line(&format!("* BYE {e}"));
            return Ok(false);
        }
        self.report_notified(None).await;
        if let State::Selected(_, selected) = &mut self.state
            && let Err(Failure::Bye(e) | Failure::No(e) | Failure::Bad(e)) =
                selected.report_updates(&self.gw.service, &mut self.out).await
        {
            tracing::warn!("updating searches: {e}");
        }
        Ok(self.finish(&tag, outcome))
    }

    /// Writes the tagged response; `false` when the session must end.
    fn finish(&mut self, tag: &str, outcome: Outcome) -> bool {
        match outcome {
            Ok(text) => self.line(&format!("{tag} OK {text}")),
            Err(Failure::Bad(text)) => self.line(&format!("{tag} BAD {text}")),
            Err(Failure::No(text)) => self.line(&format!("{tag} NO {text}")),
            Err(Failure::Bye(text)) => {
                self.line(&format!("* BYE {text}"));
                return false;
            }
        }
        true
    }

    fn principal(&self) -> Result<&Principal, Failure> {
        match &self.state {
            State::Authenticated(login) | State::Selected(login, _) => Ok(&login.principal),
            State::NotAuthenticated | State::Logout => Err(Failure::Bad("Log in first".into())),
        }
    }

    /// What a command on the selected mailbox works with.
    fn in_mailbox(&mut self) -> Result<(&mut Selected, Cx<'_>), Failure> {
        match &mut self.state {
            State::Selected(login, s) => {
                let cx = Cx {
                    service: &self.gw.service,
                    p: &login.principal,
                    out: &mut self.out,
                    io: &mut self.io,
                };
                Ok((s, cx))
            }
            _ => Err(Failure::Bad("Select a mailbox first".into())),
        }
    }

    /// Runs a command in the state it needs, or says why not.
    async fn execute(&mut self, tag: &str, request: Request) -> Outcome {
        match (needs(&request), &self.state) {
            (Needs::Any, _) => self.execute_any(request),
            (Needs::NotAuthenticated, State::NotAuthenticated) => match request {
                Request::Login { user, password } => self.login(&user, &password).await,
                _ => Err(Failure::Bad("This command is handled elsewhere".into())),
            },
            (Needs::NotAuthenticated, _) => Err(Failure::Bad("Already logged in".into())),
            (Needs::Authenticated, State::Authenticated(_) | State::Selected(..)) => {
                self.execute_authenticated(request).await
            }
            (Needs::Selected, State::Selected(..)) => self.execute_selected(tag, request).await,
            (Needs::Selected, State::Authenticated(_)) => Err(Failure::Bad("Select a mailbox first".into())),
            (_, _) => Err(Failure::Bad("Log in first".into())),
        }
    }

    /// CAPABILITY, NOOP and ID, in any state.
    fn execute_any(&mut self, request: Request) -> Outcome {
        match request {
            Request::Capability => {
                self.line(&format!("* CAPABILITY {}", self.capabilities()));
                Ok("CAPABILITY completed".into())
            }
            Request::Noop => Ok("NOOP completed".into()),
            Request::Id { .. } => {
                let version = env!("CARGO_PKG_VERSION");
                self.line(&format!("* ID (\"name\" \"Mailroom\" \"version\" \"{version}\")"));
                Ok("ID completed".into())
            }
            other => Err(Failure::Bad(format!("{} is not a command of this state", other.name()))),
        }
    }

    /// A command of the authenticated state (also given when selected).
    async fn execute_authenticated(&mut self, request: Request) -> Outcome {
        match request {
            Request::Enable { capabilities } => {
                self.principal()?;
                let mut enabled = Vec::new();
                for capability in capabilities {
                    match capability.as_str() {
                        "CONDSTORE" if !self.condstore => enabled.push("CONDSTORE"),
                        "QRESYNC" if !self.qresync => {
                            self.qresync = true;
                            enabled.push("QRESYNC");
                        }
                        _ => {}
                    }
                }
                if !enabled.is_empty() {
                    self.enable_condstore();
                }
                self.line(format!("* ENABLED {}", enabled.join(" ")).trim_end());
                Ok("ENABLE completed".into())
            }
            Request::Namespace => {
                self.principal()?;
                self.line("* NAMESPACE ((\"\" \"/\")) ((\"~\" \"/\")) ((\"~public/\" \"/\"))");
                Ok("NAMESPACE completed".into())
            }
            Request::Select {
                mailbox,
                read_only,
                params,
            } => {
                if params.qresync.is_some() && !self.qresync {
                    return Err(Failure::Bad("ENABLE QRESYNC first".into()));
                }
                if params.condstore {
                    self.condstore = true;
                }
                self.select(&mailbox, read_only, params.qresync.as_ref()).await
            }
            Request::Create { mailbox } => {
                let p = self.principal()?;
                let name = mailbox.trim_end_matches('/');
                self.gw.service.create_mailbox(p, name).await?;
                Ok("CREATE completed".into())
            }
            Request::Delete { mailbox } => {
                let p = self.principal()?;
                self.gw.service.delete_mailbox(p, &mailbox).await?;
                Ok("DELETE completed".into())
            }
            Request::Rename { from, to } => {
                let p = self.principal()?;
                self.gw.service.rename_mailbox(p, &from, &to).await?;
                Ok("RENAME completed".into())
            }
            Request::Subscribe { mailbox } => {
                let p = self.principal()?;
                self.gw.service.subscribe(p, &mailbox).await?;
                Ok("SUBSCRIBE completed".into())
            }
            Request::Unsubscribe { mailbox } => {
                let p = self.principal()?;
                self.gw.service.unsubscribe(p, &mailbox).await?;
                Ok("UNSUBSCRIBE completed".into())
            }
            Request::List {
                reference,
                patterns,
                selection,
                returns,
                lsub,
            } => {
                let p = self.principal()?.clone();
                // Each pattern is matched against every name the user
                // may see: patterns as long as a command line would make
                // one LIST cost seconds.
                let too_long = |s: &String| s.chars().count() > crate::limits::LIST_PATTERN;
                if too_long(&reference)
                    || patterns.iter().any(too_long)
                    || patterns.len() > crate::limits::LIST_PATTERNS
                {
                    return Err(Failure::Bad(format!(
                        "A LIST takes at most {} patterns of at most {} characters",
                        crate::limits::LIST_PATTERNS,
                        crate::limits::LIST_PATTERN
                    )));
                }
                let query = super::list::Query {
                    reference: &reference,
                    patterns: &patterns,
                    selection: &selection,
                    returns: &returns,
                    lsub,
                };
                super::list::list(&self.gw.service, &p, &query, &mut self.out).await?;
                Ok(format!("{} completed", if lsub { "LSUB" } else { "LIST" }))
            }
            Request::Status { mailbox, items } => self.status(&mailbox, &items).await,
            Request::Append { mailbox, messages } => self.append(&mailbox, messages).await,
            Request::Notify { set } => self.notify(set).await,
            request @ (Request::GetAcl { .. }
            | Request::SetAcl { .. }
            | Request::DeleteAcl { .. }
            | Request::ListRights { .. }
            | Request::MyRights { .. }
            | Request::GetQuotaRoot { .. }
            | Request::GetQuota { .. }
            | Request::SetQuota) => self.access(request).await,
            other => Err(Failure::Bad(format!("{} is not a command of this state", other.name()))),
        }
    }

    /// The rights and quota commands (RFC 4314, RFC 9208).
    async fn access(&mut self, request: Request) -> Outcome {
        match request {
            Request::GetAcl { mailbox } => {
                let p = self.principal()?;
                let acl = self.gw.service.get_acl(p, &mailbox).await?;
                let mut line = b"* ACL ".to_vec();
                response::mailbox(&mut line, &mailbox);
                for entry in &acl {
                    line.push(b' ');
                    response::astring(&mut line, identifier(entry).as_bytes());
                    line.push(b' ');
                    response::astring(&mut line, entry.rights.to_string().as_bytes());
                }
                self.out.extend_from_slice(&line);
                self.out.extend_from_slice(b"\r\n");
                Ok("GETACL completed".into())
            }
            Request::SetAcl {
                mailbox,
                identifier,
                rights,
            } => {
                let p = self.principal()?;
                self.gw.service.set_acl(p, &mailbox, &identifier, &rights).await?;
                Ok("SETACL completed".into())
            }
            Request::DeleteAcl { mailbox, identifier } => {
                let p = self.principal()?;
                self.gw.service.delete_acl(p, &mailbox, &identifier).await?;
                Ok("DELETEACL completed".into())
            }
            Request::ListRights { mailbox, identifier } => {
                let p = self.principal()?;
                let (required, optional) = self.gw.service.list_rights(p, &mailbox, &identifier).await?;
                let mut line = b"* LISTRIGHTS ".to_vec();
                response::mailbox(&mut line, &mailbox);
                line.push(b' ');
                response::astring(&mut line, identifier.as_bytes());
                line.push(b' ');
                response::astring(&mut line, required.to_string().as_bytes());
                for rights in optional {
                    line.push(b' ');
                    response::astring(&mut line, rights.to_string().as_bytes());
                }
                self.out.extend_from_slice(&line);
                self.out.extend_from_slice(b"\r\n");
                Ok("LISTRIGHTS completed".into())
            }
            Request::MyRights { mailbox } => {
                let p = self.principal()?;
                let rights = self.gw.service.my_rights(p, &mailbox).await?;
                let mut line = b"* MYRIGHTS ".to_vec();
                response::mailbox(&mut line, &mailbox);
                line.push(b' ');
                response::astring(&mut line, rights.to_string().as_bytes());
                self.out.extend_from_slice(&line);
                self.out.extend_from_slice(b"\r\n");
                Ok("MYRIGHTS completed".into())
            }
            Request::GetQuotaRoot { mailbox } => {
                let p = self.principal()?;
                let roots = self.gw.service.quota_roots(p, &mailbox).await?;
                let mut line = b"* QUOTAROOT ".to_vec();
                response::mailbox(&mut line, &mailbox);
                for root in &roots {
                    line.push(b' ');
                    response::astring(&mut line, root.name.as_bytes());
                }
                line.extend_from_slice(b"\r\n");
                for root in &roots {
                    quota_line(&mut line, root);
                }
                self.out.extend_from_slice(&line);
                Ok("GETQUOTAROOT completed".into())
            }
            Request::GetQuota { root } => {
                let p = self.principal()?;
                let root = self.gw.service.quota_root(p, &root).await?;
                let mut line = Vec::new();
                quota_line(&mut line, &root);
                self.out.extend_from_slice(&line);
                Ok("GETQUOTA completed".into())
            }
            Request::SetQuota => {
                self.principal()?;
                Err(Failure::No("[NOPERM] Quotas are set by an administrator".into()))
            }
            other => Err(Failure::Bad(format!("{} is not a command of this state", other.name()))),
        }
    }

    /// A command of the selected state.
    async fn execute_selected(&mut self, tag: &str, request: Request) -> Outcome {
        match request {
            Request::Check => {
                self.in_mailbox()?;
                Ok("CHECK completed".into())
            }
            Request::Close => {
                let (s, cx) = self.in_mailbox()?;
                s.close(cx.service).await;
                self.deselect();
                Ok("CLOSE completed".into())
            }
            Request::Unselect => {
                self.deselect();
                Ok("UNSELECT completed".into())
            }
            Request::Expunge { uids } => {
                let (s, cx) = self.in_mailbox()?;
                s.expunge(cx, uids.as_ref()).await
            }
            Request::Fetch {
                set,
                uid,
                items,
                changed_since,
                vanished,
            } => {
                if vanished && !self.qresync {
                    return Err(Failure::Bad("VANISHED needs ENABLE QRESYNC".into()));
                }
                if changed_since.is_some() || items.contains(&FetchItem::Modseq) {
                    self.in_mailbox()?;
                    self.enable_condstore();
                }
                let (s, cx) = self.in_mailbox()?;
                s.fetch_changed(cx, &set, uid, &items, changed_since.map(|n| (n, vanished)))
                    .await
            }
            Request::StoreFlags {
                set,
                uid,
                op,
                silent,
                flags,
                unchanged_since,
            } => {
                let flags = Flags::parse(flags.iter().map(String::as_str)).map_err(|e| Failure::Bad(e.to_string()))?;
                if unchanged_since.is_some() {
                    self.in_mailbox()?;
                    self.enable_condstore();
                }
                let (s, cx) = self.in_mailbox()?;
                let args = StoreArgs {
                    set: &set,
                    uid,
                    op,
                    silent,
                    flags: &flags,
                    unchanged_since,
                };
                s.store(cx, args).await
            }
            Request::Search {
                uid,
                charset,
                key,
                returns,
            } => {
                if let Some(charset) = charset {
                    known_charset(&charset)?;
                }
                self.in_mailbox()?;
                if key.uses_modseq() {
                    self.enable_condstore();
                }
                let (s, cx) = self.in_mailbox()?;
                match returns {
                    Some(returns) => s.esearch(cx, tag, uid, &key, &returns).await,
                    None => s.search(cx, uid, &key).await,
                }
            }
            Request::CancelUpdate { tags } => {
                let (s, _) = self.in_mailbox()?;
                s.cancel_updates(&tags)
            }
            Request::Sort {
                uid,
                criteria,
                charset,
                key,
                returns,
            } => {
                known_charset(&charset)?;
                let (s, cx) = self.in_mailbox()?;
                let args = SortArgs {
                    tag,
                    uid,
                    criteria: &criteria,
                    key: &key,
                    returns: returns.as_deref(),
                };
                s.sort(cx, args).await
            }
            Request::Thread {
                uid,
                references,
                charset,
                key,
            } => {
                known_charset(&charset)?;
                let (s, cx) = self.in_mailbox()?;
                if references {
                    s.thread_references(cx, uid, &key).await
                } else {
                    s.thread(cx, uid, &key).await
                }
            }
            Request::Copy { set, uid, mailbox } => {
                let (s, cx) = self.in_mailbox()?;
                s.copy(cx, &set, uid, &mailbox, false).await
            }
            Request::Move { set, uid, mailbox } => {
                let (s, cx) = self.in_mailbox()?;
                s.copy(cx, &set, uid, &mailbox, true).await
            }
            other => Err(Failure::Bad(format!("{} is not a command of this state", other.name()))),
        }
    }

    async fn starttls(&mut self, tag: &str) -> io::Result<bool> {
        let Some(acceptor) = self.gw.tls.clone() else {
            self.line(&format!("{tag} BAD STARTTLS is not offered"));
            return Ok(true);
        };
        if self.io.is_tls() || self.logged_in() {
            self.line(&format!("{tag} BAD TLS is already active or you are logged in"));
            return Ok(true);
        }
        self.line(&format!("{tag} OK Begin TLS negotiation now"));
        self.flush().await?;
        // Whatever the client sent after STARTTLS in the clear is dropped
        // (an attacker could have injected it).
        self.framer = Framer::new(Limits::BEFORE_LOGIN);
        let handshake = tokio::time::timeout(self.timeout(), self.io.upgrade(&acceptor)).await;
        match handshake {
            Ok(Ok(())) => Ok(true),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
        }
    }

    fn may_log_in(&self) -> Result<(), Failure> {
        if self.logged_in() {
            return Err(Failure::Bad("Already logged in".into()));
        }
        if self.gw.config.require_tls && !self.io.is_tls() {
            return Err(Failure::No(
                "[PRIVACYREQUIRED] Use STARTTLS or the implicit-TLS port first".into(),
            ));
        }
        Ok(())
    }

    async fn login(&mut self, user: &str, password: &str) -> Outcome {
        self.may_log_in()?;
        let (principal, authority, slot) = gateway::log_in(
            &self.gw.service,
            &self.gw.connections,
            user,
            password,
            self.peer,
            mailroom_shared::team::Via::Imap,
        )
        .await
        .map_err(|refused| match refused {
            LoginRefused::Service(e) => Failure::from(e),
            LoginRefused::TooManySessions => Failure::No("[LIMIT] Too many sessions for this account".into()),
        })?;
        self.state = State::Authenticated(Login {
            principal,
            authority,
            _account_slot: slot,
        });
        self.framer.set_limits(self.gw.config.limits);
        Ok(format!("[CAPABILITY {}] Logged in", self.capabilities()))
    }

    async fn authenticate(&mut self, mechanism: &str, initial: Option<String>) -> io::Result<Outcome> {
        if let Err(f) = self.may_log_in() {
            return Ok(Err(f));
        }
        if mechanism != "PLAIN" {
            return Ok(Err(Failure::No(format!("{mechanism} is not supported; use PLAIN"))));
        }
        let response = match initial {
            Some(i) if i == "=" => Vec::new(),
            Some(i) => i.into_bytes(),
            None => {
                self.out.extend_from_slice(b"+ \r\n");
                self.flush().await?;
                match self.next_event().await? {
                    Ok(Event::Command(line)) => line,
                    Ok(_) => return Ok(Err(Failure::Bad("Unusable AUTHENTICATE response".into()))),
                    Err(_) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "gone during AUTHENTICATE")),
                }
            }
        };
        if response == b"*" {
            return Ok(Err(Failure::Bad("AUTHENTICATE cancelled".into())));
        }
        Ok(match sasl::plain(&response) {
            Ok((user, password)) => self.login(&user, &password).await,
            Err(e) => Err(Failure::Bad(e.into())),
        })
    }

    /// Turns CONDSTORE on; the first time, with a mailbox selected, tells
    /// the client its HIGHESTMODSEQ (RFC 7162 §3.1).
    fn enable_condstore(&mut self) {
        if !self.condstore
            && let Some(selected) = self.selected()
        {
            let highest = selected.highest_modseq();
            self.line(&format!("* OK [HIGHESTMODSEQ {highest}] Highest"));
        }
        self.condstore = true;
        let qresync = self.qresync;
        if let Some(selected) = self.selected_mut() {
            selected.condstore = true;
            selected.qresync = qresync;
        }
    }

    async fn select(&mut self, name: &str, examine: bool, qresync: Option<&Qresync>) -> Outcome {
        // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
        let previous = self.deselect();
        if previous.is_some() && self.qresync {
            self.line("* OK [CLOSED] Previous mailbox closed");
        }
        let p = self.principal()?.clone();
        let kept = previous.filter(|s| s.name == name).map(|s| *s);
        let selected = Selected::open(&self.gw.service, &p, name, examine, &mut self.out, kept)
            .await
            .map_err(|failure| match failure {
                // A name no mailbox can have names none that exists.
                Failure::Bad(text) => Failure::No(format!("[NONEXISTENT] {text}")),
                other => other,
            })?;
        let mut selected = selected;
        selected.indexed_search_from = self.gw.config.indexed_search_from;
        selected.condstore = self.condstore;
        selected.qresync = self.qresync;
        if let Some(q) = qresync {
            selected.resync(&self.gw.service, &p, &mut self.out, q).await?;
        }
        let mode = if selected.read_only { "READ-ONLY" } else { "READ-WRITE" };
        self.state = match std::mem::replace(&mut self.state, State::Logout) {
            State::Authenticated(login) => State::Selected(login, Box::new(selected)),
            other => other,
        };
        Ok(format!(
            "[{mode}] {} completed",
            if examine { "EXAMINE" } else { "SELECT" }
        ))
    }

    async fn status(&mut self, name: &str, items: &[String]) -> Outcome {
        let p = self.principal()?;
        let info = self.gw.service.mailbox(p, name).await?;
        let counts = self.gw.service.counts(p, name).await?;
        let mut values = Vec::new();
        for item in items {
            let item = item.to_ascii_uppercase();
            let value = match item.as_str() {
                "MESSAGES" => counts.messages.to_string(),
                "UNSEEN" => counts.unseen.to_string(),
                "RECENT" => self.gw.service.recent_count(p, name).await?.to_string(),
                "UIDNEXT" => info.uidnext.to_string(),
                "UIDVALIDITY" => info.uidvalidity.to_string(),
                "HIGHESTMODSEQ" => info.highest_modseq.to_string(),
                "APPENDLIMIT" => MAX_MESSAGE_SIZE.to_string(),
                other => return Err(Failure::Bad(format!("{other} is not a STATUS item"))),
            };
            values.push(format!("{item} {value}"));
        }
        let mut line = b"* STATUS ".to_vec();
        response::mailbox(&mut line, name);
        line.extend_from_slice(format!(" ({})\r\n", values.join(" ")).as_bytes());
        self.out.extend_from_slice(&line);
        Ok("STATUS completed".into())
    }

    /// APPEND of one message or (MULTIAPPEND) several, all or none.
    async fn append(&mut self, name: &str, messages: Vec<Appended>) -> Outcome {
        let p = self.principal()?;
        if messages.iter().any(|m| m.catenate.is_some()) {
            // A missing target is TRYCREATE before any URL is looked at.
            self.gw.service.mailbox(p, name).await.map_err(try_create)?;
        }
        let mut parsed = Vec::with_capacity(messages.len());
        for Appended {
            flags,
            date,
            message,
            catenate,
        } in messages
        {
            let message = match catenate {
                Some(pieces) => self.catenate(&pieces).await?,
                None => message,
            };
            let flags = Flags::parse(flags.iter().map(String::as_str)).map_err(|e| Failure::Bad(e.to_string()))?;
            let date = match date {
                Some(d) => Some(parse_date_time(&d).ok_or_else(|| Failure::Bad(format!("{d} is not a date-time")))?),
                None => None,
            };
            // Binary parts (BINARY, RFC 3516) are stored in base64.
            let message = mime::binary_parts_to_base64(&message).unwrap_or(message);
            parsed.push((message, flags, date));
        }
        let result = self.gw.service.append_many(p, name, parsed).await;
        let (uidvalidity, uids) = result.map_err(try_create)?;
        let uids: Vec<String> = uids.iter().map(u32::to_string).collect();
        Ok(format!("[APPENDUID {uidvalidity} {}] APPEND completed", uids.join(",")))
    }

    /// NOTIFY SET (RFC 5465): the mailboxes its filters name, as they are
    /// now, watched for the events asked; with STATUS, their state at once.
    /// NOTIFY NONE stops it. The selected mailbox is reported as always.
    async fn notify(&mut self, set: Option<NotifySet>) -> Outcome {
        let p = self.principal()?.clone();
        let Some(set) = set else {
            self.notify = None;
            return Ok("NOTIFY completed".into());
        };
        const KNOWN: [&str; 8] = [
            "MESSAGENEW",
            "MESSAGEEXPUNGE",
            "FLAGCHANGE",
            "ANNOTATIONCHANGE",
            "MAILBOXNAME",
            "SUBSCRIPTIONCHANGE",
            "MAILBOXMETADATACHANGE",
            "SERVERMETADATACHANGE",
        ];
        let service = &self.gw.service;
        let mut items: HashMap<String, Vec<String>> = HashMap::new();
        for (filter, events) in &set.groups {
            if let Some(bad) = events.iter().find(|e| !KNOWN.contains(&e.as_str())) {
                return Err(Failure::No(format!(
                    "[BADEVENT (MessageNew MessageExpunge FlagChange MailboxName)] {bad} is not an event"
                )));
            }
            let mut wanted = Vec::new();
            for event in events {
                match event.as_str() {
                    "MESSAGENEW" => wanted.extend(["MESSAGES", "UIDNEXT", "UIDVALIDITY"]),
                    "MESSAGEEXPUNGE" => wanted.push("MESSAGES"),
                    "FLAGCHANGE" => wanted.extend(["UIDVALIDITY", "HIGHESTMODSEQ"]),
                    _ => {}
                }
            }
            let all = || async { service.list_mailboxes(&p).await.map(|l| l.into_iter().map(|i| i.name)) };
            let names: Vec<String> = match filter {
                NotifyFilter::Selected => Vec::new(),
                NotifyFilter::Inboxes => vec!["INBOX".into()],
                NotifyFilter::Personal => all().await?.filter(|n| !n.starts_with('~')).collect(),
                NotifyFilter::Subscribed => service.subscriptions(&p).await?,
                NotifyFilter::Mailboxes(names) => names.clone(),
                NotifyFilter::Subtree(roots) => all()
                    .await?
                    .filter(|n| roots.iter().any(|r| n == r || n.starts_with(&format!("{r}/"))))
                    .collect(),
            };
            for name in names {
                let entry = items.entry(name).or_default();
                for item in &wanted {
                    if !entry.iter().any(|i| i == item) {
                        entry.push((*item).to_owned());
                    }
                }
            }
        }
        // One order for every STATUS: MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ.
        let order = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "HIGHESTMODSEQ"];
        for list in items.values_mut() {
            list.sort_by_key(|i| order.iter().position(|o| o == i));
        }
        let names: Vec<String> = items.keys().cloned().collect();
        let watch = service.watch_mailboxes(&p, &names).await?;
        self.notify = Some(Notifying { watch, items });
        if set.status {
            let mut names = names;
            names.sort();
            self.report_status(&names).await;
        }
        Ok("NOTIFY completed".into())
    }

    /// STATUS of each of `names` with the items NOTIFY asked for (none for
    /// the selected mailbox, which has its own reports).
    async fn report_status(&mut self, names: &[String]) {
        for name in names {
            let Some(items) = self.notify.as_ref().and_then(|n| n.items.get(name)).cloned() else {
                continue;
            };
            if items.is_empty() || self.selected().is_some_and(|s| &s.name == name) {
                continue;
            }
            // A mailbox gone or no longer readable just says nothing.
            let _ = self.status(name, &items).await;
        }
    }

    /// Reports what NOTIFY watches: `changed` (from IDLE), or what the
    /// watch gathered since the last report.
    async fn report_notified(&mut self, changed: Option<Vec<(String, bool)>>) {
        let Some(n) = self.notify.as_mut() else { return };
        let changed = changed.unwrap_or_else(|| n.watch.drain());
        if changed.is_empty() {
            return;
        }
        let names: Vec<String> = changed.into_iter().map(|(name, _)| name).collect();
        self.report_status(&names).await;
    }

    /// A CATENATE message (RFC 4469): its text pieces and what its IMAP
    /// URLs name — `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]`, read
    /// with the session's own rights — in order.
    async fn catenate(&self, pieces: &[Piece]) -> Result<Vec<u8>, Failure> {
        let p = self.principal()?;
        let mut out = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Text(text) => out.extend_from_slice(text),
                Piece::Url(url) => {
                    let bad = |why: &str| Failure::No(format!("[BADURL {url}] {why}"));
                    let target =
                        parse_imap_url(url).ok_or_else(|| bad("not an IMAP URL of a message on this server"))?;
                    let service = &self.gw.service;
                    let info = service
                        .mailbox(p, &target.mailbox)
                        .await
                        .map_err(|e| bad(&e.to_string()))?;
                    if target.uidvalidity.is_some_and(|v| v != info.uidvalidity) {
                        return Err(bad("the UIDVALIDITY changed"));
                    }
                    let bytes = service
                        .fetch(p, &target.mailbox, target.uid)
                        .await
                        .map_err(|e| bad(&e.to_string()))?;
                    let part = match &target.section {
                        Some(section) => mime::section(&bytes, section).ok_or_else(|| bad("no such section"))?,
                        None => bytes,
                    };
                    let (start, count) = target.partial.unwrap_or((0, usize::MAX));
                    let start = start.min(part.len());
                    out.extend_from_slice(&part[start..start.saturating_add(count).min(part.len())]);
                }
            }
        }
        Ok(out)
    }

    /// IDLE (RFC 2177): reports changes as they happen until `DONE`.
    async fn idle(&mut self, tag: &str) -> io::Result<bool> {
        if !self.logged_in() {
            self.line(&format!("{tag} BAD Log in first"));
            return Ok(true);
        }
        self.line("+ idling");
        if !self.sync_now().await {
            return Ok(false);
        }
        self.flush().await?;
        let timeout = self.gw.config.idle_timeout;
        let keepalive = self.gw.config.idle_keepalive;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (authority, watch) = watches(&mut self.state);
            let notified = self.notify.as_mut().map(|n| &mut n.watch);
            let woke = tokio::select! {
                event = read_event(&mut self.io, &mut self.framer, timeout) => Woke::Input(event?),
                changes = next_changes(watch) => Woke::Changes(changes),
                changed = next_notified(notified) => Woke::Notified(changed),
                () = Authority::moved(authority) => Woke::Authority,
                _ = tokio::time::sleep(keepalive) => Woke::Keepalive,
            };
            match woke {
                Woke::Input(Ok(Event::Command(line))) if line.eq_ignore_ascii_case(b"DONE") => break,
                Woke::Input(Ok(_)) => {
                    self.line(&format!("{tag} BAD Expected DONE"));
                    return Ok(true);
                }
                Woke::Input(Err(_)) => return Ok(false),
                Woke::Changes(Ok(changes)) => {
                    // What the watch hands out is in the log already: report it
                    // as it comes, without reading the log again.
                    if let State::Selected(_, selected) = &mut self.state
                        && let Err(e) = selected.take(&self.gw.service, &mut self.out, changes, true).await
                    {
                        self.deselect();
                        self.line(&format!("* BYE {e}"));
                        return Ok(false);
                    }
                }
                Woke::Changes(Err(e)) => {
                    self.deselect();
                    self.line(&format!("* BYE {e}"));
                    return Ok(false);
                }
                Woke::Notified(changed) => self.report_notified(Some(changed)).await,
                Woke::Authority => {
                    if !self.authority_holds(true).await {
                        self.line(REVOKED);
                        self.flush().await?;
                        return Ok(false);
                    }
                }
                Woke::Keepalive => {
                    if tokio::time::Instant::now() >= deadline {
                        self.line("* BYE Autologout; idle for too long");
                        self.flush().await?;
                        return Ok(false);
                    }
                    self.line("* OK Still here");
                }
            }
            self.flush().await?;
        }
        self.line(&format!("{tag} OK IDLE terminated"));
        Ok(true)
    }

    /// Reports every pending change now; `false` if the mailbox is gone.
    async fn sync_now(&mut self) -> bool {
        let since = self.gw.service.commits_so_far();
        let State::Selected(_, selected) = &mut self.state else {
            return true;
        };
        if let Err(e) = selected.sync(&self.gw.service, &mut self.out, true, since).await {
            self.deselect();
            self.line(&format!("* BYE {e}"));
            return false;
        }
        true
    }
}

enum Woke {
    Input(Result<Event, ReadEnd>),
    /// Mailboxes NOTIFY watches changed.
    Notified(Vec<(String, bool)>),
    Changes(crate::error::Result<Vec<crate::service::Change>>),
    /// Some account lost authority.
    Authority,
    Keepalive,
}

/// The next changes of the mailboxes NOTIFY watches, or never without
/// NOTIFY (or once the server stops).
async fn next_notified(watch: Option<&mut MailboxesWatch>) -> Vec<(String, bool)> {
    match watch {
        Some(w) => match w.next().await {
            Ok(changed) => changed,
            Err(_) => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

/// The next changes of the watched mailbox, or never without one.
async fn next_changes(watch: Option<&mut crate::service::Watch>) -> crate::error::Result<Vec<crate::service::Change>> {
    match watch {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

/// Reads until the framer has an event. Cancel-safe: `read_buf` reads
/// straight into the framer's buffer or not at all. (No buffer of its
/// own: this future is part of every idle session's task, and a 16 KiB
/// array in it made each idle connection ~7 KiB bigger. Nor the framer's
/// while nothing is waiting in it: the buffer is made when bytes come.)
async fn read_event(io: &mut Stream, framer: &mut Framer, timeout: Duration) -> io::Result<Result<Event, ReadEnd>> {
    loop {
        if let Some(event) = framer.next_event() {
            return Ok(Ok(event));
        }
        let drained = framer.release_input();
        let read = async {
            if drained {
                io.readable().await?;
            }
            io.read_buf(framer.input_space()).await
        };
        match tokio::time::timeout(timeout, read).await {
            Err(_) => return Ok(Err(ReadEnd::Timeout)),
            Ok(Ok(0)) => return Ok(Err(ReadEnd::Eof)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(Err(ReadEnd::Eof)),
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// An ACL entry's identifier as IMAP writes it (`-bob` for a negative one).
/// A relative IMAP URL of a message (RFC 5092):
/// `/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s]`, the mailbox
/// percent-encoded modified UTF-7. Returns the mailbox, UIDVALIDITY,
/// UID and section.
fn parse_imap_url(url: &str) -> Option<ImapUrl> {
    let rest = url.strip_prefix('/')?;
    let mut parts = rest.split("/;");
    let mailbox = parts.next()?;
    let (mailbox, uidvalidity) = match mailbox.split_once(';') {
        Some((name, param)) => {
            let (key, value) = param.split_once('=')?;
            if !key.eq_ignore_ascii_case("UIDVALIDITY") {
                return None;
            }
            (name, Some(value.parse().ok()?))
        }
        None => (mailbox, None),
    };
    let decoded = percent_encoding::percent_decode_str(mailbox).collect::<Vec<u8>>();
    let name = super::utf7::decode(&decoded).ok()?;
    let (mut uid, mut section, mut partial) = (None, None, None);
    for part in parts {
        let (key, value) = part.split_once('=')?;
        match key.to_ascii_uppercase().as_str() {
            "UID" => uid = Some(value.parse().ok()?),
            "SECTION" => {
                let text = percent_encoding::percent_decode_str(value).decode_utf8().ok()?;
                section = Some(command::parse_section(&text)?);
            }
            "PARTIAL" => {
                let (start, count) = value.split_once('.').unwrap_or((value, ""));
                let count = if count.is_empty() {
                    usize::MAX
                } else {
                    count.parse().ok()?
                };
                partial = Some((start.parse().ok()?, count));
            }
            _ => return None,
        }
    }
    Some(ImapUrl {
        mailbox: name,
        uidvalidity,
        uid: uid?,
        section,
        partial,
    })
}

/// What a CATENATE URL names.
struct ImapUrl {
    mailbox: String,
    uidvalidity: Option<u32>,
    uid: u32,
    section: Option<command::Section>,
    /// `;PARTIAL=start.count`.
    partial: Option<(usize, usize)>,
}

/// SEARCH, SORT and THREAD read text in UTF-8 (US-ASCII being part of it).
fn known_charset(charset: &str) -> Result<(), Failure> {
    if matches!(charset, "UTF-8" | "US-ASCII") {
        Ok(())
    } else {
        Err(Failure::No("[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset".into()))
    }
}

fn identifier(entry: &AclEntry) -> String {
    if entry.negative {
        format!("-{}", entry.identifier)
    } else {
        entry.identifier.to_string()
    }
}

/// A missing target mailbox of APPEND, COPY or MOVE: `NO [TRYCREATE]`.
pub(super) fn try_create(e: Error) -> Failure {
    match e {
        Error::NotFound(m) => Failure::No(format!("[TRYCREATE] {m}")),
        other => other.into(),
    }
}

/// `"17-Jul-1996 02:44:25 -0700"` as seconds since the epoch.
fn parse_date_time(s: &str) -> Option<i64> {
    let (date, rest) = s.trim().split_once(' ')?;
    let (time, zone) = rest.trim().split_once(' ')?;
    let day = super::search::parse_day(date)?;
    let mut hms = time.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Matched, not sliced: the zone is the client's text, and a byte
    // index could fall inside a multi-byte character.
    let (sign, digits) = match zone.split_at_checked(1)? {
        ("+", digits) => (1, digits),
        ("-", digits) => (-1, digits),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zone: i64 = digits.parse().ok()?;
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    Some(day * 86_400 + h * 3600 + m * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_dates() {
        assert_eq!(parse_date_time("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(parse_date_time(" 1-Jan-1970 01:00:00 +0100"), Some(0));
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25 -0700"), Some(837_596_665));
        assert_eq!(parse_date_time("17-Jul-1996 25:44:25 -0700"), None);
        assert_eq!(parse_date_time("yesterday"), None);
        // Multi-byte text where the zone's sign or digits belong.
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25 é123"), None);
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25 +é12"), None);
        assert_eq!(parse_date_time("17-Jul-1996 02:44:25 +0-70"), None);
    }
}
