//! Server-sent events: the WHATWG event-stream format, both ways.
//!
//! - [`Event`] writes one frame (the server's SSE replies); [`comment`] writes a
//!   keep-alive.
//! - [`Decoder`] reads a `text/event-stream` body incrementally, chunk by chunk, and
//!   yields each [`DecodedEvent`] exactly as the WHATWG HTML standard's "interpreting an
//!   event stream" rules do: CR, LF and CRLF line ends (also split across chunks), one
//!   leading BOM skipped, comments ignored, multi-line `data` joined with LF, `id` with
//!   NUL ignored and the last event id kept across events, `retry` only when all digits,
//!   a block without `data` not dispatched, an unfinished event dropped at the end.
//!
//! What the decoder yields does not depend on how the body was split into chunks, and
//! what the encoder writes the decoder reads back (with CR and CRLF inside data turned
//! into LF, as the format requires).
//!
//! ```
//! use mcp_http_proto::wire::sse::{Decoder, Event};
//!
//! let frame = Event { id: Some("7"), ..Event::message(br#"{"jsonrpc":"2.0","method":"x"}"#) }
//!     .to_vec()?;
//! let mut decoder = Decoder::new();
//! let (head, tail) = frame.split_at(10); // any split gives the same events
//! decoder.feed(head);
//! assert_eq!(decoder.next_event()?, None);
//! decoder.feed(tail);
//! let event = decoder.next_event()?.expect("the blank line ends the event");
//! assert_eq!(event.event_type(), "message");
//! assert_eq!(event.data(), r#"{"jsonrpc":"2.0","method":"x"}"#);
//! assert_eq!(decoder.last_event_id().as_deref(), Some("7"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;

pub use decode::{DecodeError, DecodedEvent, Decoder};
pub(crate) use encode::decimal;
pub use encode::{EncodeError, Event, comment};
