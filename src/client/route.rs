//! Messages from the server: SSE events and JSON bodies, split into messages and told
//! apart: a response goes to the request it answers (once, `INV-C11`), anything else to
//! the application (`INV-C13`, ambiguity 19, `LEG-2`). Pure functions;
//! [`Machine`](super::machine::Machine) carries out what they say.
//!
//! ```text
//!  SSE event ─┬─ empty data (priming, INV-C13) ──────────────▶ Ignore
//!             ├─ `endpoint` on the legacy GET ───────────────▶ Endpoint(data)
//!             ├─ no type or `message` (not while probing) ───▶ Body(data)
//!             └─ any other type ─────────────────────────────▶ Ignore
//!  body ──▶ messages ─┬─ response with an id ──▶ the initialize in flight, or an awaited request
//!                     └─ anything else ────────▶ ClientEvent::Message
//! ```

use bytes::Bytes;

use crate::wire::jsonrpc::{BodyError, Message, RequestId, classify};
use crate::wire::sse::DecodedEvent;

/// What an SSE event carries.
#[derive(Debug)]
pub(super) enum OnEvent {
    Ignore,
    /// The legacy `endpoint` event's data (`LEG-2`).
    Endpoint(String),
    /// A message or a batch.
    Body(Bytes),
}

/// What `event` carries, on the legacy probe GET when `probe`, while the client waits
/// for the `endpoint` event when `probing`.
pub(super) fn on_event(event: DecodedEvent, probe: bool, probing: bool) -> OnEvent {
    // INV-C13: an event with empty data (the priming event) is no message.
    if event.data_bytes().is_empty() {
        return OnEvent::Ignore;
    }
    if probe && event.event_type() == "endpoint" {
        return if probing {
            OnEvent::Endpoint(event.data().into_owned())
        } else {
            OnEvent::Ignore
        };
    }
    // Ambiguity 19: events with no type or type `message` carry messages.
    if !event.is_message() || probing {
        return OnEvent::Ignore;
    }
    OnEvent::Body(event.into_data())
}

/// The messages of a JSON body or SSE event data: one message or a batch (`BOTH-POST-6`).
pub(super) fn messages(body: &Bytes) -> Result<Vec<Message>, BodyError> {
    let parsed = classify(body)?;
    Ok(parsed
        .messages()
        .iter()
        .map(|e| Message::from_envelope(body, e))
        .collect())
}

/// The id `msg` answers, when it is a response with one.
pub(super) fn answers(msg: &Message) -> Option<RequestId> {
    msg.id().filter(|_| msg.kind().is_response()).cloned()
}
