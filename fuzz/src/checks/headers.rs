//! `headers`: the 2026-07-28 header value codec, and the server's `Accept`,
//! `Content-Type`, `Host` and `Origin` handling on an `initialize` POST with one header
//! changed.

use arbitrary::Arbitrary;
use bytes::Bytes;
use http::{HeaderValue, Request};
use mcp_http_proto::Server;
use mcp_http_proto::entropy::SeededEntropy;
use mcp_http_proto::server::{Outcome, Refusal, ServerConfig, StreamEvent};
use mcp_http_proto::wire::codec;

use super::common::{
    self, HOST, check_reject, initialize_body, initialize_result, loopback_authority,
    loopback_origin, trim_ows, visible,
};

/// A building block of a header value.
#[derive(Arbitrary, Debug, Clone)]
pub enum Token {
    Json,
    EventStream,
    AnyAny,
    TextAny,
    ApplicationAny,
    Semicolon,
    Comma,
    Space,
    Tab,
    Quality(u16),
    QualityText(u8),
    Charset(u8),
    Param,
    Http,
    Https,
    SchemeSep,
    Localhost,
    Loopback4,
    Loopback6,
    Port(u16),
    Colon,
    Evil,
    At,
    Slash,
    Base64Prefix,
    Base64Suffix,
    Text(String),
    Byte(u8),
}

impl Token {
    fn push(&self, out: &mut Vec<u8>) {
        let s: &[u8] = match self {
            Self::Json => b"application/json",
            Self::EventStream => b"text/event-stream",
            Self::AnyAny => b"*/*",
            Self::TextAny => b"text/*",
            Self::ApplicationAny => b"application/*",
            Self::Semicolon => b";",
            Self::Comma => b",",
            Self::Space => b" ",
            Self::Tab => b"\t",
            Self::Quality(q) => {
                let q = q % 1001;
                let text = if q == 1000 {
                    "q=1".to_owned()
                } else {
                    format!("q=0.{q:03}")
                };
                out.extend_from_slice(text.as_bytes());
                return;
            }
            Self::QualityText(n) => {
                let qs: [&[u8]; 8] = [
                    b"q=0",
                    b"q=1",
                    b"q=1.000",
                    b"q=2",
                    b"q=0.",
                    b"Q=0",
                    b"q = 0",
                    b"q=0.0001",
                ];
                qs[usize::from(*n) % qs.len()]
            }
            Self::Charset(n) => {
                let cs: [&[u8]; 6] = [
                    b"charset=utf-8",
                    b"charset=UTF8",
                    b"charset=\"utf-8\"",
                    b"charset=latin1",
                    b"Charset = utf-8",
                    b"charset",
                ];
                cs[usize::from(*n) % cs.len()]
            }
            Self::Param => b"level=1",
            Self::Http => b"http",
            Self::Https => b"https",
            Self::SchemeSep => b"://",
            Self::Localhost => b"localhost",
            Self::Loopback4 => b"127.0.0.1",
            Self::Loopback6 => b"[::1]",
            Self::Port(p) => {
                out.extend_from_slice(format!(":{p}").as_bytes());
                return;
            }
            Self::Colon => b":",
            Self::Evil => b"evil.example",
            Self::At => b"@",
            Self::Slash => b"/",
            Self::Base64Prefix => b"=?base64?",
            Self::Base64Suffix => b"?=",
            Self::Text(t) => t.as_bytes(),
            Self::Byte(b) => std::slice::from_ref(b),
        };
        out.extend_from_slice(s);
    }
}

/// A header value made of tokens, optionally upper-cased (names compare
/// case-insensitively).
#[derive(Arbitrary, Debug, Clone)]
pub struct Text {
    pub tokens: Vec<Token>,
    pub upper: bool,
}

impl Text {
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for t in &self.tokens {
            t.push(&mut out);
        }
        if self.upper {
            out.make_ascii_uppercase();
        }
        out
    }
}

