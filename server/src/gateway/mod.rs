//! What every mail gateway (IMAP now, POP3 and LMTP later) shares:
//! TLS, SASL PLAIN, the failed-login throttle, connection limits and the
//! stream that may be upgraded to TLS in the middle of a session.

pub mod connections;
pub mod sasl;
pub mod stream;
pub mod throttle;
pub mod tls;

pub use connections::{Connections, Slot};
pub use stream::Stream;
pub use throttle::LoginThrottle;
