//! Mailroom's domain vocabulary, compiled by the server and the web app
//! alike: mailbox names, RFC 4314 rights and ACLs, flags, and the data the
//! web UI shows. No I/O here.
#![forbid(unsafe_code)]

pub mod acl;
pub mod actions;
pub mod admin;
pub mod dates;
pub mod dto;
pub mod flags;
pub mod limits;
pub mod name;
pub mod reply;
pub mod rights;
pub mod rules;
pub mod search;
pub mod subject;
pub mod team;

pub use acl::{AclEntry, Identifier, Who, effective_rights, explain_rights};
pub use actions::Action;
pub use flags::{FlagOp, FlagPermissions, Flags, SystemFlag};
pub use name::{MailboxName, MailboxPath};
pub use rights::{Right, Rights};
