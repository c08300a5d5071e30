//! What the client machine is configured with.

use std::time::Duration;

use http::Uri;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName};

use super::error::ConfigError;
use crate::version::ProtocolVersion;
use crate::wire::{LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};

/// Which era of the transport the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientMode {
    /// The session era (2025-03-26 to 2025-11-25): `initialize`, a session id, the GET
    /// stream, resumption; and from there the 2024-11-05 fallback. The default.
    #[default]
    SessionEra,
    /// 2026-07-28 only: [`Client::initialize`](super::Client::initialize) sends
    /// `server/discover`, and every request carries its version and capabilities in
    /// `_meta` and its method in headers (`N26-6`, `N26-13`). No session, no GET stream.
    Modern,
    /// Both: probe with `server/discover` (2026-07-28); fall back to `initialize` only on
    /// a 400, 404 or 405 whose body is not a recognised modern JSON-RPC error, or on a
    /// discover result that lists no modern version (`N26-20`). The outcome is kept for
    /// the life of the machine (and can be kept across machines with
    /// [`ClientConfig::era_hint`]).
    Auto,
}

/// The era a server was found to speak, by [`ClientMode::Auto`] (reported by
/// [`ClientEvent::EraDetected`](super::ClientEvent::EraDetected)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Era {
    /// `initialize` and sessions (or the 2024-11-05 transport behind them).
    Session,
    /// 2026-07-28: stateless requests with `_meta`.
    Modern,
}

/// Everything a [`Client`](super::Client) is configured with.
///
/// Build it with [`ClientConfig::new`] and change the public fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The MCP endpoint: an absolute `http` or `https` URI. It never carries a token in
    /// its query string (`CLI-AUTH-2`, `INV-C18`): [`Client::new`](super::Client::new)
    /// refuses one with an `access_token` parameter.
    pub endpoint: Uri,
    /// The session-era revision the client asks for in `initialize` (the machine writes
    /// it into `params.protocolVersion`, `LIFE-2`). It also decides which statuses allow
    /// the legacy fallback (`CLI-BC-3`). Default 2025-11-25. 2026-07-28 (no `initialize`;
    /// choose it with [`mode`](Self::mode)) and 2024-11-05 (not Streamable HTTP) are
    /// refused.
    pub protocol_version: ProtocolVersion,
    /// Headers added to every request, such as `Authorization: Bearer …` (`CLI-AUTH-1`,
    /// `INV-C18`). The machine owns `Accept`, `Content-Type`, `MCP-Session-Id`,
    /// `MCP-Protocol-Version`, `Last-Event-ID`, `Mcp-Method`, `Mcp-Name` and every
    /// `Mcp-Param-*`; they are refused here.
    pub headers: HeaderMap,
    /// On a 404 to a request that carried the session id, re-send the saved
    /// `initialize` and then the requests that were in flight, once (`CLI-SESS-8`,
    /// `INV-C4`). Default on. Off: the session is dropped and the application calls
    /// [`Client::initialize`](super::Client::initialize) again.
    pub auto_reinitialize: bool,
    /// Fall back to the 2024-11-05 HTTP+SSE transport when the `initialize` POST fails
    /// with a status that allows it (`CLI-BC-2..4`, `INV-C19`). Default on.
    pub legacy_fallback: bool,
    /// Open the standalone GET stream (`CLI-GET-1`) as soon as a session is initialized.
    /// Default off; [`Client::open_standalone_stream`](super::Client::open_standalone_stream)
    /// opens it on demand.
    pub standalone_stream: bool,
    /// Reconnection of SSE streams whose connection was lost (`CLI-RES-4`).
    pub reconnect: ReconnectPolicy,
    /// The largest SSE event, or JSON response body, accepted, in bytes (default 4 MiB).
    /// A larger one is a [`ProtocolErrorKind::TooLarge`](super::ProtocolErrorKind::TooLarge).
    pub max_event_bytes: usize,
    /// The era the client speaks (default [`ClientMode::SessionEra`]).
    pub mode: ClientMode,
    /// With [`ClientMode::Auto`]: the era this server was found to speak before (kept
    /// per origin by the application from
    /// [`ClientEvent::EraDetected`](super::ClientEvent::EraDetected), `N26-20`).
    /// `Some(Era::Session)` skips the `server/discover` probe and sends `initialize` at
    /// once; `Some(Era::Modern)` still sends `server/discover`, which is how a modern
    /// client connects. Default `None`.
    pub era_hint: Option<Era>,
    /// In the 2026-07-28 era, how many times a request whose connection broke before its
    /// response is sent again, each time under a new request id: streams are not
    /// resumable there (`N26-19`, `SRV-RES-9`). The application still sees the id it
    /// chose. Default 1; 0 fails such a request with
    /// [`RequestFailure::OutcomeUnknown`](super::RequestFailure::OutcomeUnknown).
    pub reissue_broken: u32,
    /// When [`endpoint`](Self::endpoint) has no path (or just `/`) and the server
    /// answers the first request with 404, the paths tried next, after the one the 404's
    /// JSON-RPC error names (`data.endpoint`), before any legacy fallback. The one that
    /// answers is kept ([`Client::endpoint`](super::Client::endpoint)). Default `["/mcp"]`.
    pub well_known_paths: Vec<String>,
}

