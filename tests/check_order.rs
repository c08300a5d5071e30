//! The server's ordered checks (DESIGN.md "Server: order of checks and default answers"):
//! every row of the table with its default status, JSON-RPC code and `Refusal`, the order
//! between rows, and custom `Policy` answers.
//!
//! Every refusal is also checked for its envelope (`INV-S17`) by `assert_refused`.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use mcp_http_proto::ProtocolVersion;
use mcp_http_proto::server::{
    Answer, Outcome, Policy, Refusal, ReplyMode, Server, ServerConfig, SessionMode,
};
use mcp_http_proto::wire::jsonrpc::{
    INVALID_REQUEST, PARSE_ERROR, SERVER_ERROR, SESSION_NOT_FOUND, UNSUPPORTED_PROTOCOL_VERSION,
};

const SERVER_ERR: i64 = SERVER_ERROR as i64;
const INVALID: i64 = INVALID_REQUEST as i64;
const PARSE: i64 = PARSE_ERROR as i64;
const NOT_FOUND: i64 = SESSION_NOT_FOUND as i64;
const UNSUPPORTED: i64 = UNSUPPORTED_PROTOCOL_VERSION as i64;

fn default_server() -> Server {
    server(ServerConfig::default())
}

/// The request passed every check: it was dispatched, accepted, opened a stream or ended a
/// session.
fn assert_passes(outcome: Outcome) {
    assert!(
        !matches!(outcome, Outcome::Reject(_)),
        "expected the request to pass, got {outcome:?}"
    );
}

// ----- step 1: the method -----

/// Step 1 (`SRV-EP-2`, `SRV-EP-3`): PUT, PATCH and HEAD get 405 with `Allow` listing what
/// the endpoint serves.
#[test]
fn step1_unserved_methods_get_405_with_allow() {
    let t0 = base_instant();
    let mut s = default_server();
    for method in ["PUT", "PATCH", "HEAD", "OPTIONS"] {
        let (r, _) = assert_refused(
            s.handle_request(request_with_method(method), t0),
            Refusal::MethodNotAllowed,
            405,
            SERVER_ERR,
        );
        assert_eq!(r.refusal.step(), 1);
        assert_eq!(
            header(&r.response, "allow"),
            Some("GET, POST, DELETE"),
            "{method}"
        );
    }
}

/// Step 1 (`SRV-GET-10`, `N26-10`): a stateless server serves POST only, so GET and DELETE
/// get 405 with `Allow: POST`.
#[test]
fn step1_stateless_get_and_delete_get_405_allow_post() {
    let t0 = base_instant();
    let mut s = server(ServerConfig::stateless());
    for req in [
        get(Some("abc")),
        delete(Some("abc")),
        request_with_method("PUT"),
    ] {
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MethodNotAllowed,
            405,
            SERVER_ERR,
        );
        assert_eq!(header(&r.response, "allow"), Some("POST"));
    }
}

/// Step 1 (`SRV-GET-3`): with the standalone stream disabled, GET gets 405 and `Allow`
/// drops GET.
#[test]
fn step1_get_without_standalone_stream_gets_405_allow_post_delete() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        standalone_stream: false,
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let (r, _) = assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StandaloneStreamDisabled,
        405,
        SERVER_ERR,
    );
    assert_eq!(r.refusal.step(), 1);
    assert_eq!(header(&r.response, "allow"), Some("POST, DELETE"));
}

// ----- step 2: Host and Origin -----

/// Step 2 (`SRV-SEC-1`): a foreign `Host` gets 403, from the header or, without one, from
/// the request URI's authority.
#[test]
fn step2_foreign_host_gets_403() {
    let t0 = base_instant();
    let mut s = default_server();
    let init = initialize_body(1, "2025-06-18");
    for host in [
        "evil.example.com",
        "localhost.evil.com",
        "127.0.0.2:8080",
        "[::2]:80",
    ] {
        let (r, _) = assert_refused(
            s.handle_request(post(&*init).set("host", host), t0),
            Refusal::ForbiddenHost,
            403,
            SERVER_ERR,
        );
        assert_eq!(r.refusal.step(), 2);
    }
    let mut absolute = post(&*init).unset("host");
    *absolute.uri_mut() = "http://evil.example.com/mcp".parse().unwrap();
    assert_refused(
        s.handle_request(absolute, t0),
        Refusal::ForbiddenHost,
        403,
        SERVER_ERR,
    );
    // Two Host headers are a bad request (RFC 9112 §3.2), not a forbidden host.
    assert_refused(
        s.handle_request(post(&*init).add("host", HOST), t0),
        Refusal::BadHost,
        400,
        -32600,
    );
    assert_eq!(s.stream_count(), 0);
}

/// Step 2 (`SRV-SEC-4`, conformance `dns-rebinding`): loopback hosts pass on any port.
#[test]
fn step2_loopback_hosts_pass() {
    let t0 = base_instant();
    let mut s = default_server();
    for host in [
        "127.0.0.1:8080",
        "127.0.0.1",
        "localhost",
        "LOCALHOST:3000",
        "[::1]",
        "[::1]:9",
    ] {
        let init = post(initialize_body(1, "2025-06-18")).set("host", host);
        assert!(
            matches!(s.handle_request(init, t0), Outcome::Dispatch(_)),
            "{host}"
        );
    }
}

