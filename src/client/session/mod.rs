//! The session phase: `initialize`, capture of the session id and version, the transport
//! (Streamable HTTP, probing for, or committed to, the legacy one), re-initialization after a
//! 404, and forgetting the session (`CLI-SESS-4`, `CLI-SESS-8`, `CLI-SESS-9`,
//! `INV-C1`..`INV-C5`, `INV-C8`, `INV-C9`).
//!
//! ```text
//!                begin + send_initialize            accept (InitializeResult, INV-C1)
//!  Uninitialized ───────────────────────▶ Initializing ─────────────────────────────▶ Ready
//!     ▲  ▲                                 │  ▲  │ (-32022: retry once, CLI-BC-26)       │
//!     │  └──────── initialize_failed ◀─────┘  │  └─▶ Probing ─endpoint─▶ Legacy{post} ──┤
//!     │                                       │                                        │
//!     │                                       └── expire + reinitialize (INV-C4) ◀──────┤
//!     └── expire (no auto_reinitialize) / forget ◀───────────────────────────────────────┤
//!                                                  Closed ◀── close: DELETE (INV-C5) ◀──┘
//! ```
//!
//! While re-initializing, the requests in flight at the 404 wait in `resend` (sent again
//! once) and what the application sends meanwhile waits in `held`.

mod initialize;

use std::collections::VecDeque;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, Uri};

use initialize::SavedInitialize;

use super::config::{ClientConfig, ClientMode, Era};
use super::error::UsageError;
use super::event::ProtocolErrorKind;
use super::exchanges::{Exchanges, Kind};
use super::modern::{self, MODERN};
use super::request::{self, Context};
use super::requests::{Outgoing, Requests};
use crate::handle::ExchangeId;
use crate::params::ParamHeaders;
use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{Body, Message, MessageKind, RequestId, classify};
use crate::wire::{HeaderError, SessionId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Uninitialized,
    /// `initialize` is in flight (or the legacy fallback is probing).
    Initializing,
    Ready,
    /// After [`Client::close`](super::Client::close).
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Transport {
    Streamable,
    /// Waiting for the legacy `endpoint` event.
    Probing,
    /// Committed to HTTP+SSE: every message is POSTed here.
    Legacy {
        post: Uri,
    },
}

/// How a message the application sends goes out.
#[derive(Debug)]
pub(super) struct Admitted {
    /// The ids of its requests.
    pub requests: Vec<RequestId>,
    /// It waits for the re-initialization in progress.
    pub hold: bool,
}

/// What to do after an error status answered `initialize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InitializeError {
    /// `initialize` is re-sent with this version (`CLI-BC-26`).
    Retry(ProtocolVersion),
    /// Fall back: the legacy probe GET is sent (`CLI-BC-3`).
    Fallback,
    /// `initialize` failed.
    Failed,
}

/// The session: its phase, transport, id, version, the ids that ended, the saved
/// `initialize`, and what waits for a re-initialization.
#[derive(Debug)]
pub(super) struct Session {
    phase: Phase,
    transport: Transport,
    /// The captured session id (`INV-C1`).
    id: Option<SessionId>,
    /// The negotiated version.
    version: Option<ProtocolVersion>,
    /// The session ids that ended (DELETE or 404), never used again (`INV-C5`).
    ended: EndedIds,
    init: Option<SavedInitialize>,
    /// Requests to re-send, then messages the application sent, once re-initialized.
    resend: Vec<RequestId>,
    held: Vec<Outgoing>,
    /// The client speaks 2026-07-28 with this server (`N26-1`): no session, requests
    /// with `_meta` and metadata headers.
    modern: bool,
    /// `server/discover` is in flight in place of `initialize`.
    discovering: bool,
    /// `server/discover` was sent again after a -32022 (once per connection).
    discover_retried: bool,
    /// What [`ClientMode::Auto`] found, kept for the life of the machine (`N26-20`).
    detected: Option<Era>,
    /// The `x-mcp-header` annotations learned from `tools/list` (`N26-16`).
    tools: ParamHeaders,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            phase: Phase::Uninitialized,
            transport: Transport::Streamable,
            id: None,
            version: None,
            ended: EndedIds::default(),
            init: None,
            resend: Vec::new(),
            held: Vec::new(),
            modern: false,
            discovering: false,
            discover_retried: false,
            detected: None,
            tools: ParamHeaders::new(),
        }
    }
}

