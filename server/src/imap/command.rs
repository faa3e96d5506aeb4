//! Typed IMAP commands, parsed from one framed command (RFC 3501 §6,
//! RFC 4314 ACL, RFC 6851 MOVE, RFC 4315 UID EXPUNGE, RFC 2177 IDLE,
//! RFC 2342 NAMESPACE, RFC 5161 ENABLE, RFC 2971 ID, RFC 3691 UNSELECT).
//! Mailbox names come out decoded from modified UTF-7.

use mailroom_shared::FlagOp;

use super::syntax::{Cursor, SequenceSet, SyntaxError};
use super::utf7;

/// A command with its tag.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub request: Request,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    Capability,
    Noop,
    Logout,
    StartTls,
    Login {
        user: String,
        password: String,
    },
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    Select {
        mailbox: String,
        read_only: bool,
        params: SelectParams,
    },
    Create {
        mailbox: String,
    },
    Delete {
        mailbox: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Subscribe {
        mailbox: String,
    },
    Unsubscribe {
        mailbox: String,
    },
    /// LIST (with RFC 5258 selection and return options and several
    /// patterns), or LSUB with `lsub`.
    List {
        reference: String,
        patterns: Vec<String>,
        /// Selection options, upper-case: SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE.
        selection: Vec<String>,
        /// Return options, upper-case: SUBSCRIBED, CHILDREN, SPECIAL-USE.
        returns: Vec<String>,
        lsub: bool,
    },
    Status {
        mailbox: String,
        items: Vec<String>,
    },
    /// APPEND, with RFC 3502 MULTIAPPEND's several messages.
    Append {
        mailbox: String,
        messages: Vec<Appended>,
    },
    Namespace,
    Idle,
    Check,
    Close,
    Unselect,
    /// EXPUNGE, or UID EXPUNGE with a set.
    Expunge {
        uids: Option<SequenceSet>,
    },
    Fetch {
        set: SequenceSet,
        uid: bool,
        items: Vec<FetchItem>,
        /// RFC 7162 `(CHANGEDSINCE n [VANISHED])`.
        changed_since: Option<u64>,
        vanished: bool,
    },
    StoreFlags {
        set: SequenceSet,
        uid: bool,
        op: FlagOp,
        silent: bool,
        flags: Vec<String>,
        /// RFC 7162 `(UNCHANGEDSINCE n)`.
        unchanged_since: Option<u64>,
    },
    Search {
        uid: bool,
        charset: Option<String>,
        key: super::search::Key,
        /// RFC 4731 `RETURN (…)`, upper-case: answered with `* ESEARCH`.
        returns: Option<Vec<String>>,
    },
    /// THREAD (RFC 5256): REFERENCES, or else ORDEREDSUBJECT.
    Thread {
        uid: bool,
        references: bool,
        charset: String,
        key: super::search::Key,
    },
    /// NOTIFY (RFC 5465): `None` for NOTIFY NONE.
    Notify {
        set: Option<NotifySet>,
    },
    /// RFC 5267: stop the updates of these searches.
    CancelUpdate {
        tags: Vec<String>,
    },
    /// SORT (RFC 5256), with ESORT's `RETURN (…)` (RFC 5267).
    Sort {
        uid: bool,
        criteria: Vec<super::sort::Criterion>,
        charset: String,
        key: super::search::Key,
        returns: Option<Vec<String>>,
    },
    Copy {
        set: SequenceSet,
        uid: bool,
        mailbox: String,
    },
    Move {
        set: SequenceSet,
        uid: bool,
        mailbox: String,
    },
    GetAcl {
        mailbox: String,
    },
    SetAcl {
        mailbox: String,
        identifier: String,
        rights: String,
    },
    DeleteAcl {
        mailbox: String,
        identifier: String,
    },
    ListRights {
        mailbox: String,
        identifier: String,
    },
    MyRights {
        mailbox: String,
    },
    /// RFC 9208.
    GetQuotaRoot {
        mailbox: String,
    },
    GetQuota {
        root: String,
    },
    SetQuota,
    Enable {
        capabilities: Vec<String>,
    },
    Id {
        parameters: Option<IdFields>,
    },
}

impl Request {
    /// The command's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Capability => "CAPABILITY",
            Request::Noop => "NOOP",
            Request::Logout => "LOGOUT",
            Request::StartTls => "STARTTLS",
            Request::Login { .. } => "LOGIN",
            Request::Authenticate { .. } => "AUTHENTICATE",
            Request::Select { .. } => "SELECT",
            Request::Create { .. } => "CREATE",
            Request::Delete { .. } => "DELETE",
            Request::Rename { .. } => "RENAME",
            Request::Subscribe { .. } => "SUBSCRIBE",
            Request::Unsubscribe { .. } => "UNSUBSCRIBE",
            Request::List { .. } => "LIST",
            Request::Status { .. } => "STATUS",
            Request::Append { .. } => "APPEND",
            Request::Namespace => "NAMESPACE",
            Request::Idle => "IDLE",
            Request::Check => "CHECK",
            Request::Close => "CLOSE",
            Request::Unselect => "UNSELECT",
            Request::Expunge { .. } => "EXPUNGE",
            Request::Fetch { .. } => "FETCH",
            Request::StoreFlags { .. } => "STORE",
            Request::Search { .. } => "SEARCH",
            Request::Thread { .. } => "THREAD",
            Request::Notify { .. } => "NOTIFY",
            Request::CancelUpdate { .. } => "CANCELUPDATE",
            Request::Sort { .. } => "SORT",
            Request::Copy { .. } => "COPY",
            Request::Move { .. } => "MOVE",
            Request::GetAcl { .. } => "GETACL",
            Request::SetAcl { .. } => "SETACL",
            Request::DeleteAcl { .. } => "DELETEACL",
            Request::ListRights { .. } => "LISTRIGHTS",
            Request::MyRights { .. } => "MYRIGHTS",
            Request::GetQuotaRoot { .. } => "GETQUOTAROOT",
            Request::GetQuota { .. } => "GETQUOTA",
            Request::SetQuota => "SETQUOTA",
            Request::Enable { .. } => "ENABLE",
            Request::Id { .. } => "ID",
        }
    }
}

