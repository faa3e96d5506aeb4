//! The IMAP gateway (RFC 3501 and extensions), being built. So far the
//! parts that need no I/O and no mailbox service: the command framer, the
//! value syntax commands are made of, and modified UTF-7 mailbox names.

pub mod command;
pub mod frame;
pub mod syntax;
pub mod utf7;