/// Step 2 (`SRV-SEC-2`, `INV-S13`): a present, foreign `Origin` gets 403 and changes
/// nothing; `null` and non-web schemes are foreign too.
#[test]
fn step2_foreign_origin_gets_403() {
    let t0 = base_instant();
    let mut s = default_server();
    for origin in [
        "http://evil.example.com",
        "https://localhost.evil.com",
        "null",
        "file://localhost",
        "http://localhost@evil.example.com",
    ] {
        let req = post(initialize_body(1, "2025-06-18")).set("origin", origin);
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::ForbiddenOrigin,
            403,
            SERVER_ERR,
        );
        assert_eq!(r.refusal.step(), 2);
    }
    assert_eq!(s.stream_count(), 0);
    assert_eq!(s.session_count(), 0);
    assert!(s.poll_output().is_none());
}

/// Step 2 (ambiguity 23): loopback origins pass, and a missing `Origin` passes (non-browser
/// clients send none).
#[test]
fn step2_loopback_and_missing_origin_pass() {
    let t0 = base_instant();
    let mut s = default_server();
    for origin in [
        Some("http://localhost:5173"),
        Some("https://127.0.0.1"),
        Some("http://[::1]:8080"),
        None,
    ] {
        let mut req = post(initialize_body(1, "2025-06-18"));
        if let Some(o) = origin {
            req = req.set("origin", o);
        }
        assert!(
            matches!(s.handle_request(req, t0), Outcome::Dispatch(_)),
            "{origin:?}"
        );
    }
}

/// Step 2: an `extra_origins` entry allows that origin verbatim.
#[test]
fn step2_extra_origin_passes() {
    let t0 = base_instant();
    let mut config = ServerConfig::default();
    config.origin_policy.extra_origins = vec!["https://app.example.com".into()];
    let mut s = server(config);
    let req = post(initialize_body(1, "2025-06-18")).set("origin", "https://app.example.com");
    assert_passes(s.handle_request(req, t0));
}

// ----- step 3: body size -----

fn small_body_server(limit: usize) -> Server {
    server(ServerConfig {
        max_body_bytes: limit,
        ..ServerConfig::default()
    })
}

/// Step 3: a `Content-Length` over the limit is refused from the head alone, before any
/// body is read, by `check_head`; `handle_request` gives the same answer.
#[test]
fn step3_declared_length_over_limit_gets_413_from_the_head() {
    let t0 = base_instant();
    let mut s = small_body_server(100);
    let req = post("").set("content-length", "101");
    let (head, _) = req.into_parts();
    let r = s.check_head(&head).expect("refused from the head");
    assert_eq!(r.refusal, Refusal::BodyTooLarge);
    assert_eq!(r.refusal.step(), 3);
    assert_eq!(r.response.status(), 413);
    assert_eq!(error_body(&r.response)["error"]["code"], SERVER_ERR);
    // At the limit, the head passes.
    let (head, _) = post("").set("content-length", "100").into_parts();
    assert!(s.check_head(&head).is_none());
    // Larger than u64 is certainly too large, not malformed.
    let (head, _) = post("")
        .set("content-length", "99999999999999999999999")
        .into_parts();
    assert_eq!(s.check_head(&head).unwrap().refusal, Refusal::BodyTooLarge);
    assert_refused(
        s.handle_request(post("").set("content-length", "101"), t0),
        Refusal::BodyTooLarge,
        413,
        SERVER_ERR,
    );
}

/// Step 3: a body over the limit without `Content-Length` is refused once read; a body of
/// exactly the limit passes.
#[test]
fn step3_oversized_body_without_length_gets_413() {
    let t0 = base_instant();
    let init = initialize_body(1, "2025-06-18");
    let mut s = small_body_server(init.len() - 1);
    let req = post(&*init);
    assert!(req.headers().get("content-length").is_none());
    assert_refused(
        s.handle_request(req, t0),
        Refusal::BodyTooLarge,
        413,
        SERVER_ERR,
    );
    let mut s = small_body_server(init.len());
    assert!(matches!(
        s.handle_request(post(&*init), t0),
        Outcome::Dispatch(_)
    ));
}

/// Step 3: a `Content-Length` that is not one decimal number gets 400 -32600.
#[test]
fn step3_malformed_content_length_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    for cl in ["abc", "-1", "+5", "1.0", "0x10", "5 5"] {
        let (r, _) = assert_refused(
            s.handle_request(post(tools_list(1)).set("content-length", cl), t0),
            Refusal::BadContentLength,
            400,
            INVALID,
        );
        assert_eq!(r.refusal.step(), 3);
    }
    let repeated = post(tools_list(1))
        .set("content-length", "5")
        .add("content-length", "5");
    assert_refused(
        s.handle_request(repeated, t0),
        Refusal::BadContentLength,
        400,
        INVALID,
    );
    // From the head too.
    let (head, _) = post("").set("content-length", "abc").into_parts();
    assert_eq!(
        s.check_head(&head).unwrap().refusal,
        Refusal::BadContentLength
    );
}

// ----- step 4: Accept -----

/// Step 4 (`CLI-POST-2`): a POST must accept both application/json and text/event-stream;
/// `q=0` refuses a type.
#[test]
fn step4_post_without_both_types_gets_406() {
    let t0 = base_instant();
    let mut s = default_server();
    let init = initialize_body(1, "2025-06-18");
    for accept in [
        Some("application/json"),
        Some("text/event-stream"),
        Some("application/json, text/event-stream;q=0"),
        Some("*/*, application/json;q=0"),
        Some("text/*"),
        Some("garbage"),
        None,
    ] {
        let req = match accept {
            Some(a) => post(&*init).set("accept", a),
            None => post(&*init).unset("accept"),
        };
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::NotAcceptable,
            406,
            SERVER_ERR,
        );
        assert_eq!(r.refusal.step(), 4, "{accept:?}");
    }
}