/// RFC 2971 ID fields: name and value (`NIL` → `None`).
pub type IdFields = Vec<(String, Option<String>)>;

/// What FETCH asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    Flags,
    Uid,
    /// RFC 7162: the message's MODSEQ.
    Modseq,
    InternalDate,
    Rfc822Size,
    Envelope,
    BodyStructure,
    /// BODY without a section: the non-extensible body structure.
    Body,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// BODY[section]<partial> or BODY.PEEK[…].
    Section {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    /// RFC 3516 BINARY[part]<partial> or BINARY.PEEK[…]: the part with
    /// its transfer encoding undone.
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    /// BINARY.SIZE[part]: the size of that.
    BinarySize {
        part: Vec<u32>,
    },
}

/// A body section: part numbers, then what of that part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// Why a command could not be parsed: answered with `tag BAD …`, or an
/// untagged `* BAD` when even the tag was unreadable.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError {
    pub tag: Option<String>,
    pub message: String,
    /// Well-formed, but naming what cannot exist (a mailbox name that is
    /// not modified UTF-7): a NO rather than a BAD.
    pub refused: bool,
}

/// Parses one framed command.
pub fn parse(input: &[u8]) -> Result<Command, ParseError> {
    let mut c = Cursor::new(input);
    let tag = c
        .tag()
        .map_err(|e| ParseError {
            tag: None,
            message: e.to_string(),
            refused: false,
        })?
        .to_owned();
    let bad = |message: String| ParseError {
        tag: Some(tag.clone()),
        message,
        refused: false,
    };
    c.sp().map_err(|e| bad(e.to_string()))?;
    let name = c.atom().map_err(|e| bad(e.to_string()))?.to_ascii_uppercase();
    let request = request(&mut c, &name).map_err(|e| ParseError {
        refused: matches!(e, ArgError::BadName(_)),
        ..bad(e.to_string())
    })?;
    c.end().map_err(|e| bad(format!("{e} after {name}")))?;
    Ok(Command { tag, request })
}

/// What went wrong in a command's arguments.
#[derive(Debug)]
enum ArgError {
    Syntax(SyntaxError),
    Other(String),
    /// A mailbox name that is not modified UTF-7.
    BadName(String),
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::Syntax(e) => e.fmt(f),
            ArgError::Other(m) | ArgError::BadName(m) => f.write_str(m),
        }
    }
}

impl From<SyntaxError> for ArgError {
    fn from(e: SyntaxError) -> ArgError {
        ArgError::Syntax(e)
    }
}

type Args<T> = Result<T, ArgError>;

fn text(bytes: &[u8], what: &str) -> Args<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ArgError::Other(format!("{what} is not UTF-8")))
}

fn mailbox(c: &mut Cursor) -> Args<String> {
    let raw = c.astring()?;
    utf7::decode(&raw).map_err(|e| ArgError::BadName(e.to_string()))
}

fn sp_mailbox(c: &mut Cursor) -> Args<String> {
    c.sp()?;
    mailbox(c)
}

fn sp_astring(c: &mut Cursor, what: &str) -> Args<String> {
    c.sp()?;
    text(&c.astring()?, what)
}

