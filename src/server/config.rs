//! Server configuration: what the machine does, and the policy of what it answers.

use std::time::Duration;

pub use super::refusal::{Answer, Policy};
pub use super::replay::ReplayLimits;
use crate::version::ProtocolVersion;

/// Whether the session era (2025-03-26 to 2025-11-25) is served with sessions. A setting
/// of that era, not a second machine: both modes run the same pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionMode {
    /// Sessions: `initialize` mints an `MCP-Session-Id`, GET opens the standalone
    /// stream, DELETE ends the session.
    #[default]
    Stateful,
    /// No sessions: every POST stands alone, GET and DELETE get 405 (`SRV-GET-10`,
    /// `N26-10`), a session header is checked for form but otherwise ignored
    /// (`SRV-SESS-13`).
    Stateless,
}

/// How the server answers a POST that holds requests (`SRV-POST-10`): the server's
/// choice, never the client's (ambiguity 28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    /// An SSE stream: related notifications and requests first, then the response(s)
    /// (`SRV-PSSE-1..5`).
    #[default]
    Sse,
    /// One `application/json` body: the response, or an array of responses for a
    /// 2025-03-26 batch. Related notifications cannot be carried.
    Json,
}

/// DNS-rebinding protection (`SRV-SEC-1`, `SRV-SEC-2`): which `Host` and `Origin` values
/// are allowed. On by default, allowing the loopback names on any port.
///
/// A pattern is a host name or address (`localhost`, `127.0.0.1`, `[::1]`), which allows
/// any port, or `host:port`, which allows that port only. Names compare
/// case-insensitively. An `Origin` is allowed when its host (and port) match a pattern, or
/// when it equals one of [`OriginPolicy::extra_origins`] exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPolicy {
    /// Check the `Host` header (or the URI authority where there is no `Host`).
    /// A request with neither passes: DNS rebinding needs a browser, which always sends one.
    pub check_host: bool,
    /// Check the `Origin` header when present. A missing `Origin` passes (ambiguity 23).
    pub check_origin: bool,
    /// Allowed host patterns.
    pub hosts: Vec<String>,
    /// Origins allowed verbatim (for example `https://app.example.com`).
    pub extra_origins: Vec<String>,
}

impl OriginPolicy {
    /// The loopback names: `localhost`, `127.0.0.1` and `[::1]`, on any port.
    pub fn loopback() -> Self {
        Self {
            check_host: true,
            check_origin: true,
            hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            extra_origins: Vec::new(),
        }
    }

    /// No checks at all: for a server behind a proxy that does them.
    pub fn disabled() -> Self {
        Self {
            check_host: false,
            check_origin: false,
            hosts: Vec::new(),
            extra_origins: Vec::new(),
        }
    }

    /// Whether an authority (`host`, `host:port`, `[v6]:port`) is allowed. One that is
    /// not of that shape (`[::1]evil.example`, a port that is not digits) never is.
    pub fn allows_authority(&self, authority: &str) -> bool {
        let Some((host, port)) = split_authority(authority) else {
            return false;
        };
        // A pattern that is the host itself has no port: it allows any port. Most
        // requests match one so, without a pattern being split.
        if self.hosts.iter().any(|p| p.eq_ignore_ascii_case(host)) {
            return true;
        }
        self.hosts.iter().any(|pattern| {
            let Some((p_host, p_port)) = split_authority(pattern) else {
                return false;
            };
            p_host.eq_ignore_ascii_case(host) && (p_port.is_none() || p_port == port)
        })
    }

    /// Whether an `Origin` value is allowed.
    pub fn allows_origin(&self, origin: &str) -> bool {
        if self.extra_origins.iter().any(|o| o == origin) {
            return true;
        }
        let Some((scheme, rest)) = origin.split_once("://") else {
            return false; // "null" and garbage
        };
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return false;
        }
        !rest.is_empty() && !rest.contains(['/', '@', '?', '#']) && self.allows_authority(rest)
    }
}

impl Default for OriginPolicy {
    fn default() -> Self {
        Self::loopback()
    }
}

