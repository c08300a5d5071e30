//! The HTTP exchanges in flight: handle allocation, the requests waiting to be sent, and
//! each response's body reader (`INV-C10`, `INV-C17`).
//!
//! ```text
//!   issue ──▶ sent (no head) ──head──▶ reading: Discard | Json | Error | Sse ──end / error──▶ gone
//!                 │                                                              ▲
//!                 └───────────────────── transport error ────────────────────────┘
//! ```
//!
//! A handle is never reused: an input for a handle that was issued and then dropped (a
//! session that expired, a client that closed) is told apart from one never issued. A
//! request not yet handed out by `poll_transmit` goes with its exchange when that is
//! dropped: a queued request never carries an ended session id (`INV-C5`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, StatusCode, response};

use super::error::UsageError;
use super::event::Transmit;
use super::reconnect::StreamKey;
use crate::handle::ExchangeId;
use crate::wire::jsonrpc::RequestId;
use crate::wire::media::{APPLICATION_JSON, TEXT_EVENT_STREAM, content_type_is};
use crate::wire::sse::{DecodedEvent, Decoder};
use crate::wire::{HeaderError, SessionId};

/// What an exchange is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// The Streamable HTTP `initialize` POST.
    Initialize,
    /// The 2026-07-28 `server/discover` POST that stands for `initialize` (`N26-14`).
    Discover,
    /// A POST of messages; `requests` are the ids it carries.
    Post { requests: Vec<RequestId> },
    /// The standalone GET stream.
    Standalone,
    /// A GET resuming the logical stream the exchange feeds.
    Get,
    /// The DELETE.
    Delete,
    /// The legacy GET: first the `endpoint` event, then the server's messages.
    LegacyProbe,
}

/// The media type of a response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Media {
    Json,
    Sse,
    Other,
}

impl Media {
    pub(super) fn of(head: &response::Parts) -> Self {
        // Not `single_value`: a media type may hold spaces (`application/json; charset=utf-8`).
        let mut values = head.headers.get_all(CONTENT_TYPE).iter();
        let value = match (values.next(), values.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        };
        match value {
            Some(v) if content_type_is(v, APPLICATION_JSON) => Self::Json,
            Some(v) if content_type_is(v, TEXT_EVENT_STREAM) => Self::Sse,
            _ => Self::Other,
        }
    }
}

/// How the body of a response is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reader {
    Discard,
    Json,
    /// An error status's body, kept (bounded) for its JSON-RPC error.
    Error,
    Sse,
}

#[derive(Debug)]
enum Body {
    Discard,
    Json(BytesMut),
    Error(BytesMut),
    Sse(Box<Decoder>),
}

#[derive(Debug)]
struct Exchange {
    kind: Kind,
    /// The session id the request carried.
    session: Option<SessionId>,
    head: bool,
    status: StatusCode,
    body: Body,
    /// The logical SSE stream this exchange feeds.
    stream: Option<StreamKey>,
    /// On the `initialize` response: its session header, applied only with a successful
    /// `InitializeResult` (`INV-C1`).
    init_session: Option<Result<Option<SessionId>, HeaderError>>,
}

/// What a response head says about its exchange.
#[derive(Debug)]
pub(super) struct Head {
    pub kind: Kind,
    /// The session id the request carried.
    pub session: Option<SessionId>,
}

/// What became of a chunk of body bytes.
#[derive(Debug)]
pub(super) enum Chunk {
    /// Read (or discarded); nothing else to do.
    Read,
    /// Fed to the SSE decoder: drain it with [`Exchanges::next_event`].
    Sse,
    /// A JSON body passed the limit; the rest is discarded.
    TooLarge(Kind),
}

/// One step of an SSE body.
#[derive(Debug)]
pub(super) struct SseStep {
    /// The logical stream the exchange feeds.
    pub stream: Option<StreamKey>,
    /// The last event id so far, when it can be sent back as a header (`INV-C12`).
    pub cursor: Option<HeaderValue>,
    /// The last valid `retry` so far (`INV-C14`).
    pub retry: Option<Duration>,
    /// The next event; `Err` for one larger than the limit.
    pub event: Result<Option<DecodedEvent>, ()>,
}

/// What was read of an exchange whose response ended or whose connection failed.
#[derive(Debug)]
pub(super) struct Finished {
    pub kind: Kind,
    pub status: StatusCode,
    /// Whether the head had arrived.
    pub head: bool,
    pub stream: Option<StreamKey>,
    pub body: Read,
}

