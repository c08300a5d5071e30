//! The 2026-07-28 header value codec (`N26-15`): a value that is not a plain header-safe
//! string travels as `=?base64?{base64 of its UTF-8}?=` (lowercase markers, exact), and a
//! plain value that happens to match that pattern is encoded too.

use std::borrow::Cow;

const PREFIX: &str = "=?base64?";
const SUFFIX: &str = "?=";
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Why a header value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value holds bytes that are not visible ASCII or space.
    #[error("the header value holds characters a header may not carry")]
    InvalidCharacters,
    /// The `=?base64?…?=` payload is not base64 of UTF-8 text.
    #[error("the header value's =?base64?…?= payload is not base64 of UTF-8 text")]
    BadBase64,
}

/// Whether `value` can travel as a plain header value: visible ASCII and inner spaces,
/// no leading or trailing whitespace, and not shaped like an encoded value.
pub fn is_plain(value: &str) -> bool {
    let visible = value
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) || b == b' ');
    let trimmed = !value.starts_with(' ') && !value.ends_with(' ');
    let looks_encoded = value.starts_with(PREFIX) && value.ends_with(SUFFIX);
    !value.is_empty() && visible && trimmed && !looks_encoded
}

/// The header value for `value`: itself when [`is_plain`], else its encoded form.
pub fn encode(value: &str) -> Cow<'_, str> {
    if is_plain(value) {
        return Cow::Borrowed(value);
    }
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(PREFIX.len() + bytes.len().div_ceil(3) * 4 + 2);
    out.push_str(PREFIX);
    for chunk in bytes.chunks(3) {
        let n = match chunk.len() {
            3 => u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]),
            2 => u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8,
            _ => u32::from(chunk[0]) << 16,
        };
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out.push_str(SUFFIX);
    Cow::Owned(out)
}

/// The value a header carries: decoded when it is `=?base64?…?=`, else as it is. The
/// raw value must be visible ASCII or space: a control character, tab included, is one a
/// client must encode (`N26-15`).
pub fn decode(raw: &[u8]) -> Result<Cow<'_, str>, ValueError> {
    if !raw.iter().all(|b| (0x21..=0x7e).contains(b) || *b == b' ') {
        return Err(ValueError::InvalidCharacters);
    }
    let text = std::str::from_utf8(raw).map_err(|_| ValueError::InvalidCharacters)?;
    let Some(payload) = text
        .strip_prefix(PREFIX)
        .and_then(|t| t.strip_suffix(SUFFIX))
    else {
        return Ok(Cow::Borrowed(text));
    };
    let bytes = base64_decode(payload).ok_or(ValueError::BadBase64)?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| ValueError::BadBase64)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if s.len() % 4 != 0 {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (i, quad) in s.chunks(4).enumerate() {
        let last = i == s.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's own examples (T26, Value Encoding).
    #[test]
    fn the_specs_examples() {
        let cases = [
            ("us-west1", "us-west1"),
            ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
            (" padded ", "=?base64?IHBhZGRlZCA=?="),
            ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
            ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        ];
        for (value, header) in cases {
            assert_eq!(encode(value), header, "{value:?}");
            assert_eq!(decode(header.as_bytes()).unwrap(), value, "{header:?}");
        }
    }

    #[test]
    fn markers_are_exact_and_bad_payloads_are_typed() {
        // Uppercase markers are no encoding: the value is taken as it is.
        assert_eq!(decode(b"=?BASE64?YQ==?=").unwrap(), "=?BASE64?YQ==?=");
        assert_eq!(decode(b"=?base64?not base64?="), Err(ValueError::BadBase64));
        assert_eq!(decode(b"=?base64?/w==?="), Err(ValueError::BadBase64)); // not UTF-8
        assert_eq!(decode(b"a\x01b"), Err(ValueError::InvalidCharacters));
        assert_eq!(decode(b"a\tb"), Err(ValueError::InvalidCharacters));
        assert_eq!(decode(b"caf\xc3\xa9"), Err(ValueError::InvalidCharacters));
    }
}
