//! The IMAP gateway (RFC 3501 and the extensions listed in
//! [`session::Session::capabilities`]). Bytes become commands in `frame`,
//! `syntax` and `command`; `session` runs the states and hands every
//! request to the mailbox service; `mailbox` keeps a selected mailbox's
//! sequence numbers and reports others' changes; `list`, `search` and
//! `mime` answer LIST, SEARCH and FETCH; `server` accepts connections.

pub mod address;
pub mod command;
pub mod frame;
pub mod list;
pub mod mailbox;
pub mod mime;
pub mod pattern;
pub mod response;
pub mod search;
pub mod server;
pub mod session;
pub mod sort;
pub mod syntax;
pub mod thread;
pub mod utf7;

pub use server::{Config, Gateway, INDEXED_SEARCH_FROM, serve};