/// A body as it was when the exchange finished.
#[derive(Debug)]
pub(super) enum Read {
    Discard,
    Json(Bytes),
    Error(Bytes),
    Sse,
}

/// The table of exchanges, the handles it issued, and the requests to send; every
/// request to send belongs to an exchange in the table.
#[derive(Debug, Default)]
pub(super) struct Exchanges {
    next: u64,
    table: BTreeMap<ExchangeId, Exchange>,
    transmits: VecDeque<Transmit>,
}

impl Exchanges {
    /// How many exchanges are in flight.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Issues a new exchange for `request`, carrying `session`, and queues the request.
    pub fn issue(
        &mut self,
        kind: Kind,
        session: Option<SessionId>,
        request: Request<Bytes>,
    ) -> ExchangeId {
        let id = ExchangeId(self.next);
        self.next += 1;
        let exchange = Exchange {
            kind,
            session,
            head: false,
            status: StatusCode::OK,
            body: Body::Discard,
            stream: None,
            init_session: None,
        };
        self.table.insert(id, exchange);
        self.transmits.push_back(Transmit {
            exchange: id,
            request,
        });
        id
    }

    /// The next request to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// `Ok` for an exchange this machine dropped (its inputs are ignored), an error for
    /// one it never issued.
    fn dropped(&self, exchange: ExchangeId) -> Result<(), UsageError> {
        if exchange.0 < self.next {
            Ok(())
        } else {
            Err(UsageError::UnknownExchange(exchange))
        }
    }

    /// Whether `exchange` is in flight; `Ok(false)` when it was dropped.
    pub fn contains(&self, exchange: ExchangeId) -> Result<bool, UsageError> {
        if self.table.contains_key(&exchange) {
            return Ok(true);
        }
        self.dropped(exchange).map(|()| false)
    }

    /// Records the head of `exchange`; `Ok(None)` when the exchange was dropped.
    pub fn head(
        &mut self,
        exchange: ExchangeId,
        head: &response::Parts,
    ) -> Result<Option<Head>, UsageError> {
        let Some(ex) = self.table.get_mut(&exchange) else {
            return self.dropped(exchange).map(|()| None);
        };
        if ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        ex.head = true;
        ex.status = head.status;
        if ex.kind == Kind::Initialize {
            ex.init_session = Some(SessionId::from_headers(&head.headers));
        }
        Ok(Some(Head {
            kind: ex.kind.clone(),
            session: ex.session.clone(),
        }))
    }

    /// Reads the body of `exchange` with `reader`.
    pub fn read(&mut self, exchange: ExchangeId, reader: Reader, max_event_bytes: usize) {
        if let Some(ex) = self.table.get_mut(&exchange) {
            ex.body = match reader {
                Reader::Discard => Body::Discard,
                Reader::Json => Body::Json(BytesMut::new()),
                Reader::Error => Body::Error(BytesMut::new()),
                Reader::Sse => Body::Sse(Box::new(Decoder::with_max_event_bytes(max_event_bytes))),
            };
        }
    }

    /// Ties `exchange` to the logical stream `key`.
    pub fn feed_stream(&mut self, exchange: ExchangeId, key: StreamKey) {
        if let Some(ex) = self.table.get_mut(&exchange) {
            ex.stream = Some(key);
        }
    }

    /// What `exchange` is for.
    pub fn kind(&self, exchange: ExchangeId) -> Option<&Kind> {
        self.table.get(&exchange).map(|ex| &ex.kind)
    }

    /// The logical stream `exchange` feeds.
    pub fn stream(&self, exchange: ExchangeId) -> Option<StreamKey> {
        self.table.get(&exchange).and_then(|ex| ex.stream)
    }

    /// The session header of the `initialize` response on `exchange` (`INV-C1`); nothing
    /// for any other exchange (on the legacy transport there is no session header at all).
    pub fn init_session(&self, exchange: ExchangeId) -> Result<Option<SessionId>, HeaderError> {
        match self.table.get(&exchange) {
            Some(ex) if ex.kind == Kind::Initialize => ex.init_session.clone().unwrap_or(Ok(None)),
            _ => Ok(None),
        }
    }