fn request(c: &mut Cursor, name: &str) -> Args<Request> {
    Ok(match name {
        "CAPABILITY" => Request::Capability,
        "NOOP" => Request::Noop,
        "LOGOUT" => Request::Logout,
        "STARTTLS" => Request::StartTls,
        "NAMESPACE" => Request::Namespace,
        "IDLE" => Request::Idle,
        "CHECK" => Request::Check,
        "CLOSE" => Request::Close,
        "UNSELECT" => Request::Unselect,
        "EXPUNGE" => Request::Expunge { uids: None },
        "LOGIN" => Request::Login {
            user: sp_astring(c, "the user name")?,
            password: sp_astring(c, "the password")?,
        },
        "AUTHENTICATE" => {
            c.sp()?;
            let mechanism = c.atom()?.to_ascii_uppercase();
            let initial = if c.eat(b' ') {
                Some(text(&c.astring()?, "the initial response")?)
            } else {
                None
            };
            Request::Authenticate { mechanism, initial }
        }
        "SELECT" | "EXAMINE" => Request::Select {
            mailbox: sp_mailbox(c)?,
            read_only: name == "EXAMINE",
            params: select_params(c)?,
        },
        "CREATE" => Request::Create {
            mailbox: sp_mailbox(c)?,
        },
        "DELETE" => Request::Delete {
            mailbox: sp_mailbox(c)?,
        },
        "RENAME" => Request::Rename {
            from: sp_mailbox(c)?,
            to: sp_mailbox(c)?,
        },
        "SUBSCRIBE" => Request::Subscribe {
            mailbox: sp_mailbox(c)?,
        },
        "UNSUBSCRIBE" => Request::Unsubscribe {
            mailbox: sp_mailbox(c)?,
        },
        "LIST" | "LSUB" => list(c, name == "LSUB")?,
        "STATUS" => {
            let mailbox = sp_mailbox(c)?;
            c.sp()?;
            let items = paren_atoms(c)?;
            if items.is_empty() {
                return Err(ArgError::Other("STATUS needs at least one item".into()));
            }
            Request::Status { mailbox, items }
        }
        "APPEND" => append(c)?,
        "NOTIFY" => {
            c.sp()?;
            if c.keyword("NONE") {
                Request::Notify { set: None }
            } else if c.keyword("SET") {
                Request::Notify {
                    set: Some(notify_set(c)?),
                }
            } else {
                return Err(ArgError::Other("NOTIFY SET or NOTIFY NONE".into()));
            }
        }
        "CANCELUPDATE" => {
            let mut tags = Vec::new();
            while c.eat(b' ') {
                tags.push(text(&c.string()?, "a tag")?);
            }
            if tags.is_empty() {
                return Err(ArgError::Other("CANCELUPDATE needs a tag".into()));
            }
            Request::CancelUpdate { tags }
        }
        "GETACL" => Request::GetAcl {
            mailbox: sp_mailbox(c)?,
        },
        "MYRIGHTS" => Request::MyRights {
            mailbox: sp_mailbox(c)?,
        },
        "GETQUOTAROOT" => Request::GetQuotaRoot {
            mailbox: sp_mailbox(c)?,
        },
        "GETQUOTA" => Request::GetQuota {
            root: sp_astring(c, "the quota root")?,
        },
        // Quotas are an administrator's to set (the web or the command
        // line); the rest of the command is not read.
        "SETQUOTA" => {
            c.rest();
            Request::SetQuota
        }
        "SETACL" => Request::SetAcl {
            mailbox: sp_mailbox(c)?,
            identifier: sp_astring(c, "the identifier")?,
            rights: sp_astring(c, "the rights")?,
        },
        "DELETEACL" => Request::DeleteAcl {
            mailbox: sp_mailbox(c)?,
            identifier: sp_astring(c, "the identifier")?,
        },
        "LISTRIGHTS" => Request::ListRights {
            mailbox: sp_mailbox(c)?,
            identifier: sp_astring(c, "the identifier")?,
        },
        "ENABLE" => {
            let mut capabilities = Vec::new();
            while c.eat(b' ') {
                capabilities.push(c.atom()?.to_ascii_uppercase());
            }
            if capabilities.is_empty() {
                return Err(ArgError::Other("ENABLE needs a capability".into()));
            }
            Request::Enable { capabilities }
        }
        "ID" => {
            c.sp()?;
            Request::Id {
                parameters: id_parameters(c)?,
            }
        }
        "SEARCH" => search(c, false)?,
        "SORT" => sort(c, false)?,
        "THREAD" => thread(c, false)?,
        "FETCH" | "STORE" | "COPY" | "MOVE" => with_set(c, name, false)?,
        "UID" => {
            c.sp()?;
            let inner = c.atom()?.to_ascii_uppercase();
            match inner.as_str() {
                "FETCH" | "STORE" | "COPY" | "MOVE" => with_set(c, &inner, true)?,
                "SEARCH" => search(c, true)?,
                "SORT" => sort(c, true)?,
                "THREAD" => thread(c, true)?,
                "EXPUNGE" => {
                    c.sp()?;
                    Request::Expunge {
                        uids: Some(c.sequence_set()?),
                    }
                }
                _ => return Err(ArgError::Other(format!("UID {inner} is not a command"))),
            }
        }
        _ => return Err(ArgError::Other(format!("{name} is not a command this server knows"))),
    })
}

/// RFC 5258 §3: an unknown option, or RECURSIVEMATCH without another
/// selection option that it could apply to, is a BAD command.
fn list_options(selection: &[String], returns: &[String]) -> Args<()> {
    for option in selection {
        if !matches!(
            option.as_str(),
            "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE"
        ) {
            return Err(ArgError::Other(format!("{option} is not a LIST selection option")));
        }
    }
    let recursive = selection.iter().any(|o| o == "RECURSIVEMATCH");
    if recursive
        && !selection
            .iter()
            .any(|o| matches!(o.as_str(), "SUBSCRIBED" | "SPECIAL-USE"))
    {
        return Err(ArgError::Other("RECURSIVEMATCH needs another selection option".into()));
    }
    for option in returns {
        if !matches!(option.as_str(), "SUBSCRIBED" | "CHILDREN" | "SPECIAL-USE") {
            return Err(ArgError::Other(format!("{option} is not a LIST return option")));
        }
    }
    Ok(())
}