/// How lost SSE connections are resumed (`CLI-RES-4`, `CLI-PSSE-13`, `INV-C14`).
///
/// The first reconnection waits the stream's last `retry` when the server sent one,
/// else `initial_backoff` with jitter. After a failed reconnection the wait doubles (with
/// jitter, capped at `max_backoff`), and is never shorter than the server's `retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// How many reconnections in a row may fail before the stream is given up
    /// (default 5). A reconnection that gets a stream back resets the count.
    pub max_attempts: u32,
    /// The first backoff without a server `retry` (default 1 second).
    pub initial_backoff: Duration,
    /// The longest backoff (default 30 seconds).
    pub max_backoff: Duration,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl ClientConfig {
    /// A configuration with the defaults, for `endpoint`.
    pub fn new(endpoint: Uri) -> Self {
        Self {
            endpoint,
            protocol_version: ProtocolVersion::V2025_11_25,
            headers: HeaderMap::new(),
            auto_reinitialize: true,
            legacy_fallback: true,
            standalone_stream: false,
            reconnect: ReconnectPolicy::default(),
            max_event_bytes: 4 * 1024 * 1024,
            mode: ClientMode::SessionEra,
            era_hint: None,
            reissue_broken: 1,
            well_known_paths: vec!["/mcp".to_owned()],
        }
    }

    /// Checks what [`Client::new`](super::Client::new) relies on.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let absolute = matches!(self.endpoint.scheme_str(), Some("http" | "https"))
            && self.endpoint.authority().is_some();
        if !absolute {
            return Err(ConfigError::InvalidEndpoint);
        }
        // CLI-AUTH-2, INV-C18: access tokens never ride in the query string.
        if let Some(query) = self.endpoint.query() {
            let token = query.split('&').any(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                name.eq_ignore_ascii_case("access_token")
            });
            if token {
                return Err(ConfigError::TokenInQuery);
            }
        }
        let reserved: [HeaderName; 7] = [
            ACCEPT,
            CONTENT_TYPE,
            MCP_SESSION_ID,
            MCP_PROTOCOL_VERSION,
            LAST_EVENT_ID,
            MCP_METHOD,
            MCP_NAME,
        ];
        if let Some(name) = reserved.iter().find(|n| self.headers.contains_key(*n)) {
            return Err(ConfigError::ReservedHeader(name.clone()));
        }
        if let Some(name) = self
            .headers
            .keys()
            .find(|n| n.as_str().starts_with("mcp-param-"))
        {
            return Err(ConfigError::ReservedHeader(name.clone()));
        }
        if let Some(p) = self
            .well_known_paths
            .iter()
            .find(|p| !p.starts_with('/') || p.parse::<http::uri::PathAndQuery>().is_err())
        {
            return Err(ConfigError::BadWellKnownPath(p.clone()));
        }
        let v = self.protocol_version;
        if !v.is_streamable_http() || !v.has_initialize() {
            return Err(ConfigError::UnsupportedClientVersion(v));
        }
        Ok(())
    }
}
