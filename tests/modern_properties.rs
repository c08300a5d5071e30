//! Properties of the 2026-07-28 serving path: the era classification is total and does not
//! depend on header-name case; a modern request never mints, echoes or reads a session; a
//! header/body mismatch never reaches the application; the header codec round-trips.

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
