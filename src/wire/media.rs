//! `Accept` and `Content-Type` handling.
//!
//! [`accepts`] follows RFC 9110 §12.5.1: media-range wildcards (`*/*`, `text/*`), the most
//! specific matching range decides, and `q=0` means "not acceptable". Parsing borrows the
//! header and allocates nothing.

use http::HeaderMap;
use http::header::{ACCEPT, CONTENT_TYPE};

/// `application/json`.
pub const APPLICATION_JSON: &str = "application/json";
/// `text/event-stream`.
pub const TEXT_EVENT_STREAM: &str = "text/event-stream";

/// Whether `Accept` admits both `application/json` and `text/event-stream`, as a POST
/// needs (`CLI-POST-2`). The values clients send nearly always are recognised by a byte
/// comparison; any other goes through [`accepts`] for each type.
pub fn accepts_json_and_event_stream(headers: &HeaderMap) -> bool {
    const COMMON: [&[u8]; 4] = [
        b"application/json, text/event-stream",
        b"text/event-stream, application/json",
        b"application/json,text/event-stream",
        b"text/event-stream,application/json",
    ];
    let mut values = headers.get_all(ACCEPT).iter();
    if let (Some(v), None) = (values.next(), values.next()) {
        if COMMON.iter().any(|c| v.as_bytes().eq_ignore_ascii_case(c)) {
            return true;
        }
    }
    accepts(headers, APPLICATION_JSON, false) && accepts(headers, TEXT_EVENT_STREAM, false)
}

/// Whether `Accept` admits `text/event-stream`, as a GET needs (`CLI-GET-2`); the exact
/// value is recognised by a byte comparison.
pub fn accepts_event_stream(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(ACCEPT).iter();
    if let (Some(v), None) = (values.next(), values.next()) {
        if v.as_bytes()
            .eq_ignore_ascii_case(TEXT_EVENT_STREAM.as_bytes())
        {
            return true;
        }
    }
    accepts(headers, TEXT_EVENT_STREAM, false)
}

/// Whether the `Accept` headers of a request accept `media_type` (`type/subtype`, no
/// parameters) with a quality above zero.
///
/// With no `Accept` header at all this returns `absent_means`: HTTP reads a missing
/// `Accept` as "anything", while MCP requires clients to list both types
/// (`CLI-POST-2`, `CLI-GET-2`), so the server passes `false`.
pub fn accepts(headers: &HeaderMap, media_type: &str, absent_means: bool) -> bool {
    let mut any = false;
    // (specificity, quality) of the most specific range matching so far.
    let mut best: Option<(u8, u16)> = None;
    for value in headers.get_all(ACCEPT) {
        any = true;
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let Some((specificity, q)) = match_range(range, media_type) else {
                continue;
            };
            match best {
                Some((s, bq)) if s > specificity || (s == specificity && bq >= q) => {}
                _ => best = Some((specificity, q)),
            }
        }
    }
    if !any {
        return absent_means;
    }
    matches!(best, Some((_, q)) if q > 0)
}

/// Matches one media range against `type/subtype`; returns its specificity
/// (0 for `*/*`, 1 for `type/*`, 2 for an exact type, 3 for an exact type with parameters)
/// and its quality in thousandths. `None` if the range does not match or is malformed.
fn match_range(range: &str, media_type: &str) -> Option<(u8, u16)> {
    let mut parts = range.split(';');
    let mr = parts.next()?.trim();
    let (rt, rs) = mr.split_once('/')?;
    let (mt, ms) = media_type.split_once('/')?;
    let mut specificity = match (rt, rs) {
        ("*", "*") => 0,
        (t, "*") if t.eq_ignore_ascii_case(mt) => 1,
        (t, s) if t.eq_ignore_ascii_case(mt) && s.eq_ignore_ascii_case(ms) => 2,
        _ => return None,
    };
    let mut q = 1000;
    for param in parts {
        // RFC 9110 §5.6.6: `parameters = *( OWS ";" OWS [ parameter ] )`, so an empty
        // one (`text/event-stream;`) is allowed and means nothing.
        if param.trim().is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            q = parse_qvalue(value.trim())?;
            // Parameters after the weight are accept-extensions; they do not add
            // specificity.
            break;
        } else if specificity == 2 {
            specificity = 3;
        }
    }
    Some((specificity, q))
}

/// Parses an RFC 9110 `qvalue` (`0`, `0.5`, `1.000` ...) into thousandths.
fn parse_qvalue(s: &str) -> Option<u16> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Whether a request's `Content-Type` is `application/json`, parameters allowed
/// (`charset=utf-8` is fine; another charset is not, since MCP messages are UTF-8,
/// `GEN-1`). A missing or repeated header is not.
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    // The value every client sends, without the split and trims of the parser.
    if value.as_bytes() == APPLICATION_JSON.as_bytes() {
        return true;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    content_type_is(value, APPLICATION_JSON)
}

