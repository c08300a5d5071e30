//! The wiring of the client machine: it owns the components and the event queue, hands
//! each input to the components that read it, and carries out what they decide.
//! [`Client`](super::Client) is its public face and delegates every call here.
//!
//! The components never see each other; only this type ties them together:
//!
//! ```text
//!  application ─initialize / send / close─▶ Session (admits, builds) ─▶ Exchanges ─▶ poll_transmit
//!                                           Requests (awaits)
//!  HTTP stack ─head / chunk / end / error─▶ Exchanges (reads) ─▶ response, route (decide)
//!                                              ─▶ Session, Requests, Streams ─▶ poll_event
//!  clock ─handle_timeout─▶ Streams (due) ─▶ Session::get ─▶ Exchanges ─▶ poll_transmit
//! ```
//!
//! This file routes the inputs; [`outcomes`] carries out the sequences that span several
//! components (the `initialize` answered or failed, a session expired or forgotten,
//! requests and streams that get no answer).

mod outcomes;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;

use super::config::ClientConfig;
use super::error::UsageError;
use super::event::{
    ClientEvent, ProtocolErrorKind, RequestFailure, Timeout, TimeoutReason, Transmit,
};
use super::exchanges::{Chunk, Exchanges, Head, Kind, Media, Reader};
use super::legacy;
use super::reconnect::{Standalone, Streams};
use super::requests::{Outgoing, Requests};
use super::response::{self, OnEnd, OnHead};
use super::route::{self, OnEvent};
use super::session::Session;
use crate::entropy::Entropy;
use crate::handle::ExchangeId;
use crate::wire::jsonrpc::{Message, MessageKind, RequestId, classify};
use crate::wire::sse::DecodedEvent;

/// The components of the client machine, the events for the application, and what ties
/// them together.
pub(super) struct Machine {
    config: ClientConfig,
    entropy: Box<dyn Entropy>,
    session: Session,
    exchanges: Exchanges,
    requests: Requests,
    streams: Streams,
    events: VecDeque<ClientEvent>,
    /// The endpoint as configured, and those the current connection tried.
    original_endpoint: http::Uri,
    tried: Vec<http::Uri>,
    /// The JSON-RPC error of the last 404 to the connecting request, for the failure.
    last_404: Option<Message>,
}

