//! The IMAP gateway (RFC 3501 and extensions), being built. So far the
//! parts that need no I/O and no mailbox service: the command framer
//! (`frame`), the value syntax (`syntax`), typed commands (`command`),
//! LIST patterns (`pattern`), response values (`response`) and modified
//! UTF-7 names (`utf7`). The session that joins them to the mailbox
//! service and a socket comes next.

pub mod command;
pub mod frame;
pub mod mime;
pub mod pattern;
pub mod response;
pub mod search;
pub mod syntax;
pub mod utf7;
