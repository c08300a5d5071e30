//! The headers users send in place of `MCP-Session-Id` and `MCP-Protocol-Version`
//! (`X-Session-ID`, `Session-Id`, `Mcp-Session`, `mcp_session_id`, `X-MCP-Protocol-Version`
//! ...), found so that a refusal for the missing header can name the one that was sent.
//!
//! Only the header's *name* is ever echoed, cut to [`MAX_ECHOED`] bytes; its value is
//! never echoed (it is read only to tell whether it names a live session).

use http::{HeaderMap, HeaderName};

/// The longest header name echoed in an error.
pub(super) const MAX_ECHOED: usize = 64;

/// The header that was meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Meant {
    /// `MCP-Session-Id`.
    SessionId,
    /// `MCP-Protocol-Version`.
    ProtocolVersion,
}

impl Meant {
    /// The header's name as the spec spells it.
    pub(super) fn spelled(self) -> &'static str {
        match self {
            Self::SessionId => "MCP-Session-Id",
            Self::ProtocolVersion => "MCP-Protocol-Version",
        }
    }

    /// Whether `name`, lowercased with every `-` and `_` removed, is a look-alike.
    fn matches(self, folded: &str) -> bool {
        match self {
            // The real name folds to "mcpsessionid"; only `mcp_session_id` folds there too.
            Self::SessionId => folded.contains("session") && !folded.contains("cookie"),
            Self::ProtocolVersion => {
                folded.contains("protocolversion")
                    || matches!(folded, "mcpversion" | "xmcpversion" | "protocol")
            }
        }
    }
}

/// A look-alike of `meant` among `headers` (which lack the real header): the first, in
/// header order.
pub(super) fn find(headers: &HeaderMap, meant: Meant) -> Option<&HeaderName> {
    headers.keys().find(|name| {
        let folded: String = name
            .as_str()
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect();
        meant.matches(&folded)
    })
}

/// `name`, cut to [`MAX_ECHOED`] bytes (header names are ASCII tokens).
pub(super) fn echoed(name: &HeaderName) -> &str {
    let s = name.as_str();
    &s[..s.len().min(MAX_ECHOED)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for n in names {
            h.insert(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                "v".parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn look_alikes_are_found_and_others_are_not() {
        for n in [
            "X-Session-ID",
            "Session-Id",
            "Mcp-Session",
            "mcp_session_id",
            "X-MCP-Session-Id",
        ] {
            let h = headers(&["accept", n]);
            assert_eq!(
                find(&h, Meant::SessionId).map(|n| n.as_str()),
                Some(n.to_ascii_lowercase().as_str())
            );
        }
        for n in [
            "X-MCP-Protocol-Version",
            "mcp_protocol_version",
            "Protocol-Version",
            "Mcp-Version",
        ] {
            let h = headers(&[n]);
            assert!(find(&h, Meant::ProtocolVersion).is_some(), "{n}");
        }
        let plain = headers(&["accept", "content-type", "cookie", "x-request-id"]);
        assert_eq!(find(&plain, Meant::SessionId), None);
        assert_eq!(find(&plain, Meant::ProtocolVersion), None);
        let long = HeaderName::from_bytes(&[b'x'; 300]).unwrap();
        assert_eq!(echoed(&long).len(), MAX_ECHOED);
    }
}
