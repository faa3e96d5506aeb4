//! The bounds that keep one client, one user or one file from taking the
//! server for itself, stated in one place (README's "Security" section
//! lists them). Sizes the web also shows live in
//! `mailroom_shared::limits`.

use std::time::Duration;

pub use mailroom_shared::limits::MAX_MESSAGE_SIZE;

/// How long a client may take to log in, from the moment it connects;
/// sending bytes does not restart it.
pub const LOGIN_DEADLINE: Duration = Duration::from_secs(60);

/// The longest IMAP command line before login, without literals (ID
/// may name a client at length, as imaptest's does).
pub const BEFORE_LOGIN_LINE: usize = 64 * 1024;
/// The largest IMAP literal before login (a password).
pub const BEFORE_LOGIN_LITERAL: usize = 4 * 1024;
/// The most one IMAP command may hold before login, lines and literals.
pub const BEFORE_LOGIN_COMMAND: usize = BEFORE_LOGIN_LINE + 16 * 1024;

/// The longest IMAP command line after login, without literals.
pub const COMMAND_LINE: usize = 64 * 1024;
/// The most one IMAP command may hold after login: one message and room
/// for a few more pieces around it (MULTIAPPEND, CATENATE).
pub const COMMAND_SIZE: usize = MAX_MESSAGE_SIZE + 1024 * 1024;

/// Distinct items one FETCH may ask for (repeated ones are merged).
pub const FETCH_ITEMS: usize = 64;
/// The most one message's FETCH response may hold: every item of a
/// message at its largest twice over. Asking for more is refused, not
/// built.
pub const FETCH_RESPONSE: usize = 2 * MAX_MESSAGE_SIZE + 1024 * 1024;
/// A FETCH response longer than this is written to the client while
/// the rest is made, not held whole.
pub const SPILL_AT: usize = 256 * 1024;

/// The longest LIST pattern (and reference), in characters, and the
/// most patterns one LIST may give: each is matched against every name.
pub const LIST_PATTERN: usize = 1024;
pub const LIST_PATTERNS: usize = 32;

/// How far a message may be redirected by rules (hops in a row).
pub const REDIRECT_HOPS: usize = 4;
/// Accounts one incoming message may reach through rules' redirects,
/// besides its recipient.
pub const REDIRECTED_DELIVERIES: usize = 10;
/// Rules one account (or one domain) may have.
pub const RULES_PER_SCOPE: usize = 100;

/// The largest external INBOX file Mailroom reads (it reads the whole
/// file when another program changed it); a larger one is refused as
/// unusable until it is made smaller.
pub const EXTERNAL_INBOX_SIZE: u64 = 1024 * 1024 * 1024;

/// Password checks and hashes waiting for the hashing threads; more are
/// told to come back (IMAP `NO [UNAVAILABLE]`, POP3 `-ERR [SYS/TEMP]`).
pub const HASH_QUEUE: usize = 64;

/// How long a web client may take to send a request's headers
/// (slow-sending clients holding connections open).
pub const HTTP_HEADER_READ: Duration = Duration::from_secs(10);

/// Live-update streams (`/events`) one account may hold open on a node:
/// every tab of every device, not the server's memory.
pub const EVENT_STREAMS_PER_ACCOUNT: usize = 20;