/// Step 4: wildcards and weights that accept both types pass.
#[test]
fn step4_post_wildcards_pass() {
    let t0 = base_instant();
    let mut s = default_server();
    for accept in [
        "*/*",
        "application/*, text/*",
        "application/json;q=0.5, text/event-stream;q=0.1",
        "text/event-stream, */*;q=0.2",
    ] {
        let req = post(initialize_body(1, "2025-06-18")).set("accept", accept);
        assert!(
            matches!(s.handle_request(req, t0), Outcome::Dispatch(_)),
            "{accept}"
        );
    }
    // Two Accept headers combine.
    let req = post(initialize_body(1, "2025-06-18"))
        .set("accept", "application/json")
        .add("accept", "text/event-stream");
    assert!(matches!(s.handle_request(req, t0), Outcome::Dispatch(_)));
}

/// Step 4 (`CLI-GET-2`): a GET must accept text/event-stream; `*/*` passes, `q=0` refuses.
#[test]
fn step4_get_needs_event_stream() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    for accept in [
        Some("application/json"),
        Some("text/event-stream;q=0"),
        None,
    ] {
        let req = match accept {
            Some(a) => get(Some(&id)).set("accept", a),
            None => get(Some(&id)).unset("accept"),
        };
        assert_refused(
            s.handle_request(req, t0),
            Refusal::NotAcceptable,
            406,
            SERVER_ERR,
        );
    }
    let out = s.handle_request(get(Some(&id)).set("accept", "*/*"), t0);
    assert!(matches!(out, Outcome::StreamOpened(_)), "{out:?}");
}

/// Step 4: DELETE carries no body and needs no Accept.
#[test]
fn step4_delete_needs_no_accept() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    let out = s.handle_request(delete(Some(&id)).set("accept", "image/png"), t0);
    assert!(matches!(out, Outcome::SessionDeleted(_)), "{out:?}");
}

// ----- step 5: Content-Type -----

/// Step 5 (`CLI-POST-12`): a POST whose `Content-Type` is missing or not application/json
/// gets 415.
#[test]
fn step5_non_json_content_type_gets_415() {
    let t0 = base_instant();
    let mut s = default_server();
    let init = initialize_body(1, "2025-06-18");
    for ct in [
        Some("text/plain"),
        Some("application/jsonx"),
        Some("application/json; charset=latin1"),
        Some("multipart/form-data"),
        None,
    ] {
        let req = match ct {
            Some(c) => post(&*init).set("content-type", c),
            None => post(&*init).unset("content-type"),
        };
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::UnsupportedMediaType,
            415,
            SERVER_ERR,
        );
        assert_eq!(r.refusal.step(), 5, "{ct:?}");
    }
}

/// Step 5 (`GEN-1`): parameters are allowed, and a UTF-8 charset passes.
#[test]
fn step5_json_with_parameters_passes() {
    let t0 = base_instant();
    let mut s = default_server();
    for ct in [
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/json;charset=\"UTF-8\"",
    ] {
        let req = post(initialize_body(1, "2025-06-18")).set("content-type", ct);
        assert!(
            matches!(s.handle_request(req, t0), Outcome::Dispatch(_)),
            "{ct}"
        );
    }
}

// ----- step 6: MCP-Protocol-Version -----

/// Step 6 (`SRV-VER-4`, `INV-S14`, `VER-26`): an unknown or unsupported version gets 400
/// -32022 whose data lists the supported versions and echoes the requested one. On a
/// server configured for the session era alone, a modern request (2026-07-28, or a later
/// date) gets `ModernNotServed` instead: 400 with -32600, no modern error, so that a
/// dual-era client falls back to `initialize` (`N26-20`); the versions are still named.
#[test]
fn step6_unsupported_version_gets_400_with_supported_list() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        supported_versions: ProtocolVersion::ALL
            .iter()
            .copied()
            .filter(|v| v.has_initialize())
            .collect(),
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let supported = json(r#"["2024-11-05","2025-03-26","2025-06-18","2025-11-25"]"#);
    let modern = (Refusal::ModernNotServed, -32600);
    let unsupported = (Refusal::UnsupportedVersion, UNSUPPORTED);
    for (req, requested, (refusal, code)) in [
        (
            post_in(&id, tools_list(2)).set("mcp-protocol-version", "banana"),
            "banana",
            unsupported,
        ),
        (
            post_in(&id, tools_list(2)).set("mcp-protocol-version", "2026-07-28"),
            "2026-07-28",
            modern,
        ),
        (
            post_in(&id, tools_list(2)).set("mcp-protocol-version", "2025-6-18"),
            "2025-6-18",
            unsupported,
        ),
        (
            post_in(&id, tools_list(2)).set("mcp-protocol-version", "2024-01-01"),
            "2024-01-01",
            unsupported,
        ),
        (
            get(Some(&id)).set("mcp-protocol-version", "2099-01-01"),
            "2099-01-01",
            modern,
        ),
        (
            delete(Some(&id)).set("mcp-protocol-version", "2026-07-28"),
            "2026-07-28",
            modern,
        ),
    ] {
        let (r, body) = assert_refused(s.handle_request(req, t0), refusal, 400, code);
        assert_eq!(r.refusal.step(), 6);
        assert_eq!(body["error"]["data"]["supported"], supported);
        assert_eq!(body["error"]["data"]["requested"], requested);
        if refusal == Refusal::ModernNotServed {
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("2025-11-25") && message.contains("initialize"),
                "{message}"
            );
        }
    }
    // A repeated header is refused too.
    let req = post_in(&id, tools_list(2))
        .set("mcp-protocol-version", "2025-06-18")
        .add("mcp-protocol-version", "2025-06-18");
    assert_refused(
        s.handle_request(req, t0),
        Refusal::UnsupportedVersion,
        400,
        UNSUPPORTED,
    );
    // The session survived every refusal.
    assert_eq!(live_ids(&s), [id]);
}

