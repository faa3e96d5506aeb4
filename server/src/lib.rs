//! The Mailroom server: the mailbox service (which alone holds the store
//! and the change feed), the gateways and the command line. `main.rs` only calls
//! [`cli::main`]; tests start the real server through [`serve::start`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod error;
pub mod gateway;
pub mod http;
pub mod imap;
pub mod limits;
pub mod lmtp;
pub mod mbox;
pub mod message;
pub mod pop3;
pub mod relay;
pub mod serve;
pub mod service;

pub use error::{Error, Result};
pub use service::{Principal, Service};
