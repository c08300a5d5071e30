//! Reading responses: heads, JSON bodies, SSE streams, error statuses (`INV-C10`,
//! `INV-C11`, `INV-C13`, `INV-C17`), and routing the messages they carry.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http::header::CONTENT_TYPE;
use http::{StatusCode, response};

use super::error::UsageError;
use super::legacy;
use super::reconnect::LogicalStream;
use super::session::{Phase, Standalone, Transport};
use super::{Client, ClientEvent, ExchangeId, ProtocolErrorKind, RequestFailure, request};
use crate::wire::jsonrpc::{Message, MessageKind, RequestId};
use crate::wire::media::{APPLICATION_JSON, TEXT_EVENT_STREAM, content_type_is};
use crate::wire::sse::Decoder;
use crate::wire::{HeaderError, SessionId};

/// What an exchange is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// The Streamable HTTP `initialize` POST.
    Initialize,
    /// A POST of messages; `requests` are the ids it carries.
    Post { requests: Vec<RequestId> },
    /// The standalone GET stream.
    Standalone,
    /// A GET resuming the logical stream in [`Exchange::stream`].
    Get,
    /// The DELETE.
    Delete,
    /// The legacy GET: first the `endpoint` event, then the server's messages.
    LegacyProbe,
}

#[derive(Debug)]
pub(super) enum BodyReader {
    Discard,
    Json(BytesMut),
    /// An error status's body, kept (bounded) for its JSON-RPC error.
    Error(BytesMut),
    Sse(Box<Decoder>),
}

#[derive(Debug)]
pub(super) struct Exchange {
    pub kind: Kind,
    /// The session id the request carried.
    pub session: Option<SessionId>,
    pub head: bool,
    pub status: StatusCode,
    pub body: BodyReader,
    /// The logical SSE stream this exchange feeds.
    pub stream: Option<u64>,
    /// On the `initialize` response: its session header, applied only with a successful
    /// `InitializeResult` (`INV-C1`).
    pub init_session: Option<Result<Option<SessionId>, HeaderError>>,
}