impl Session {
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The captured session id.
    pub fn id(&self) -> Option<&SessionId> {
        self.id.as_ref()
    }

    /// The negotiated version.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Ready
    }

    /// Whether the client uses the 2024-11-05 HTTP+SSE transport.
    pub fn is_legacy(&self) -> bool {
        matches!(self.transport, Transport::Legacy { .. })
    }

    /// Whether the client speaks 2026-07-28 with this server.
    pub fn is_modern(&self) -> bool {
        self.modern
    }

    /// Whether `server/discover` is in flight in place of `initialize`.
    pub fn is_discovering(&self) -> bool {
        self.discovering
    }

    /// The version `initialize` asks for (or would, after a fallback).
    pub fn requested(&self, config: &ClientConfig) -> ProtocolVersion {
        self.init
            .as_ref()
            .map_or(config.protocol_version, |i| i.requested)
    }

    /// The annotations learned from `tools/list`, to learn more.
    pub fn tools_mut(&mut self) -> &mut ParamHeaders {
        &mut self.tools
    }

    /// Whether the legacy fallback waits for the `endpoint` event.
    pub fn is_probing(&self) -> bool {
        self.transport == Transport::Probing
    }

    /// Whether a saved `initialize` allows a re-initialization.
    pub fn can_reinitialize(&self) -> bool {
        self.init.is_some()
    }

    /// The session and version headers of the current session.
    fn context(&self) -> Context<'_> {
        Context {
            session: self.id.as_ref(),
            version: self.version,
        }
    }

    /// Saves the `initialize` request `json`; [`send_initialize`](Self::send_initialize)
    /// sends it. `pending` says whether an id awaits its response.
    pub fn begin(
        &mut self,
        json: Bytes,
        config: &ClientConfig,
        pending: impl Fn(&RequestId) -> bool,
    ) -> Result<(), UsageError> {
        if !matches!(self.phase, Phase::Uninitialized | Phase::Closed) {
            return Err(UsageError::AlreadyInitialized);
        }
        let saved = SavedInitialize::new(json, config.protocol_version)?;
        if pending(&saved.id) {
            return Err(UsageError::DuplicateRequestId(saved.id));
        }
        self.init = Some(saved);
        self.transport = Transport::Streamable;
        Ok(())
    }

    /// Checks a message the application sends against the phase (`CLI-POST-3`,
    /// `LIFE-6`, `INV-C7`, `INV-C9`). `pending` says whether an id awaits its response.
    pub fn admit(
        &self,
        parsed: &Body<'_>,
        pending: impl Fn(&RequestId) -> bool,
    ) -> Result<Admitted, UsageError> {
        let envs = parsed.messages();
        let mut requests = Vec::new();
        for env in envs {
            if env.is_initialize() {
                return Err(UsageError::InitializeViaSend);
            }
            if env.method.as_deref() == Some("notifications/initialized") {
                return Err(UsageError::InitializedIsAutomatic);
            }
            if env.kind == MessageKind::Request {
                let id = env.id.clone().expect("a request has an id");
                let taken = pending(&id)
                    || requests.contains(&id)
                    || self
                        .init
                        .as_ref()
                        .is_some_and(|i| i.id == id && self.phase == Phase::Initializing);
                if taken {
                    return Err(UsageError::DuplicateRequestId(id));
                }
                requests.push(id);
            }
        }
        if (self.modern || self.discovering) && envs.iter().any(|e| e.kind.is_response()) {
            // N26-2: a modern client never sends a JSON-RPC response.
            return Err(UsageError::ResponseInModernEra);
        }
        let reinitializing = self.phase == Phase::Initializing
            && (self.discovering || self.init.as_ref().is_some_and(|i| i.reinit));
        let ready = self.phase == Phase::Ready;
        if parsed.is_batch() {
            let responses = envs.iter().filter(|e| e.kind.is_response()).count();
            let allowed = ready
                && self.version.is_some_and(ProtocolVersion::allows_batches)
                && !self.is_legacy()
                && (responses == 0 || responses == envs.len());
            if !allowed {
                return Err(UsageError::BatchNotAllowed);
            }
        } else if !ready && !reinitializing {
            // LIFE-6, INV-C9: before the InitializeResult, only ping.
            let ping =
                envs[0].kind == MessageKind::Request && envs[0].method.as_deref() == Some("ping");
            if !(ping && self.phase == Phase::Initializing) {
                return Err(UsageError::NotInitialized);
            }
        }
        Ok(Admitted {
            requests,
            hold: reinitializing,
        })
    }

    /// Keeps `out` until the re-initialization in progress succeeds.
    pub fn hold(&mut self, out: Outgoing) {
        self.held.push(out);
    }

    /// Connects: `server/discover` in the 2026-07-28 era (`N26-14`, `N26-20`), else the
    /// saved `initialize`.
    pub fn connect(&mut self, config: &ClientConfig, exchanges: &mut Exchanges) {
        let discover = match config.mode {
            ClientMode::SessionEra => false,
            ClientMode::Modern => true,
            ClientMode::Auto => {
                let known = self.detected.or(config.era_hint);
                known != Some(Era::Session)
            }
        };
        self.discover_retried = false;
        if !discover {
            return self.send_initialize(config, exchanges);
        }
        self.send_discover(config, exchanges);
    }

    /// Sends `server/discover` again after a -32022 that listed 2026-07-28, once;
    /// whether it did.
    pub fn retry_discover(&mut self, config: &ClientConfig, exchanges: &mut Exchanges) -> bool {
        if self.discover_retried {
            return false;
        }
        self.discover_retried = true;
        self.send_discover(config, exchanges);
        true
    }

    /// Sends the connecting request again (to another endpoint): `server/discover` when
    /// `discover`, else `initialize`.
    pub fn resend_connect(
        &mut self,
        discover: bool,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
    ) {
        if discover {
            self.send_discover(config, exchanges);
        } else {
            self.send_initialize(config, exchanges);
        }
    }

    fn send_discover(&mut self, config: &ClientConfig, exchanges: &mut Exchanges) {
        let Some(init) = &mut self.init else { return };
        let p = modern::discover(&init.id, &init.identity);
        let req = request::post_modern(config, p.body, p.headers);
        init.exchange = Some(exchanges.issue(Kind::Discover, None, req));
        self.phase = Phase::Initializing;
        self.discovering = true;
    }

    /// `server/discover` was answered by a 2026-07-28 server: the client is ready, with
    /// no session (`N26-1`).
    pub fn accept_modern(&mut self) -> ProtocolVersion {
        self.discovering = false;
        self.modern = true;
        self.detected = Some(Era::Modern);
        self.id = None;
        self.version = Some(MODERN);
        self.phase = Phase::Ready;
        if let Some(init) = &mut self.init {
            init.exchange = None;
        }
        MODERN
    }

    /// `server/discover` found no modern server (`N26-20`): `initialize` goes, at
    /// `version` when the server named one.
    pub fn fall_back(
        &mut self,
        version: Option<ProtocolVersion>,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
    ) {
        self.discovering = false;
        self.detected = Some(Era::Session);
        if let (Some(v), Some(init)) = (version, &mut self.init) {
            if init.set_version(v).is_err() {
                return;
            }
        }
        self.send_initialize(config, exchanges);
    }

    /// POSTs the saved `initialize`, without session or version header (`INV-C2`,
    /// ambiguity 6), on the current transport.
    pub fn send_initialize(&mut self, config: &ClientConfig, exchanges: &mut Exchanges) {
        self.discovering = false;
        self.modern = false;
        let Some(init) = &mut self.init else { return };
        let (uri, kind) = match &self.transport {
            Transport::Legacy { post } => (
                post.clone(),
                Kind::Post {
                    requests: Vec::new(),
                },
            ),
            _ => (config.endpoint.clone(), Kind::Initialize),
        };
        let req = request::post(config, uri, init.json.clone(), Context::default());
        init.exchange = Some(exchanges.issue(kind, None, req));
        self.phase = Phase::Initializing;
    }

    /// POSTs a message on the current transport with the current session and version;
    /// in the 2026-07-28 era with its `_meta` and metadata headers (`N26-6`, `N26-13`).
    pub fn post(&self, config: &ClientConfig, exchanges: &mut Exchanges, out: Outgoing) {
        if self.modern {
            let identity = self.init.as_ref().map(|i| &i.identity);
            let value = serde_json::from_slice(&out.body).ok();
            let (Some(identity), Some(value)) = (identity, value) else {
                return;
            };
            let p = modern::prepare(value, identity, &self.tools);
            let req = request::post_modern(config, p.body, p.headers);
            let kind = Kind::Post {
                requests: out.requests,
            };
            exchanges.issue(kind, None, req);
            return;
        }
        let (uri, ctx) = match &self.transport {
            Transport::Legacy { post } => (post.clone(), Context::default()),
            _ => (config.endpoint.clone(), self.context()),
        };
        let req = request::post(config, uri, out.body, ctx);
        let kind = Kind::Post {
            requests: out.requests,
        };
        exchanges.issue(kind, self.id.clone(), req);
    }

    /// GETs an SSE stream with the current session and version: the standalone stream,
    /// or a resumption after `last_event_id` (`CLI-GET-2`, `CLI-RES-4`).
    pub fn get(
        &self,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
        kind: Kind,
        last_event_id: Option<&HeaderValue>,
    ) -> ExchangeId {
        let req = request::get(config, self.context(), last_event_id);
        exchanges.issue(kind, self.id.clone(), req)
    }

    /// Whether `exchange` carries the `initialize` in flight.
    pub fn is_current_init(&self, exchange: ExchangeId) -> bool {
        self.phase == Phase::Initializing
            && self.init.as_ref().and_then(|i| i.exchange) == Some(exchange)
    }

    /// Whether a response with `id` on `exchange` answers the `initialize` in flight
    /// (on the legacy transport it comes on the probe GET, `probe`).
    pub fn answers_initialize(&self, id: &RequestId, exchange: ExchangeId, probe: bool) -> bool {
        let from_init = self
            .init
            .as_ref()
            .is_some_and(|i| i.id == *id && (i.exchange == Some(exchange) || probe));
        from_init && self.phase == Phase::Initializing
    }

    /// The answer to `initialize` is `msg`, a response; `header` is the session header of
    /// its HTTP response. On success the session is ready: its id and version are
    /// returned. On a refusal, the error to report is returned and `initialize` failed.
    pub fn accept(
        &mut self,
        msg: &Message,
        header: Result<Option<SessionId>, HeaderError>,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
    ) -> Result<(Option<SessionId>, ProtocolVersion), ProtocolErrorKind> {
        let version = classify(msg.json()).ok().and_then(|b| {
            b.messages()[0]
                .initialize_result_version()
                .map(|v| v.into_owned())
        });
        let Some(version) = version else {
            return Err(ProtocolErrorKind::InvalidInitializeResult);
        };
        let requested = self
            .init
            .as_ref()
            .map_or(config.protocol_version, |i| i.requested);
        // The server answers with the version asked for or an older one (LIFE-3).
        let known =
            ProtocolVersion::from_wire(&version).filter(|v| v.has_initialize() && *v <= requested);
        let Some(v) = known else {
            // LIFE-4: disconnect; over HTTP, end the session the server just made.
            // An id that already ended is not ended twice (INV-C5).
            let unended = header.ok().flatten().filter(|s| !self.ended.contains(s));
            if let Some(s) = unended {
                self.remember_ended(s.clone());
                let ctx = Context {
                    session: Some(&s),
                    version: None,
                };
                exchanges.issue(Kind::Delete, None, request::delete(config, ctx));
            }
            return Err(ProtocolErrorKind::UnsupportedVersion(version));
        };
        let session = match header {
            Ok(Some(s)) if self.ended.contains(&s) => {
                return Err(ProtocolErrorKind::EndedSessionId);
            }
            Ok(s) => s,
            Err(e) => return Err(ProtocolErrorKind::BadSessionHeader(e)),
        };
        self.id = session.clone();
        self.version = Some(v);
        self.phase = Phase::Ready;
        if let Some(init) = &mut self.init {
            init.exchange = None;
            init.reinit = false;
        }
        Ok((session, v))
    }

    /// The session is ready: `notifications/initialized`, then what waited for it.
    pub fn start(&mut self, config: &ClientConfig, exchanges: &mut Exchanges, requests: &Requests) {
        if !self.modern {
            // LIFE-5, INV-C9: notifications/initialized, once per session, after the
            // result (2026-07-28 has no handshake to finish).
            let note =
                Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
            let out = Outgoing {
                body: note,
                requests: Vec::new(),
            };
            self.post(config, exchanges, out);
        }
        // INV-C4: the requests in flight at the 404 go again, once, then what waited.
        for id in std::mem::take(&mut self.resend) {
            if let Some(body) = requests.json(&id) {
                let out = Outgoing {
                    body,
                    requests: vec![id],
                };
                self.post(config, exchanges, out);
            }
        }
        for out in std::mem::take(&mut self.held) {
            self.post(config, exchanges, out);
        }
    }

    /// An error status with `body` answered the `initialize` in flight (on an exchange of
    /// kind `Initialize` when `streamable`).
    pub fn initialize_error(
        &mut self,
        status: StatusCode,
        body: &[u8],
        streamable: bool,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
    ) -> InitializeError {
        let init = self.init.as_mut().expect("initializing");
        let next = init.after_error(status, body, streamable, config.legacy_fallback);
        match next {
            InitializeError::Retry(_) => self.send_initialize(config, exchanges),
            InitializeError::Fallback => {
                self.transport = Transport::Probing;
                let req = request::get(config, Context::default(), None);
                exchanges.issue(Kind::LegacyProbe, None, req);
            }
            InitializeError::Failed => {}
        }
        next
    }

    /// CLI-BC-4, INV-C19: the `endpoint` event commits to the legacy transport, and
    /// `initialize` goes again, to `post`.
    pub fn commit_legacy(&mut self, post: Uri, config: &ClientConfig, exchanges: &mut Exchanges) {
        self.transport = Transport::Legacy { post };
        self.send_initialize(config, exchanges);
    }

    /// `initialize` did not succeed: back to uninitialized; nothing waits any more.
    pub fn initialize_failed(&mut self) {
        if let Some(init) = &mut self.init {
            init.exchange = None;
            init.reinit = false;
        }
        self.phase = Phase::Uninitialized;
        self.transport = Transport::Streamable;
        self.discovering = false;
        self.modern = false;
        self.resend.clear();
        self.held.clear();
    }

    /// A 404 answered a request that carried the session (`CLI-SESS-8`): the id ends and
    /// is never sent again; returns it.
    pub fn expire(&mut self) -> Option<SessionId> {
        let old = self.id.take();
        if let Some(id) = old.clone() {
            self.remember_ended(id);
        }
        self.version = None;
        old
    }

    /// The requests of the messages held for a re-initialization: never sent yet.
    pub fn held_requests(&self) -> Vec<RequestId> {
        self.held.iter().flat_map(|o| o.requests.clone()).collect()
    }

    /// Re-initializes after a 404 (`INV-C4`): `resend` go again once the session is
    /// ready; messages held during an earlier re-initialization stay held.
    pub fn reinitialize(
        &mut self,
        resend: Vec<RequestId>,
        config: &ClientConfig,
        exchanges: &mut Exchanges,
    ) {
        self.resend.extend(resend);
        self.init.as_mut().expect("can_reinitialize").reinit = true;
        self.send_initialize(config, exchanges);
    }

    /// Drops the session and what waits for a re-initialization, but not the held
    /// messages (see [`close`](Self::close)); the phase is left to the caller.
    pub fn forget(&mut self) {
        self.id = None;
        self.version = None;
        self.transport = Transport::Streamable;
        self.modern = false;
        self.discovering = false;
        self.tools.clear();
        self.resend.clear();
    }

    /// Withdraws the request `id` from what waits for a (re-)initialization; whether it
    /// was there, so never sent to the current session. A held batch keeps going (its
    /// answer to `id` is then dropped).
    pub fn withdraw(&mut self, id: &RequestId) -> bool {
        let resent = self.resend.len();
        self.resend.retain(|r| r != id);
        let held = self.held.len();
        self.held.retain(|o| {
            let single = o.body.trim_ascii_start().first() != Some(&b'[');
            !(single && o.requests.len() == 1 && o.requests[0] == *id)
        });
        resent != self.resend.len() || held != self.held.len()
    }

    /// Back to uninitialized, after [`forget`](Self::forget).
    pub fn uninitialized(&mut self) {
        self.phase = Phase::Uninitialized;
    }

    /// Ends the session: a DELETE with the session id when there is one (`CLI-SESS-9`);
    /// the id is never sent again (`INV-C5`). Call [`forget`](Self::forget) next, then
    /// [`closed`](Self::closed).
    pub fn close(&mut self, config: &ClientConfig, exchanges: &mut Exchanges) {
        if let (Some(s), Transport::Streamable) = (&self.id, &self.transport) {
            let s = s.clone();
            self.remember_ended(s);
            let req = request::delete(config, self.context());
            exchanges.issue(Kind::Delete, None, req);
        }
    }

    /// The client is closed; nothing is held.
    pub fn closed(&mut self) {
        self.held.clear();
        self.phase = Phase::Closed;
    }

    /// Keeps an ended session id (bounded) so that it is never used again (`INV-C5`).
    fn remember_ended(&mut self, id: SessionId) {
        self.ended.insert(&id);
    }
}

/// The session ids a client ended, kept as 64-bit hashes so that many fit: the last
/// [`EndedIds::CAPACITY`] of them (about 1.5 MiB when full; a client that never ends that
/// many sessions forgets none). An id a server issues again is refused while it is
/// remembered (`INV-C5`; a server never revives an id, `SRV-SESS-7`). Two distinct ids
/// share a hash with odds of about 2^-64 per pair; no secret key is needed, since a
/// server choosing colliding ids only gets its own new session refused.
#[derive(Debug, Default)]
struct EndedIds {
    order: VecDeque<u64>,
    set: std::collections::BTreeSet<u64>,
}

impl EndedIds {
    /// How many ended ids are remembered.
    const CAPACITY: usize = 65_536;

    fn hash(id: &SessionId) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.as_str().hash(&mut h);
        h.finish()
    }

    fn contains(&self, id: &SessionId) -> bool {
        self.set.contains(&Self::hash(id))
    }

    fn insert(&mut self, id: &SessionId) {
        let h = Self::hash(id);
        if !self.set.insert(h) {
            return;
        }
        if self.order.len() == Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(h);
    }
}