/// Step 6: a supported version passes; the supported list follows the configuration.
#[test]
fn step6_supported_list_follows_the_configuration() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        supported_versions: vec![ProtocolVersion::V2025_11_25],
        ..ServerConfig::default()
    });
    let init = post(initialize_body(1, "2025-11-25"));
    let ok = s.handle_request(init.set("mcp-protocol-version", "2025-11-25"), t0);
    assert!(matches!(ok, Outcome::Dispatch(_)));
    let init = post(initialize_body(1, "2025-06-18")).set("mcp-protocol-version", "2025-06-18");
    let (_, body) = assert_refused(
        s.handle_request(init, t0),
        Refusal::UnsupportedVersion,
        400,
        UNSUPPORTED,
    );
    assert_eq!(
        body["error"]["data"]["supported"],
        json(r#"["2025-11-25"]"#)
    );
    assert_eq!(body["error"]["data"]["requested"], "2025-06-18");
}

// ----- step 7: the session header's form -----

/// Step 7 (`SRV-SESS-3`, DESIGN "echoed back when duplicated"): a repeated, comma-joined,
/// empty, too long or non-visible-ASCII session header gets 400 -32600.
#[test]
fn step7_malformed_session_header_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    let long = "a".repeat(257);
    let cases: Vec<http::Request<Bytes>> = vec![
        post_in(&id, tools_list(2)).add("mcp-session-id", &id),
        post_in(&id, tools_list(2)).set("mcp-session-id", &format!("{id},{id}")),
        post_in(&id, tools_list(2)).set("mcp-session-id", &format!("{id}, {id}")),
        post_in(&id, tools_list(2)).set("mcp-session-id", "a b"),
        post_in(&id, tools_list(2)).set("mcp-session-id", ""),
        post_in(&id, tools_list(2)).set("mcp-session-id", &long),
        post_in(&id, tools_list(2)).set_bytes("mcp-session-id", b"ab\xffcd"),
        post_in(&id, tools_list(2)).set_bytes("mcp-session-id", b"ab\tcd"),
        get(Some(&id)).add("mcp-session-id", &id),
        delete(Some(&id)).set("mcp-session-id", "x,y"),
    ];
    for req in cases {
        let shown = format!("{:?}", req.headers().get_all("mcp-session-id"));
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MalformedSessionId,
            400,
            INVALID,
        );
        assert_eq!(r.refusal.step(), 7, "{shown}");
    }
    assert_eq!(live_ids(&s), [id]);
}

// ----- step 8: the session -----

/// Step 8 (`SRV-SESS-5`, `INV-S3`): a request other than `initialize` without a session
/// header gets 400 and reaches nothing.
#[test]
fn step8_missing_session_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let _id = open_session(&mut s, t0);
    for req in [
        post(tools_list(2)),
        post(INITIALIZED),
        post(CLIENT_RESPONSE),
        get(None),
        delete(None),
    ] {
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::MissingSessionId,
            400,
            INVALID,
        );
        assert_eq!(r.refusal.step(), 8);
    }
    assert_eq!(s.stream_count(), 0);
}

/// Step 8 (`SRV-SESS-7`, `INV-S2`): a session id that was never issued gets 404 on POST,
/// GET and DELETE, including an `initialize` that carries one.
#[test]
fn step8_unknown_session_gets_404() {
    let t0 = base_instant();
    let mut s = default_server();
    let _id = open_session(&mut s, t0);
    let unknown = "never-issued-0123";
    for req in [
        post_in(unknown, tools_list(2)),
        post_in(unknown, INITIALIZED),
        post_in(unknown, initialize_body(1, "2025-06-18")),
        get(Some(unknown)),
        delete(Some(unknown)),
    ] {
        let (r, _) = assert_refused(
            s.handle_request(req, t0),
            Refusal::UnknownSession,
            404,
            NOT_FOUND,
        );
        assert_eq!(r.refusal.step(), 8);
    }
}

/// Step 8 from the head: `check_head` refuses an unknown session before the body, but lets
/// a session-less POST through (it may be `initialize`), and changes nothing.
#[test]
fn step8_check_head_refuses_unknown_session_but_not_sessionless_post() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    let (head, _) = post_in("nope", "").into_parts();
    assert_eq!(
        s.check_head(&head).unwrap().refusal,
        Refusal::UnknownSession
    );
    let (head, _) = post("").into_parts();
    assert!(s.check_head(&head).is_none());
    let (head, _) = get(None).into_parts();
    assert_eq!(
        s.check_head(&head).unwrap().refusal,
        Refusal::MissingSessionId
    );
    let (head, _) = get(Some(&id)).into_parts();
    assert!(s.check_head(&head).is_none());
    // Passing check_head opened nothing.
    assert_eq!(s.stream_count(), 0);
    assert!(s.standalone_stream(&sid(&id)).is_none());
}

