//! What the client machine is configured with.

use std::time::Duration;

use http::Uri;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName};

use super::error::ConfigError;
use crate::version::ProtocolVersion;
use crate::wire::{LAST_EVENT_ID, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};

/// Everything a [`Client`](super::Client) is configured with.
///
/// Build it with [`ClientConfig::new`] and change the public fields.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The MCP endpoint: an absolute `http` or `https` URI. It never carries a token in
    /// its query string (`CLI-AUTH-2`, `INV-C18`): [`Client::new`](super::Client::new)
    /// refuses one with an `access_token` parameter.
    pub endpoint: Uri,
    /// The revision the client speaks and asks for in `initialize` (the machine writes it
    /// into `params.protocolVersion`, `LIFE-2`). It also decides which statuses allow the
    /// legacy fallback (`CLI-BC-3`). Default 2025-11-25. 2026-07-28 (no `initialize`)
    /// and 2024-11-05 (not Streamable HTTP) are refused.
    pub protocol_version: ProtocolVersion,
    /// Headers added to every request, such as `Authorization: Bearer …` (`CLI-AUTH-1`,
    /// `INV-C18`). The machine owns `Accept`, `Content-Type`, `MCP-Session-Id`,
    /// `MCP-Protocol-Version` and `Last-Event-ID`; they are refused here.
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
        let reserved: [HeaderName; 5] = [
            ACCEPT,
            CONTENT_TYPE,
            MCP_SESSION_ID,
            MCP_PROTOCOL_VERSION,
            LAST_EVENT_ID,
        ];
        if let Some(name) = reserved.iter().find(|n| self.headers.contains_key(*n)) {
            return Err(ConfigError::ReservedHeader(name.clone()));
        }
        let v = self.protocol_version;
        if !v.is_streamable_http() || !v.has_initialize() {
            return Err(ConfigError::UnsupportedClientVersion(v));
        }
        Ok(())
    }
}