    /// Body bytes of `exchange`; `Ok(None)` when the exchange was dropped.
    pub fn chunk(
        &mut self,
        exchange: ExchangeId,
        chunk: Bytes,
        limit: usize,
    ) -> Result<Option<Chunk>, UsageError> {
        let Some(ex) = self.table.get_mut(&exchange) else {
            return self.dropped(exchange).map(|()| None);
        };
        if !ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        let outcome = match &mut ex.body {
            Body::Discard => Chunk::Read,
            Body::Error(buf) => {
                // Only the start of an error body is kept; it is read for a JSON-RPC error.
                let room = limit.min(64 * 1024).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
                Chunk::Read
            }
            Body::Json(buf) if buf.len() + chunk.len() > limit => {
                ex.body = Body::Discard;
                Chunk::TooLarge(ex.kind.clone())
            }
            Body::Json(buf) => {
                buf.extend_from_slice(&chunk);
                Chunk::Read
            }
            Body::Sse(decoder) => {
                decoder.feed_bytes(chunk);
                Chunk::Sse
            }
        };
        Ok(Some(outcome))
    }

    /// The body of `exchange` is complete; `Ok(false)` when the exchange was dropped.
    pub fn end(&mut self, exchange: ExchangeId) -> Result<bool, UsageError> {
        let Some(ex) = self.table.get_mut(&exchange) else {
            return self.dropped(exchange).map(|()| false);
        };
        if !ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        if let Body::Sse(decoder) = &mut ex.body {
            decoder.finish();
        }
        Ok(true)
    }

    /// The next event of an SSE body, with the stream's cursor and retry as they are after
    /// it; `None` when `exchange` is gone or its body is not SSE.
    pub fn next_event(&mut self, exchange: ExchangeId) -> Option<SseStep> {
        let ex = self.table.get_mut(&exchange)?;
        let Body::Sse(decoder) = &mut ex.body else {
            return None;
        };
        let event = decoder.next_event().map_err(|_| ());
        Some(SseStep {
            stream: ex.stream,
            cursor: decoder
                .last_event_id()
                .and_then(|id| HeaderValue::from_str(&id).ok()),
            retry: decoder.retry().map(Duration::from_millis),
            event,
        })
    }

    /// Takes what was read of `exchange`, which stays in the table (its body discarded)
    /// until [`remove`](Self::remove).
    pub fn finish(&mut self, exchange: ExchangeId) -> Option<Finished> {
        let ex = self.table.get_mut(&exchange)?;
        let body = match std::mem::replace(&mut ex.body, Body::Discard) {
            Body::Discard => Read::Discard,
            Body::Json(buf) => Read::Json(buf.freeze()),
            Body::Error(buf) => Read::Error(buf.freeze()),
            Body::Sse(_) => Read::Sse,
        };
        Some(Finished {
            kind: ex.kind.clone(),
            status: ex.status,
            head: ex.head,
            stream: ex.stream,
            body,
        })
    }

    /// Drops `exchange`; returns what it was for and the stream it fed.
    pub fn remove(&mut self, exchange: ExchangeId) -> Option<(Kind, Option<StreamKey>)> {
        let removed = self.table.remove(&exchange).map(|ex| (ex.kind, ex.stream));
        self.withdraw_dropped();
        removed
    }

    /// The POST exchange carrying the request `id`, and whether its request is still
    /// queued (not handed out by `poll_transmit`).
    pub fn carrying(&self, id: &RequestId) -> Option<(ExchangeId, bool)> {
        let (ex, _) = self.table.iter().find(|(_, ex)| match &ex.kind {
            Kind::Post { requests } => requests.contains(id),
            _ => false,
        })?;
        let queued = self.transmits.iter().any(|t| t.exchange == *ex);
        Some((*ex, queued))
    }

    /// Whether `exchange` is a POST carrying `id` and no other request.
    pub fn only_request(&self, exchange: ExchangeId, id: &RequestId) -> bool {
        matches!(self.table.get(&exchange).map(|e| &e.kind),
            Some(Kind::Post { requests }) if requests.len() == 1 && requests[0] == *id)
    }

    /// Drops every exchange that carried the session `old`, with its request if it was
    /// not handed out yet: the ended id is never sent (`INV-C5`).
    pub fn drop_session(&mut self, old: Option<&SessionId>) {
        self.table
            .retain(|_, ex| ex.session.is_none() || ex.session.as_ref() != old);
        self.withdraw_dropped();
    }

    /// Drops every exchange but the DELETEs, with the requests not handed out yet: after
    /// `close` only its DELETE carries the ended id (`INV-C5`).
    pub fn keep_deletes(&mut self) {
        self.table.retain(|_, ex| ex.kind == Kind::Delete);
        self.withdraw_dropped();
    }

    /// Withdraws the queued requests whose exchange was dropped, so that every queued
    /// request belongs to an exchange in the table.
    fn withdraw_dropped(&mut self) {
        let table = &self.table;
        self.transmits.retain(|t| table.contains_key(&t.exchange));
    }
}
