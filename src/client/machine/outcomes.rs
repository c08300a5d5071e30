//! What the components decided, carried out across them: the `initialize` answered or
//! failed, the session expired (`CLI-SESS-8`, `INV-C4`) or forgotten (`INV-C5`), and
//! requests and streams that get no answer (`INV-C11`, `INV-C16`).
//!
//! ```text
//!  initialize answered ─▶ Session::accept ─▶ Initialized, Session::start, standalone GET
//!  initialize failed ───▶ Session::initialize_failed; every awaited request fails
//!  404 with the session ─▶ Session::expire, Exchanges::drop_session, Streams::clear
//!                          ├─ auto_reinitialize ─▶ Requests::resend ─▶ Session::reinitialize
//!                          └─ otherwise ─────────▶ forget: every awaited request fails
//!  connection lost ─────▶ Streams::lost ─▶ reconnect later, or give up: its requests fail
//! ```

use std::time::Instant;

use bytes::Bytes;
use http::StatusCode;

use super::Machine;
use crate::client::config::{ClientMode, Era};
use crate::client::endpoint;
use crate::client::event::{ClientEvent, ProtocolErrorKind, RequestFailure};
use crate::client::exchanges::Kind;
use crate::client::modern::{self, Discovered};
use crate::client::reconnect::{Lost, Standalone, StreamKey};
use crate::client::requests::Outgoing;
use crate::client::session::InitializeError;
use crate::handle::ExchangeId;
use crate::wire::jsonrpc::{Message, MessageKind};

impl Machine {
    /// The answer to `initialize` arrived on `exchange`.
    pub(super) fn on_initialize_response(&mut self, exchange: ExchangeId, msg: Message) {
        if self.exchanges.kind(exchange) == Some(&Kind::Discover) {
            return self.on_discover_response(exchange, msg);
        }
        if msg.kind() == MessageKind::Error {
            return self.initialize_failed(None, Some(msg));
        }
        // Only the response that carries the InitializeResult may set the session (INV-C1).
        let header = self.exchanges.init_session(exchange);
        let accepted = self
            .session
            .accept(&msg, header, &self.config, &mut self.exchanges);
        let (session, version) = match accepted {
            Ok(ready) => ready,
            Err(kind) => {
                self.protocol_error(exchange, kind);
                return self.initialize_failed(None, None);
            }
        };
        self.events.push_back(ClientEvent::Initialized {
            session,
            version,
            result: msg,
        });
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.start(config, exchanges, &self.requests);
        self.streams.set_standalone(Standalone::Closed);
        if self.config.standalone_stream && !self.session.is_legacy() && version.has_get_stream() {
            self.open_standalone();
        }
    }

    /// The answer to `server/discover` arrived on `exchange` (`N26-14`, `N26-20`).
    fn on_discover_response(&mut self, exchange: ExchangeId, msg: Message) {
        let requested = self.session.requested(&self.config);
        let outcome = if msg.kind() == MessageKind::Error {
            modern::discover_refused(StatusCode::OK, msg.json(), requested)
        } else {
            match modern::discovered(&msg, requested) {
                Some(d) => d,
                None => {
                    // Not a DiscoverResult: no modern evidence.
                    self.protocol_error(exchange, ProtocolErrorKind::InvalidDiscoverResult);
                    Discovered::Fallback(None)
                }
            }
        };
        let (status, error) = match msg.kind() {
            MessageKind::Error => (None, Some(msg.clone())),
            _ => (None, None),
        };
        self.after_discover(exchange, outcome, Some(msg), status, error);
    }

    /// Carries out what the answer to `server/discover` meant: ready in the 2026-07-28
    /// era, `initialize` instead (`ClientMode::Auto` only), or the connection failed.
    pub(super) fn after_discover(
        &mut self,
        exchange: ExchangeId,
        outcome: Discovered,
        result: Option<Message>,
        status: Option<StatusCode>,
        error: Option<Message>,
    ) {
        let auto = self.config.mode == ClientMode::Auto;
        match (outcome, result) {
            (Discovered::Modern, Some(result)) if result.kind() == MessageKind::Response => {
                let version = self.session.accept_modern();
                if auto {
                    let era = Era::Modern;
                    self.events.push_back(ClientEvent::EraDetected { era });
                }
                self.events.push_back(ClientEvent::Initialized {
                    session: None,
                    version,
                    result,
                });
                let (config, exchanges) = (&self.config, &mut self.exchanges);
                self.session.start(config, exchanges, &self.requests);
                self.streams.set_standalone(Standalone::Unavailable);
            }
            (Discovered::Retry, _)
                if self
                    .session
                    .retry_discover(&self.config, &mut self.exchanges) =>
            {
                let version = modern::MODERN;
                self.events.push_back(ClientEvent::VersionRetry { version });
            }
            (Discovered::Fallback(version), _) if auto => {
                let era = Era::Session;
                self.events.push_back(ClientEvent::EraDetected { era });
                let (config, exchanges) = (&self.config, &mut self.exchanges);
                self.session.fall_back(version, config, exchanges);
            }
            (Discovered::Fallback(_), Some(r)) if r.kind() == MessageKind::Response => {
                // ClientMode::Modern: a result that lists no version the client speaks.
                self.protocol_error(exchange, ProtocolErrorKind::InvalidDiscoverResult);
                self.initialize_failed(status, error);
            }
            _ => self.initialize_failed(status, error),
        }
    }