// ----- step 9: the body -----

/// Step 9 (`ERR-4`): a body that is not JSON gets 400 -32700; JSON that is not JSON-RPC
/// gets 400 -32600.
#[test]
fn step9_bad_bodies_get_400_with_their_code() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    for body in ["{not json", "", "\u{feff}{}", "[{}", r#"{"jsonrpc":"2.0","#] {
        let (r, _) = assert_refused(
            s.handle_request(post_in(&id, body), t0),
            Refusal::ParseError,
            400,
            PARSE,
        );
        assert_eq!(r.refusal.step(), 9, "{body:?}");
    }
    for body in [
        "42",
        "{}",
        r#"{"foo":1}"#,
        r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
        r#"{"jsonrpc":"2.0","result":{}}"#,
        "[]",
        "[1]",
    ] {
        let (r, _) = assert_refused(
            s.handle_request(post_in(&id, body), t0),
            Refusal::InvalidMessage,
            400,
            INVALID,
        );
        assert_eq!(r.refusal.step(), 9, "{body:?}");
    }
    // Bytes that are not UTF-8.
    let mut req = post_in(&id, "");
    *req.body_mut() = Bytes::from_static(b"{\"jsonrpc\":\"2.0\xff\"}");
    assert_refused(s.handle_request(req, t0), Refusal::ParseError, 400, PARSE);
    assert_eq!(s.stream_count(), 0);
}

fn batch_of_requests() -> String {
    format!("[{},{},{}]", tools_list(10), PROGRESS, tools_list(11))
}

/// Step 9 (`CLI-POST-4`, `BOTH-POST-6`): batches are allowed only when the governing
/// version, the session's, is 2025-03-26; a header claiming 2025-03-26 does not override a
/// 2025-06-18 or 2025-11-25 session.
#[test]
fn step9_batches_only_in_2025_03_26() {
    let t0 = base_instant();
    let mut s = default_server();
    let v0618 = open_session_with(&mut s, "2025-06-18", t0);
    let v1125 = open_session_with(&mut s, "2025-11-25", t0);
    let old = open_session_with(&mut s, "2025-03-26", t0);
    for id in [&v0618, &v1125] {
        assert_refused(
            s.handle_request(post_in(id, batch_of_requests()), t0),
            Refusal::BatchNotAllowed,
            400,
            INVALID,
        );
        let with_header =
            post_in(id, batch_of_requests()).set("mcp-protocol-version", "2025-03-26");
        assert_refused(
            s.handle_request(with_header, t0),
            Refusal::BatchNotAllowed,
            400,
            INVALID,
        );
    }
    let d = match s.handle_request(post_in(&old, batch_of_requests()), t0) {
        Outcome::Dispatch(d) => d,
        other => panic!("{other:?}"),
    };
    assert_eq!(d.version, ProtocolVersion::V2025_03_26);
    assert_eq!(d.messages.len(), 3);
    let responses = format!("[{CLIENT_RESPONSE},{CLIENT_ERROR_RESPONSE}]");
    let a = s.handle_request(post_in(&old, responses), t0);
    assert_eq!(a.response().unwrap().status(), 202);
}

/// Step 9 (`CLI-POST-5`): `initialize` is never part of a batch, even in 2025-03-26.
#[test]
fn step9_initialize_in_a_batch_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let old = open_session_with(&mut s, "2025-03-26", t0);
    let batch = format!("[{},{}]", initialize_body(5, "2025-03-26"), PROGRESS);
    let (r, _) = assert_refused(
        s.handle_request(post_in(&old, batch), t0),
        Refusal::InitializeInBatch,
        400,
        INVALID,
    );
    assert_eq!(r.refusal.step(), 9);
}

/// Step 9 (`CLI-POST-3`): a batch that mixes requests and responses, or repeats a request
/// id, is not valid JSON-RPC for this transport.
#[test]
fn step9_mixed_or_duplicate_batches_get_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let old = open_session_with(&mut s, "2025-03-26", t0);
    for batch in [
        format!("[{},{}]", tools_list(1), CLIENT_RESPONSE),
        format!("[{},{}]", tools_list(1), tools_list(1)),
    ] {
        assert_refused(
            s.handle_request(post_in(&old, batch), t0),
            Refusal::InvalidMessage,
            400,
            INVALID,
        );
    }
}

// ----- step 10: initialize on a live session -----

/// Step 10 (`INV-S18`, ambiguity 11): `initialize` on a live session gets 400 -32600 and
/// leaves the session as it was.
#[test]
fn step10_initialize_on_live_session_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session_with(&mut s, "2025-06-18", t0);
    let before: Vec<_> = s.sessions().cloned().collect();
    let (r, _) = assert_refused(
        s.handle_request(post_in(&id, initialize_body(9, "2025-03-26")), t0),
        Refusal::Reinitialize,
        400,
        INVALID,
    );
    assert_eq!(r.refusal.step(), 10);
    let after: Vec<_> = s.sessions().cloned().collect();
    assert_eq!(before, after);
}

// ----- step 11: the session cap -----