impl Exchange {
    pub fn new(kind: Kind, session: Option<SessionId>) -> Self {
        Self {
            kind,
            session,
            head: false,
            status: StatusCode::OK,
            body: BodyReader::Discard,
            stream: None,
            init_session: None,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Media {
    Json,
    Sse,
    Other,
}

fn media(head: &response::Parts) -> Media {
    // Not `single_value`: a media type may hold spaces (`application/json; charset=utf-8`).
    let mut values = head.headers.get_all(CONTENT_TYPE).iter();
    let value = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().ok(),
        _ => None,
    };
    match value {
        Some(v) if content_type_is(v, APPLICATION_JSON) => Media::Json,
        Some(v) if content_type_is(v, TEXT_EVENT_STREAM) => Media::Sse,
        _ => Media::Other,
    }
}

impl Client {
    fn unknown(&self, exchange: ExchangeId) -> Result<(), UsageError> {
        // An exchange this machine dropped (expired session, close) is ignored.
        if exchange.0 < self.next_exchange {
            Ok(())
        } else {
            Err(UsageError::UnknownExchange(exchange))
        }
    }

    fn decoder(&self) -> BodyReader {
        BodyReader::Sse(Box::new(Decoder::with_max_event_bytes(
            self.config.max_event_bytes,
        )))
    }

    /// The response head of `exchange` arrived.
    pub fn handle_response_head(
        &mut self,
        exchange: ExchangeId,
        head: response::Parts,
        now: Instant,
    ) -> Result<(), UsageError> {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return self.unknown(exchange);
        };
        if ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        ex.head = true;
        ex.status = head.status;
        let status = head.status;
        let kind = ex.kind.clone();
        // CLI-SESS-8, INV-C4: a 404 to a request that carried the current session id.
        // A 404 to a request without one is a plain error (or a legacy hint, ambiguity 10).
        if status == StatusCode::NOT_FOUND
            && ex.session.is_some()
            && ex.session == self.session
            && kind != Kind::Delete
        {
            self.session_expired();
            return Ok(());
        }
        let media = media(&head);
        let limit_body = BodyReader::Error(BytesMut::new());
        match kind {
            Kind::Delete => {
                self.events.push_back(ClientEvent::SessionClosed { status });
            }
            Kind::Initialize | Kind::Post { .. } => {
                let requests = match &kind {
                    Kind::Initialize => vec![self.init.as_ref().expect("initializing").id.clone()],
                    Kind::Post { requests } => requests.clone(),
                    _ => unreachable!(),
                };
                if kind == Kind::Initialize {
                    let ex = self.exchanges.get_mut(&exchange).expect("present");
                    ex.init_session = Some(SessionId::from_headers(&head.headers));
                }
                if !status.is_success() {
                    self.exchanges.get_mut(&exchange).expect("present").body = limit_body;
                } else if requests.is_empty() || self.is_legacy() {
                    // INV-C10: a 202 (or any 2xx) completes a POST of notifications or
                    // responses; legacy replies come on the GET stream (LEG-4).
                } else if status == StatusCode::ACCEPTED || media == Media::Other {
                    let k = if status == StatusCode::ACCEPTED {
                        ProtocolErrorKind::AcceptedWithRequests
                    } else {
                        ProtocolErrorKind::UnexpectedContentType
                    };
                    self.protocol_error(exchange, k);
                    self.requests_failed(exchange, &kind, RequestFailure::Protocol);
                } else if media == Media::Json {
                    self.exchanges.get_mut(&exchange).expect("present").body =
                        BodyReader::Json(BytesMut::new());
                } else if kind == Kind::Initialize {
                    // No session yet: this stream cannot be resumed, so no logical stream.
                    let reader = self.decoder();
                    self.exchanges.get_mut(&exchange).expect("present").body = reader;
                } else {
                    let waiting = requests
                        .into_iter()
                        .filter(|id| self.pending.contains_key(id))
                        .collect();
                    let key = self.new_stream(LogicalStream::new(false, waiting, exchange));
                    let reader = self.decoder();
                    let ex = self.exchanges.get_mut(&exchange).expect("present");
                    ex.stream = Some(key);
                    ex.body = reader;
                }
            }
            Kind::Standalone => {
                if status.is_success() && media == Media::Sse {
                    let key =
                        self.new_stream(LogicalStream::new(true, Default::default(), exchange));
                    let reader = self.decoder();
                    let ex = self.exchanges.get_mut(&exchange).expect("present");
                    ex.stream = Some(key);
                    ex.body = reader;
                } else if status == StatusCode::METHOD_NOT_ALLOWED {
                    // INV-C17: no standalone stream; the session stays as it is.
                    self.standalone = Standalone::Unavailable;
                    self.events
                        .push_back(ClientEvent::StandaloneStreamUnavailable);
                } else if status == StatusCode::CONFLICT {
                    // Ambiguity 24: another GET stream is open; not a failure.
                    self.standalone = Standalone::Closed;
                } else {
                    self.standalone = Standalone::Closed;
                    self.head_failure(exchange, status);
                }
            }
            Kind::Get => {
                let key = self.exchanges[&exchange].stream;
                if status.is_success() && media == Media::Sse {
                    let reader = self.decoder();
                    self.exchanges.get_mut(&exchange).expect("present").body = reader;
                    if let Some(s) = key.and_then(|k| self.streams.get_mut(&k)) {
                        s.failures = 0;
                    }
                } else {
                    self.head_failure(exchange, status);
                    if let Some(k) = key {
                        let reason = if status.is_success() {
                            RequestFailure::Protocol
                        } else {
                            RequestFailure::Http(status)
                        };
                        self.give_up(k, reason);
                    }
                }
            }
            Kind::LegacyProbe => {
                if status.is_success() && media == Media::Sse {
                    let reader = self.decoder();
                    self.exchanges.get_mut(&exchange).expect("present").body = reader;
                } else {
                    self.exchanges.remove(&exchange);
                    self.initialize_failed(Some(status), None);
                }
            }
        }
        let _ = now;
        Ok(())
    }

    /// Whether `exchange` carries the `initialize` in flight.
    pub(super) fn is_current_init(&self, exchange: ExchangeId) -> bool {
        self.phase == Phase::Initializing
            && self.init.as_ref().and_then(|i| i.exchange) == Some(exchange)
    }

    fn head_failure(&mut self, exchange: ExchangeId, status: StatusCode) {
        if status.is_success() {
            self.protocol_error(exchange, ProtocolErrorKind::UnexpectedContentType);
        } else {
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error: None,
            });
        }
    }

    fn requests_failed(&mut self, exchange: ExchangeId, kind: &Kind, reason: RequestFailure) {
        if self.is_current_init(exchange) {
            let status = match reason {
                RequestFailure::Http(s) => Some(s),
                _ => None,
            };
            return self.initialize_failed(status, None);
        }
        if let Kind::Post { requests } = kind {
            for id in requests {
                self.fail(id, reason.clone());
            }
        }
    }

    /// Body bytes of `exchange`.
    pub fn handle_response_chunk(
        &mut self,
        exchange: ExchangeId,
        chunk: Bytes,
        now: Instant,
    ) -> Result<(), UsageError> {
        let limit = self.config.max_event_bytes;
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return self.unknown(exchange);
        };
        if !ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        match &mut ex.body {
            BodyReader::Discard => {}
            BodyReader::Error(buf) => {
                // Only the start of an error body is kept; it is read for a JSON-RPC error.
                let room = limit.min(64 * 1024).saturating_sub(buf.len());
                buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            BodyReader::Json(buf) => {
                if buf.len() + chunk.len() > limit {
                    ex.body = BodyReader::Discard;
                    let kind = ex.kind.clone();
                    self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                    self.requests_failed(exchange, &kind, RequestFailure::Protocol);
                } else {
                    buf.extend_from_slice(&chunk);
                }
            }
            BodyReader::Sse(decoder) => {
                decoder.feed_bytes(chunk);
                self.drain_sse(exchange, now);
            }
        }
        Ok(())
    }

    /// The body of `exchange` is complete, or its connection closed after the head.
    pub fn handle_response_end(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return self.unknown(exchange);
        };
        if !ex.head {
            return Err(UsageError::ExchangeOutOfOrder(exchange));
        }
        if let BodyReader::Sse(decoder) = &mut ex.body {
            decoder.finish();
            self.drain_sse(exchange, now);
        }
        self.finish(exchange, true, now);
        Ok(())
    }

    /// The connection of `exchange` failed: before the head (the request may or may not
    /// have reached the server) or during the body.
    pub fn handle_transport_error(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if !self.exchanges.contains_key(&exchange) {
            return self.unknown(exchange);
        }
        self.finish(exchange, false, now);
        Ok(())
    }

    fn finish(&mut self, exchange: ExchangeId, complete: bool, now: Instant) {
        let Some(ex) = self.exchanges.get_mut(&exchange) else {
            return;
        };
        let body = std::mem::replace(&mut ex.body, BodyReader::Discard);
        let (kind, status, head, stream) = (ex.kind.clone(), ex.status, ex.head, ex.stream);
        match body {
            BodyReader::Json(buf) if complete => {
                self.on_body(exchange, buf.freeze(), now);
                self.missing_responses(exchange, &kind);
            }
            BodyReader::Error(buf) => self.error_status(exchange, &kind, status, &buf),
            BodyReader::Sse(_) => self.connection_lost(exchange, &kind, stream, now),
            BodyReader::Json(_) => {
                self.requests_failed(exchange, &kind, RequestFailure::OutcomeUnknown)
            }
            BodyReader::Discard if !head => match kind {
                Kind::Get => self.connection_lost(exchange, &kind, stream, now),
                Kind::Standalone => {
                    self.standalone = Standalone::Closed;
                    self.events.push_back(ClientEvent::StandaloneStreamEnded);
                }
                Kind::LegacyProbe => self.connection_lost(exchange, &kind, None, now),
                // The request may or may not have been processed (ambiguity 16).
                _ => self.requests_failed(exchange, &kind, RequestFailure::OutcomeUnknown),
            },
            BodyReader::Discard => {}
        }
        self.exchanges.remove(&exchange);
    }

    fn missing_responses(&mut self, exchange: ExchangeId, kind: &Kind) {
        let missing: Vec<RequestId> = match kind {
            Kind::Post { requests } => requests
                .iter()
                .filter(|id| self.pending.contains_key(*id))
                .cloned()
                .collect(),
            _ => Vec::new(),
        };
        let init_missing = *kind == Kind::Initialize && self.is_current_init(exchange);
        if !missing.is_empty() || init_missing {
            self.protocol_error(exchange, ProtocolErrorKind::MissingResponse);
            if init_missing {
                self.initialize_failed(None, None);
            }
            for id in missing {
                self.fail(&id, RequestFailure::Protocol);
            }
        }
    }

    /// An error status's body is complete.
    fn error_status(&mut self, exchange: ExchangeId, kind: &Kind, status: StatusCode, body: &[u8]) {
        let error = Message::parse(Bytes::copy_from_slice(body))
            .ok()
            .filter(|m| m.kind() == MessageKind::Error);
        if !self.is_current_init(exchange) {
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error,
            });
            return self.requests_failed(exchange, kind, RequestFailure::Http(status));
        }
        let init = self.init.as_mut().expect("initializing");
        let supported = legacy::supported_versions(body);
        // CLI-BC-26: a -32022 body comes from a modern server; re-send initialize with
        // the newest version it lists that we speak, once.
        if status == StatusCode::BAD_REQUEST && !init.version_retried {
            if let Some(v) = supported
                .as_deref()
                .and_then(|s| legacy::retry_version(s, init.requested))
            {
                init.version_retried = true;
                if init.set_version(v).is_ok() {
                    self.events
                        .push_back(ClientEvent::VersionRetry { version: v });
                    return self.send_initialize();
                }
            }
        }
        // CLI-BC-3, INV-C19: the legacy fallback, only for the first initialize of a
        // Streamable HTTP attempt, on a status the revision allows (never 401).
        let fallback = *kind == Kind::Initialize
            && self.config.legacy_fallback
            && !init.reinit
            && supported.is_none()
            && status != StatusCode::UNAUTHORIZED
            && init.requested.legacy_fallback_on(status);
        if fallback {
            self.transport = Transport::Probing;
            let req = request::get(&self.config, request::Context::default(), None);
            self.transmit(Exchange::new(Kind::LegacyProbe, None), req);
            return;
        }
        self.initialize_failed(Some(status), error);
    }
}
