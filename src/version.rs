//! MCP protocol revisions and the transport rules that differ between them.
//!
//! Every rule that depends on the revision is a method of [`ProtocolVersion`], so the rest
//! of the crate never compares version strings. An unrecognised string is a typed value
//! ([`ParsedVersion::Unknown`]), never a panic.

use std::fmt;
use std::str::FromStr;

/// A protocol revision this crate knows the transport rules of.
///
/// The ordering follows publication order, so `v >= ProtocolVersion::V2025_11_25` reads as
/// "this revision or a later one".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// `2024-11-05`: the old HTTP+SSE transport (an `endpoint` event, two URLs).
    V2024_11_05,
    /// `2025-03-26`: Streamable HTTP, sessions, resumability and JSON-RPC batches.
    V2025_03_26,
    /// `2025-06-18`: batches removed; `MCP-Protocol-Version` header after initialization.
    V2025_06_18,
    /// `2025-11-25`: 403 for a bad `Origin`, priming events, server-closed connections.
    V2025_11_25,
    /// `2026-07-28`: stateless; no sessions, no `initialize`, header-carried method.
    V2026_07_28,
}

impl ProtocolVersion {
    /// Every known revision, oldest first.
    pub const ALL: [ProtocolVersion; 5] = [
        Self::V2024_11_05,
        Self::V2025_03_26,
        Self::V2025_06_18,
        Self::V2025_11_25,
        Self::V2026_07_28,
    ];

    /// The newest revision.
    pub const LATEST: ProtocolVersion = Self::V2026_07_28;

    /// The revision a server assumes when a request carries no `MCP-Protocol-Version`
    /// header and no session tells it otherwise (`SRV-VER-3`).
    pub const ASSUMED_WITHOUT_HEADER: ProtocolVersion = Self::V2025_03_26;

    /// The version string as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2024_11_05 => "2024-11-05",
            Self::V2025_03_26 => "2025-03-26",
            Self::V2025_06_18 => "2025-06-18",
            Self::V2025_11_25 => "2025-11-25",
            Self::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parses a wire string; `None` when the string names no known revision.
    ///
    /// The comparison is exact (version strings are case-sensitive dates).
    pub fn from_wire(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether this revision uses the Streamable HTTP transport at all
    /// (everything after 2024-11-05).
    pub const fn is_streamable_http(self) -> bool {
        !matches!(self, Self::V2024_11_05)
    }

    /// JSON-RPC batches are allowed only in 2025-03-26 (`CLI-POST-3`, `CLI-POST-4`,
    /// `BOTH-POST-6`).
    pub const fn allows_batches(self) -> bool {
        matches!(self, Self::V2025_03_26)
    }

    /// Whether a client must send `MCP-Protocol-Version` after initialization
    /// (`CLI-VER-1`: from 2025-06-18; `VER-26`: on every POST in 2026-07-28).
    pub const fn expects_version_header(self) -> bool {
        matches!(
            self,
            Self::V2025_06_18 | Self::V2025_11_25 | Self::V2026_07_28
        )
    }

    /// Whether a server may send a priming event (id + empty data) and close the connection
    /// early (`SRV-PSSE-9`, `SRV-PSSE-10`). Only 2025-11-25 clients understand it: older
    /// SDKs JSON-parse every event and crash on empty data (ambiguity 15).
    pub const fn allows_priming(self) -> bool {
        matches!(self, Self::V2025_11_25)
    }

    /// Whether the revision has sessions (`Mcp-Session-Id`, DELETE). 2026-07-28 removed
    /// them (`N26-1`, `SRV-SESS-13`).
    pub const fn has_sessions(self) -> bool {
        matches!(
            self,
            Self::V2025_03_26 | Self::V2025_06_18 | Self::V2025_11_25
        )
    }

    /// Whether the revision has the `initialize` handshake (`LIFE-26`).
    pub const fn has_initialize(self) -> bool {
        !matches!(self, Self::V2026_07_28)
    }

    /// Whether the standalone GET stream exists (`SRV-GET-10`).
    pub const fn has_get_stream(self) -> bool {
        self.has_sessions()
    }

    /// Whether SSE streams are resumable with `Last-Event-ID` (`SRV-RES-9`).
    pub const fn has_resumability(self) -> bool {
        self.has_sessions()
    }

    /// Whether closing a response stream cancels the request. It never does in the 2025
    /// revisions (`SRV-PSSE-6`, `INV-S15`); it always does in 2026-07-28 (`N26-4`).
    pub const fn disconnect_cancels(self) -> bool {
        matches!(self, Self::V2026_07_28)
    }

    /// Whether every POST must carry `Mcp-Method` (and `Mcp-Name` where it applies) (`N26-6`).
    pub const fn requires_method_headers(self) -> bool {
        matches!(self, Self::V2026_07_28)
    }

    /// The statuses on which a client that POSTed `initialize` may fall back to the
    /// 2024-11-05 HTTP+SSE transport (`CLI-BC-3`): any 4xx but 401 before 2025-11-25,
    /// only 400, 404 and 405 from then on.
    pub fn legacy_fallback_on(self, status: http::StatusCode) -> bool {
        let code = status.as_u16();
        if self >= Self::V2025_11_25 {
            matches!(code, 400 | 404 | 405)
        } else {
            (400..500).contains(&code) && code != 401
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of [`ProtocolVersion::from_str`]: the string names no known revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown MCP protocol version {0:?}; known versions are 2024-11-05, 2025-03-26, 2025-06-18, 2025-11-25 and 2026-07-28"
)]
pub struct UnknownVersion(pub String);

impl FromStr for ProtocolVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_wire(s).ok_or_else(|| UnknownVersion(s.to_owned()))
    }
}