/// Step 11: at the cap, a new `initialize` gets 503 with `Retry-After`.
#[test]
fn step11_session_cap_gets_503_with_retry_after() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_sessions: Some(1),
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let (r, _) = assert_refused(
        s.handle_request(post(initialize_body(2, "2025-06-18")), t0),
        Refusal::SessionCap,
        503,
        SERVER_ERR,
    );
    assert_eq!(r.refusal.step(), 11);
    assert_eq!(header(&r.response, "retry-after"), Some("5"));
    // Requests in the live session are not affected by the cap.
    assert!(matches!(
        s.handle_request(post_in(&id, tools_list(3)), t0),
        Outcome::Dispatch(_)
    ));
}

// ----- step 12: GET streams -----

/// Step 12 (ambiguity 24): a second standalone GET on a session gets 409.
#[test]
fn step12_second_standalone_get_gets_409() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    assert!(matches!(
        s.handle_request(get(Some(&id)), t0),
        Outcome::StreamOpened(_)
    ));
    drain(&mut s);
    let (r, _) = assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StreamConflict,
        409,
        SERVER_ERR,
    );
    assert_eq!(r.refusal.step(), 12);
    assert!(s.poll_output().is_none());
}

/// Step 12 (ambiguity 20): a `Last-Event-ID` that names no resumable stream gets 400.
#[test]
fn step12_last_event_id_on_get_gets_400() {
    let t0 = base_instant();
    let mut s = default_server();
    let id = open_session(&mut s, t0);
    let (r, _) = assert_refused(
        s.handle_request(get(Some(&id)).set("last-event-id", "s0-7"), t0),
        Refusal::UnknownEventId,
        400,
        INVALID,
    );
    assert_eq!(r.refusal.step(), 12);
    assert!(s.standalone_stream(&sid(&id)).is_none());
}

// ----- the order -----

/// Each pair: a request that fails two checks gets the earlier step's answer.
#[test]
fn earlier_step_wins_for_pairs_of_faults() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_body_bytes: 1000,
        max_sessions: Some(1),
        ..ServerConfig::default()
    });
    let id = open_session_with(&mut s, "2025-06-18", t0);
    let init = initialize_body(1, "2025-06-18");
    let cases: Vec<(&str, http::Request<Bytes>, Refusal)> = vec![
        (
            "PUT + bad Host",
            request_with_method("PUT").set("host", "evil.com"),
            Refusal::MethodNotAllowed,
        ),
        (
            "bad Host + bad Accept",
            post(&*init)
                .set("host", "evil.com")
                .set("accept", "application/json"),
            Refusal::ForbiddenHost,
        ),
        (
            "bad Origin + oversized Content-Length",
            post(&*init)
                .set("origin", "http://evil.com")
                .set("content-length", "5000"),
            Refusal::ForbiddenOrigin,
        ),
        (
            "oversized Content-Length + bad Accept",
            post(&*init)
                .set("content-length", "5000")
                .set("accept", "text/html"),
            Refusal::BodyTooLarge,
        ),
        (
            "malformed Content-Length + bad Accept",
            post(&*init)
                .set("content-length", "x")
                .set("accept", "text/html"),
            Refusal::BadContentLength,
        ),
        (
            "bad Accept + bad Content-Type",
            post(&*init)
                .set("accept", "application/json")
                .set("content-type", "text/plain"),
            Refusal::NotAcceptable,
        ),
        (
            "bad Content-Type + unsupported version",
            post(&*init)
                .set("content-type", "text/plain")
                .set("mcp-protocol-version", "2099-01-01"),
            Refusal::UnsupportedMediaType,
        ),
        (
            "unsupported version + malformed session",
            post_in("a,b", tools_list(2)).set("mcp-protocol-version", "banana"),
            Refusal::UnsupportedVersion,
        ),
        (
            "unsupported version + unknown session",
            post_in("unknown", tools_list(2)).set("mcp-protocol-version", "2099-01-01"),
            Refusal::UnsupportedVersion,
        ),
        (
            "malformed session + invalid JSON",
            post_in("a b", "{oops"),
            Refusal::MalformedSessionId,
        ),
        (
            "unknown session + invalid JSON",
            post_in("unknown", "{oops"),
            Refusal::UnknownSession,
        ),
        (
            "missing session + invalid JSON",
            post("{oops"),
            Refusal::MissingSessionId,
        ),
        (
            "unknown session + initialize",
            post_in("unknown", &*init),
            Refusal::UnknownSession,
        ),
        (
            "batch not allowed + initialize in batch",
            post_in(&id, format!("[{init}]")),
            Refusal::BatchNotAllowed,
        ),
        (
            "re-initialize + session cap",
            post_in(&id, &*init),
            Refusal::Reinitialize,
        ),
        (
            "GET: unknown session + Last-Event-ID",
            get(Some("unknown")).set("last-event-id", "1"),
            Refusal::UnknownSession,
        ),
        (
            "GET: missing session + bad Accept",
            get(None).set("accept", "application/json"),
            Refusal::NotAcceptable,
        ),
    ];
    for (name, req, want) in cases {
        let r = rejected(s.handle_request(req, t0));
        assert_eq!(r.refusal, want, "{name}");
    }
    assert_eq!(live_ids(&s), [id]);
}