/// The one header of the `initialize` POST that the case changes. Each variant lists
/// the values the header takes (none: the header is removed).
#[derive(Arbitrary, Debug, Clone)]
pub enum Change {
    Accept(Vec<Text>),
    ContentType(Vec<Text>),
    Host(Vec<Text>),
    Origin(Vec<Text>),
    /// An absolute-form target `http://{authority}/mcp`, whose authority wins over Host.
    Target(Text),
}

/// The `headers` case.
#[derive(Arbitrary, Debug, Clone)]
pub struct HeadersCase {
    /// Strings for the codec round trip.
    pub values: Vec<String>,
    /// Raw header bytes for the decoder.
    pub raw: Vec<Vec<u8>>,
    pub stateless: bool,
    pub change: Change,
}

/// The codec's rules, from its documentation: plain means non-empty, visible ASCII and
/// spaces, no space at either end, and not shaped like `=?base64?…?=`.
fn plain_model(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|&c| (0x21..=0x7e).contains(&c) || c == b' ')
        && b[0] != b' '
        && b[b.len() - 1] != b' '
        && !(s.starts_with("=?base64?") && s.ends_with("?="))
}

fn check_codec(s: &str) {
    let plain = codec::is_plain(s);
    assert_eq!(plain, plain_model(s), "is_plain({s:?})");
    let encoded = codec::encode(s);
    assert!(
        HeaderValue::from_str(&encoded).is_ok(),
        "encode({s:?}) = {encoded:?} is a valid header value"
    );
    if plain {
        assert_eq!(encoded, s, "a plain value travels as itself");
    } else {
        assert!(
            encoded.starts_with("=?base64?") && encoded.ends_with("?=") && encoded != s,
            "a value that is not plain is encoded: {s:?} -> {encoded:?}"
        );
        assert!(
            encoded.len() > "=?base64??=".len() || s.is_empty(),
            "the payload is there: {encoded:?}"
        );
    }
    match codec::decode(encoded.as_bytes()) {
        Ok(back) => assert_eq!(back, s, "decode(encode({s:?}))"),
        Err(e) => panic!("decode(encode({s:?})) = {e:?}"),
    }
}

fn check_raw_decode(raw: &[u8]) {
    let Ok(value) = codec::decode(raw) else {
        return;
    };
    let text = std::str::from_utf8(raw).expect("a decoded value came from text");
    let shaped = text.starts_with("=?base64?") && text.ends_with("?=");
    if !shaped {
        assert_eq!(value, text, "a value without the markers is taken as it is");
    }
    // Whatever it decoded to travels back.
    assert_eq!(
        codec::decode(codec::encode(&value).as_bytes()).as_deref(),
        Ok(&*value)
    );
}

fn values(texts: &[Text]) -> Vec<HeaderValue> {
    texts
        .iter()
        .filter_map(|t| HeaderValue::from_bytes(&t.bytes()).ok())
        .collect()
}

/// What the one changed header must lead to: `Ok(())` (dispatched), `Err(refusal)`, or
/// `None` when the model does not decide.
type Expect = Option<Result<(), Refusal>>;

/// `Host`: once, visible ASCII after trimming, and (or the target's authority) allowed.
fn host_expect(hosts: &[HeaderValue], target: Option<&str>) -> Expect {
    let host = match hosts {
        [] => None,
        [one] => {
            let t = trim_ows(one.as_bytes());
            if t.is_empty() || !visible(t) {
                return Some(Err(Refusal::BadHost));
            }
            Some(std::str::from_utf8(t).expect("visible ASCII").to_owned())
        }
        _ => return Some(Err(Refusal::BadHost)),
    };
    let authority = target.map(str::to_owned).or(host);
    Some(match authority {
        Some(a) if !loopback_authority(&a) => Err(Refusal::ForbiddenHost),
        _ => Ok(()),
    })
}

