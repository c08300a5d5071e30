//! Properties of the 2026-07-28 serving path: the era classification is total and does not
//! depend on header-name case; a modern request never mints, echoes or reads a session; a
//! header/body mismatch never reaches the application; the header codec round-trips; the
//! client encodes every header value that needs it, and our server accepts what it sends.

mod common;

use bytes::Bytes;
use common::*;
use http::Request;
use mcp_http_proto::Server;
use mcp_http_proto::server::{Outcome, Refusal, ServerConfig};
use mcp_http_proto::wire::codec;
use proptest::prelude::*;
use serde_json::json;

const MODERN: &str = "2026-07-28";

/// How a generated request's metadata relates to its body.
#[derive(Debug, Clone)]
enum HeaderV {
    /// Absent.
    Absent,
    /// Equal to the body's value (encoded when it must be).
    Match,
    /// Some other text.
    Other(String),
}

#[derive(Debug, Clone)]
struct ModernReq {
    method: &'static str,
    id: Option<u64>,
    name: Option<String>,
    version_header: Option<&'static str>,
    meta_version: Option<&'static str>,
    capabilities: bool,
    mcp_method: HeaderV,
    mcp_name: HeaderV,
    session: Option<&'static str>,
    batch: bool,
}

const METHODS: &[&str] = &[
    "tools/list",
    "tools/call",
    "prompts/get",
    "resources/read",
    "server/discover",
    "notifications/progress",
    "initialize",
];

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,8}",
        Just("héllo wörld".to_owned()),
        Just(" padded ".to_owned()),
        Just("=?base64?eA==?=".to_owned()),
        Just("line1\nline2".to_owned()),
        any::<String>(),
    ]
}

fn arb_header() -> impl Strategy<Value = HeaderV> {
    prop_oneof![
        1 => Just(HeaderV::Absent),
        6 => Just(HeaderV::Match),
        2 => arb_text().prop_map(HeaderV::Other),
    ]
}

fn arb_req() -> impl Strategy<Value = ModernReq> {
    (
        prop::sample::select(METHODS),
        prop::option::weighted(0.9, 0u64..100),
        prop::option::weighted(0.9, arb_text()),
        prop::sample::select(vec![
            Some(MODERN),
            Some(MODERN),
            Some(MODERN),
            None,
            Some("2025-11-25"),
            Some("2099-01-01"),
        ]),
        prop::sample::select(vec![Some(MODERN), Some(MODERN), None, Some("2025-06-18")]),
        prop::bool::weighted(0.9),
        arb_header(),
        arb_header(),
        prop::sample::select(vec![None, None, Some("live"), Some("stale"), Some("a b")]),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(
                method,
                id,
                name,
                version_header,
                meta_version,
                capabilities,
                m,
                n,
                session,
                batch,
            )| {
                let id = if method.starts_with("notifications/") {
                    None
                } else {
                    id
                };
                ModernReq {
                    method,
                    id,
                    name,
                    version_header,
                    meta_version,
                    capabilities,
                    mcp_method: m,
                    mcp_name: n,
                    session,
                    batch,
                }
            },
        )
}

