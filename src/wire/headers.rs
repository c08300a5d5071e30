//! MCP header names, single-valued header extraction, and the session id type.
//!
//! Header names are compared case-insensitively (the `http` crate stores them lower-case;
//! `N26-8`). The machines emit one consistent spelling: the lower-case form, as the SDKs do.

use std::fmt;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

/// `MCP-Session-Id` (spelled `Mcp-Session-Id` before 2025-11-25; same header, `NOTE-SESS-11`).
pub const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
/// `MCP-Protocol-Version` (`CLI-VER-1`).
pub const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");
/// `Last-Event-ID`, the SSE resumption cursor (`CLI-RES-4`).
pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
/// `Mcp-Method`, the header-carried JSON-RPC method of 2026-07-28 (`N26-6`).
pub const MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
/// `Mcp-Name`, the header-carried tool, resource or prompt name of 2026-07-28 (`N26-6`).
pub const MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");
/// `X-Accel-Buffering`, sent as `no` on SSE responses so proxies do not buffer them
/// (`SRV-PSSE-14`).
pub const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// Why a header that must hold one value could not be read as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The header appears more than once.
    #[error("the header is repeated; it must appear once")]
    Repeated,
    /// The header's value holds a comma, as when two values are joined (`S, S`).
    #[error("the header holds a comma-joined list; it must hold one value")]
    CommaJoined,
    /// The value is empty.
    #[error("the header is empty")]
    Empty,
    /// The value holds bytes outside visible ASCII (0x21-0x7E).
    #[error("the header holds bytes outside visible ASCII (0x21-0x7E)")]
    NotVisibleAscii,
    /// The value is longer than the limit.
    #[error("the header value is longer than {0} bytes")]
    TooLong(usize),
}

/// Reads a header that must appear at most once, as a string.
///
/// `Ok(None)` when it is absent. A repeated header is `Repeated`; a value that is not
/// visible ASCII (after trimming optional whitespace, which HTTP allows around a value) is
/// `NotVisibleAscii`. Commas are left to the caller: some single values may hold them.
pub(crate) fn single_value<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a str>, HeaderError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(HeaderError::Repeated);
    }
    // `to_str` accepts visible ASCII, space and tab (and gives the text without a UTF-8
    // pass); what is left to refuse is a space or tab inside the trimmed value.
    let text = first.to_str().map_err(|_| HeaderError::NotVisibleAscii)?;
    let trimmed = text.trim_matches([' ', '\t']);
    if trimmed.is_empty() {
        return Err(HeaderError::Empty);
    }
    if memchr::memchr2(b' ', b'\t', trimmed.as_bytes()).is_some() {
        return Err(HeaderError::NotVisibleAscii);
    }
    Ok(Some(trimmed))
}

/// An MCP session id: 1 to [`SessionId::MAX_LEN`] bytes of visible ASCII, 0x21-0x7E
/// (`SRV-SESS-3`).
///
/// The only ways to build one check those bytes, so a `SessionId` is always safe to put in
/// a header. Clones share one allocation: the server's tables each hold the id of every
/// live session.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(std::sync::Arc<str>);

impl SessionId {
    /// The longest id accepted from a peer, in bytes. The spec sets no limit; this one
    /// bounds what a peer can make us store.
    pub const MAX_LEN: usize = 256;

    /// Checks `s` and wraps it.
    pub fn new(s: &str) -> Result<Self, HeaderError> {
        Self::check(s)?;
        Ok(Self(s.into()))
    }

    /// Checks that `s` is a well-formed session id, without keeping it.
    pub fn check(s: &str) -> Result<(), HeaderError> {
        if s.is_empty() {
            return Err(HeaderError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(HeaderError::TooLong(Self::MAX_LEN));
        }
        if !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(HeaderError::NotVisibleAscii);
        }
        Ok(())
    }

    /// Reads the `MCP-Session-Id` header of a request or response: absent is `Ok(None)`;
    /// a repeated header, a comma-joined value (`S, S`), or a value outside visible
    /// ASCII is an error, never a session id.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, HeaderError> {
        Ok(Self::text_from_headers(headers)?.map(|v| Self(v.into())))
    }

    /// [`SessionId::from_headers`] without the copy: the header's text, checked the same
    /// way (a server looks the text up in its table and keeps the table's id).
    pub fn text_from_headers(headers: &HeaderMap) -> Result<Option<&str>, HeaderError> {
        let Some(v) = single_value(headers, &MCP_SESSION_ID)? else {
            return Ok(None);
        };
        if v.contains(',') {
            return Err(HeaderError::CommaJoined);
        }
        // `single_value` has checked that it is non-empty visible ASCII.
        if v.len() > Self::MAX_LEN {
            return Err(HeaderError::TooLong(Self::MAX_LEN));
        }
        Ok(Some(v))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as a header value.
    pub fn to_header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).expect("a SessionId is visible ASCII")
    }
}

/// A `SessionId` is looked up by its text (hash and equality are those of the text).
impl std::borrow::Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:?})", &*self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(MCP_SESSION_ID, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn session_id_accepts_only_visible_ascii() {
        assert!(SessionId::new("abc-123_~!").is_ok());
        assert_eq!(SessionId::new(""), Err(HeaderError::Empty));
        assert_eq!(SessionId::new("a b"), Err(HeaderError::NotVisibleAscii));
        assert_eq!(SessionId::new("a\u{7f}"), Err(HeaderError::NotVisibleAscii));
        assert_eq!(SessionId::new("é"), Err(HeaderError::NotVisibleAscii));
        let long = "a".repeat(SessionId::MAX_LEN + 1);
        assert_eq!(SessionId::new(&long), Err(HeaderError::TooLong(256)));
        assert!(SessionId::new(&long[1..]).is_ok());
    }

    #[test]
    fn session_header_must_be_single_valued() {
        assert_eq!(SessionId::from_headers(&map(&[])), Ok(None));
        assert_eq!(
            SessionId::from_headers(&map(&[b"abc"]))
                .unwrap()
                .unwrap()
                .as_str(),
            "abc"
        );
        assert_eq!(
            SessionId::from_headers(&map(&[b"abc", b"abc"])),
            Err(HeaderError::Repeated)
        );
        assert_eq!(
            SessionId::from_headers(&map(&[b"abc, abc"])),
            Err(HeaderError::NotVisibleAscii)
        );
        assert_eq!(
            SessionId::from_headers(&map(&[b"abc,abc"])),
            Err(HeaderError::CommaJoined)
        );
        assert_eq!(
            SessionId::from_headers(&map(&[b"ab\xffc"])),
            Err(HeaderError::NotVisibleAscii)
        );
        assert_eq!(
            SessionId::from_headers(&map(&[b""])),
            Err(HeaderError::Empty)
        );
    }

    #[test]
    fn optional_whitespace_around_a_value_is_not_part_of_it() {
        assert_eq!(
            SessionId::from_headers(&map(&[b" abc\t"]))
                .unwrap()
                .unwrap()
                .as_str(),
            "abc"
        );
    }
}