/// `Origin`: absent, or once and allowed.
fn origin_expect(origins: &[HeaderValue]) -> Expect {
    Some(match origins {
        [] => Ok(()),
        [one] => {
            let t = trim_ows(one.as_bytes());
            let ok = !t.is_empty()
                && visible(t)
                && loopback_origin(std::str::from_utf8(t).expect("visible ASCII"));
            if ok {
                Ok(())
            } else {
                Err(Refusal::ForbiddenOrigin)
            }
        }
        _ => Err(Refusal::ForbiddenOrigin),
    })
}

/// `Content-Type`, from its documentation: one value, `application/json` (any case) as
/// the media type, and each parameter either a UTF-8 `charset`, another `name=value`, or
/// empty.
fn content_type_expect(types: &[HeaderValue]) -> Expect {
    let ok = match types {
        [one] => match one.to_str() {
            Ok(v) => {
                let mut parts = v.split(';');
                let essence = parts.next().unwrap_or("").trim_matches([' ', '\t']);
                essence.eq_ignore_ascii_case("application/json")
                    && parts.all(|p| match p.split_once('=') {
                        Some((name, value)) => {
                            if name
                                .trim_matches([' ', '\t'])
                                .eq_ignore_ascii_case("charset")
                            {
                                let v = value.trim_matches([' ', '\t']).trim_matches('"');
                                v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
                            } else {
                                true
                            }
                        }
                        None => p.trim_matches([' ', '\t']).is_empty(),
                    })
            }
            Err(_) => false,
        },
        _ => false,
    };
    Some(if ok {
        Ok(())
    } else {
        Err(Refusal::UnsupportedMediaType)
    })
}

/// `Accept`, partly: refused when no value could name a range that matches one of the
/// two types; accepted when, with no parameter anywhere, both types are listed exactly.
fn accept_expect(accepts: &[HeaderValue]) -> Expect {
    if accepts.is_empty() {
        return Some(Err(Refusal::NotAcceptable));
    }
    let texts: Vec<String> = accepts
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .collect();
    let mentions = |names: &[&str]| texts.iter().any(|t| names.iter().any(|n| t.contains(n)));
    if !mentions(&["application/json", "application/*", "*/*"])
        || !mentions(&["text/event-stream", "text/*", "*/*"])
    {
        return Some(Err(Refusal::NotAcceptable));
    }
    let simple = texts.len() == accepts.len() && texts.iter().all(|t| !t.contains(';'));
    let listed = |name: &str| {
        texts
            .iter()
            .flat_map(|t| t.split(','))
            .any(|r| r.trim_matches([' ', '\t']) == name)
    };
    if simple && listed("application/json") && listed("text/event-stream") {
        return Some(Ok(()));
    }
    None
}

fn set_all(req: &mut Request<Bytes>, name: &'static str, vals: &[HeaderValue]) {
    req.headers_mut().remove(name);
    for v in vals {
        req.headers_mut().append(name, v.clone());
    }
}