/// Whether a `Content-Type` value names `media_type`, ignoring parameters other than a
/// `charset`, which must be UTF-8 if present.
pub fn content_type_is(value: &str, media_type: &str) -> bool {
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case(media_type) {
        return false;
    }
    parts.all(|param| match param.split_once('=') {
        Some((name, v)) if name.trim().eq_ignore_ascii_case("charset") => {
            let v = v.trim().trim_matches('"');
            v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
        }
        Some(_) => true,
        None => param.trim().is_empty(),
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_fast_paths_agree_with_the_parser() {
        let slow_post = |h: &HeaderMap| {
            accepts(h, APPLICATION_JSON, false) && accepts(h, TEXT_EVENT_STREAM, false)
        };
        for values in [
            &["application/json, text/event-stream"][..],
            &["TEXT/EVENT-STREAM,application/json"],
            &["text/event-stream"],
            &["application/json"],
            &["application/json, text/event-stream;q=0"],
            &["application/json", "text/event-stream"],
            &["*/*"],
            &[""],
            &[],
        ] {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(ACCEPT, http::HeaderValue::from_str(v).unwrap());
            }
            assert_eq!(
                accepts_json_and_event_stream(&h),
                slow_post(&h),
                "{values:?}"
            );
            assert_eq!(
                accepts_event_stream(&h),
                accepts(&h, TEXT_EVENT_STREAM, false),
                "{values:?}"
            );
        }
    }

    use super::*;
    use http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn exact_types_are_accepted() {
        let h = accept("application/json, text/event-stream");
        assert!(accepts(&h, APPLICATION_JSON, false));
        assert!(accepts(&h, TEXT_EVENT_STREAM, false));
        assert!(!accepts(
            &accept("application/json"),
            TEXT_EVENT_STREAM,
            false
        ));
    }

    #[test]
    fn wildcards_match() {
        assert!(accepts(&accept("*/*"), TEXT_EVENT_STREAM, false));
        assert!(accepts(&accept("text/*"), TEXT_EVENT_STREAM, false));
        assert!(!accepts(&accept("text/*"), APPLICATION_JSON, false));
        assert!(accepts(&accept("APPLICATION/*"), APPLICATION_JSON, false));
    }

    #[test]
    fn q_zero_excludes_and_the_most_specific_range_decides() {
        assert!(!accepts(
            &accept("text/event-stream;q=0"),
            TEXT_EVENT_STREAM,
            false
        ));
        assert!(!accepts(
            &accept("*/*, text/event-stream; q=0.000"),
            TEXT_EVENT_STREAM,
            false
        ));
        assert!(accepts(
            &accept("*/*;q=0, text/event-stream;q=0.1"),
            TEXT_EVENT_STREAM,
            false
        ));
        assert!(!accepts(&accept("text/*;q=0"), TEXT_EVENT_STREAM, false));
        assert!(accepts(&accept("text/*;q=0, */*"), APPLICATION_JSON, false));
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        assert!(!accepts(
            &accept("text/event-stream;q=2"),
            TEXT_EVENT_STREAM,
            false
        ));
        assert!(!accepts(&accept("garbage"), TEXT_EVENT_STREAM, false));
        assert!(accepts(
            &accept("garbage, text/event-stream"),
            TEXT_EVENT_STREAM,
            false
        ));
    }

    #[test]
    fn several_accept_headers_combine() {
        let mut h = accept("application/json");
        h.append(ACCEPT, HeaderValue::from_static("text/event-stream"));
        assert!(accepts(&h, TEXT_EVENT_STREAM, false));
        assert!(accepts(&h, APPLICATION_JSON, false));
    }

    #[test]
    fn absent_accept_is_the_callers_choice() {
        assert!(!accepts(&HeaderMap::new(), TEXT_EVENT_STREAM, false));
        assert!(accepts(&HeaderMap::new(), TEXT_EVENT_STREAM, true));
    }

    #[test]
    fn content_type_allows_parameters() {
        assert!(content_type_is("application/json", APPLICATION_JSON));
        assert!(content_type_is(
            "Application/JSON; charset=utf-8",
            APPLICATION_JSON
        ));
        assert!(content_type_is(
            "application/json;charset=\"UTF-8\"",
            APPLICATION_JSON
        ));
        assert!(!content_type_is(
            "application/json; charset=latin1",
            APPLICATION_JSON
        ));
        assert!(!content_type_is("text/plain", APPLICATION_JSON));
        assert!(!content_type_is("application/jsonx", APPLICATION_JSON));
        assert!(!is_json_content_type(&HeaderMap::new()));
    }
}
