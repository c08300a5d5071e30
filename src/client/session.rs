//! The session: `initialize`, capture of the session id and version, re-initialization
//! after a 404, and forgetting the session (`CLI-SESS-4`, `CLI-SESS-8`, `CLI-SESS-9`,
//! `INV-C1`..`INV-C5`, `INV-C8`, `INV-C9`).

use std::time::Instant;

use bytes::Bytes;
use http::{StatusCode, Uri};

use super::error::UsageError;
use super::response::{Exchange, Kind};
use super::{
    Client, ClientEvent, ExchangeId, Outgoing, ProtocolErrorKind, RequestFailure, request,
};
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{Body, Message, MessageKind, RequestId, classify};
use crate::wire::{HeaderError, SessionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Uninitialized,
    /// `initialize` is in flight (or the legacy fallback is probing).
    Initializing,
    Ready,
    /// After [`Client::close`].
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transport {
    Streamable,
    /// Waiting for the legacy `endpoint` event.
    Probing,
    /// Committed to HTTP+SSE: every message is POSTed here.
    Legacy {
        post: Uri,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standalone {
    Closed,
    Open,
    /// The server answered 405: no standalone stream for this session (`INV-C17`).
    Unavailable,
}

/// The `initialize` request, kept to re-initialize after a 404 (`CLI-SESS-8`).
#[derive(Debug, Clone)]
pub(super) struct SavedInitialize {
    pub json: Bytes,
    pub id: RequestId,
    pub requested: ProtocolVersion,
    /// This initialization follows a 404 (`INV-C4`).
    pub reinit: bool,
    /// `initialize` was already re-sent once after a `-32022` (`CLI-BC-26`).
    pub version_retried: bool,
    /// The exchange carrying it now.
    pub exchange: Option<ExchangeId>,
}

impl SavedInitialize {
    pub fn new(json: Bytes, version: ProtocolVersion) -> Result<Self, UsageError> {
        let id = match classify(&json).map_err(UsageError::InvalidMessage)? {
            Body::Single(env) if env.is_initialize() => env.id.clone().expect("a request"),
            _ => return Err(UsageError::NotInitialize),
        };
        let mut saved = Self {
            json,
            id,
            requested: version,
            reinit: false,
            version_retried: false,
            exchange: None,
        };
        saved.set_version(version)?;
        Ok(saved)
    }

    /// Writes `version` into `params.protocolVersion` (`LIFE-2`).
    pub fn set_version(&mut self, version: ProtocolVersion) -> Result<(), UsageError> {
        let mut value: serde_json::Value =
            serde_json::from_slice(&self.json).map_err(|_| UsageError::NotInitialize)?;
        let params = value
            .as_object_mut()
            .ok_or(UsageError::NotInitialize)?
            .entry("params")
            .or_insert_with(|| serde_json::json!({}));
        let params = params.as_object_mut().ok_or(UsageError::NotInitialize)?;
        params.insert("protocolVersion".into(), version.as_str().into());
        self.json = serde_json::to_vec(&value)
            .expect("a Value serializes")
            .into();
        self.requested = version;
        Ok(())
    }
}

impl Client {
    /// POSTs the saved `initialize`, without session or version header (`INV-C2`,
    /// ambiguity 6), on the current transport.
    pub(super) fn send_initialize(&mut self) {
        let Some(init) = &self.init else { return };
        let json = init.json.clone();
        let req = match &self.transport {
            Transport::Legacy { post } => request::post(
                &self.config,
                post.clone(),
                json,
                request::Context::default(),
            ),
            _ => request::post(
                &self.config,
                self.config.endpoint.clone(),
                json,
                request::Context::default(),
            ),
        };
        let kind = match self.transport {
            Transport::Legacy { .. } => Kind::Post {
                requests: Vec::new(),
            },
            _ => Kind::Initialize,
        };
        let ex = self.transmit(Exchange::new(kind, None), req);
        let init = self.init.as_mut().expect("checked");
        init.exchange = Some(ex);
        self.phase = super::Phase::Initializing;
    }

    /// The answer to `initialize` arrived on `exchange`.
    pub(super) fn on_initialize_response(
        &mut self,
        exchange: ExchangeId,
        msg: Message,
        now: Instant,
    ) {
        let _ = now;
        if msg.kind() == MessageKind::Error {
            return self.initialize_failed(None, Some(msg));
        }
        let version = classify(msg.json()).ok().and_then(|b| {
            b.messages()[0]
                .initialize_result_version()
                .map(|v| v.into_owned())
        });
        let Some(version) = version else {
            self.protocol_error(exchange, ProtocolErrorKind::InvalidInitializeResult);
            return self.initialize_failed(None, None);
        };
        // Only the response that carries the InitializeResult may set the session (INV-C1);
        // on the legacy transport there is no session header at all.
        let header: Result<Option<SessionId>, HeaderError> = match self.exchanges.get(&exchange) {
            Some(ex) if ex.kind == Kind::Initialize => ex.init_session.clone().unwrap_or(Ok(None)),
            _ => Ok(None),
        };
        let requested = self
            .init
            .as_ref()
            .map_or(self.config.protocol_version, |i| i.requested);
        // The server answers with the version asked for or an older one (LIFE-3).
        let known =
            ProtocolVersion::from_wire(&version).filter(|v| v.has_initialize() && *v <= requested);
        let Some(v) = known else {
            self.protocol_error(exchange, ProtocolErrorKind::UnsupportedVersion(version));
            // LIFE-4: disconnect; over HTTP, end the session the server just made.
            // An id that already ended is not ended twice (INV-C5).
            let unended = header.ok().flatten().filter(|s| !self.ended.contains(s));
            if let Some(s) = unended {
                self.remember_ended(s.clone());
                let ctx = request::Context {
                    session: Some(&s),
                    version: None,
                };
                let req = request::delete(&self.config, ctx);
                self.transmit(Exchange::new(Kind::Delete, None), req);
            }
            return self.initialize_failed(None, None);
        };
        let session = match header {
            Ok(Some(s)) if self.ended.contains(&s) => {
                self.protocol_error(exchange, ProtocolErrorKind::EndedSessionId);
                return self.initialize_failed(None, None);
            }
            Ok(s) => s,
            Err(e) => {
                self.protocol_error(exchange, ProtocolErrorKind::BadSessionHeader(e));
                return self.initialize_failed(None, None);
            }
        };
        self.session = session.clone();
        self.version = Some(v);
        self.phase = super::Phase::Ready;
        if let Some(init) = &mut self.init {
            init.exchange = None;
            init.reinit = false;
        }
        self.events.push_back(ClientEvent::Initialized {
            session,
            version: v,
            result: msg,
        });
        // LIFE-5, INV-C9: notifications/initialized, once per session, after the result.
        let note = Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        self.post(Outgoing {
            body: note,
            requests: Vec::new(),
        });
        // INV-C4: the requests in flight at the 404 go again, once, then what waited.
        for id in std::mem::take(&mut self.resend) {
            if let Some(p) = self.pending.get(&id) {
                let body = p.json.clone();
                self.post(Outgoing {
                    body,
                    requests: vec![id],
                });
            }
        }
        for out in std::mem::take(&mut self.held) {
            self.post(out);
        }
        self.standalone = Standalone::Closed;
        if self.config.standalone_stream && !self.is_legacy() && v.has_get_stream() {
            self.open_standalone();
        }
    }

    /// `initialize` did not succeed: back to uninitialized; what waited fails.
    pub(super) fn initialize_failed(&mut self, status: Option<StatusCode>, error: Option<Message>) {
        if let Some(init) = &mut self.init {
            init.exchange = None;
            init.reinit = false;
        }
        self.phase = super::Phase::Uninitialized;
        self.transport = Transport::Streamable;
        self.resend.clear();
        self.held.clear();
        let ids: Vec<RequestId> = self.pending.keys().cloned().collect();
        let reason = status.map_or(RequestFailure::Protocol, RequestFailure::Http);
        for id in ids {
            self.fail(&id, reason.clone());
        }
        self.events
            .push_back(ClientEvent::InitializeFailed { status, error });
    }

    /// A 404 answered a request that carried the current session id (`CLI-SESS-8`,
    /// `INV-C4`). A 404 to a request without one never comes here (ambiguity 10).
    pub(super) fn session_expired(&mut self) {
        // Every exchange of the old session is dropped; the old id is never sent again.
        let old = self.session.take();
        if let Some(id) = old.clone() {
            self.remember_ended(id);
        }
        self.version = None;
        self.exchanges
            .retain(|_, ex| ex.session.is_none() || ex.session != old);
        self.streams.clear();
        self.standalone = Standalone::Closed;
        let auto = self.config.auto_reinitialize && self.init.is_some();
        self.events.push_back(ClientEvent::SessionExpired {
            reinitializing: auto,
        });
        if !auto {
            self.forget_session(RequestFailure::SessionExpired);
            self.phase = super::Phase::Uninitialized;
            return;
        }
        // Messages held during an earlier re-initialization were never sent: they go
        // from `held`, not from `resend`.
        let held: Vec<RequestId> = self.held.iter().flat_map(|o| o.requests.clone()).collect();
        let ids: Vec<RequestId> = self
            .pending
            .keys()
            .filter(|id| !held.contains(id))
            .cloned()
            .collect();
        for id in ids {
            let p = self.pending.get_mut(&id).expect("listed");
            if p.resent {
                self.fail(&id, RequestFailure::SessionExpired);
            } else {
                p.resent = true;
                self.resend.push(id);
            }
        }
        // Messages queued while held stay pending; they have not been sent yet.
        self.init.as_mut().expect("auto").reinit = true;
        self.send_initialize();
    }

    /// Drops the session and everything tied to it; awaited requests fail with `reason`.
    pub(super) fn forget_session(&mut self, reason: RequestFailure) {
        self.session = None;
        self.version = None;
        self.exchanges.retain(|_, ex| ex.kind == Kind::Delete);
        self.streams.clear();
        self.standalone = Standalone::Closed;
        self.transport = Transport::Streamable;
        self.resend.clear();
        let ids: Vec<RequestId> = self.pending.keys().cloned().collect();
        for id in ids {
            self.fail(&id, reason.clone());
        }
    }

    pub(super) fn protocol_error(&mut self, exchange: ExchangeId, kind: ProtocolErrorKind) {
        self.events
            .push_back(ClientEvent::ProtocolError { exchange, kind });
    }
}