/// The `headers` checks.
pub fn check_headers(case: &HeadersCase) {
    for s in &case.values {
        check_codec(s);
    }
    for raw in &case.raw {
        check_raw_decode(raw);
    }

    let config = if case.stateless {
        ServerConfig::stateless()
    } else {
        ServerConfig::default()
    };
    let stateful = config.is_stateful();
    let mut server = Server::with_entropy(config, Box::new(SeededEntropy::new(3)));
    let mut req = Request::post("/mcp")
        .header("host", HOST)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(Bytes::from(initialize_body("1", "2025-06-18")))
        .expect("a valid request");

    // What the change may lead to, and what the model says it must.
    let (allowed, expect): (&[Refusal], Expect) = match &case.change {
        Change::Accept(t) => {
            let v = values(t);
            set_all(&mut req, "accept", &v);
            (&[Refusal::NotAcceptable], accept_expect(&v))
        }
        Change::ContentType(t) => {
            let v = values(t);
            set_all(&mut req, "content-type", &v);
            (&[Refusal::UnsupportedMediaType], content_type_expect(&v))
        }
        Change::Host(t) => {
            let v = values(t);
            set_all(&mut req, "host", &v);
            (
                &[Refusal::BadHost, Refusal::ForbiddenHost],
                host_expect(&v, None),
            )
        }
        Change::Origin(t) => {
            let v = values(t);
            set_all(&mut req, "origin", &v);
            let expect = if crate::checks::tolerate("origin") {
                None
            } else {
                origin_expect(&v)
            };
            (&[Refusal::ForbiddenOrigin], expect)
        }
        Change::Target(t) => {
            let uri = String::from_utf8(t.bytes())
                .ok()
                .map(|a| format!("http://{a}/mcp"))
                .and_then(|u| u.parse::<http::Uri>().ok());
            match uri {
                Some(uri) if uri.authority().is_some() => {
                    let authority = uri.authority().expect("checked").as_str().to_owned();
                    *req.uri_mut() = uri;
                    let host = req
                        .headers()
                        .get("host")
                        .cloned()
                        .into_iter()
                        .collect::<Vec<_>>();
                    (
                        &[Refusal::ForbiddenHost],
                        host_expect(&host, Some(&authority)),
                    )
                }
                _ => (&[], Some(Ok(()))),
            }
        }
    };

    let (head, _) = req.clone().into_parts();
    let early = server.check_head(&head);
    let outcome = server.handle_request(req, super::base_instant());
    match &outcome {
        Outcome::Reject(r) => {
            check_reject(r);
            assert!(
                allowed.contains(&r.refusal),
                "{:?} for a change of {:?}: only {allowed:?} may refuse it",
                r.refusal,
                case.change
            );
            if let Some(expect) = expect {
                assert_eq!(Err(r.refusal), expect, "the model of {:?}", case.change);
            }
            if [1, 2, 4, 5].contains(&r.refusal.step()) {
                assert_eq!(
                    early.as_ref().map(|e| e.refusal),
                    Some(r.refusal),
                    "check_head sees a refusal of step {} too",
                    r.refusal.step()
                );
            }
            assert_eq!(server.session_count(), 0, "a refusal mints nothing");
            assert_eq!(server.stream_count(), 0, "a refusal opens nothing");
            assert!(server.poll_output().is_none(), "a refusal writes nothing");
        }
        Outcome::Dispatch(d) => {
            if let Some(expect) = expect {
                assert_eq!(Ok(()), expect, "the model of {:?}", case.change);
            }
            assert!(
                early.is_none(),
                "check_head refused what handle_request took: {early:?}"
            );
            assert_eq!(d.session, None, "initialize has no session yet");
            let negotiated = d.negotiated.expect("initialize negotiates a version");
            assert_eq!(negotiated.as_str(), "2025-06-18");
            let stream = d.stream;
            server
                .send(
                    stream,
                    initialize_result("1", negotiated.as_str()),
                    super::base_instant(),
                )
                .expect("answering initialize");
            let mut heads = Vec::new();
            let mut ended = false;
            while let Some(out) = server.poll_output() {
                assert_eq!(out.stream, stream, "output of another stream");
                assert_eq!(out.connection, d.connection, "output of another connection");
                assert!(!ended, "output after End");
                match out.event {
                    StreamEvent::Head(h) => heads.push(h),
                    StreamEvent::Data(_) => assert_eq!(heads.len(), 1, "data before the head"),
                    StreamEvent::End => ended = true,
                }
            }
            assert_eq!(heads.len(), 1, "one head");
            assert!(ended, "the reply ends once initialize is answered");
            assert_eq!(heads[0].status(), 200);
            let sid = common::header(&heads[0], "mcp-session-id");
            let live: Vec<String> = server.sessions().map(|r| r.id.to_string()).collect();
            if stateful {
                let sid = sid.expect("the InitializeResult response carries the session id");
                assert_eq!(live, vec![sid], "the minted session is the one sent");
            } else {
                assert_eq!(sid, None, "no session id without sessions");
                assert!(live.is_empty());
            }
        }
        other => panic!("an initialize POST is dispatched or refused, not {other:?}"),
    }
}