fn name_key(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

impl ModernReq {
    fn body(&self) -> String {
        let mut params = json!({});
        if let (Some(key), Some(n)) = (name_key(self.method), &self.name) {
            params[key] = json!(n);
        }
        let mut meta = json!({});
        if let Some(v) = self.meta_version {
            meta["io.modelcontextprotocol/protocolVersion"] = json!(v);
        }
        if self.capabilities {
            meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        }
        params["_meta"] = meta;
        let mut v = json!({"jsonrpc": "2.0", "method": self.method, "params": params});
        if let Some(id) = self.id {
            v["id"] = json!(id);
        }
        let one = v.to_string();
        if self.batch { format!("[{one}]") } else { one }
    }

    /// The request, with header names in the case `case` picks.
    fn request(&self, live: &str, case: &dyn Fn(&str) -> String) -> Request<Bytes> {
        let mut r = post(self.body());
        if let Some(v) = self.version_header {
            r = r.set(&case("mcp-protocol-version"), v);
        }
        let header = |h: &HeaderV, body: Option<&str>| match h {
            HeaderV::Absent => None,
            HeaderV::Match => body.map(|b| codec::encode(b).into_owned()),
            HeaderV::Other(t) => Some(codec::encode(t).into_owned()),
        };
        if let Some(v) = header(&self.mcp_method, Some(self.method)) {
            r = r.set(&case("mcp-method"), &v);
        }
        let name = name_key(self.method).and(self.name.as_deref());
        if let Some(v) = header(&self.mcp_name, name) {
            r = r.set(&case("mcp-name"), &v);
        }
        match self.session {
            Some("live") => r = r.set(&case(SESSION_HEADER), live),
            Some(s) => r = r.set(&case(SESSION_HEADER), s),
            None => {}
        }
        r
    }

    /// Whether every metadata header agrees with the body, per `N26-6`, `N26-7`,
    /// `N26-12`, `N26-15`.
    fn headers_agree(&self) -> bool {
        let method_ok = match &self.mcp_method {
            HeaderV::Match => true,
            HeaderV::Absent => self.id.is_none(),
            HeaderV::Other(t) => t == self.method,
        };
        let body_name = name_key(self.method).and(self.name.as_deref());
        let name_ok = match (&self.mcp_name, body_name) {
            (_, None) if name_key(self.method).is_none() => true,
            (HeaderV::Match, _) => true,
            (HeaderV::Absent, b) => b.is_none(),
            (HeaderV::Other(t), Some(b)) => t == b,
            (HeaderV::Other(_), None) => false,
        };
        let version_ok = self.version_header == Some(MODERN) && self.meta_version == Some(MODERN);
        method_ok && name_ok && version_ok
    }

    /// Whether the request is of 2026-07-28 by the header, or by `_meta` (a batch, which
    /// 2026-07-28 does not have, is classified by its header alone).
    fn is_modern(&self) -> bool {
        self.version_header == Some(MODERN) || (self.meta_version == Some(MODERN) && !self.batch)
    }
}

fn fresh() -> (Server, String) {
    let t0 = base_instant();
    let mut s = server(ServerConfig::default());
    let live = open_initialized_session(&mut s, t0);
    (s, live)
}

/// The outcome as a comparable summary: status, refusal, session header, and what the
/// application was handed.
fn summary(o: &Outcome) -> (u16, Option<Refusal>, Option<String>, usize) {
    match o {
        Outcome::Reject(r) => (r.response.status().as_u16(), Some(r.refusal), None, 0),
        Outcome::Accepted(a) => (
            a.response.status().as_u16(),
            None,
            header(&a.response, SESSION_HEADER).map(str::to_owned),
            a.messages.len(),
        ),
        Outcome::Dispatch(d) => (
            0,
            None,
            d.session.as_ref().map(|s| s.to_string()),
            d.messages.len(),
        ),
        other => (1, None, None, format!("{other:?}").len()),
    }
}

fn upper(name: &str) -> String {
    name.to_ascii_uppercase()
}

fn mixed(name: &str) -> String {
    name.char_indices()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The classification is total (every request gets an outcome, none panics) and does
    /// not depend on the case of header names (`N26-8`).
    #[test]
    fn classification_is_total_and_case_blind(req in arb_req()) {
        let t0 = base_instant();
        let (mut a, live) = fresh();
        let (mut b, _) = fresh();
        let (mut c, _) = fresh();
        let lower = a.handle_request(req.request(&live, &str::to_owned), t0);
        let up = b.handle_request(req.request(&live, &upper), t0);
        let mix = c.handle_request(req.request(&live, &mixed), t0);
        prop_assert_eq!(summary(&lower), summary(&up));
        prop_assert_eq!(summary(&lower), summary(&mix));
    }

    /// A modern request never mints, echoes or reads a session (`N26-1`, `N26-10`): no
    /// session refusal, no `Mcp-Session-Id` on any answer, no session on the dispatch,
    /// and the machine's sessions are what they were.
    #[test]
    fn modern_requests_never_touch_sessions(req in arb_req()) {
        prop_assume!(req.is_modern());
        let t0 = base_instant();
        let (mut s, live) = fresh();
        let before: Vec<_> = s.sessions().cloned().collect();
        let outcome = s.handle_request(req.request(&live, &str::to_owned), t0);
        match &outcome {
            Outcome::Reject(r) => {
                prop_assert!(
                    !matches!(
                        r.refusal,
                        Refusal::UnknownSession | Refusal::MalformedSessionId | Refusal::MissingSessionId
                            | Refusal::Reinitialize | Refusal::SessionCap
                    ),
                    "{:?}", r.refusal
                );
                prop_assert!(r.response.headers().get(SESSION_HEADER).is_none());
            }
            Outcome::Accepted(a) => {
                prop_assert!(a.session.is_none());
                prop_assert!(a.response.headers().get(SESSION_HEADER).is_none());
            }
            Outcome::Dispatch(d) => {
                prop_assert!(d.session.is_none());
                prop_assert!(d.negotiated.is_none());
                let reply = format!(r#"{{"jsonrpc":"2.0","id":{},"result":{{}}}}"#, req.id.unwrap());
                s.send(d.stream, reply, t0).unwrap();
                for o in drain(&mut s) {
                    if let mcp_http_proto::server::StreamEvent::Head(h) = &o.event {
                        prop_assert!(h.headers().get(SESSION_HEADER).is_none());
                    }
                }
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        let after: Vec<_> = s.sessions().cloned().collect();
        prop_assert_eq!(before, after);
    }

    /// A modern request whose headers disagree with its body never reaches the
    /// application; one whose headers agree (and whose `_meta` is complete) always does
    /// (`N26-7`, `N26-12`, `N26-13`).
    #[test]
    fn mismatches_never_reach_the_application(req in arb_req()) {
        prop_assume!(req.is_modern() && !req.batch && req.method != "initialize");
        let t0 = base_instant();
        let (mut s, live) = fresh();
        let outcome = s.handle_request(req.request(&live, &str::to_owned), t0);
        let reached = matches!(outcome, Outcome::Dispatch(_) | Outcome::Accepted(_));
        if !req.headers_agree() {
            prop_assert!(!reached, "a mismatch reached the application: {:?}", outcome);
            let r = rejected(outcome);
            prop_assert!(matches!(
                r.refusal,
                Refusal::HeaderMismatch | Refusal::MissingMeta | Refusal::UnsupportedVersion
            ), "{:?}", r.refusal);
        } else if req.capabilities {
            prop_assert!(reached, "an agreeing request was refused: {:?}", outcome);
        } else {
            prop_assert_eq!(rejected(outcome).refusal, Refusal::MissingMeta);
        }
    }

    /// `N26-15`: every string survives encode → decode, a value that is not plain is always
    /// encoded, and every encoded form is a valid header value.
    #[test]
    fn header_codec_round_trips(value in any::<String>()) {
        let encoded = codec::encode(&value);
        prop_assert_eq!(codec::decode(encoded.as_bytes()).unwrap(), value.as_str());
        if !codec::is_plain(&value) {
            prop_assert!(encoded.starts_with("=?base64?") && encoded.ends_with("?="));
        }
        prop_assert!(http::HeaderValue::from_str(&encoded).is_ok());
    }
}

/// A modern client connected to a scripted server that listed the tool `deploy`, whose
/// `region` (string) and `count` (integer) travel in `Mcp-Param-*` headers.
fn modern_client() -> mcp_http_proto::Client {
    use mcp_http_proto::client::{ClientConfig, ClientMode};
    let now = base_instant();
    let mut config = ClientConfig::new("http://127.0.0.1:8080/mcp".parse().unwrap());
    config.mode = ClientMode::Modern;
    let entropy = Box::new(mcp_http_proto::entropy::SeededEntropy::new(5));
    let mut c = mcp_http_proto::Client::with_entropy(config, entropy).unwrap();
    let answer = |c: &mut mcp_http_proto::Client, body: String| {
        let t = c.poll_transmit().unwrap();
        let head = http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        c.handle_response_head(t.exchange, head).unwrap();
        c.handle_response_chunk(t.exchange, Bytes::from(body), now)
            .unwrap();
        c.handle_response_end(t.exchange, now).unwrap();
    };
    c.initialize(r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}"#)
        .unwrap();
    answer(
        &mut c,
        json!({"jsonrpc":"2.0","id":0,"result":{"supportedVersions":[MODERN],"capabilities":{}}})
            .to_string(),
    );
    c.send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .unwrap();
    answer(
        &mut c,
        json!({"jsonrpc":"2.0","id":1,"result":{"tools":[deploy_tool()]}}).to_string(),
    );
    while c.poll_event().is_some() {}
    c
}

fn deploy_tool() -> serde_json::Value {
    json!({"name": "deploy", "inputSchema": {"type": "object", "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"}}}})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// `N26-15`, `N26-16`: whatever the tool name and arguments, the client's `Mcp-Name`
    /// and `Mcp-Param-*` headers decode to the body's values, a value that is not plain
    /// is always encoded, and our server, told the same annotations, accepts the request.
    #[test]
    fn client_encodes_every_value_that_needs_it(
        name in arb_text(),
        region in arb_text(),
        count in -(1i64 << 53) + 1..(1i64 << 53),
    ) {
        let mut c = modern_client();
        let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{
            "name": name, "arguments": {"region": region, "count": count}}});
        c.send(call.to_string()).unwrap();
        let t = c.poll_transmit().unwrap();
        let h = |n: &str| t.request.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        let sent_name = h("mcp-name").unwrap();
        prop_assert_eq!(codec::decode(sent_name.as_bytes()).unwrap(), name.as_str());
        prop_assert_eq!(codec::is_plain(&name), sent_name == name);
        // The annotations are the tool "deploy"'s, so they apply only to that name.
        let config = ServerConfig {
            param_headers: mcp_http_proto::server::ParamHeaders::from_tools(&json!([deploy_tool()])).unwrap(),
            ..ServerConfig::default()
        };
        if name == "deploy" {
            let sent_region = h("mcp-param-region").unwrap();
            prop_assert_eq!(codec::decode(sent_region.as_bytes()).unwrap(), region.as_str());
            prop_assert_eq!(codec::is_plain(&region), sent_region == region);
            prop_assert_eq!(h("mcp-param-count"), Some(count.to_string()));
        } else {
            prop_assert!(h("mcp-param-region").is_none());
        }
        let mut s = server(config);
        let outcome = s.handle_request(t.request, base_instant());
        prop_assert!(
            matches!(outcome, Outcome::Dispatch(_)),
            "our server refused our client's request: {:?}", outcome
        );
    }
}

/// The generators reach both sides of the mismatch property and every modern refusal.
#[test]
fn generators_reach_every_modern_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let t0 = base_instant();
    let mut runner = TestRunner::deterministic();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let req = arb_req().new_tree(&mut runner).unwrap().current();
        let (mut s, live) = fresh();
        let o = s.handle_request(req.request(&live, &str::to_owned), t0);
        let key = match &o {
            Outcome::Reject(r) => format!("{:?}", r.refusal),
            Outcome::Dispatch(_) => "Dispatch".into(),
            Outcome::Accepted(_) => "Accepted".into(),
            other => format!("{other:?}"),
        };
        seen.insert(key);
    }
    for want in [
        "Dispatch",
        "Accepted",
        "HeaderMismatch",
        "MissingMeta",
        "RemovedMethod",
        "UnsupportedVersion",
        "BatchNotAllowed",
    ] {
        assert!(seen.contains(want), "never reached {want}: {seen:?}");
    }
}