fn list(c: &mut Cursor, lsub: bool) -> Args<Request> {
    c.sp()?;
    let selection = if !lsub && c.peek() == Some(b'(') {
        let options = paren_atoms(c)?;
        c.sp()?;
        options.iter().map(|o| o.to_ascii_uppercase()).collect()
    } else {
        Vec::new()
    };
    let reference = mailbox(c)?;
    c.sp()?;
    // A pattern that is not modified UTF-7 names no mailbox: taken as
    // written, it matches none (a LIST, unlike a SELECT, is not refused).
    let pattern = |c: &mut Cursor| -> Args<String> {
        let raw = c.list_mailbox()?;
        Ok(utf7::decode(&raw).unwrap_or_else(|_| String::from_utf8_lossy(&raw).into_owned()))
    };
    let patterns = if !lsub && c.eat(b'(') {
        let mut patterns = vec![pattern(c)?];
        while !c.eat(b')') {
            c.sp()?;
            patterns.push(pattern(c)?);
        }
        patterns
    } else {
        vec![pattern(c)?]
    };
    let mut returns = Vec::new();
    if !lsub && c.eat(b' ') {
        if !c.keyword("RETURN") {
            return Err(ArgError::Other("expected RETURN after the patterns".into()));
        }
        c.sp()?;
        returns = paren_atoms(c)?.iter().map(|o| o.to_ascii_uppercase()).collect();
    }
    list_options(&selection, &returns)?;
    Ok(Request::List {
        reference,
        patterns,
        selection,
        returns,
        lsub,
    })
}

/// `(atom atom …)`, possibly empty.
fn paren_atoms(c: &mut Cursor) -> Args<Vec<String>> {
    c.expect(b'(', "'('")?;
    let mut out = Vec::new();
    while !c.eat(b')') {
        if !out.is_empty() {
            c.sp()?;
        }
        out.push(flag(c)?);
    }
    Ok(out)
}

/// A flag: `\Seen` or a keyword atom.
fn flag(c: &mut Cursor) -> Args<String> {
    let backslash = c.eat(b'\\');
    let atom = c.atom()?;
    Ok(if backslash {
        format!("\\{atom}")
    } else {
        atom.to_owned()
    })
}

/// One message of an APPEND: its flags, date and content — or, with
/// CATENATE (RFC 4469), the pieces to build it from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    pub flags: Vec<String>,
    pub date: Option<String>,
    pub message: Vec<u8>,
    pub catenate: Option<Vec<Piece>>,
}

/// NOTIFY SET: whether to send the watched mailboxes' STATUS at once,
/// and which events of which mailboxes to report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifySet {
    pub status: bool,
    pub groups: Vec<(NotifyFilter, Vec<String>)>,
}

/// Which mailboxes a NOTIFY event group is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    Personal,
    Inboxes,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

fn notify_set(c: &mut Cursor) -> Args<NotifySet> {
    c.sp()?;
    let status = c.keyword("STATUS");
    if status {
        c.sp()?;
    }
    let mut groups = Vec::new();
    loop {
        c.expect(b'(', "'('")?;
        let word = c.atom()?.to_ascii_uppercase();
        let filter = match word.as_str() {
            "SELECTED" | "SELECTED-DELAYED" => NotifyFilter::Selected,
            "PERSONAL" => NotifyFilter::Personal,
            "INBOXES" => NotifyFilter::Inboxes,
            "SUBSCRIBED" => NotifyFilter::Subscribed,
            "SUBTREE" | "MAILBOXES" => {
                c.sp()?;
                let mut names = Vec::new();
                if c.eat(b'(') {
                    loop {
                        names.push(mailbox(c)?);
                        if c.eat(b')') {
                            break;
                        }
                        c.sp()?;
                    }
                } else {
                    names.push(mailbox(c)?);
                }
                if word == "SUBTREE" {
                    NotifyFilter::Subtree(names)
                } else {
                    NotifyFilter::Mailboxes(names)
                }
            }
            other => return Err(ArgError::Other(format!("{other} is not a NOTIFY filter"))),
        };
        c.sp()?;
        let mut events = Vec::new();
        if !c.keyword("NONE") {
            c.expect(b'(', "'('")?;
            loop {
                let event = c.atom()?.to_ascii_uppercase();
                if event == "MESSAGENEW" {
                    // Its fetch attributes: new messages of the selected
                    // mailbox are reported with EXISTS; accepted, not used.
                    let mut look = c.clone();
                    if look.sp().is_ok() && look.peek() == Some(b'(') {
                        c.sp()?;
                        fetch_items(c)?;
                    }
                }
                events.push(event);
                if c.eat(b')') {
                    break;
                }
                c.sp()?;
            }
        }
        c.expect(b')', "')'")?;
        groups.push((filter, events));
        if !c.eat(b' ') {
            return Ok(NotifySet { status, groups });
        }
    }
}

/// A CATENATE piece: text as given, or what an IMAP URL names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(Vec<u8>),
    Url(String),
}

/// A section as text (`1.HEADER`, `header.fields (from)`), as in a URL.
pub fn parse_section(text: &str) -> Option<Section> {
    let wrapped = format!("[{text}]");
    let mut c = Cursor::new(wrapped.as_bytes());
    let section = section(&mut c).ok()?;
    c.end().ok()?;
    Some(section)
}

fn append(c: &mut Cursor) -> Args<Request> {
    let mailbox = sp_mailbox(c)?;
    let mut messages = Vec::new();
    while c.eat(b' ') {
        messages.push(appended(c)?);
    }
    if messages.is_empty() {
        return Err(ArgError::Other("APPEND needs a message".into()));
    }
    Ok(Request::Append { mailbox, messages })
}