/// Splits `host[:port]` or `[v6][:port]`; `None` when `a` is neither (text after the
/// `]` of an IPv6 literal that is not `:port`, a port that is not digits, an empty host).
fn split_authority(a: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if a.starts_with('[') {
        let end = a.find(']')?;
        let rest = &a[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(port) => Some(port),
            None if rest.is_empty() => None,
            None => return None,
        };
        (&a[..=end], port)
    } else {
        match a.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (a, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()));
    (!host.is_empty() && port_ok).then_some((host, port))
}

/// Everything the server machine is configured with. `ServerConfig::default()` is a
/// stateful server that answers with SSE, speaks 2024-11-05 to 2025-11-25 with sessions and
/// 2026-07-28 without, side by side, allows only
/// loopback `Host`/`Origin`, caps and expires sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Whether the session era is served with sessions.
    pub session_mode: SessionMode,
    /// JSON or SSE replies to request-bearing POSTs.
    pub reply_mode: ReplyMode,
    /// The versions accepted in `MCP-Protocol-Version` and as a negotiated version.
    /// 2024-11-05 is included because clients that negotiate it over Streamable HTTP
    /// send it (the TypeScript SDK accepts it too).
    pub supported_versions: Vec<ProtocolVersion>,
    /// DNS-rebinding protection.
    pub origin_policy: OriginPolicy,
    /// The largest POST body accepted, in bytes (default 4 MiB).
    pub max_body_bytes: usize,
    /// A session with no open stream and no request for this long expires (default 30
    /// minutes; `None` disables expiry).
    pub session_idle_timeout: Option<Duration>,
    /// The most sessions alive at once, counting `initialize` requests awaiting their
    /// answer (default 10,000; `None` disables the cap).
    pub max_sessions: Option<usize>,
    /// The most streams one session may have open at once (POST replies awaiting their
    /// answers, and the standalone stream); a request that would open one more gets 429
    /// `TooManyStreams` with `Retry-After` (default 64; `None`: no cap). With the
    /// server-wide replay budget it bounds what one client can pin.
    pub max_streams_per_session: Option<usize>,
    /// Whether GET opens the standalone SSE stream; when false, GET gets 405.
    pub standalone_stream: bool,
    /// Resumability (`SRV-RES-1..6`): with `Some`, every SSE event of a session's streams
    /// carries an id naming its stream, events are kept for replay within these limits,
    /// and a GET with `Last-Event-ID` resumes the stream. `None` sends no ids at all.
    /// On by default.
    pub replay: Option<ReplayLimits>,
    /// The `retry` (reconnection delay) sent in priming events and before the server
    /// closes a connection early (`SRV-PSSE-9`, `SRV-PSSE-12`); default 1 second.
    pub sse_retry: Duration,
    /// The answers to failed checks.
    pub policy: Policy,
    /// The most body bytes that may wait for one connection (its client not reading)
    /// before what it was owed is dropped and its body ends (default 16 MiB). The stream
    /// goes on detached, its events kept for a resume. One frame alone always fits.
    pub max_queued_bytes: usize,
    /// The most server-to-client requests (sent with `Server::send`) awaiting their
    /// answer per session (stateless mode: in all), default 1,024. One more is
    /// `UsageError::TooManyOutstandingRequests`.
    pub max_outstanding_requests: usize,
    /// The `x-mcp-header` annotations of the application's tools: a 2026-07-28
    /// `tools/call` whose `Mcp-Param-*` headers disagree with its arguments is refused
    /// with -32020 (`N26-16`). Empty by default; build it with
    /// [`ParamHeaders::from_tools`](super::ParamHeaders::from_tools).
    pub param_headers: super::ParamHeaders,
    /// Sessions shared with other server processes through a store
    /// ([`StoreConfig`](super::StoreConfig)): a request may name a session another node
    /// minted, and this node's table becomes a cache of the store. `None` (the default)
    /// keeps every session in this machine's memory only.
    pub store: Option<super::StoreConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            session_mode: SessionMode::Stateful,
            reply_mode: ReplyMode::Sse,
            supported_versions: vec![
                ProtocolVersion::V2024_11_05,
                ProtocolVersion::V2025_03_26,
                ProtocolVersion::V2025_06_18,
                ProtocolVersion::V2025_11_25,
                ProtocolVersion::V2026_07_28,
            ],
            origin_policy: OriginPolicy::loopback(),
            max_body_bytes: 4 * 1024 * 1024,
            session_idle_timeout: Some(Duration::from_secs(30 * 60)),
            max_sessions: Some(10_000),
            max_streams_per_session: Some(64),
            standalone_stream: true,
            replay: Some(ReplayLimits::default()),
            sse_retry: Duration::from_secs(1),
            policy: Policy::default(),
            max_queued_bytes: 16 * 1024 * 1024,
            max_outstanding_requests: 1024,
            param_headers: super::ParamHeaders::new(),
            store: None,
        }
    }
}