    /// A 2026-07-28 POST's connection broke before the responses of its requests: each
    /// goes again under a new id, as often as the configuration allows, else fails with
    /// [`RequestFailure::OutcomeUnknown`] (`N26-19`, `SRV-RES-9`; streams are not
    /// resumable).
    pub(super) fn broken(&mut self, kind: &Kind) {
        let Kind::Post { requests } = kind else {
            return;
        };
        for id in self.requests.awaited(requests) {
            match self.requests.reissue(&id, self.config.reissue_broken) {
                Some((wire_id, body)) => {
                    self.events.push_back(ClientEvent::RequestReissued {
                        id: id.clone(),
                        wire_id,
                    });
                    let out = Outgoing {
                        body,
                        requests: vec![id],
                    };
                    self.session.post(&self.config, &mut self.exchanges, out);
                }
                None => {
                    let reason = RequestFailure::OutcomeUnknown;
                    self.requests.fail(&id, reason, &mut self.events);
                }
            }
        }
    }

    /// An error status's body is complete.
    pub(super) fn error_status(
        &mut self,
        exchange: ExchangeId,
        kind: &Kind,
        status: StatusCode,
        body: Bytes,
    ) {
        let error = Message::parse(body.clone())
            .ok()
            .filter(|m| m.kind() == MessageKind::Error);
        if !self.session.is_current_init(exchange) {
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error,
            });
            return self.requests_failed(exchange, kind, RequestFailure::Http(status));
        }
        // The URI named only the origin: try the path the 404 names, then the
        // well-known ones, before reading the 404 as anything else.
        if status == StatusCode::NOT_FOUND && matches!(kind, Kind::Initialize | Kind::Discover) {
            if error.is_some() {
                self.last_404.clone_from(&error);
            }
            let wk = &self.config.well_known_paths;
            if let Some(next) = endpoint::next(&self.original_endpoint, &body, wk, &self.tried) {
                self.tried.push(next.clone());
                self.config.endpoint = next.clone();
                self.events
                    .push_back(ClientEvent::EndpointRetry { endpoint: next });
                let discover = *kind == Kind::Discover;
                let (config, exchanges) = (&self.config, &mut self.exchanges);
                return self.session.resend_connect(discover, config, exchanges);
            }
            if endpoint::is_bare(&self.original_endpoint) {
                // None answered: later attempts start from the URI as given.
                self.config.endpoint = self.original_endpoint.clone();
            }
        }
        if *kind == Kind::Discover {
            let requested = self.session.requested(&self.config);
            let outcome = modern::discover_refused(status, &body, requested);
            return self.after_discover(exchange, outcome, None, Some(status), error);
        }
        let streamable = *kind == Kind::Initialize;
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        match self
            .session
            .initialize_error(status, &body, streamable, config, exchanges)
        {
            InitializeError::Retry(version) => {
                self.events.push_back(ClientEvent::VersionRetry { version });
            }
            InitializeError::Fallback => {}
            InitializeError::Failed => self.initialize_failed(Some(status), error),
        }
    }

    /// The connection of an SSE exchange is gone (`CLI-RES-4`, ambiguity 16).
    pub(super) fn connection_lost(
        &mut self,
        exchange: ExchangeId,
        kind: &Kind,
        stream: Option<StreamKey>,
        now: Instant,
    ) {
        match kind {
            Kind::Initialize | Kind::Discover if self.session.is_current_init(exchange) => {
                self.initialize_failed(None, None);
            }
            Kind::LegacyProbe if self.session.is_probing() => self.initialize_failed(None, None),
            Kind::LegacyProbe if self.session.is_legacy() => {
                self.events.push_back(ClientEvent::LegacyStreamClosed);
                self.forget_session(RequestFailure::OutcomeUnknown);
                self.session.uninitialized();
            }
            Kind::Initialize | Kind::Discover | Kind::LegacyProbe => {}
            _ if self.session.is_modern() => {
                // N26-19: no resumption in the 2026-07-28 era.
                if let Some(key) = stream {
                    self.streams.give_up(key);
                }
                self.broken(kind);
            }
            _ => {
                let Some(key) = stream else { return };
                let waiting = self.requests.waiting_on(key);
                let policy = &self.config.reconnect;
                let lost =
                    (self.streams).lost(key, exchange, waiting, now, policy, &mut *self.entropy);
                if let Lost::GiveUp(reason) = lost {
                    self.give_up(key, reason);
                }
            }
        }
    }

    /// Stream `key` cannot be resumed: its requests fail with `reason`.
    pub(super) fn give_up(&mut self, key: StreamKey, reason: RequestFailure) {
        let Some(standalone) = self.streams.give_up(key) else {
            return;
        };
        if standalone {
            self.events.push_back(ClientEvent::StandaloneStreamEnded);
        }
        self.requests.fail_stream(key, &reason, &mut self.events);
    }

    pub(super) fn head_failure(&mut self, exchange: ExchangeId, status: StatusCode) {
        if status.is_success() {
            self.protocol_error(exchange, ProtocolErrorKind::UnexpectedContentType);
        } else {
            let error = None;
            self.events.push_back(ClientEvent::HttpError {
                exchange,
                status,
                error,
            });
        }
    }

    /// The requests of `exchange` get no answer through it.
    pub(super) fn requests_failed(
        &mut self,
        exchange: ExchangeId,
        kind: &Kind,
        reason: RequestFailure,
    ) {
        if self.session.is_current_init(exchange) {
            let status = match reason {
                RequestFailure::Http(s) => Some(s),
                _ => None,
            };
            return self.initialize_failed(status, None);
        }
        if let Kind::Post { requests } = kind {
            self.requests.fail_each(requests, &reason, &mut self.events);
        }
    }

    /// A complete JSON body lacks responses.
    pub(super) fn missing_responses(&mut self, exchange: ExchangeId, kind: &Kind) {
        let missing = match kind {
            Kind::Post { requests } => self.requests.awaited(requests),
            _ => Vec::new(),
        };
        let init_missing = matches!(kind, Kind::Initialize | Kind::Discover)
            && self.session.is_current_init(exchange);
        if !missing.is_empty() || init_missing {
            self.protocol_error(exchange, ProtocolErrorKind::MissingResponse);
            if init_missing {
                self.initialize_failed(None, None);
            }
            let reason = RequestFailure::Protocol;
            self.requests.fail_each(&missing, &reason, &mut self.events);
        }
    }

    /// `initialize` did not succeed: back to uninitialized; what waited fails.
    pub(super) fn initialize_failed(&mut self, status: Option<StatusCode>, error: Option<Message>) {
        // A connection that ends on a 404 reports the server's own words, when one of
        // its 404s had them.
        let error = match (status, error) {
            (Some(StatusCode::NOT_FOUND), None) => self.last_404.take(),
            (_, error) => error,
        };
        self.session.initialize_failed();
        let reason = status.map_or(RequestFailure::Protocol, RequestFailure::Http);
        self.requests.fail_all(&reason, &mut self.events);
        self.events
            .push_back(ClientEvent::InitializeFailed { status, error });
    }

    /// A 404 answered a request that carried the current session id (`CLI-SESS-8`,
    /// `INV-C4`). A 404 to a request without one never comes here (ambiguity 10).
    pub(super) fn session_expired(&mut self) {
        // Every exchange of the old session is dropped, with its request if not handed
        // out yet; the old id is never sent again.
        let old = self.session.expire();
        self.exchanges.drop_session(old.as_ref());
        self.streams.clear();
        let auto = self.config.auto_reinitialize && self.session.can_reinitialize();
        self.events.push_back(ClientEvent::SessionExpired {
            reinitializing: auto,
        });
        if !auto {
            self.forget_session(RequestFailure::SessionExpired);
            return self.session.uninitialized();
        }
        // Messages held during an earlier re-initialization were never sent: they go
        // from `held`, not again; the others (in flight or withdrawn) go again once.
        let held = self.session.held_requests();
        let resend = self.requests.resend(&held, &mut self.events);
        let (config, exchanges) = (&self.config, &mut self.exchanges);
        self.session.reinitialize(resend, config, exchanges);
    }

    /// Drops the session and everything tied to it; awaited requests fail with `reason`.
    pub(super) fn forget_session(&mut self, reason: RequestFailure) {
        self.session.forget();
        self.exchanges.keep_deletes();
        self.streams.clear();
        self.requests.fail_all(&reason, &mut self.events);
    }

    pub(super) fn protocol_error(&mut self, exchange: ExchangeId, kind: ProtocolErrorKind) {
        self.events
            .push_back(ClientEvent::ProtocolError { exchange, kind });
    }
}