fn appended(c: &mut Cursor) -> Args<Appended> {
    let flags = if c.peek() == Some(b'(') {
        let flags = paren_atoms(c)?;
        c.sp()?;
        flags
    } else {
        Vec::new()
    };
    let date = if c.peek() == Some(b'"') {
        let date = text(&c.string()?, "the date")?;
        c.sp()?;
        Some(date)
    } else {
        None
    };
    if c.keyword("CATENATE") {
        c.sp()?;
        c.expect(b'(', "'('")?;
        let mut pieces = Vec::new();
        loop {
            let kind = c.atom()?.to_ascii_uppercase();
            c.sp()?;
            pieces.push(match kind.as_str() {
                "TEXT" => Piece::Text(c.literal()?.to_vec()),
                "URL" => Piece::Url(text(&c.astring()?, "a URL")?),
                other => return Err(ArgError::Other(format!("{other} is not a CATENATE part"))),
            });
            if c.eat(b')') {
                break;
            }
            c.sp()?;
        }
        return Ok(Appended {
            flags,
            date,
            message: Vec::new(),
            catenate: Some(pieces),
        });
    }
    let message = c.literal()?.to_vec();
    Ok(Appended {
        flags,
        date,
        message,
        catenate: None,
    })
}

fn search(c: &mut Cursor, uid: bool) -> Args<Request> {
    let returns = return_options(c)?;
    let (charset, key) = super::search::parse(c).map_err(ArgError::Other)?;
    Ok(Request::Search {
        uid,
        charset,
        key,
        returns,
    })
}

fn thread(c: &mut Cursor, uid: bool) -> Args<Request> {
    c.sp()?;
    let algorithm = c.atom()?.to_ascii_uppercase();
    if !matches!(algorithm.as_str(), "ORDEREDSUBJECT" | "REFERENCES") {
        return Err(ArgError::Other(format!(
            "{algorithm} is not a threading algorithm this server offers"
        )));
    }
    c.sp()?;
    let charset = String::from_utf8_lossy(&c.astring()?).to_ascii_uppercase();
    let key = super::search::parse_keys(c).map_err(ArgError::Other)?;
    Ok(Request::Thread {
        uid,
        references: algorithm == "REFERENCES",
        charset,
        key,
    })
}

fn sort(c: &mut Cursor, uid: bool) -> Args<Request> {
    let returns = return_options(c)?;
    let (criteria, charset, key) = super::sort::parse(c).map_err(ArgError::Other)?;
    Ok(Request::Sort {
        uid,
        criteria,
        charset,
        key,
        returns,
    })
}

/// ` RETURN (…)` of SEARCH and SORT (RFC 4731, 5267), when there is one;
/// the cursor stays before the space otherwise.
fn return_options(c: &mut Cursor) -> Args<Option<Vec<String>>> {
    let start = c.clone();
    c.sp()?;
    if !c.keyword("RETURN") {
        *c = start;
        return Ok(None);
    }
    c.sp()?;
    let words: Vec<String> = paren_atoms(c)?.iter().map(|o| o.to_ascii_uppercase()).collect();
    let mut options = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "MIN" | "MAX" | "ALL" | "COUNT" | "UPDATE" => options.push(word),
            // RFC 5267: `PARTIAL low:high`, kept as one option in order.
            "PARTIAL" => {
                let range = words.next().unwrap_or_default();
                let parsed = range
                    .split_once(':')
                    .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
                match parsed {
                    Some((a, b)) if a > 0 && b > 0 => options.push(format!("PARTIAL {}:{}", a.min(b), a.max(b))),
                    _ => return Err(ArgError::Other(format!("PARTIAL needs a range, not {range:?}"))),
                }
            }
            bad => return Err(ArgError::Other(format!("{bad} is not a RETURN option"))),
        }
    }
    Ok(Some(options))
}

/// SELECT's RFC 7162 parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<Qresync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids])`: what the client knew.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
}

fn select_params(c: &mut Cursor) -> Args<SelectParams> {
    let mut params = SelectParams::default();
    if !c.eat(b' ') {
        return Ok(params);
    }
    c.expect(b'(', "'('")?;
    loop {
        let name = c.atom()?.to_ascii_uppercase();
        match name.as_str() {
            "CONDSTORE" => params.condstore = true,
            "QRESYNC" => {
                c.sp()?;
                c.expect(b'(', "'('")?;
                let uidvalidity = c.number()?;
                c.sp()?;
                let modseq = c.number64()?;
                let mut known_uids = None;
                if c.eat(b' ') {
                    known_uids = Some(c.sequence_set()?);
                    // The sequence match data only helps a server that
                    // cannot tell what vanished; this one always can.
                    if c.eat(b' ') {
                        c.expect(b'(', "'('")?;
                        c.sequence_set()?;
                        c.sp()?;
                        c.sequence_set()?;
                        c.expect(b')', "')'")?;
                    }
                }
                c.expect(b')', "')'")?;
                params.qresync = Some(Qresync {
                    uidvalidity,
                    modseq,
                    known_uids,
                });
            }
            _ => return Err(ArgError::Other(format!("{name} is not a SELECT parameter"))),
        }
        if c.eat(b')') {
            return Ok(params);
        }
        c.sp()?;
    }
}

