//! Opaque handles both machines hand out. A handle is never reused by the machine that
//! issued it, so a late input naming an old handle is told apart from a current one.

use std::fmt;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) u64);

        impl $name {
            /// The handle as a number, for logs.
            pub fn as_u64(self) -> u64 {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "#{}"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "#{}"), self.0)
            }
        }
    };
}

handle!(
    /// Server: one response stream, the reply to a request-bearing POST or a standalone
    /// GET stream. A stream outlives its connections: a resumption attaches it to a new
    /// [`ConnectionId`].
    StreamId,
    "stream"
);

handle!(
    /// Server: one HTTP connection (response) attached to a stream. Every head the server
    /// machine emits opens one; [`Server::handle_disconnect`](crate::Server::handle_disconnect)
    /// names it. A disconnect of a connection that a resumption has replaced is a no-op.
    ConnectionId,
    "conn"
);

handle!(
    /// Client: one HTTP exchange (a request and its response).
    ExchangeId,
    "exchange"
);