/// The ladder: one request that fails every step from 1 to 11 is fixed one fault at a time,
/// earliest first; each fix moves the refusal to a strictly later step, in table order.
#[test]
fn fixing_faults_in_order_walks_the_check_table() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_body_bytes: 1000,
        max_sessions: Some(1),
        ..ServerConfig::default()
    });
    let live = open_session(&mut s, t0);
    // Each stage fixes the fault that the previous stage was refused for.
    type Stage = fn(http::Request<Bytes>, &str) -> http::Request<Bytes>;
    let stages: Vec<(Stage, Refusal)> = vec![
        (|r, _| r, Refusal::MethodNotAllowed),
        (
            |mut r, _| {
                *r.method_mut() = http::Method::POST;
                r
            },
            Refusal::ForbiddenHost,
        ),
        (|r, _| r.set("host", HOST), Refusal::ForbiddenOrigin),
        (
            |r, _| r.set("origin", "http://localhost"),
            Refusal::BadContentLength,
        ),
        (
            |r, _| r.set("content-length", "5000"),
            Refusal::BodyTooLarge,
        ),
        (|r, _| r.unset("content-length"), Refusal::NotAcceptable),
        (
            |r, _| r.set("accept", ACCEPT_BOTH),
            Refusal::UnsupportedMediaType,
        ),
        (
            |r, _| r.set("content-type", JSON),
            Refusal::UnsupportedVersion,
        ),
        (
            |r, _| r.set("mcp-protocol-version", "2025-06-18"),
            Refusal::MalformedSessionId,
        ),
        (
            |r, _| r.set("mcp-session-id", "not-a-live-session"),
            Refusal::UnknownSession,
        ),
        (|r, live| r.set("mcp-session-id", live), Refusal::ParseError),
        (
            |mut r, _| {
                *r.body_mut() = Bytes::from(initialize_body(1, "2025-06-18"));
                r
            },
            Refusal::Reinitialize,
        ),
        (|r, _| r.unset("mcp-session-id"), Refusal::SessionCap),
    ];
    let mut req = post("{garbage")
        .set("host", "evil.example.com")
        .set("origin", "http://evil.example.com")
        .set("content-length", "ten")
        .set("accept", "text/html")
        .set("content-type", "text/plain")
        .set("mcp-protocol-version", "1999-01-01")
        .set("mcp-session-id", "a,b");
    *req.method_mut() = http::Method::PUT;
    let mut last_step = 0;
    for (fix, want) in stages {
        req = fix(req, &live);
        let copy = clone_request(&req);
        let r = rejected(s.handle_request(copy, t0));
        assert_eq!(r.refusal, want);
        assert!(
            r.refusal.step() >= last_step,
            "{want:?} after step {last_step}"
        );
        last_step = r.refusal.step();
    }
    assert_eq!(last_step, 11);
    assert_eq!(live_ids(&s), [live]);
}

// ----- custom policy -----

fn custom_policy() -> Policy {
    use Refusal::*;
    use http::StatusCode as S;
    let answers = [
        (MethodNotAllowed, S::NOT_IMPLEMENTED, -1),
        (ForbiddenHost, S::MISDIRECTED_REQUEST, -2),
        (ForbiddenOrigin, S::FORBIDDEN, -19),
        (BodyTooLarge, S::BAD_REQUEST, -3),
        (BadContentLength, S::LENGTH_REQUIRED, -4),
        (NotAcceptable, S::BAD_REQUEST, -5),
        (UnsupportedMediaType, S::BAD_REQUEST, -6),
        (UnsupportedVersion, S::PRECONDITION_FAILED, -7),
        (MalformedSessionId, S::UNPROCESSABLE_ENTITY, -8),
        (MissingSessionId, S::UNPROCESSABLE_ENTITY, -9),
        (UnknownSession, S::GONE, -10),
        (ParseError, S::UNPROCESSABLE_ENTITY, -11),
        (InvalidMessage, S::UNPROCESSABLE_ENTITY, -12),
        (BatchNotAllowed, S::NOT_IMPLEMENTED, -13),
        (InitializeInBatch, S::NOT_IMPLEMENTED, -13),
        (Reinitialize, S::CONFLICT, -14),
        (SessionCap, S::TOO_MANY_REQUESTS, -15),
        (StreamConflict, S::TOO_MANY_REQUESTS, -16),
        (UnknownEventId, S::GONE, -17),
        (StandaloneStreamDisabled, S::NOT_FOUND, -18),
        (HeaderMismatch, S::UNPROCESSABLE_ENTITY, -20),
        (MissingMeta, S::UNPROCESSABLE_ENTITY, -21),
        (RemovedMethod, S::GONE, -22),
        (ModernNotServed, S::UNPROCESSABLE_ENTITY, -23),
        (BadHost, S::UNPROCESSABLE_ENTITY, -24),
        (TooManyStreams, S::UNPROCESSABLE_ENTITY, -25),
        // Honoured in tests/store_seam.rs, where a store is configured.
        (StoreUnavailable, S::BAD_GATEWAY, -26),
    ];
    let mut policy = Policy::default();
    for (refusal, status, code) in answers {
        policy.set(refusal, Answer::new(status, code));
    }
    // Every refusal of the table has a custom answer here.
    assert_eq!(answers.len(), Refusal::ALL.len());
    policy.session_cap_retry_after = Duration::from_secs(30);
    policy.delete_status = S::ACCEPTED;
    policy
}

