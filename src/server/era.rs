//! Which rules govern a request: the era classifier.
//!
//! A pure, total function of the request's headers and (for a POST) its parsed body. It
//! runs once per request, at step 6 of the pipeline, and every later step asks the
//! [`Era`] it returned instead of a server-wide mode.
//!
//! ```text
//!   MCP-Protocol-Version        body _meta protocolVersion        era
//!   ─────────────────────       ──────────────────────────        ───────────────────────
//!   repeated / malformed        (any)                             Unknown("")
//!   unknown string              (any)                             Unknown(string)
//!   2026-07-28                  (any)                             Stateless(2026-07-28)
//!   2025-xx / 2024-11-05        2026-07-28                        Stateless(2026-07-28)
//!   2025-xx / 2024-11-05        absent or other                   Session(Some(v))
//!   absent                      2026-07-28                        Stateless(2026-07-28)
//!   absent                      absent or other                   Session(None)
//! ```
//!
//! A request whose body carries the 2026-07-28 `_meta` version is of that revision
//! whatever its header says (`N26-20`): a header that disagrees is the modern rules'
//! mismatch (`N26-12`), not a reason to serve it with sessions.

use http::HeaderMap;
use serde::Deserialize;

use crate::version::ProtocolVersion;
use crate::wire::jsonrpc::{Body, META_PROTOCOL_VERSION};
use crate::wire::{MCP_PROTOCOL_VERSION, single_value};

/// The most characters of an unknown version kept for an error to echo.
const MAX_REQUESTED: usize = 64;

/// The rules a request is served by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Era {
    /// The session era, 2025-03-26 to 2025-11-25 (and 2024-11-05 as a negotiated
    /// version): `initialize`, sessions, the GET stream, resumability. `header` is the
    /// version the request declared in `MCP-Protocol-Version`, if any.
    Session {
        /// The declared version.
        header: Option<ProtocolVersion>,
    },
    /// The stateless 2026-07-28 revision, declared by the header or by `_meta`.
    Stateless {
        /// The declared version.
        version: ProtocolVersion,
    },
    /// `MCP-Protocol-Version` names no known revision, or is repeated or malformed.
    Unknown {
        /// The header's text (empty when it could not be read as one value).
        requested: String,
    },
}

impl Era {
    /// The version the request asked for, as text, for an `UnsupportedVersion` answer.
    pub(crate) fn requested(&self) -> String {
        match self {
            Self::Session { header } => header.map(|v| v.as_str().to_owned()).unwrap_or_default(),
            Self::Stateless { version } => version.as_str().to_owned(),
            Self::Unknown { requested } => requested.clone(),
        }
    }
}

/// Classifies a request. `body` is the parsed POST body, when there is one that parses.
pub(crate) fn classify(headers: &HeaderMap, body: Option<&Body<'_>>) -> Era {
    let header = match single_value(headers, &MCP_PROTOCOL_VERSION) {
        Ok(None) => None,
        Ok(Some(v)) => match ProtocolVersion::from_wire(v) {
            Some(v) => Some(v),
            // Only what an error may echo is kept: a long value is never copied whole.
            None => {
                let mut requested: String = v.chars().take(MAX_REQUESTED).collect();
                if requested.len() < v.len() {
                    requested.push('…');
                }
                return Era::Unknown { requested };
            }
        },
        Err(_) => {
            return Era::Unknown {
                requested: String::new(),
            };
        }
    };
    if let Some(v) = header.filter(|v| is_stateless(*v)) {
        return Era::Stateless { version: v };
    }
    if let Some(v) = body.and_then(meta_version).filter(|v| is_stateless(*v)) {
        return Era::Stateless { version: v };
    }
    Era::Session { header }
}

fn is_stateless(v: ProtocolVersion) -> bool {
    v.is_streamable_http() && !v.has_sessions()
}

/// The `_meta` protocol version of a single-message body, when it names a known revision.
fn meta_version(body: &Body<'_>) -> Option<ProtocolVersion> {
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", borrow)]
        meta: Option<Meta<'a>>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(
            rename = "io.modelcontextprotocol/protocolVersion",
            borrow,
            default,
            deserialize_with = "crate::wire::jsonrpc::opt_cow"
        )]
        version: Option<std::borrow::Cow<'a, str>>,
    }
    let Body::Single(env) = body else {
        return None; // 2026-07-28 has no batches; a batch is of the session era
    };
    let params = env.params?.get();
    // Most bodies carry no `_meta` version: skip the second parse for them.
    // The searcher is built once: building one costs more than a search of a short
    // `params`.
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    FINDER
        .get_or_init(|| memchr::memmem::Finder::new(META_PROTOCOL_VERSION.as_bytes()))
        .find(params.as_bytes())?;
    let p: Params<'_> = serde_json::from_str(params).ok()?;
    ProtocolVersion::from_wire(&p.meta?.version?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::jsonrpc::classify as parse;
    use http::HeaderValue;

    fn headers(version: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in version {
            h.append(MCP_PROTOCOL_VERSION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const MODERN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    const OLD: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#;

    #[test]
    fn every_row_of_the_table() {
        use ProtocolVersion as V;
        let modern = parse(MODERN.as_bytes()).unwrap();
        let old = parse(OLD.as_bytes()).unwrap();
        let s = |h| Era::Session { header: h };
        let m = Era::Stateless {
            version: V::V2026_07_28,
        };
        let cases: Vec<(HeaderMap, Option<&Body<'_>>, Era)> = vec![
            (headers(&[]), None, s(None)),
            (headers(&[]), Some(&old), s(None)),
            (headers(&[]), Some(&modern), m.clone()),
            (
                headers(&["2025-06-18"]),
                Some(&old),
                s(Some(V::V2025_06_18)),
            ),
            (headers(&["2024-11-05"]), None, s(Some(V::V2024_11_05))),
            (headers(&["2025-06-18"]), Some(&modern), m.clone()),
            (headers(&["2026-07-28"]), Some(&old), m.clone()),
            (headers(&["2026-07-28"]), None, m.clone()),
            (
                headers(&["2099-01-01"]),
                Some(&modern),
                Era::Unknown {
                    requested: "2099-01-01".into(),
                },
            ),
            (
                headers(&["2025-06-18", "2025-06-18"]),
                None,
                Era::Unknown {
                    requested: String::new(),
                },
            ),
        ];
        for (h, body, want) in cases {
            assert_eq!(classify(&h, body), want, "{h:?}");
        }
    }

    #[test]
    fn a_meta_version_of_the_session_era_or_unknown_changes_nothing() {
        for v in ["2025-06-18", "2031-01-01", ""] {
            let body = MODERN.replace("2026-07-28", v);
            let parsed = parse(body.as_bytes()).unwrap();
            assert_eq!(
                classify(&headers(&[]), Some(&parsed)),
                Era::Session { header: None },
                "{v}"
            );
        }
    }
}