impl ServerConfig {
    /// A stateless server with the other defaults.
    pub fn stateless() -> Self {
        Self {
            session_mode: SessionMode::Stateless,
            ..Self::default()
        }
    }

    /// Whether `v` is accepted.
    pub fn supports(&self, v: ProtocolVersion) -> bool {
        self.supported_versions.contains(&v)
    }

    /// Whether any session-era version (2024-11-05 to 2025-11-25) is served.
    pub fn serves_session_era(&self) -> bool {
        self.supported_versions.iter().any(|v| v.has_initialize())
    }

    /// Whether a modern version (2026-07-28) is served.
    pub fn serves_modern(&self) -> bool {
        self.supported_versions.iter().any(|v| !v.has_initialize())
    }

    /// Whether the session era is served with sessions.
    pub fn is_stateful(&self) -> bool {
        self.session_mode == SessionMode::Stateful
    }

    /// The version a server answers an `initialize` with (`LIFE-3`): the client's if
    /// supported, else the newest supported one. The machine does this itself and hands
    /// the result out as [`Dispatch::negotiated`](super::Dispatch::negotiated).
    pub fn negotiate(&self, requested: &str) -> ProtocolVersion {
        match ProtocolVersion::from_wire(requested) {
            // Only a version with the `initialize` handshake can be negotiated by it.
            Some(v) if self.supports(v) && v.has_initialize() => v,
            _ => self
                .supported_versions
                .iter()
                .copied()
                .filter(|v| v.has_initialize())
                .max()
                .unwrap_or(ProtocolVersion::V2025_03_26),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass_on_any_port() {
        let p = OriginPolicy::loopback();
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:1",
            "127.0.0.1:3000",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(p.allows_authority(ok), "{ok}");
        }
        for bad in [
            "evil.example.com",
            "localhost.evil.com",
            "127.0.0.2",
            "[::2]:80",
            "",
            "::1",
        ] {
            assert!(!p.allows_authority(bad), "{bad}");
        }
    }

    #[test]
    fn port_patterns_pin_the_port() {
        let p = OriginPolicy {
            hosts: vec!["example.com:443".into()],
            ..OriginPolicy::loopback()
        };
        assert!(p.allows_authority("example.com:443"));
        assert!(!p.allows_authority("example.com:80"));
        assert!(!p.allows_authority("example.com"));
    }

    #[test]
    fn origins_need_a_web_scheme_and_an_allowed_host() {
        let p = OriginPolicy::loopback();
        assert!(p.allows_origin("http://localhost:5173"));
        assert!(p.allows_origin("https://127.0.0.1"));
        assert!(p.allows_origin("http://[::1]:80"));
        assert!(!p.allows_origin("null"));
        assert!(!p.allows_origin("http://evil.example.com"));
        assert!(!p.allows_origin("http://localhost@evil.example.com"));
        assert!(!p.allows_origin("file://localhost"));
        let p = OriginPolicy {
            extra_origins: vec!["https://app.example.com".into()],
            ..p
        };
        assert!(p.allows_origin("https://app.example.com"));
    }

    #[test]
    fn negotiation_echoes_a_supported_version_else_the_newest() {
        let c = ServerConfig::default();
        assert_eq!(c.negotiate("2025-06-18"), ProtocolVersion::V2025_06_18);
        assert_eq!(c.negotiate("2099-01-01"), ProtocolVersion::V2025_11_25);
        assert_eq!(c.negotiate("2026-07-28"), ProtocolVersion::V2025_11_25);
    }
}