/// DESIGN "every status and JSON-RPC code above is a default in a policy struct": every
/// custom answer (421 for a bad Host, another DELETE status ...) is honoured; the order and
/// the extra headers stay.
#[test]
fn custom_policy_answers_are_honoured() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        max_body_bytes: 1000,
        max_sessions: Some(2),
        policy: custom_policy(),
        ..ServerConfig::default()
    });
    let old = open_session_with(&mut s, "2025-03-26", t0);
    let id = open_session_with(&mut s, "2025-06-18", t0);
    let init = initialize_body(1, "2025-06-18");
    let cases: Vec<(http::Request<Bytes>, Refusal, u16, i64)> = vec![
        (
            request_with_method("PUT"),
            Refusal::MethodNotAllowed,
            501,
            -1,
        ),
        (
            post(&*init).set("host", "evil.com"),
            Refusal::ForbiddenHost,
            421,
            -2,
        ),
        (
            post(&*init).set("origin", "http://evil.com"),
            Refusal::ForbiddenOrigin,
            403,
            -19,
        ),
        (
            post(&*init).set("content-length", "1001"),
            Refusal::BodyTooLarge,
            400,
            -3,
        ),
        (
            post(&*init).set("content-length", "z"),
            Refusal::BadContentLength,
            411,
            -4,
        ),
        (
            post(&*init).set("accept", "application/json"),
            Refusal::NotAcceptable,
            400,
            -5,
        ),
        (
            post(&*init).unset("content-type"),
            Refusal::UnsupportedMediaType,
            400,
            -6,
        ),
        (
            post(&*init).set("mcp-protocol-version", "x"),
            Refusal::UnsupportedVersion,
            412,
            -7,
        ),
        (
            post_in("a,b", tools_list(1)),
            Refusal::MalformedSessionId,
            422,
            -8,
        ),
        (post(tools_list(1)), Refusal::MissingSessionId, 422, -9),
        (
            post_in("gone", tools_list(1)),
            Refusal::UnknownSession,
            410,
            -10,
        ),
        (post_in(&id, "{"), Refusal::ParseError, 422, -11),
        (post_in(&id, "{}"), Refusal::InvalidMessage, 422, -12),
        (
            post_in(&id, format!("[{}]", tools_list(1))),
            Refusal::BatchNotAllowed,
            501,
            -13,
        ),
        (
            post_in(&old, format!("[{init}]")),
            Refusal::InitializeInBatch,
            501,
            -13,
        ),
        (post_in(&id, &*init), Refusal::Reinitialize, 409, -14),
        (post(&*init), Refusal::SessionCap, 429, -15),
        (
            get(Some(&id)).set("last-event-id", "1"),
            Refusal::UnknownEventId,
            410,
            -17,
        ),
    ];
    for (req, refusal, status, code) in cases {
        let (r, _) = assert_refused(s.handle_request(req, t0), refusal, status, code);
        if refusal == Refusal::MethodNotAllowed {
            assert_eq!(header(&r.response, "allow"), Some("GET, POST, DELETE"));
        }
        if refusal == Refusal::SessionCap {
            assert_eq!(header(&r.response, "retry-after"), Some("30"));
        }
    }
    assert!(matches!(
        s.handle_request(get(Some(&id)), t0),
        Outcome::StreamOpened(_)
    ));
    assert_refused(
        s.handle_request(get(Some(&id)), t0),
        Refusal::StreamConflict,
        429,
        -16,
    );
    let out = s.handle_request(delete(Some(&id)), t0);
    assert!(matches!(out, Outcome::SessionDeleted(_)));
    assert_eq!(out.response().unwrap().status(), 202);
}

/// `Policy::delete_status` set to 204 (DESIGN: "204 for DELETE") is honoured, and the 204
/// carries no `Content-Length` (RFC 9110 §8.6: a server MUST NOT send Content-Length in a
/// 204) and no body.
#[test]
fn custom_delete_204_is_honoured_without_content_length() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        policy: {
            let mut p = Policy::default();
            p.delete_status = http::StatusCode::NO_CONTENT;
            p
        },
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let out = s.handle_request(delete(Some(&id)), t0);
    let r = out.response().expect("a DELETE response");
    assert_eq!(r.status(), 204);
    assert!(r.body().is_empty());
    assert!(
        r.headers().get("content-length").is_none(),
        "a 204 must not carry Content-Length: {:?}",
        r.headers()
    );
}

/// `Refusal::StandaloneStreamDisabled`'s answer is the answer to a GET when the standalone stream is
/// disabled (`SRV-GET-3`); a custom value is honoured like every other policy field.
#[test]
fn custom_get_stream_disabled_answer_is_honoured() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        standalone_stream: false,
        policy: custom_policy(),
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    let r = rejected(s.handle_request(get(Some(&id)), t0));
    assert_eq!(r.refusal, Refusal::StandaloneStreamDisabled);
    assert_eq!(
        r.response.status(),
        404,
        "the policy's StandaloneStreamDisabled answer"
    );
    assert_eq!(error_body(&r.response)["error"]["code"], -18);
}

/// JSON reply mode changes no check: the same refusals, in the same order.
#[test]
fn json_reply_mode_has_the_same_checks() {
    let t0 = base_instant();
    let mut s = server(ServerConfig {
        reply_mode: ReplyMode::Json,
        ..ServerConfig::default()
    });
    let id = open_session(&mut s, t0);
    assert_refused(
        s.handle_request(post_in(&id, tools_list(2)).set("accept", JSON), t0),
        Refusal::NotAcceptable,
        406,
        SERVER_ERR,
    );
    assert_refused(
        s.handle_request(post(tools_list(2)), t0),
        Refusal::MissingSessionId,
        400,
        INVALID,
    );
    assert_eq!(s.config().session_mode, SessionMode::Stateful);
}
