//! The IMAP gateway (RFC 3501 and extensions), being built: for now the
//! command framer, which needs no I/O and no mailbox service.

pub mod frame;