impl Machine {
    /// A machine for a validated `config`.
    pub fn new(config: ClientConfig, entropy: Box<dyn Entropy>) -> Self {
        let original_endpoint = config.endpoint.clone();
        Self {
            config,
            entropy,
            session: Session::default(),
            exchanges: Exchanges::default(),
            requests: Requests::default(),
            streams: Streams::default(),
            events: VecDeque::new(),
            original_endpoint,
            tried: Vec::new(),
            last_404: None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn endpoints_tried(&self) -> &[http::Uri] {
        &self.tried
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// How many exchanges are in flight, and how many requests await their response.
    pub fn in_flight(&self) -> (usize, usize) {
        (self.exchanges.len(), self.requests.len())
    }

    // ----- inputs from the application -----

    /// Saves `initialize` and POSTs it (`CLI-POST-5`, `INV-C2`).
    pub fn initialize(&mut self, message: Bytes) -> Result<(), UsageError> {
        let requests = &self.requests;
        self.session
            .begin(message, &self.config, |id| requests.contains(id))?;
        self.tried = vec![self.config.endpoint.clone()];
        self.last_404 = None;
        self.session.connect(&self.config, &mut self.exchanges);
        Ok(())
    }

    /// Checks `body` against the phase (`CLI-POST-3`, `INV-C7`, `LIFE-6`, `INV-C9`),
    /// awaits its requests, and POSTs it or holds it for the re-initialization.
    pub fn send(&mut self, body: Bytes) -> Result<(), UsageError> {
        let admitted = {
            let parsed = classify(&body).map_err(UsageError::InvalidMessage)?;
            let requests = &self.requests;
            let admitted = self.session.admit(&parsed, |id| requests.contains(id))?;
            if self.session.is_modern() || self.session.is_discovering() {
                // N26-6: what cannot carry its metadata headers is refused here, before
                // anything is awaited.
                let value = serde_json::from_slice(&body).map_err(|e| {
                    UsageError::InvalidMessage(crate::wire::jsonrpc::BodyError::Parse(
                        e.to_string(),
                    ))
                })?;
                super::modern::validate(&value)?;
            }
            let envs = parsed.messages().iter();
            for env in envs.filter(|e| e.kind == MessageKind::Request) {
                let json = Message::from_envelope(&body, env).json().clone();
                let id = env.id.clone().expect("a request has an id");
                let method = env.method.as_deref().unwrap_or_default();
                self.requests.insert(id, json, method);
            }
            admitted
        };
        let out = Outgoing {
            body,
            requests: admitted.requests,
        };
        if admitted.hold {
            self.session.hold(out);
        } else {
            self.session.post(&self.config, &mut self.exchanges, out);
        }
        Ok(())
    }

    /// Opens the standalone GET stream unless it is open or refused (`CLI-GET-1`).
    pub fn open_standalone_stream(&mut self) -> Result<(), UsageError> {
        if self.session.is_modern() {
            return Err(UsageError::NotInModernEra("standalone GET stream"));
        }
        if !self.session.is_ready() || self.session.is_legacy() {
            return Err(UsageError::NotInitialized);
        }
        match self.streams.standalone() {
            Standalone::Unavailable => Err(UsageError::StandaloneStreamRefused),
            Standalone::Open => Ok(()),
            Standalone::Closed => {
                self.open_standalone();
                Ok(())
            }
        }
    }

    /// The DELETE with the session id (`CLI-SESS-9`), then everything of the session is
    /// forgotten (`INV-C5`); awaited requests fail with [`RequestFailure::Closed`].
    pub fn close(&mut self) {
        self.session.close(&self.config, &mut self.exchanges);
        self.forget_session(RequestFailure::Closed);
        self.session.closed();
    }

    /// Stops waiting for the request `id` (it fails with [`RequestFailure::Cancelled`]).
    /// In the 2026-07-28 era its exchange is dropped and returned: closing its stream is
    /// the cancellation (`N26-19`). In the session era the connection stays, and
    /// `notifications/cancelled` goes to the server unless the request never reached it.
    pub fn cancel(
        &mut self,
        id: &RequestId,
        reason: Option<&str>,
    ) -> Result<Option<ExchangeId>, UsageError> {
        if !self.requests.contains(id) {
            return Err(UsageError::UnknownRequest(id.clone()));
        }
        let wire = self.requests.wire_id(id);
        self.requests
            .fail(id, RequestFailure::Cancelled, &mut self.events);
        let carrying = self.exchanges.carrying(id);
        if self.session.is_modern() {
            let Some((ex, queued)) = carrying else {
                return Ok(None);
            };
            if let Some((_, Some(key))) = self.exchanges.remove(ex) {
                self.streams.give_up(key);
            }
            return Ok((!queued).then_some(ex));
        }
        if self.session.withdraw(id) {
            return Ok(None);
        }
        if let Some((ex, true)) = carrying {
            if self.exchanges.only_request(ex, id) {
                // Never sent: withdrawn, nothing to tell the server.
                self.exchanges.remove(ex);
                return Ok(None);
            }
        }
        if self.session.is_ready() {
            let mut params = serde_json::json!({"requestId": wire});
            if let Some(r) = reason {
                params["reason"] = r.into();
            }
            let note = serde_json::json!({
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": params,
            });
            let out = Outgoing {
                body: serde_json::to_vec(&note)
                    .expect("a Value serializes")
                    .into(),
                requests: Vec::new(),
            };
            self.session.post(&self.config, &mut self.exchanges, out);
        }
        Ok(None)
    }

    // ----- inputs from the HTTP stack and the clock -----

    pub fn handle_response_head(
        &mut self,
        exchange: ExchangeId,
        head: http::response::Parts,
    ) -> Result<(), UsageError> {
        let Some(Head { kind, session }) = self.exchanges.head(exchange, &head)? else {
            return Ok(());
        };
        let status = head.status;
        // CLI-SESS-8, INV-C4: a 404 to a request that carried the current session id.
        // A 404 to a request without one is a plain error (or a legacy hint, ambiguity 10).
        if status == StatusCode::NOT_FOUND
            && session.is_some()
            && session.as_ref() == self.session.id()
            && kind != Kind::Delete
        {
            self.session_expired();
            return Ok(());
        }
        let legacy = self.session.is_legacy();
        match response::on_head(&kind, status, Media::of(&head), legacy) {
            OnHead::Closed => self.events.push_back(ClientEvent::SessionClosed { status }),
            OnHead::Read(reader) => self.read(exchange, reader),
            OnHead::Refused(error) => {
                self.protocol_error(exchange, error);
                self.requests_failed(exchange, &kind, RequestFailure::Protocol);
            }
            OnHead::Stream => {
                let key = self.streams.open(kind == Kind::Standalone, exchange);
                if let Kind::Post { requests } = &kind {
                    self.requests.wait_on(requests, key);
                }
                self.exchanges.feed_stream(exchange, key);
                self.read(exchange, Reader::Sse);
            }
            OnHead::Resumed => {
                self.read(exchange, Reader::Sse);
                if let Some(key) = self.exchanges.stream(exchange) {
                    self.streams.resumed(key);
                }
            }
            OnHead::Standalone { state, failed } => {
                self.streams.set_standalone(state);
                if state == Standalone::Unavailable {
                    self.events
                        .push_back(ClientEvent::StandaloneStreamUnavailable);
                }
                if failed {
                    self.head_failure(exchange, status);
                }
            }
            OnHead::ResumeFailed(reason) => {
                self.head_failure(exchange, status);
                if let Some(key) = self.exchanges.stream(exchange) {
                    self.give_up(key, reason);
                }
            }
            OnHead::ProbeFailed => {
                self.exchanges.remove(exchange);
                self.initialize_failed(Some(status), None);
            }
        }
        Ok(())
    }

    pub fn handle_response_chunk(
        &mut self,
        exchange: ExchangeId,
        chunk: Bytes,
        now: Instant,
    ) -> Result<(), UsageError> {
        let limit = self.config.max_event_bytes;
        match self.exchanges.chunk(exchange, chunk, limit)? {
            None | Some(Chunk::Read) => {}
            Some(Chunk::TooLarge(kind)) => {
                self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                self.requests_failed(exchange, &kind, RequestFailure::Protocol);
            }
            Some(Chunk::Sse) => self.drain_sse(exchange, now),
        }
        Ok(())
    }

    pub fn handle_response_end(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.exchanges.end(exchange)? {
            self.drain_sse(exchange, now);
            self.finish(exchange, true, now);
        }
        Ok(())
    }

    pub fn handle_transport_error(
        &mut self,
        exchange: ExchangeId,
        now: Instant,
    ) -> Result<(), UsageError> {
        if self.exchanges.contains(exchange)? {
            self.finish(exchange, false, now);
        }
        Ok(())
    }

    /// A GET with `Last-Event-ID` for each stream whose delay has passed (`CLI-RES-4`,
    /// `INV-C12`; always a GET, `BOTH-RES-7`).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (key, cursor) in self.streams.due(now) {
            let ex = self.session.get(
                &self.config,
                &mut self.exchanges,
                Kind::Get,
                cursor.as_ref(),
            );
            self.exchanges.feed_stream(ex, key);
            self.streams.reconnecting(key, ex);
        }
    }

    // ----- outputs -----

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.exchanges.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Timeout> {
        self.streams.next_timeout().map(|at| Timeout {
            at,
            reason: TimeoutReason::Reconnect,
        })
    }

    // ----- reading bodies and routing what they carry -----

    fn read(&mut self, exchange: ExchangeId, reader: Reader) {
        let limit = self.config.max_event_bytes;
        self.exchanges.read(exchange, reader, limit);
    }

    fn finish(&mut self, exchange: ExchangeId, complete: bool, now: Instant) {
        let Some(mut f) = self.exchanges.finish(exchange) else {
            return;
        };
        match response::on_end(&mut f, complete) {
            OnEnd::Body(body) => {
                self.on_body(exchange, body);
                self.missing_responses(exchange, &f.kind);
            }
            OnEnd::ErrorStatus(body) => self.error_status(exchange, &f.kind, f.status, body),
            OnEnd::Lost => self.connection_lost(exchange, &f.kind, f.stream, now),
            OnEnd::OutcomeUnknown if self.session.is_modern() => self.broken(&f.kind),
            OnEnd::OutcomeUnknown => {
                self.requests_failed(exchange, &f.kind, RequestFailure::OutcomeUnknown);
            }
            OnEnd::StandaloneEnded => {
                self.streams.set_standalone(Standalone::Closed);
                self.events.push_back(ClientEvent::StandaloneStreamEnded);
            }
            OnEnd::Nothing => {}
        }
        self.exchanges.remove(exchange);
    }

    fn drain_sse(&mut self, exchange: ExchangeId, now: Instant) {
        while let Some(step) = self.exchanges.next_event(exchange) {
            if let Some(key) = step.stream {
                self.streams.observe(key, step.cursor, step.retry);
            }
            match step.event {
                Ok(Some(event)) => self.on_event(exchange, event),
                Ok(None) => return,
                Err(()) => {
                    self.protocol_error(exchange, ProtocolErrorKind::TooLarge);
                    let (kind, stream) = self.exchanges.remove(exchange).expect("present");
                    match stream {
                        Some(key) => self.give_up(key, RequestFailure::Protocol),
                        None => self.connection_lost(exchange, &kind, None, now),
                    }
                    return;
                }
            }
        }
    }

    fn on_event(&mut self, exchange: ExchangeId, event: DecodedEvent) {
        let probe = self.exchanges.kind(exchange) == Some(&Kind::LegacyProbe);
        match route::on_event(event, probe, self.session.is_probing()) {
            OnEvent::Ignore => {}
            OnEvent::Body(body) => self.on_body(exchange, body),
            OnEvent::Endpoint(data) => match legacy::resolve_endpoint(&self.config.endpoint, &data)
            {
                Some(post) => {
                    // CLI-BC-4, INV-C19: committed only now.
                    let endpoint = post.clone();
                    self.events
                        .push_back(ClientEvent::LegacyFallback { endpoint });
                    self.session
                        .commit_legacy(post, &self.config, &mut self.exchanges);
                }
                None => {
                    self.protocol_error(exchange, ProtocolErrorKind::InvalidLegacyEndpoint);
                    self.exchanges.remove(exchange);
                    self.initialize_failed(None, None);
                }
            },
        }
    }

    /// A JSON body or SSE event data, routed message by message (`INV-C11`).
    fn on_body(&mut self, exchange: ExchangeId, body: Bytes) {
        let messages = match route::messages(&body) {
            Ok(messages) => messages,
            Err(e) => return self.protocol_error(exchange, ProtocolErrorKind::InvalidMessage(e)),
        };
        for msg in messages {
            let Some(id) = route::answers(&msg) else {
                self.events.push_back(ClientEvent::Message(msg));
                continue;
            };
            let probe = self.exchanges.kind(exchange) == Some(&Kind::LegacyProbe);
            if self.session.answers_initialize(&id, exchange, probe) {
                self.on_initialize_response(exchange, msg);
                continue;
            }
            // INV-C11: each awaited id resolves once; a replayed or unknown one is
            // dropped. A re-issued request's answer comes under its new id (N26-19).
            let Some(app) = self.requests.app_id(&id) else {
                continue;
            };
            let mut msg = if app == id {
                msg
            } else {
                super::modern::with_id(msg, &app)
            };
            let listed = self.requests.method(&app) == Some("tools/list");
            if self.session.is_modern() && listed && msg.kind() == MessageKind::Response {
                // N26-16: tools with invalid x-mcp-header annotations are dropped.
                let (kept, dropped) = super::modern::filter_tools(msg, self.session.tools_mut());
                msg = kept;
                for (tool, error) in dropped {
                    self.events
                        .push_back(ClientEvent::ToolRejected { tool, error });
                }
            }
            self.requests.resolve(&app);
            self.events.push_back(ClientEvent::Response {
                id: app,
                message: msg,
            });
        }
    }

    fn open_standalone(&mut self) {
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.get(config, exchanges, Kind::Standalone, None);
        self.streams.set_standalone(Standalone::Open);
    }
}
