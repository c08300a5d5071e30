//! What the client and the server share: header names and parsing, media types, the
//! JSON-RPC envelope, and server-sent events.

pub mod codec;
mod headers;
pub mod jsonrpc;
pub(crate) mod media;
pub mod sse;

pub(crate) use headers::single_value;
pub use headers::{
    HeaderError, LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID,
    SessionId, X_ACCEL_BUFFERING,
};