impl serde::Serialize for ProtocolVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::from_wire(&s).ok_or_else(|| serde::de::Error::custom(UnknownVersion(s.into_owned())))
    }
}

/// A version string as read from the wire: a known revision, or the string itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParsedVersion {
    /// A revision this crate knows.
    Known(ProtocolVersion),
    /// Anything else, kept verbatim (bounded by the header size the driver accepted).
    Unknown(String),
}

impl ParsedVersion {
    /// Classifies a wire string.
    pub fn parse(s: &str) -> Self {
        match ProtocolVersion::from_wire(s) {
            Some(v) => Self::Known(v),
            None => Self::Unknown(s.to_owned()),
        }
    }

    /// The known revision, if any.
    pub fn known(&self) -> Option<ProtocolVersion> {
        match self {
            Self::Known(v) => Some(*v),
            Self::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ParsedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(v) => v.fmt(f),
            Self::Unknown(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_known_version() {
        for v in ProtocolVersion::ALL {
            assert_eq!(v.as_str().parse::<ProtocolVersion>(), Ok(v));
            assert_eq!(v.to_string(), v.as_str());
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<ProtocolVersion>(&json).unwrap(), v);
        }
    }

    #[test]
    fn unknown_strings_are_typed_not_panics() {
        for s in ["", "2025-13-01", "2025-06-18 ", "latest", "\u{0}"] {
            assert_eq!(ParsedVersion::parse(s), ParsedVersion::Unknown(s.into()));
            assert!(s.parse::<ProtocolVersion>().is_err());
        }
    }

    #[test]
    fn batches_only_in_2025_03_26() {
        let allowed: Vec<_> = ProtocolVersion::ALL
            .into_iter()
            .filter(|v| v.allows_batches())
            .collect();
        assert_eq!(allowed, [ProtocolVersion::V2025_03_26]);
    }

    #[test]
    fn priming_only_from_2025_11_25_with_sessions() {
        assert!(ProtocolVersion::V2025_11_25.allows_priming());
        assert!(!ProtocolVersion::V2025_06_18.allows_priming());
        assert!(!ProtocolVersion::V2025_03_26.allows_priming());
    }

    #[test]
    fn legacy_fallback_statuses_narrow_in_2025_11_25() {
        use http::StatusCode as S;
        let old = ProtocolVersion::V2025_06_18;
        let new = ProtocolVersion::V2025_11_25;
        assert!(old.legacy_fallback_on(S::FORBIDDEN));
        assert!(!old.legacy_fallback_on(S::UNAUTHORIZED));
        assert!(!new.legacy_fallback_on(S::FORBIDDEN));
        for s in [S::BAD_REQUEST, S::NOT_FOUND, S::METHOD_NOT_ALLOWED] {
            assert!(old.legacy_fallback_on(s) && new.legacy_fallback_on(s));
        }
        assert!(!new.legacy_fallback_on(S::INTERNAL_SERVER_ERROR));
    }
}