fn with_set(c: &mut Cursor, name: &str, uid: bool) -> Args<Request> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    Ok(match name {
        "FETCH" => {
            let items = fetch_items(c)?;
            let (mut changed_since, mut vanished) = (None, false);
            if c.eat(b' ') {
                c.expect(b'(', "'('")?;
                loop {
                    let modifier = c.atom()?.to_ascii_uppercase();
                    match modifier.as_str() {
                        "CHANGEDSINCE" => {
                            c.sp()?;
                            changed_since = Some(c.number64()?);
                        }
                        "VANISHED" if uid => vanished = true,
                        _ => return Err(ArgError::Other(format!("{modifier} is not a FETCH modifier"))),
                    }
                    if c.eat(b')') {
                        break;
                    }
                    c.sp()?;
                }
                if vanished && changed_since.is_none() {
                    return Err(ArgError::Other("VANISHED needs CHANGEDSINCE".into()));
                }
            }
            Request::Fetch {
                set,
                uid,
                items,
                changed_since,
                vanished,
            }
        }
        "STORE" => {
            let mut unchanged_since = None;
            if c.eat(b'(') {
                if !c.keyword("UNCHANGEDSINCE") {
                    return Err(ArgError::Other("the only STORE modifier is UNCHANGEDSINCE".into()));
                }
                c.sp()?;
                unchanged_since = Some(c.number64()?);
                c.expect(b')', "')'")?;
                c.sp()?;
            }
            let action = c.atom()?.to_ascii_uppercase();
            let (op, rest) = match action.as_bytes().first() {
                Some(b'+') => (FlagOp::Add, &action[1..]),
                Some(b'-') => (FlagOp::Remove, &action[1..]),
                _ => (FlagOp::Replace, action.as_str()),
            };
            let silent = match rest {
                "FLAGS" => false,
                "FLAGS.SILENT" => true,
                _ => return Err(ArgError::Other(format!("STORE cannot change {action}"))),
            };
            c.sp()?;
            let flags = if c.peek() == Some(b'(') {
                paren_atoms(c)?
            } else {
                let mut flags = vec![flag(c)?];
                while c.eat(b' ') {
                    flags.push(flag(c)?);
                }
                flags
            };
            Request::StoreFlags {
                set,
                uid,
                op,
                silent,
                flags,
                unchanged_since,
            }
        }
        "COPY" => Request::Copy {
            set,
            uid,
            mailbox: mailbox(c)?,
        },
        _ => Request::Move {
            set,
            uid,
            mailbox: mailbox(c)?,
        },
    })
}

fn fetch_items(c: &mut Cursor) -> Args<Vec<FetchItem>> {
    use FetchItem::*;
    if c.eat(b'(') {
        let mut items = vec![fetch_item(c)?];
        while !c.eat(b')') {
            c.sp()?;
            items.push(fetch_item(c)?);
        }
        return Ok(items);
    }
    if c.keyword("ALL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope]);
    }
    if c.keyword("FAST") {
        return Ok(vec![Flags, InternalDate, Rfc822Size]);
    }
    if c.keyword("FULL") {
        return Ok(vec![Flags, InternalDate, Rfc822Size, Envelope, Body]);
    }
    Ok(vec![fetch_item(c)?])
}

fn fetch_item(c: &mut Cursor) -> Args<FetchItem> {
    use FetchItem::*;
    let name = c.name()?.to_ascii_uppercase();
    Ok(match name.as_str() {
        "FLAGS" => Flags,
        "UID" => Uid,
        "MODSEQ" => Modseq,
        "INTERNALDATE" => InternalDate,
        "RFC822.SIZE" => Rfc822Size,
        "ENVELOPE" => Envelope,
        "BODYSTRUCTURE" => BodyStructure,
        "RFC822" => Rfc822,
        "RFC822.HEADER" => Rfc822Header,
        "RFC822.TEXT" => Rfc822Text,
        "BODY" if c.peek() != Some(b'[') => Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(c)?;
            let partial = partial(c)?;
            Section {
                peek: name == "BODY.PEEK",
                section,
                partial,
            }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = binary_part(c)?;
            let partial = partial(c)?;
            Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial,
            }
        }
        "BINARY.SIZE" => BinarySize { part: binary_part(c)? },
        other => return Err(ArgError::Other(format!("cannot FETCH {other}"))),
    })
}

/// `[1.2]`: part numbers only (RFC 3516's section-binary).
fn binary_part(c: &mut Cursor) -> Args<Vec<u32>> {
    let section = section(c)?;
    if section.text.is_some() {
        return Err(ArgError::Other("BINARY takes part numbers only".into()));
    }
    Ok(section.part)
}

/// `[1.2.HEADER.FIELDS (From To)]`.
fn section(c: &mut Cursor) -> Args<Section> {
    c.expect(b'[', "'['")?;
    let mut section = Section::default();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        section.part.push(c.number()?);
        if !c.eat(b'.') {
            break;
        }
    }
    if c.peek() != Some(b']') {
        let word = c.atom()?.to_ascii_uppercase();
        section.text = Some(match word.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !section.part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                c.sp()?;
                c.expect(b'(', "'('")?;
                let mut fields = vec![text(&c.astring()?, "a header name")?];
                while !c.eat(b')') {
                    c.sp()?;
                    fields.push(text(&c.astring()?, "a header name")?);
                }
                SectionText::HeaderFields {
                    not: word.ends_with(".NOT"),
                    fields,
                }
            }
            _ => return Err(ArgError::Other(format!("{word} is not a body section"))),
        });
    }
    c.expect(b']', "']'")?;
    Ok(section)
}

/// `<start.count>`.
fn partial(c: &mut Cursor) -> Args<Option<(u32, u32)>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let start = c.number()?;
    c.expect(b'.', "'.' in a partial range")?;
    let count = c.number()?;
    if count == 0 {
        return Err(ArgError::Other("a partial range needs a count above zero".into()));
    }
    c.expect(b'>', "'>'")?;
    Ok(Some((start, count)))
}

/// `NIL` or `("name" "value" …)`.
fn id_parameters(c: &mut Cursor) -> Args<Option<IdFields>> {
    if c.keyword("NIL") {
        return Ok(None);
    }
    c.expect(b'(', "NIL or '('")?;
    let mut out = Vec::new();
    while !c.eat(b')') {
        if !out.is_empty() {
            c.sp()?;
        }
        let key = text(&c.string()?, "an ID field")?;
        c.sp()?;
        let value = if c.keyword("NIL") {
            None
        } else {
            Some(text(&c.string()?, "an ID value")?)
        };
        out.push((key, value));
        if out.len() > 30 {
            return Err(ArgError::Other("ID allows 30 fields at most".into()));
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &[u8]) -> Request {
        match parse(line) {
            Ok(c) => c.request,
            Err(e) => panic!("{}: {e:?}", String::from_utf8_lossy(line)),
        }
    }

    fn set(text: &[u8]) -> SequenceSet {
        Cursor::new(text).sequence_set().unwrap()
    }

    #[test]
    fn rfc_3501_examples() {
        assert_eq!(
            parse(b"a002 NOOP").unwrap(),
            Command {
                tag: "a002".into(),
                request: Request::Noop
            }
        );
        assert_eq!(
            ok(b"a001 login SMITH SESAME"),
            Request::Login {
                user: "SMITH".into(),
                password: "SESAME".into()
            }
        );
        assert_eq!(
            ok(b"A142 SELECT INBOX"),
            Request::Select {
                mailbox: "INBOX".into(),
                read_only: false,
                params: SelectParams::default()
            }
        );
        assert_eq!(
            ok(b"A932 EXAMINE blurdybloop"),
            Request::Select {
                mailbox: "blurdybloop".into(),
                read_only: true,
                params: SelectParams::default()
            }
        );
        assert_eq!(
            ok(b"A683 RENAME blurdybloop sarasoop"),
            Request::Rename {
                from: "blurdybloop".into(),
                to: "sarasoop".into()
            }
        );
        assert_eq!(
            ok(b"A682 LIST \"\" *"),
            Request::List {
                reference: "".into(),
                patterns: vec!["*".into()],
                selection: vec![],
                returns: vec![],
                lsub: false
            }
        );
        assert_eq!(
            ok(b"A1 LIST (SUBSCRIBED) \"\" (\"~*\" INBOX) RETURN (CHILDREN special-use)"),
            Request::List {
                reference: "".into(),
                patterns: vec!["~*".into(), "INBOX".into()],
                selection: vec!["SUBSCRIBED".into()],
                returns: vec!["CHILDREN".into(), "SPECIAL-USE".into()],
                lsub: false
            }
        );
        assert_eq!(
            ok(b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)"),
            Request::Status {
                mailbox: "blurdybloop".into(),
                items: vec!["UIDNEXT".into(), "MESSAGES".into()]
            }
        );
        let message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello Joe\r\n";
        let line = [
            format!("A003 APPEND saved-messages (\\Seen) {{{}}}\r\n", message.len()).as_bytes(),
            message,
        ]
        .concat();
        assert_eq!(
            ok(&line),
            Request::Append {
                mailbox: "saved-messages".into(),
                messages: vec![Appended {
                    flags: vec!["\\Seen".into()],
                    date: None,
                    message: message.to_vec(),
                    catenate: None
                }]
            }
        );
        assert_eq!(
            ok(b"A003 STORE 2:4 +FLAGS (\\Deleted)"),
            Request::StoreFlags {
                set: set(b"2:4"),
                uid: false,
                op: FlagOp::Add,
                silent: false,
                flags: vec!["\\Deleted".into()],
                unchanged_since: None
            }
        );
        assert_eq!(
            ok(b"A999 UID FETCH 4827313:4828442 FLAGS"),
            Request::Fetch {
                set: set(b"4827313:4828442"),
                uid: true,
                items: vec![FetchItem::Flags],
                changed_since: None,
                vanished: false
            }
        );
        assert_eq!(
            ok(b"A003 COPY 2:4 MEETING"),
            Request::Copy {
                set: set(b"2:4"),
                uid: false,
                mailbox: "MEETING".into()
            }
        );
    }

    #[test]
    fn fetch_items_and_sections() {
        let Request::Fetch { items, .. } =
            ok(b"A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)] BODY.PEEK[1.2.TEXT]<0.100> RFC822.SIZE BODY)")
        else {
            panic!()
        };
        assert_eq!(
            items,
            [
                FetchItem::Flags,
                FetchItem::Section {
                    peek: false,
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::HeaderFields {
                            not: false,
                            fields: vec!["DATE".into(), "FROM".into()]
                        })
                    },
                    partial: None
                },
                FetchItem::Section {
                    peek: true,
                    section: Section {
                        part: vec![1, 2],
                        text: Some(SectionText::Text)
                    },
                    partial: Some((0, 100))
                },
                FetchItem::Rfc822Size,
                FetchItem::Body,
            ]
        );
        let Request::Fetch { items, .. } = ok(b"t fetch 1 full") else {
            panic!()
        };
        assert_eq!(items.len(), 5);
        let Request::Fetch { items, .. } = ok(b"t FETCH 1 BODY[]") else {
            panic!()
        };
        assert_eq!(
            items,
            [FetchItem::Section {
                peek: false,
                section: Section::default(),
                partial: None
            }]
        );
    }

    #[test]
    fn acl_commands_rfc_4314() {
        assert_eq!(
            ok(b"A001 GETACL INBOX"),
            Request::GetAcl {
                mailbox: "INBOX".into()
            }
        );
        assert_eq!(
            ok(b"A035 SETACL INBOX/Drafts John lrQswicda"),
            Request::SetAcl {
                mailbox: "INBOX/Drafts".into(),
                identifier: "John".into(),
                rights: "lrQswicda".into()
            }
        );
        assert_eq!(
            ok(b"A002 SETACL ~fred/x -Fred +rwx"),
            Request::SetAcl {
                mailbox: "~fred/x".into(),
                identifier: "-Fred".into(),
                rights: "+rwx".into()
            }
        );
        assert_eq!(
            ok(b"A003 DELETEACL INBOX \"-FRED\""),
            Request::DeleteAcl {
                mailbox: "INBOX".into(),
                identifier: "-FRED".into()
            }
        );
        assert_eq!(
            ok(b"a LISTRIGHTS ~/Mail/saved smith"),
            Request::ListRights {
                mailbox: "~/Mail/saved".into(),
                identifier: "smith".into()
            }
        );
        assert_eq!(
            ok(b"A003 MYRIGHTS INBOX"),
            Request::MyRights {
                mailbox: "INBOX".into()
            }
        );
    }

    #[test]
    fn extensions() {
        assert_eq!(
            ok(b"a UID MOVE 42:69 foo"),
            Request::Move {
                set: set(b"42:69"),
                uid: true,
                mailbox: "foo".into()
            }
        );
        assert_eq!(
            ok(b"a UID EXPUNGE 3000:3002"),
            Request::Expunge {
                uids: Some(set(b"3000:3002"))
            }
        );
        assert_eq!(
            ok(b"t1 ENABLE CONDSTORE X-GOOD-IDEA"),
            Request::Enable {
                capabilities: vec!["CONDSTORE".into(), "X-GOOD-IDEA".into()]
            }
        );
        assert_eq!(
            ok(b"a023 ID (\"name\" \"sodr\" \"version\" NIL)"),
            Request::Id {
                parameters: Some(vec![("name".into(), Some("sodr".into())), ("version".into(), None)])
            }
        );
        assert_eq!(
            ok(b"a AUTHENTICATE PLAIN AGJvYgBwdw=="),
            Request::Authenticate {
                mechanism: "PLAIN".into(),
                initial: Some("AGJvYgBwdw==".into())
            }
        );
        assert_eq!(
            ok(b"a SELECT &ZeVnLIqe-"),
            Request::Select {
                mailbox: "日本語".into(),
                read_only: false,
                params: SelectParams::default()
            }
        );
        assert_eq!(
            ok(b"a STORE 1 FLAGS.SILENT \\Seen $Work"),
            Request::StoreFlags {
                set: set(b"1"),
                uid: false,
                op: FlagOp::Replace,
                silent: true,
                flags: vec!["\\Seen".into(), "$Work".into()],
                unchanged_since: None
            }
        );
    }

    #[test]
    fn bad_commands_say_why_and_keep_the_tag() {
        for (line, tag) in [
            (&b"a1 FOO"[..], Some("a1")),
            (b"a2 SELECT", Some("a2")),
            (b"a3 NOOP extra", Some("a3")),
            (b"a4 STORE 1 FLAGZ (x)", Some("a4")),
            (b"a5 FETCH 0 FLAGS", Some("a5")),
            (b"a6 FETCH 1 BODY[NOPE]", Some("a6")),
            (b"a7 SELECT &Jjo", Some("a7")),
            (b"a8 STATUS INBOX ()", Some("a8")),
            (b"a9 UID NOOP", Some("a9")),
            (b"+bad NOOP", None),
            (b"", None),
            (b"\xff\xfe", None),
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err.tag.as_deref(), tag, "{}", String::from_utf8_lossy(line));
            assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet: &[u8] = b"a1 UID FETCH STORE APPEND SETACL ()[]<>{}+-.*%:,\\\"\r\n0123456789\xff";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let len = (seed % 60) as usize;
            let line: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    alphabet[(seed % alphabet.len() as u64) as usize]
                })
                .collect();
            let _ = parse(&line);
            let _ = parse(&[b"t UID FETCH 1:* ".as_slice(), &line].concat());
        }
    }
}
